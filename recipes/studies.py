"""The studies: one command per table or figure of the papers, ``vlmreward studies run NAME [--field value ...]``.

Each study is a frozen dataclass: a grid of reward settings x tasks x seeds over one training
preset. ``NAME`` is its CPU size (at most 30 minutes on 2 cores, on the built-in PointReach env where
the paper's simulator is too slow to learn anything in that time); ``NAME-full`` carries the paper's
tasks, models and budgets (GPU-sized). Every study writes ``<out>/results.md``, ``results.csv``
and ``results.png`` plus one result file per trial under ``<out>/trials/`` (a rerun skips finished
trials; see :mod:`vlmreward_rl.recipes.trials`). Reward models default to the ones that run here (``oracle``,
``noisy-oracle`` as a stand-in for a learned model of known error, ``zero``); any registered name
can be put in their place, e.g. ``--arms.0.model robometer-4b --arms.0.model-kwargs path=/ckpt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Sequence

import numpy as np
import tyro

from vlmreward_rl.algos import dsrl, filtered_bc, ppo_gae
from vlmreward_rl.algos.common.envs import Kwargs
from vlmreward_rl.algos.common.logger import write_json
from vlmreward_rl.algos.common.metrics import pearson
from vlmreward_rl.algos.diffusion_policy import BCTraining
from vlmreward_rl.algos.registry import algorithm_for
from vlmreward_rl.envs.tasks import task
from vlmreward_rl.recipes import dsrl as dsrl_recipe
from vlmreward_rl.recipes import train as ppo_recipe
from vlmreward_rl.recipes.report import bar_plot, curves, num, pct, scatter_fit, write_table
from vlmreward_rl.recipes.trials import Trial, aggregate, make_trial, mean_se, metric, run_trials

POINTREACH_ID = "vlmreward/PointReach-v0"
MAX_MAE = 4.0  # the largest possible error on the 1-5 rubric: RoboReward's Fig. 3 plots MAX_MAE - MAE
NOISY = {"mae": 0.5}  # the stand-in for a learned reward model: the README's main-job noise level


def short(env_id: str) -> str:
    """``vlmreward/Lift-v1`` -> ``Lift``."""
    return env_id.split("/")[-1].split("-v")[0]


def stages_for(env_id: str, stages: Sequence[str]) -> list[str]:
    """``stages`` if given, else the task's default sub-tasks (its record in :mod:`vlmreward_rl.envs.tasks`)."""
    return list(stages or task(env_id).stages)


def for_task(config: Any, env_id: str) -> Any:
    """``config`` on task ``env_id``: its default instruction (from the task registry), and the task's own
    folders where its algorithm reads one (DSRL's base policy ``<policy dir>/<task>``)."""
    if env_id == config.env_id:
        return config
    changes: dict[str, Any] = {"env_id": env_id, "instruction": task(env_id).instruction}
    for name in algorithm_for(config).task_paths:
        changes[name] = str(Path(getattr(config, name)).parent / short(env_id).lower())
    return replace(config, **changes)


@dataclass(frozen=True)
class RewardSpec:
    """One reward setting (a table row): model, form and their options."""

    label: str
    model: str = "oracle"
    model_kwargs: Kwargs = field(default_factory=dict)
    form: str = "dense"
    reward_kwargs: Kwargs = field(default_factory=dict)
    train_on_env_reward: bool = False
    """PPO only: optimise the simulator's reward (the upper-bound row)"""
    bootstrap_timeouts: bool | None = None
    paper: float | None = None
    """the paper's number for this row (success rate in [0, 1]), shown next to ours"""

    def apply(self, config: Any, **extra_reward_kwargs: Any) -> Any:
        changes: dict[str, Any] = {"model": self.model, "model_kwargs": dict(self.model_kwargs), "form": self.form,
                                   "reward_kwargs": {**self.reward_kwargs, **extra_reward_kwargs}}
        if self.bootstrap_timeouts is not None:
            changes["bootstrap_timeouts"] = self.bootstrap_timeouts
        if self.train_on_env_reward:
            if not hasattr(config, "train_on_env_reward"):
                raise ValueError(f"{self.label}: train_on_env_reward needs a PPO trainer")
            changes["train_on_env_reward"] = True
        return replace(config, **changes)


def model_label(model: str, kwargs: dict[str, Any]) -> str:
    return model + (f" ({', '.join(f'{k} {v}' for k, v in kwargs.items() if k != 'seed')})" if kwargs else "")


