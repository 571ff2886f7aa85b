"""`vlmreward train`: presets parse, the pointreach preset learns and writes its report and plot."""

import json

import pytest

import vlmreward_rl.recipes.train as train
from vlmreward_rl.algos.common.logger import json_safe
from vlmreward_rl.algos.ppo_gae import Args
from vlmreward_gym import cli


def test_default_preset_is_the_main_job_with_a_shipped_learned_reward_model():
    from vlmreward_gym.models import sim_rm
    from vlmreward_rl.algos.dsrl import Args as DSRLArgs

    args = train.parse([])
    assert args == train.all_presets()[train.DEFAULT_PRESET][1]
    # DSRL on Robomimic Lift, fine-tuning a base policy with a learned reward model shipped in the package: not
    # the oracle, not the noisy-oracle control
    assert isinstance(args, DSRLArgs) and args.env_id == "vlmreward/Lift-v1" and args.model == "sim-rm-lift-side"
    assert args.model in sim_rm.SHIPPED and args.form == "dense" and args.eval_episodes >= 50
    assert train.parse(["--seed", "7"]).seed == 7  # options without a preset apply to the default
    overridden = train.parse(["pointreach", "--total-timesteps", "1024", "--model-kwargs", "mae", "0.25"])
    assert overridden.total_timesteps == 1024 and overridden.model_kwargs == {"mae": 0.25}
    assert overridden.env_id == "vlmreward/PointReach-v0"
    with pytest.raises(SystemExit):
        train.parse(["no-such-preset"])


def test_help_and_typo_suggestions_cover_every_preset(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "vlmreward train" in out
    assert all(name in out for name in ("pointreach", "dsrl-pointreach-sac", "filtered-bc-pointreach-noisy"))
    with pytest.raises(SystemExit):
        train.parse(["dsrl-pointrech"])
    assert "dsrl-pointreach" in "".join(capsys.readouterr())


def test_cli_dispatches_to_the_recipe(monkeypatch, fake_algorithm):
    monkeypatch.setenv("VLMREWARD_DEBUG", "1")  # the recipe's own exception, not the CLI's one-line error
    seen = []

    def fake_train(args: Args):
        seen.append(args)
        raise RuntimeError("stop here")

    fake_algorithm("ppo", fake_train)
    with pytest.raises(RuntimeError, match="stop here"):
        cli.main(["train", "pointreach", "--seed", "3"])
    assert seen[0].env_id == "vlmreward/PointReach-v0" and seen[0].seed == 3


def test_pointreach_preset_learns_and_reports(tmp_path, capsys):
    summary = train.main(["pointreach", "--run-dir", str(tmp_path), "--no-progress-bar"])
    run = tmp_path / "PointReach-v0__ppo__oracle-dense-relative=true__s1"
    assert summary["env_steps"] == train.PRESETS["pointreach"][1].total_timesteps
    assert summary["eval/success_rate"] >= 0.8  # a random policy: < 0.1 (tests/algos/test_ppo_gae.py)
    assert summary["eval/success_precision"] == 1.0  # the oracle's detected success is the simulator's
    assert summary["eval/progress_delta_pearson"] > 0.9  # potential-based reward tracks progress changes
    assert json.loads((run / "summary.json").read_text()) == json_safe(summary)
    assert (run / "success.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "success rate (evaluation, mean action): " in out and "at any step of it" in out
    # the potential-based reward is measured against progress changes, and says so; not against progress itself
    assert out.count("Pearson r with the step's change in oracle progress (this reward pays changes)") == 2
    assert "with oracle progress" not in out
    history = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert history[0]["charts/success_rate"] < 0.5 <= summary["train/success_rate_last"]


def test_summary_json_is_strict_json_with_null_for_missing_numbers(tmp_path, capsys):
    """The zero reward is constant: its correlations are undefined (NaN in memory, null in the file)."""
    summary = train.main(["pointreach", "--model", "zero", "--reward-kwargs", "--total-timesteps", "256",
                          "--eval-episodes", "2", "--run-dir", str(tmp_path), "--no-progress-bar"])
    assert summary["eval/progress_pearson"] != summary["eval/progress_pearson"]  # NaN

    def refuse(constant):
        raise ValueError(f"bare {constant} in summary.json")

    stored = json.loads(next(tmp_path.glob("*/summary.json")).read_text(), parse_constant=refuse)
    assert stored["eval/progress_pearson"] is None and stored["fidelity_pearson"] == "progress_pearson"
    assert "Pearson r with oracle progress n/a" in capsys.readouterr().out


@pytest.mark.robomimic
def test_main_job_runs_end_to_end_on_a_tiny_budget(tmp_path, monkeypatch, capsys):
    """The README's main job (no preset: DSRL on Lift with the shipped sim-rm-lift-side) on a tiny budget: its base
    policy built on first use (here from 1 scripted demo and 20 BC steps), the base policy's and the actor's success on
    the same evaluation starts, the gain, the learned reward's fidelity, and the two plots."""
    pytest.importorskip("robosuite", reason="needs the robomimic extra: bash scripts/install_robomimic.sh .venv")
    from vlmreward_rl.recipes import inputs

    monkeypatch.setitem(inputs.DEFAULT_INPUTS, "vlmreward/Lift-v1", inputs.robomimic_inputs("Lift", 1, bc_steps=20))
    policy = tmp_path / "bc" / "lift"
    summary = train.main(["--policy", str(policy), "--env-kwargs.horizon", "20", "--total-timesteps", "80",
                          "--learning-starts", "40", "--critic-warmup-updates", "2", "--utd", "1", "--hidden", "32",
                          "--noise-critic-updates", "1", "--batch-size", "16", "--eval-episodes", "2",
                          "--log-every", "40", "--run-dir", str(tmp_path / "runs"), "--no-tensorboard",
                          "--no-progress-bar"])
    assert (policy / "model.safetensors").exists() and (tmp_path / "bc" / "lift_demos" / "metadata.json").exists()
    assert summary["env_steps"] == 80 and summary["model"] == "sim-rm-lift-side" and summary["eval_episodes"] == 2
    assert summary["gain_points"] == pytest.approx(100 * (summary["success_after"] - summary["success_before"]))
    assert summary["fidelity/judged_episodes"] > 0 and summary["fidelity_pearson"] == "progress_delta_pearson"
    out = capsys.readouterr().out
    assert "DSRL-NA on vlmreward/Lift-v1 with the sim-rm-lift-side dense reward: 80 env steps" in out
    assert "simulator success on the same 2 evaluation starts: base policy " in out
    assert "the base policy fed w = 0" in out and "reward fidelity (training episodes, per chunk, " in out
    (run,) = (tmp_path / "runs").iterdir()
    for plot in ("success.png", "fidelity.png"):
        assert (run / plot).read_bytes()[:4] == b"\x89PNG"
