"""Fixtures on disk: a PointReach demo dataset, a RoboRewardBench-style folder, a LeRobot v2 folder."""

import json

import numpy as np
import pytest

from vlmreward_rl.envs.point_reach_demos import generate
from vlmreward_gym.evaluation.data import write_video


def clip(length, up=False, size=32):
    """A red square moving right (or up) over ``length`` frames of a grey (size x size) image."""
    frames = np.full((length, size, size, 3), 90, np.uint8)
    for t in range(length):
        d = min(2 + 3 * t, size - 8)
        if up:
            frames[t, size - 6 - d:size - d, 2:8] = (220, 30, 30)
        else:
            frames[t, 12:18, d:d + 6] = (220, 30, 30)
    return frames


@pytest.fixture(scope="session")
def pointreach_data(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("eval") / "pointreach", seeds=4, size=32)


@pytest.fixture(scope="session")
def rrb_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval") / "rrb"
    rows = [("videos/a.mp4", "push the block right", 5, "lab1"), ("videos/b.mp4", "push the block right", 2, "lab1"),
            ("videos/c.mp4", "lift the block", 1, "lab2")]
    for n, (video, task, label, subset) in enumerate(rows):
        write_video(root / video, clip(6 + 2 * n, up=task.startswith("lift")))
    (root / "manifest.jsonl").write_text("\n".join(
        json.dumps({"video": v, "task": t, "label": lab, "subset": s}) for v, t, lab, s in rows) + "\n")
    return root


@pytest.fixture(scope="session")
def lerobot_folder(tmp_path_factory):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("eval") / "lerobot_ds"
    info = {"codebase_version": "v2.1", "fps": 10, "chunks_size": 1000, "total_episodes": 2,
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
            "features": {"observation.images.front": {"dtype": "video", "shape": [32, 32, 3]},
                         "observation.state": {"dtype": "float32", "shape": [2]}}}
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    (root / "meta" / "tasks.jsonl").write_text('{"task_index": 0, "task": "push the block right"}\n'
                                               '{"task_index": 1, "task": "lift the block"}\n')
    lengths = (8, 5)
    (root / "meta" / "episodes.jsonl").write_text("".join(
        json.dumps({"episode_index": i, "tasks": ["?"], "length": n}) + "\n" for i, n in enumerate(lengths)))
    for i, n in enumerate(lengths):
        table = pa.table({"frame_index": np.arange(n), "episode_index": np.full(n, i), "task_index": np.full(n, i),
                          "timestamp": np.arange(n) / 10.0, "observation.state": [[0.0, 0.0]] * n,
                          "next.success": [False] * (n - 1) + [i == 0]})
        path = root / "data" / "chunk-000" / f"episode_{i:06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        write_video(root / "videos" / "chunk-000" / "observation.images.front" / f"episode_{i:06d}.mp4", clip(n, up=i == 1))
    return root
