"""The BC diffusion policy: deterministic DDIM noise -> chunk map, chunking, save/load, the `bc` CLI."""

import json

import numpy as np
import pytest
import torch

from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy, Mish, chunk_dataset, train_bc
from vlmreward_gym.data import Trajectory
from vlmreward_rl.recipes.inputs import pointreach_demos
from vlmreward_gym.cli import main as cli


def _traj(actions: np.ndarray) -> Trajectory:
    T = len(actions)
    return Trajectory(env_id="x", instruction="x", kind="expert", seed=0, obs=np.arange(T + 1)[:, None].repeat(3, 1),
                      actions=actions, env_rewards=np.zeros(T), oracle_progress=np.zeros(T + 1),
                      success=np.zeros(T + 1, bool))


def test_chunks_repeat_the_last_action_past_the_episode_end():
    obs, chunks = chunk_dataset([_traj(np.arange(6, dtype=np.float32).reshape(3, 2))], chunk_size=4)
    assert obs.shape == (3, 3) and chunks.shape == (3, 4, 2)
    np.testing.assert_array_equal(chunks[1, :, 0], [2, 4, 4, 4])
    np.testing.assert_array_equal(chunks[2, :, 1], [5, 5, 5, 5])


def test_fast_mish_is_torch_mish_in_value_and_gradient():
    x = torch.cat([torch.linspace(-60.0, 60.0, 2001), torch.tensor([0.0, 19.99, 20.0, 20.01, 1e4, -1e4])])
    x.requires_grad_(True)
    ours, ref = Mish()(x), torch.nn.functional.mish(x)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    (g_ours,), (g_ref,) = torch.autograd.grad(ours.sum(), x), torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(g_ours).all()


def test_a_checkpoint_with_torch_mish_loads_and_samples_the_same(tmp_path):
    torch.manual_seed(0)
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=3, hidden=32))
    reference = DiffusionPolicy(policy.config)
    for i, module in enumerate(reference.model.net):
        if isinstance(module, Mish):
            reference.model.net[i] = torch.nn.Mish()
    reference.load_state_dict(policy.state_dict())
    obs, noise = torch.randn(5, 4), torch.randn(5, 3, 2)
    torch.testing.assert_close(policy.sample(obs, noise), reference.sample(obs, noise), rtol=1e-5, atol=1e-5)
    reference.save(tmp_path)
    torch.testing.assert_close(DiffusionPolicy.load(tmp_path).sample(obs, noise), reference.sample(obs, noise),
                               rtol=1e-5, atol=1e-5)


def test_ddim_sampling_is_a_deterministic_function_of_the_noise():
    torch.manual_seed(0)
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=3, hidden=32))
    obs, noise = torch.randn(5, 4), torch.randn(5, 3, 2)
    a, b = policy.sample(obs, noise), policy.sample(obs, noise.clone())
    assert a.shape == (5, 3, 2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (policy.sample(obs, noise + 0.5) - a).abs().max() > 1e-3
    with pytest.raises(ValueError, match="noise must be"):
        policy.sample(obs, torch.randn(5, 2, 2))


def test_bc_learns_the_demos_and_save_load_round_trips(tmp_path):
    # A constant demo action per observation sign: the policy must reproduce it from any noise.
    rng = np.random.default_rng(0)
    trajs = []
    for s in range(8):
        sign = 1.0 if s % 2 else -1.0
        obs = np.full((6, 2), sign) + rng.normal(0, 0.05, (6, 2))
        trajs.append(Trajectory(env_id="x", instruction="x", kind="expert", seed=s, obs=obs,
                                actions=np.full((5, 2), 0.8 * sign), env_rewards=np.zeros(5),
                                oracle_progress=np.zeros(6), success=np.zeros(6, bool)))
    config = DiffusionConfig(obs_dim=2, act_dim=2, chunk_size=2, hidden=64)
    policy, losses = train_bc(trajs, config, steps=600, batch_size=64, learning_rate=1e-3)
    assert np.mean(losses[-50:]) < np.mean(losses[:50])
    actions = policy.sample(torch.tensor([[1.0, 1.0], [-1.0, -1.0]]).repeat_interleave(8, 0),
                            torch.randn(16, 2, 2, generator=torch.Generator().manual_seed(1)))
    assert actions[:8].mean() > 0.5 and actions[8:].mean() < -0.5
    loaded = DiffusionPolicy.load(policy.save(tmp_path / "policy"))
    assert loaded.config == config
    obs, noise = torch.randn(4, 2), torch.randn(4, 2, 2)
    torch.testing.assert_close(loaded.sample(obs, noise), policy.sample(obs, noise), rtol=0, atol=0)


def test_bc_cli_trains_saves_and_evaluates(tmp_path, capsys):
    demos = pointreach_demos(tmp_path / "demos", episodes=3)
    cli(["bc", "--demos", str(demos), "--out", str(tmp_path / "bc"), "--kinds", "noisy", "--steps", "20",
         "--hidden", "32", "--eval-env", "vlmreward/PointReach-v0", "--eval-episodes", "2"])
    report = json.loads((tmp_path / "bc" / "bc.json").read_text())
    assert report["trajectories"] == 3 and 0.0 <= report["base/success_rate"] <= 1.0
    assert DiffusionPolicy.load(tmp_path / "bc").config.hidden == 32