@dataclass(frozen=True)
class Study:
    """What every study has: seeds, where to write, and how to run its trials."""

    seeds: tuple[int, ...] = (0, 1)
    out: str | None = None
    """output folder (default runs/studies/<preset name>)"""
    executor: str = "local"
    """local (one trial after another) | ray"""
    address: str | None = None
    """Ray cluster address; None: a local Ray instance"""
    num_cpus: int | None = None
    """CPUs of a local Ray instance (None: all)"""

    title = ""

    def trials(self, out: Path) -> list[Trial]:
        raise NotImplementedError

    def report(self, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, out: str | Path) -> dict[str, Any]:
        """Run the trials that have no result yet, then write the table and plot. Returns the summary."""
        out = Path(out)
        records = run_trials(self.trials(out), out, self.executor, self.address, self.num_cpus)
        summary = self.report(records, out)
        write_json(out / "summary.json", summary)
        return summary


Trainer = (Annotated[ppo_gae.Args, tyro.conf.subcommand("ppo")]
           | Annotated[dsrl.Args, tyro.conf.subcommand("dsrl")])


def trainer_name(config: Any) -> str:
    return algorithm_for(config).title(config)


def before_rl(out: Path, labels: dict[str, str], trainer: Any, seeds: Sequence[int]) -> list[Trial]:
    """The "before RL" trials of ``trainer``, one per seed: its algorithm's initial policy evaluated; none where
    the runs measure the policy they start from themselves (DSRL's ``success_before``)."""
    initial = algorithm_for(trainer).initial_policy
    return [make_trial(out, labels, seed, initial(replace(trainer, seed=seed))) for seed in seeds] if initial else []


def _of(records: Sequence[dict[str, Any]], **labels: str) -> list[dict[str, Any]]:
    return [r for r in records if all(r["labels"].get(k) == v for k, v in labels.items())]


# -- RoboReward Fig. 3: reward accuracy vs RL success ---------------------------------------------

_PPO_POINTREACH = replace(ppo_recipe.PRESETS["pointreach"][1], eval_episodes=32)


