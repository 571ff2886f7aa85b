"""``vlmreward eval`` end to end: control models on PointReach, a frame-reading model on videos."""

import json

import numpy as np
import pytest

from vlmreward_gym import cli
from vlmreward_gym.evaluation import run_eval
from vlmreward_gym.evaluation.data import load_eval_data
from vlmreward_gym.evaluation.scoring import evaluate
from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.types import Capability, RewardInputError, RewardOutput


def test_cli_oracle_perfect_noisy_worse_zero_at_chance(pointreach_data, tmp_path, capsys):
    out = tmp_path / "report"
    cli.main(["eval", "--data", str(pointreach_data), "--out", str(out), "--model", "oracle",
              "--model", "noisy-oracle", "--model-kwargs", '{"mae": 0.5, "seed": 1}', "--model", "zero"])
    printed = capsys.readouterr().out
    assert "| noisy-oracle(mae=0.5, seed=1) |" in printed
    report = json.loads((out / "results.json").read_text())
    assert report["format"] == "demos" and report["episodes"] == 24 and report["tasks"] == 2
    oracle, noisy, zero = (r["metrics"] for r in report["results"])
    assert oracle["voc_time_pearson"] > 0.99  # the expert heads straight for the goal: near-linear in time
    for key in ("voc_pearson", "voc_spearman", "kendall_tau_a", "pairwise_same_task",
                "pairwise_different_task", "ordering_accuracy_A", "success_roc_auc", "success_precision",
                "success_recall", "instruction_accuracy"):
        assert oracle[key] == pytest.approx(1.0), key
    assert oracle["mae"] == 0.0
    assert 0.3 < noisy["mae"] < 0.7  # the dial is an expected MAE of 0.5
    for key in ("voc_pearson", "kendall_tau_a", "pairwise_same_task", "pairwise_different_task"):
        assert 0.5 < noisy[key] <= 1.0, key  # better than chance ...
    assert noisy["voc_pearson"] < 0.9 and noisy["pairwise_same_task"] < 1.0  # ... and worse than the oracle
    for key in ("pairwise_same_task", "pairwise_different_task", "success_roc_auc"):
        assert zero[key] == 0.5, key  # every pair tied: a coin flip
    assert zero["kendall_tau_a"] == 0.0 and zero["voc_pearson"] == 0.0 and zero["ordering_accuracy_A"] == 0.0
    by_instruction = [r["details"]["different_task_by_instruction"] for r in report["results"]]
    assert len(by_instruction[0]) == 2
    assert set(by_instruction[0].values()) == {1.0} and set(by_instruction[2].values()) == {0.5}
    assert min(by_instruction[1].values()) <= noisy["pairwise_different_task"] <= max(by_instruction[1].values())
    for name in ("results.md", "oracle_curves.png", "oracle_confusion.png", "zero_curves.png"):
        assert (out / name).stat().st_size > 0
    assert "| oracle | 0.000 | 1.000 |" in (out / "results.md").read_text()


class RedDotModel(RewardModel):
    """Reads pixels (the red square's position); answers progress only for the last frame."""

    def __init__(self):
        self.info = ModelInfo(name="red-dot", capabilities=Capability.PROGRESS | Capability.SUCCESS)
        self.calls = 0

    def _predict(self, query):
        self.calls += 1
        last = []
        for clip, text in zip(query.frames, query.instructions):
            red = (clip[-1, ..., 0] > 150) & (clip[-1, ..., 1] < 100)
            ys, xs = np.nonzero(red)
            # "push ... right": how far right the square is; "lift": how high it is
            value = xs.mean() / clip.shape[2] if "right" in text else 1 - ys.mean() / clip.shape[1]
            last.append(float(np.clip(value, 0, 1)) if red.any() else 0.0)
        return RewardOutput(progress=tuple(np.array([v]) for v in last), success=np.array(last) > 0.6)


def test_frame_model_on_video_folders(rrb_folder, lerobot_folder):
    model = RedDotModel()
    for folder in (rrb_folder, lerobot_folder):
        _, episodes = load_eval_data(folder, max_frames=6)
        result = evaluate(model, episodes)
        for e in result["episodes"]:  # prefix queries gave a rising per-frame curve
            assert len(e["pred_progress"]) == len(e["steps"]) and np.all(np.diff(e["pred_progress"]) >= 0)
        m = result["metrics"]
        assert m["voc_pearson"] > 0.9 and result["details"]["voc_target"] == "time (successful episodes)"
        assert m["pairwise_different_task"] == 1.0 and len(result["confusion"]["matrix"]) == 2
    assert m["mae"] is not None and model.calls > 2


def test_oracle_needs_demo_data(rrb_folder):
    with pytest.raises(RewardInputError, match="needs privileged oracle progress"):
        run_eval(str(rrb_folder), [("oracle", {})])


def test_model_kwargs_must_follow_a_model(pointreach_data, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["eval", "--model-kwargs", "{}", "--model", "zero", "--data", str(pointreach_data),
                  "--out", str(tmp_path)])
