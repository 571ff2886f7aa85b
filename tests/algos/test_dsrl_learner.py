"""DSRL's compiled learner against the math by hand: the TD target and critic loss, DSRL-NA's distillation targets and
loss recomputed in NumPy from the parameters; a fused round (jax.lax.scan) equal to its steps done one by one; a host
(torch-like) policy decoded through a callback computing what the JAX decode computes; the agent's checkpoint."""

from dataclasses import replace

import jax
import numpy as np
import pytest

from vlmreward_rl.algos.common.tree_io import TreeFileError
from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.dsrl import AGENT_FILE, Args, train
from vlmreward_rl.algos.dsrl_agent import DSRLAgent, _td_target

B, OBS = 16, 4


class ToyPolicy:
    """A host policy with a map easy to write by hand: chunk = tanh(noise) + obs[0] (chunks of 4 x 2)."""

    noise_shape = action_shape = (4, 2)

    def sample(self, obs, noise):
        return np.tanh(np.asarray(noise, np.float64)) + np.asarray(obs, np.float64)[:, :1, None]


class Recording:
    """A JAX policy seen as a host one (no ``decoder``): decoded through ``jax.pure_callback``."""

    def __init__(self, policy):
        self.policy, self.noise_shape, self.action_shape = policy, policy.noise_shape, policy.action_shape

    def sample(self, obs, noise):
        return self.policy.sample(obs, noise)


def args(variant: str, **kw) -> Args:
    return replace(Args(variant=variant, hidden=16, layers=2, batch_size=B, gamma=0.9, init_temperature=0.3,
                        action_magnitude=1.5, learning_rate=1e-3), **kw)


def batch(rng: np.random.Generator, n: int | None = None) -> dict[str, np.ndarray]:
    lead = () if n is None else (n,)
    f = lambda *shape: rng.standard_normal(lead + shape).astype(np.float32)  # noqa: E731
    return {"obs": f(B, OBS), "next_obs": f(B, OBS), "noise": f(B, 8), "chunk": f(B, 8), "reward": f(B),
            "done": (rng.random(lead + (B,)) < 0.3).astype(np.float32)}


# --- the networks in NumPy (float64) ---------------------------------------------------------------------------------

def mlp(p, x, layers):
    for i in range(layers):
        x = x @ np.asarray(p[f"Linear_{i}"]["kernel"], np.float64) + np.asarray(p[f"Linear_{i}"]["bias"], np.float64)
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        x = np.tanh((x - mu) / np.sqrt(var + 1e-5) * np.asarray(p[f"LayerNorm_{i}"]["scale"])
                    + np.asarray(p[f"LayerNorm_{i}"]["bias"]))
    head = p[f"Linear_{layers}"]
    return x @ np.asarray(head["kernel"], np.float64) + np.asarray(head["bias"], np.float64)


def critics(params, obs, x, layers=2):
    members = params["params"]["members"]
    return np.stack([mlp(jax.tree_util.tree_map(lambda a: np.asarray(a)[i], members), np.concatenate([obs, x], -1),
                         layers)[:, 0] for i in range(2)])


def actor(params, obs, eps, magnitude=1.5, layers=2):
    mean, log_std = np.split(mlp(params["params"], obs, layers), 2, axis=-1)
    log_std = -5.0 + 3.5 * (np.tanh(log_std) + 1.0)
    u = mean + np.exp(log_std) * eps
    log_prob = (-0.5 * eps ** 2 - log_std - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(u) ** 2 + 1e-6)).sum(-1)
    return magnitude * np.tanh(u), log_prob


def by_hand_target(agent: DSRLAgent, b, next_eps):
    s = agent.state
    next_noise, next_logp = actor(s.actor, b["next_obs"], next_eps)
    next_x = (ToyPolicy().sample(b["next_obs"], next_noise.reshape(B, 4, 2)).reshape(B, -1) if agent.na
              else next_noise / 1.5)
    next_q = critics(s.critic_target, b["next_obs"], next_x).min(0)
    return b["reward"] + 0.9 * (1 - b["done"]) * (next_q - float(np.exp(s.log_alpha)) * next_logp)


