"""Trials: keys, resources, resume (finished trials are skipped, stale ones rerun), failures, aggregation."""

import json
import math
from dataclasses import dataclass

import pytest
import torch

from vlmreward_rl.algos import dsrl, ppo_gae
from vlmreward_rl.algos.common.records import Algorithm
from vlmreward_rl.algos.registry import ALGORITHMS, algorithm_for
from vlmreward_rl.recipes import trials as T
from vlmreward_rl.recipes.report import write_table


def _trial(mae: float, seed: int = 0, **changes) -> T.Trial:
    config = ppo_gae.Args(model="noisy-oracle", model_kwargs={"mae": mae}, seed=seed, **changes)
    return T.Trial((("mae", f"{mae:g}"),), seed, config)


@pytest.fixture
def fake_ppo(fake_algorithm):
    """Replace PPO training by a stub that records its calls and reports success 1 - mae / 2."""
    calls = []

    def run(args):
        calls.append(args)
        if args.model_kwargs.get("mae") == 9:
            raise RuntimeError("boom")
        return {"success": 1.0 - args.model_kwargs["mae"] / 2, "env_steps": args.total_timesteps}

    fake_algorithm("ppo", run)
    return calls


def test_mean_and_standard_error():
    mean, se, n = T.mean_se([0.2, 0.4, 0.9, float("nan"), None])
    assert n == 3 and mean == pytest.approx(0.5)
    assert se == pytest.approx(math.sqrt(((0.3**2 + 0.1**2 + 0.4**2) / 2) / 3))  # sample std (ddof 1) / sqrt(n)
    one = T.mean_se([0.7])
    assert one[0] == 0.7 and math.isnan(one[1]) and one[2] == 1
    assert math.isnan(T.mean_se([])[0])


def test_aggregate_groups_cells_in_first_seen_order():
    records = [{"labels": {"model": m, "form": f}, "metrics": {"success": v}}
               for m, f, v in [("b", "dense", 1.0), ("a", "dense", 0.0), ("b", "dense", 0.5), ("b", "episodic", None)]]
    rows = T.aggregate(records, ("model", "form"))
    assert [(r["model"], r["form"], r["n"]) for r in rows] == [("b", "dense", 2), ("a", "dense", 1), ("b", "episodic", 0)]
    assert rows[0]["mean"] == 0.75 and rows[0]["se"] == pytest.approx(0.25)


def test_keys_hashes_and_resources():
    a, b = _trial(0.5), _trial(0.5, total_timesteps=10)
    assert a.key == "mae=0.5__s0" and a.algo == "ppo"
    assert a.config_hash != b.config_hash  # what the run computes changed
    moved = T.with_run_dir(a.config, "/elsewhere")
    assert T.Trial(a.labels, 0, moved).config_hash == a.config_hash  # where it logs does not count
    assert moved.tensorboard is False and moved.progress_bar is False
    assert T.default_resources(a.config) == T.Resources(1.0, 0.0)
    assert T.default_resources(ppo_gae.Args(vectorization="async", num_envs=4)) == T.Resources(5.0, 0.0)
    assert T.default_resources(dsrl.Args(model="robometer-4b", model_kwargs={"device": "cuda:0"})).gpus == 1.0


def test_finished_trials_are_skipped_and_stale_ones_rerun(tmp_path, fake_ppo):
    trials = [_trial(0.0), _trial(1.0), _trial(1.0, seed=1)]
    records = T.run_trials(trials, tmp_path, log=lambda s: None)
    assert len(fake_ppo) == 3 and [r["metrics"]["success"] for r in records] == [1.0, 0.5, 0.5]
    stored = json.loads((tmp_path / "trials" / "mae=1__s1.json").read_text())
    assert stored["labels"] == {"mae": "1"} and stored["seed"] == 1 and stored["config"]["model_kwargs"] == {"mae": 1.0}

    messages = []
    again = T.run_trials(trials, tmp_path, log=messages.append)
    assert len(fake_ppo) == 3 and again == records  # nothing rerun, the same results
    assert messages[0].startswith("3 of 3 trials already finished; running 0")

    changed = trials[:2] + [_trial(1.0, seed=1, total_timesteps=123)]
    T.run_trials(changed, tmp_path, log=lambda s: None)
    assert len(fake_ppo) == 4 and fake_ppo[-1].total_timesteps == 123  # only the stale one

    with pytest.raises(ValueError, match="unique"):
        T.run_trials([_trial(0.0), _trial(0.0)], tmp_path)


def test_a_truncated_result_file_reruns_that_trial_with_a_warning(tmp_path, fake_ppo):
    trials = [_trial(0.0), _trial(1.0)]
    T.run_trials(trials, tmp_path, log=lambda s: None)
    torn = tmp_path / "trials" / "mae=1__s0.json"
    torn.write_text(torn.read_text()[:40])  # a disk filled up or a copy was cut short
    with pytest.warns(UserWarning, match=rf"trial result {torn} is unreadable .*running the trial again"):
        records = T.run_trials(trials, tmp_path, log=lambda s: None)
    assert [a.model_kwargs["mae"] for a in fake_ppo] == [0.0, 1.0, 1.0]  # only the unreadable one reran
    assert records[1]["metrics"]["success"] == 0.5 and json.loads(torn.read_text())["key"] == "mae=1__s0"


