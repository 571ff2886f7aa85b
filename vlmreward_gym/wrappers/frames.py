"""Where reward-model frames come from (which of them a model sees: :func:`vlmreward_gym.types.subsample_indices`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from vlmreward_gym.types import check_frame


def frame_from_obs(obs: Any, key: str, what: str) -> np.ndarray:
    """The frame stored under ``key`` of a dict observation."""
    if not isinstance(obs, dict) or key not in obs:
        keys = list(obs) if isinstance(obs, dict) else type(obs).__name__
        raise KeyError(f"frame_key {key!r} is not in the observation (it has {keys})")
    return check_frame(np.asarray(obs[key]), what)


class VectorFrames:
    """Per-sub-env frames of one vector step, rendering all sub-envs at most once, on first use."""

    def __init__(self, render: Callable[[], Any], num_envs: int):
        self._render, self._num_envs, self._frames = render, num_envs, None

    def __getitem__(self, i: int) -> np.ndarray:
        if self._frames is None:
            frames = self._render()
            if frames is None or len(frames) != self._num_envs:
                raise ValueError(
                    f"the vector env's render() returned {None if frames is None else len(frames)} frames for "
                    f"{self._num_envs} sub-envs; create the sub-envs with render_mode='rgb_array'")
            self._frames = frames
        return check_frame(self._frames[i], f"frame of sub-env {i}")