@pytest.mark.parametrize("variant", ["na", "sac"])
def test_the_td_target_and_critic_loss_are_the_math_by_hand(variant):
    agent = DSRLAgent(args(variant), OBS, ToyPolicy())
    rng = np.random.default_rng(0)
    b, next_eps = batch(rng), rng.standard_normal((B, 8))
    # move the target critics off the critics, so a backup through the wrong ones would show
    agent.state = agent.state.replace(critic_target=jax.tree_util.tree_map(lambda p: p + 0.1, agent.state.critic_target))
    target = np.asarray(_td_target(agent.spec, agent.state, b, None, next_eps.astype(np.float32)))
    np.testing.assert_allclose(target, by_hand_target(agent, b, next_eps), rtol=1e-4, atol=1e-4)
    # the critic loss a gradient step reports: sum_i mean_B (Q_i(s, x) - y)^2 with the step's own draws of w'
    _, _, k_next = jax.random.split(agent.state.key, 3)
    next_eps = np.asarray(jax.random.normal(k_next, (B, 8)), np.float64)
    x = b["chunk"] if variant == "na" else b["noise"] / 1.5
    expected = ((critics(agent.state.critic, b["obs"], x) - by_hand_target(agent, b, next_eps)) ** 2).mean(1).sum()
    assert agent.gradient_step(b)["losses/critic_loss"] == pytest.approx(expected, rel=1e-4)


def test_na_distillation_targets_and_loss_are_the_math_by_hand():
    agent = DSRLAgent(args("na"), OBS, ToyPolicy())
    obs = np.random.default_rng(1).standard_normal((B, OBS)).astype(np.float32)
    _, k_noise = jax.random.split(agent.state.key)
    noise = np.asarray(jax.random.normal(k_noise, (B, 8)), np.float64)  # the step's draws: N(0, I)
    targets = critics(agent.state.critic, obs, ToyPolicy().sample(obs, noise.reshape(B, 4, 2)).reshape(B, -1))
    assert targets.shape == (2, B)  # each Q^W_i toward its own Q^A_i, not the minimum
    np.testing.assert_allclose(agent.critic_values(obs, agent.decode(obs, noise)), targets, rtol=1e-4, atol=1e-5)
    expected = ((critics(agent.state.noise_critic, obs, noise / 1.5) - targets) ** 2).mean(1).sum()
    assert agent.distill_noise_critic(obs) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("variant", ["na", "sac"])
def test_a_fused_round_is_its_steps_one_by_one(variant):
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=OBS, act_dim=2, chunk_size=4, hidden=16))
    fused, single = DSRLAgent(args(variant), OBS, policy), DSRLAgent(args(variant), OBS, policy)
    rng = np.random.default_rng(2)
    batches, distill_obs = batch(rng, 3), rng.standard_normal((2, B, OBS)).astype(np.float32)
    for update_actor in (False, True):  # a critic warm-up round, then a full one
        losses = fused.update(batches, distill_obs, update_actor)
        one_by_one = [single.gradient_step({k: v[i] for k, v in batches.items()}, update_actor) for i in range(3)]
        distilled = [single.distill_noise_critic(o) for o in distill_obs] if variant == "na" else []
        np.testing.assert_allclose(losses["losses/critic_loss"], [s["losses/critic_loss"] for s in one_by_one],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses.get("losses/noise_critic_loss", []), distilled, rtol=1e-5, atol=1e-6)
        assert ("losses/actor_loss" in losses) == update_actor
    flat_fused, flat_single = (jax.tree_util.tree_leaves_with_path(a.state) for a in (fused, single))
    for (path, a), (_, b) in zip(flat_fused, flat_single):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5, err_msg=jax.tree_util.keystr(path))
    moved = jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(),
                                                             fused.state.actor, DSRLAgent(args(variant), OBS, policy).state.actor))
    assert max(moved) > 1e-4  # the round did move the actor


