"""vlmreward_rl.recipes.pickcube_benchmark: run arguments, the threshold crossing, the tables, and one real tiny run."""

import csv
import math
from dataclasses import replace

import pytest

from vlmreward_rl.recipes import pickcube_benchmark as bench


def rows(*evals):
    """metrics.jsonl-like rows: an evaluation every 100 steps with the given success rates, a train row between."""
    out = []
    for i, success in enumerate(evals, 1):
        out.append({"global_step": 100 * i - 50, "charts/minutes": i - 0.5})
        out.append({"global_step": 100 * i, "charts/minutes": float(i), "eval/success_rate": success,
                    "eval/success_once": min(1.0, success + 0.1)})
    return out


def test_summary_reports_the_first_crossing_not_the_best():
    summary = bench.summarize_run(rows(0.0, 0.5, 0.8125, 0.7, 0.9), threshold=0.8)
    assert summary["steps_to_threshold"] == 300 and summary["minutes_to_threshold"] == 3.0
    assert summary["final_success"] == 0.9 and summary["best_success"] == 0.9 and summary["env_steps"] == 500
    never = bench.summarize_run(rows(0.0, 0.5), threshold=0.8)
    assert math.isnan(never["steps_to_threshold"]) and never["final_success_once"] == 0.6
    with pytest.raises(ValueError, match="no evaluation"):
        bench.summarize_run([{"global_step": 1}], 0.8)


def test_run_args_select_the_reward_and_resume(tmp_path):
    args = bench.BenchmarkArgs(out=str(tmp_path), total_timesteps=1234)
    oracle, env = bench.run_args(args, "oracle", 3), bench.run_args(args, "env", 3)
    assert not oracle.train_on_env_reward and env.train_on_env_reward
    assert oracle.model == "oracle" and oracle.env_id == "vlmreward/PickCube-v1" and oracle.bootstrap_terminations
    assert oracle.total_timesteps == 1234 and oracle.resume == "auto" and oracle.seed == 3
    assert oracle.run_path != env.run_path
    with pytest.raises(ValueError, match="unknown reward"):
        bench.run_args(args, "sparse", 1)


@pytest.mark.maniskill
def test_tiny_benchmark_writes_its_tables(tmp_path, monkeypatch):
    pytest.importorskip("mani_skill", reason="needs the maniskill extra: bash scripts/install_maniskill.sh .venv")
    from vlmreward_rl.recipes import train

    description, preset = train.PRESETS["pickcube-bench"]  # a small batch, so 400 steps are 2 iterations
    small = replace(preset, num_envs=2, num_steps=100, eval_every=1, eval_episodes=2, num_eval_envs=1)
    monkeypatch.setitem(train.PRESETS, "pickcube-bench", (description, small))
    result = bench.main(["--out", str(tmp_path), "--rewards", "oracle", "env", "--total-timesteps", "400"])
    assert [(r["reward"], r["env_steps"]) for r in result] == [("oracle", 400), ("env", 400)]
    with (tmp_path / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["reward"] for r in table] == ["oracle", "env"]
    assert 0.0 <= float(table[0]["final_success"]) <= 1.0
    assert (tmp_path / "results.md").read_text().count("\n| ") == 3  # header + 2 runs
    assert (tmp_path / "success.png").read_bytes()[:4] == b"\x89PNG"
