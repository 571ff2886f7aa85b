"""The trajectory dataset format shared by every simulator, the demo generators, BC and RM training.

On disk a dataset is a folder of HDF5 shards plus a JSON summary::

    DIR/metadata.json            {"format": "vlmreward_gym.trajectories", "version": 1, ...user metadata,
                                  "num_trajectories": N, "counts": {kind: {"total": n, "success": s}}}
    DIR/shard_00000.h5           /trajectories/000000/...  (one group per trajectory, see below)
    DIR/shard_00001.h5           ...

Each trajectory group holds the datasets of :class:`Trajectory` (``obs``, ``actions``,
``env_rewards``, ``oracle_progress``, ``success``, ``frames``, ``frame_steps``) and its scalar
fields as attributes (``env_id``, ``instruction``, ``kind``, ``seed``). Frames are stored
LZF-compressed. Time indexing: ``obs[t]`` is the observation after ``t`` actions, so a
trajectory of ``T`` actions has ``T + 1`` observations, progress values and success flags;
``frames[j]`` shows the state ``obs[frame_steps[j]]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import gymnasium as gym
import h5py
import numpy as np

FORMAT_NAME = "vlmreward_gym.trajectories"
FORMAT_VERSION = 1
_ARRAY_FIELDS = ("obs", "actions", "env_rewards", "oracle_progress", "success", "frames", "frame_steps")
_SCALAR_FIELDS = ("env_id", "instruction", "kind", "seed")


class DatasetFormatError(ValueError):
    """A trajectory or a file does not follow the dataset format."""


@dataclass
class Trajectory:
    """One episode. ``T`` = number of actions, ``F`` = number of stored frames.

    Attributes:
        env_id: simulator task id, e.g. ``"PickCube-v1"``.
        instruction: the language instruction the episode was collected for.
        kind: how it was collected: ``"expert"`` or a non-expert kind such as ``"noisy"``,
            ``"random"``, ``"early_stop"``, ``"wrong_object"``.
        seed: the reset seed.
        obs: (T + 1, D) float32 flat low-dimensional observations.
        actions: (T, A) float32 actions as sent to the env.
        env_rewards: (T,) float32 the simulator's own reward per step.
        oracle_progress: (T + 1,) float32 privileged progress in [0, 1] (see ``vlmreward_gym.oracle``).
        success: (T + 1,) bool the simulator's success flag per state.
        frames: (F, H, W, 3) uint8 RGB frames.
        frame_steps: (F,) int64 strictly increasing state indices in [0, T] of the frames.
    """

    env_id: str
    instruction: str
    kind: str
    seed: int
    obs: np.ndarray
    actions: np.ndarray
    env_rewards: np.ndarray
    oracle_progress: np.ndarray
    success: np.ndarray
    frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1, 3), np.uint8))
    frame_steps: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))

    def __post_init__(self) -> None:
        self.obs = np.asarray(self.obs, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        self.env_rewards = np.asarray(self.env_rewards, dtype=np.float32)
        self.oracle_progress = np.asarray(self.oracle_progress, dtype=np.float32)
        self.success = np.asarray(self.success, dtype=bool)
        self.frame_steps = np.asarray(self.frame_steps, dtype=np.int64)
        self.validate()

    @property
    def num_steps(self) -> int:
        """T, the number of actions."""
        return int(self.actions.shape[0])

    @property
    def is_success(self) -> bool:
        """Whether the final state is a success."""
        return bool(self.success[-1])

    def validate(self) -> None:
        """Raise :class:`DatasetFormatError` naming the first field that breaks the format."""
        T = self.num_steps
        if self.actions.ndim != 2:
            raise DatasetFormatError(f"actions must be (T, A), got shape {self.actions.shape}")
        if self.obs.ndim != 2 or self.obs.shape[0] != T + 1:
            raise DatasetFormatError(f"obs must be (T + 1, D) = ({T + 1}, D), got {self.obs.shape}")
        for name in ("oracle_progress", "success"):
            if getattr(self, name).shape != (T + 1,):
                raise DatasetFormatError(f"{name} must have shape ({T + 1},), got {getattr(self, name).shape}")
        if self.env_rewards.shape != (T,):
            raise DatasetFormatError(f"env_rewards must have shape ({T},), got {self.env_rewards.shape}")
        p = self.oracle_progress
        if not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
            raise DatasetFormatError("oracle_progress must be finite and in [0, 1]")
        f = self.frames
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise DatasetFormatError(f"frames must be uint8 (F, H, W, 3), got {f.dtype} {f.shape}")
        s = self.frame_steps
        if s.shape != (f.shape[0],):
            raise DatasetFormatError(f"frame_steps must have shape ({f.shape[0]},), got {s.shape}")
        if s.size and (s[0] < 0 or s[-1] > T or np.any(np.diff(s) <= 0)):
            raise DatasetFormatError(f"frame_steps must be strictly increasing in [0, {T}], got {s.tolist()}")


class TrajectoryWriter:
    """Writes trajectories into ``out_dir`` as HDF5 shards of at most ``shard_size`` each.

    Use as a context manager; ``metadata`` (JSON-serialisable) is saved in ``metadata.json``
    together with per-kind counts when the writer closes.
    """

    def __init__(self, out_dir: str | Path, metadata: dict[str, Any] | None = None, shard_size: int = 100):
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if any(self.out_dir.glob("shard_*.h5")):
            raise FileExistsError(f"{self.out_dir} already holds a dataset; choose an empty folder")
        self.metadata = dict(metadata or {})
        self.shard_size = shard_size
        self._file: h5py.File | None = None
        self._count = 0
        self._counts: dict[str, dict[str, int]] = {}

    def add(self, traj: Trajectory) -> None:
        traj.validate()
        if self._count % self.shard_size == 0:
            self._close_shard()
            self._file = h5py.File(self.out_dir / f"shard_{self._count // self.shard_size:05d}.h5", "w")
            self._file.attrs["format"] = FORMAT_NAME
            self._file.attrs["version"] = FORMAT_VERSION
        group = self._file.create_group(f"trajectories/{self._count:06d}")
        for name in _ARRAY_FIELDS:
            data = getattr(traj, name)
            group.create_dataset(name, data=data, compression="lzf" if name == "frames" and data.size else None)
        for name in _SCALAR_FIELDS:
            group.attrs[name] = getattr(traj, name)
        self._count += 1
        c = self._counts.setdefault(traj.kind, {"total": 0, "success": 0})
        c["total"] += 1
        c["success"] += int(traj.is_success)

    def _close_shard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        self._close_shard()
        summary = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **self.metadata,
                   "num_trajectories": self._count, "counts": self._counts}
        (self.out_dir / "metadata.json").write_text(json.dumps(summary, indent=2))

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrajectoryRecorder(gym.Wrapper):
    """Records the current episode of a (state-observation) env that follows the oracle protocol
    (``info["oracle_progress"]``, ``info["success"]``) as a :class:`Trajectory`.

    Wrap it outside a learned-reward wrapper to record the simulator's reward (``info["env_reward"]``,
    else the reward itself) rather than the learned one. No frames are stored.
    """

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._seed = kwargs.get("seed")
        self._obs, self._actions, self._rewards = [np.ravel(obs)], [], []
        self._progress, self._success = [info["oracle_progress"]], [info["success"]]
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs.append(np.ravel(obs)), self._actions.append(np.ravel(action))
        self._rewards.append(info.get("env_reward", reward))
        self._progress.append(info["oracle_progress"]), self._success.append(info["success"])
        return obs, reward, terminated, truncated, info

    def trajectory(self, env_id: str, instruction: str, kind: str) -> Trajectory:
        """The episode so far (since the last reset) as a trajectory."""
        act_dim = int(np.prod(self.action_space.shape))
        return Trajectory(env_id=env_id, instruction=instruction, kind=kind, seed=-1 if self._seed is None else
                          int(self._seed), obs=np.array(self._obs), actions=np.array(self._actions).reshape(-1, act_dim),
                          env_rewards=np.array(self._rewards, np.float64).reshape(-1),
                          oracle_progress=np.array(self._progress, np.float64).reshape(-1),
                          success=np.array(self._success).reshape(-1))


def write_trajectories(out_dir: str | Path, trajectories: Iterable[Trajectory], metadata: dict[str, Any] | None = None,
                       shard_size: int = 100) -> Path:
    """Write ``trajectories`` into a new dataset folder and return its path."""
    with TrajectoryWriter(out_dir, metadata, shard_size) as writer:
        for traj in trajectories:
            writer.add(traj)
    return Path(out_dir)


def _shards(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no dataset at {path}")
    shards = sorted(path.glob("shard_*.h5"))
    if not shards:
        raise DatasetFormatError(f"{path} has no shard_*.h5 files; is it a vlmreward_gym trajectory dataset?")
    return shards


def iter_trajectories(path: str | Path, kinds: Iterable[str] | None = None) -> Iterator[Trajectory]:
    """Yield the trajectories of a dataset folder (or one shard file), optionally only some kinds."""
    wanted = None if kinds is None else set(kinds)
    for shard in _shards(Path(path)):
        with h5py.File(shard, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                raise DatasetFormatError(f"{shard} is not a {FORMAT_NAME} file (format attr {f.attrs.get('format')!r})")
            if int(f.attrs.get("version", -1)) != FORMAT_VERSION:
                raise DatasetFormatError(f"{shard} has format version {f.attrs.get('version')}, expected {FORMAT_VERSION}")
            for key in sorted(f["trajectories"]):
                group = f["trajectories"][key]
                if wanted is not None and group.attrs["kind"] not in wanted:
                    continue
                scalars = {name: group.attrs[name] for name in _SCALAR_FIELDS}
                scalars["seed"] = int(scalars["seed"])
                yield Trajectory(**{k: str(v) if k != "seed" else v for k, v in scalars.items()},
                                 **{name: group[name][()] for name in _ARRAY_FIELDS})


def load_trajectories(path: str | Path, kinds: Iterable[str] | None = None) -> list[Trajectory]:
    """All trajectories of a dataset as a list (see :func:`iter_trajectories`)."""
    return list(iter_trajectories(path, kinds))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata.json`` summary of a dataset folder."""
    return json.loads((Path(path) / "metadata.json").read_text())
