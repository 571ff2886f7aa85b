"""PPO+GAE on PointReach: it learns (dense and sparse last-step rewards, both autoreset modes) and resumes."""

import json

import numpy as np
import pytest
import torch

import vlmreward_rl.algos.ppo_gae as ppo
from vlmreward_rl.algos.common.checkpoint import load_checkpoint
from vlmreward_rl.algos.common.envs import make_vector_env
from vlmreward_rl.algos.common.metrics import RolloutStats, fields_from_vector_info

INSTRUCTION = "move the red dot onto the green dot"


def random_policy_success(episodes: int = 64) -> float:
    envs = make_vector_env("vlmreward/PointReach-v0", 8, model="oracle", form="dense", instruction=INSTRUCTION)
    envs.action_space.seed(0)
    stats, starting = RolloutStats(8), np.zeros(8, bool)
    envs.reset(seed=0)
    while len(stats.episodes) < episodes:
        _, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        stats.add(reward, terminated, truncated, fields_from_vector_info(info, 8), ~starting)
        starting = terminated | truncated
    return stats.summary()["charts/success_rate"]


# The dense, NEXT_STEP case is the `pointreach` preset, tested in tests/recipes/test_train.py.
@pytest.mark.parametrize("model, form, reward_kwargs, on_env_reward", [
    ("oracle", "episodic", {"scale": "unit"}, False),  # the whole reward arrives on the last step
    ("zero", "dense", {}, True),  # the simulator's reward baseline: the learned reward here teaches nothing
])
def test_ppo_learns_pointreach(tmp_path, model, form, reward_kwargs, on_env_reward):
    args = ppo.Args(model=model, form=form, reward_kwargs=reward_kwargs, train_on_env_reward=on_env_reward,
                    autoreset_mode="same_step", instruction=INSTRUCTION, total_timesteps=16384, learning_rate=1e-3,
                    eval_every=0, eval_episodes=16, run_dir=str(tmp_path), tensorboard=False, progress_bar=False)
    result = ppo.train(args)
    baseline = random_policy_success()
    assert baseline < 0.1
    assert result.global_step == 16384
    assert result.eval["eval/success_rate"] >= 0.7, result.eval
    first, last = result.history[0], result.history[-1]
    assert last["charts/success_rate"] >= 0.7 > first["charts/success_rate"] + 0.3
    assert last["charts/episodic_env_return"] > first["charts/episodic_env_return"]
    assert {"losses/value_loss", "losses/approx_kl", "charts/SPS", "reward/mean"} <= set(last)


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    args = ppo.Args(total_timesteps=4 * 8 * 64, num_envs=8, num_steps=64, update_epochs=2, num_minibatches=4,
                    checkpoint_every=1, eval_every=0, eval_episodes=4, run_dir=str(tmp_path), instruction=INSTRUCTION,
                    tensorboard=True, progress_bar=False)
    real_save = ppo.save_checkpoint

    def save_then_crash(path, **state):
        real_save(path, **state)
        if state["iteration"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ppo, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        ppo.train(args)
    with (args.run_path / "metrics.jsonl").open("a") as history:  # logged after the checkpoint, then lost
        history.write(json.dumps({"global_step": 3 * 512}) + "\n")
    monkeypatch.setattr(ppo, "save_checkpoint", real_save)
    saved = load_checkpoint(args.run_path / "checkpoint.pt")
    assert saved["iteration"] == 2 and saved["global_step"] == 2 * 512

    result = ppo.train(ppo.Args(**{**vars(args), "resume": "auto"}))
    assert result.global_step == 4 * 512
    assert [h["global_step"] for h in result.history] == [3 * 512, 4 * 512]  # only the missing iterations ran
    logged = [json.loads(line)["global_step"] for line in (args.run_path / "metrics.jsonl").open()]
    assert logged == [512, 1024, 1536, 2048]
    # Wall time carries on from the checkpoint: the resumed iterations count the interrupted run's minutes.
    assert result.history[0]["charts/minutes"] * 60 > saved["elapsed_s"] > 0
    final = load_checkpoint(args.run_path / "checkpoint.pt")
    # The optimizer and the observation statistics carried on from the checkpoint, not from scratch.
    adam_steps = [s["step"].item() for s in final["optimizer"]["state"].values()]
    assert adam_steps == [4 * 2 * 4] * len(adam_steps)
    assert final["agent"]["obs_norm.count"].item() > saved["agent"]["obs_norm.count"].item() + 512 - 16
    assert not torch.equal(final["agent"]["actor_mean.0.weight"], saved["agent"]["actor_mean.0.weight"])
    assert any(p.name.startswith("events.out.tfevents") for p in args.run_path.iterdir())
    # a fresh (not resumed) run in the same dir starts its history anew
    ppo.train(ppo.Args(**{**vars(args), "total_timesteps": 512}))
    assert [json.loads(line)["global_step"] for line in (args.run_path / "metrics.jsonl").open()] == [512]


def test_run_name_and_bootstrap_default():
    args = ppo.Args(env_id="vlmreward/PickCube-v1", model="noisy-oracle", form="stage_gated", seed=3)
    assert args.run_name == "PickCube-v1__ppo__noisy-oracle-stage-gated__s3"
    assert args.bootstraps_timeouts
    assert not ppo.Args(form="episodic").bootstraps_timeouts
    assert ppo.Args(form="episodic", bootstrap_timeouts=True).bootstraps_timeouts


def test_evaluate_counts_the_same_episodes_in_every_sub_env():
    envs = make_vector_env("vlmreward/PointReach-v0", 4, model="oracle", form="dense", instruction=INSTRUCTION)
    agent = ppo.Agent(4, 2)
    out = ppo.evaluate(agent, envs, episodes=6, seed=0)  # 2 per sub-env: 8 episodes
    assert out["eval/episodes"] == 8
    assert 0.0 <= out["eval/success_rate"] <= out["eval/success_once"] <= 1.0


@pytest.mark.parametrize("scoring", ["async", "deferred"])
def test_late_scoring_trains_exactly_like_sync(tmp_path, scoring):
    """Late rewards are relabelled before GAE: the run is identical to the blocking one."""
    def run(mode):
        args = ppo.Args(model="noisy-oracle", model_kwargs={"mae": 0.5}, form="dense",
                        reward_kwargs={"every": 3, "scoring": mode}, instruction=INSTRUCTION,
                        total_timesteps=2 * 4 * 32, num_envs=4, num_steps=32, update_epochs=2, eval_every=0,
                        eval_episodes=4, run_dir=str(tmp_path / mode), tensorboard=False, progress_bar=False)
        return ppo.train(args)

    sync, late = run("sync"), run(scoring)
    for key in ("charts/episodic_return", "reward/mean", "losses/value_loss", "losses/policy_loss"):
        assert late.history[-1][key] == pytest.approx(sync.history[-1][key], rel=1e-6), key
    assert np.isfinite(late.history[-1]["reward/mean"])
