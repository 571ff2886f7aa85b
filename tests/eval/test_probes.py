"""Exploit probes and calibration: the transforms, exploitable stubs, the oracle, ECE, the plot."""

import math

import numpy as np
import pytest

from vlmreward_gym import metrics as M
from vlmreward_gym.evaluation import run_eval
from vlmreward_gym.evaluation.data import EvalEpisode, load_eval_data
from vlmreward_gym.evaluation.report import plot_reliability
from vlmreward_gym.evaluation.probes import FRAME_PROBES, PROBES, probe_episode, probe_indices
from vlmreward_gym.evaluation.scoring import evaluate
from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.models.registry import make_reward_model
from vlmreward_gym.types import Capability, RewardOutput


def labelled_episode(length=9):
    """Frame t is filled with the value t; progress t / (length - 1); success on the last frame only."""
    frames = np.broadcast_to(np.arange(length, dtype=np.uint8)[:, None, None, None], (length, 4, 4, 3)).copy()
    flags = np.arange(length) == length - 1
    return EvalEpisode("e", "task", "do it", frames, np.arange(length) * 2, np.linspace(0, 1, length), flags, True)


@pytest.mark.parametrize("kind", FRAME_PROBES)
def test_probe_moves_frames_and_labels_together(kind):
    episode = labelled_episode()
    probe = probe_episode(episode, kind, np.random.default_rng(3))
    shown = probe.frames[:, 0, 0, 0].astype(int)  # which real time point each probe frame shows
    np.testing.assert_array_equal(shown, probe_indices(kind, 9, np.random.default_rng(3)))
    np.testing.assert_allclose(probe.progress, episode.progress[shown])
    np.testing.assert_array_equal(probe.success_flags, episode.success_flags[shown])
    np.testing.assert_array_equal(probe.steps, episode.steps)  # the altered clip still plays forward in time
    assert probe.success is False and probe.id == f"e~{kind}"
    assert shown[-1] != 8  # no probe ends on the real successful ending
    expected = {"static": [0] * 9, "frozen": [0, 1, 2, 3, 4, 4, 4, 4, 4], "reversed": list(range(8, -1, -1))}
    if kind in expected:
        assert shown.tolist() == expected[kind]
    else:
        assert sorted(shown) == list(range(9)) and shown.tolist() != list(range(9))
    with pytest.raises(ValueError, match="unknown frame probe"):
        probe_indices("sideways", 3)


class ConstantModel(RewardModel):
    """Exploitable: pays full progress and success for any clip (reads the frames, ignores them)."""

    def __init__(self):
        self.info = ModelInfo(name="constant", capabilities=Capability.PROGRESS | Capability.SUCCESS)

    def _predict(self, query):
        return RewardOutput(progress=tuple(np.ones(n) for n in query.lengths), success=np.ones(query.batch_size))


class SceneModel(RewardModel):
    """Exploitable like TOPReward on a static video: a last-frame-only answer that reads the scene of
    the first frame (how bright it is), not what changed."""

    def __init__(self):
        self.info = ModelInfo(name="scene", capabilities=Capability.PROGRESS)
        self.calls = 0

    def _predict(self, query):
        self.calls += 1
        return RewardOutput(progress=tuple(np.array([clip[0].mean() / 255]) for clip in query.frames))


@pytest.fixture(scope="module")
def pointreach_episodes(pointreach_data):
    return load_eval_data(pointreach_data)[1]


def probe_results(model, episodes, **kwargs):
    result = evaluate(model, episodes, **kwargs)
    return result, result["probes"]["results"]


