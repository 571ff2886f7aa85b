"""Test doubles: an env whose frames and progress are known, and a model that reads frames.

``ScriptedEnv`` frame after ``t`` steps is filled with the value ``t`` (so a model can tell which
steps it was shown); progress is ``t / length``; success from ``success_step`` on. The episode
terminates (or truncates) after ``length + seed % vary`` steps.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE


class ScriptedEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, length=10, success_step=None, truncate=False, vary=1, render_mode="rgb_array",
                 frame_dtype=np.uint8, frame_shape=(6, 6, 3), oracle=True):
        self.length, self.success_step, self.truncate, self.vary = length, success_step, truncate, vary
        self.render_mode, self.frame_dtype, self.frame_shape, self.oracle = render_mode, frame_dtype, frame_shape, oracle
        self.observation_space = gym.spaces.Dict({
            "t": gym.spaces.Box(0, 1000, (1,), np.float32),
            "rgb": gym.spaces.Box(0, 255, frame_shape, np.uint8)})
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        self.t, self.episode_length, self.render_calls = 0, length, 0

    def _frame(self):
        return np.full(self.frame_shape, self.t, dtype=self.frame_dtype)

    def _obs(self):
        return {"t": np.array([self.t], np.float32), "rgb": self._frame().astype(np.uint8)}

    def _info(self):
        if not self.oracle:
            return {}
        success = self.success_step is not None and self.t >= self.success_step
        return {"oracle_progress": min(1.0, self.t / self.episode_length), "success": success}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.episode_length = self.length + (0 if seed is None else seed % self.vary)
        return self._obs(), self._info()

    def step(self, action):
        self.t += 1
        end = self.t >= self.episode_length
        return self._obs(), 10.0 + self.t, end and not self.truncate, end and self.truncate, self._info()

    def render(self):
        self.render_calls += 1
        return self._frame()


class FrameProbeModel(RewardModel):
    """Reads the scripted frames: progress = frame value / scale, success once the last value
    reaches ``success_value``, comparison = sign of the last two values, score = 1 + 4 * progress.
    Records every query it gets."""

    def __init__(self, scale=20.0, success_value=1000, num_frames=None, uses_anchor=False, caps=ALL,
                 nan=False, out_of_range=False, compare_scale=1.0):
        self.info = ModelInfo(name="probe", capabilities=caps, num_frames=num_frames, uses_anchor=uses_anchor)
        self.scale, self.success_value, self.nan, self.out_of_range = scale, success_value, nan, out_of_range
        self.compare_scale = compare_scale
        self.queries: list[RewardQuery] = []

    def _predict(self, query: RewardQuery) -> RewardOutput:
        self.queries.append(query)
        values = [clip[:, 0, 0, 0].astype(float) for clip in query.frames]
        progress = tuple(np.minimum(v / self.scale, 1.0) for v in values)
        if self.nan:
            progress = tuple(np.full_like(p, np.nan) for p in progress)
        if self.out_of_range:
            progress = tuple(p + 2.0 for p in progress)
        last = np.array([v[-1] for v in values])
        before = np.array([v[-2] if len(v) > 1 else v[-1] for v in values])
        return RewardOutput(progress=progress, success=(last >= self.success_value).astype(float),
                            comparison=self.compare_scale * np.sign(last - before),
                            score=1.0 + 4.0 * np.array([p[-1] for p in progress]).clip(0, 1))


def shown_steps(query: RewardQuery) -> list[list[int]]:
    """The step indices of the frames a query carried (decoded from the scripted frames)."""
    return [clip[:, 0, 0, 0].astype(int).tolist() for clip in query.frames]


def run_episode(env, seed=0, max_steps=1000):
    """Reset and step with zero actions until the episode ends; return the per-step tuples."""
    env.reset(seed=seed)
    out = []
    for _ in range(max_steps):
        _, r, term, trunc, info = env.step(np.zeros(1, np.float32))
        out.append((r, term, trunc, info))
        if term or trunc:
            break
    return out
