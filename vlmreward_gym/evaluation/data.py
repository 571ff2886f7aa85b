"""Evaluation episodes and the loaders that make them from three on-disk formats.

An :class:`EvalEpisode` is one video (or one oracle-only trajectory) with its instruction and
whatever ground truth the source has. Three sources, detected by :func:`load_eval_data`:

**Our demo format** (``vlmreward_gym.data``: ``metadata.json`` + ``shard_*.h5``). Ground truth is
complete: time points are the stored frames' steps (all states when no frames are stored), the
oracle progress and success flags at those points, and

- ``label`` (1-5) = the RoboReward rubric of the final state (:func:`~vlmreward_gym.models.control.rubric_score`:
  5 = success, else ``1 + round(3 * final progress)``);
- ``quality`` (for rankings) orders trajectories by success first, then final oracle progress,
  then ``kind == "expert"`` over other kinds; equal keys tie;
- ``group`` (for Kendall tau and ordering accuracy A) = task + reset seed: rollouts from the same
  start state, as in RBM-EVAL's per-scene trajectory ranking.

**A RoboRewardBench-style folder**::

    DIR/manifest.jsonl     one JSON object per line:
                           {"video": "videos/ep_0001.mp4", "task": "put the cup in the sink",
                            "label": 4, "subset": "droid", "id": "ep_0001"}
    DIR/videos/...         the videos (any container/codec ffmpeg reads), paths relative to DIR

``label`` (1-5, required) is the human end-state progress label; ``subset`` (default ``"all"``)
and ``id`` (default: the video path) are optional. Quality = label, success = ``label == 5``,
group = task text; there is no per-frame ground truth.

**A LeRobot v2 dataset** (read with pyarrow and av, lerobot is not imported)::

    DIR/meta/info.json     {"codebase_version": "v2.1", "fps": 10, "data_path": "data/chunk-{episode_chunk:03d}/
                            episode_{episode_index:06d}.parquet", "video_path": "videos/chunk-{episode_chunk:03d}/
                            {video_key}/episode_{episode_index:06d}.mp4", "chunks_size": 1000,
                            "features": {"observation.images.top": {"dtype": "video", ...}, ...}}
    DIR/meta/tasks.jsonl   {"task_index": 0, "task": "pick up the cube"}
    DIR/meta/episodes.jsonl {"episode_index": 0, "tasks": ["pick up the cube"], "length": 50}
    DIR/data/chunk-000/episode_000000.parquet   one row per frame (task_index, frame_index, ...)
    DIR/videos/chunk-000/observation.images.top/episode_000000.mp4

LeRobot episodes are demonstrations: success is the last ``next.success`` value when that column
exists, else True; label 5 for successes, none otherwise; quality = success; group = task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vlmreward_gym.data import iter_trajectories
from vlmreward_gym.models.control import rubric_score
from vlmreward_gym.types import subsample_indices

CATEGORIES = ("expert", "suboptimal", "failed")


@dataclass
class EvalEpisode:
    """One episode to score. ``F`` = number of time points kept.

    Attributes:
        id: a unique name (for the per-episode JSON and plots).
        task: task name; episodes with the same task share an instruction.
        instruction: the language instruction the episode was collected for.
        frames: (F, H, W, 3) uint8 RGB frames, or None for oracle-only data.
        steps: (F,) int episode step of each time point.
        progress: (F,) float ground-truth progress in [0, 1] at the time points, or None.
        success_flags: (F,) bool ground-truth success per time point, or None.
        success: whether the episode ends in success, or None if unknown.
        label: true 1-5 end-state label, or None.
        quality: true quality for rankings (higher is better), or None.
        kind: how the episode was collected (``"expert"``, ``"random"``, ...).
        subset: the MAE subset it belongs to.
        group: episodes that are ranked against each other (Kendall tau, ordering accuracy A).
    """

    id: str
    task: str
    instruction: str
    frames: np.ndarray | None
    steps: np.ndarray
    progress: np.ndarray | None = None
    success_flags: np.ndarray | None = None
    success: bool | None = None
    label: float | None = None
    quality: float | None = None
    kind: str = ""
    subset: str = "all"
    group: str = ""

    @property
    def length(self) -> int:
        return int(len(self.steps))

    def prefix(self, n: int) -> "EvalEpisode":
        """The episode's first ``n`` kept time points, as a clip a reward is asked about mid-episode."""
        return EvalEpisode(self.id, self.task, self.instruction, None if self.frames is None else self.frames[:n],
                           self.steps[:n], None if self.progress is None else self.progress[:n],
                           None if self.success_flags is None else self.success_flags[:n])

    @property
    def category(self) -> str:
        """``"expert"`` (label 5), ``"suboptimal"`` (2-4) or ``"failed"`` (1), for the reward-curve plot."""
        if self.label is None:
            return "expert" if self.success else "failed"
        return "expert" if self.label >= 5 else "failed" if self.label <= 1 else "suboptimal"


