"""The data that crosses the reward-model boundary: queries in, outputs out.

Shapes: ``B`` clips per query; clip ``i`` has ``T_i >= 1`` frames of ``H x W x 3`` uint8 RGB.
Clips in one query may differ in length (a vector env's episodes are at different steps).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


class Capability(enum.Flag):
    """What a reward model can answer. A query asks for a subset with ``want``."""

    NONE = 0
    PROGRESS = enum.auto()  #: per-frame task progress in [0, 1]
    SUCCESS = enum.auto()  #: probability in [0, 1] that the clip's last frame shows the task done
    COMPARE = enum.auto()  #: last frame vs the one before it: -1 worse, 0 same, +1 better (or a value between)
    EPISODE_SCORE = enum.auto()  #: one score for the whole clip on the model's scale (e.g. 1-5)

    def names(self) -> list[str]:
        return [c.name.lower() for c in Capability if c and c in self and c.name]


class RewardInputError(ValueError):
    """A query breaks the contract (frame shape or dtype, empty instruction, mismatched lengths)."""


class RewardOutputError(RuntimeError):
    """A model returned something outside the contract (missing field, wrong shape, NaN, out of range)."""


class CapabilityError(ValueError):
    """A reward model is asked for something it cannot do."""


@dataclass(frozen=True)
class RewardQuery:
    """A batch of clips to score.

    Attributes:
        instructions: ``B`` non-empty task instructions, one per clip.
        want: the capabilities the caller needs answered.
        frames: ``B`` uint8 arrays of shape ``(T_i, H, W, 3)``, or None for models that need no
            frames (``ModelInfo.needs_frames`` is False). A single ``(B, T, H, W, 3)`` array is accepted.
        oracle_progress: ``B`` float arrays ``(T_i,)`` of privileged progress in [0, 1] for the same
            time points as the frames (see :mod:`vlmreward_gym.oracle`), or None.
        oracle_success: ``B`` bool arrays ``(T_i,)`` of the simulator's success flags, or None.
        timesteps: ``B`` int arrays ``(T_i,)``: the episode step index of each frame, or None.
    """

    instructions: tuple[str, ...]
    want: Capability
    frames: tuple[np.ndarray, ...] | None = None
    oracle_progress: tuple[np.ndarray, ...] | None = None
    oracle_success: tuple[np.ndarray, ...] | None = None
    timesteps: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "instructions", tuple(self.instructions))
        for name in ("frames", "oracle_progress", "oracle_success", "timesteps"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(np.asarray(v) for v in value))
        self.validate()

    @property
    def batch_size(self) -> int:
        return len(self.instructions)

    @property
    def lengths(self) -> tuple[int, ...]:
        """``T_i`` of each clip."""
        for name in ("frames", "oracle_progress", "timesteps", "oracle_success"):
            value = getattr(self, name)
            if value is not None:
                return tuple(int(v.shape[0]) for v in value)
        raise RewardInputError("a query needs frames or oracle progress to know its clip lengths")

    def validate(self) -> None:
        """Raise :class:`RewardInputError` naming the first broken part of the query."""
        B = len(self.instructions)
        if B == 0:
            raise RewardInputError("a query needs at least one clip")
        for i, text in enumerate(self.instructions):
            if not isinstance(text, str) or not text.strip():
                raise RewardInputError(f"instruction {i} is empty or not a string: {text!r}")
        for name in ("frames", "oracle_progress", "oracle_success", "timesteps"):
            value = getattr(self, name)
            if value is not None and len(value) != B:
                raise RewardInputError(f"{name} has {len(value)} clips but there are {B} instructions")
        if self.frames is not None:
            for i, clip in enumerate(self.frames):
                check_frames(clip, what=f"clip {i}")
        lengths = self.lengths
        for name in ("oracle_progress", "oracle_success", "timesteps"):
            value = getattr(self, name)
            if value is None:
                continue
            for i, (v, n) in enumerate(zip(value, lengths)):
                if v.shape != (n,):
                    raise RewardInputError(f"{name}[{i}] has shape {v.shape}, expected ({n},) to match the clip")
        if self.oracle_progress is not None:
            values = np.concatenate(self.oracle_progress)
            low, high = values.min(), values.max()
            if not (np.isfinite(low) and np.isfinite(high) and low >= 0 and high <= 1):
                bad = next(i for i, p in enumerate(self.oracle_progress)
                           if not (np.all(np.isfinite(p)) and p.min() >= 0 and p.max() <= 1))
                raise RewardInputError(
                    f"oracle_progress[{bad}] must be finite and in [0, 1], got {self.oracle_progress[bad]}")


def check_frames(clip: np.ndarray, what: str = "frames") -> np.ndarray:
    """Check a ``(T, H, W, 3)`` uint8 clip with ``T >= 1``; return it or raise :class:`RewardInputError`."""
    clip = np.asarray(clip)
    if clip.dtype != np.uint8:
        raise RewardInputError(f"{what} must be uint8 RGB, got dtype {clip.dtype}")
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.shape[0] < 1 or min(clip.shape[1:3]) < 1:
        raise RewardInputError(f"{what} must have shape (T>=1, H, W, 3), got {clip.shape}")
    return clip


def check_frame(frame: Any, what: str = "frame") -> np.ndarray:
    """Check one ``(H, W, 3)`` uint8 frame; return it or raise :class:`RewardInputError`."""
    if frame is None:
        raise RewardInputError(f"{what} is None: the env returned no frame (is render_mode='rgb_array'?)")
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise RewardInputError(f"{what} must be uint8 RGB, got dtype {frame.dtype}")
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise RewardInputError(f"{what} must have shape (H, W, 3), got {frame.shape}")
    return frame


@dataclass(frozen=True)
class RewardOutput:
    """A model's answer to a :class:`RewardQuery`; fields not asked for may be None.

    Attributes:
        progress: ``B`` float arrays of per-frame progress in [0, 1]: shape ``(T_i,)``, or ``(1,)``
            for models that score only the last frame.
        success: ``(B,)`` probability in [0, 1] that each clip's last frame shows the task done.
        comparison: ``(B,)`` in [-1, 1]: each clip's last frame against the frame before it.
        score: ``(B,)`` episode score on the model's ``score_range`` (e.g. 1-5).
        raw: ``B`` dicts of raw model output for logging (generated text, logits, ...).
    """

    progress: tuple[np.ndarray, ...] | None = None
    success: np.ndarray | None = None
    comparison: np.ndarray | None = None
    score: np.ndarray | None = None
    raw: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def last_progress(self) -> np.ndarray:
        """``(B,)`` progress at each clip's last frame."""
        if self.progress is None:
            raise CapabilityError("this output has no progress")
        return np.array([p[-1] for p in self.progress], dtype=np.float64)


def subsample_indices(length: int, count: int | None) -> np.ndarray:
    """The one frame subsampling of the package (wrappers, backends, evaluation): ``(k,)`` int indices of
    ``k = min(count, length)`` frames spread evenly over a clip of ``length``, in order, first and last
    kept. ``count=1`` keeps the last frame (the current state); ``count=None`` keeps every frame.
    """
    if length < 1:
        raise ValueError(f"cannot subsample an empty clip (length {length})")
    if count is not None and count < 1:
        raise ValueError(f"a frame count must be >= 1 (or None for every frame), got {count}")
    if count is None or count >= length:
        return np.arange(length)
    if count == 1:
        return np.array([length - 1])
    return np.unique(np.linspace(0, length - 1, count).round().astype(int))


def batch_clips(clips: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, ...]:
    """Turn a ``(B, T, H, W, 3)`` array or a sequence of ``(T_i, H, W, 3)`` arrays into a tuple of clips."""
    if isinstance(clips, np.ndarray):
        if clips.ndim != 5:
            raise RewardInputError(f"a clip batch array must be (B, T, H, W, 3), got {clips.shape}")
        return tuple(clips)
    return tuple(np.asarray(c) for c in clips)