def test_exploitable_models_are_reported_paid_for_the_static_video(pointreach_episodes):
    _, constant = probe_results(ConstantModel(), pointreach_episodes)
    for kind in PROBES:  # paid exactly as much as the real video: a tie counts as paid
        assert constant[kind]["paid_rate"] == 1.0 and constant[kind]["mean_ratio"] == 1.0, kind
        assert constant[kind]["episodes"] == 8  # the successful episodes
    scene = SceneModel()
    result, paid = probe_results(scene, pointreach_episodes, confusion=False)
    assert paid["static"]["paid_rate"] == 1.0 and paid["frozen"]["paid_rate"] == 1.0
    assert paid["static"]["mean_ratio"] == pytest.approx(1.0)
    assert result["probes"]["payment"] == "final progress"
    probed = [e for e in result["episodes"] if e["probe_payments"]]
    assert len(probed) == 8 and all(e["success"] for e in probed)
    assert probed[0]["probe_payments"]["static"] == probed[0]["probe_payments"]["real"]


def test_oracle_is_not_paid_for_altered_videos(pointreach_episodes):
    _, oracle = probe_results(make_reward_model("oracle"), pointreach_episodes)
    for kind in PROBES:
        assert oracle[kind]["paid_rate"] == 0.0, kind
    assert oracle["static"]["mean_ratio"] == 0.0 and oracle["reversed"]["mean_ratio"] == 0.0  # starts at progress 0
    assert 0.3 < oracle["frozen"]["mean_ratio"] < 0.7  # halfway along a straight path
    _, zero = probe_results(make_reward_model("zero"), pointreach_episodes)
    assert zero["static"] == {"paid_rate": 1.0, "mean_ratio": None, "episodes": 8, "ratio_episodes": 0}


def test_other_instruction_probe_reuses_the_matrix_or_queries_itself(pointreach_episodes):
    noisy = make_reward_model("noisy-oracle", mae=0.5)
    with_matrix, without = (probe_results(noisy, pointreach_episodes, confusion=c)[1] for c in (True, False))
    assert with_matrix["other_instruction"] == without["other_instruction"]
    assert without["other_instruction"]["episodes"] == 8


def test_one_task_has_no_other_instruction_probe(pointreach_episodes):
    one_task = [e for e in pointreach_episodes if e.task == pointreach_episodes[0].task]
    _, paid = probe_results(make_reward_model("oracle"), one_task)
    assert set(paid) == set(FRAME_PROBES)


def test_calibration_by_hand():
    # bin 0: confidence 0.05, frequency 0 (1 episode); bin 9: confidence 0.95, frequency 1/2 (2 episodes)
    c = M.calibration([0.05, 0.95, 0.95], [0, 1, 0])
    assert c.ece == pytest.approx((1 * 0.05 + 2 * 0.45) / 3)
    assert c.counts == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2] and math.isnan(c.frequency[5])
    calibrated = M.calibration([0.3] * 10 + [1.0] * 5, [1, 1, 1] + [0] * 7 + [1] * 5)  # 1.0 is in the last bin
    assert calibrated.ece == pytest.approx(0.0) and calibrated.counts[9] == 5
    assert M.calibration([0.9] * 4, [0] * 4).ece == pytest.approx(0.9)  # confidently wrong
    assert len(M.calibration([0.5], [1], bins=4).edges) == 5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.calibration([1.5], [1])


def test_ece_and_reliability_plot_in_the_report(pointreach_data, pointreach_episodes, tmp_path):
    report = run_eval(str(pointreach_data), [("oracle", {}), ("zero", {})], tmp_path)
    oracle, zero = (r["metrics"]["success_ece"] for r in report["results"])
    assert oracle == 0.0 and zero == pytest.approx(8 / 24)  # says 0 to everything; a third succeed
    assert (tmp_path / "oracle_reliability.png").stat().st_size > 0
    assert report["results"][0]["details"]["calibration"]["counts"] == [16] + [0] * 8 + [8]
    text = (tmp_path / "results.md").read_text()
    assert "## Exploit probes" in text and "| oracle | 8 | 0% (0.00) |" in text
    assert "oracle_reliability.png" in text
    progress_only = evaluate(SceneModel(), pointreach_episodes, probes=False)  # no success probability, no ECE
    assert "success_ece" not in progress_only["metrics"] and "probes" not in progress_only
    assert plot_reliability({**progress_only, "label": "scene"}, tmp_path / "scene.png") is None
