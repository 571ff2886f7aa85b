"""The study presets: their trial grids, their tables (rows, Pearson r, precision), the run command and resume."""

import csv
import json

import pytest

from vlmreward_rl.algos import dsrl, filtered_bc, ppo_gae
from vlmreward_rl.recipes import trials as T
from vlmreward_rl.recipes.__main__ import main as recipes_main
from vlmreward_rl.recipes.studies import STUDIES, FilteredBC, Judge, RewardAccuracy


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_every_preset_builds_its_grid(tmp_path):
    sizes = {"reward-accuracy": 7 * 3, "reward-accuracy-full": 3 * 5 * 3, "filtered-bc": 5 * 2,
             "filtered-bc-full": 4 * 3, "lrm-maniskill": 2 + 6 * 2, "lrm-maniskill-full": 3 + 6 * 3,
             "reward-types": 4 * 2, "reward-types-ppo": 4 * 2, "reward-types-full": 3 * 4 * 3,
             "robometer-dsrl": 4 * 2, "robometer-ppo": 2 + 4 * 2,
             "robometer-dsrl-full": 4 * 3}
    assert set(STUDIES) == set(sizes)
    grids = {}
    for name, (_, study) in STUDIES.items():
        trials = study.trials(tmp_path / name)
        keys = [t.key for t in trials]
        assert len(trials) == sizes[name] and len(set(keys)) == len(keys), name
        assert all(getattr(t.config, "args", t.config).run_dir.startswith(str(tmp_path / name / "runs")) for t in trials)
        grids[name] = trials
    ra = grids["reward-accuracy"][4]  # the second MAE, seed 1
    assert ra.config.model == "noisy-oracle" and ra.config.model_kwargs == {"mae": 0.25, "seed": 1}
    assert ra.config.reward_kwargs == {"relative": True} and ra.config.seed == 1
    can = [t for t in grids["reward-accuracy-full"] if t.label["task"] == "Can"][0].config
    assert isinstance(can, dsrl.Args) and can.policy == "runs/bc/can" and can.instruction == "put the can in the bin"
    assert can.form == "episodic" and can.reward_kwargs == {"scale": "unit"}
    lrm = {t.label["reward"]: t.config for t in grids["lrm-maniskill"] if t.seed == 0}
    assert isinstance(lrm["policy before RL"], ppo_gae.InitialPolicy)
    assert lrm["+ Env Reward"].train_on_env_reward and lrm["+ Temporal Contrastive Reward"].form == "contrastive"
    multi = [t.config for t in grids["robometer-dsrl-full"] if t.label["setting"] == "multi-stage"][0]
    assert multi.form == "stage_gated" and len(multi.reward_kwargs["stages"]) == 3 and multi.reward_kwargs["relative"]
    fbc = {t.label["judge"]: t.config for t in grids["filtered-bc"]}
    assert fbc["no filter (keep all)"].threshold == 0.0 and fbc["oracle"].threshold == 0.875
    assert fbc["oracle"].demos == str(tmp_path / "filtered-bc" / "demos")


def test_studies_read_instructions_and_stages_from_the_task_registry(tmp_path, monkeypatch):
    from dataclasses import replace

    from vlmreward_rl.envs import tasks
    from vlmreward_rl.recipes.studies import RobometerStages, for_task, stages_for

    ppo = STUDIES["reward-accuracy"][1].trainer
    for record in tasks.all_tasks():
        assert for_task(replace(ppo, env_id="other"), record.env_id).instruction == record.instruction
        assert stages_for(record.env_id, ()) == list(record.stages) and stages_for(record.env_id, ("a",)) == ["a"]
    multi = [t.config for t in RobometerStages(seeds=(0,)).trials(tmp_path) if t.label["setting"] == "multi-stage"]
    assert multi[0].reward_kwargs["stages"] == list(tasks.task("PointReach").stages)
    # a changed record reaches the studies: they hold no copy of their own
    lift = tasks.task("Lift")
    robomimic = next(s for s in tasks.simulators() if s.name == lift.simulator)
    edited = replace(lift, instructions=("raise the cube",), stages=("grip it", "raise it"))
    monkeypatch.setattr(tasks, "_SIMULATORS", tuple(
        replace(s, tasks=tuple(edited if t is lift else t for t in s.tasks)) if s is robomimic else s
        for s in tasks.simulators()))
    assert for_task(ppo, "vlmreward/Lift-v1").instruction == "raise the cube"
    assert stages_for("vlmreward/Lift-v1", ()) == ["grip it", "raise it"]


