"""Result tables (markdown for reading, CSV for machines) and plots of the studies and sweeps."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from vlmreward_rl.algos.common.logger import read_metrics


def pct(mean: float, se: float | None = None, n: int | None = None) -> str:
    """A rate as a percentage: ``81.2``, ``81.2 ± 3.1`` with a standard error, ``(n=3)`` with a count."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    text = f"{100 * mean:.1f}"
    if se is not None and math.isfinite(se):
        text += f" ± {100 * se:.1f}"
    if n is not None:
        text += f" (n={n})"
    return text


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def write_table(out: Path, stem: str, title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                csv_rows: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``<stem>.md`` (title, the table of formatted ``rows``, notes) and ``<stem>.csv`` (one line per
    ``csv_rows`` entry, raw numbers, NaN as empty). Returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        lines += [""] + list(notes)
    md = out / f"{stem}.md"
    md.write_text("\n".join(lines) + "\n")
    path = out / f"{stem}.csv"
    fields: list[str] = []
    for row in csv_rows:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in csv_rows:
            writer.writerow({k: "" if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()})
    return md, path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_plot(path: Path, categories: Sequence[str], series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
             ylabel: str, title: str) -> Path:
    """Grouped bars: one group per category, one bar per series ``name -> (means, standard errors)``."""
    plt = _plt()
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(categories) * max(len(series), 1) * 0.6 + 2), 4.2))
    for j, (name, (means, ses)) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, [0 if not math.isfinite(m) else m for m in means], width,
               yerr=[0 if not math.isfinite(s) else s for s in ses], capsize=3, label=name)
    ax.set_xticks(range(len(categories)), categories, rotation=20, ha="right")
    ax.set(ylabel=ylabel, title=title, ylim=(0, 1.05))
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def scatter_fit(path: Path, x: Sequence[float], y: Sequence[float], yerr: Sequence[float], labels: Sequence[str],
                xlabel: str, ylabel: str, title: str, n_fit: int | None = None) -> Path:
    """Points with error bars, their labels and the least-squares line of the first ``n_fit`` points
    (default all); the points after them are drawn as squares."""
    import numpy as np

    plt = _plt()
    n_fit = len(x) if n_fit is None else n_fit
    fig, ax = plt.subplots(figsize=(6, 4.2))
    errors = [0 if not math.isfinite(e) else e for e in yerr]
    ax.errorbar(x[:n_fit], y[:n_fit], yerr=errors[:n_fit], fmt="o", capsize=3)
    if len(x) > n_fit:
        ax.errorbar(x[n_fit:], y[n_fit:], yerr=errors[n_fit:], fmt="s", capsize=3, color="tab:red")
    for xi, yi, text in zip(x, y, labels):
        ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if n_fit >= 2 and np.ptp(x[:n_fit]) > 0:
        slope, intercept = np.polyfit(x[:n_fit], y[:n_fit], 1)
        xs = np.linspace(min(x[:n_fit]), max(x[:n_fit]), 10)
        ax.plot(xs, slope * xs + intercept, "--", alpha=0.6)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(-0.02, 1.05))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def curves(path: Path, panels: Mapping[str, Mapping[str, Sequence[Sequence[Sequence[float]]]]], ylabel: str,
           threshold: float | None = None) -> Path:
    """Success-vs-steps curves: ``panels[title][series]`` is one ``[[step, value], ...]`` history per
    seed; each series is drawn as the mean over seeds of the i-th evaluations (at their mean step; seeds
    may evaluate a few steps apart, e.g. at chunk ends) with a +-1 std band; ``threshold`` adds a
    dashed horizontal line."""
    import numpy as np

    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for name, histories in series.items():
            histories = [np.asarray(h, np.float64) for h in histories if len(h)]
            if not histories:
                continue
            n = min(len(h) for h in histories)
            stacked = np.stack([h[:n] for h in histories])  # (seeds, n, 2)
            steps, mean, std = stacked[..., 0].mean(0), stacked[..., 1].mean(0), stacked[..., 1].std(0)
            ax.plot(steps, mean, "o-", label=name, markersize=3)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        if threshold is not None:
            ax.axhline(threshold, color="grey", ls="--", lw=1)
        ax.set(xlabel="env steps", ylabel=ylabel, title=title, ylim=(-0.02, 1.05))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_success(history_file: Path, out: Path, title: str, metrics: Mapping[str, str]) -> Path:
    """``{label: logged metric}`` (success rates) against env steps from a run's ``metrics.jsonl``, into ``out``."""
    rows = read_metrics(history_file)
    series = {label: [[[r["global_step"], r[key]] for r in rows if key in r]] for label, key in metrics.items()}
    return curves(out, {title: series}, "simulator success rate")


def plot_fidelity(history_file: Path, out: Path, title: str) -> Path | None:
    """The learned reward against the simulator over env steps, from a run's ``metrics.jsonl``, into ``out``:
    per logged training window, the simulator's success rate, the model's success calls (detected rate) and the
    false successes it paid (both per judged episode, :class:`~vlmreward_rl.algos.common.fidelity.SuccessCounts`),
    the evaluations' success where logged; the mean learned reward; its Pearson r with oracle progress and with
    its change. None (nothing written) when no window judged an episode or the run logged nothing."""
    from vlmreward_rl.algos.common.fidelity import COUNT_TAGS, PEARSON_TAGS, SuccessCounts

    if not Path(history_file).exists():
        return None
    rows = read_metrics(history_file)
    windows = [(r["global_step"], SuccessCounts.from_metrics(r)) for r in rows
               if r.get(COUNT_TAGS["episodes"], 0) > 0]
    if not windows:
        return None
    plt = _plt()
    steps = [step for step, _ in windows]
    fig, (calls, reward, pearson) = plt.subplots(1, 3, figsize=(16, 4))
    calls.plot(steps, [c.success_rate for _, c in windows], "o-", ms=3, label="simulator success")
    calls.plot(steps, [c.detected_rate for _, c in windows], "s--", ms=3, label="model's success calls")
    calls.plot(steps, [c.false_success_rate for _, c in windows], "x:", color="tab:red", label="false successes paid")
    evals = [(r["global_step"], r["eval/success_rate"]) for r in rows if "eval/success_rate" in r]
    if evals:
        calls.plot(*zip(*evals), "D", color="black", ms=4, label="evaluation success (simulator)")
    calls.set(xlabel="env steps", ylabel="per episode", title="success: learned model vs simulator", ylim=(-0.02, 1.05))
    means = [(r["global_step"], r["reward/mean"]) for r in rows if "reward/mean" in r]
    if means:
        reward.plot(*zip(*means), "o-", ms=3)
    reward.set(xlabel="env steps", ylabel="mean (a step's, chunk's or episode's)", title="learned reward")
    for tag in PEARSON_TAGS:
        points = [(r["global_step"], r[tag]) for r in rows if tag in r]
        if points:
            pearson.plot(*zip(*points), "o-", ms=3, label=tag.split("/", 1)[1])
    pearson.set(xlabel="env steps", ylabel="Pearson r", title="learned reward vs oracle progress", ylim=(-1.05, 1.05))
    for ax in (calls, reward, pearson):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