def test_a_failing_trial_is_reported_after_the_others_are_saved(tmp_path, fake_ppo):
    trials = [_trial(9.0), _trial(0.0)]
    with pytest.raises(T.TrialsFailed, match=r"mae=9__s0: RuntimeError: boom"):
        T.run_trials(trials, tmp_path, log=lambda s: None)
    assert (tmp_path / "trials" / "mae=0__s0.json").exists() and not (tmp_path / "trials" / "mae=9__s0.json").exists()
    with pytest.raises(T.TrialsFailed):
        T.run_trials(trials, tmp_path, log=lambda s: None)
    assert [a.model_kwargs["mae"] for a in fake_ppo] == [9.0, 0.0, 9.0]  # the retry reruns only the failure


def test_table_files_hold_the_rows(tmp_path):
    md, csv_path = write_table(tmp_path, "t", "Title", ["a", "b"], [["x", "1.0"], ["y", "n/a"]],
                               [{"a": "x", "b": 1.0}, {"a": "y", "b": float("nan"), "c": 3}], ["a note"])
    assert md.read_text().splitlines()[2:6] == ["| a | b |", "|---|---|", "| x | 1.0 |", "| y | n/a |"]
    assert "a note" in md.read_text()
    assert csv_path.read_text().splitlines() == ["a,b,c", "x,1.0,", "y,,3"]


def test_a_dsrl_trial_records_step_success_pairs_for_the_sampled_actor_and_its_mean(fake_algorithm):
    history = [{"global_step": 0, "base/success_rate": 0.2},
               {"global_step": 100, "eval/success_rate": 0.5, "eval_mean/success_rate": 0.3},
               {"global_step": 200, "eval/success_rate": 0.6, "eval_mean/success_rate": 0.4}]
    fake_algorithm("dsrl", lambda args: dsrl.TrainResult(
        args.run_path, 200, 60.0, {"base/success_rate": 0.2}, history[-1], history, None, None),
        ALGORITHMS["dsrl"].outcome)
    args = dsrl.Args(model="oracle")
    metrics = algorithm_for(args).run(args)
    assert metrics["history"] == [[0, 0.2], [100, 0.5], [200, 0.6]]  # what the studies' curves read
    assert metrics["history_mean"] == [[0, 0.2], [100, 0.3], [200, 0.4]]
    assert (metrics["success"], metrics["success_after_mean"]) == (0.6, 0.4)


def test_the_initial_policy_row_evaluates_the_preset_network(monkeypatch):
    """The "before RL" row of a 3-layer preset with initial log std -0.5 evaluates that network, not a 2-layer one."""
    seen = []
    monkeypatch.setattr(ppo_gae, "evaluate", lambda agent, *a, **kw: seen.append(agent) or {"eval/success_rate": 0.0})
    args = ppo_gae.Args(hidden=16, layers=3, init_logstd=-0.5, num_eval_envs=1, eval_episodes=1)
    ALGORITHMS["initial-policy"].run(ppo_gae.InitialPolicy(args))
    (agent,) = seen
    linear = [m for m in agent.actor_mean if isinstance(m, torch.nn.Linear)]
    assert len(linear) == args.layers + 1 and agent.actor_logstd.detach().eq(-0.5).all()
    envs = ppo_gae.make_envs(args, 1)
    assert agent.state_dict().keys() == ppo_gae.make_agent(args, envs).state_dict().keys()  # what train() builds
    envs.close()


@dataclass(frozen=True)
class CoinArgs:
    """A stand-in new algorithm's arguments: its training reports success ``p``."""

    seed: int = 0
    p: float = 0.5
    run_dir: str = "runs"
    tensorboard: bool = True


def test_a_new_algorithm_runs_as_a_trial_through_its_record_alone(tmp_path, monkeypatch):
    coin = Algorithm("coin", CoinArgs, train=lambda args: args.p, summarize=lambda args, p: {"p": p},
                     outcome=lambda args, p: {"success": p, "seed": args.seed}, title=lambda args: "coin",
                     resources=lambda args: T.Resources(2.0, 0.0))
    monkeypatch.setitem(ALGORITHMS, "coin", coin)
    trial = T.make_trial(tmp_path, {"p": "0.25"}, 1, CoinArgs(p=0.25, seed=1))
    assert trial.config.run_dir == str(tmp_path / "runs" / "p=0.25__s1") and not trial.config.tensorboard
    assert trial.resources == T.Resources(2.0, 0.0) and trial.algo == "coin"
    (record,) = T.run_trials([trial], tmp_path, log=lambda s: None)
    assert record["algo"] == "coin" and record["metrics"] == {"success": 0.25, "seed": 1}
    assert json.loads((tmp_path / "trials" / "p=0.25__s1.json").read_text()) == record
