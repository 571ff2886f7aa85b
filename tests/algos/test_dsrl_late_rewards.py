"""DSRL with late reward scoring (async / deferred): pending chunks wait in the replay buffer, are
filled with exactly the sync rewards, are never sampled while pending, and a lost reward raises."""

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from vlmreward_rl.algos import dsrl
from vlmreward_rl.algos.common.late_rewards import MissingRewardError
from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.dsrl import Args, ReplayBuffer, train
from vlmreward_rl.algos.ppo_gae import relabel_rollout
from vlmreward_gym.models.control import OracleRewardModel
from vlmreward_gym.wrappers.vector import LearnedRewardVectorWrapper
from vlmreward_gym.wrappers.scoring import Relabel

INSTRUCTION = "move the red dot onto the green dot"


def policy() -> DiffusionPolicy:
    torch.manual_seed(0)
    return DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=4, hidden=16))


def run(tmp_path, scoring, form="dense", **kw):
    reward_kwargs = {"every": 3, "relative": True} if form == "dense" else {}
    args = Args(env_id="vlmreward/PointReach-v0", env_kwargs={"max_episode_steps": 14, "goal_radius": 0.8},
                model="noisy-oracle", model_kwargs={"mae": 0.5}, form=form,
                reward_kwargs={**reward_kwargs, "scoring": scoring}, instruction=INSTRUCTION,
                hidden=32, utd=2, noise_critic_updates=1, batch_size=16, total_timesteps=80, learning_starts=24,
                num_envs=2, eval_episodes=1, eval_every=0, log_every=40, run_dir=str(tmp_path / scoring),
                tensorboard=False, progress_bar=False)
    return train(replace(args, **kw), policy())


@pytest.fixture
def slow_oracle(monkeypatch):
    """The oracle with 2 ms of latency per call, so async answers are still pending when a step returns."""
    predict = OracleRewardModel._predict

    def slow(self, query):
        time.sleep(0.002)
        return predict(self, query)

    monkeypatch.setattr(OracleRewardModel, "_predict", slow)


@pytest.fixture
def sampled(monkeypatch):
    """Every reward batch the replay buffer hands out (checked finite as it is drawn)."""
    batches, sample = [], ReplayBuffer.sample

    def checked(self, batch_size, rng):
        batch = sample(self, batch_size, rng)
        assert np.isfinite(batch["reward"]).all()
        batches.append(batch["reward"])
        return batch

    monkeypatch.setattr(ReplayBuffer, "sample", checked)
    return batches


@pytest.fixture
def pending_seen(monkeypatch):
    """How many chunks entered the replay buffer pending."""
    count, add = [0], ReplayBuffer.add

    def counted(self, obs, noise, chunk, reward, *rest):
        count[0] += bool(np.isnan(reward))
        return add(self, obs, noise, chunk, reward, *rest)

    monkeypatch.setattr(ReplayBuffer, "add", counted)
    return count


def last_window(result) -> dict:
    return [row for row in result.history if "reward/mean" in row][-1]


def assert_same_buffer(late, sync):
    n = sync.buffer.size
    assert late.buffer.size == n and not late.buffer.pending
    for key in ("obs", "noise", "chunk", "reward", "next_obs", "done"):
        np.testing.assert_array_equal(getattr(late.buffer, key)[:n], getattr(sync.buffer, key)[:n], err_msg=key)


@pytest.mark.parametrize("form", ["dense", "episodic"])
def test_deferred_scoring_trains_exactly_like_sync(tmp_path, form, sampled, pending_seen):
    """Deferred rewards are flushed into the pending chunks before every batch of updates: same
    replay rewards, same updates, same logged metrics as the blocking run."""
    sync = run(tmp_path, "sync", form)
    assert pending_seen[0] == 0
    late = run(tmp_path, "deferred", form)
    assert pending_seen[0] > 0 and sampled
    assert_same_buffer(late, sync)
    for late_row, sync_row in zip(late.history, sync.history, strict=True):  # every logged metric but the speed
        for key in sync_row.keys() - {"charts/SPS"}:
            assert late_row[key] == pytest.approx(sync_row[key], rel=1e-6, nan_ok=True), key
    assert np.isfinite(last_window(late)["reward/mean"])