@dataclass(frozen=True)
class RewardAccuracy(Study):
    """RoboReward Fig. 3: RL with the noisy-oracle at several MAEs; Pearson r of accuracy and success."""

    trainer: Trainer = _PPO_POINTREACH
    """the RL run (its form and reward options are kept; the model becomes noisy-oracle)"""
    tasks: tuple[str, ...] = (POINTREACH_ID,)
    maes: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    """noisy-oracle errors on the 1-5 scale"""
    seeds: tuple[int, ...] = (0, 1, 2)
    mae_eval_seeds: int = 30
    """measure each MAE offline (vlmreward eval) on this many held-out PointReach starts x 3 kinds of
    rollout (PointReach tasks only; 0: report the nominal MAE)"""
    learned: tuple[str, ...] = ()
    """learned reward models put on the same axes, each ``name[:key=value...]`` (e.g. ``sim-rm:path=ckpt/sim-rm``,
    the README's sim-rm checkpoint): the same RL run and seeds, and their MAE measured with the noisy-oracle's;
    they are plotted, and kept out of the Pearson r of the noisy-oracle cells"""

    title = "Reward accuracy vs RL success (RoboReward Fig. 3)"

    def trials(self, out: Path) -> list[Trial]:
        from vlmreward_rl.recipes.sweep import parse_spec

        noisy = [make_trial(out, {"task": short(task), "mae": f"{mae:g}"}, seed, replace(
            for_task(self.trainer, task), model="noisy-oracle", model_kwargs={"mae": mae, "seed": seed}, seed=seed))
            for task in self.tasks for mae in self.maes for seed in self.seeds]
        return noisy + [make_trial(out, {"task": short(task), "model": spec}, seed, replace(
            for_task(self.trainer, task), model=name, model_kwargs=kwargs, seed=seed))
            for task in self.tasks for spec, (name, kwargs) in ((s, parse_spec(s)) for s in self.learned)
            for seed in self.seeds]

    def measured_mae(self, out: Path) -> dict[str, float]:
        """``{f"{mae:g}" or learned spec: MAE measured by vlmreward eval}`` on held-out PointReach episodes, or {}."""
        if self.mae_eval_seeds <= 0 or any(t != POINTREACH_ID for t in self.tasks):
            return {}
        from vlmreward_rl.envs.point_reach_demos import generate
        from vlmreward_rl.recipes.sweep import parse_spec
        from vlmreward_gym.evaluation import run_eval

        data = out / f"mae_data_{self.mae_eval_seeds}"
        if not (data / "metadata.json").exists():
            generate(data, seeds=self.mae_eval_seeds, first_seed=5_000, tasks=["reach"])
        keys = [f"{m:g}" for m in self.maes] + list(self.learned)
        models = [("noisy-oracle", {"mae": m, "seed": 0}) for m in self.maes] + [parse_spec(s) for s in self.learned]
        result = run_eval(str(data), models, confusion=False, probes=False)
        return {key: r["metrics"]["mae"] for key, r in zip(keys, result["results"])}

    def report(self, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        measured = self.measured_mae(out)
        learned = [r for r in records if "model" in r["labels"]]
        records = [r for r in records if "mae" in r["labels"]]
        rows, csv_rows, xs, ys, es, names = [], [], [], [], [], []
        for cell in aggregate(records, ("task", "mae")):
            nominal = float(cell["mae"])
            mae = measured.get(cell["mae"], nominal)
            x = MAX_MAE - mae
            xs.append(x), ys.append(cell["mean"]), es.append(cell["se"]), names.append(f"MAE {cell['mae']}")
            rows.append([cell["task"], f"noisy-oracle (MAE {cell['mae']})", num(nominal, 2),
                         num(measured.get(cell["mae"]), 3), num(x, 3), pct(cell["mean"], cell["se"], cell["n"])])
            csv_rows.append({"task": cell["task"], "model": f"noisy-oracle:mae={cell['mae']}", "mae_nominal": nominal,
                             "mae_measured": measured.get(cell["mae"], math.nan), "accuracy": x,
                             "success_mean": cell["mean"], "success_se": cell["se"], "n": cell["n"]})
        r_cells, n_cells = pearson(xs, ys), len(xs)
        per_trial = [(MAX_MAE - measured.get(r["labels"]["mae"], float(r["labels"]["mae"])), metric(r, "success"))
                     for r in records]
        r_trials = pearson(*zip(*per_trial)) if len(per_trial) > 1 else math.nan
        for cell in aggregate(learned, ("task", "model")):
            mae = measured.get(cell["model"], math.nan)
            x = MAX_MAE - mae
            if math.isfinite(x):  # a learned model without a measured MAE has no place on the accuracy axis
                xs.append(x), ys.append(cell["mean"]), es.append(cell["se"]), names.append(cell["model"])
            rows.append([cell["task"], f"{cell['model']} (learned)", "-", num(mae, 3), num(x, 3),
                         pct(cell["mean"], cell["se"], cell["n"])])
            csv_rows.append({"task": cell["task"], "model": cell["model"], "mae_nominal": math.nan,
                             "mae_measured": mae, "accuracy": x, "success_mean": cell["mean"],
                             "success_se": cell["se"], "n": cell["n"]})
        notes = [f"RL: {trainer_name(self.trainer)}, {self.trainer.total_timesteps} env steps, {self.trainer.form} form "
                 f"{self.trainer.reward_kwargs or ''}; success = the final evaluation's success rate.",
                 f"Accuracy = {MAX_MAE:g} - MAE (the largest possible MAE on the 1-5 scale minus the model's), MAE "
                 + ("measured by `vlmreward eval` on held-out PointReach episodes." if measured else "nominal."),
                 f"**Pearson r (accuracy, success) = {num(r_cells, 2)}** over the {n_cells} noisy-oracle cells "
                 f"({num(r_trials, 2)} over the {len(per_trial)} runs). RoboReward Fig. 3: r = 0.83 (DSRL on "
                 "Robomimic Lift / Can / Square, reward-model checkpoints of different accuracy)."]
        if learned:
            notes.append("Learned models (rows marked learned) are trained and measured the same way, plotted as "
                         "squares, and left out of r and of the fitted line.")
        write_table(out, "results", self.title, ["task", "reward model", "MAE (nominal)", "MAE (measured)",
                                                 "accuracy (4 - MAE)", "success % (mean ± s.e.)"], rows, csv_rows,
                    notes)
        scatter_fit(out / "results.png", xs, ys, es, names, "reward accuracy (4 - MAE on the 1-5 scale)",
                    "RL success rate", f"{self.title}: r = {num(r_cells, 2)}", n_fit=n_cells)
        return {"pearson_r": r_cells, "pearson_r_runs": r_trials, "measured_mae": measured,
                "cells": [{k: v for k, v in c.items()} for c in csv_rows]}


# -- LRM Table VII: success-filtered BC ------------------------------------------------------------

_FBC_POINTREACH = filtered_bc.Args(env_id=POINTREACH_ID, instruction=task(POINTREACH_ID).instruction, kinds=("noisy",),
                                   rounds=3, rollouts=50, eval_episodes=100, bc=BCTraining(steps=1_000))


@dataclass(frozen=True)
class Judge:
    """A filter: the reward model that judges episodes, and its threshold (None: the base run's)."""

    label: str
    model: str = "oracle"
    model_kwargs: Kwargs = field(default_factory=dict)
    threshold: float | None = None


@dataclass(frozen=True)
class FilteredBC(Study):
    """LRM Table VII: success rate before and after success-filtered BC, per judge, with the filter's
    precision and recall against the simulator."""

    base: filtered_bc.Args = _FBC_POINTREACH
    """the filtered-BC run (demos: PointReach's are made under <out>/demos when empty)"""
    judges: tuple[Judge, ...] = (
        Judge("oracle", "oracle"), Judge("noisy-oracle MAE 0.5", "noisy-oracle", {"mae": 0.5}),
        Judge("noisy-oracle MAE 1.0", "noisy-oracle", {"mae": 1.0}),
        Judge("no filter (keep all)", "zero", threshold=0.0), Judge("zero (keep none)", "zero"))
    seeds: tuple[int, ...] = (0, 1)

    title = "Success-filtered BC (LRM Table VII)"

    def trials(self, out: Path) -> list[Trial]:
        base = self.base if self.base.demos else replace(self.base, demos=str(out / "demos"))
        return [make_trial(out, {"judge": j.label}, seed, replace(
            base, model=j.model, model_kwargs=dict(j.model_kwargs), seed=seed,
            threshold=base.threshold if j.threshold is None else j.threshold))
            for j in self.judges for seed in self.seeds]

    def report(self, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        rows, csv_rows, before_s, after_s = [], [], ([], []), ([], [])
        for judge in self.judges:
            runs = _of(records, judge=judge.label)
            cell = {k: mean_se(metric(r, k) for r in runs) for k in ("precision", "recall", "success_before",
                                                                     "success_after")}
            change = mean_se(metric(r, "success_after") - metric(r, "success_before") for r in runs)
            kept = sum(sum(x["kept"] for x in r["metrics"]["rounds"]) for r in runs)
            rolled = sum(sum(x["rollouts"] for x in r["metrics"]["rounds"]) for r in runs)
            rows.append([judge.label, num(cell["precision"][0], 2), num(cell["recall"][0], 2), f"{kept} / {rolled}",
                         pct(*cell["success_before"][:2]), pct(*cell["success_after"][:2]),
                         f"{100 * change[0]:+.1f}" if math.isfinite(change[0]) else "n/a", str(len(runs))])
            csv_rows.append({"judge": judge.label, "model": judge.model, **{f"{k}_{s}": v[i] for k, v in cell.items()
                             for i, s in enumerate(("mean", "se"))}, "change_mean": change[0], "change_se": change[1],
                             "kept": kept, "rollouts": rolled, "n": len(runs)})
            for (means, ses), key in zip((before_s, after_s), ("success_before", "success_after")):
                means.append(cell[key][0]), ses.append(cell[key][1])
        rows.append(["LRM r_comp (paper: real robot, π0.5 SFT, 60 rollouts)", "-", "-", "-", "38.3", "51.7", "+13.4",
                     "-"])
        b = self.base
        notes = [f"Per run: a diffusion policy cloned from the demos ({b.bc.steps} BC steps), then {b.rounds} rounds of "
                 f"{b.rollouts} rollouts judged by the model's {b.form} {'score' if b.form == 'episodic' else 'success'}"
                 f" (kept if >= {b.threshold}), added to the data, retrained from scratch. Success on {b.eval_episodes} "
                 "held-out starts; precision / recall of the filter against the simulator's success over all rounds "
                 "(mean over seeds)."]
        write_table(out, "results", self.title, ["judge", "precision", "recall", "kept / rollouts", "success before %",
                                                 "success after %", "change (points)", "seeds"], rows, csv_rows, notes)
        bar_plot(out / "results.png", [j.label for j in self.judges],
                 {"before": before_s, "after filtered BC": after_s}, "success rate", self.title)
        return {"cells": csv_rows}


# -- LRM Tables III-IV: PPO with each reward -----------------------------------------------------

_LRM_CPU_ARMS = (
    RewardSpec("+ Temporal Contrastive Reward", "noisy-oracle", NOISY, "contrastive", paper=0.6031),
    RewardSpec("+ Absolute Progress Reward", "noisy-oracle", NOISY, "dense", paper=0.6000),
    RewardSpec("+ Task Completion Reward", "noisy-oracle", NOISY, "episodic",
               {"scale": "binary", "binary_threshold": 4.5}, paper=0.6093),
    RewardSpec("+ RoboReward-style episodic 1-5", "noisy-oracle", NOISY, "episodic", {"scale": "unit"}, paper=0.5906),
    RewardSpec("+ Robometer-style dense progress", "noisy-oracle", NOISY, "dense", {"relative": True}, paper=0.5656),
    RewardSpec("+ Env Reward", "oracle", train_on_env_reward=True, paper=0.6687),
)
_LRM_FULL_ARMS = (
    RewardSpec("+ Temporal Contrastive Reward", "lrm-contrastive", {"device": "cuda:0"}, "contrastive", paper=0.6031),
    RewardSpec("+ Absolute Progress Reward", "lrm-progress", {"device": "cuda:0"}, "dense", paper=0.6000),
    RewardSpec("+ Task Completion Reward", "lrm-completion", {"device": "cuda:0"}, "episodic", {"scale": "binary"},
               paper=0.6093),
    RewardSpec("+ RoboReward-8B", "roboreward-8b", {"device": "cuda:0"}, "episodic", {"scale": "unit"}, paper=0.5906),
    RewardSpec("+ Robometer-4B", "robometer-4b", {"device": "cuda:0"}, "dense", {"relative": True}, paper=0.5656),
    RewardSpec("+ Env Reward", "oracle", train_on_env_reward=True, paper=0.6687),
)


@dataclass(frozen=True)
class LRMTable(Study):
    """LRM Tables III-IV: the policy before RL and after PPO with each reward, the simulator's reward last."""

    trainer: ppo_gae.Args = _PPO_POINTREACH
    arms: tuple[RewardSpec, ...] = _LRM_CPU_ARMS
    initial_policy: bool = True
    """add the "before RL" row (PPO starts from an untrained policy here, not from the paper's π0.5 SFT)"""
    paper_base: float = 0.5688

    title = "PPO with learned rewards (LRM Tables III-IV)"

    def trials(self, out: Path) -> list[Trial]:
        trials = before_rl(out, {"reward": "policy before RL"}, self.trainer, self.seeds) if self.initial_policy else []
        return trials + [make_trial(out, {"reward": arm.label}, seed, replace(arm.apply(self.trainer), seed=seed))
                         for arm in self.arms for seed in self.seeds]

    def report(self, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        specs = {a.label: a for a in self.arms}
        rows, csv_rows = [], []
        cells = aggregate(records, ("reward",))
        for cell in cells:
            arm = specs.get(cell["reward"])
            paper = self.paper_base if arm is None else arm.paper
            reward = "-" if arm is None else (f"{model_label(arm.model, arm.model_kwargs)}, {arm.form} "
                                              f"{arm.reward_kwargs or ''}" + (" (trains on env reward)"
                                                                              if arm.train_on_env_reward else ""))
            rows.append([cell["reward"], reward, pct(cell["mean"], cell["se"], cell["n"]),
                         pct(paper) if paper is not None else "-"])
            csv_rows.append({"row": cell["reward"], "setting": reward, "success_mean": cell["mean"],
                             "success_se": cell["se"], "n": cell["n"], "paper": paper})
        t = self.trainer
        notes = [f"PPO on {t.env_id}, {t.total_timesteps} env steps per run; success = final evaluation over "
                 f"{t.eval_episodes} episodes (deterministic policy). Paper: π0.5 SFT on ManiSkill3, 30 RL iterations, "
                 "320 parallel envs (Table III; RoboReward-8B / Robometer-4B rows from Table IV)."]
        write_table(out, "results", self.title, ["row", "reward (model, form, options)", "success % (mean ± s.e.)",
                                                 "paper %"], rows, csv_rows, notes)
        bar_plot(out / "results.png", [c["reward"] for c in cells],
                 {"ours": ([c["mean"] for c in cells], [c["se"] for c in cells])}, "success rate", self.title)
        return {"cells": csv_rows}


# -- RoboReward Fig. 2: reward types with DSRL ---------------------------------------------------

# dsrl-pointreach cut to 3000 env steps (about 3 minutes a run here), with the paper's discount (0.99 a chunk) and
# starting temperature (1.0) the studies' tables were measured with: the preset's 0.9 suits its potential-based dense
# reward, but would discount an episodic reward paid at the end of a 40-chunk episode to ~1 % at its start
_DSRL_POINTREACH = replace(dsrl_recipe.PRESETS["dsrl-pointreach"][1], total_timesteps=3_000, learning_starts=500,
                           eval_every=1_000, eval_episodes=20, gamma=0.99, init_temperature=1.0)
_LIFT_FULL = dsrl_recipe.PRESETS["dsrl-lift"][1]
_REWARD_TYPES = (
    RewardSpec("ground-truth binary success", "oracle", {}, "episodic", {"scale": "binary"}),
    RewardSpec("binary success", "noisy-oracle", NOISY, "episodic", {"scale": "binary", "binary_threshold": 4.5}),
    RewardSpec("continuous progress", "noisy-oracle", NOISY, "dense", {"every": None, "fill": "zero"},
               bootstrap_timeouts=False),
    RewardSpec("discrete progress (1-5)", "noisy-oracle", NOISY, "episodic", {"scale": "unit"}),
)


@dataclass(frozen=True)
class RewardTypes(Study):
    """RoboReward Fig. 2: DSRL with binary success, continuous progress and discrete 1-5 progress rewards,
    each paid once at the episode's end, against the ground-truth binary success."""

    trainer: Trainer = _DSRL_POINTREACH
    tasks: tuple[str, ...] = (POINTREACH_ID,)
    arms: tuple[RewardSpec, ...] = _REWARD_TYPES

    title = "Reward types (RoboReward Fig. 2)"

    def trials(self, out: Path) -> list[Trial]:
        return [make_trial(out, {"task": short(task), "reward": arm.label}, seed,
                           replace(arm.apply(for_task(self.trainer, task)), seed=seed))
                for task in self.tasks for arm in self.arms for seed in self.seeds]

    def report(self, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        rows, csv_rows = [], []
        for task in map(short, self.tasks):
            for arm in self.arms:
                runs = _of(records, task=task, reward=arm.label)
                final = mean_se(metric(r, "success") for r in runs)
                auc = mean_se(float(np.mean([v for _, v in r["metrics"]["history"]])) for r in runs
                              if r["metrics"]["history"])
                before = mean_se(metric(r, "success_before") for r in runs)
                rows.append([task, arm.label, f"{model_label(arm.model, arm.model_kwargs)}, {arm.form}",
                             pct(*before[:2]), pct(*final), pct(*auc[:2])])
                csv_rows.append({"task": task, "reward": arm.label, "model": arm.model, "form": arm.form,
                                 "success_before_mean": before[0], "success_mean": final[0], "success_se": final[1],
                                 "n": final[2], "mean_eval_success": auc[0], "mean_eval_success_se": auc[1]})
        t = self.trainer
        every = f"{t.eval_every_steps} steps"
        notes = [f"{trainer_name(t)}, {t.total_timesteps} env steps per run, evaluations every {every} "
                 f"({t.eval_episodes} episodes). 'mean over training' averages the evaluations: higher = faster "
                 "learning. Paper (Fig. 2, curves only): both progress rewards learn nearly as fast as ground truth, "
                 "binary success clearly slower; continuous and discrete progress are alike."]
        write_table(out, "results", self.title, ["task", "reward type", "model, form", "base policy %",
                                                 "final success %", "mean over training %"], rows, csv_rows, notes)
        panels = {task: {arm.label: [r["metrics"]["history"] for r in _of(records, task=task, reward=arm.label)]
                         for arm in self.arms} for task in map(short, self.tasks)}
        curves(out / "results.png", panels, "success rate (evaluation)")
        return {"cells": csv_rows}


# -- Robometer: DSRL single-stage and multi-stage ------------------------------------------------

# potential-based: an absolute progress reward makes ending the episode (on detected success) cost its future rewards
_SINGLE = {"relative": True, "terminate_on_success": True}
# the same for stage-gated rewards: an absolute stage reward pays a plateau every step a stage lasts
_MULTI = {"relative": True}


@dataclass(frozen=True)
class RobometerStages(Study):
    """Robometer's DSRL runs: single-stage (dense progress, success detected by the model ends the
    episode) and multi-stage (stage-gated sub-tasks advanced by detected success)."""

    trainer: Trainer = _DSRL_POINTREACH
    single_stage: tuple[RewardSpec, ...] = (
        RewardSpec("RoboReward-style (noisy-oracle MAE 1.0)", "noisy-oracle", {"mae": 1.0}, "dense", _SINGLE,
                   paper=0.55),
        RewardSpec("Robometer-style (oracle)", "oracle", {}, "dense", _SINGLE, paper=0.85))
    multi_stage: tuple[RewardSpec, ...] = (
        RewardSpec("RoboReward-style (noisy-oracle MAE 1.0)", "noisy-oracle", {"mae": 1.0}, "stage_gated", _MULTI,
                   paper=0.20),
        RewardSpec("Robometer-style (oracle)", "oracle", {}, "stage_gated", _MULTI, paper=0.70))
    stages: tuple[str, ...] = ()
    """sub-task instructions of the multi-stage runs (empty: the task's defaults)"""
    paper_base: float = 0.20

    title = "Single- and multi-stage learned rewards (Robometer DSRL + pi0 runs)"

    def trials(self, out: Path) -> list[Trial]:
        stages = stages_for(self.trainer.env_id, self.stages)
        base = before_rl(out, {"setting": "before RL", "reward": "initial policy"}, self.trainer, self.seeds)
        return base + [make_trial(out, {"setting": "single-stage", "reward": a.label}, seed,
                           replace(a.apply(self.trainer), seed=seed)) for a in self.single_stage for seed in self.seeds] \
            + [make_trial(out, {"setting": "multi-stage", "reward": a.label}, seed,
                          replace(a.apply(self.trainer, stages=stages), seed=seed))
               for a in self.multi_stage for seed in self.seeds]

    def report(self, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
        settings = {"single-stage": self.single_stage, "multi-stage": self.multi_stage}
        labels = list(dict.fromkeys(a.label for arms in settings.values() for a in arms))
        table: dict[str, dict[str, tuple[float, float, int]]] = {"base policy (before RL)": {}}
        paper: dict[str, dict[str, float | None]] = {"base policy (before RL)": {s: self.paper_base for s in settings}}
        initial = _of(records, setting="before RL")  # PPO's untrained policy; DSRL runs measure their base policy
        for setting, arms in settings.items():
            table["base policy (before RL)"][setting] = mean_se(
                metric(r, "success") for r in initial) if initial else mean_se(
                metric(r, "success_before") for r in _of(records, setting=setting))
            for arm in arms:
                table.setdefault(arm.label, {})[setting] = mean_se(
                    metric(r, "success") for r in _of(records, setting=setting, reward=arm.label))
                paper.setdefault(arm.label, {})[setting] = arm.paper
        rows, csv_rows = [], []
        for label in ["base policy (before RL)"] + labels:
            cells = table.get(label, {})
            row = [label]
            for setting in settings:
                value = cells.get(setting, (math.nan, math.nan, 0))
                p = paper.get(label, {}).get(setting)
                row += [pct(*value), "-" if p is None else pct(p)]
                csv_rows.append({"row": label, "setting": setting, "success_mean": value[0], "success_se": value[1],
                                 "n": value[2], "paper": p})
            rows.append(row)
        t = self.trainer
        notes = [f"{trainer_name(t)} on {t.env_id}, {t.total_timesteps} env steps per run; success = final "
                 f"evaluation ({t.eval_episodes} episodes). Multi-stage sub-tasks: {stages_for(t.env_id, self.stages)}. "
                 "Paper: DSRL + π0 on a real robot (RoboReward vs Robometer-4B as the reward model)."]
        write_table(out, "results", self.title, ["row", "single-stage success %", "paper", "multi-stage success %",
                                                 "paper"], rows, csv_rows, notes)
        names = ["base policy (before RL)"] + labels
        bar_plot(out / "results.png", names, {s: ([table.get(n, {}).get(s, (math.nan,))[0] for n in names],
                                                  [table.get(n, {}).get(s, (0, math.nan))[1] for n in names])
                                              for s in settings}, "success rate", self.title)
        return {"cells": csv_rows}


# -- the presets ---------------------------------------------------------------------------------

_ROBOMIMIC = ("vlmreward/Lift-v1", "vlmreward/Can-v1", "vlmreward/Square-v1")
_SQUARE_FULL = for_task(replace(_LIFT_FULL, utd=20, gamma=0.999), "vlmreward/Square-v1")  # Table 6's Square
_PICKCUBE_FULL = replace(ppo_recipe.PRESETS["pickcube"][1], total_timesteps=2_000_000, num_envs=16)

STUDIES: dict[str, tuple[str, Study]] = {
    "reward-accuracy": ("RoboReward Fig. 3 at CPU size: PPO on PointReach with the noisy-oracle at 7 MAEs x 3 seeds "
                        "(dense potential-based reward), Pearson r of accuracy and success (~20 min).",
                        RewardAccuracy()),
    "reward-accuracy-full": ("RoboReward Fig. 3 at the paper's size: DSRL-NA on Robomimic Lift / Can / Square with "
                             "episodic discrete 1-5 progress rewards of several MAEs (GPU-sized).",
                             RewardAccuracy(trainer=replace(_LIFT_FULL, form="episodic",
                                                            reward_kwargs={"scale": "unit"}),
                                            tasks=_ROBOMIMIC, maes=(0.0, 0.5, 1.0, 1.5, 2.0), mae_eval_seeds=0)),
    "filtered-bc": ("LRM Table VII at CPU size: success-filtered BC on PointReach judged by oracle, noisy-oracle "
                    "and the keep-all / keep-none controls x 2 seeds (~16 min).", FilteredBC()),
    "filtered-bc-full": ("LRM Table VII with a learned judge on ManiSkill PickCube (lrm-completion on a GPU; "
                         "demos from `vlmreward demos --env PickCube-v1 -n 100 --out data/pickcube`).",
                         FilteredBC(base=replace(_FBC_POINTREACH, env_id="vlmreward/PickCube-v1",
                                                 instruction=task("vlmreward/PickCube-v1").instruction,
                                                 demos="data/pickcube", kinds=("expert",), rounds=3, rollouts=60,
                                                 eval_episodes=100, bc=BCTraining(steps=20_000)),
                                    judges=(Judge("lrm-completion", "lrm-completion", {"device": "cuda:0"}),
                                            Judge("robometer-4b", "robometer-4b", {"device": "cuda:0"}),
                                            Judge("oracle", "oracle"),
                                            Judge("no filter (keep all)", "zero", threshold=0.0)),
                                    seeds=(0, 1, 2))),
    "lrm-maniskill": ("LRM Tables III-IV at CPU size: PPO on PointReach with contrastive, progress, completion, "
                      "episodic 1-5 and dense-progress rewards (noisy-oracle MAE 0.5) and the env reward (~9 min).",
                      LRMTable()),
    "lrm-maniskill-full": ("LRM Tables III-IV on ManiSkill3 PickCube with the LRM, RoboReward and Robometer models "
                           "(GPU; set each model's path with --arms.N.model-kwargs path=DIR).",
                           LRMTable(trainer=_PICKCUBE_FULL, arms=_LRM_FULL_ARMS, seeds=(0, 1, 2))),
    "reward-types": ("RoboReward Fig. 2 at CPU size: DSRL-NA on PointReach with ground-truth binary, binary, "
                     "continuous and discrete progress episodic rewards, 3000 steps a run (~25 min).", RewardTypes()),
    "reward-types-ppo": ("RoboReward Fig. 2's reward types with PPO on PointReach (16k steps a run, ~5 min).",
                         RewardTypes(trainer=_PPO_POINTREACH)),
    "reward-types-full": ("RoboReward Fig. 2 at the paper's size: DSRL-NA on Robomimic Lift / Can / Square "
                          "(policies from `vlmreward bc` under runs/bc/<task>).",
                          RewardTypes(trainer=_LIFT_FULL, tasks=_ROBOMIMIC, seeds=(0, 1, 2))),
    "robometer-dsrl": ("Robometer's DSRL single- and multi-stage runs at CPU size on PointReach, 3000 steps a run "
                       "(~20 min).",
                       RobometerStages()),
    "robometer-ppo": ("Robometer's single- and multi-stage settings with PPO on PointReach (~7 min).",
                      RobometerStages(trainer=_PPO_POINTREACH)),
    "robometer-dsrl-full": ("Robometer's DSRL runs on Robomimic Square (multi-stage: its 3 default sub-tasks) with "
                            "roboreward-8b and robometer-4b on a GPU.",
                            RobometerStages(trainer=_SQUARE_FULL,
                                          single_stage=(
                                              RewardSpec("RoboReward-8B", "roboreward-8b", {"device": "cuda:0"},
                                                         "dense", _SINGLE, paper=0.55),
                                              RewardSpec("Robometer-4B", "robometer-4b", {"device": "cuda:0"},
                                                         "dense", _SINGLE, paper=0.85)),
                                          multi_stage=(
                                              RewardSpec("RoboReward-8B", "roboreward-8b", {"device": "cuda:0"},
                                                         "stage_gated", _MULTI, paper=0.20),
                                              RewardSpec("Robometer-4B", "robometer-4b", {"device": "cuda:0"},
                                                         "stage_gated", _MULTI, paper=0.70)),
                                          stages=(), seeds=(0, 1, 2))),
}
