"""PPO on ManiSkill3 PickCube (state): the oracle dense reward against the simulator's own reward, one budget.

    python -m vlmreward_rl.recipes.pickcube_benchmark                          # both rewards, the benchmark budget
    python -m vlmreward_rl.recipes.pickcube_benchmark --rewards oracle --total-timesteps 300000
    python -m vlmreward_rl.recipes.pickcube_benchmark --seeds 1 2 3 --out runs/bench_pickcube

Each (reward, seed) run is the ``pickcube-bench`` preset of :mod:`vlmreward_rl.recipes.train` (``oracle``: the
learned-reward pipeline with the oracle as the reward model; ``env``: the same run optimising
``info["env_reward"]``, ManiSkill's normalized dense reward). Runs resume from their checkpoint, so
an interrupted benchmark continues where it stopped. The results (``<out>/results.md`` and
``results.csv``, one row per run) give the deterministic policy's evaluation success at the end,
its best, and the env steps and wall minutes at which it first reached ``--threshold``;
``<out>/success.png`` plots evaluation success against env steps for every run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tyro

from vlmreward_rl.algos import ppo_gae
from vlmreward_rl.algos.common.logger import read_metrics
from vlmreward_rl.algos.ppo_gae import Args

REWARDS = ("oracle", "env")


@dataclass(frozen=True)
class BenchmarkArgs:
    out: str = "runs/bench_pickcube"
    """runs and results are written under this folder"""
    rewards: tuple[str, ...] = REWARDS
    """which rewards to train on: oracle (learned-reward pipeline) and/or env (the simulator's)"""
    seeds: tuple[int, ...] = (1,)
    total_timesteps: int | None = None
    """env steps per run (default: the pickcube-bench preset's)"""
    threshold: float = 0.8
    """evaluation success rate the table reports the first crossing of"""


def run_args(bench: BenchmarkArgs, reward: str, seed: int) -> Args:
    """The PPO arguments of one benchmark run (resuming its own checkpoint if it exists)."""
    from vlmreward_rl.recipes.train import PRESETS

    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}; choose from {REWARDS}")
    base = PRESETS["pickcube-bench"][1]
    return replace(base, seed=seed, train_on_env_reward=reward == "env", run_dir=str(Path(bench.out) / reward),
                   resume="auto", total_timesteps=bench.total_timesteps or base.total_timesteps)


def summarize_run(history: list[dict[str, float]], threshold: float) -> dict[str, float]:
    """End, best and first-crossing numbers of one run's ``metrics.jsonl`` rows."""
    evals = [r for r in history if "eval/success_rate" in r]
    if not evals:
        raise ValueError("the run logged no evaluation")
    crossing = next((r for r in evals if r["eval/success_rate"] >= threshold), None)
    nan = float("nan")
    return {"env_steps": history[-1]["global_step"], "minutes": history[-1].get("charts/minutes", nan),
            "final_success": evals[-1]["eval/success_rate"], "final_success_once": evals[-1]["eval/success_once"],
            "best_success": max(r["eval/success_rate"] for r in evals),
            "steps_to_threshold": crossing["global_step"] if crossing else nan,
            "minutes_to_threshold": crossing.get("charts/minutes", nan) if crossing else nan}


def write_results(rows: list[dict[str, Any]], out: Path, threshold: float) -> Path:
    """``results.csv`` and ``results.md`` (one row per run) in ``out``; returns the markdown path."""
    from vlmreward_rl.recipes.report import write_table

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if v != v else (f"{v:.0f}" if v.is_integer() and abs(v) >= 100 else f"{v:.2f}")
        return str(v)

    title = f"PPO on PickCube-v1 (state), evaluation success of the mean action; threshold {threshold}"
    md, _ = write_table(out, "results", title, list(rows[0]), [[cell(v) for v in r.values()] for r in rows], rows,
                        ["final_success: the last evaluation's episodes that succeeded at their last step; "
                         "final_success_once: those that succeeded at any step."])
    return md


def plot(histories: dict[str, list[dict[str, float]]], path: Path, threshold: float) -> Path:
    """Evaluation success vs env steps, one line per run, and the threshold."""
    from vlmreward_rl.recipes.report import curves

    series = {label: [[[r["global_step"], r["eval/success_rate"]] for r in history if "eval/success_rate" in r]]
              for label, history in histories.items()}
    return curves(path, {"PPO on PickCube-v1 (state)": series}, "evaluation success rate", threshold)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    bench = tyro.cli(BenchmarkArgs, args=argv)
    rows, histories = [], {}
    for reward in bench.rewards:
        for seed in bench.seeds:
            args = run_args(bench, reward, seed)
            ppo_gae.train(args)
            history = read_metrics(args.run_path / "metrics.jsonl")
            histories[f"{reward} reward, seed {seed}"] = history
            rows.append({"reward": reward, "seed": seed, **summarize_run(history, bench.threshold)})
    out = Path(bench.out)
    table = write_results(rows, out, bench.threshold)
    plot(histories, out / "success.png", bench.threshold)
    print(table.read_text())
    return rows


if __name__ == "__main__":
    main()
