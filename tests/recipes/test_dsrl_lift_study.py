"""The Lift study recipe: demos -> BC -> one DSRL run per reward model -> results table (DSRL stubbed)."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("robosuite")

from vlmreward_rl.algos import dsrl  # noqa: E402
from vlmreward_rl.recipes import dsrl as recipe  # noqa: E402
from vlmreward_rl.recipes import inputs  # noqa: E402


def test_lift_study_builds_the_base_policy_runs_each_model_and_writes_the_table(tmp_path, monkeypatch):
    calls = []

    def fake_train(args):
        calls.append(args)
        args.run_path.mkdir(parents=True)
        gain = 0.5 if args.model == "oracle" else 0.2
        return dsrl.TrainResult(args.run_path, args.total_timesteps, 120.0, {},
                                {"eval/success_rate": 0.1 + gain, "eval_mean/success_rate": gain}, [], None, None)

    monkeypatch.setattr(dsrl, "train", fake_train)
    monkeypatch.setattr(recipe, "base_success", lambda args, policy: 0.1)
    monkeypatch.setattr(recipe, "zero_noise_success", lambda args, policy: 0.3)
    out = tmp_path / "study"
    rows = recipe.main(["lift-study", "--out", str(out), "--demos", "1", "--bc-steps", "5",
                        "--total-timesteps", "300", "--workers", "1"])
    assert [a.model for a in calls] == ["oracle", "noisy-oracle"]
    assert calls[1].model_kwargs == {"mae": 0.5} and calls[0].model_kwargs == {}
    assert not any(a.eval_base for a in calls)  # the base policy is measured once, by the study
    assert [r["success_before"] for r in rows] == [0.1, 0.1]
    assert [r["success_zero_noise"] for r in rows] == [0.3, 0.3]
    assert [r["success_after_mean"] for r in rows] == [0.5, 0.2]
    assert all(Path(a.policy) == out / "bc" and a.total_timesteps == 300 and a.variant == "na" for a in calls)
    assert (out / "bc" / "model.safetensors").exists() and (out / "demos" / "metadata.json").exists()
    assert [r["gain_points"] for r in rows] == [50.0, 20.0]
    assert rows[0]["env_steps"] == 300 and rows[0]["minutes"] == 2.0
    table = (out / "results.md").read_text()
    assert "noisy-oracle (MAE 0.5)" in table and (out / "results.csv").exists()
    summary = json.loads((calls[0].run_path / "summary.json").read_text())
    assert (summary["success_before"], summary["success_after"]) == (0.1, 0.6)


def test_non_expert_demos_are_recorded_and_cloned_with_the_experts(tmp_path):
    policy_dir = recipe.ensure_lift_policy(tmp_path, demos=1, bc_steps=5, non_expert=1)
    counts = json.loads((tmp_path / "demos" / "metadata.json").read_text())["counts"]
    assert {kind: c["total"] for kind, c in counts.items()} == {"expert": 1, "noisy": 1}
    assert json.loads((policy_dir / "bc.json").read_text())["trajectories"] == 2


def test_two_lift_studies_started_together_share_one_base_policy(tmp_path, monkeypatch):
    """The second study to need the demos and base policy waits for neither and reads no half-written folder:
    each builds aside; one rename wins (seen when seeds 1 and 2 were started together)."""
    built = []

    def slow_demos(argv):  # a rival study finishes the same demos while this one is still writing
        out = Path(argv[argv.index("--out") + 1])
        if not built:
            built.append("rival")
            recipe.ensure_lift_policy(tmp_path, demos=1, bc_steps=5)
        return real_demos(argv[:argv.index("--out")] + ["--out", str(out)])

    from vlmreward_rl.envs import robomimic_demos
    real_demos = robomimic_demos.main
    monkeypatch.setattr(robomimic_demos, "main", slow_demos)
    policy_dir = recipe.ensure_lift_policy(tmp_path, demos=1, bc_steps=5)
    assert (policy_dir / "model.safetensors").exists() and (tmp_path / "demos" / "metadata.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch folder left behind


def test_lift_cpu_preset_pays_progress_changes_on_short_episodes():
    args = recipe.PRESETS["dsrl-lift-cpu"][1]
    assert args.reward_kwargs == {"relative": True} and args.env_kwargs == {"horizon": 100}
    assert (args.variant, args.model, args.hidden, args.utd, args.total_timesteps) == ("na", "oracle", 256, 1, 50_000)
    assert (args.noise_critic_updates, args.learning_starts, args.init_temperature) == (1, 2_000, 1e-3)
    # measured at 1e-4 with one actor step a chunk; the actor now steps in each of the UTD gradient steps
    assert args.actor_learning_rate * args.utd == pytest.approx(1e-4) and args.actor_learning_rate < args.learning_rate
    assert recipe.PRESETS["dsrl-lift"][1].reward_kwargs == {"relative": True}
    assert args.async_env and not recipe.PRESETS["dsrl-lift"][1].async_env  # measured faster on two cores (bench_dsrl)


class _RecordingPolicy:
    """A stand-in NoisePolicy: remembers the noise it is given and decodes it to zero actions."""

    noise_shape = action_shape = (4, 2)

    def __init__(self):
        self.noises = []

    def sample(self, obs, noise):
        self.noises.append(np.array(noise))
        return np.zeros(noise.shape, np.float32)


def test_zero_noise_success_feeds_the_policy_zero_noise_on_the_eval_episodes():
    policy = _RecordingPolicy()
    args = dsrl.Args(env_id="vlmreward/PointReach-v0", model="oracle", eval_episodes=2, seed=3)
    rate = recipe.zero_noise_success(args, policy)
    assert rate == 0.0  # zero actions never reach the goal
    assert policy.noises and all(not n.any() for n in policy.noises)


def test_base_success_feeds_the_policy_standard_normal_noise():
    policy = _RecordingPolicy()
    args = dsrl.Args(env_id="vlmreward/PointReach-v0", model="oracle", eval_episodes=2, seed=3)
    assert recipe.base_success(args, policy) == 0.0
    noise = np.concatenate(policy.noises)
    assert np.abs(noise).max() > 1.5  # unclipped N(0, I), not bounded by the action magnitude
    assert abs(noise.std() - 1.0) < 0.2


def test_a_concurrent_builder_of_the_same_folder_wins_and_the_loser_keeps_its_folder(tmp_path):
    target = tmp_path / "bc" / "pointreach"

    def build_while_another_process_finishes_first(out):
        target.mkdir(parents=True)
        (target / "model.safetensors").write_text("the winner's")
        out.mkdir()
        (out / "model.safetensors").write_text("ours")

    inputs.build_atomically(target, build_while_another_process_finishes_first, "model.safetensors")
    assert (target / "model.safetensors").read_text() == "the winner's"
    assert [p.name for p in target.parent.iterdir()] == ["pointreach"]  # the scratch folder is gone


def test_a_half_written_folder_is_not_used(tmp_path):
    target = tmp_path / "pointreach_demos"
    (target / "trajectories").mkdir(parents=True)  # an interrupted run's leftovers, no metadata.json
    with pytest.raises(FileExistsError, match="without metadata.json"):
        inputs.ensure_demos("vlmreward/PointReach-v0", target)


def test_the_pointreach_base_policy_and_its_demos_are_built_in_place(tmp_path):
    path = inputs.ensure_pointreach_policy(tmp_path / "bc" / "pointreach", bc_steps=5)
    assert (path / "model.safetensors").exists() and (tmp_path / "bc" / "pointreach_demos" / "metadata.json").exists()
    assert sorted(p.name for p in (tmp_path / "bc").iterdir()) == ["pointreach", "pointreach_demos"]
