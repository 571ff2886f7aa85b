import json

import numpy as np
import pytest

from vlmreward_gym.data import (DatasetFormatError, Trajectory, TrajectoryWriter, load_trajectories, read_metadata,
                          write_trajectories)


def make_traj(T=5, kind="expert", seed=0, success=True, frames=3):
    rng = np.random.default_rng(seed)
    steps = np.linspace(0, T, frames).round().astype(np.int64)
    prog = np.linspace(0, 1, T + 1, dtype=np.float32)
    succ = np.zeros(T + 1, bool)
    succ[-1] = success
    return Trajectory(env_id="Toy-v0", instruction="do it", kind=kind, seed=seed,
                      obs=rng.normal(size=(T + 1, 4)), actions=rng.normal(size=(T, 2)),
                      env_rewards=rng.normal(size=T), oracle_progress=prog, success=succ,
                      frames=rng.integers(0, 255, size=(frames, 8, 8, 3), dtype=np.uint8), frame_steps=steps)


def test_round_trip_across_shards(tmp_path):
    trajs = [make_traj(T=3 + i, kind="expert" if i % 2 else "random", seed=i, success=i % 2 == 1) for i in range(5)]
    write_trajectories(tmp_path / "ds", trajs, metadata={"env_id": "Toy-v0"}, shard_size=2)
    assert len(list((tmp_path / "ds").glob("shard_*.h5"))) == 3
    back = load_trajectories(tmp_path / "ds")
    assert len(back) == 5
    for a, b in zip(trajs, back):
        assert (a.env_id, a.instruction, a.kind, a.seed) == (b.env_id, b.instruction, b.kind, b.seed)
        for name in ("obs", "actions", "env_rewards", "oracle_progress", "success", "frames", "frame_steps"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    meta = read_metadata(tmp_path / "ds")
    assert meta["num_trajectories"] == 5 and meta["env_id"] == "Toy-v0"
    assert meta["counts"] == {"random": {"total": 3, "success": 0}, "expert": {"total": 2, "success": 2}}
    assert [t.seed for t in load_trajectories(tmp_path / "ds", kinds=["expert"])] == [1, 3]


@pytest.mark.parametrize("change, message", [
    (dict(obs=np.zeros((3, 4))), "obs must be"),
    (dict(oracle_progress=np.full(6, 1.5)), "oracle_progress"),
    (dict(frames=np.zeros((3, 8, 8, 3), np.float32)), "frames must be uint8"),
    (dict(frame_steps=np.array([0, 4, 2])), "strictly increasing"),
    (dict(env_rewards=np.zeros(4)), "env_rewards"),
])
def test_invalid_trajectory_names_the_field(change, message):
    fields = make_traj().__dict__ | change
    with pytest.raises(DatasetFormatError, match=message):
        Trajectory(**fields)


def test_refuses_to_overwrite_and_rejects_foreign_files(tmp_path):
    write_trajectories(tmp_path / "ds", [make_traj()])
    with pytest.raises(FileExistsError):
        TrajectoryWriter(tmp_path / "ds")
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
        f.create_group("trajectories")
    with pytest.raises(DatasetFormatError, match="not a vlmreward_gym.trajectories file"):
        load_trajectories(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        load_trajectories(tmp_path / "missing")
    assert json.loads((tmp_path / "ds" / "metadata.json").read_text())["version"] == 1
