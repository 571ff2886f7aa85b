"""The streamed evaluation: a model asked at every kept frame about the episode so far, as a dense reward asks."""

import math

import numpy as np
import pytest

from vlmreward_gym.evaluation.data import load_demo_dataset
from vlmreward_gym.evaluation.streamed import streamed_answers, streamed_evaluation, streamed_metrics
from vlmreward_gym.models.registry import make_reward_model


@pytest.fixture(scope="module")
def episodes(pointreach_data):
    found = load_demo_dataset(pointreach_data)
    assert any(e.success_flags.any() for e in found) and any(not e.success_flags.any() for e in found)
    return found


def test_the_oracle_streamed_is_the_oracle(episodes):
    metrics = streamed_evaluation(make_reward_model("oracle"), episodes)
    assert metrics["progress_pearson"] == pytest.approx(1.0) and metrics["progress_delta_pearson"] == pytest.approx(1.0)
    assert metrics["success_roc_auc"] == 1.0 and metrics["successes_called"] == 1.0 and metrics["failures_called"] == 0.0
    assert metrics["progress_at_success"] == pytest.approx(1.0)  # what reaching success pays: all of it
    assert metrics["progress_before_success"] < 1.0
    assert metrics["episodes"] == len(episodes)


def test_each_answer_is_the_last_frame_of_its_prefix(episodes):
    oracle = make_reward_model("oracle")
    episode = max(episodes, key=lambda e: e.length)
    progress, success = streamed_answers(oracle, episode, batch_size=3)  # batches split mid-episode
    np.testing.assert_allclose(progress, episode.progress)
    np.testing.assert_array_equal(success >= 0.5, episode.success_flags)


def test_noise_shows_in_the_change_more_than_in_the_level(episodes):
    noisy = streamed_evaluation(make_reward_model("noisy-oracle", mae=0.3, seed=0), episodes)
    assert noisy["progress_delta_pearson"] < noisy["progress_pearson"] < 1.0


def test_a_model_calling_every_frame_a_success_calls_every_failure(episodes):
    answers = [(e.progress, np.ones(e.length)) for e in episodes]
    metrics = streamed_metrics(episodes, answers)
    assert metrics["failures_called"] == 1.0 and metrics["successes_called"] == 1.0
    assert metrics["success_roc_auc"] == 0.5
    constant = streamed_metrics(episodes, [(np.full(e.length, 0.3), np.zeros(e.length)) for e in episodes])
    assert math.isnan(constant["progress_pearson"]) and constant["progress_at_success"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="per-frame oracle"):
        streamed_metrics([type(episodes[0])("x", "t", "i", None, np.arange(2))], [(np.zeros(2), np.zeros(2))])
