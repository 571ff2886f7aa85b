import json

import numpy as np
import pytest

from vlmreward_gym.data import load_trajectories
from vlmreward_gym.evaluation.data import (detect_format, load_demo_dataset, load_eval_data, load_lerobot,
                                           load_roborewardbench, read_video, write_video)
from tests.eval.conftest import clip


def test_video_round_trip(tmp_path):
    frames = clip(9)
    back = read_video(write_video(tmp_path / "v.mp4", frames))
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - frames).mean() < 8  # lossy codec, same picture
    assert read_video(tmp_path / "v.mp4", max_frames=3).shape[0] == 3


def test_demo_format_labels_quality_groups(pointreach_data):
    trajs = load_trajectories(pointreach_data)
    episodes = load_demo_dataset(pointreach_data)
    assert len(episodes) == len(trajs) == 24  # 4 seeds x 2 tasks x 3 kinds
    for e, t in zip(episodes, trajs):
        assert e.instruction == t.instruction and e.kind == t.kind and e.success == t.is_success
        np.testing.assert_array_equal(e.steps, t.frame_steps)
        np.testing.assert_allclose(e.progress, t.oracle_progress)
        assert e.label == (5.0 if t.is_success else 1.0 + round(3 * float(t.oracle_progress[-1])))
        assert e.group.endswith(f"seed {t.seed}") and e.frames.shape[0] == len(t.frame_steps)
    by_group = {}
    for e in episodes:
        by_group.setdefault(e.group, {})[e.kind] = e
    for g in by_group.values():  # expert succeeds; partial beats random only if it got further
        assert g["expert"].quality > max(g["early_stop"].quality, g["random"].quality)
        assert (g["early_stop"].quality > g["random"].quality) == (
            g["early_stop"].progress[-1] > g["random"].progress[-1])
    short = load_demo_dataset(pointreach_data, max_frames=5)
    assert all(e.length == 5 and e.frames.shape[0] == 5 and e.steps[0] == 0 for e in short)


def test_roborewardbench_folder(rrb_folder):
    assert detect_format(rrb_folder) == "roborewardbench"
    episodes = load_roborewardbench(rrb_folder, max_frames=4)
    assert [e.label for e in episodes] == [5.0, 2.0, 1.0] and [e.success for e in episodes] == [True, False, False]
    assert [e.subset for e in episodes] == ["lab1", "lab1", "lab2"] and episodes[2].instruction == "lift the block"
    assert all(e.frames.shape == (4, 32, 32, 3) and e.progress is None for e in episodes)
    assert episodes[0].group == episodes[1].group != episodes[2].group


def test_roborewardbench_bad_label(tmp_path, rrb_folder):
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"video": str(rrb_folder / "videos/a.mp4"), "task": "x",
                                                         "label": 7}) + "\n")
    with pytest.raises(ValueError, match="label must be an integer 1-5"):
        load_roborewardbench(tmp_path)


def test_lerobot_folder(lerobot_folder):
    fmt, episodes = load_eval_data(lerobot_folder, max_frames=None)
    assert fmt == "lerobot" and [e.task for e in episodes] == ["push the block right", "lift the block"]
    assert [e.frames.shape[0] for e in episodes] == [8, 5]
    assert [e.success for e in episodes] == [True, False] and [e.label for e in episodes] == [5.0, None]
    with pytest.raises(ValueError, match="camera 'wrist'"):
        load_lerobot(lerobot_folder, camera="wrist")


def test_unknown_folder(tmp_path):
    with pytest.raises(ValueError, match="manifest.jsonl"):
        detect_format(tmp_path)
