"""Success-filtered BC: the filter's precision / recall, the judged rollouts, and rounds on PointReach."""

import math

import numpy as np
import pytest
import torch

import vlmreward_gym  # noqa: F401  (registers PointReach)
from vlmreward_rl.algos import filtered_bc
from vlmreward_rl.algos.diffusion_policy import BCTraining
from vlmreward_gym.data import load_trajectories
from vlmreward_gym.models.registry import make_reward_model
from vlmreward_rl.recipes.inputs import POINTREACH, pointreach_demos

ENV = "vlmreward/PointReach-v0"


def test_filter_report_scores_kept_episodes_against_simulator_success():
    report = filtered_bc.filter_report(kept=[True, True, False, False, True], success=[True, False, True, False, False])
    assert (report.episodes, report.successes, report.detected, report.hits) == (5, 2, 3, 1)
    assert report.false_successes == 2 and report.false_success_rate == pytest.approx(2 / 5)
    assert report.precision == pytest.approx(1 / 3) and report.recall == pytest.approx(1 / 2)
    assert report.success_rate == pytest.approx(0.4)
    nothing_kept = filtered_bc.filter_report([False, False], [True, False])
    assert math.isnan(nothing_kept.precision) and nothing_kept.recall == 0.0
    no_success = filtered_bc.filter_report([True, False], [False, False])
    assert no_success.precision == 0.0 and math.isnan(no_success.recall)


class Scripted:
    """A stand-in policy: chunks heading for the goal (``good``) or going nowhere useful."""

    chunk_size, act_dim = 4, 2
    noise_shape = action_shape = (4, 2)

    def __init__(self, good):
        self.good = good

    def sample(self, obs, noise=None, generator=None):
        obs = torch.as_tensor(obs)
        toward = torch.clamp((obs[:, 2:] - obs[:, :2]) / (0.1 * self.chunk_size), -1, 1)  # lands on the goal
        step = toward if self.good else -toward  # away from the goal: never succeeds within 50 steps
        return step[:, None].repeat(1, self.chunk_size, 1)


def _envs(policy, n, model, form, model_kwargs=None):
    """``n`` learned-reward PointReach envs set up to judge episodes as filtered BC does."""
    args = filtered_bc.Args(env_id=ENV, model=model, model_kwargs=model_kwargs or {}, form=form, num_envs=n,
                            instruction=POINTREACH)
    return filtered_bc.make_runner(args, policy, args.reward_model())


@pytest.mark.parametrize("form", ["episodic", "dense"])
def test_rollouts_are_recorded_in_seed_order_and_judged_at_their_end(form):
    good, bad = Scripted(True), Scripted(False)
    judge = filtered_bc.judge_fn(form)
    seeds = [11, 12, 13, 14, 15]
    g = torch.Generator().manual_seed(0)
    wins = filtered_bc.rollout(good, _envs(good, 2, "oracle", form), 5, seeds, g, judge, POINTREACH, ENV)
    losses = filtered_bc.rollout(bad, _envs(bad, 3, "oracle", form), 5, seeds, g, judge, POINTREACH, ENV)
    assert [e.trajectory.seed for e in wins] == seeds
    for e in wins:
        t = e.trajectory
        assert t.is_success and t.oracle_progress[-1] == 1.0 and e.judgement == 1.0  # oracle: score 5 / success 1
        assert t.num_steps == len(t.actions) == len(t.obs) - 1 and t.kind == "filtered"
        np.testing.assert_allclose(t.env_rewards[-1], -np.linalg.norm(t.obs[-1, :2] - t.obs[-1, 2:]), atol=1e-6)
    for e in losses:  # time-outs after 50 steps, judged below the threshold
        assert not e.trajectory.is_success and e.trajectory.num_steps == 50 and e.judgement < 0.875
    # the same start states (seeds) whatever the number of envs
    np.testing.assert_array_equal([e.trajectory.obs[0] for e in wins], [e.trajectory.obs[0] for e in losses])


def test_noisy_judge_keeps_exactly_the_episodes_judged_above_threshold():
    good = Scripted(True)  # every episode succeeds; a judge at MAE 1.0 scores 5 - U(0, 2): about half below 4.5
    envs = _envs(good, 2, "noisy-oracle", "episodic", model_kwargs={"mae": 1.0})
    episodes = filtered_bc.rollout(good, envs, 12, list(range(12)), torch.Generator(), filtered_bc.judge_fn("episodic"),
                                   POINTREACH, ENV)
    judgements = np.array([e.judgement for e in episodes])
    assert np.all((judgements >= 0) & (judgements <= 1)) and np.all(judgements < 1.0)  # noisy: never exactly 5
    kept = judgements >= 0.875
    report = filtered_bc.filter_report(kept, [e.trajectory.is_success for e in episodes])
    assert report.successes == 12 and 0 < report.detected < 12  # all succeed; the filter misses some
    assert report.precision == 1.0 and report.recall == pytest.approx(kept.mean())


