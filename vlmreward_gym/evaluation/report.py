"""Write evaluation results: a markdown table, a JSON file and PNG plots."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmreward_gym.evaluation.data import CATEGORIES
from vlmreward_gym.evaluation.probes import PROBES

#: (metric key, column header) of the markdown table, in order.
COLUMNS = (
    ("mae", "MAE 1-5 ↓"),
    ("voc_pearson", "VOC r"),
    ("voc_spearman", "VOC ρ"),
    ("voc_expert_pearson", "VOC r experts"),
    ("kendall_tau_a", "Kendall τa"),
    ("pairwise_same_task", "pref. same task"),
    ("pairwise_different_task", "pref. diff. task"),
    ("ordering_accuracy_A", "order acc. A"),
    ("success_roc_auc", "success AUC"),
    ("success_precision", "succ. P"),
    ("success_recall", "succ. R"),
    ("success_ece", "succ. ECE ↓"),
    ("false_success_near_miss", "near-miss false succ. ↓"),
)


def model_label(name: str, kwargs: dict[str, Any]) -> str:
    """``noisy-oracle(mae=0.5)``-style label of a model and its keyword arguments."""
    return name + (f"({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else "")


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per model result (``result["label"]`` and ``result["metrics"]``); ``n/a`` = not defined."""
    head = "| model | " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|---|" + "---|" * len(COLUMNS)
    rows = []
    for r in results:
        cells = [("n/a" if r["metrics"].get(k) is None else f"{r['metrics'][k]:.3f}") for k, _ in COLUMNS]
        rows.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows])


def probe_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per model with probes: per probe, how often it was paid at least as much as the real
    video and the mean payment ratio probe / real (``n/a`` = not run or undefined); ``†`` marks
    the other-instruction cell of oracle-reading models (their labels there are counterfactual)."""
    rows = [r for r in results if "probes" in r]
    if not rows:
        return ""
    head = "| model | probed | " + " | ".join(k.replace("_", " ") for k in PROBES) + " |"
    lines = [head, "|---|---|" + "---|" * len(PROBES)]
    for r in rows:
        cells = []
        for kind in PROBES:
            s = r["probes"]["results"].get(kind)
            if s is None or s["paid_rate"] is None:
                cells.append("n/a")
                continue
            ratio = "n/a" if s["mean_ratio"] is None else f"{s['mean_ratio']:.2f}"
            mark = " †" if kind == "other_instruction" and r["probes"]["oracle_labels"] else ""
            cells.append(f"{100 * s['paid_rate']:.0f}% ({ratio}){mark}")
        lines.append(f"| {r['label']} | {r['probes']['episodes']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")


def plot_curves(result: dict[str, Any], path: Path, per_category: int = 4) -> Path | None:
    """Predicted (solid) and true (dashed) progress over normalised time for a few expert,
    suboptimal and failed episodes; None if the model gives no progress."""
    plt = _pyplot()
    episodes = [e for e in result["episodes"] if e["pred_progress"] is not None]
    if not episodes:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    for ax, category in zip(axes, CATEGORIES):
        chosen = [e for e in episodes if e["category"] == category][:per_category]
        for n, e in enumerate(chosen):
            steps = np.asarray(e["steps"], float)
            t = steps / max(steps[-1], 1.0)
            color = f"C{n}"
            ax.plot(t, e["pred_progress"], color=color, marker=".", label=e["id"])
            if e["progress"] is not None:
                ax.plot(t, e["progress"], color=color, linestyle="--", alpha=0.6)
        ax.set_title(f"{category} ({sum(e['category'] == category for e in episodes)})")
        ax.set_xlabel("time (fraction of episode)")
        ax.set_ylim(-0.05, 1.05)
        if chosen:
            ax.legend(fontsize=6, loc="upper left")
    axes[0].set_ylabel("progress (solid: model, dashed: true)")
    fig.suptitle(f"reward curves: {result['label']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_confusion(result: dict[str, Any], path: Path) -> Path | None:
    """Heat map of the video-instruction matrix; None if there was a single task."""
    if "confusion" not in result:
        return None
    plt = _pyplot()
    tasks, matrix = result["confusion"]["tasks"], np.asarray(result["confusion"]["matrix"], float)
    size = 2.5 + 0.6 * len(tasks)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, cmap="viridis")
    fig.colorbar(image, ax=ax, label=f"trajectory score ({result['details']['rank_by']})")
    short = [t if len(t) <= 40 else "..." + t[-37:] for t in tasks]  # instructions differ at the end
    ax.set_xticks(range(len(tasks)), short, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(tasks)), short, fontsize=7)
    ax.set_xlabel("instruction scored against")
    ax.set_ylabel("task the video shows")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, "" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", color="w", fontsize=7)
    ax.set_title(f"video x instruction: {result['label']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_reliability(result: dict[str, Any], path: Path) -> Path | None:
    """Reliability diagram of the success probabilities (observed success rate per probability bin
    against the diagonal, with the bins' counts); None if the model gives no success probability."""
    cal = result["details"].get("calibration")
    if cal is None:
        return None
    plt = _pyplot()
    edges = np.linspace(0.0, 1.0, cal["bins"] + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1.0 / cal["bins"]
    frequency = np.nan_to_num(np.asarray(cal["frequency"], float))
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.bar(centers, frequency, width=width * 0.9, color="C0", alpha=0.8, label="observed success rate")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for x, n in zip(centers, cal["counts"]):
        if n:
            ax.text(x, 1.01, str(n), ha="center", va="bottom", fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("predicted success probability (last frame)")
    ax.set_ylabel("episodes that succeed")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"reliability: {result['label']} (ECE {result['metrics']['success_ece']:.3f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(results: Sequence[dict[str, Any]], out_dir: str | Path, header: dict[str, Any]) -> dict[str, Path]:
    """Write ``results.md``, ``results.json`` and per-model PNGs into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for r in results:
        for kind, plot in (("curves", plot_curves), ("confusion", plot_confusion), ("reliability", plot_reliability)):
            written = plot(r, out / f"{_slug(r['label'])}_{kind}.png")
            if written is not None:
                paths[f"{r['label']} {kind}"] = written
                r.setdefault("plots", {})[kind] = written.name
    table = markdown_table(results)
    lines = [f"# Reward-model evaluation: {header['data']}", "",
             f"{header['episodes']} episodes ({header['format']} format), {header['tasks']} task(s); "
             f"rankings by `{results[0]['details']['rank_by']}` trajectory score." if results else "", "", table, ""]
    probes = probe_table(results)
    if probes:
        first = next(r["probes"] for r in results if "probes" in r)
        lines += ["## Exploit probes", "",
                  f"Per probe: how often it is paid at least as much as the real video (payment: "
                  f"{first['payment']}, within {first['tolerance']:g}), and in brackets the mean ratio of "
                  f"payments probe / real. Probed: {first['probed']}. † the oracle's labels under another "
                  f"instruction are the counterfactual \"no progress, no success\".", "", probes, ""]
    for r in results:
        for kind, name in r.get("plots", {}).items():
            lines.append(f"![{r['label']} {kind}]({name})")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({**header, "results": list(results)}, indent=1))
    paths["markdown"], paths["json"] = out / "results.md", out / "results.json"
    return paths