def test_async_rewards_fill_the_replay_buffer_with_the_sync_rewards(tmp_path, slow_oracle, pending_seen):
    """Warm-up only (the base policy's noise comes from the seed), so both runs take the same steps."""
    sync = run(tmp_path, "sync", model="oracle", model_kwargs={}, learning_starts=10_000)
    late = run(tmp_path, "async", model="oracle", model_kwargs={}, learning_starts=10_000)
    assert pending_seen[0] > 0
    assert_same_buffer(late, sync)


def test_async_training_never_samples_a_pending_transition(tmp_path, slow_oracle, sampled, pending_seen):
    result = run(tmp_path, "async", model="oracle", model_kwargs={})
    assert pending_seen[0] > 0 and len(sampled) > 0 and not result.buffer.pending
    assert np.isfinite(result.buffer.reward[:result.buffer.size]).all()
    assert np.isfinite(last_window(result)["reward/mean"])


def test_the_buffer_samples_only_complete_transitions_and_fills_them_with_the_chunk_sum():
    buf = ReplayBuffer(10, obs_dim=1, noise_dim=1, chunk_dim=1)
    pending = {2: [0.5, np.nan], 5: [np.nan, np.nan], 7: [np.nan]}
    for i in range(8):
        rewards = pending.get(i, [float(i)])
        keys = [(0, 1, 10 * i + k) for k in range(len(rewards))]
        assert buf.add([i], [0], [0], sum(rewards), [i], False, rewards, keys) == i
    assert buf.ready == 5 and set(buf.pending) == {2, 5, 7}
    batch = buf.sample(4000, np.random.default_rng(0))
    drawn = batch["obs"][:, 0].astype(int)
    assert set(drawn) == {0, 1, 3, 4, 6} and np.isfinite(batch["reward"]).all()
    assert np.bincount(drawn).max() < 1.2 * 4000 / 5  # uniform over the complete ones

    arrived = {(0, 1, 21): Relabel(0, 1, 21, 2.0), (0, 1, 50): Relabel(0, 1, 50, 1.25)}
    buf.fill(arrived, strict=False)  # slot 2 completes; slot 5 has half its steps; slot 7 none
    assert buf.reward[2] == 2.5 and set(buf.pending) == {5, 7}
    np.testing.assert_array_equal(buf.pending[5][0], [1.25, np.nan])
    buf.fill({(0, 1, 51): Relabel(0, 1, 51, -0.5), (0, 1, 70): Relabel(0, 1, 70, 3.0)}, strict=True)
    assert not buf.pending and buf.reward[5] == 0.75 and buf.reward[7] == 3.0 and buf.ready == 8

    buf.add([8], [0], [0], np.nan, [8], False, [np.nan], [(1, 2, 3)])
    with pytest.raises(MissingRewardError, match="env 1, episode 2, step 3"):
        buf.fill({}, strict=True)


def test_a_pending_slot_is_never_overwritten():
    buf = ReplayBuffer(2, obs_dim=1, noise_dim=1, chunk_dim=1)
    buf.add([0], [0], [0], np.nan, [0], False, [np.nan], [(0, 1, 1)])
    buf.add([1], [0], [0], 1.0, [1], False, [1.0], [(0, 1, 2)])
    with pytest.raises(RuntimeError, match="still pending"):
        buf.add([2], [0], [0], 1.0, [2], False, [1.0], [(0, 1, 3)])


