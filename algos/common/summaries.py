"""What a run prints at its end, in the words every algorithm shares: the simulator's success before and after
training, and the learned reward's fidelity (:func:`~vlmreward_rl.algos.common.fidelity.run_fidelity`)."""

from __future__ import annotations

import math
from typing import Any, Mapping


def num(value: Any, digits: int = 3) -> str:
    """A number as printed; ``n/a`` for None or a non-finite one."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def gain_points(before: float | None, after: float | None) -> float:
    """``after - before`` in percentage points (NaN if either is missing)."""
    if before is None or after is None:
        return math.nan
    return round(100.0 * (after - before), 1)


def success_line(before: float | None, after: float | None, episodes: int, after_label: str = "fine-tuned") -> str:
    """The simulator's success of the base policy and the trained one on the same ``episodes`` evaluation
    starts, and the gain."""
    gain = gain_points(before, after)
    return (f"simulator success on the same {episodes} evaluation starts: base policy {num(before, 2)}, "
            f"{after_label} {num(after, 2)}, gain {'n/a' if math.isnan(gain) else f'{gain:+.1f}'} points")


def fidelity_line(summary: Mapping[str, Any], pearson: str = "progress_delta_pearson",
                  prefix: str = "fidelity/", what: str = "training episodes") -> str:
    """The learned reward's fidelity as :func:`~vlmreward_rl.algos.common.fidelity.run_fidelity` keys it under
    ``prefix``: its success calls against the simulator and the correlation ``pearson`` (``progress_pearson`` for
    a reward that pays progress, ``progress_delta_pearson`` for one that pays its change)."""
    label = "Pearson r with the change in oracle progress" if pearson == "progress_delta_pearson" \
        else "Pearson r with oracle progress"
    return (f"reward fidelity ({what}, {num(summary.get(f'{prefix}judged_episodes'), 0)} judged): success precision "
            f"{num(summary.get(f'{prefix}success_precision'))}, recall {num(summary.get(f'{prefix}success_recall'))}; "
            f"false successes paid {num(summary.get(f'{prefix}false_successes'), 0)} "
            f"({num(summary.get(f'{prefix}false_success_rate'))} an episode); {label} "
            f"{num(summary.get(prefix + pearson))}")