def test_a_host_policy_decoded_through_a_callback_learns_what_the_jax_decode_does():
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=OBS, act_dim=2, chunk_size=4, hidden=16))
    in_jax, host = DSRLAgent(args("na"), OBS, policy), DSRLAgent(args("na"), OBS, Recording(policy))
    assert in_jax.spec.decoder.jax_decode is not None and host.spec.decoder.host is not None
    rng = np.random.default_rng(3)
    batches, distill_obs = batch(rng, 2), rng.standard_normal((2, B, OBS)).astype(np.float32)
    in_jax.update(batches, distill_obs), host.update(batches, distill_obs)
    for a, b in zip(jax.tree_util.tree_leaves(in_jax.state), jax.tree_util.tree_leaves(host.state)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_the_agent_checkpoint_round_trips_and_refuses_another_architecture(tmp_path):
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=OBS, act_dim=2, chunk_size=4, hidden=16))
    agent = DSRLAgent(args("na"), OBS, policy)
    rng = np.random.default_rng(4)
    agent.update(batch(rng, 2), rng.standard_normal((1, B, OBS)).astype(np.float32))
    path = agent.save(tmp_path / AGENT_FILE, global_step=123, args={"variant": "na"})
    other = DSRLAgent(args("na", seed=7), OBS, policy)
    assert other.load(path) == {"global_step": 123, "args": {"variant": "na"}}
    for a, b in zip(jax.tree_util.tree_leaves(agent.state), jax.tree_util.tree_leaves(other.state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert other.optimizer_steps() == agent.optimizer_steps() == {"actor": 2, "critic": 2, "alpha": 2, "noise_critic": 1}
    obs = rng.standard_normal((3, OBS))
    np.testing.assert_array_equal(other.act(obs, deterministic=True), agent.act(obs, deterministic=True))
    with pytest.raises(TreeFileError, match="does not match this architecture"):
        DSRLAgent(args("na", hidden=32), OBS, policy).load(path)


def test_a_run_saves_its_agent_as_safetensors(tmp_path):
    run = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
               instruction="move the red dot onto the green dot", hidden=16, utd=1, noise_critic_updates=1,
               batch_size=8, total_timesteps=16, learning_starts=8, eval_episodes=1, eval_every=0, eval_base=False,
               log_every=16, run_dir=str(tmp_path), tensorboard=False, progress_bar=False)
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=OBS, act_dim=2, chunk_size=4, hidden=16))
    result = train(run, policy)
    fresh = DSRLAgent(replace(run, seed=9), OBS, policy)
    metadata = fresh.load(result.run_path / AGENT_FILE)
    assert metadata["global_step"] == result.global_step and metadata["args"]["variant"] == "na"
    obs = np.zeros((1, OBS))
    np.testing.assert_array_equal(fresh.act(obs, deterministic=True), result.agent.act(obs, deterministic=True))


def test_a_background_round_leaves_the_env_acting_with_the_actor_one_round_older():
    from vlmreward_rl.algos.dsrl_agent import BackgroundLearner

    policy = DiffusionPolicy(DiffusionConfig(obs_dim=OBS, act_dim=2, chunk_size=4, hidden=16))
    agent, sequential = DSRLAgent(args("sac"), OBS, policy), DSRLAgent(args("sac"), OBS, policy)
    learner, rng = BackgroundLearner(agent), np.random.default_rng(5)
    rounds = [batch(rng, 2) for _ in range(3)]
    obs = rng.standard_normal((4, OBS))
    before = agent.act(obs, deterministic=True)
    assert learner.submit(rounds[0]) is None  # nothing finished yet
    np.testing.assert_array_equal(agent.act(obs, deterministic=True), before)  # while round 1 runs: the actor before it
    for i, b in enumerate(rounds[1:]):
        sequential.update(rounds[i])
        losses = learner.submit(b)  # waits for round i + 1, then acts with its actor while round i + 2 runs
        assert set(losses) == {"losses/critic_loss", "losses/actor_loss", "losses/alpha_loss"}
        np.testing.assert_allclose(agent.act(obs, deterministic=True), sequential.act(obs, deterministic=True),
                                   rtol=1e-6, atol=1e-6)
    sequential.update(rounds[2])
    learner.close()  # the last round finished: the latest actor acts again
    np.testing.assert_allclose(agent.act(obs, deterministic=True), sequential.act(obs, deterministic=True),
                               rtol=1e-6, atol=1e-6)
    assert agent.optimizer_steps() == sequential.optimizer_steps() == {"actor": 6, "critic": 6, "alpha": 6,
                                                                       "noise_critic": 0}


def test_async_env_runs_are_deterministic_with_the_updates_of_a_sequential_run(tmp_path):
    run = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
               instruction="move the red dot onto the green dot", hidden=16, utd=2, noise_critic_updates=1,
               batch_size=8, total_timesteps=40, learning_starts=12, critic_warmup_updates=2, eval_episodes=1,
               eval_every=20, eval_base=False, log_every=20, tensorboard=False, progress_bar=False)
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=OBS, act_dim=2, chunk_size=4, hidden=16))
    first, second = (train(replace(run, async_env=True, run_dir=str(tmp_path / name)), policy) for name in "ab")
    sequential = train(replace(run, run_dir=str(tmp_path / "sequential")), policy)
    n = first.buffer.size
    assert n == second.buffer.size == sequential.buffer.size
    for key in ("obs", "noise", "chunk", "reward"):
        np.testing.assert_array_equal(getattr(first.buffer, key)[:n], getattr(second.buffer, key)[:n], err_msg=key)
    for a, b in zip(jax.tree_util.tree_leaves(first.agent.state), jax.tree_util.tree_leaves(second.agent.state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert first.agent.optimizer_steps() == sequential.agent.optimizer_steps()
    assert first.agent.optimizer_steps()["actor"] > 0
    # the env acted with an older actor once learning began, so the noise differs from there on
    assert not np.array_equal(first.buffer.noise[:n], sequential.buffer.noise[:n])
    assert first.eval["eval/episodes"] == 1
