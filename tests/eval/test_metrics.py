"""Every metric against numbers worked out by hand in the comments."""

import math

import numpy as np
import pytest
from scipy import stats

from vlmreward_gym import metrics as M


def test_mae_and_subsets():
    assert M.mae([1, 2, 5], [2, 2, 3]) == pytest.approx(1.0)  # (1 + 0 + 2) / 3
    s = M.mae_by_subset([1, 2, 5, 4], [2, 2, 3, 4], ["a", "a", "a", "b"])
    assert s.subsets == {"a": pytest.approx(1.0), "b": 0.0} and s.counts == {"a": 3, "b": 1}
    assert s.overall == pytest.approx(0.75)  # 3 / 4
    assert s.group_wise == pytest.approx(0.5)  # (1 + 0) / 2
    assert math.isnan(M.mae([], []))
    with pytest.raises(ValueError, match="true has 3"):
        M.mae([1, 2], [1, 2, 3])


def test_trajectory_correlation_by_hand():
    # pred deviations (-1, 0, 1), target (-4/3, -1/3, 5/3): r = 3 / (sqrt(2) * sqrt(42) / 3) = 9 / sqrt(84)
    assert M.trajectory_correlation([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))
    assert M.trajectory_correlation([1, 2, 3], [1, 2, 4], "spearman") == pytest.approx(1.0)  # same ranks
    assert M.trajectory_correlation([0.3, 0.3, 0.3], [0, 0.5, 1]) == 0.0  # constant prediction: no information
    assert math.isnan(M.trajectory_correlation([0, 0.5, 1], [1, 1, 1]))  # constant target: undefined
    with pytest.raises(ValueError, match="method"):
        M.trajectory_correlation([0, 1], [0, 1], "kendall")


def test_voc_averages_usable_trajectories():
    value, used = M.voc([[1, 2, 3], [0, 1], [5, 6, 7]], [[1, 2, 4], [0, 1], [1, 1, 1]])
    assert used == 2 and value == pytest.approx((9 / math.sqrt(84) + 1.0) / 2)  # the third is skipped
    assert M.voc([[0, 0.5, 1], [1, 0.5, 0]]) == (pytest.approx(0.0), 2)  # against time: +1 and -1
    value, used = M.voc([[0, 0.4, 0.2, 0.9]], method="spearman")  # ranks (1, 3, 2, 4) vs (1, 2, 3, 4)
    assert value == pytest.approx(1 - 6 * 2 / (4 * 15))  # 1 - 6 sum d^2 / (n (n^2 - 1)) = 0.8
    assert M.voc([[1, 1]], [[0, 0]]) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_kendall_tau_a_differs_from_tau_b_on_ties():
    pred, true = [1, 2, 2, 3], [1, 2, 3, 4]
    # 6 pairs: 5 concordant, 1 tied in pred (counts 0): tau-a = 5 / 6
    assert M.kendall_tau_a(pred, true) == pytest.approx(5 / 6)
    # tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)) = 5 / sqrt(5 * 6)
    assert M.kendall_tau(pred, true, "b") == pytest.approx(5 / math.sqrt(30))
    assert stats.kendalltau(pred, true).statistic == pytest.approx(5 / math.sqrt(30))
    assert M.kendall_tau_a(pred, true) < stats.kendalltau(pred, true).statistic
    # without ties the two agree
    assert M.kendall_tau_a([3, 1, 2], [3, 2, 1]) == pytest.approx(1 / 3)  # (2 - 1) / 3
    assert M.kendall_tau([3, 1, 2], [3, 2, 1], "b") == pytest.approx(1 / 3)
    assert M.kendall_tau_a([3, 2, 1], [1, 2, 3]) == -1.0
    assert M.kendall_tau_a([0, 0, 0], [1, 2, 3]) == 0.0  # a constant prediction is at chance
    assert math.isnan(M.kendall_tau_a([1], [1]))


