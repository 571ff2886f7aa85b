"""The single-env learned-reward wrapper, generic over the form, and its named wrappers (``DenseReward``, ...)."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.types import check_frame
from vlmreward_gym.wrappers.common import LearnedRewardBase, ScoringOptions, check_frame_source, check_instruction, \
    step_info
from vlmreward_gym.wrappers.frames import frame_from_obs


class ResetNeeded(RuntimeError):
    """step() was called before reset()."""


class LearnedRewardWrapper(LearnedRewardBase, gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Single-env learned reward: replace an env's reward with a learned reward model's, in any form.

    The simulator's reward stays in ``info["env_reward"]``; ``info["reward_model"]`` holds the
    model's latest answers (progress, success probability once answered, score, stage, raw output),
    ``queried`` (whether the model was called on this step) and ``step`` (actions taken in the
    episode); infos repeat exactly for the same seed and actions (Gymnasium's ``check_env`` passes). Frames come
    from ``render()`` (``render_mode='rgb_array'``) or from ``obs[frame_key]`` and are taken only on steps the
    form uses. A model error propagates: a failed reward is never paid as 0. The named wrappers
    (``DenseReward``, ...) are this class with the form fixed.

    Args:
        env: any Gymnasium env.
        model: a registered backend name (see :func:`vlmreward_gym.list_reward_models`) or a model.
        instruction: the task in words.
        form: a registered form (:data:`vlmreward_gym.wrappers.forms.FORMS`), default ``dense``.
        model_kwargs: keyword arguments for the backend (e.g. ``{"mae": 0.5}`` for noisy-oracle).
        frame_key: take frames from this key of a dict observation instead of ``render()``.
        scoring: ``sync`` (answer every query before returning the step), ``async`` (a worker pool
            answers while the env steps on) or ``deferred`` (queries wait and are answered in big
            batches at ``flush()``). With the latter two a step whose answer is not in yet returns
            reward NaN and ``info["reward_model"]["pending"] = True``; its reward comes later through
            :meth:`pop_relabels` / :meth:`flush` (see :mod:`vlmreward_gym.wrappers.scoring`).
        scoring_options: ``workers`` and ``max_pending`` (async), ``max_batch`` (deferred).
        **form_kwargs: the form's options (see the form class's docstring).

    Example:
        >>> import gymnasium as gym
        >>> from vlmreward_gym.wrappers import LearnedRewardWrapper
        >>> env = gym.make("vlmreward/PointReach-v0", render_mode="rgb_array")
        >>> env = LearnedRewardWrapper(env, model="oracle", instruction="reach the green dot", form="dense",
        ...                            relative=True, every=5)
        >>> type(env).__name__, env.form.name, env.form.every
        ('LearnedRewardWrapper', 'dense', 5)
    """

    def __init__(self, env: gym.Env, model: str | RewardModel = "oracle", instruction: str | None = None, *,
                 form: str | None = None, model_kwargs: dict[str, Any] | None = None, frame_key: str | None = None,
                 scoring: str = "sync", scoring_options: ScoringOptions | None = None, **form_kwargs: Any):
        self._record_args(form, model=model, instruction=instruction, model_kwargs=model_kwargs, frame_key=frame_key,
                          scoring=scoring, scoring_options=scoring_options, **form_kwargs)
        gym.Wrapper.__init__(self, env)
        self._set_up(form, model, model_kwargs, form_kwargs)
        self.instruction = check_instruction(instruction, self.form)
        self.frame_key = frame_key
        check_frame_source(self.model, frame_key, env.render_mode)
        self._start_engine([self.instruction], scoring, scoring_options)
        self._needs_reset = True

    def _frame(self, obs: Any) -> Callable[[], np.ndarray]:
        if self.frame_key is not None:
            return lambda: frame_from_obs(obs, self.frame_key, "observation frame")
        return lambda: check_frame(self.env.render(), "rendered frame")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.engine.observe_reset(0, info, self._frame(obs))
        started = self._settle().get((0, True))
        self._needs_reset = False
        record = self.engine.records[0]
        return obs, {**info, "reward_model": step_info(started, record.episode, 0)}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._needs_reset:
            raise ResetNeeded("call reset() before step()")
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self.engine.observe_step(0, float(env_reward), terminated, truncated, info, self._frame(obs))
        record = self.engine.records[0]
        paid = self._settle().get((0, False))
        info = {**info, "env_reward": float(env_reward), "reward_model": step_info(paid, record.episode, record.t)}
        if paid is None:
            return obs, float("nan"), bool(terminated), bool(truncated), info
        return obs, paid.paid.reward, bool(terminated) or paid.paid.detected_success, bool(truncated), info


EpisodicReward = LearnedRewardWrapper.named("episodic")
DenseReward = LearnedRewardWrapper.named("dense")
ContrastiveReward = LearnedRewardWrapper.named("contrastive")
StageGatedReward = LearnedRewardWrapper.named("stage_gated")

__getattr__ = LearnedRewardWrapper.module_getattr(__name__)  # the named wrapper of any registered form
