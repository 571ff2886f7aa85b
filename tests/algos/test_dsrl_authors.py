"""DSRL's updates as the authors' code runs them (ajwagen/dsrl's SB3 fork, stable_baselines3/dsrl/dsrl.py, and SB3's
SAC): actor and temperature step in every one of the UTD gradient steps, the log-prob is that of the [-1, 1]
squashed Gaussian (the action magnitude is a fixed rescaling, not part of the entropy), and each noise critic is
distilled from its own action critic on noise drawn from N(0, I) alone."""

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch

from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.dsrl import Actor, Args, DSRLAgent, train

INSTRUCTION = "move the red dot onto the green dot"


def small_policy() -> DiffusionPolicy:
    torch.manual_seed(0)
    return DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=4, hidden=16))


@pytest.mark.parametrize("variant", ["na", "sac"])
def test_the_actor_and_temperature_step_in_every_gradient_step(tmp_path, monkeypatch, variant):
    steps, step = Counter(), torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **kw: (steps.update([id(self)]), step(self, *a, **kw))[1])
    args = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
                instruction=INSTRUCTION, variant=variant, hidden=16, utd=3, noise_critic_updates=1, batch_size=8,
                total_timesteps=24, learning_starts=8, eval_episodes=1, eval_every=0, eval_base=False, log_every=24,
                run_dir=str(tmp_path), tensorboard=False, progress_bar=False)
    agent = train(args, small_policy()).agent
    critic, actor, temperature = (steps[id(opt)] for opt in (agent.critic_opt, agent.actor_opt, agent.alpha_opt))
    assert critic == 3 * 5  # chunks end at env steps 8 (learning starts), 12, ..., 24; UTD 3
    assert actor == temperature == critic  # in every gradient step, not once per chunk


def test_the_log_prob_is_the_squashed_gaussian_on_the_unit_box_whatever_the_magnitude():
    torch.manual_seed(0)
    actor = Actor(obs_dim=3, noise_dim=5, hidden=16, layers=2, magnitude=1.5, head_scale=1.0)
    obs = torch.randn(64, 3)
    noise, log_prob = actor(obs, generator=torch.Generator().manual_seed(1))
    mean, log_std = actor.net(obs).chunk(2, dim=-1)
    low, high = Actor.LOG_STD
    std = (low + 0.5 * (high - low) * (torch.tanh(log_std) + 1.0)).exp()
    squashed = torch.distributions.TransformedDistribution(torch.distributions.Normal(mean, std),
                                                           [torch.distributions.TanhTransform()])
    unit = (noise / 1.5).clamp(-1 + 1e-6, 1 - 1e-6)
    expected = squashed.log_prob(unit).sum(-1)
    close = unit.abs().max(-1).values < 0.999  # where SB3's epsilon 1e-6 in log(1 - tanh^2 + eps) is negligible
    assert close.sum() > 16
    torch.testing.assert_close(log_prob[close], expected[close], rtol=1e-3, atol=1e-3)
    wider = Actor(obs_dim=3, noise_dim=5, hidden=16, layers=2, magnitude=2.5, head_scale=1.0)
    wider.load_state_dict(actor.state_dict())
    torch.testing.assert_close(wider(obs, generator=torch.Generator().manual_seed(1))[1], log_prob)


def test_noise_critics_are_distilled_each_from_its_critic_on_base_noise_only(monkeypatch):
    agent = DSRLAgent(Args(variant="na", hidden=32, learning_rate=3e-3, action_magnitude=1.5), 4, small_policy())
    assert len(agent.noise_critic.qs) == len(agent.critic.qs) == 2
    with torch.no_grad():  # Q^A_1 = Q^A_0 + 5
        agent.critic.qs[1].load_state_dict(agent.critic.qs[0].state_dict())
        agent.critic.qs[1][-1].bias += 5.0
    decoded, actor_calls = [], []
    decode = agent.decode
    monkeypatch.setattr(agent, "decode", lambda obs, noise: (decoded.append(noise), decode(obs, noise))[1])
    forward = agent.actor.forward
    monkeypatch.setattr(agent.actor, "forward", lambda *a, **kw: (actor_calls.append(1), forward(*a, **kw))[1])
    torch.manual_seed(1)
    for _ in range(300):
        agent.distill_noise_critic(torch.randn(128, 4))
    noise = torch.cat(decoded)
    assert not actor_calls and noise.abs().max() > 1.5  # N(0, I), unclipped: none from the actor
    assert noise.mean().abs() < 0.05 and (noise.std() - 1).abs() < 0.05
    obs, w = torch.randn(256, 4), torch.randn(256, 8)
    with torch.no_grad():
        q_w = agent.noise_critics(obs, w)
    gap = (q_w[1] - q_w[0]).mean().item()
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