def test_grouped_kendall_tau():
    pred, true = [1, 2, 3, 3, 2, 1, 7], [1, 2, 3, 1, 2, 3, 0]
    value, used = M.grouped_kendall_tau(pred, true, ["a", "a", "a", "b", "b", "b", "c"])
    assert used == 2 and value == pytest.approx(0.0)  # +1 and -1; the singleton group is skipped


def test_pairwise_accuracy_same_task():
    # strict pairs: (0,1) (0,2) (0,3) (1,3) right, (1,2) tied in pred -> 0.5; (2,3) tied in truth: excluded
    r = M.pairwise_accuracy([0.9, 0.5, 0.5, 0.1], [3, 2, 1, 1])
    assert r.pairs == 5 and r.accuracy == pytest.approx(4.5 / 5)
    assert M.pairwise_accuracy([0.9, 0.5, 0.5, 0.1], [3, 2, 1, 1], tie_credit=0).accuracy == pytest.approx(4 / 5)
    r = M.pairwise_accuracy([1, 2, 1, 2], [1, 2, 2, 1], groups=[0, 0, 1, 1])  # one right, one wrong
    assert r == M.PairCount(0.5, 2)


def test_preference_ordering_accuracy_paper_definition():
    # task x: returns (3,1,2) vs human (3,2,1): pairs (0,1) ok, (0,2) ok, (1,2) reversed -> D = 1/3, |P| = 3
    # task y: returns tie vs a strict human preference -> a disagreement, D = 1, |P| = 1
    # A = 1 - (3 * 1/3 + 1 * 1) / 4 = 0.5
    r = M.preference_ordering_accuracy([3, 1, 2, 1, 1], [3, 2, 1, 1, 2], ["x", "x", "x", "y", "y"])
    assert r.accuracy == pytest.approx(0.5) and r.pairs == 4
    assert r.disagreement == {"x": pytest.approx(1 / 3), "y": 1.0} and r.task_pairs == {"x": 3, "y": 1}


def test_confusion_and_different_task():
    scores = [[0.9, 0.1], [0.7, 0.9], [0.2, 0.8]]
    tasks = [0, 0, 1]
    np.testing.assert_allclose(M.confusion_matrix(scores, tasks), [[0.8, 0.5], [0.2, 0.8]])
    # instruction 0: own videos (0.9, 0.7) beat 0.2 -> 2/2; instruction 1: 0.8 beats 0.1, loses to 0.9 -> 1/2
    assert M.different_task_accuracy(scores, tasks) == M.PairCount(0.75, 4)
    assert M.different_task_accuracy([[0.5, 0.5], [0.5, 0.5]], [0, 1]) == M.PairCount(0.5, 2)  # ties
    # only video 0 and 2 may be the matching side: instruction 0 -> 1/1, instruction 1 -> 1/2
    assert M.different_task_accuracy(scores, tasks, eligible=[True, False, True]) == M.PairCount(2 / 3, 3)
    # argmax: video 0 right, video 1 wrong, video 2 right
    assert M.instruction_accuracy(scores, tasks) == pytest.approx(2 / 3)
    assert M.instruction_accuracy([[0.5, 0.5], [0.2, 0.8]], [0, 1]) == pytest.approx(0.75)  # tie shares credit
    assert np.isnan(M.confusion_matrix([[1.0, 0.0, 0.0]], [0], 3)[1:]).all()


def test_success_detection():
    # positives {0.9, 0.4}, negatives {0.6, 0.2}: 3 of 4 (pos, neg) pairs ordered right -> AUC 0.75
    r = M.success_detection([0.9, 0.6, 0.4, 0.2], [1, 0, 1, 0], threshold=0.5)
    assert r.roc_auc == pytest.approx(0.75)
    assert (r.precision, r.recall, r.accuracy) == (0.5, 0.5, 0.5)  # TP 1, FP 1, FN 1, TN 1
    assert (r.positives, r.negatives) == (2, 2)
    flat = M.success_detection([0, 0, 0], [1, 0, 1])
    assert flat.roc_auc == 0.5 and flat.precision == 0.0 and flat.recall == 0.0
    assert math.isnan(M.success_detection([0.2, 0.9], [1, 1]).roc_auc)
