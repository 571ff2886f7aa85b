"""Training data of ``sim-rm``: episodes from demo datasets and the papers' augmentations.

An :class:`Episode` is one trajectory's stored frames (resized to the model's square size) with
the oracle progress and success flags at those frames. Training examples (:class:`Example`) are
drawn from episodes with these augmentations (index functions, testable on their own):

- temporal clipping (RoboReward's negative clipping): a prefix ``[0, k]`` of the episode, whose
  labels are the prefix's own (partial progress, usually no success);
- video rewind (ReWiND / Robometer): frames played forward to ``k`` then back to ``j < k``, so the
  progress target goes down again; the original is preferred over the rewound clip;
- instruction swap (RoboReward's counterfactual relabel, across tasks): the video paired with
  another task's instruction, labelled progress 0 and no success (1 on the rubric). Such a clip is
  marked ``relabelled``: training uses it only in comparisons (the matching video is preferred),
  because "no progress" is not what the video shows when it happens to approach the other
  task's goal;
- random temporal subsampling to at most ``num_frames`` frames, first and last kept.

Preference pairs (:func:`sample_pair`) compare two clips under one instruction: two episodes of
the same task ranked by (success, final progress); an episode against its rewound copy; and, for
an instruction, a video of that task against a video of another task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vlmreward_gym.data import iter_trajectories


@dataclass
class Episode:
    """One trajectory at the model's frame size. ``F`` = number of stored frames.

    Attributes:
        task: ``"env_id: instruction"``, the task key (as in ``vlmreward eval``).
        instruction: the instruction the episode was collected for.
        frames: (F, S, S, 3) uint8.
        progress: (F,) float32 oracle progress at the frames.
        success: (F,) float32 success flags (0 / 1) at the frames.
        kind: how it was collected (``"expert"``, ``"random"``, ...).
        seed: reset seed.
    """

    task: str
    instruction: str
    frames: np.ndarray
    progress: np.ndarray
    success: np.ndarray
    kind: str = ""
    seed: int = 0

    @property
    def quality(self) -> tuple[float, float]:
        """What trajectory comparisons rank by: success, then final progress."""
        return float(self.success[-1]), float(self.progress[-1])


@dataclass
class Example:
    """One training clip: frames (T, S, S, 3) uint8, instruction, per-frame targets (T,) float32;
    ``relabelled`` when the instruction is another task's (the targets are the relabel's zeros)."""

    frames: np.ndarray
    instruction: str
    progress: np.ndarray
    success: np.ndarray
    relabelled: bool = False


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8 with PIL bilinear resizing (no-op if already that size)."""
    frames = np.asarray(frames, np.uint8)
    if frames.shape[1:3] == (size, size):
        return frames
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames])


def task_matches(task: str, patterns: Iterable[str]) -> bool:
    """Whether ``task`` (``"env_id: instruction"``) contains any of ``patterns`` (case-insensitive)."""
    return any(p.lower() in task.lower() for p in patterns)


def load_episodes(paths: Sequence[str | Path], size: int = 64, exclude_tasks: Iterable[str] = (),
                  exclude_kinds: Iterable[str] = ()) -> list[Episode]:
    """Episodes of one or more ``vlmreward_gym.data`` folders, frames resized to ``size``; episodes whose
    task matches any of ``exclude_tasks`` (substrings of ``"env_id: instruction"``) or whose kind is one of
    ``exclude_kinds`` (e.g. the failure kinds, for the bad-data ablation) are left out."""

    exclude, skip_kinds = list(exclude_tasks), set(exclude_kinds)
    episodes = []
    for path in paths:
        for traj in iter_trajectories(path):
            task = f"{traj.env_id}: {traj.instruction}"
            if task_matches(task, exclude) or traj.kind in skip_kinds:
                continue
            if len(traj.frame_steps) == 0:
                raise ValueError(f"{path}: trajectory {traj.env_id} seed {traj.seed} stores no frames; "
                                 f"sim-rm trains on frames")
            steps = traj.frame_steps
            episodes.append(Episode(task=task, instruction=traj.instruction, frames=resize_frames(traj.frames, size),
                                    progress=traj.oracle_progress[steps].astype(np.float32),
                                    success=traj.success[steps].astype(np.float32), kind=traj.kind, seed=traj.seed))
    if not episodes:
        raise ValueError(f"no training episodes in {list(map(str, paths))} (after excluding tasks {exclude} and "
                         f"kinds {sorted(skip_kinds)})")
    return episodes


# ------------------------------------------------------------------------------ augmentations

def clip_indices(length: int, rng: np.random.Generator, min_len: int = 2) -> np.ndarray:
    """Temporal clipping: the indices ``0..k`` of a random prefix with ``min(min_len, length) <= k + 1 <= length``."""
    low = min(min_len, length)
    return np.arange(int(rng.integers(low, length + 1)))


