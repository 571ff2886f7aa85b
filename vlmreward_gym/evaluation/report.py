"""Write evaluation results: a markdown table, a JSON file and PNG plots."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmreward_gym.evaluation.data import CATEGORIES

#: (metric key, column header) of the markdown table, in order.
COLUMNS = (
    ("mae", "MAE 1-5 ↓"),
    ("voc_pearson", "VOC r"),
    ("voc_spearman", "VOC ρ"),
    ("kendall_tau_a", "Kendall τa"),
    ("pairwise_same_task", "pref. same task"),
    ("pairwise_different_task", "pref. diff. task"),
    ("ordering_accuracy_A", "order acc. A"),
    ("success_roc_auc", "success AUC"),
    ("success_precision", "succ. P"),
    ("success_recall", "succ. R"),
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


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")


def plot_curves(result: dict[str, Any], path: Path, per_category: int = 4) -> Path | None:
    """Predicted (solid) and true (dashed) progress over normalised time for a few expert,
    suboptimal and failed episodes; None if the model gives no progress."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def write_report(results: Sequence[dict[str, Any]], out_dir: str | Path, header: dict[str, Any]) -> dict[str, Path]:
    """Write ``results.md``, ``results.json`` and per-model PNGs into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for r in results:
        for kind, plot in (("curves", plot_curves), ("confusion", plot_confusion)):
            written = plot(r, out / f"{_slug(r['label'])}_{kind}.png")
            if written is not None:
                paths[f"{r['label']} {kind}"] = written
                r.setdefault("plots", {})[kind] = written.name
    table = markdown_table(results)
    lines = [f"# Reward-model evaluation: {header['data']}", "",
             f"{header['episodes']} episodes ({header['format']} format), {header['tasks']} task(s); "
             f"rankings by `{results[0]['details']['rank_by']}` trajectory score." if results else "", "", table, ""]
    for r in results:
        for kind, name in r.get("plots", {}).items():
            lines.append(f"![{r['label']} {kind}]({name})")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({**header, "results": list(results)}, indent=1))
    paths["markdown"], paths["json"] = out / "results.md", out / "results.json"
    return paths
