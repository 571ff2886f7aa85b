"""Reward-quality metrics of the papers, on plain arrays (no model, no dataset code).

Conventions shared by every function here:

- "higher is better" for every score a model gives (progress, return, success probability);
- a *group* is a set of trajectories that may be compared with each other (the same task, or the
  same task from the same start state); ``groups=None`` puts everything in one group;
- a tie in the model's prediction earns half credit in pairwise accuracies (a coin flip), except
  in :func:`preference_ordering_accuracy`, which follows its paper and counts it as a mistake;
- a value that cannot be defined (ROC-AUC with one class, a correlation with no usable
  trajectory) is ``nan``, never a made-up number.

Sources: MAE on the 1-5 rubric (RoboReward, Sec. 3); VOC Pearson, Kendall tau-a and pairwise
preference accuracy (Robometer, RBM-EVAL); ROC-AUC and per-trajectory Pearson (Large Reward
Models, open-loop metrics); preference-ordering accuracy A ("Good embodied reward models need
bad behavior data", Sec. 3.1); expected calibration error over equal-width bins (Guo et al., "On
Calibration of Modern Neural Networks", 2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm


def _vector(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    return values


def _pair(pred, true, names=("pred", "true")) -> tuple[np.ndarray, np.ndarray]:
    pred, true = _vector(pred, names[0]), _vector(true, names[1])
    if pred.shape != true.shape:
        raise ValueError(f"{names[0]} has {pred.size} values but {names[1]} has {true.size}")
    return pred, true


def _group_indices(n: int, groups: Sequence[Hashable] | None) -> list[np.ndarray]:
    """Index arrays of each group, in first-seen order."""
    if groups is None:
        return [np.arange(n)]
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} values")
    order: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        order.setdefault(g, []).append(i)
    return [np.array(v) for v in order.values()]


# --------------------------------------------------------------------------------------- MAE

def mae(pred, true) -> float:
    """Mean absolute error ``mean |pred - true|`` (RoboReward: 1-5 end-state labels)."""
    pred, true = _pair(pred, true)
    return float(skm.mean_absolute_error(true, pred)) if pred.size else float("nan")


@dataclass(frozen=True)
class SubsetMAE:
    """MAE over all episodes (``overall``), the mean of the subsets' MAEs (``group_wise``, the
    RoboRewardBench "Overall" column) and each subset's MAE and size."""

    overall: float
    group_wise: float
    subsets: dict[str, float]
    counts: dict[str, int]


def mae_by_subset(pred, true, subsets: Sequence[str]) -> SubsetMAE:
    """MAE overall, per subset, and averaged over subsets."""
    pred, true = _pair(pred, true)
    per, counts = {}, {}
    for idx in _group_indices(pred.size, list(subsets)):
        name = str(subsets[idx[0]])
        per[name], counts[name] = mae(pred[idx], true[idx]), int(idx.size)
    return SubsetMAE(mae(pred, true), float(np.mean(list(per.values()))) if per else float("nan"), per, counts)


# --------------------------------------------------------------------------------------- VOC

def trajectory_correlation(pred, target, method: str = "pearson") -> float:
    """Correlation of one trajectory's predicted per-frame values with a target curve.

    ``target`` is ground-truth progress or time (frame index). A constant target makes the
    correlation undefined (``nan``); a constant prediction against a varying target carries no
    information and scores 0.
    """
    pred, target = _pair(pred, target, ("pred", "target"))
    if pred.size < 2 or np.ptp(target) == 0:
        return float("nan")
    if np.ptp(pred) == 0:
        return 0.0
    if method == "pearson":
        return float(stats.pearsonr(pred, target).statistic)
    if method == "spearman":
        return float(stats.spearmanr(pred, target).statistic)
    raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")


def voc(preds: Sequence, targets: Sequence | None = None, method: str = "pearson") -> tuple[float, int]:
    """Value-order correlation: the per-trajectory correlation of predicted progress with a target,
    averaged over the trajectories where it is defined.

    Args:
        preds: per-trajectory arrays of predicted per-frame progress, shapes ``(T_i,)``.
        targets: matching ground-truth progress arrays, or None to correlate with time (frame order).
        method: ``"pearson"`` (Robometer's VOC r) or ``"spearman"`` (GVL's rank VOC).

    Returns:
        ``(mean correlation, number of trajectories used)``; ``(nan, 0)`` if none is usable.
    """
    if targets is None:
        targets = [np.arange(len(p), dtype=np.float64) for p in preds]
    if len(targets) != len(preds):
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
    values = [trajectory_correlation(p, t, method) for p, t in zip(preds, targets)]
    values = [v for v in values if np.isfinite(v)]
    return (float(np.mean(values)), len(values)) if values else (float("nan"), 0)


# ---------------------------------------------------------------------------- Kendall tau-a

def _signs(values: np.ndarray) -> np.ndarray:
    """``(n, n)`` matrix of ``sign(values[i] - values[j])``."""
    return np.sign(values[:, None] - values[None, :])


