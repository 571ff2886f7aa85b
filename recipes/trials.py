"""Trials: one training run of a study or sweep, run locally or on Ray, resumable, and aggregated.

A :class:`Trial` is a labelled, seeded config of one algorithm: the arguments of one of the records in
:mod:`vlmreward_rl.algos.registry` (``vlmreward_rl.algos.ppo_gae.Args``, ``vlmreward_rl.algos.dsrl.Args``,
``vlmreward_rl.algos.filtered_bc.Args``, or ``vlmreward_rl.algos.ppo_gae.InitialPolicy`` for the untrained-policy
row of a table), which says how to run it. :func:`run_trials` runs the trials that have no result yet and writes
each result as ``<out>/trials/<key>.json`` the moment it finishes, so a half-finished study or sweep
picks up where it stopped. A result whose config differs from the trial's (the hash of the
config without its run dir and logging switches) is stale and run again.

``executor="ray"`` submits every trial as a Ray task with its declared :class:`Resources`
(``num_gpus > 0`` lands on GPU nodes) to a local Ray instance, or to a cluster with ``address``
(the nodes need this package importable; results come back to the driver, which writes them).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from vlmreward_rl.algos.common.logger import json_safe, write_json
from vlmreward_rl.algos.common.records import Resources
from vlmreward_rl.algos.registry import algorithm_for
from vlmreward_rl.recipes.inputs import prepare
from vlmreward_rl.recipes.report import plot_fidelity, plot_success

EXECUTORS = ("local", "ray")
_UNHASHED = ("run_dir", "tensorboard", "progress_bar")  # where and how a run logs, not what it computes
Config = Any  # the arguments of a registered algorithm (vlmreward_rl.algos.registry)


def default_resources(config: Config) -> Resources:
    """What a trial of ``config`` asks for unless told otherwise: its algorithm's declaration (one CPU, one per
    sub-env with async PPO envs, plus the learner; a GPU when the reward model is placed on CUDA)."""
    return algorithm_for(config).resources(config)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", text).strip("-+")


@dataclass(frozen=True)
class Trial:
    """One run: ``labels`` name its table cell (e.g. ``(("model", "oracle"), ("form", "dense"))``)."""

    labels: tuple[tuple[str, str], ...]
    seed: int
    config: Config
    resources: Resources = field(default_factory=Resources)

    @property
    def key(self) -> str:
        """File-name-safe id, unique within a study: the labels and the seed, e.g. ``mae=0.5__s1``."""
        return "__".join([f"{_slug(k)}={_slug(v)}" for k, v in self.labels] + [f"s{self.seed}"])

    @property
    def label(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def algo(self) -> str:
        return algorithm_for(self.config).name

    @property
    def config_hash(self) -> str:
        return hashlib.sha1(json.dumps([self.algo, config_dict(self.config)], sort_keys=True, default=str)
                            .encode()).hexdigest()[:12]


def config_dict(config: Config) -> dict[str, Any]:
    """The config as a dict without the fields that only say where and how to log."""
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {k: strip(v) if isinstance(v, dict) else v for k, v in d.items() if k not in _UNHASHED}

    return strip(asdict(config))


def with_run_dir(config: Config, run_dir: Path) -> Config:
    """``config`` logging into ``run_dir`` without TensorBoard or progress bars (the study's own files)."""
    return algorithm_for(config).with_run_dir(config, run_dir)


def make_trial(out: Path, labels: dict[str, str], seed: int, config: Config,
               resources: Resources | None = None) -> Trial:
    """A trial whose run logs under ``<out>/runs/<trial key>``; resources: as declared, else the defaults."""
    key = Trial(tuple(labels.items()), seed, config).key
    config = with_run_dir(config, Path(out) / "runs" / key)
    return Trial(tuple(labels.items()), seed, config, resources or default_resources(config))


# -- running one trial ---------------------------------------------------------------------------

def execute(trial: Trial) -> dict[str, Any]:
    """Run one trial in this process; its result record (what :func:`run_trials` writes)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = time.time()
    metrics = algorithm_for(trial.config).run(trial.config)
    return {"key": trial.key, "labels": trial.label, "seed": trial.seed, "algo": trial.algo,
            "config_hash": trial.config_hash, "config": json_safe(config_dict(trial.config)),
            "seconds": round(time.time() - start, 1), "metrics": json_safe(metrics)}


def train_and_report(config: Config) -> dict[str, Any]:
    """One run of ``config`` as ``vlmreward train`` makes it: its inputs built where missing, trained, its
    summary written to ``summary.json`` (and its success curves to ``success.png`` where its algorithm names
    them, the learned reward against the simulator to ``fidelity.png`` where it judged episodes:
    :func:`~vlmreward_rl.recipes.report.plot_fidelity`) and printed. Returns the summary."""
    algorithm = algorithm_for(config)
    prepare(config)
    result = algorithm.train(config)
    summary = algorithm.summarize(config, result)
    run_path = config.run_path
    plot = plot_success(run_path / "metrics.jsonl", run_path / "success.png", config.run_name,
                        algorithm.curves) if algorithm.curves else None
    fidelity = plot_fidelity(run_path / "metrics.jsonl", run_path / "fidelity.png", config.run_name)
    write_json(run_path / "summary.json", summary)
    print(algorithm.report(summary))
    for name, path in (("plot", plot), ("fidelity plot", fidelity)):
        if path is not None:
            print(f"{name}: {path}")
    if plot is not None or fidelity is not None:
        print(f"TensorBoard: tensorboard --logdir {config.run_dir}")
    return summary


# -- running many, resuming ----------------------------------------------------------------------

def result_path(out: Path, trial: Trial) -> Path:
    return Path(out) / "trials" / f"{trial.key}.json"


def load_result(out: Path, trial: Trial) -> dict[str, Any] | None:
    """The trial's stored result, or None if it has none, the stored one is for another config, or it is
    unreadable (a truncated file: warned about, so the trial runs again)."""
    path = result_path(out, trial)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        warnings.warn(f"trial result {path} is unreadable ({error}): running the trial again", stacklevel=2)
        return None
    return record if record.get("config_hash") == trial.config_hash else None


def _save(out: Path, record: dict[str, Any]) -> None:
    path = Path(out) / "trials" / f"{record['key']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)  # atomic: a killed sweep never leaves a half-written result behind


class TrialsFailed(RuntimeError):
    """Some trials raised; the others' results are saved, so running again retries only these."""


def _ray_runtime_env() -> dict[str, Any]:
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                         "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0")}}