def test_rounds_on_pointreach_grow_the_data_with_the_kept_rollouts(tmp_path):
    demos = pointreach_demos(tmp_path / "demos", episodes=5)
    args = filtered_bc.Args(env_id=ENV, instruction=POINTREACH, demos=str(demos), kinds=("noisy",), model="oracle",
                            rounds=2, rollouts=12, num_envs=4, eval_episodes=8, run_dir=str(tmp_path / "runs"),
                            tensorboard=False, bc=BCTraining(steps=60, hidden=32, batch_size=64))
    result = filtered_bc.train(args)
    total = 5
    for k, row in enumerate(result.rounds, 1):
        assert row["rollouts"] == 12 and row["kept"] == row["kept_successes"]  # the oracle keeps successes only
        if row["kept"]:
            assert row["precision"] == 1.0 and row["recall"] == 1.0
            kept = load_trajectories(result.run_path / f"round_{k}_kept")
            assert len(kept) == row["kept"] and all(t.is_success and t.kind == "filtered" for t in kept)
        total += row["kept"]
        assert row["bc_trajectories"] == total
        assert (result.run_path / f"policy_{k}" / "model.safetensors").exists()
    assert result.success_after == result.rounds[-1]["eval_success"]
    assert 0.0 <= result.success_before <= 1.0
    assert (result.run_path / "summary.json").exists() and (result.run_path / "policy_0").is_dir()


def test_a_judge_that_keeps_nothing_leaves_the_policy_and_its_success_unchanged(tmp_path):
    demos = pointreach_demos(tmp_path / "demos", episodes=3)
    args = filtered_bc.Args(env_id=ENV, instruction=POINTREACH, demos=str(demos), kinds=("noisy",), model="zero",
                            rounds=1, rollouts=4, num_envs=4, eval_episodes=6, run_dir=str(tmp_path / "runs"),
                            tensorboard=False, bc=BCTraining(steps=20, hidden=16, batch_size=32))
    result = filtered_bc.train(args)
    assert result.rounds[0]["kept"] == 0 and result.rounds[0]["bc_trajectories"] == 3
    assert result.success_after == result.success_before  # same policy, same starts, same evaluation noise
    with pytest.raises(ValueError, match="judges with form"):
        filtered_bc.train(filtered_bc.Args(demos=str(demos), form="contrastive"))
    with pytest.raises(ValueError, match="judge 'progress' needs the form 'dense'"):
        filtered_bc.train(filtered_bc.Args(demos=str(demos), form="episodic", judge="progress"))
    with pytest.raises(ValueError, match="scoring must be 'sync'"):
        filtered_bc.judge_reward_kwargs(filtered_bc.Args(reward_kwargs={"scoring": "async"}))


class Slow(Scripted):
    """Heads for the goal at a twentieth of the speed that lands on it: partway there when the episode times out."""

    def sample(self, obs, noise=None, generator=None):
        return 0.05 * super().sample(obs, noise, generator)


def test_a_progress_judge_keeps_episodes_by_the_models_final_progress():
    """``--judge progress``: the judgement is the model's progress at the episode's last step (the oracle's is the
    simulator's), asked once, whatever its success call; the success threshold is left at the form's default."""
    slow = Slow(True)
    args = filtered_bc.Args(env_id=ENV, model="oracle", form="dense", judge="progress", threshold=0.3, num_envs=2,
                            instruction=POINTREACH)
    assert "success_threshold" not in filtered_bc.judge_reward_kwargs(args)
    episodes = filtered_bc.rollout(slow, filtered_bc.make_runner(args, slow, args.reward_model()), 3, [1, 2, 3],
                                   torch.Generator(), filtered_bc.judge_fn("dense", "progress"), POINTREACH, ENV)
    for e in episodes:  # failed, partway there: a success judge gives 0, the progress judge the final progress
        assert not e.trajectory.is_success and 0.0 < e.trajectory.oracle_progress[-1] < 1.0
        assert e.judgement == pytest.approx(e.trajectory.oracle_progress[-1])


def test_evaluations_run_the_task_as_defined_and_rollouts_keep_the_training_env_options(monkeypatch):
    """The bare-simulator evaluation runner drops training-only env options (terminate_on_success), as DSRL's does;
    the judged rollouts keep them."""
    made = []
    monkeypatch.setattr(filtered_bc, "make_vector_env", lambda env_id, n, **kw: made.append(kw["env_kwargs"]))
    monkeypatch.setattr(filtered_bc, "ChunkRunner", lambda envs, *a: None)
    env_kwargs = {"horizon": 100, "terminate_on_success": False}
    args = filtered_bc.Args(env_id=ENV, env_kwargs=env_kwargs)
    assert args.evaluation_env_kwargs == {"horizon": 100}
    filtered_bc.make_runner(args, None, make_reward_model("oracle")), filtered_bc.make_runner(args, None, None)
    assert made == [env_kwargs, {"horizon": 100}]  # rollouts with it, evaluation without it
