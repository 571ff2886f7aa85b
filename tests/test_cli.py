import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlmreward_gym import cli
from vlmreward_gym.demo import FORM_OPTIONS, DemoArgs, run_demo

ROOT = Path(__file__).resolve().parents[1]


def test_demo_rows_tell_good_from_random_under_the_oracle():
    rows = {(r["form"], r["policy"]): r for r in run_demo(DemoArgs(model="oracle", episodes=3))}
    assert len(rows) == 8
    for form in ("episodic", "dense", "contrastive", "stage_gated"):
        good, bad = rows[(form, "goal-seeking")], rows[(form, "random")]
        assert good["success_rate"] == 1.0 and bad["success_rate"] == 0.0
        assert good["learned_per_step"] > bad["learned_per_step"]
        assert (good["rank"], bad["rank"]) == (1, 2)


def test_demo_ranks_by_learned_reward_per_step_and_says_so(capsys):
    cli.main(["demo", "--episodes", "2"])  # noisy-oracle: the random policy's longer episodes collect more return
    out = capsys.readouterr().out
    assert "ranked within each form by the learned reward per step" in out
    rows = [line.split() for line in out.splitlines() if line.split()[0] in FORM_OPTIONS]
    assert sorted((row[0], row[1], row[2]) for row in rows) == sorted(
        (form, rank, policy) for form in FORM_OPTIONS for rank, policy in (("1", "goal-seeking"), ("2", "random")))
    assert "ranks the goal-seeking policy first in 4 of 4 forms" in out


def test_cli_demo_models_bench_and_unknown(capsys):
    cli.main(["models"])
    assert "noisy-oracle" in capsys.readouterr().out.split()
    cli.main(["demo", "--episodes", "1"])
    assert "stage_gated" in capsys.readouterr().out
    cli.main(["bench", "--steps", "200", "--repeats", "1"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(lines) == 8 and all(float(cols[-1]) == 0.0 for cols in lines)  # control models render nothing
    for argv, words in ((["frobnicate"], "unknown command 'frobnicate'"), (["demos", "--env", "Nope-v1"], "unknown task")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2 and capsys.readouterr().err.startswith(f"vlmreward: error: ")


def test_console_script_and_quickstart_example_run():
    exe = Path(sys.executable).with_name("vlmreward")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert "vlmreward demo" in out
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().endswith("success: True")


def test_bench_scoring_reports_every_mode(capsys):
    cli.main(["bench", "--scoring", "--model-ms", "2", "--env-ms", "0", "--num-envs", "2"])
    rows = {line.split()[0]: float(line.split()[1]) for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"instant", "sync", "async", "deferred"} and all(v > 0 for v in rows.values())


def test_demos_help_lists_the_tasks_without_asking_for_one(capsys):
    cli.main(["demos", "--help"])
    out = capsys.readouterr().out
    assert "--env TASK" in out and "PickCube" in out and "Lift" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demos"])
    assert exit_info.value.code == 2 and "--env TASK is required" in capsys.readouterr().err


def test_models_verbose_says_what_each_backend_answers_reads_and_loads(capsys, monkeypatch):
    from vlmreward_gym.models.clip import CLIPRewardModel

    monkeypatch.setattr(CLIPRewardModel, "__init__", lambda *a, **k: pytest.fail("models -v built a model"))
    cli.main(["models", "-v"])
    lines = capsys.readouterr().out.splitlines()
    about = {lines[i].split()[0]: lines[i + 1] for i in range(len(lines) - 1) if not lines[i].startswith(" ")}
    assert "answers progress;" in about["clip"] and "needs path=" in about["clip"]
    assert "answers compare; 2 frames per clip" in about["lrm-contrastive"]
    assert "no frames (reads the env's privileged oracle state); loads no weights" in about["noisy-oracle"]
    assert "loads teetone/RoboReward-4B by default" in about["roboreward-4b"]


def test_a_failure_is_one_line_and_the_traceback_is_behind_debug(capsys, monkeypatch, tmp_path):
    argv = ["eval", "--model", "oracle", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"vlmreward: error: {tmp_path / 'missing'}: not a demo dataset") and "--debug" in err
    with pytest.raises(ValueError, match="not a demo dataset"):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("VLMREWARD_DEBUG", "1")
    with pytest.raises(ValueError, match="not a demo dataset"):
        cli.main(argv)


def test_model_kwargs_take_one_syntax_in_train_eval_sweep_and_serve(monkeypatch):
    from vlmreward_rl.recipes.sweep import parse_spec
    from vlmreward_rl.recipes.train import parse
    from vlmreward_gym import evaluation
    from vlmreward_gym.serve import server

    expected = {"mae": 0.5, "seed": 0, "device": "cuda:0"}
    pairs, as_json = ["mae=0.5", "seed=0", "device=cuda:0"], '{"mae": 0.5, "seed": 0, "device": "cuda:0"}'
    assert parse(["pointreach", "--model-kwargs", *pairs]).model_kwargs == expected
    assert parse(["pointreach", "--model-kwargs", as_json]).model_kwargs == expected
    assert parse(["pointreach", "--model-kwargs", "mae", "0.5"]).model_kwargs == {"mae": 0.5}  # the older forms
    assert parse(["pickcube", "--model-kwargs.seed", "3"]).model_kwargs == {"mae": 0.5, "seed": 3}
    # one reward option of a DSRL preset changed, its others kept; the whole-dict form replaces them all
    assert parse(["lift-sim-rm", "--reward-kwargs.success_threshold", "0.1"]).reward_kwargs == {
        "relative": True, "terminate_on_success": True, "success_threshold": 0.1}
    assert parse(["lift-sim-rm", "--reward-kwargs", "success_threshold=0.1"]).reward_kwargs == {"success_threshold": 0.1}
    assert parse_spec("noisy-oracle:" + ":".join(pairs)) == ("noisy-oracle", expected)
    seen = []
    monkeypatch.setattr(evaluation, "run_eval", lambda data, models, *rest: seen.append(models) or {"results": []})
    monkeypatch.setattr(evaluation, "markdown_table", lambda results: "")
    cli.main(["eval", "--data", "d", "--out", "o", "--model", "noisy-oracle", "--model-kwargs", *pairs,
              "--model", "zero", "--model-kwargs", as_json])
    assert seen == [[("noisy-oracle", expected), ("zero", expected)]]
    monkeypatch.setattr(server, "main", seen.append)
    cli.main(["serve", "--model", "noisy-oracle", "--model-kwargs", *pairs, "--port", "9"])
    assert seen[-1][:2] == ["--model", "noisy-oracle"] and seen[-1][4:] == ["--port", "9"]
    assert seen[-1][2] == "--model-kwargs" and json.loads(seen[-1][3]) == expected


def test_bad_model_kwargs_are_a_usage_error_naming_them(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--model", "zero", "--model-kwargs", "mae", "0.5", "seed"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "vlmreward: error: expected key=value pairs, got 'mae 0.5 seed'"


def test_a_reader_that_leaves_early_gets_no_error_message():
    """``vlmreward models -v | head -1`` prints its one line and no 'Broken pipe' error."""
    import subprocess
    import sys

    done = subprocess.run(f"'{sys.executable}' -m vlmreward_gym.cli models -v | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() and "Broken pipe" not in done.stderr and "error" not in done.stderr, done.stderr
