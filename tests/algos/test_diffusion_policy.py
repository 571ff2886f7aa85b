"""The BC diffusion policy (JAX): a deterministic DDIM noise -> chunk map equal to diffusers', chunking, save/load, a
torch-era checkpoint converted on load (a mismatched one refused with the fix), the `bc` CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from vlmreward_rl.algos.common.jax_nets import mish
from vlmreward_rl.algos.common.tree_io import TreeFileError
from vlmreward_rl.algos.diffusion_policy import (DDIMSchedule, DiffusionConfig, DiffusionPolicy, alphas_cumprod,
                                                chunk_dataset, train_bc)
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
    import jax

    x = np.concatenate([np.linspace(-60.0, 60.0, 2001), [0.0, 19.99, 20.0, 20.01, 1e4, -1e4]]).astype(np.float32)
    ref = torch.as_tensor(x).requires_grad_(True)
    ref_y = torch.nn.functional.mish(ref)
    (ref_g,) = torch.autograd.grad(ref_y.sum(), ref)
    np.testing.assert_allclose(np.asarray(mish(x)), ref_y.detach().numpy(), rtol=1e-5, atol=1e-6)
    grad = np.asarray(jax.grad(lambda v: mish(v).sum())(x))
    np.testing.assert_allclose(grad, ref_g.numpy(), rtol=1e-4, atol=1e-5)
    assert np.isfinite(grad).all()


def test_the_schedules_are_diffusers():
    diffusers = pytest.importorskip("diffusers")
    common = dict(num_train_timesteps=20, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                  prediction_type="epsilon")
    ddpm = diffusers.DDPMScheduler(**common)
    ddim = diffusers.DDIMScheduler(**common, set_alpha_to_one=True, timestep_spacing="trailing")
    ddim.set_timesteps(8)
    np.testing.assert_allclose(alphas_cumprod(20), ddpm.alphas_cumprod.numpy(), rtol=1e-6)
    schedule = DDIMSchedule.of(DiffusionConfig(obs_dim=1, act_dim=1))
    assert list(schedule.timesteps) == ddim.timesteps.tolist()


class TorchEraPolicy(torch.nn.Module):
    """The former torch DiffusionPolicy's layout and sampling (diffusers' DDIMScheduler, eta = 0), as a reference."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        from diffusers import DDIMScheduler

        dims = [config.flat_dim + config.obs_dim + config.time_dim] + [config.hidden] * config.layers
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [torch.nn.Linear(d_in, d_out), torch.nn.Mish()]
        self.model = torch.nn.Module()
        self.model.net = torch.nn.Sequential(*layers, torch.nn.Linear(config.hidden, config.flat_dim))
        self.config = config
        self.register_buffer("obs_mean", torch.randn(config.obs_dim))
        self.register_buffer("obs_std", torch.rand(config.obs_dim) + 0.5)
        self.register_buffer("act_low", -torch.rand(config.act_dim) - 0.5)
        self.register_buffer("act_high", torch.rand(config.act_dim) + 0.5)
        self.ddim = DDIMScheduler(num_train_timesteps=config.train_timesteps, beta_schedule="squaredcos_cap_v2",
                                  clip_sample=True, prediction_type="epsilon", set_alpha_to_one=True,
                                  timestep_spacing="trailing")
        self.ddim.set_timesteps(config.inference_steps)

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        half = self.config.time_dim // 2
        freqs = torch.exp(-np.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
        cond, x = (obs - self.obs_mean) / self.obs_std, noise.flatten(1)
        for t in self.ddim.timesteps:
            angles = t.float().expand(x.shape[0])[:, None] * freqs[None]
            eps = self.model.net(torch.cat([x, cond, angles.sin(), angles.cos()], dim=-1))
            x = self.ddim.step(eps, t, x, eta=0.0).prev_sample
        x = x.clamp(-1.0, 1.0).view(noise.shape)
        return (x + 1.0) / 2.0 * (self.act_high - self.act_low) + self.act_low


def test_a_torch_era_checkpoint_is_converted_and_decodes_as_it_did(tmp_path):
    pytest.importorskip("diffusers")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    config = DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=3, hidden=32)
    reference = TorchEraPolicy(config)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    obs, noise = torch.randn(5, 4), 1.5 * torch.randn(5, 3, 2)
    loaded = DiffusionPolicy.load(tmp_path)
    np.testing.assert_allclose(loaded.sample(obs.numpy(), noise.numpy()), reference.sample(obs, noise).numpy(),
                               rtol=1e-4, atol=1e-5)
    # saved again, it is in the new format and decodes the same
    again = DiffusionPolicy.load(loaded.save(tmp_path / "converted"))
    np.testing.assert_array_equal(again.sample(obs.numpy(), noise.numpy()), loaded.sample(obs.numpy(), noise.numpy()))


def test_weights_of_another_architecture_fail_with_the_fix(tmp_path):
    DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=3, hidden=32)).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden": 64}))
    with pytest.raises(TreeFileError, match=r"model/params/Linear_0/kernel \(42, 32\) \(expected \(42, 64\)\)"
                                            r".*retrain it with `vlmreward bc --demos"):
        DiffusionPolicy.load(tmp_path)


def test_ddim_sampling_is_a_deterministic_function_of_the_noise():
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=3, hidden=32))
    rng = np.random.default_rng(0)
    obs, noise = rng.standard_normal((5, 4)), rng.standard_normal((5, 3, 2))
    a, b = policy.sample(obs, noise), policy.sample(obs, noise.copy())
    assert a.shape == (5, 3, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(policy.sample(obs, noise + 0.5) - a).max() > 1e-3
    with pytest.raises(ValueError, match="noise must be"):
        policy.sample(obs, rng.standard_normal((5, 2, 2)))


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
    np.testing.assert_array_equal(loaded.sample(obs, noise), policy.sample(obs, noise))


def test_bc_cli_trains_saves_and_evaluates(tmp_path, capsys):
    demos = pointreach_demos(tmp_path / "demos", episodes=3)
    cli(["bc", "--demos", str(demos), "--out", str(tmp_path / "bc"), "--kinds", "noisy", "--steps", "20",
         "--hidden", "32", "--eval-env", "vlmreward/PointReach-v0", "--eval-episodes", "2"])
    report = json.loads((tmp_path / "bc" / "bc.json").read_text())
    assert report["trajectories"] == 3 and 0.0 <= report["base/success_rate"] <= 1.0
    assert DiffusionPolicy.load(tmp_path / "bc").config.hidden == 32
