"""Reward fidelity during training: the success calls counted by hand, summed over windows, and plotted."""

import json
import math

import numpy as np
import pytest

from vlmreward_rl.algos.common.fidelity import SuccessCounts, fidelity_pearson, run_fidelity
from vlmreward_rl.algos.common.metrics import RolloutStats
from vlmreward_rl.algos.common.summaries import fidelity_line, gain_points, success_line
from vlmreward_rl.recipes.report import plot_fidelity


def test_success_counts_by_hand():
    # episodes:   0     1      2      3      4      5
    detected = [True, True, False, True, False, False]
    success = [True, False, True, False, False, True]
    counts = SuccessCounts.of(detected, success)
    assert (counts.episodes, counts.successes, counts.detected, counts.hits) == (6, 3, 3, 1)
    assert counts.false_successes == 2 and counts.missed_successes == 2  # episodes 1, 3 paid; 2, 5 missed
    assert counts.precision == pytest.approx(1 / 3) and counts.recall == pytest.approx(1 / 3)
    assert counts.false_success_rate == pytest.approx(2 / 6) and counts.detected_rate == 0.5
    assert counts.success_rate == 0.5
    none = SuccessCounts.of([], [])
    assert math.isnan(none.precision) and math.isnan(none.recall) and math.isnan(none.false_success_rate)
    with pytest.raises(ValueError, match="one call per episode"):
        SuccessCounts.of([True], [True, False])


def test_rollout_stats_count_the_false_successes_paid_per_episode():
    """Two envs, hand-made: env 0 detects success in an episode that fails (a false success), then runs one that
    succeeds undetected; env 1 succeeds and is detected from its second step (sticky)."""
    stats = RolloutStats(2)
    no = np.zeros(2, bool)

    def step(detected, success, ended):
        stats.add(np.zeros(2), np.array(ended), no, {"success": np.array(success, float),
                                                     "detected": np.array(detected, float),
                                                     "progress": np.full(2, np.nan), "env_reward": np.zeros(2)})

    step([1, 0], [0, 0], [False, False])
    step([0, 1], [0, 0], [True, False])  # env 0 ends failed after a detection earlier in the episode
    step([0, 0], [1, 1], [True, True])  # env 0 succeeds undetected; env 1's detection of step 2 still counts
    out = stats.summary()
    assert out["reward/judged_episodes"] == 3 and out["reward/simulator_successes"] == 2
    assert out["reward/detected_successes"] == 2 and out["reward/true_detections"] == 1
    assert out["reward/false_successes"] == 1 and out["reward/false_success_rate"] == pytest.approx(1 / 3)
    assert out["reward/success_precision"] == 0.5 and out["reward/success_recall"] == 0.5
    assert out["reward/detected_rate"] == pytest.approx(2 / 3)


def test_run_fidelity_pools_the_windows_counts_and_averages_the_correlations():
    """Pooled, not the mean of the windows' rates: window 1 calls 1 success right, window 2 calls 3 wrong and 1
    right, so precision is 2 / 5 (the mean of 1.0 and 0.25 would be 0.625)."""
    rows = [{"global_step": 0, "eval/success_rate": 0.0},  # an evaluation row holds no training counts
            {"global_step": 10, **SuccessCounts(4, 1, 1, 1).metrics(), "reward/progress_delta_pearson": 0.8},
            {"global_step": 20, **SuccessCounts(6, 2, 4, 1).metrics(), "reward/progress_delta_pearson": 0.4,
             "reward/progress_pearson": 0.1}]
    out = run_fidelity(rows)
    assert out["fidelity/judged_episodes"] == 10 and out["fidelity/false_successes"] == 3
    assert out["fidelity/success_precision"] == pytest.approx(2 / 5)
    assert out["fidelity/success_recall"] == pytest.approx(2 / 3)
    assert out["fidelity/false_success_rate"] == pytest.approx(0.3) and out["fidelity/detected_rate"] == 0.5
    assert out["fidelity/simulator_success_rate"] == pytest.approx(0.3)
    assert out["fidelity/progress_delta_pearson"] == pytest.approx(0.6) and out["fidelity/progress_pearson"] == 0.1
    empty = run_fidelity([])
    assert empty["fidelity/judged_episodes"] == 0 and math.isnan(empty["fidelity/success_precision"])
    line = fidelity_line(out)
    assert "success precision 0.400, recall 0.667" in line and "false successes paid 3 (0.300 an episode)" in line
    assert "Pearson r with the change in oracle progress 0.600" in line


def test_the_printed_gain_and_which_correlation_measures_a_reward():
    assert gain_points(0.06, 0.36) == 30.0 and math.isnan(gain_points(None, 0.5))
    assert success_line(0.1, 0.42, 50) == ("simulator success on the same 50 evaluation starts: base policy 0.10, "
                                           "fine-tuned 0.42, gain +32.0 points")
    assert fidelity_pearson("dense", {"relative": True}) == "progress_delta_pearson"
    assert fidelity_pearson("contrastive", {}) == "progress_delta_pearson"
    assert fidelity_pearson("dense", {}) == fidelity_pearson("episodic", {}) == "progress_pearson"


def test_fidelity_plot_is_written_only_for_a_run_that_judged_episodes(tmp_path):
    rows = [{"global_step": 0, "eval/success_rate": 0.1},
            {"global_step": 100, **SuccessCounts(5, 1, 2, 1).metrics(), "reward/mean": 0.02,
             "reward/progress_delta_pearson": 0.5},
            {"global_step": 200, **SuccessCounts(5, 3, 2, 2).metrics(), "reward/mean": 0.05,
             "reward/progress_delta_pearson": 0.6, "eval/success_rate": 0.4}]
    history = tmp_path / "metrics.jsonl"
    history.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = plot_fidelity(history, tmp_path / "fidelity.png", "a run")
    assert out == tmp_path / "fidelity.png" and out.read_bytes()[:4] == b"\x89PNG"
    history.write_text(json.dumps(rows[0]) + "\n")
    assert plot_fidelity(history, tmp_path / "none.png", "no judged episode") is None
    assert not (tmp_path / "none.png").exists()
    assert plot_fidelity(tmp_path / "missing.jsonl", tmp_path / "none.png", "no run") is None
