"""The single-env learned-reward wrapper that every reward form specialises."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import gymnasium as gym
import numpy as np

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.models.registry import make_reward_model
from vlmreward_gym.types import RewardInputError, check_frame
from vlmreward_gym.wrappers.engine import RewardEngine, RewardForm
from vlmreward_gym.wrappers.frames import frame_from_obs


class ResetNeeded(RuntimeError):
    """step() was called before reset()."""


def build_model_and_form(form_class: type[RewardForm], model: str | RewardModel, model_kwargs: dict | None,
                         form_kwargs: dict[str, Any]) -> tuple[RewardModel, RewardForm]:
    """Instantiate the backend and the form; shared by single and vector wrappers."""
    return make_reward_model(model, **(model_kwargs or {})), form_class(**form_kwargs)


def check_instruction(instruction: str | None, form: RewardForm) -> str:
    """The instruction to score against; forms with their own stage instructions may omit it."""
    if instruction is None and hasattr(form, "stages"):
        return " then ".join(form.stages)
    if not isinstance(instruction, str) or not instruction.strip():
        raise RewardInputError(f"the {form.name} reward form needs a non-empty instruction, got {instruction!r}")
    return instruction


def check_frame_source(model: RewardModel, frame_key: str | None, render_mode: str | None) -> None:
    """A model that reads frames needs ``render_mode='rgb_array'`` or an observation key."""
    if model.info.needs_frames and frame_key is None and render_mode != "rgb_array":
        raise ValueError(
            f"reward model {model.info.name!r} reads frames: make the env with render_mode='rgb_array' "
            f"(it has {render_mode!r}) or pass frame_key=<observation key holding an RGB image>")


class LearnedRewardWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replace an env's reward with a learned reward model's, in the form of ``form_class``.

    The simulator's reward stays in ``info["env_reward"]``; ``info["reward_model"]`` holds the
    model's latest answers (progress, success probability, score, stage, raw output) and
    ``queried`` (whether the model was called on this step). Frames come from ``render()``
    (``render_mode='rgb_array'``) or from ``obs[frame_key]`` and are taken only on steps the form
    uses. A model error propagates: a failed reward is never paid as 0.

    Args:
        env: any Gymnasium env.
        model: a registered backend name (see :func:`vlmreward_gym.list_reward_models`) or a model.
        instruction: the task in words.
        model_kwargs: keyword arguments for the backend (e.g. ``{"mae": 0.5}`` for noisy-oracle).
        frame_key: take frames from this key of a dict observation instead of ``render()``.
        **form_kwargs: the form's options (see the form class's docstring).
    """

    form_class: ClassVar[type[RewardForm]]

    def __init__(self, env: gym.Env, model: str | RewardModel = "oracle", instruction: str | None = None, *,
                 model_kwargs: dict[str, Any] | None = None, frame_key: str | None = None, **form_kwargs: Any):
        gym.utils.RecordConstructorArgs.__init__(self, model=model, instruction=instruction,
                                                 model_kwargs=model_kwargs, frame_key=frame_key, **form_kwargs)
        gym.Wrapper.__init__(self, env)
        self.model, self.form = build_model_and_form(self.form_class, model, model_kwargs, form_kwargs)
        self.instruction = check_instruction(instruction, self.form)
        self.frame_key = frame_key
        check_frame_source(self.model, frame_key, env.render_mode)
        self.engine = RewardEngine(self.model, self.form, [self.instruction])
        self._needs_reset = True

    def _frame(self, obs: Any) -> Callable[[], np.ndarray]:
        if self.frame_key is not None:
            return lambda: frame_from_obs(obs, self.frame_key, "observation frame")
        return lambda: check_frame(self.env.render(), "rendered frame")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.engine.observe_reset(0, info, self._frame(obs))
        _, resets = self.engine.resolve()
        self._needs_reset = False
        return obs, {**info, "reward_model": resets[0]}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._needs_reset:
            raise ResetNeeded("call reset() before step()")
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self.engine.observe_step(0, float(env_reward), terminated, truncated, info, self._frame(obs))
        steps, _ = self.engine.resolve()
        paid = steps[0]
        info = {**info, "env_reward": float(env_reward), "reward_model": paid.info}
        return obs, paid.reward, bool(terminated) or paid.detected_success, bool(truncated), info


def per_env_instructions(instruction: str | Sequence[str], num_envs: int) -> list[str]:
    """One instruction per sub-env from a single string or a sequence of ``num_envs``."""
    if isinstance(instruction, str):
        return [instruction] * num_envs
    instructions = list(instruction)
    if len(instructions) != num_envs:
        raise ValueError(f"got {len(instructions)} instructions for {num_envs} sub-envs")
    return instructions