def rewind_indices(length: int, rng: np.random.Generator) -> np.ndarray:
    """Video rewind: ``0..k`` forward then ``k-1..j`` backward, with ``1 <= k < length`` and ``0 <= j < k``.

    A clip of length 1 cannot be rewound and comes back unchanged.
    """
    if length < 2:
        return np.arange(length)
    k = int(rng.integers(1, length))
    j = int(rng.integers(0, k))
    return np.concatenate([np.arange(k + 1), np.arange(k - 1, j - 1, -1)])


def subsample(indices: np.ndarray, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``num_frames`` of ``indices`` in order, first and last kept, the rest drawn at random."""
    indices = np.asarray(indices)
    if len(indices) <= num_frames:
        return indices
    middle = np.sort(rng.choice(np.arange(1, len(indices) - 1), size=num_frames - 2, replace=False))
    return indices[np.concatenate([[0], middle, [len(indices) - 1]])]


def make_example(episode: Episode, indices: np.ndarray, instruction: str | None = None) -> Example:
    """The clip of ``episode`` at ``indices``; with another task's ``instruction`` its labels are zero."""
    frames = episode.frames[indices]
    if instruction is None or instruction == episode.instruction:
        return Example(frames, episode.instruction, episode.progress[indices], episode.success[indices])
    zeros = np.zeros(len(indices), np.float32)
    return Example(frames, instruction, zeros, zeros.copy(), relabelled=True)


class PairSampler:
    """Draws preference pairs ``(a, b, label)``; ``label`` = 1 if ``a`` is better, 0 if ``b`` is, 0.5 if equal.

    Args:
        episodes: the training episodes (at least one task).
        num_frames: frames per clip at most.
        seed: sampling seed.
        p_rewind, p_swap, p_clip: chances of a rewind pair, a different-task pair (needs two tasks),
            and of clipping both clips of a same-task pair to random prefixes.
        margin: two clips of one task that both succeed or both fail are ordered only if their final
            progress differs by more than this; closer ones are a tie (label 0.5, no comparison loss): two
            failures ending at progress 0.35 and 0.36 are not a preference, and learning one is fitting noise.
    """

    def __init__(self, episodes: Sequence[Episode], num_frames: int = 16, seed: int = 0,
                 p_rewind: float = 0.25, p_swap: float = 0.3, p_clip: float = 0.3, margin: float = 0.05):
        self.episodes = list(episodes)
        self.num_frames = int(num_frames)
        self.rng = np.random.default_rng(seed)
        self.p_rewind, self.p_swap, self.p_clip, self.margin = p_rewind, p_swap, p_clip, margin
        self.by_task: dict[str, list[Episode]] = {}
        for e in self.episodes:
            self.by_task.setdefault(e.task, []).append(e)
        self.tasks = sorted(self.by_task)

    def _indices(self, episode: Episode, clip: bool) -> np.ndarray:
        n = len(episode.frames)
        idx = clip_indices(n, self.rng) if clip else np.arange(n)
        return subsample(idx, self.num_frames, self.rng)

    def sample_pair(self) -> tuple[Example, Example, float]:
        rng = self.rng
        task = self.tasks[int(rng.integers(len(self.tasks)))]
        pool = self.by_task[task]
        first = pool[int(rng.integers(len(pool)))]
        u = rng.uniform()
        if u < self.p_rewind:
            rewound = first.frames.shape[0] >= 2
            forward = self._indices(first, clip=False)
            back = subsample(rewind_indices(len(first.frames), rng), self.num_frames, rng)
            return make_example(first, forward), make_example(first, back), 1.0 if rewound else 0.5
        if u < self.p_rewind + self.p_swap and len(self.tasks) > 1:
            # different task: under ``task``'s instruction, a video of it beats a video of another task
            others = [t for t in self.tasks if t != task]
            other_pool = self.by_task[others[int(rng.integers(len(others)))]]
            other = other_pool[int(rng.integers(len(other_pool)))]
            a = make_example(first, self._indices(first, clip=False))
            b = make_example(other, self._indices(other, clip=rng.uniform() < self.p_clip), instruction=first.instruction)
            return a, b, 1.0 if first.quality > (0.0, 0.0) else 0.5
        clip = rng.uniform() < self.p_clip
        second = pool[int(rng.integers(len(pool)))]
        ia, ib = self._indices(first, clip), self._indices(second, clip)
        a, b = make_example(first, ia), make_example(second, ib)
        return a, b, self.order(a, b)

    def order(self, a: Example, b: Example) -> float:
        """The label of a same-task pair: success first, then final progress beyond :attr:`margin`."""
        if a.success[-1] != b.success[-1]:
            return 1.0 if a.success[-1] > b.success[-1] else 0.0
        gap = float(a.progress[-1]) - float(b.progress[-1])
        return 0.5 if abs(gap) <= self.margin else 1.0 if gap > 0 else 0.0
