"""What the recipes know of an algorithm: one :class:`Algorithm` record each, kept by its own module.

A record names the algorithm, the type of its arguments and the functions a driver calls: ``train``,
``summarize`` (a run's ``summary.json``), ``outcome`` (a trial's metrics for the studies' tables), the
``resources`` a trial asks a scheduler for and the ``inputs`` (demos, base policy) a driver builds before
a run. :mod:`vlmreward_rl.algos.registry` lists the records; ``vlmreward train``, the studies, trials and
sweeps look an algorithm up there, by name or by the type of a config, and never branch on that type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, TypeVar

A = TypeVar("A")  # the algorithm's arguments (a frozen dataclass)
R = TypeVar("R")  # what its train() returns


@dataclass(frozen=True)
class Resources:
    """What one trial asks the scheduler for (Ray's ``num_cpus`` / ``num_gpus``)."""

    cpus: float = 1.0
    gpus: float = 0.0


def default_resources(args: Any) -> Resources:
    """One CPU; a GPU when the reward model is placed on CUDA (``model_kwargs device cuda...``)."""
    return Resources(1.0, 1.0 if str(args.model_kwargs.get("device", "")).startswith("cuda") else 0.0)


@dataclass(frozen=True)
class Inputs:
    """Folders a run reads that a driver may have to build first (None: none): demonstrations in the
    :mod:`vlmreward_gym.data` format, and a base policy (a :mod:`vlmreward_rl.algos.diffusion_policy` folder)."""

    demos: str | None = None
    policy: str | None = None


def no_inputs(args: Any) -> Inputs:
    return Inputs()


def log_quietly_to(args: A, run_dir: str | Path) -> A:
    """``args`` logging into ``run_dir`` without TensorBoard or a progress bar (a study's or sweep's own files)."""
    names = {f.name for f in fields(args)}
    changes: dict[str, Any] = {"run_dir": str(run_dir), "tensorboard": False}
    if "progress_bar" in names:
        changes["progress_bar"] = False
    return replace(args, **changes)


@dataclass(frozen=True)
class Algorithm(Generic[A, R]):
    """One algorithm as the recipes see it."""

    name: str
    """its name in trial records and config hashes (``ppo``, ``dsrl``, ...): renaming it reruns finished trials"""
    args_type: type[A]
    """its arguments; a config of exactly this type is this algorithm's (:func:`~vlmreward_rl.algos.registry.algorithm_for`)"""
    train: Callable[[A], R]
    summarize: Callable[[A, R], dict[str, Any]]
    """a finished run's summary: what ``vlmreward train`` writes to ``summary.json`` and returns"""
    outcome: Callable[[A, R], dict[str, Any]]
    """a trial's metrics, what the studies' tables read: ``success`` (the final evaluation's success rate) and,
    where the run evaluates as it trains, ``history`` ([env step, success] pairs)"""
    title: Callable[[A], str]
    """its name in a table's notes, e.g. ``PPO`` or ``DSRL-NA``"""
    report: Callable[[dict[str, Any]], str] = json.dumps
    """what ``vlmreward train`` prints of the summary at the end"""
    curves: Mapping[str, str] = field(default_factory=dict)
    """``{label: logged metric}``: what ``vlmreward train`` plots against env steps into ``success.png`` (none: no
    plot)"""
    resources: Callable[[A], Resources] = default_resources
    inputs: Callable[[A], Inputs] = no_inputs
    task_paths: tuple[str, ...] = ()
    """fields holding a folder of the task's own (a base policy): the same config on another task reads the
    sibling folder named after that task (``runs/bc/lift`` -> ``runs/bc/can``)"""
    initial_policy: Callable[[A], Any] | None = None
    """the config of a trial that evaluates the policy a run starts from (a study's "before RL" row); None where
    the runs measure it themselves (``success_before``)"""
    with_run_dir: Callable[[A, str | Path], A] = log_quietly_to
    """the config logging into a study's run folder, quietly"""

    def run(self, args: A) -> dict[str, Any]:
        """Train, and return the trial's metrics (:attr:`outcome`)."""
        return self.outcome(args, self.train(args))
