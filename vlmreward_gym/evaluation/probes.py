"""Exploit probes: altered copies of a real episode that a reward model should not pay for.

TOPReward's own report measured a value-order correlation of 0.987 for a static first-frame video
with Qwen3-VL-8B: a policy that does nothing gets paid. Each probe here asks the same question of
any model: is the altered clip paid at least as much as the real one?

- ``static``: the first frame repeated for the episode's length;
- ``frozen``: the episode up to its middle frame, then that frame held to the end;
- ``reversed``: the frames in reverse order (it ends on the real first frame);
- ``shuffled``: the frames in a random order that does not end on the real last frame;
- ``other_instruction``: the real video scored against the next task's instruction (tasks in
  sorted order, cyclically); needs at least two tasks.

The frame probes are index maps over the kept time points, applied alike to the frames and to the
oracle progress and success labels, so a model that reads the oracle instead of pixels is probed
honestly (a perfect oracle is paid for a reversed video what the real first frame shows). The
time stamps (``steps``) are not permuted: the altered clip plays forward in time. Under another
instruction the oracle labels are the ground truth of that pairing, "no progress, no success", as
in the video x instruction matrix (:mod:`vlmreward_gym.evaluation.scoring`): oracle-reading
controls are unpaid there by construction, not because they read the instruction.

**Paid** is the model's payment for a clip: its final progress where it gives progress, else its
episode score (the default ranking score of :mod:`~vlmreward_gym.evaluation.scoring`, whatever
``--rank-by`` says). A probe is *paid at least as much* when its payment is at least the real
clip's minus :data:`PAID_TOLERANCE`. Only successful episodes with at least two kept frames are
probed: a failed real video has nothing a probe could be paid "instead of".
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from vlmreward_gym.evaluation.data import EvalEpisode

FRAME_PROBES = ("static", "frozen", "reversed", "shuffled")
PROBES = (*FRAME_PROBES, "other_instruction")
#: a probe paid within this much of the real clip's payment counts as paid as much.
PAID_TOLERANCE = 1e-3


def probe_indices(kind: str, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Which real time point each time point of the ``kind`` probe shows (``(length,)`` ints)."""
    t = np.arange(length)
    if kind == "static":
        return np.zeros(length, int)
    if kind == "frozen":
        return np.minimum(t, (length - 1) // 2)
    if kind == "reversed":
        return t[::-1].copy()
    if kind == "shuffled":
        rng = rng or np.random.default_rng(0)
        order = rng.permutation(length)
        if length > 1 and order[-1] == length - 1:  # never end on the real ending
            swap = int(rng.integers(length - 1))
            order[[swap, -1]] = order[[-1, swap]]
        return order
    raise ValueError(f"unknown frame probe {kind!r}; choose from {FRAME_PROBES}")


def probe_episode(episode: EvalEpisode, kind: str, rng: np.random.Generator | None = None) -> EvalEpisode:
    """The ``kind`` probe of ``episode``: frames and oracle labels re-indexed alike, steps unchanged."""
    idx = probe_indices(kind, episode.length, rng)

    def take(values):
        return None if values is None else values[idx]

    flags = take(episode.success_flags)
    return dataclasses.replace(
        episode, id=f"{episode.id}~{kind}", frames=take(episode.frames), progress=take(episode.progress),
        success_flags=flags, success=None if flags is None else bool(flags[-1]), label=None, quality=None)


def probed(episode: EvalEpisode) -> bool:
    """Whether the probes use ``episode``: a successful real episode with at least two time points."""
    return episode.success is True and episode.length >= 2


def other_task(task_names: Sequence[str], task: str) -> str:
    """The task whose instruction the ``other_instruction`` probe uses: the next one, cyclically."""
    return task_names[(list(task_names).index(task) + 1) % len(task_names)]


def summarize(real: Sequence[float], probe: Sequence[float], tolerance: float = PAID_TOLERANCE) -> dict:
    """How often the probe is paid at least as much as the real clip, and the mean ratio of
    payments probe / real over the episodes whose real payment is positive (``None`` if undefined)."""
    real, probe = np.asarray(real, np.float64), np.asarray(probe, np.float64)
    both = np.isfinite(real) & np.isfinite(probe)
    positive = both & (real > 0)
    return {
        "paid_rate": float(np.mean(probe[both] >= real[both] - tolerance)) if both.any() else None,
        "mean_ratio": float(np.mean(probe[positive] / real[positive])) if positive.any() else None,
        "episodes": int(both.sum()), "ratio_episodes": int(positive.sum())}