def test_a_late_reward_that_never_arrives_raises(tmp_path, monkeypatch):
    flush = LearnedRewardVectorWrapper.flush
    monkeypatch.setattr(LearnedRewardVectorWrapper, "flush", lambda self: flush(self)[1:])  # loses one reward
    with pytest.raises(MissingRewardError, match="no reward arrived for env 0, episode 1, step 1 "):
        run(tmp_path, "deferred")


def test_ppo_relabelling_uses_the_same_lookup():
    class Envs:
        def flush(self):
            return [Relabel(1, 3, 4, 0.5, {"success": 1.0})]

    rewards, detected = np.array([[1.0, np.nan], [np.nan, 2.0]]), np.zeros((2, 2))
    keys = np.array([[[3, 3], [3, 4]], [[3, 5], [3, 5]]])
    valid = np.array([[True, True], [False, True]])  # the pending (1, 0) belongs to no episode
    assert relabel_rollout(Envs(), rewards, detected, keys, valid) == 1
    assert rewards[0, 1] == 0.5 and detected[0, 1] == 1.0 and np.isnan(rewards[1, 0])
    valid[1, 0] = True
    with pytest.raises(MissingRewardError, match="env 0, episode 3, step 5"):
        relabel_rollout(Envs(), rewards, detected, keys, valid)


def test_evaluation_never_waits_for_late_rewards():
    """A run that scores its training rewards asynchronously evaluates in the bare simulator: no scoring engine,
    so nothing pending (formerly: the evaluation envs were forced to score synchronously)."""
    args = Args(reward_kwargs={"scoring": "async"})
    training, evaluation = dsrl.make_runner(args, policy()), dsrl.make_eval_runner(args, policy())
    assert training.envs.engine.scoring == "async"
    assert not hasattr(evaluation.envs, "engine")
    training.close(), evaluation.close()


def test_the_throughput_benchmark_prints_every_scoring_mode(capsys):
    from vlmreward_rl.algos.bench_dsrl import main

    results = main(["--steps", "8", "--model-ms", "0", "--env-ms", "0"])
    assert set(results) == {"instant", "sync", "async", "deferred"} and all(v > 0 for v in results.values())
    assert "vs sync" in capsys.readouterr().out


def test_the_task_benchmark_uses_the_cpu_lift_presets_settings():
    from vlmreward_rl.algos.bench_dsrl import DEFAULT_ASYNC, cpu_args
    from vlmreward_rl.recipes.dsrl import PRESETS

    preset, bench = PRESETS["dsrl-lift-cpu"][1], cpu_args("Lift")
    for field in ("env_id", "instruction", "model", "form", "reward_kwargs", "env_kwargs", "variant", "hidden", "layers",
                  "utd", "noise_critic_updates", "batch_size", "action_magnitude", "learning_rate",
                  "actor_learning_rate", "init_temperature", "target_entropy", "gamma", "tau", "num_envs"):
        assert getattr(bench, field) == getattr(preset, field), field
    assert DEFAULT_ASYNC == preset.async_env


def test_the_task_benchmark_measures_the_round_size_it_is_asked_for():
    from vlmreward_rl.algos.bench_dsrl import DSRLBenchArgs, task_args
    from vlmreward_rl.recipes.dsrl import PRESETS

    preset = PRESETS["dsrl-lift-cpu"][1]
    default, bigger = task_args(DSRLBenchArgs(task="Lift")), task_args(DSRLBenchArgs(task="Lift", utd=8))
    assert (default.utd, default.noise_critic_updates) == (preset.utd, preset.noise_critic_updates)
    assert (bigger.utd, bigger.noise_critic_updates) == (8, preset.noise_critic_updates) and bigger.utd != preset.utd


def test_the_training_speed_is_measured_after_the_warm_up(tmp_path):
    from vlmreward_rl.algos.bench_dsrl import training_steps_per_second

    args = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
                instruction=INSTRUCTION, hidden=16, utd=1, noise_critic_updates=1, batch_size=8, learning_starts=20)
    assert training_steps_per_second(args, policy(), 100, str(tmp_path)) > 0