def run_trials(trials: Sequence[Trial], out: str | Path, executor: str = "local", address: str | None = None,
               num_cpus: int | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every trial without a current result; return all results in ``trials`` order.

    Args:
        executor: ``local`` (one after another in this process) or ``ray``.
        address: Ray cluster address (``auto`` or ``host:port``); None starts a local instance.
        num_cpus: CPUs of a local Ray instance (None: all).
    Raises :class:`TrialsFailed` after the others finished if any trial raised.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    keys = [t.key for t in trials]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"trial keys must be unique, repeated: {duplicates}")
    out = Path(out)
    (out / "trials").mkdir(parents=True, exist_ok=True)
    todo = [t for t in trials if load_result(out, t) is None]
    log(f"{len(trials) - len(todo)} of {len(trials)} trials already finished; running {len(todo)} ({executor})")
    for trial in todo:
        prepare(trial.config)
    failed: dict[str, str] = {}
    if executor == "local":
        for i, trial in enumerate(todo, 1):
            log(f"[{i}/{len(todo)}] {trial.key}")
            try:
                _save(out, execute(trial))
            except Exception as error:  # noqa: BLE001  (reported below; the other trials go on)
                failed[trial.key] = f"{type(error).__name__}: {error}"
    elif todo:
        failed = _run_on_ray(todo, out, address, num_cpus, log)
    if failed:
        raise TrialsFailed(f"{len(failed)} trial(s) failed (run again to retry them): " +
                           "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return [load_result(out, t) for t in trials]  # type: ignore[misc]


def _run_on_ray(todo: Sequence[Trial], out: Path, address: str | None, num_cpus: int | None,
                log: Callable[[str], None]) -> dict[str, str]:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else num_cpus, runtime_env=_ray_runtime_env(),
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    failed: dict[str, str] = {}
    try:
        remote = ray.remote(max_retries=0)(execute)
        pending = {remote.options(num_cpus=t.resources.cpus, num_gpus=t.resources.gpus).remote(t): t for t in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(done[0])
            try:
                _save(out, ray.get(done[0]))
                log(f"done {trial.key} ({len(todo) - len(pending)}/{len(todo)})")
            except Exception as error:  # noqa: BLE001
                failed[trial.key] = f"{type(error).__name__}: {error}"
    finally:
        if started:
            ray.shutdown()
    return failed


# -- aggregation ---------------------------------------------------------------------------------

def mean_se(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, standard error of the mean (sample std with ddof 1 over sqrt n; NaN for n < 2) and n of
    the finite values."""
    x = np.array([v for v in values if v is not None and math.isfinite(v)], np.float64)
    if x.size == 0:
        return math.nan, math.nan, 0
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), se, int(x.size)


def metric(record: dict[str, Any], key: str) -> float:
    value = record["metrics"].get(key)
    return math.nan if value is None else float(value)


def aggregate(records: Sequence[dict[str, Any]], by: Sequence[str], key: str = "success") -> list[dict[str, Any]]:
    """One row per distinct combination of the ``by`` labels (in first-seen order) with the mean,
    standard error and count of metric ``key`` over its records (seeds)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(tuple(r["labels"][b] for b in by), []).append(r)
    rows = []
    for cell, members in groups.items():
        mean, se, n = mean_se(metric(r, key) for r in members)
        rows.append({**dict(zip(by, cell)), "mean": mean, "se": se, "n": n, "records": members})
    return rows
