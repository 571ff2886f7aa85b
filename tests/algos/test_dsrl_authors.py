"""DSRL's updates as the authors' code runs them (ajwagen/dsrl's SB3 fork, stable_baselines3/dsrl/dsrl.py, and SB3's
SAC): actor and temperature step in every one of the UTD gradient steps, the log-prob is that of the [-1, 1]
squashed Gaussian (the action magnitude is a fixed rescaling, not part of the entropy), and each noise critic is
distilled from its own action critic on noise drawn from N(0, I) alone."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.dsrl import Actor, Args, DSRLAgent, train

INSTRUCTION = "move the red dot onto the green dot"


def small_policy() -> DiffusionPolicy:
    return DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=4, hidden=16))


class Recording:
    """A host (non-JAX) noise policy, decoded through a callback from the compiled learner: records the noise."""

    def __init__(self, policy: DiffusionPolicy):
        self.policy, self.noise_shape, self.action_shape, self.noise = policy, policy.noise_shape, policy.action_shape, []

    def sample(self, obs, noise):
        self.noise.append(np.array(noise).reshape(len(noise), -1))
        return self.policy.sample(obs, noise)


@pytest.mark.parametrize("variant", ["na", "sac"])
def test_the_actor_and_temperature_step_in_every_gradient_step(tmp_path, variant):
    args = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
                instruction=INSTRUCTION, variant=variant, hidden=16, utd=3, noise_critic_updates=1, batch_size=8,
                total_timesteps=24, learning_starts=8, eval_episodes=1, eval_every=0, eval_base=False, log_every=24,
                run_dir=str(tmp_path), tensorboard=False, progress_bar=False)
    steps = train(args, small_policy()).agent.optimizer_steps()
    assert steps["critic"] == 3 * 5  # chunks end at env steps 8 (learning starts), 12, ..., 24; UTD 3
    assert steps["actor"] == steps["alpha"] == steps["critic"]  # in every gradient step, not once per chunk
    assert steps["noise_critic"] == (5 if variant == "na" else 0)


def test_the_log_prob_is_the_squashed_gaussian_on_the_unit_box_whatever_the_magnitude():
    import jax

    actor = Actor(noise_dim=5, hidden=16, layers=2, magnitude=1.5, head_scale=1.0)
    params = actor.init(jax.random.PRNGKey(0), 3)
    rng = np.random.default_rng(1)
    obs, eps = rng.standard_normal((64, 3)).astype(np.float32), rng.standard_normal((64, 5)).astype(np.float32)
    noise, log_prob = (torch.as_tensor(np.array(v)) for v in actor(params, obs, eps))
    mean, log_std = torch.as_tensor(np.array(actor.net.apply(params, obs))).chunk(2, dim=-1)
    low, high = Actor.LOG_STD
    std = (low + 0.5 * (high - low) * (torch.tanh(log_std) + 1.0)).exp()
    squashed = torch.distributions.TransformedDistribution(torch.distributions.Normal(mean, std),
                                                           [torch.distributions.TanhTransform()])
    unit = (noise / 1.5).clamp(-1 + 1e-6, 1 - 1e-6)
    torch.testing.assert_close(unit, torch.tanh(mean + std * torch.as_tensor(eps)), rtol=1e-5, atol=1e-6)
    expected = squashed.log_prob(unit).sum(-1)
    close = unit.abs().max(-1).values < 0.999  # where SB3's epsilon 1e-6 in log(1 - tanh^2 + eps) is negligible
    assert close.sum() > 16
    torch.testing.assert_close(log_prob[close], expected[close], rtol=1e-3, atol=1e-3)
    wider = Actor(noise_dim=5, hidden=16, layers=2, magnitude=2.5, head_scale=1.0)
    np.testing.assert_allclose(np.asarray(wider(params, obs, eps)[1]), log_prob.numpy(), rtol=1e-6)


def test_noise_critics_are_distilled_each_from_its_critic_on_base_noise_only():
    import jax

    policy = Recording(small_policy())
    agent = DSRLAgent(Args(variant="na", hidden=32, learning_rate=3e-3, action_magnitude=1.5), 4, policy)
    members = agent.state.critic["params"]["members"]
    assert members["Linear_0"]["kernel"].shape[0] == agent.state.noise_critic["params"]["members"]["Linear_0"][
        "kernel"].shape[0] == 2
    # Q^A_1 = Q^A_0 + 5; the actor's weights NaN, so any noise it gave would be NaN
    members = jax.tree_util.tree_map(lambda p: p.at[1].set(p[0]), members)
    members["Linear_3"]["bias"] = members["Linear_3"]["bias"].at[1].add(5.0)
    agent.state = agent.state.replace(critic={"params": {"members": members}},
                                      actor=jax.tree_util.tree_map(lambda p: p * np.nan, agent.state.actor))
    rng = np.random.default_rng(1)
    for _ in range(300):
        agent.distill_noise_critic(rng.standard_normal((128, 4)))
    noise = np.concatenate(policy.noise)
    assert len(noise) == 300 * 128 and np.isfinite(noise).all() and np.abs(noise).max() > 1.5  # N(0, I), unclipped
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05
    obs, w = rng.standard_normal((256, 4)), rng.standard_normal((256, 8))
    q_w = agent.noise_critic_values(obs, w)
    gap = (q_w[1] - q_w[0]).mean()
    assert gap == pytest.approx(5.0, abs=0.5)  # each its own critic, not both the min


def test_a_run_with_the_paper_update_schedule_stays_finite(tmp_path):
    args = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
                instruction=INSTRUCTION, hidden=16, utd=2, noise_critic_updates=2, batch_size=8,
                total_timesteps=40, learning_starts=8, critic_warmup_updates=3, eval_episodes=1, eval_every=0,
                log_every=40, run_dir=str(tmp_path), tensorboard=False, progress_bar=False)
    result = train(replace(args, variant="na"), small_policy())
    last = [r for r in result.history if "losses/actor_loss" in r][-1]
    assert all(np.isfinite(last[k]) for k in ("losses/critic_loss", "losses/actor_loss", "losses/alpha_loss",
                                              "losses/noise_critic_loss"))
