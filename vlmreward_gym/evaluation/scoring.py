"""Score evaluation episodes with a reward model and compute the metrics of :mod:`vlmreward_gym.metrics`.

Each episode is sent as one clip (its kept frames, plus the oracle progress and success at the
same time points when the data has them), in batches. From the answers:

- predicted per-frame progress (a model that scores only the last frame is asked once per prefix);
- predicted 1-5 label: the model's episode score, else the rubric of its final progress and
  success (:func:`~vlmreward_gym.models.control.rubric_score`);
- success probability of the last frame;
- the trajectory score used by every ranking metric (``rank_by``): ``"final"`` progress (default
  for progress models), ``"mean"`` or ``"sum"`` of per-frame progress (``"sum"`` is the bad-data
  paper's summed reward), or the episode ``"score"`` (default for score-only models).

For the video-instruction matrix every video is also scored against every other task's
instruction; the different-task accuracy and the instruction (argmax) accuracy use the successful
videos as the matching side (all videos where success is unknown). Ground truth for a mismatched instruction is "no progress, no success" (the
convention of RoboReward's counterfactual relabelling), so the oracle control models receive zero
progress and False success for such clips.

Exploit probes (:mod:`vlmreward_gym.evaluation.probes`) score altered copies of the successful
episodes (static, frozen halfway, reversed, shuffled, another task's instruction) and report how
often each is paid at least as much as the real video. Calibration: the expected calibration error
(10 equal-width bins) of the last frame's success probability against the episode's success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vlmreward_gym import metrics as M
from vlmreward_gym.evaluation import probes as P
from vlmreward_gym.evaluation.data import EvalEpisode
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.models.control import rubric_score
from vlmreward_gym.types import Capability, RewardInputError, RewardQuery

RANK_BY = ("final", "mean", "sum", "score")
CALIBRATION_BINS = 10


@dataclass
class Prediction:
    """A model's answer for one episode under one instruction (``nan`` / None where it has no answer)."""

    progress: np.ndarray | None
    success: float
    score: float

    def trajectory_score(self, rank_by: str) -> float:
        if rank_by == "score":
            return self.score
        if self.progress is None:
            return float("nan")
        return float({"final": self.progress[-1], "mean": np.mean(self.progress), "sum": np.sum(self.progress)}[rank_by])


def _wanted(model: RewardModel) -> Capability:
    return model.info.capabilities & (Capability.PROGRESS | Capability.SUCCESS | Capability.EPISODE_SCORE)


def _query_args(episodes: Sequence[EvalEpisode], matched: Sequence[bool], model: RewardModel) -> dict[str, Any]:
    """Frames / oracle / timesteps of a batch; mismatched clips get zero progress and no success."""
    args: dict[str, Any] = {"timesteps": [e.steps for e in episodes]}
    if model.info.needs_frames:
        missing = [e.id for e in episodes if e.frames is None]
        if missing:
            raise RewardInputError(f"reward model {model.info.name!r} reads frames, but episode {missing[0]} "
                                   f"has none stored; evaluate it on a dataset with frames")
        args["frames"] = [e.frames for e in episodes]
    if all(e.progress is not None and e.success_flags is not None for e in episodes):
        args["oracle_progress"] = [e.progress if m else np.zeros(e.length) for e, m in zip(episodes, matched)]
        args["oracle_success"] = [e.success_flags if m else np.zeros(e.length, bool) for e, m in zip(episodes, matched)]
    elif model.info.needs_oracle:
        raise RewardInputError(f"reward model {model.info.name!r} needs privileged oracle progress, which this "
                               f"dataset does not have (only the demo format carries it)")
    return args


def predict(model: RewardModel, episodes: Sequence[EvalEpisode], instructions: Sequence[str],
            batch_size: int = 8, per_frame: bool = True) -> list[Prediction]:
    """Score ``episodes[i]`` against ``instructions[i]`` in batches of ``batch_size`` clips.

    ``per_frame=False`` keeps a last-frame-only model's single answer (no prefix queries)."""
    want = _wanted(model)
    if not want & (Capability.PROGRESS | Capability.EPISODE_SCORE):
        raise ValueError(f"reward model {model.info.name!r} offers neither progress nor an episode score")
    out: list[Prediction] = []
    for start in range(0, len(episodes), batch_size):
        eps, texts = episodes[start:start + batch_size], instructions[start:start + batch_size]
        matched = [t == e.instruction for e, t in zip(eps, texts)]
        answer = model(RewardQuery(instructions=tuple(texts), want=want, **_query_args(eps, matched, model)))
        for i, episode in enumerate(eps):
            progress = None if answer.progress is None else np.asarray(answer.progress[i], np.float64)
            if per_frame and progress is not None and len(progress) == 1 and episode.length > 1:
                progress = _prefix_progress(model, episode, texts[i], matched[i], batch_size)
            out.append(Prediction(
                progress=progress,
                success=float(answer.success[i]) if answer.success is not None else float("nan"),
                score=float(answer.score[i]) if answer.score is not None else float("nan")))
    return out


