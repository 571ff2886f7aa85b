"""The learned-reward presets of issue 24 (DSRL and filtered BC judged by our sim-rm reward model on Robomimic, and
the main-job candidate lift-sim-rm) end to end on a tiny budget, with a tiny cnn sim-rm checkpoint trained here:
their inputs built on first use, what they print, the summary's fidelity numbers and the plots they write."""

import json
import math
from dataclasses import replace

import pytest

pytest.importorskip("robosuite")
pytest.importorskip("safetensors", reason="needs the 'torch' extra")

from vlmreward_gym.cli import main as cli_main  # noqa: E402
from vlmreward_rl.algos.common.logger import json_safe, read_metrics  # noqa: E402
from vlmreward_rl.envs import robomimic_demos  # noqa: E402
from vlmreward_rl.recipes import dsrl, filtered_bc, inputs, reward_models, train  # noqa: E402

pytestmark = pytest.mark.robomimic
RATES = ("success_precision", "success_recall", "false_success_rate", "detected_rate", "simulator_success_rate")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A sim-rm cnn checkpoint from 3 rendered Lift episodes (2 experts, 1 near miss; 64 px), 3 training steps."""
    root = tmp_path_factory.mktemp("sim_rm")
    robomimic_demos.main(["--env", "Lift", "-n", "2", "--non-expert", "1", "--kinds", "near_miss", "--frame-size", "64",
                          "--frame-stride", "2", "--out", str(root / "data")])
    cli_main(["rm-train", "--data", str(root / "data"), "--out", str(root / "ckpt"), "--encoder", "cnn", "--steps", "3",
              "--pairs", "2", "--num-frames", "6", "--no-progress"])
    return root / "ckpt"


@pytest.fixture
def tiny_inputs(monkeypatch):
    """Base inputs small enough for a test, built on first use as the presets' are: 1 scripted expert demo, 20 BC
    steps."""
    for task in ("Lift", "Can"):
        monkeypatch.setitem(inputs.DEFAULT_INPUTS, f"vlmreward/{task}-v1",
                            inputs.robomimic_inputs(task, 1, bc_steps=20))


def check_fidelity(summary, judged):
    """The summary's fidelity numbers: counts that add up, rates in [0, 1], correlations in [-1, 1] (NaN where
    undefined)."""
    assert summary["fidelity/judged_episodes"] == judged > 0
    assert 0 <= summary["fidelity/false_successes"] <= judged
    for key in RATES:
        value = summary[f"fidelity/{key}"]
        assert math.isnan(value) or 0.0 <= value <= 1.0, key
    assert summary["fidelity/false_success_rate"] == pytest.approx(summary["fidelity/false_successes"] / judged)
    for key in ("progress_pearson", "progress_delta_pearson"):
        value = summary[f"fidelity/{key}"]
        assert math.isnan(value) or -1.0 <= value <= 1.0, key


def only_run(run_dir):
    (path,) = run_dir.iterdir()
    return path


def test_learned_reward_presets_are_their_oracle_runs_with_the_model_and_64_px_frames():
    lift, lift_oracle = dsrl.PRESETS["dsrl-lift-sim-rm"][1], dsrl.PRESETS["dsrl-lift-cpu"][1]
    assert (lift.model, lift.env_kwargs) == ("sim-rm-lift", {"horizon": 100, "frame_size": 64})
    assert lift.reward_kwargs == {"relative": True, "terminate_on_success": True, "success_threshold": 0.5}
    assert replace(lift, model="oracle", env_kwargs={"horizon": 100}, reward_kwargs={"relative": True}) == lift_oracle
    can, can_oracle = dsrl.PRESETS["dsrl-can-sim-rm"][1], dsrl.PRESETS["dsrl-can-sim-rm-oracle"][1]
    assert (can.env_id, can.policy, can.model, can_oracle.model) == ("vlmreward/Can-v1", "runs/bc/can",
                                                                      "sim-rm-robomimic", "oracle")
    assert replace(can_oracle, model=can.model) == can and can.instruction == dsrl.CAN
    fbc = filtered_bc.PRESETS["filtered-bc-lift-sim-rm"][1]
    fbc_oracle = filtered_bc.PRESETS["filtered-bc-lift-sim-rm-oracle"][1]
    assert replace(fbc_oracle, model=fbc.model) == fbc
    # the model's episode score >= 4 of 5: its success call, or an end state at progress >= 0.83
    assert (fbc.form, fbc.judge, fbc.threshold, fbc.policy) == ("episodic", "score", 0.75, lift.policy)
    assert fbc.bc.steps == inputs.DEFAULT_INPUTS["vlmreward/Lift-v1"].bc_steps  # rounds refit as the base was fit
    job, job_oracle = dsrl.PRESETS["lift-sim-rm"][1], dsrl.PRESETS["lift-sim-rm-oracle"][1]
    # the main-job candidate is dsrl-lift-sim-rm on a 20-minute budget with a discount of 0.9 a chunk, evaluated at
    # the end on 50 starts; its twin the oracle
    assert replace(job, total_timesteps=lift.total_timesteps, eval_every=lift.eval_every, gamma=lift.gamma,
                   utd=lift.utd, noise_critic_updates=lift.noise_critic_updates,
                   actor_learning_rate=lift.actor_learning_rate) == lift
    assert job.eval_episodes >= 50 and job.eval_every == 0 and job.total_timesteps == 12_000 and job.gamma == 0.9
    # the learner it was measured with (UTD 8), not dsrl-lift-cpu's faster UTD 2, which gained nothing here
    assert (job.utd, job.noise_critic_updates, job.actor_learning_rate * job.utd) == (8, 3, pytest.approx(1e-4))
    assert replace(job_oracle, model=job.model, env_kwargs=job.env_kwargs, reward_kwargs=job.reward_kwargs) == job
    assert "lift-sim-rm" not in filtered_bc.PRESETS and "lift-sim-rm" in train.all_presets()
    side = dsrl.PRESETS["lift-sim-rm-side"][1]  # the same job, read by the side model from the camera it was trained on
    assert (side.model, side.env_kwargs["camera"]) == ("sim-rm-lift-side", reward_models.recipe("sim-rm-lift-side").camera)
    assert replace(side, model=job.model, env_kwargs=job.env_kwargs, reward_kwargs=job.reward_kwargs) == job
    # only the training's 100 steps end its episodes: neither the simulator's success nor the model's detection
    assert side.env_kwargs["terminate_on_success"] is False and side.reward_kwargs == {"relative": True}
    # the simulator's-reward twin of the main job: the same run but for the reward it learns (and no frames)
    env_twin = dsrl.PRESETS["lift-env-reward"][1]
    assert env_twin.train_on_env_reward and not side.train_on_env_reward
    assert replace(env_twin, model=side.model, env_kwargs=side.env_kwargs, train_on_env_reward=False) == side
    assert env_twin.env_kwargs == {"horizon": 100, "terminate_on_success": False}
    # the alternative that follows the oracle's recipe: dsrl-lift-cpu's learner and budget, read by the side model,
    # its detection (not the simulator's success) ending training episodes
    detect = dsrl.PRESETS["lift-sim-rm-side-detect"][1]
    assert detect.env_kwargs == {**side.env_kwargs, "terminate_on_success": False}
    assert detect.reward_kwargs == {"relative": True, "terminate_on_success": True, "success_threshold": 0.5}
    assert replace(detect, model="oracle", env_kwargs={"horizon": 100}, reward_kwargs={"relative": True}) == lift_oracle


def test_filtered_bc_judged_by_the_oracle_keeps_every_success(tmp_path, tiny_inputs):
    """The oracle twin: its score is 5 on every simulator success, so nothing successful is missed."""
    bc = tmp_path / "bc"
    summary = train.main(["filtered-bc-lift-sim-rm-oracle", "--demos", str(bc / "lift_demos"), "--policy",
                          str(bc / "lift"), "--rounds", "1", "--rollouts", "4", "--num-envs", "2",
                          "--eval-episodes", "2", "--bc.steps", "20", "--env-kwargs", "horizon=40", "frame_size=64",
                          "--run-dir", str(tmp_path / "runs"), "--no-tensorboard", "--no-progress-bar"])
    check_fidelity(summary, judged=4)
    recall = summary["fidelity/success_recall"]
    assert recall == 1.0 or (math.isnan(recall) and summary["fidelity/simulator_success_rate"] == 0.0)


def dsrl_argv(preset, tmp_path, *extra):
    """``preset`` on a tiny budget: 20-step episodes, 120 env steps (40 of the base policy), one update a chunk."""
    return [preset, "--env-kwargs", "horizon=20", "frame_size=64", "--total-timesteps", "120",
            "--learning-starts", "40", "--critic-warmup-updates", "2", "--utd", "1", "--noise-critic-updates", "1",
            "--hidden", "32", "--batch-size", "16", "--eval-every", "0", "--eval-episodes", "2", "--log-every", "40",
            "--run-dir", str(tmp_path / "runs"), "--no-tensorboard", "--no-progress-bar", *extra]


def check_dsrl_run(summary, tmp_path, out):
    run = only_run(tmp_path / "runs")
    windows = [r for r in read_metrics(run / "metrics.jsonl") if "reward/judged_episodes" in r]
    assert len(windows) == 3  # one per 40 env steps
    check_fidelity(summary, judged=sum(r["reward/judged_episodes"] for r in windows))
    assert summary["fidelity_pearson"] == "progress_delta_pearson" and summary["eval_episodes"] == 2
    assert (run / "fidelity.png").read_bytes()[:4] == b"\x89PNG" and (run / "agent.safetensors").exists()
    assert "simulator success on the same 2 evaluation starts: base policy " in out
    assert "reward fidelity (training episodes, per chunk, " in out and "false successes paid " in out


def test_dsrl_lift_sim_rm_builds_its_base_policy_and_reports_the_fidelity(tmp_path, checkpoint, tiny_inputs, capsys):
    policy = tmp_path / "bc" / "lift"
    summary = train.main(dsrl_argv("dsrl-lift-sim-rm", tmp_path, "--model", "sim-rm", "--model-kwargs",
                                   f"path={checkpoint}", "--policy", str(policy)))
    assert (policy / "model.safetensors").exists() and (tmp_path / "bc" / "lift_demos" / "metadata.json").exists()
    out = capsys.readouterr().out
    assert "DSRL-NA on vlmreward/Lift-v1 with the sim-rm dense reward: 120 env steps" in out
    check_dsrl_run(summary, tmp_path, out)


def test_the_main_job_reports_the_base_policy_at_w_0_and_plots_success_and_fidelity(tmp_path, checkpoint,
                                                                                    tiny_inputs, capsys):
    """lift-sim-rm (the main-job candidate) on a tiny budget: its base policy built on first use, the base policy evaluated
    as it is and fed w = 0 (where the actor starts), the fidelity, success.png and fidelity.png."""
    policy = tmp_path / "bc" / "lift"
    summary = train.main(dsrl_argv("lift-sim-rm", tmp_path, "--model", "sim-rm", "--model-kwargs",
                                   f"path={checkpoint}", "--policy", str(policy)))
    assert (policy / "model.safetensors").exists()
    out = capsys.readouterr().out
    check_dsrl_run(summary, tmp_path, out)
    assert 0.0 <= summary["success_before_mean"] <= 1.0
    assert f"the base policy fed w = 0 (where the actor starts; no reward needed to get there): " \
           f"{summary['success_before_mean']:.2f}" in out
    run = only_run(tmp_path / "runs")
    assert (run / "success.png").read_bytes()[:4] == b"\x89PNG" and f"plot: {run / 'success.png'}" in out
    assert json.loads((run / "summary.json").read_text()) == json_safe(summary)


def test_lift_sim_rm_side_reads_the_side_camera_and_only_the_horizon_ends_training_episodes(tmp_path, tiny_inputs,
                                                                                              capsys):
    """lift-sim-rm-side on a tiny budget with its shipped model: frames from lift_side, and every training episode
    runs its whole horizon (neither the simulator's success nor the model's detection ends it)."""
    argv = dsrl_argv("lift-sim-rm-side", tmp_path, "--policy", str(tmp_path / "bc" / "lift"))
    at = argv.index("--env-kwargs")
    argv[at:at + 3] = ["--env-kwargs.horizon", "20"]  # one key: the camera and the endings stay the preset's
    summary = train.main(argv)
    run = only_run(tmp_path / "runs")
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "sim-rm-lift-side" and config["env_kwargs"] == {
        "horizon": 20, "frame_size": 64, "camera": "lift_side", "terminate_on_success": False}
    windows = [r for r in read_metrics(run / "metrics.jsonl") if r.get("charts/episodes")]
    assert windows and all(r["charts/episodic_length"] == 5 for r in windows)  # 20 steps in chunks of 4, every one
    check_dsrl_run(summary, tmp_path, capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["dsrl-can-sim-rm", "dsrl-can-sim-rm-oracle"])
def test_dsrl_can_presets_build_their_base_policy_and_report_the_fidelity(preset, tmp_path, checkpoint, tiny_inputs,
                                                                          capsys):
    model = ["--model", "sim-rm", "--model-kwargs", f"path={checkpoint}"] if preset == "dsrl-can-sim-rm" else []
    summary = train.main(dsrl_argv(preset, tmp_path, "--policy", str(tmp_path / "bc" / "can"), *model))
    assert (tmp_path / "bc" / "can" / "model.safetensors").exists()
    out = capsys.readouterr().out
    check_dsrl_run(summary, tmp_path, out)
    if preset.endswith("-oracle"):  # the oracle's success call is the simulator's
        assert summary["fidelity/false_successes"] == 0
