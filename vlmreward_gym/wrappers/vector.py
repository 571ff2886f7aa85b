"""The vector-env learned-reward wrapper, generic over the form, and its named wrappers (``DenseReward``, ...):
one batched model call per vector step."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.wrappers.common import (LearnedRewardBase, ScoringOptions, check_frame_source, check_instruction,
                                           per_env_instructions, step_info)
from vlmreward_gym.wrappers.frames import VectorFrames, frame_from_obs


def sub_info(vector_info: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entries of a Gymnasium vector info dict (``key`` with mask ``_key``)."""
    out = {}
    for key, value in vector_info.items():
        if key.startswith("_"):
            continue
        mask = vector_info.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        out[key] = sub_info(value, i) if isinstance(value, dict) else value[i]
    return out


def sub_obs(obs: Any, i: int) -> Any:
    """Sub-env ``i``'s observation from a batched (dict of) array(s)."""
    return {k: sub_obs(v, i) for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


class LearnedRewardVectorWrapper(LearnedRewardBase, VectorWrapper, gym.utils.RecordConstructorArgs):
    """Vector learned reward: the batched twin of :class:`~vlmreward_gym.wrappers.LearnedRewardWrapper`.

    Same arguments and rewards as ``num_envs`` single wrappers on the same seeds, but all
    sub-envs that need scoring in a vector step share one model call. ``instruction`` may be one
    string or one per sub-env. Works with the NEXT_STEP, SAME_STEP and DISABLED autoreset modes;
    an episode's frames never mix with the next one's. In SAME_STEP mode the terminal frame is
    only reachable through ``frame_key`` (``render()`` already shows the reset state). A sub-env
    ended by detected success (``terminate_on_success``) is reset like any other ending one: in
    SAME_STEP mode at once (its last observation and info move to ``final_obs``/``final_info``;
    a form that queries at reset then makes a second model call in that step), in NEXT_STEP mode
    on the next step (its action there is spent on the finished episode and discarded, like any
    NEXT_STEP reset), in DISABLED mode when you reset it.
    ``info["env_reward"]`` holds the simulator's rewards; ``info["reward_model"]`` the model's
    answers per sub-env, with the mask ``info["_reward_model"]``. ``scoring="async"`` /
    ``"deferred"`` return NaN for sub-envs whose answer is pending, delivered later by
    :meth:`pop_relabels` / :meth:`flush` (see :mod:`vlmreward_gym.wrappers.scoring`).

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from vlmreward_gym.wrappers.vector import LearnedRewardVectorWrapper
        >>> envs = gym.make_vec("vlmreward/PointReach-v0", num_envs=2, render_mode="rgb_array")
        >>> envs = LearnedRewardVectorWrapper(envs, model="oracle", instruction=["reach the green dot"] * 2,
        ...                                   form="stage_gated", stages=["approach the dot", "touch it"])
        >>> obs, info = envs.reset(seed=0)
        >>> obs, rewards, terminated, truncated, info = envs.step(np.zeros((2, 2), np.float32))
        >>> rewards.shape, info["reward_model"]["stage"]
        ((2,), array([0, 0]))
    """

    def __init__(self, env: VectorEnv, model: str | RewardModel = "oracle",
                 instruction: str | Sequence[str] | None = None, *, form: str | None = None,
                 model_kwargs: dict[str, Any] | None = None, frame_key: str | None = None, scoring: str = "sync",
                 scoring_options: ScoringOptions | None = None, **form_kwargs: Any):
        self._record_args(form, model=model, instruction=instruction, model_kwargs=model_kwargs, frame_key=frame_key,
                          scoring=scoring, scoring_options=scoring_options, **form_kwargs)
        VectorWrapper.__init__(self, env)
        self._set_up(form, model, model_kwargs, form_kwargs)
        n = self.num_envs
        if instruction is None or isinstance(instruction, str):
            instructions = per_env_instructions(check_instruction(instruction, self.form), n)
        else:
            instructions = [check_instruction(text, self.form) for text in per_env_instructions(instruction, n)]
        self.frame_key = frame_key
        check_frame_source(self.model, frame_key, env.render_mode)
        self.autoreset_mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            if self.model.info.needs_frames and frame_key is None:
                raise ValueError("with SAME_STEP autoreset, render() shows the reset state, not the terminal one: "
                                 "pass frame_key=<observation key> or use the NEXT_STEP autoreset mode")
        self._start_engine(instructions, scoring, scoring_options)
        self._starting = np.zeros(n, bool)  # NEXT_STEP: sub-envs whose next step is a reset
        self._forced = np.zeros(n, bool)  # NEXT_STEP: sub-envs ended by detected success, to reset next step

    def _frames(self, obs: Any) -> Callable[[int], np.ndarray]:
        if self.frame_key is not None:
            return lambda i: frame_from_obs(sub_obs(obs, i), self.frame_key, f"observation frame of sub-env {i}")
        frames = VectorFrames(self.env.render, self.num_envs)
        return lambda i: frames[i]

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        mask = None if options is None else options.get("reset_mask")
        obs, info = self.env.reset(seed=seed, options=options)
        envs = range(self.num_envs) if mask is None else np.flatnonzero(mask)
        frame = self._frames(obs)
        for i in envs:
            self.engine.observe_reset(i, sub_info(info, i), lambda i=i: frame(i))
        started = self._settle()
        self._starting[envs] = False
        self._forced[envs] = False
        return obs, self._with_infos(info, {i: self._info_of(started, i, True) for i in envs})

    def _info_of(self, settled: dict, i: int, is_reset: bool, episode_step: tuple[int, int] | None = None):
        record = self.engine.records[i]
        episode, step = episode_step or (record.episode, 0 if is_reset else record.t)
        return step_info(settled.get((i, is_reset)), episode, step)

    def _with_infos(self, info: dict[str, Any], per_env: dict[int, dict[str, Any]]) -> dict[str, Any]:
        rm_info: dict[str, Any] = {}
        for i, env_info in sorted(per_env.items()):
            rm_info = self._add_info(rm_info, {"reward_model": env_info}, i)
        return {**info, **rm_info}

    def _reset_sub_envs(self, envs: np.ndarray) -> tuple[Any, dict[str, Any]]:
        """Reset only the sub-envs ``envs`` of the inner vector env."""
        mask = np.zeros(self.num_envs, bool)
        mask[envs] = True
        return self.env.reset(options={"reset_mask": mask})

    def _reset_forced(self, obs: Any, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """NEXT_STEP: reset the sub-envs that detected success last step; splice their reset obs and info in."""
        envs = np.flatnonzero(self._forced)
        reset_obs, reset_info = self._reset_sub_envs(envs)
        for i in envs:
            info = self._add_info(info, sub_info(reset_info, i), i)
        return _splice(obs, reset_obs, envs), info

    def _end_now(self, envs: np.ndarray, obs: Any, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """SAME_STEP: reset sub-envs ended by detected success in this very step, as autoreset would."""
        reset_obs, reset_info = self._reset_sub_envs(envs)
        frame = self._frames(reset_obs)
        for i in envs:
            ended = {"final_obs": sub_obs(obs, i), "final_info": sub_info(info, i)}
            info = self._add_info(self._add_info(info, ended, i), sub_info(reset_info, i), i)
            self.engine.observe_reset(i, sub_info(reset_info, i), lambda i=i: frame(i))
        self._settle()
        return _splice(obs, reset_obs, envs), info

    def step(self, actions: Any):
        obs, env_rewards, terminated, truncated, info = self.env.step(actions)
        terminated, truncated = np.asarray(terminated, bool).copy(), np.asarray(truncated, bool).copy()
        env_rewards = np.asarray(env_rewards, np.float64)
        if self._forced.any():
            obs, info = self._reset_forced(obs, info)
            self._starting |= self._forced
            terminated[self._forced] = truncated[self._forced] = False
            env_rewards = np.where(self._forced, 0.0, env_rewards)
            self._forced[:] = False
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        frame = self._frames(obs)
        final_frame = self._frames(info.get("final_obs")) if same_step and self.frame_key else frame
        stepped: dict[int, tuple[int, int]] = {}  # env -> (episode, step) of the step it took
        for i in range(self.num_envs):
            done = bool(terminated[i] or truncated[i])
            if self._starting[i]:
                self.engine.observe_reset(i, sub_info(info, i), lambda i=i: frame(i))
                continue
            step_info_i = sub_info(info["final_info"], i) if same_step and done else sub_info(info, i)
            self.engine.observe_step(i, env_rewards[i], terminated[i], truncated[i], step_info_i,
                                     lambda i=i: final_frame(i) if same_step and done else frame(i))
            stepped[i] = (self.engine.records[i].episode, self.engine.records[i].t)
            if same_step and done:
                self.engine.observe_reset(i, sub_info(info, i), lambda i=i: frame(i))
        settled = self._settle()
        rewards = np.zeros(self.num_envs, np.float64)
        detected = np.zeros(self.num_envs, bool)
        per_env = {}
        for i in range(self.num_envs):
            if i in stepped:
                paid = settled.get((i, False))
                rewards[i] = np.nan if paid is None else paid.paid.reward
                detected[i] = paid is not None and paid.paid.detected_success
                per_env[i] = self._info_of(settled, i, False, stepped[i])
            else:
                per_env[i] = self._info_of(settled, i, True)
        ended_by_success = detected & ~(terminated | truncated)  # the others the inner env resets anyway
        terminated |= detected  # also at a time-out, as the single wrapper: success is not bootstrapped
        if ended_by_success.any() and same_step:
            obs, info = self._end_now(np.flatnonzero(ended_by_success), obs, info)
        info = self._with_infos({**info, "env_reward": env_rewards}, per_env)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._forced = ended_by_success
            self._starting = (terminated | truncated) & ~self._forced
        return obs, rewards, terminated, truncated, info


def _splice(obs: Any, new: Any, envs: np.ndarray) -> Any:
    """``obs`` with sub-envs ``envs`` replaced by ``new``'s (dicts of arrays handled)."""
    if isinstance(obs, dict):
        return {k: _splice(v, new[k], envs) for k, v in obs.items()}
    out = np.array(obs, copy=True)
    out[envs] = np.asarray(new)[envs]
    return out


EpisodicReward = LearnedRewardVectorWrapper.named("episodic")
DenseReward = LearnedRewardVectorWrapper.named("dense")
ContrastiveReward = LearnedRewardVectorWrapper.named("contrastive")
StageGatedReward = LearnedRewardVectorWrapper.named("stage_gated")

__getattr__ = LearnedRewardVectorWrapper.module_getattr(__name__)  # the named wrapper of any registered form