def prefix_answers(model: RewardModel, episode: EvalEpisode, text: str, matched: bool, batch_size: int,
                   want: Capability = Capability.PROGRESS) -> tuple[np.ndarray, np.ndarray]:
    """The model asked about each prefix ``[0, t]`` of ``episode`` under ``text``, ``batch_size`` prefixes a call:
    its last-frame progress and success probability, ``(F,)`` each (``nan`` success where ``want`` or the model
    gives none)."""
    progress, success = [], []
    for start in range(0, episode.length, batch_size):
        ends = range(start + 1, min(start + batch_size, episode.length) + 1)
        prefixes = [episode.prefix(n) for n in ends]
        answer = model(RewardQuery(instructions=(text,) * len(prefixes), want=want,
                                   **_query_args(prefixes, [matched] * len(prefixes), model)))
        progress.extend(float(p[-1]) for p in answer.progress)
        success.extend(np.asarray(answer.success, float) if answer.success is not None else [np.nan] * len(prefixes))
    return np.array(progress), np.array(success)


def _prefix_progress(model: RewardModel, episode: EvalEpisode, text: str, matched: bool, batch_size: int) -> np.ndarray:
    """Per-frame progress of a last-frame-only model: one query per prefix ``[0, t]``."""
    return prefix_answers(model, episode, text, matched, batch_size)[0]