def kendall_tau_a(pred, true) -> float:
    """Kendall's tau-a: ``(concordant - discordant) / (n (n - 1) / 2)``.

    Unlike tau-b (:func:`scipy.stats.kendalltau`'s default), a pair tied in either ranking counts
    in the denominator but adds nothing, so ties lower tau-a below tau-b. ``nan`` for ``n < 2``.
    """
    pred, true = _pair(pred, true)
    n = pred.size
    if n < 2:
        return float("nan")
    upper = np.triu_indices(n, k=1)
    return float(np.sum(_signs(pred)[upper] * _signs(true)[upper]) / (n * (n - 1) / 2))


def kendall_tau(pred, true, variant: str = "a") -> float:
    """Kendall's tau of two rankings: ``variant="a"`` (:func:`kendall_tau_a`) or ``"b"``/``"c"`` (scipy)."""
    if variant == "a":
        return kendall_tau_a(pred, true)
    pred, true = _pair(pred, true)
    if pred.size < 2:
        return float("nan")
    value = stats.kendalltau(pred, true, variant=variant).statistic
    return float(value) if np.isfinite(value) else float("nan")


def grouped_kendall_tau(pred, true, groups: Sequence[Hashable] | None = None, variant: str = "a") -> tuple[float, int]:
    """Kendall tau computed within each group of at least two trajectories, averaged over groups.

    Returns ``(mean tau, number of groups used)``; ``(nan, 0)`` if no group is usable.
    """
    pred, true = _pair(pred, true)
    values = [kendall_tau(pred[idx], true[idx], variant) for idx in _group_indices(pred.size, groups) if idx.size >= 2]
    values = [v for v in values if np.isfinite(v)]
    return (float(np.mean(values)), len(values)) if values else (float("nan"), 0)


# ---------------------------------------------------------------------- pairwise preferences

@dataclass(frozen=True)
class PairCount:
    """An accuracy over ``pairs`` strictly ordered pairs (``nan`` when there are none)."""

    accuracy: float
    pairs: int


def _pair_credit(pred: np.ndarray, true: np.ndarray, tie_credit: float) -> tuple[float, int]:
    """Credit summed over the pairs of one group that ``true`` orders strictly, and their count."""
    upper = np.triu_indices(pred.size, k=1)
    s_true, s_pred = _signs(true)[upper], _signs(pred)[upper]
    strict = s_true != 0
    credit = np.where(s_pred[strict] == 0, tie_credit, (s_pred[strict] == s_true[strict]).astype(np.float64))
    return float(credit.sum()), int(strict.sum())


def pairwise_accuracy(pred, true, groups: Sequence[Hashable] | None = None, tie_credit: float = 0.5) -> PairCount:
    """Same-task, different-quality preference accuracy: over every pair of trajectories in the
    same group whose true qualities differ, the fraction the predicted scores order the same way
    (a predicted tie earns ``tie_credit``)."""
    pred, true = _pair(pred, true)
    credit = pairs = 0
    for idx in _group_indices(pred.size, groups):
        c, p = _pair_credit(pred[idx], true[idx], tie_credit)
        credit, pairs = credit + c, pairs + p
    return PairCount(credit / pairs if pairs else float("nan"), pairs)


@dataclass(frozen=True)
class OrderingAccuracy:
    """Preference-ordering accuracy ``A`` and each task's disagreement ``D_c`` and pair count ``|P_c|``."""

    accuracy: float
    pairs: int
    disagreement: dict[str, float]
    task_pairs: dict[str, int]


def preference_ordering_accuracy(returns, human, tasks: Sequence[Hashable]) -> OrderingAccuracy:
    """``A = 1 - sum_c |P_c| D_c / sum_c |P_c|`` (bad-data paper, Sec. 3.1).

    ``P_c`` are the pairs of task ``c``'s rollouts with a strict human preference (``human`` differs),
    ``D_c`` the fraction of them where ``sign(returns_i - returns_j)`` differs from the human sign;
    a tie in ``returns`` differs from any strict preference, so it counts as a disagreement.
    ``returns`` are the model's summed (or otherwise aggregated) rewards per rollout.
    """
    returns, human = _pair(returns, human, ("returns", "human"))
    disagreement, task_pairs = {}, {}
    for idx in _group_indices(returns.size, tasks):
        credit, pairs = _pair_credit(returns[idx], human[idx], tie_credit=0.0)
        if pairs:
            name = str(tasks[idx[0]])
            disagreement[name], task_pairs[name] = 1.0 - credit / pairs, pairs
    total = sum(task_pairs.values())
    wrong = sum(task_pairs[c] * disagreement[c] for c in task_pairs)
    return OrderingAccuracy(1.0 - wrong / total if total else float("nan"), total, disagreement, task_pairs)


# -------------------------------------------------------- video x instruction score matrix

