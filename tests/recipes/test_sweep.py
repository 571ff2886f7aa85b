"""Sweeps: model / form specs, the grid with its controls, and a tiny sweep on a local Ray instance that resumes."""

import csv
import json

import pytest

from vlmreward_rl.recipes import sweep
from vlmreward_rl.recipes.sweep import SweepArgs, build_trials, parse_spec
from vlmreward_rl.recipes.train import PRESETS


def test_specs_parse_names_and_typed_options():
    assert parse_spec("oracle") == ("oracle", {})
    assert parse_spec("noisy-oracle:mae=0.5:seed=2") == ("noisy-oracle", {"mae": 0.5, "seed": 2})
    assert parse_spec("dense:relative=true:fill=zero") == ("dense", {"relative": True, "fill": "zero"})
    for bad in ("dense:relative", ":x=1", "m:=3"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_grid_always_has_the_controls_and_keeps_or_sets_form_options(tmp_path):
    base = PRESETS["pointreach"][1]  # dense, relative=True
    args = SweepArgs(preset="pointreach", models="noisy-oracle:mae=0.5,oracle",
                     forms="dense,episodic,contrastive:delta=2", seeds="0,1", gpus_per_trial=0.5)
    trials = build_trials(args, base, tmp_path)
    assert len(trials) == 3 * 3 * 2 and len({t.key for t in trials}) == len(trials)
    assert list(dict.fromkeys(t.label["model"] for t in trials)) == ["zero", "noisy-oracle:mae=0.5", "oracle"]
    by = {(t.label["model"], t.label["form"], t.seed): t for t in trials}
    noisy = by["noisy-oracle:mae=0.5", "dense", 1]
    assert noisy.config.model_kwargs == {"mae": 0.5} and noisy.config.seed == 1
    assert noisy.config.reward_kwargs == {"relative": True}  # the preset's options for its own form
    assert by["zero", "episodic", 0].config.reward_kwargs == {"scale": "unit"}
    assert by["oracle", "contrastive:delta=2", 0].config.form == "contrastive"
    assert by["oracle", "contrastive:delta=2", 0].config.reward_kwargs == {"delta": 2}
    assert all(t.resources.gpus == 0.5 and t.resources.cpus == 1.0 for t in trials)
    assert all(t.config.run_dir == str(tmp_path / "runs" / t.key) for t in trials)


@pytest.mark.slow  # starting Ray and its workers alone takes 30-40 s on 2 busy cores; the trials ~5 s
def test_sweep_on_local_ray_writes_the_table_and_resumes(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["--preset", "pointreach", "--seeds", "0", "--num-cpus", "2", "--out", str(out), "--",
            "--total-timesteps", "128", "--num-envs", "2", "--num-steps", "64", "--eval-episodes", "2",
            "--num-eval-envs", "2", "--update-epochs", "1"]
    sweep.main(argv)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["form"], r["n"]) for r in rows] == [("zero", "dense", "1"), ("oracle", "dense", "1")]
    files = sorted((out / "trials").glob("*.json"))
    assert [f.name for f in files] == ["model=oracle__form=dense__s0.json", "model=zero__form=dense__s0.json"]
    assert json.loads(files[0].read_text())["metrics"]["env_steps"] == 128
    stamps = [f.stat().st_mtime_ns for f in files]
    capsys.readouterr()
    sweep.main(argv)
    assert "2 of 2 trials already finished; running 0" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in sorted((out / "trials").glob("*.json"))] == stamps
    assert "| zero |" in (out / "results.md").read_text() and (out / "results.png").exists()