def test_reward_accuracy_table_and_pearson_r(tmp_path, fake_algorithm):
    # success linear in the MAE on average over the two seeds (+-0.05 each): r over cells is exactly 1
    fake_algorithm("ppo", lambda a: {
        "success": 0.9 - 0.4 * a.model_kwargs["mae"] + (0.05 if a.seed == 0 else -0.05), "history": []})
    summary = RewardAccuracy(maes=(0.0, 1.0, 2.0), seeds=(0, 1), mae_eval_seeds=0).run(tmp_path)
    rows = _csv(tmp_path / "results.csv")
    assert [(r["task"], r["mae_nominal"], r["n"]) for r in rows] == [("PointReach", "0.0", "2"),
                                                                     ("PointReach", "1.0", "2"),
                                                                     ("PointReach", "2.0", "2")]
    assert [float(r["success_mean"]) for r in rows] == pytest.approx([0.9, 0.5, 0.1])
    assert [float(r["accuracy"]) for r in rows] == [4.0, 3.0, 2.0]
    assert float(rows[0]["success_se"]) == pytest.approx(0.05)
    assert summary["pearson_r"] == pytest.approx(1.0) and 0.9 < summary["pearson_r_runs"] < 1.0
    assert "Pearson r (accuracy, success) = 1.00" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_reward_accuracy_places_learned_models_without_changing_r(tmp_path, fake_algorithm):
    # "learned" models: the oracle (measured MAE 0) and a noisy-oracle given as a spec with options
    fake_algorithm("ppo", lambda a: {
        "success": 0.95 if a.model == "oracle" else 0.9 - 0.4 * a.model_kwargs["mae"], "history": []})
    study = RewardAccuracy(maes=(0.0, 2.0), seeds=(0,), mae_eval_seeds=1, learned=("oracle", "noisy-oracle:mae=1.0"))
    trials = study.trials(tmp_path)
    assert [t.label.get("model") for t in trials] == [None, None, "oracle", "noisy-oracle:mae=1.0"]
    assert trials[3].config.model == "noisy-oracle" and trials[3].config.model_kwargs == {"mae": 1.0}
    summary = study.run(tmp_path)
    rows = _csv(tmp_path / "results.csv")
    assert [r["model"] for r in rows] == ["noisy-oracle:mae=0", "noisy-oracle:mae=2", "oracle", "noisy-oracle:mae=1.0"]
    assert float(rows[2]["mae_measured"]) == 0.0 and float(rows[2]["success_mean"]) == pytest.approx(0.95)
    assert float(rows[3]["mae_measured"]) == pytest.approx(1.0, abs=0.3)
    assert summary["pearson_r"] == pytest.approx(1.0)  # the two noisy-oracle cells only
    md = (tmp_path / "results.md").read_text()
    assert "oracle (learned)" in md and "over the 2 noisy-oracle cells" in md


def test_mae_is_measured_offline_on_pointreach(tmp_path):
    measured = RewardAccuracy(maes=(0.0, 2.0), mae_eval_seeds=1).measured_mae(tmp_path)
    assert measured == {"0": 0.0, "2": 2.0}  # MAE 2 always errs by exactly 2


def test_filtered_bc_table_rows(tmp_path, monkeypatch, fake_algorithm):
    def fake(args):
        keep_all = args.threshold == 0.0
        rounds = [{"kept": 10 if keep_all else 4, "rollouts": 10}]
        return {"success_before": 0.2, "success_after": 0.3 if args.model == "oracle" else 0.1,
                "precision": 1.0 if args.model == "oracle" else 0.4, "recall": 0.8, "rounds": rounds,
                "success": 0.3}

    fake_algorithm("filtered-bc", fake)
    study = FilteredBC(judges=(Judge("oracle"), Judge("all", "zero", threshold=0.0)), seeds=(0, 1),
                       base=filtered_bc.Args(demos=str(tmp_path / "d")))
    monkeypatch.setattr(T, "prepare", lambda config: None)
    study.run(tmp_path)
    rows = _csv(tmp_path / "results.csv")
    assert [(r["judge"], r["kept"], r["rollouts"], r["n"]) for r in rows] == [("oracle", "8", "20", "2"),
                                                                              ("all", "20", "20", "2")]
    assert float(rows[0]["change_mean"]) == pytest.approx(0.1) and float(rows[1]["change_mean"]) == pytest.approx(-0.1)
    md = (tmp_path / "results.md").read_text().splitlines()
    assert md[4] == "| oracle | 1.00 | 0.80 | 8 / 20 | 20.0 ± 0.0 | 30.0 ± 0.0 | +10.0 | 2 |"
    assert md[6].startswith("| LRM r_comp (paper") and "38.3 | 51.7" in md[6]


def test_run_command_trains_writes_the_table_and_resumes(tmp_path, fake_algorithm, capsys):
    out = tmp_path / "study"
    argv = ["run", "reward-accuracy", "--maes", "0", "2", "--seeds", "0", "--mae-eval-seeds", "0", "--out", str(out),
            "--trainer.total-timesteps", "512", "--trainer.num-envs", "4", "--trainer.eval-episodes", "4"]
    recipes_main(argv)
    rows = _csv(out / "results.csv")
    assert [r["mae_nominal"] for r in rows] == ["0.0", "2.0"] and all(r["n"] == "1" for r in rows)
    record = json.loads((out / "trials" / "task=PointReach__mae=2__s0.json").read_text())
    assert record["metrics"]["env_steps"] == 512 and 0.0 <= record["metrics"]["success"] <= 1.0
    assert (out / "runs" / "task=PointReach__mae=2__s0").is_dir()

    fake_algorithm("ppo", lambda a: pytest.fail("a finished trial was run again"))
    capsys.readouterr()
    recipes_main(argv)
    assert "2 of 2 trials already finished; running 0" in capsys.readouterr().out
    assert _csv(out / "results.csv") == rows


def test_vlmreward_train_runs_filtered_bc_presets(tmp_path, monkeypatch, fake_algorithm):
    from vlmreward_gym import cli

    seen = []

    def stop(args):
        seen.append(args)
        raise RuntimeError("stop here")

    fake_algorithm("filtered-bc", stop)
    monkeypatch.setenv("VLMREWARD_DEBUG", "1")  # the recipe's own exception, not the CLI's one-line error
    with pytest.raises(RuntimeError, match="stop here"):
        cli.main(["train", "filtered-bc-pointreach-noisy", "--seed", "3", "--demos", str(tmp_path / "demos")])
    assert seen[0].model == "noisy-oracle" and seen[0].seed == 3
    assert (tmp_path / "demos" / "metadata.json").exists()  # PointReach demos are made when missing