def confusion_matrix(scores, video_task: Sequence[int], num_tasks: int | None = None) -> np.ndarray:
    """Mean score of the videos of task ``i`` when scored against task ``j``'s instruction.

    Args:
        scores: ``(V, K)``: video ``v`` scored against the instruction of task ``k``.
        video_task: ``(V,)`` the task index each video shows.

    Returns:
        ``(K, K)`` matrix, rows = the task shown, columns = the instruction; ``nan`` rows for tasks
        with no video. A good model has a dominant diagonal.
    """
    scores = np.asarray(scores, np.float64)
    video_task = np.asarray(video_task, int)
    K = scores.shape[1] if num_tasks is None else num_tasks
    if scores.ndim != 2 or scores.shape != (video_task.size, K):
        raise ValueError(f"scores must be (videos, tasks) = ({video_task.size}, {K}), got {scores.shape}")
    out = np.full((K, K), np.nan)
    for k in range(K):
        if np.any(video_task == k):
            out[k] = scores[video_task == k].mean(axis=0)
    return out


def different_task_accuracy(scores, video_task: Sequence[int], tie_credit: float = 0.5,
                            eligible: Sequence[bool] | None = None) -> PairCount:
    """Different-task preference accuracy: for every instruction ``k``, every video ``v`` of task
    ``k`` and every video ``w`` of another task, whether ``scores[v, k] > scores[w, k]`` (the model
    prefers the video that matches the instruction; a tie earns ``tie_credit``).

    ``eligible`` (``(V,)`` bools) limits the matching side ``v`` to some videos, e.g. the
    successful ones: a failed attempt at task ``k`` need not beat a video of another task.
    """
    scores = np.asarray(scores, np.float64)
    video_task = np.asarray(video_task, int)
    eligible = np.ones(video_task.size, bool) if eligible is None else np.asarray(eligible, bool)
    credit, pairs = 0.0, 0
    for k in range(scores.shape[1]):
        match, other = scores[(video_task == k) & eligible, k], scores[video_task != k, k]
        if match.size == 0 or other.size == 0:
            continue
        diff = match[:, None] - other[None, :]
        credit += float(np.sum(diff > 0) + tie_credit * np.sum(diff == 0))
        pairs += diff.size
    return PairCount(credit / pairs if pairs else float("nan"), pairs)


def instruction_accuracy(scores, video_task: Sequence[int]) -> float:
    """Fraction of videos whose highest-scoring instruction is their own (ties share the credit)."""
    scores = np.asarray(scores, np.float64)
    video_task = np.asarray(video_task, int)
    if scores.size == 0:
        return float("nan")
    best = scores == scores.max(axis=1, keepdims=True)
    return float(np.mean(best[np.arange(len(video_task)), video_task] / best.sum(axis=1)))


# ------------------------------------------------------------------------ success detection

@dataclass(frozen=True)
class SuccessDetection:
    """ROC-AUC of the success probability against the true outcome, and the confusion counts,
    precision, recall and accuracy of ``probability >= threshold``."""

    roc_auc: float
    precision: float
    recall: float
    accuracy: float
    threshold: float
    positives: int
    negatives: int


def success_detection(probability, success, threshold: float = 0.5) -> SuccessDetection:
    """Success-detection quality of per-episode success probabilities (``nan`` AUC with one class;
    precision is 0 when nothing is predicted a success, recall 0 when there is no success)."""
    probability, success = _pair(probability, success, ("probability", "success"))
    truth = success > 0.5
    predicted = probability >= threshold
    both = truth.any() and (~truth).any()
    auc = float(skm.roc_auc_score(truth, probability)) if both else float("nan")
    return SuccessDetection(
        roc_auc=auc,
        precision=float(skm.precision_score(truth, predicted, zero_division=0)),
        recall=float(skm.recall_score(truth, predicted, zero_division=0)),
        accuracy=float(skm.accuracy_score(truth, predicted)) if truth.size else float("nan"),
        threshold=float(threshold), positives=int(truth.sum()), negatives=int((~truth).sum()))


# ------------------------------------------------------------------------------- calibration

@dataclass(frozen=True)
class Calibration:
    """Expected calibration error of success probabilities over ``bins`` equal-width bins of [0, 1],
    and per bin (``nan`` where a bin is empty) the mean probability, the observed success rate and
    the count: the points of a reliability diagram."""

    ece: float
    confidence: list[float]
    frequency: list[float]
    counts: list[int]

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, len(self.counts) + 1)


def calibration(probability, success, bins: int = 10) -> Calibration:
    """``ECE = sum_b (n_b / N) |freq_b - conf_b|`` over equal-width bins (a probability of exactly 1
    falls in the last bin); ``nan`` with no sample. Probabilities must lie in [0, 1]."""
    probability, success = _pair(probability, success, ("probability", "success"))
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if np.any((probability < 0) | (probability > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    truth = (success > 0.5).astype(np.float64)
    index = np.minimum((probability * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        confidence = np.bincount(index, probability, bins) / counts
        frequency = np.bincount(index, truth, bins) / counts
    used = counts > 0
    ece = float(np.sum(counts[used] * np.abs(frequency[used] - confidence[used])) / probability.size) \
        if probability.size else float("nan")
    return Calibration(ece, confidence.tolist(), frequency.tolist(), counts.astype(int).tolist())
