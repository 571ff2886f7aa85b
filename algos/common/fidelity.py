"""Reward fidelity during training: how far the learned reward's success calls can be trusted.

A learned reward model *detects* success (``info["reward_model"]["success"]``, sticky within an episode; in
filtered BC, the episodes its judgement keeps). :class:`SuccessCounts` scores those calls, episode by episode,
against the simulator's success (``info["success"]``): precision, recall, and the **false successes paid**:
episodes the model called successful that the simulator did not (a reward, a termination or a kept
demonstration the policy earned without succeeding). Every algorithm logs the counts of each window under the
``reward/`` tags of :data:`COUNT_TAGS` (next to the rates), so :func:`run_fidelity` can sum a whole run's windows
from ``metrics.jsonl`` into exact totals rather than averaging window rates; the Pearson correlations of the
learned reward with oracle progress (:mod:`vlmreward_rl.algos.common.metrics`) are averaged over the windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

COUNT_TAGS = {"episodes": "reward/judged_episodes", "successes": "reward/simulator_successes",
              "detected": "reward/detected_successes", "hits": "reward/true_detections"}
"""the counts of :class:`SuccessCounts` as logged tags (field -> tag)"""
PEARSON_TAGS = ("reward/progress_pearson", "reward/progress_delta_pearson")
"""the correlations of the learned reward with oracle progress (absolute, and its change over the step / chunk)"""


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass(frozen=True)
class SuccessCounts:
    """Episodes judged by a success detector, against the simulator's success (counts of episodes)."""

    episodes: int = 0
    """episodes the model judged"""
    successes: int = 0
    """of those, successful in the simulator"""
    detected: int = 0
    """called successful by the model (filtered BC: kept)"""
    hits: int = 0
    """called successful by the model and successful in the simulator"""

    @classmethod
    def of(cls, detected: Sequence[bool], success: Sequence[bool]) -> SuccessCounts:
        """From per-episode flags (equal length): the model's call and the simulator's success."""
        detected, success = np.asarray(detected, bool), np.asarray(success, bool)
        if detected.shape != success.shape:
            raise ValueError(f"one call per episode: got {detected.shape} calls and {success.shape} successes")
        return cls(int(detected.size), int(success.sum()), int(detected.sum()), int((detected & success).sum()))

    def __add__(self, other: SuccessCounts) -> SuccessCounts:
        return SuccessCounts(self.episodes + other.episodes, self.successes + other.successes,
                             self.detected + other.detected, self.hits + other.hits)

    @property
    def precision(self) -> float:
        """Of the model's success calls, the share the simulator confirms (NaN with no call)."""
        return _ratio(self.hits, self.detected)

    @property
    def recall(self) -> float:
        """Of the simulator's successes, the share the model called (NaN with none)."""
        return _ratio(self.hits, self.successes)

    @property
    def false_successes(self) -> int:
        """Episodes the model called successful that failed in the simulator (paid without success)."""
        return self.detected - self.hits

    @property
    def missed_successes(self) -> int:
        return self.successes - self.hits

    @property
    def false_success_rate(self) -> float:
        """False successes per judged episode."""
        return _ratio(self.false_successes, self.episodes)

    @property
    def detected_rate(self) -> float:
        """The model's success rate: its success calls per judged episode."""
        return _ratio(self.detected, self.episodes)

    @property
    def success_rate(self) -> float:
        """The simulator's success rate over the judged episodes."""
        return _ratio(self.successes, self.episodes)

    def metrics(self) -> dict[str, float]:
        """The counts (:data:`COUNT_TAGS`) and the rates, keyed by their TensorBoard tag; rates NaN where undefined."""
        counts = {tag: float(getattr(self, name)) for name, tag in COUNT_TAGS.items()}
        return {**counts, "reward/success_precision": self.precision, "reward/success_recall": self.recall,
                "reward/detected_rate": self.detected_rate, "reward/false_successes": float(self.false_successes),
                "reward/false_success_rate": self.false_success_rate}

    @classmethod
    def from_metrics(cls, row: Mapping[str, Any]) -> SuccessCounts:
        """The counts one logged window holds (zero where it logged none)."""
        return cls(*(int(row.get(tag, 0)) for tag in COUNT_TAGS.values()))


def run_fidelity(rows: Iterable[Mapping[str, Any]], prefix: str = "fidelity/") -> dict[str, float]:
    """A run's reward fidelity from its logged training windows (``metrics.jsonl`` rows): the success calls of
    every window summed (``<prefix>success_precision``, ``success_recall``, ``false_successes`` (a count),
    ``false_success_rate``, ``detected_rate``, ``simulator_success_rate``, ``judged_episodes``) and the mean over
    windows of each Pearson correlation (``<prefix>progress_pearson``, ``progress_delta_pearson``; NaN where no
    window had one). Evaluation rows (``eval/``) hold none of the ``reward/`` tags and are not counted."""
    rows = list(rows)
    total = sum((SuccessCounts.from_metrics(row) for row in rows), SuccessCounts())
    out = {f"{prefix}judged_episodes": float(total.episodes), f"{prefix}success_precision": total.precision,
           f"{prefix}success_recall": total.recall, f"{prefix}false_successes": float(total.false_successes),
           f"{prefix}false_success_rate": total.false_success_rate, f"{prefix}detected_rate": total.detected_rate,
           f"{prefix}simulator_success_rate": total.success_rate}
    for tag in PEARSON_TAGS:
        values = [row[tag] for row in rows if tag in row and row[tag] is not None and math.isfinite(row[tag])]
        out[prefix + tag.split("/", 1)[1]] = float(np.mean(values)) if values else math.nan
    return out


def fidelity_pearson(form: str, reward_kwargs: Mapping[str, Any]) -> str:
    """Which Pearson correlation measures a reward's fidelity: a potential-based (``relative``) dense or a
    contrastive reward pays progress *changes*, so it is ``progress_delta_pearson`` (with the step's or chunk's
    change in oracle progress); any other reward pays progress itself: ``progress_pearson``."""
    return "progress_delta_pearson" if form == "contrastive" or reward_kwargs.get("relative") else "progress_pearson"