def predicted_label(p: Prediction) -> float:
    """The 1-5 label a prediction implies (see module docstring)."""
    if np.isfinite(p.score):
        return p.score
    if p.progress is None:
        return float("nan")
    return float(rubric_score(p.progress[-1], np.isfinite(p.success) and p.success >= 0.5))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def evaluate(model: RewardModel, episodes: Sequence[EvalEpisode], rank_by: str | None = None, batch_size: int = 8,
             success_threshold: float = 0.5, confusion: bool = True, probes: bool = True) -> dict[str, Any]:
    """All metrics of ``model`` on ``episodes`` as a JSON-ready dict (``None`` = not defined here).

    Keys: ``metrics`` (the headline numbers), ``details`` (per-subset MAE, counts, per-task A,
    calibration bins), ``confusion`` (task names, matrix), ``probes`` (per probe: paid rate, mean
    ratio, episodes; see :func:`run_probes`), ``episodes`` (per-episode predictions and truth, with
    the progress curves for plotting and the probes' payments).
    """
    caps = model.info.capabilities
    rank_by = rank_by or ("final" if Capability.PROGRESS in caps else "score")
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {RANK_BY}, got {rank_by!r}")
    episodes = list(episodes)
    preds = predict(model, episodes, [e.instruction for e in episodes], batch_size)
    traj = np.array([p.trajectory_score(rank_by) for p in preds])
    out: dict[str, Any] = {"metrics": {}, "details": {"rank_by": rank_by}}
    m, d = out["metrics"], out["details"]

    # MAE on the 1-5 scale
    labelled = [i for i, e in enumerate(episodes) if e.label is not None and np.isfinite(predicted_label(preds[i]))]
    if labelled:
        s = M.mae_by_subset([predicted_label(preds[i]) for i in labelled], [episodes[i].label for i in labelled],
                            [episodes[i].subset for i in labelled])
        m["mae"], m["mae_group_wise"] = s.overall, s.group_wise
        d["mae_subsets"], d["mae_counts"] = s.subsets, s.counts

    # VOC: against ground-truth progress where the data has it, else against time on successful episodes
    with_progress = [i for i, p in enumerate(preds) if p.progress is not None]
    gt = [i for i in with_progress if episodes[i].progress is not None]
    for method in ("pearson", "spearman"):
        if gt:
            value, n = M.voc([preds[i].progress for i in gt], [episodes[i].progress for i in gt], method)
        else:
            value, n = M.voc([preds[i].progress for i in with_progress if episodes[i].success])
        m[f"voc_{method}"], d[f"voc_{method}_trajectories"] = value, n
    d["voc_target"] = "ground-truth progress" if gt else "time (successful episodes)"
    value, n = M.voc([preds[i].progress for i in with_progress if episodes[i].success])
    m["voc_time_pearson"], d["voc_time_trajectories"] = value, n
    experts = [i for i in gt if episodes[i].kind == "expert"]
    if experts:  # Robometer's VOC: on expert episodes, against their ground-truth progress
        value, n = M.voc([preds[i].progress for i in experts], [episodes[i].progress for i in experts])
        m["voc_expert_pearson"], d["voc_expert_trajectories"] = value, n

    # rankings by trajectory score vs true quality
    ranked = [i for i, e in enumerate(episodes) if e.quality is not None and np.isfinite(traj[i])]
    if ranked:
        score, quality = traj[ranked], [episodes[i].quality for i in ranked]
        groups, tasks = [episodes[i].group for i in ranked], [episodes[i].task for i in ranked]
        m["kendall_tau_a"], d["kendall_groups"] = M.grouped_kendall_tau(score, quality, groups, "a")
        m["kendall_tau_b"], _ = M.grouped_kendall_tau(score, quality, groups, "b")
        same = M.pairwise_accuracy(score, quality, tasks)
        m["pairwise_same_task"], d["pairwise_same_task_pairs"] = same.accuracy, same.pairs
        a = M.preference_ordering_accuracy(score, quality, groups)
        m["ordering_accuracy_A"], d["ordering_pairs"] = a.accuracy, a.pairs

    # success detection
    known = [i for i, e in enumerate(episodes) if e.success is not None and np.isfinite(preds[i].success)]
    if known:
        s = M.success_detection([preds[i].success for i in known], [episodes[i].success for i in known],
                                success_threshold)
        m["success_roc_auc"], m["success_precision"], m["success_recall"] = s.roc_auc, s.precision, s.recall
        d["success"] = {"threshold": s.threshold, "accuracy": s.accuracy, "positives": s.positives,
                        "negatives": s.negatives}
        c = M.calibration(np.clip([preds[i].success for i in known], 0.0, 1.0), [episodes[i].success for i in known],
                          CALIBRATION_BINS)
        m["success_ece"] = c.ece
        # false successes by kind of failed episode (near misses, drops, ...: what reward models over-reward)
        predicted = {i: preds[i].success >= success_threshold for i in known}
        by_kind: dict[str, list[bool]] = {}
        for i in known:
            if not episodes[i].success:
                by_kind.setdefault(episodes[i].kind or "unlabelled", []).append(bool(predicted[i]))
        d["false_success_by_kind"] = {k: {"rate": float(np.mean(v)), "episodes": len(v)}
                                      for k, v in sorted(by_kind.items())}
        if "near_miss" in by_kind:
            m["false_success_near_miss"] = float(np.mean(by_kind["near_miss"]))
        d["calibration"] = {"target": "episode success vs the last frame's probability", "bins": CALIBRATION_BINS,
                            "confidence": c.confidence, "frequency": c.frequency, "counts": c.counts}

    # every video against every task's instruction
    task_names = sorted({e.task for e in episodes})
    cross: dict[tuple[int, str], Prediction] = {}  # (video, instruction's task) -> answer
    if confusion and len(task_names) > 1:
        instruction_of = {e.task: e.instruction for e in episodes}
        video_task = [task_names.index(e.task) for e in episodes]
        scores = np.zeros((len(episodes), len(task_names)))
        for k, name in enumerate(task_names):
            others = [i for i, e in enumerate(episodes) if e.task != name]
            answers = predict(model, [episodes[i] for i in others], [instruction_of[name]] * len(others), batch_size)
            cross.update({(i, name): p for i, p in zip(others, answers)})
            scores[others, k] = [p.trajectory_score(rank_by) for p in answers]
            own = [i for i, e in enumerate(episodes) if e.task == name]
            scores[own, k] = traj[own]
        # the matching side of a different-task pair is a successful episode where success is known
        eligible = np.array([e.success is not False for e in episodes])
        diff = M.different_task_accuracy(scores, video_task, eligible=eligible)
        m["pairwise_different_task"], d["different_task_pairs"] = diff.accuracy, diff.pairs
        d["different_task_by_instruction"] = {  # the same pairs, split by the instruction they were scored under
            name: M.different_task_accuracy(scores[:, [k]], np.where(np.asarray(video_task) == k, 0, -1),
                                            eligible=eligible).accuracy for k, name in enumerate(task_names)}
        m["instruction_accuracy"] = M.instruction_accuracy(scores[eligible], np.asarray(video_task)[eligible])
        out["confusion"] = {"tasks": task_names, "matrix": M.confusion_matrix(scores, video_task).tolist()}

    probe_payments: dict[int, dict[str, float]] = {}
    if probes:
        out["probes"], probe_payments = run_probes(model, episodes, preds, batch_size, cross)

    out["metrics"] = {k: _nan_to_none(float(v)) for k, v in m.items()}
    out["episodes"] = [{
        "id": e.id, "task": e.task, "kind": e.kind, "category": e.category, "subset": e.subset,
        "label": e.label, "quality": e.quality, "success": e.success,
        "pred_label": _nan_to_none(predicted_label(p)), "pred_success": _nan_to_none(p.success),
        "trajectory_score": _nan_to_none(float(t)), "steps": e.steps.tolist(),
        "progress": None if e.progress is None else e.progress.round(4).tolist(),
        "pred_progress": None if p.progress is None else p.progress.round(4).tolist(),
        "probe_payments": {k: _nan_to_none(v) for k, v in probe_payments.get(n, {}).items()} or None,
    } for n, (e, p, t) in enumerate(zip(episodes, preds, traj))]
    return out


