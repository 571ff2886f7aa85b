"""Reward-model ablation sweeps on Ray: models x forms x seeds over one training preset.

    vlmreward studies sweep --preset pointreach --models noisy-oracle:mae=0.5,noisy-oracle:mae=1.0 \
        --forms dense:relative=true,episodic --seeds 0,1,2 [--address auto] [-- --total-timesteps 8192]

``--preset`` names a training preset (``vlmreward train --help``: PPO presets, ``dsrl-*``,
``filtered-bc-*``); options after ``--`` override its fields. A model or form is ``name`` or
``name:key=value:key=value`` (values read as JSON where they parse, else text, as ``--model-kwargs``
reads them). The controls
``zero`` and ``oracle`` are always in the grid. A form given without options keeps the preset's
options if the preset uses that form (else ``episodic`` gets ``scale=unit``, the others none).

Every trial runs as a Ray task with its resources declared (``--cpus-per-trial``,
``--gpus-per-trial``; by default 1 CPU, one per async sub-env, and a GPU when the model is put on
``device=cuda...``), on a local Ray instance (``--num-cpus``) or the cluster at ``--address``.
Finished trials are kept under ``<out>/trials/`` and skipped when the sweep is run again.
``<out>/results.md|csv|png``: mean and standard error of the final success rate per model and form.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import tyro

from vlmreward_rl.algos.common.logger import write_json
from vlmreward_rl.recipes.report import bar_plot, pct, write_table
from vlmreward_rl.recipes.train import all_presets
from vlmreward_gym.options import KwargsSyntaxError, parse_kwargs
from vlmreward_rl.recipes.trials import Resources, Trial, aggregate, default_resources, make_trial, run_trials

CONTROLS = ("zero", "oracle")
FORM_DEFAULTS: dict[str, dict[str, Any]] = {"episodic": {"scale": "unit"}}


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"noisy-oracle:mae=0.5:seed=1"`` -> ``("noisy-oracle", {"mae": 0.5, "seed": 1})``.

    Options are split at each ``:`` that starts a ``key=``, so a value may hold colons
    (``robometer-4b:device=cuda:0``); they are read as ``vlmreward train --model-kwargs`` reads them."""
    name, _, rest = spec.strip().partition(":")
    options = re.split(r":(?=[^:=]*=)", rest) if rest else []
    if not name or any("=" not in option for option in options):
        raise ValueError(f"bad spec {spec!r}: expected name[:key=value...]")
    try:
        return name, parse_kwargs(options)
    except KwargsSyntaxError as error:
        raise ValueError(f"bad options in {spec!r}: {error}") from None


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class SweepArgs:
    preset: str
    """training preset to sweep (vlmreward train's PPO presets, dsrl-*, filtered-bc-*)"""
    models: str = ""
    """comma-separated reward models, each name[:key=value...]; zero and oracle are always added"""
    forms: str = ""
    """comma-separated reward forms, each name[:key=value...] (empty: the preset's form)"""
    seeds: str = "0"
    """comma-separated seeds"""
    out: str | None = None
    """output folder (default runs/sweeps/<preset>)"""
    executor: str = "ray"
    """ray | local (one trial after another in this process)"""
    address: str | None = None
    """Ray cluster address (e.g. auto); None starts a local Ray instance"""
    num_cpus: int | None = None
    """CPUs of the local Ray instance (None: all)"""
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None


def models_with_controls(specs: Sequence[str]) -> list[str]:
    """``zero`` first, the given models, ``oracle`` last; each once."""
    given = [s for s in specs if s not in CONTROLS]
    return ["zero", *dict.fromkeys(given), "oracle"]


def build_trials(args: SweepArgs, base: Any, out: Path) -> list[Trial]:
    """The grid: models (with the controls) x forms x seeds over the ``base`` config."""
    forms = split(args.forms) or [base.form]
    seeds = [int(s) for s in split(args.seeds)]
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    trials = []
    for model_spec in models_with_controls(split(args.models)):
        model, model_kwargs = parse_spec(model_spec)
        for form_spec in forms:
            form, form_kwargs = parse_spec(form_spec)
            if not form_kwargs:
                form_kwargs = dict(base.reward_kwargs) if form == base.form else dict(FORM_DEFAULTS.get(form, {}))
            for seed in seeds:
                config = replace(base, model=model, model_kwargs=model_kwargs, form=form, reward_kwargs=form_kwargs,
                                 seed=seed)
                declared = default_resources(config)
                resources = Resources(declared.cpus if args.cpus_per_trial is None else args.cpus_per_trial,
                                      declared.gpus if args.gpus_per_trial is None else args.gpus_per_trial)
                trials.append(make_trial(out, {"model": model_spec, "form": form_spec}, seed, config, resources))
    return trials


def report(records: Sequence[dict[str, Any]], out: Path, title: str) -> dict[str, Any]:
    """The model x form table of mean ± standard error of the final success, and its bar plot."""
    cells = aggregate(records, ("model", "form"))
    models = list(dict.fromkeys(c["model"] for c in cells))
    forms = list(dict.fromkeys(c["form"] for c in cells))
    by = {(c["model"], c["form"]): c for c in cells}
    rows = [[m] + [pct(by[m, f]["mean"], by[m, f]["se"], by[m, f]["n"]) if (m, f) in by else "-" for f in forms]
            for m in models]
    csv_rows = [{"model": c["model"], "form": c["form"], "n": c["n"], "success_mean": c["mean"],
                 "success_se": c["se"]} for c in cells]
    write_table(out, "results", title, ["model"] + [f"{f} success % (mean ± s.e.)" for f in forms], rows, csv_rows,
                ["Success = the final evaluation's success rate of each run; s.e. = std (ddof 1) / sqrt(n) over seeds."])
    bar_plot(out / "results.png", models, {f: ([by[m, f]["mean"] if (m, f) in by else float("nan") for m in models],
                                               [by[m, f]["se"] if (m, f) in by else float("nan") for m in models])
                                           for f in forms}, "success rate", title)
    return {"cells": csv_rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, overrides = argv[:cut], argv[cut + 1:]
    args = tyro.cli(SweepArgs, args=argv, prog="vlmreward studies sweep", description=__doc__)
    presets = all_presets()
    if args.preset not in presets:
        raise SystemExit(f"unknown preset {args.preset!r}; choose one of {sorted(presets)}")
    base = tyro.extras.overridable_config_cli({args.preset: presets[args.preset]}, args=[args.preset, *overrides])
    out = Path(args.out or f"runs/sweeps/{args.preset}")
    trials = build_trials(args, base, out)
    records = run_trials(trials, out, args.executor, args.address, args.num_cpus)
    summary = report(records, out, f"Reward-model sweep over {args.preset}")
    write_json(out / "summary.json", summary)
    print((out / "results.md").read_text())
    return summary
