"""Reward-fidelity and episode metrics against hand-computed values."""

import math

import numpy as np
import pytest

from vlmreward_rl.algos.common.metrics import (RolloutStats, fields_from_infos, fields_from_vector_info, pearson,
                                  precision_recall)


def test_precision_recall():
    assert precision_recall([1, 1, 0, 0], [1, 0, 1, 0]) == (0.5, 0.5)
    assert precision_recall([1, 1, 1, 0], [1, 1, 0, 0]) == (2 / 3, 1.0)
    precision, recall = precision_recall([0, 0], [1, 0])
    assert math.isnan(precision) and recall == 0.0
    precision, recall = precision_recall([1, 0], [0, 0])
    assert precision == 0.0 and math.isnan(recall)


def test_pearson():
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # sum(dx*dy) = 1, sqrt(2 * 2) = 2
    assert pearson([1, 2, 3], [6, 4, 2]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 2, 3], [2, 2, 2]))
    assert math.isnan(pearson([1.0], [2.0]))
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def fields(success, detected, progress, env_reward=(0.0, 0.0)):
    return {"success": np.array(success, float), "detected": np.array(detected, float),
            "progress": np.array(progress, float), "env_reward": np.array(env_reward, float)}


def test_rollout_stats_two_episodes_and_a_reset_step():
    stats = RolloutStats(2)
    f, t = False, True
    # env 0 terminates with success at step 3, its reward model detected success from step 2;
    # env 1 succeeds at step 2 only, is timed out at step 3, its reward model never fires.
    stats.add([0.1, 0.0], [f, f], [f, f], fields([0, 0], [0, 0], [0.2, 0.1], env_reward=[-1, -2]))
    stats.add([0.2, 0.0], [f, f], [f, f], fields([0, 1], [1, 0], [0.5, 0.9], env_reward=[-1, -2]))
    stats.add([0.3, 0.0], [t, f], [f, t], fields([1, 0], [1, 0], [1.0, 0.4], env_reward=[-1, -2]))
    # NEXT_STEP reset step of both envs: no episode's step, ignored everywhere.
    stats.add([9.0, 9.0], [t, t], [f, f], fields([1, 1], [1, 1], [0.0, 0.0]), valid=[f, f])
    out = stats.summary()
    assert out["charts/episodes"] == 2
    assert out["charts/episodic_return"] == pytest.approx((0.6 + 0.0) / 2)
    assert out["charts/episodic_env_return"] == pytest.approx((-3 - 6) / 2)
    assert out["charts/episodic_length"] == 3
    assert out["charts/success_rate"] == 0.5  # success at the last step: env 0 only
    assert out["charts/success_once"] == 1.0  # both succeeded at some step
    assert out["reward/success_precision"] == 1.0  # detected in episode 0, which succeeded
    assert out["reward/success_recall"] == 0.5  # missed episode 1
    assert out["reward/mean"] == pytest.approx(0.6 / 6)
    rewards, progress = [0.1, 0.0, 0.2, 0.0, 0.3, 0.0], [0.2, 0.1, 0.5, 0.9, 1.0, 0.4]
    assert out["reward/progress_pearson"] == pytest.approx(np.corrcoef(rewards, progress)[0, 1])
    # progress before the first step is unknown: deltas of steps 2 and 3 only
    assert out["reward/progress_delta_pearson"] == pytest.approx(np.corrcoef([0.2, 0, 0.3, 0], [0.3, 0.8, 0.5, -0.5])[0, 1])

    # a new window: episodes and steps cleared, the episode in progress carries on
    stats.clear()
    stats.add([0.5, 0.1], [f, f], [f, f], fields([0, 0], [0, 0], [0.1, 0.3]))
    stats.add([0.5, 0.7], [t, f], [f, f], fields([1, 0], [0, 0], [0.2, 0.3]))
    out = stats.summary()
    assert out["charts/episodes"] == 1 and out["charts/episodic_return"] == 1.0 and out["charts/episodic_length"] == 2
    assert out["reward/success_precision"] != out["reward/success_precision"]  # nothing detected: NaN
    assert out["reward/success_recall"] == 0.0
    # the reset step's progress (0.0) is the baseline of the next episode's first step
    assert out["reward/progress_delta_pearson"] == pytest.approx(np.corrcoef([0.5, 0.1, 0.5, 0.7], [0.1, 0.3, 0.1, 0.0])[0, 1])


def test_no_reward_model_success_gives_nan_fidelity():
    stats = RolloutStats(1)
    stats.add([1.0], [True], [False],
              {"success": np.array([1.0]), "detected": np.array([np.nan]), "progress": np.array([np.nan]),
               "env_reward": np.array([np.nan])})
    out = stats.summary()
    assert out["charts/success_rate"] == 1.0
    assert all(math.isnan(out[k]) for k in ("reward/success_precision", "reward/success_recall",
                                            "reward/progress_pearson"))


def test_fields_from_vector_info_respects_masks():
    info = {"success": np.array([True, False, True]), "_success": np.array([True, True, False]),
            "oracle_progress": np.array([0.5, 0.2, 0.0]), "_oracle_progress": np.array([True, True, True]),
            "env_reward": np.array([-1.0, -2.0, -3.0]),
            "reward_model": {"success": np.array([True, False, False]), "_success": np.array([True, True, False])},
            "_reward_model": np.array([True, False, True])}
    out = fields_from_vector_info(info, 3)
    np.testing.assert_array_equal(out["success"], [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(out["detected"], [1.0, np.nan, np.nan])
    np.testing.assert_array_equal(out["progress"], [0.5, 0.2, 0.0])
    np.testing.assert_array_equal(out["env_reward"], [-1.0, -2.0, -3.0])
    empty = fields_from_vector_info({}, 2)
    assert all(np.isnan(v).all() for v in empty.values())


def test_fields_from_infos():
    out = fields_from_infos([{"success": True, "oracle_progress": 1.0, "env_reward": -0.5,
                              "reward_model": {"success": False}}, {}])
    np.testing.assert_array_equal(out["success"], [1.0, np.nan])
    np.testing.assert_array_equal(out["detected"], [0.0, np.nan])
    np.testing.assert_array_equal(out["progress"], [1.0, np.nan])
    np.testing.assert_array_equal(out["env_reward"], [-0.5, np.nan])


def test_fields_from_vector_info_same_step_autoreset_reads_final_info():
    # SAME_STEP: sub-env 1 ended; its top-level entries are the next episode's reset info.
    info = {"success": np.array([False, False]), "oracle_progress": np.array([0.3, 0.0]),
            "final_info": {"success": np.array([False, True]), "_success": np.array([False, True]),
                           "oracle_progress": np.array([0.0, 1.0]), "_oracle_progress": np.array([False, True])},
            "_final_info": np.array([False, True])}
    out = fields_from_vector_info(info, 2)
    np.testing.assert_array_equal(out["success"], [0.0, 1.0])
    np.testing.assert_array_equal(out["progress"], [0.3, 1.0])