def payment_by(model: RewardModel) -> str:
    """What a clip is paid (the probes' payment): ``"final"`` progress, else the episode ``"score"``."""
    return "final" if Capability.PROGRESS in model.info.capabilities else "score"


def run_probes(model: RewardModel, episodes: Sequence[EvalEpisode], preds: Sequence[Prediction], batch_size: int = 8,
               cross: dict[tuple[int, str], Prediction] | None = None) -> tuple[dict[str, Any], dict[int, dict[str, float]]]:
    """Score the exploit probes (:mod:`~vlmreward_gym.evaluation.probes`) of the probed episodes.

    ``preds`` are the real episodes' predictions; ``cross`` the answers of the video x instruction
    matrix, reused for the other-instruction probe (queried here when missing). Returns the
    JSON-ready summary (payment, tolerance, probed episodes, and per probe the paid rate, mean ratio
    and counts) and each probed episode's payments by probe.
    """
    pay = payment_by(model)
    chosen = [i for i, e in enumerate(episodes) if P.probed(e)]
    real = [preds[i].trajectory_score(pay) for i in chosen]
    paid: dict[str, list[float]] = {}
    for n, kind in enumerate(P.FRAME_PROBES):
        altered = [P.probe_episode(episodes[i], kind, np.random.default_rng([n, i])) for i in chosen]
        answers = predict(model, altered, [e.instruction for e in altered], batch_size, per_frame=False)
        paid[kind] = [a.trajectory_score(pay) for a in answers]
    task_names = sorted({e.task for e in episodes})
    if len(task_names) > 1:
        instruction_of = {e.task: e.instruction for e in episodes}
        others = [P.other_task(task_names, episodes[i].task) for i in chosen]
        missing = [(i, t) for i, t in zip(chosen, others) if (i, t) not in (cross or {})]
        answers = predict(model, [episodes[i] for i, _ in missing], [instruction_of[t] for _, t in missing],
                          batch_size, per_frame=False)
        found = {**(cross or {}), **dict(zip(missing, answers))}
        paid["other_instruction"] = [found[(i, t)].trajectory_score(pay) for i, t in zip(chosen, others)]
    summary = {"payment": {"final": "final progress", "score": "episode score"}[pay],
               "tolerance": P.PAID_TOLERANCE, "probed": "successful episodes with at least 2 frames",
               "episodes": len(chosen), "oracle_labels": model.info.needs_oracle,
               "results": {kind: P.summarize(real, values) for kind, values in paid.items()}}
    per_episode = {i: {"real": real[j], **{kind: values[j] for kind, values in paid.items()}}
                   for j, i in enumerate(chosen)}
    return summary, per_episode
