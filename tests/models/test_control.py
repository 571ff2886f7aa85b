import numpy as np
import pytest

import vlmreward_gym as vrg
from vlmreward_gym.models.control import rubric_score
from vlmreward_gym.types import Capability, RewardQuery

ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE


def oracle_query(progress, success, instruction="task"):
    return RewardQuery(instructions=[instruction] * len(progress), want=ALL,
                       oracle_progress=[np.asarray(p, float) for p in progress],
                       oracle_success=[np.asarray(s, bool) for s in success])


def test_rubric_score():
    np.testing.assert_array_equal(rubric_score([0.0, 0.2, 0.5, 0.9, 0.3], [False, False, False, False, True]),
                                  [1, 2, 3, 4, 5])


def test_oracle_answers_from_privileged_progress():
    out = vrg.make_reward_model("oracle")(oracle_query([[0.1, 0.4], [0.5, 0.2], [0.3]], [[0, 1], [0, 0], [0]]))
    np.testing.assert_allclose(out.progress[0], [0.1, 0.4])
    np.testing.assert_array_equal(out.success, [1, 0, 0])
    np.testing.assert_array_equal(out.comparison, [1, -1, 0])
    np.testing.assert_array_equal(out.score, [5, 2, 2])


def test_zero_model():
    out = vrg.make_reward_model("zero")(oracle_query([[0.1, 0.9]], [[0, 1]]))
    assert out.progress[0].tolist() == [0, 0] and out.score.tolist() == [1.0] and out.success.tolist() == [0]


@pytest.mark.parametrize("mae", [0.0, 0.25, 0.5, 1.0, 1.5, 2.0])
def test_noisy_oracle_hits_requested_mae_on_10000_samples(mae):
    rng = np.random.default_rng(123)
    progress = rng.uniform(0, 1, size=10_000)
    success = rng.uniform(size=10_000) < 0.3
    model = vrg.make_reward_model("noisy-oracle", mae=mae, seed=0)
    out = model(oracle_query([[p] for p in progress], [[s] for s in success]))
    true_score = rubric_score(progress, success)
    assert np.mean(np.abs(out.score - true_score)) == pytest.approx(mae, abs=0.05)
    progress_error = np.mean(np.abs(np.array([p[-1] for p in out.progress]) - progress)) * 4
    assert progress_error == pytest.approx(mae, abs=0.05)
    assert out.score.min() >= 1 and out.score.max() <= 5


def test_noisy_oracle_is_reproducible_and_batch_invariant():
    q = oracle_query([[0.1, 0.5], [0.7]], [[0, 0], [1]])
    a = vrg.make_reward_model("noisy-oracle", mae=0.5, seed=1)(q)
    b = vrg.make_reward_model("noisy-oracle", mae=0.5, seed=1)(oracle_query([[0.7]], [[1]]))
    c = vrg.make_reward_model("noisy-oracle", mae=0.5, seed=2)(q)
    assert a.score[1] == b.score[0]
    assert a.score.tolist() != c.score.tolist()


def test_noisy_oracle_rejects_impossible_mae():
    with pytest.raises(ValueError, match=r"mae must be in \[0, 2.0\]"):
        vrg.make_reward_model("noisy-oracle", mae=2.5)
