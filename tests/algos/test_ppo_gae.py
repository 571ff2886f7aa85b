"""PPO+GAE on PointReach: it learns (dense and sparse last-step rewards, both autoreset modes) and resumes."""

import json

import numpy as np
import pytest
import torch

import algos.ppo_gae as ppo
from algos.common.checkpoint import load_checkpoint
from algos.common.envs import make_vector_env
from algos.common.metrics import RolloutStats, fields_from_vector_info

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


@pytest.mark.parametrize("form, reward_kwargs, autoreset_mode", [
    ("dense", {"relative": True}, "next_step"),
    ("episodic", {"scale": "unit"}, "same_step"),  # the whole reward arrives on the last step
])
def test_ppo_learns_pointreach(tmp_path, form, reward_kwargs, autoreset_mode):
    args = ppo.Args(form=form, reward_kwargs=reward_kwargs, autoreset_mode=autoreset_mode, instruction=INSTRUCTION,
                    total_timesteps=16384, learning_rate=1e-3, eval_every=0, eval_episodes=16,
                    run_dir=str(tmp_path), tensorboard=False, progress_bar=False)
    result = ppo.train(args)
    baseline = random_policy_success()
    assert baseline < 0.1
    assert result.global_step == 16384
    assert result.eval["eval/success_rate"] >= 0.7, result.eval
    first, last = result.history[0], result.history[-1]
    assert last["charts/success_rate"] >= 0.7 > first["charts/success_rate"] + 0.3
    assert last["charts/episodic_return"] > first["charts/episodic_return"]
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
    monkeypatch.setattr(ppo, "save_checkpoint", real_save)
    saved = load_checkpoint(args.run_path / "checkpoint.pt")
    assert saved["iteration"] == 2 and saved["global_step"] == 2 * 512

    result = ppo.train(ppo.Args(**{**vars(args), "resume": "auto"}))
    assert result.global_step == 4 * 512
    assert [h["global_step"] for h in result.history] == [3 * 512, 4 * 512]  # only the missing iterations ran
    logged = [json.loads(line)["global_step"] for line in (args.run_path / "metrics.jsonl").open()]
    assert logged == [512, 1024, 1536, 2048]
    final = load_checkpoint(args.run_path / "checkpoint.pt")
    # The optimizer and the observation statistics carried on from the checkpoint, not from scratch.
    adam_steps = [s["step"].item() for s in final["optimizer"]["state"].values()]
    assert adam_steps == [4 * 2 * 4] * len(adam_steps)
    assert final["agent"]["obs_norm.count"].item() > saved["agent"]["obs_norm.count"].item() + 512 - 16
    assert not torch.equal(final["agent"]["actor_mean.0.weight"], saved["agent"]["actor_mean.0.weight"])
    assert any(p.name.startswith("events.out.tfevents") for p in args.run_path.iterdir())


def test_run_name_and_bootstrap_default():
    args = ppo.Args(env_id="vlmreward/PickCube-v1", model="noisy-oracle", form="stage_gated", seed=3)
    assert args.run_name == "PickCube-v1__ppo__noisy-oracle-stage-gated__s3"
    assert args.bootstraps_timeouts
    assert not ppo.Args(form="episodic").bootstraps_timeouts
    assert ppo.Args(form="episodic", bootstrap_timeouts=True).bootstraps_timeouts