# ----------------------------------------------------------------------------------- video io

def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video into ``(F, H, W, 3)`` uint8 RGB, keeping ``max_frames`` evenly spread frames
    (first and last kept; None = all)."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path} has no video frames")
    keep = subsample_indices(len(frames), max_frames)
    return np.stack([frames[i] for i in keep])


def write_video(path: str | Path, frames: np.ndarray, fps: int = 10, codec: str = "libx264") -> Path:
    """Encode ``(F, H, W, 3)`` uint8 RGB frames (even H and W) as a video file."""
    import av

    frames = np.asarray(frames, np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


# ------------------------------------------------------------------------------ our format

def quality_ranks(keys: Sequence[tuple]) -> list[float]:
    """Dense ranks (0, 1, ...) of sortable keys: equal keys share a rank."""
    order = {key: rank for rank, key in enumerate(sorted(set(keys)))}
    return [float(order[k]) for k in keys]


def load_demo_dataset(path: str | Path, max_frames: int | None = None, kinds: Iterable[str] | None = None) -> list[EvalEpisode]:
    """Episodes of an ``vlmreward_gym.data`` trajectory folder (see the module docstring for the labels)."""

    episodes, keys = [], []
    for n, traj in enumerate(iter_trajectories(path, kinds)):
        steps = traj.frame_steps if len(traj.frame_steps) else np.arange(traj.num_steps + 1)
        keep = subsample_indices(len(steps), max_frames)
        steps = np.asarray(steps)[keep]
        progress, flags = traj.oracle_progress[steps].astype(np.float64), traj.success[steps]
        final_p, success = float(traj.oracle_progress[-1]), traj.is_success
        task = f"{traj.env_id}: {traj.instruction}"
        episodes.append(EvalEpisode(
            id=f"{n:06d}-{traj.kind}-s{traj.seed}", task=task, instruction=traj.instruction,
            frames=traj.frames[keep] if len(traj.frame_steps) else None, steps=steps, progress=progress,
            success_flags=flags, success=success, label=float(rubric_score(final_p, success)),
            kind=traj.kind, subset=traj.env_id, group=f"{task} | seed {traj.seed}"))
        keys.append((success, final_p, traj.kind == "expert"))
    for episode, rank in zip(episodes, quality_ranks(keys)):
        episode.quality = rank
    return episodes


# ------------------------------------------------------------------------ RoboRewardBench-style

def load_roborewardbench(path: str | Path, max_frames: int | None = 32) -> list[EvalEpisode]:
    """Episodes of a RoboRewardBench-style folder (``manifest.jsonl`` + videos, see module docstring)."""
    root = Path(path)
    manifest = root / "manifest.jsonl"
    episodes = []
    for line_no, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [k for k in ("video", "task", "label") if k not in row]
        if missing:
            raise ValueError(f"{manifest}:{line_no} lacks {missing}")
        label = float(row["label"])
        if label not in (1.0, 2.0, 3.0, 4.0, 5.0):
            raise ValueError(f"{manifest}:{line_no}: label must be an integer 1-5, got {row['label']!r}")
        frames = read_video(root / row["video"], max_frames)
        episodes.append(EvalEpisode(
            id=str(row.get("id", row["video"])), task=row["task"], instruction=row["task"], frames=frames,
            steps=np.arange(len(frames)), success=label == 5.0, label=label, quality=label,
            kind=str(row.get("kind", "")), subset=str(row.get("subset", "all")), group=row["task"]))
    if not episodes:
        raise ValueError(f"{manifest} lists no episodes")
    return episodes


# ----------------------------------------------------------------------------------- LeRobot

def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_lerobot(path: str | Path, max_frames: int | None = 32, camera: str | None = None) -> list[EvalEpisode]:
    """Episodes of a LeRobot v2 dataset folder (see module docstring), one camera's video each."""
    import pyarrow.parquet as pq

    root = Path(path)
    info = json.loads((root / "meta" / "info.json").read_text())
    version = str(info.get("codebase_version", "v2"))
    if not version.startswith("v2"):
        raise ValueError(f"{root}: LeRobot codebase_version {version} is not supported (v2.x only)")
    videos = [k for k, f in info.get("features", {}).items() if f.get("dtype") == "video"]
    if not videos:
        raise ValueError(f"{root}: meta/info.json declares no video feature")
    camera = camera or videos[0]
    if camera not in videos:
        raise ValueError(f"{root}: camera {camera!r} is not one of the video features {videos}")
    tasks = {int(t["task_index"]): t["task"] for t in _jsonl(root / "meta" / "tasks.jsonl")}
    chunk = int(info.get("chunks_size", 1000))
    episodes = []
    for meta in _jsonl(root / "meta" / "episodes.jsonl"):
        index = int(meta["episode_index"])
        names = {"episode_chunk": index // chunk, "episode_index": index, "video_key": camera}
        table = pq.read_table(root / info["data_path"].format(**names)).to_pydict()
        task = tasks[int(table["task_index"][0])] if "task_index" in table else meta["tasks"][0]
        success = bool(table["next.success"][-1]) if "next.success" in table else True
        frames = read_video(root / info["video_path"].format(**names), max_frames)
        episodes.append(EvalEpisode(
            id=f"episode_{index:06d}", task=task, instruction=task, frames=frames, steps=np.arange(len(frames)),
            success=success, label=5.0 if success else None, quality=float(success),
            kind="demo", subset=str(root.name), group=task))
    if not episodes:
        raise ValueError(f"{root}: meta/episodes.jsonl lists no episodes")
    return episodes


def detect_format(path: str | Path) -> str:
    """``"demos"``, ``"roborewardbench"`` or ``"lerobot"`` from the files in ``path``."""
    root = Path(path)
    if (root / "manifest.jsonl").is_file():
        return "roborewardbench"
    if (root / "meta" / "info.json").is_file():
        return "lerobot"
    if root.is_file() and root.suffix == ".h5" or any(root.glob("shard_*.h5")):
        return "demos"
    raise ValueError(f"{path}: not a demo dataset (shard_*.h5), a RoboRewardBench-style folder (manifest.jsonl) "
                     f"or a LeRobot v2 dataset (meta/info.json)")


def load_eval_data(path: str | Path, max_frames: int | None = 32, camera: str | None = None) -> tuple[str, list[EvalEpisode]]:
    """Detect the format of ``path`` and load its episodes: ``(format name, episodes)``."""
    fmt = detect_format(path)
    if fmt == "demos":
        return fmt, load_demo_dataset(path, max_frames)
    if fmt == "roborewardbench":
        return fmt, load_roborewardbench(path, max_frames)
    return fmt, load_lerobot(path, max_frames, camera)
