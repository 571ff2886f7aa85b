"""DSRL's learner in JAX: the noise actor, twin critics, DSRL-NA's noise critics and the temperature, jit-compiled.

The math is the torch learner's it replaces, which followed the authors' code (ajwagen/dsrl and their SB3 fork,
stable_baselines3/dsrl/dsrl.py; SB3's ``SAC.train``); :mod:`vlmreward_rl.algos.dsrl` lists the deliberate
differences. One gradient step (:meth:`DSRLAgent.gradient_step`):

1. the actor samples noise w ~ pi(.|s) for the batch's states, with log-prob ``logp`` of its [-1, 1] squashed Gaussian;
2. the temperature steps on ``-(log alpha (logp + target_entropy))``;
3. the critics take a TD step toward ``y = r + gamma (1 - done) (min_i Q_i^targ(s', x') - alpha log pi(w'|s'))``,
   ``w' ~ pi(.|s')``, ``x'`` the scaled noise (SAC) or its decoded chunk pi_base(s', w') (NA), loss
   ``sum_i mean_B (Q_i(s, x) - y)^2``; the targets move by ``tau`` (``lerp``);
4. the actor steps on ``mean(alpha logp - min_i Q^W_i(s, w))`` with the same w (the same normal draws), Q^W the noise
   critics (NA) or the critics just updated (SAC);

all with the temperature from before this step's update. DSRL-NA then distils each noise critic Q^W_i(s, w) from its
own Q^A_i(s, pi_base(s, w)) on w ~ N(0, I) (:meth:`DSRLAgent.distill_noise_critic`). A whole round, the ``utd``
gradient steps and the distillation steps after them, is one compiled call (:meth:`DSRLAgent.update`: two
``jax.lax.scan`` over batches sampled beforehand), the same updates as those steps done one by one.

The base policy's decode runs inside the compiled learner when the policy offers a pure JAX one (``policy.decode
(policy.params, obs, noise)``, :class:`~vlmreward_rl.algos.diffusion_policy.DiffusionPolicy`); any other
:class:`~vlmreward_rl.algos.common.chunks.NoisePolicy` (pi0 in torch) is called back on the host through
``jax.pure_callback`` with NumPy arrays: the compiled round stops for each decode, so it costs the policy's own
forward pass plus a host round trip (tens of microseconds), and that policy's decode stays as slow as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vlmreward_rl.algos.common.chunks import NoisePolicy
from vlmreward_rl.algos.common.jax_nets import MLP, Ensemble, Params, adam, apply_updates, optimizer_steps, soft_update
from vlmreward_rl.algos.common.tree_io import load_tree, save_tree

Batch = Mapping[str, jax.Array]
"""A replay batch: ``obs`` / ``next_obs`` (B, obs_dim), ``noise`` (B, noise_dim), ``chunk`` (B, chunk * act_dim),
``reward`` / ``done`` (B,) float32; stacked on a leading axis (n, B, ...) for a round of n steps."""


@dataclass(frozen=True)
class Actor:
    """Tanh-squashed Gaussian over the noise, scaled to [-magnitude, magnitude]: obs (B, obs_dim) -> noise (B, noise_dim).

    The output layer starts at ``head_scale`` (1 %) of torch's default initialisation, as SB3's PPO initialises
    its action head (gain 0.01): the untrained actor then draws noise of std ~0.3 (a pre-squash std of 0.22)
    about w = 0, the base policy's deterministic mode, in every state, instead of noise about a random function
    of the state (mean spread ~0.4), which steered the Lift base policy about as badly as N(0, I) noise does.
    """

    noise_dim: int
    hidden: int
    layers: int
    magnitude: float
    head_scale: float = 0.01
    LOG_STD = (-5.0, 2.0)

    @property
    def net(self) -> MLP:
        """obs -> (mean, unsquashed log std), (B, 2 noise_dim)."""
        return MLP(self.hidden, self.layers, 2 * self.noise_dim, head_scale=self.head_scale)

    def init(self, key: jax.Array, obs_dim: int) -> Params:
        return self.net.init(key, jnp.zeros((1, obs_dim)))

    def __call__(self, params: Params, obs: jax.Array, eps: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """``(noise (B, noise_dim), log prob (B,))`` for standard normal draws ``eps`` (B, noise_dim); the mean noise
        when ``eps`` is None. The log-prob is that of the squashed Gaussian on [-1, 1]^D, as SB3's
        ``SquashedDiagGaussianDistribution`` (epsilon 1e-6) that the authors' actor uses: the magnitude is a fixed
        rescaling (SB3's ``unscale_action``), left out of the entropy, so a target entropy means what it means in
        their configs."""
        mean, log_std = jnp.split(self.net.apply(params, obs), 2, axis=-1)
        low, high = self.LOG_STD
        log_std = low + 0.5 * (high - low) * (jnp.tanh(log_std) + 1.0)
        std = jnp.exp(log_std)
        u = mean if eps is None else mean + std * eps
        squashed = jnp.tanh(u)
        normal = -((u - mean) ** 2) / (2.0 * std ** 2) - log_std - 0.5 * math.log(2.0 * math.pi)
        log_prob = (normal - jnp.log(1.0 - squashed ** 2 + 1e-6)).sum(-1)
        return self.magnitude * squashed, log_prob


@flax.struct.dataclass
class AgentState:
    """Everything the learner updates: parameters, optimiser states and the PRNG key of its draws."""

    actor: Params
    critic: Params
    critic_target: Params
    noise_critic: Params | None  # DSRL-NA's Q^W (None for DSRL-SAC)
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    noise_critic_opt: Any
    key: jax.Array


@dataclass(frozen=True)
class Decoder:
    """pi_base(s, w) flattened, (B, obs_dim) x (B, noise_dim) -> (B, chunk * act_dim), inside the compiled learner:
    the policy's own pure JAX decode (``jax_decode``: a hashable callable ``(params, obs, noise) -> actions``), or
    else its ``sample`` called back on the host (``jax.pure_callback``; ``host`` the policy, compared by identity)."""

    noise_shape: tuple[int, ...]
    chunk_dim: int
    jax_decode: Any = None
    host: Any = None

    @classmethod
    def of(cls, policy: NoisePolicy) -> "Decoder":
        shape, chunk_dim = tuple(policy.noise_shape), int(np.prod(policy.action_shape))
        jax_decode = getattr(policy, "decoder", None)
        if callable(jax_decode) and hasattr(policy, "params"):
            return cls(shape, chunk_dim, jax_decode=jax_decode)
        return cls(shape, chunk_dim, host=policy)

    def params(self, policy: NoisePolicy) -> Params:
        """The policy's parameters as an argument of the compiled functions (None for a host policy)."""
        return policy.params if self.jax_decode is not None else None

    def __call__(self, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
        shaped = noise.reshape(noise.shape[0], *self.noise_shape)
        if self.jax_decode is not None:
            return self.jax_decode(params, obs, shaped).reshape(noise.shape[0], -1)
        sample = self.host.sample
        host = lambda o, w: np.asarray(sample(np.asarray(o), np.asarray(w)), np.float32).reshape(len(o), -1)  # noqa: E731
        return jax.pure_callback(host, jax.ShapeDtypeStruct((noise.shape[0], self.chunk_dim), jnp.float32), obs, shaped)


@dataclass(frozen=True)
class Spec:
    """Everything static about a learner (hashable: the compiled functions are shared by equal specs)."""

    variant: str
    gamma: float
    tau: float
    target_entropy: float
    magnitude: float
    hidden: int
    layers: int
    learning_rate: float
    actor_learning_rate: float
    noise_dim: int
    decoder: Decoder

    @property
    def na(self) -> bool:
        return self.variant == "na"

    @property
    def actor(self) -> Actor:
        return Actor(self.noise_dim, self.hidden, self.layers, self.magnitude)

    @property
    def critics(self) -> Ensemble:
        """The twin critics' module, for Q (and Q^W): their parameters differ."""
        return Ensemble(self.hidden, self.layers)

    @property
    def actor_opt(self) -> optax.GradientTransformation:
        return adam(self.actor_learning_rate)  # the temperature's too

    @property
    def critic_opt(self) -> optax.GradientTransformation:
        return adam(self.learning_rate)  # the noise critics' too


def scale(spec: Spec, noise: jax.Array) -> jax.Array:
    """Noise as the critics read it: divided by ``action_magnitude``, SB3's ``scale_action`` to [-1, 1] (the
    authors' critics read the actor's [-1, 1] output; a rescaled input, not a different function)."""
    return noise / spec.magnitude


def q_values(spec: Spec, params: Params, obs: jax.Array, x: jax.Array) -> jax.Array:
    """Q_i(s, x) of the ensemble ``params`` for each member: (n, B)."""
    return spec.critics.apply(params, jnp.concatenate([obs, x], axis=-1))


def noise_q_values(spec: Spec, state: AgentState, critic: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
    """Q^W_i(s, w) (NA) or Q_i(s, w) with the critics ``critic`` (SAC) for each member, shape (n, B)."""
    return q_values(spec, state.noise_critic if spec.na else critic, obs, scale(spec, noise))


def td_target(spec: Spec, state: AgentState, batch: Batch, policy_params: Params, next_eps: jax.Array) -> jax.Array:
    """``y = r + gamma (1 - done) (min_i Q_i^targ(s', x') - alpha log pi(w'|s'))`` (B,), no gradient: ``w'`` the actor's
    noise for ``s'`` from the standard normal draws ``next_eps`` (B, noise_dim), ``x'`` its decoded chunk (NA) or
    itself scaled (SAC), alpha the temperature in ``state``."""
    next_obs = batch["next_obs"]
    next_noise, next_logp = spec.actor(state.actor, next_obs, next_eps)
    next_x = spec.decoder(policy_params, next_obs, next_noise) if spec.na else scale(spec, next_noise)
    next_q = q_values(spec, state.critic_target, next_obs, next_x).min(0)
    alpha = jnp.exp(state.log_alpha)
    return jax.lax.stop_gradient(batch["reward"] + spec.gamma * (1.0 - batch["done"]) * (next_q - alpha * next_logp))


def gradient_step(spec: Spec, state: AgentState, batch: Batch, policy_params: Params,
                  update_actor: bool = True) -> tuple[AgentState, dict[str, jax.Array]]:
    """One of the ``utd`` gradient steps (the module docstring's 1-4); ``update_actor`` False: the critics only."""
    obs, losses, actor_net = batch["obs"], {}, spec.actor
    key, k_actor, k_next = jax.random.split(state.key, 3)
    alpha = jnp.exp(state.log_alpha)
    eps = jax.random.normal(k_actor, (obs.shape[0], spec.noise_dim))
    log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
    if update_actor:
        logp = jax.lax.stop_gradient(actor_net(state.actor, obs, eps)[1])
        alpha_loss, grad = jax.value_and_grad(lambda la: -(la * (logp + spec.target_entropy)).mean())(log_alpha)
        log_alpha, alpha_opt = apply_updates(spec.actor_opt, log_alpha, alpha_opt, grad)
        losses["losses/alpha_loss"] = alpha_loss
    target = td_target(spec, state, batch, policy_params, jax.random.normal(k_next, (obs.shape[0], spec.noise_dim)))
    x = batch["chunk"] if spec.na else scale(spec, batch["noise"])
    critic_loss, grad = jax.value_and_grad(
        lambda p: ((q_values(spec, p, obs, x) - target) ** 2).mean(1).sum())(state.critic)
    critic, critic_opt = apply_updates(spec.critic_opt, state.critic, state.critic_opt, grad)
    losses["losses/critic_loss"] = critic_loss
    actor, actor_opt = state.actor, state.actor_opt
    if update_actor:
        def actor_loss(params: Params) -> jax.Array:
            noise, logp = actor_net(params, obs, eps)
            return (alpha * logp - noise_q_values(spec, state, critic, obs, noise).min(0)).mean()

        loss, grad = jax.value_and_grad(actor_loss)(actor)
        actor, actor_opt = apply_updates(spec.actor_opt, actor, actor_opt, grad)
        losses["losses/actor_loss"] = loss
    return state.replace(actor=actor, critic=critic, critic_target=soft_update(state.critic_target, critic, spec.tau),
                         log_alpha=log_alpha, actor_opt=actor_opt, critic_opt=critic_opt, alpha_opt=alpha_opt,
                         key=key), losses


def distill_targets(spec: Spec, state: AgentState, policy_params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
    """Q^A_i(s, pi_base(s, w)) for each critic i, (n, B): what Q^W_i(s, w) is distilled toward."""
    return jax.lax.stop_gradient(q_values(spec, state.critic, obs, spec.decoder(policy_params, obs, noise)))


def distill_step(spec: Spec, state: AgentState, obs: jax.Array, policy_params: Params) -> tuple[AgentState, jax.Array]:
    """One Q^W step: each noise critic Q^W_i(s, w) toward its own Q^A_i(s, pi(s, w)), w ~ N(0, I) unclipped, loss
    ``sum_i mean_B (Q^W_i - Q^A_i)^2``, as the authors' ``DSRL.update_noise_critic``: the base policy's noise
    covers the actor's (it starts at w ~ 0 with a small spread), and the actor climbs the minimum of the
    distilled critics as the backup takes the minimum of the critics."""
    key, k_noise = jax.random.split(state.key)
    noise = jax.random.normal(k_noise, (obs.shape[0], spec.noise_dim))
    target = distill_targets(spec, state, policy_params, obs, noise)
    loss, grad = jax.value_and_grad(
        lambda p: ((q_values(spec, p, obs, scale(spec, noise)) - target) ** 2).mean(1).sum())(state.noise_critic)
    noise_critic, opt = apply_updates(spec.critic_opt, state.noise_critic, state.noise_critic_opt, grad)
    return state.replace(noise_critic=noise_critic, noise_critic_opt=opt, key=key), loss


def fused_round(spec: Spec, state: AgentState, batches: Batch, distill_obs: jax.Array | None, policy_params: Params,
                update_actor: bool = True) -> tuple[AgentState, dict[str, jax.Array], jax.Array | None]:
    """``len(batches)`` gradient steps, then (NA) one distillation step per row of ``distill_obs`` (n, B, obs_dim):
    the state after them and the per-step losses, stacked."""
    state, losses = jax.lax.scan(partial(gradient_step, spec, policy_params=policy_params, update_actor=update_actor),
                                 state, batches)
    distill_losses = None
    if distill_obs is not None:
        state, distill_losses = jax.lax.scan(partial(distill_step, spec, policy_params=policy_params), state, distill_obs)
    return state, losses, distill_losses


_act = jax.jit(lambda actor, params, obs, eps: actor(params, obs, eps), static_argnums=0)
_gradient_step = jax.jit(gradient_step, static_argnums=0, static_argnames="update_actor")
_distill_step = jax.jit(distill_step, static_argnums=0)
_fused_round = jax.jit(fused_round, static_argnums=0, static_argnames="update_actor")
_noise_q_values = jax.jit(noise_q_values, static_argnums=0)
_q_values = jax.jit(q_values, static_argnums=0)
_td_target = jax.jit(td_target, static_argnums=0)


class DSRLAgent:
    """Actor, critics and temperature of DSRL-SAC or DSRL-NA over ``policy``'s noise (``args``: a
    :class:`vlmreward_rl.algos.dsrl.Args`; weights drawn from ``args.seed``): the state, and the compiled functions
    above called on it."""

    def __init__(self, args: Any, obs_dim: int, policy: NoisePolicy):
        if args.variant not in ("na", "sac"):
            raise ValueError(f"variant must be one of ('na', 'sac'), got {args.variant!r}")
        actor_lr = args.learning_rate if args.actor_learning_rate is None else args.actor_learning_rate
        self.policy, self.obs_dim = policy, obs_dim
        self.noise_shape = tuple(policy.noise_shape)
        self.noise_dim, chunk_dim = int(np.prod(self.noise_shape)), int(np.prod(policy.action_shape))
        self.spec = Spec(args.variant, args.gamma, args.tau, args.target_entropy, float(args.action_magnitude),
                         args.hidden, args.layers, args.learning_rate, actor_lr, self.noise_dim, Decoder.of(policy))
        spec = self.spec
        k_actor, k_critic, k_noise, key = jax.random.split(jax.random.PRNGKey(args.seed), 4)
        # SAC: the critics read the noise; NA: the real (decoded) chunk.
        critic_in = chunk_dim if spec.na else self.noise_dim
        actor = spec.actor.init(k_actor, obs_dim)
        critic = spec.critics.init(k_critic, jnp.zeros((1, obs_dim + critic_in)))
        # NA: one noise critic per critic, each distilled from its own (the authors' critic_noise, n_critics of them)
        noise_critic = spec.critics.init(k_noise, jnp.zeros((1, obs_dim + self.noise_dim))) if spec.na else None
        log_alpha = jnp.asarray(math.log(args.init_temperature), jnp.float32)
        self.state = AgentState(actor, critic, jax.tree_util.tree_map(jnp.array, critic), noise_critic, log_alpha,
                                spec.actor_opt.init(actor), spec.critic_opt.init(critic), spec.actor_opt.init(log_alpha),
                                spec.critic_opt.init(noise_critic) if spec.na else None, key)
        self.rng = np.random.default_rng([args.seed, 1])  # the actor's draws when acting in the env
        self.acting: Params | None = None
        """the actor parameters :meth:`act` uses while a round runs beside it (:class:`BackgroundLearner`); None: the
        state's own"""

    @property
    def na(self) -> bool:
        return self.spec.na

    @property
    def policy_params(self) -> Params:
        return self.spec.decoder.params(self.policy)

    @property
    def alpha(self) -> float:
        return float(jnp.exp(self.state.log_alpha))

    def optimizer_steps(self) -> dict[str, int]:
        """Steps each optimiser has taken: ``actor``, ``critic``, ``alpha``, ``noise_critic``."""
        s = self.state
        return {"actor": optimizer_steps(s.actor_opt), "critic": optimizer_steps(s.critic_opt),
                "alpha": optimizer_steps(s.alpha_opt), "noise_critic": optimizer_steps(s.noise_critic_opt)}

    def act(self, obs: np.ndarray, deterministic: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
        """Noise (B, noise_dim) for observations (B, obs_dim): sampled from the actor with standard normal draws
        from ``rng`` (default: the agent's own, seeded from the run's seed), or its mean when ``deterministic``."""
        obs = np.asarray(obs, np.float32).reshape(-1, self.obs_dim)
        eps = None if deterministic else (rng or self.rng).standard_normal((len(obs), self.noise_dim), np.float32)
        params = self.acting if self.acting is not None else self.state.actor
        return np.asarray(_act(self.spec.actor, params, obs, eps)[0])

    def update(self, batches: Batch, distill_obs: np.ndarray | None = None, update_actor: bool = True
               ) -> dict[str, np.ndarray]:
        """One fused round (:func:`fused_round`, one compiled call): a gradient step per batch of ``batches``
        (n, B, ...) (the critics only unless ``update_actor``), then a Q^W step per row of ``distill_obs``
        (m, B, obs_dim) (NA). Returns the per-step losses by name (``losses/noise_critic_loss``: the distillation's)."""
        distill = distill_obs if self.na and distill_obs is not None and len(distill_obs) else None
        self.state, losses, distill_losses = _fused_round(self.spec, self.state, batches, distill, self.policy_params,
                                                          update_actor=update_actor)
        out = {k: np.asarray(v) for k, v in losses.items()}
        if distill_losses is not None:
            out["losses/noise_critic_loss"] = np.asarray(distill_losses)
        return out

    def gradient_step(self, batch: Batch, update_actor: bool = True) -> dict[str, float]:
        """One gradient step compiled alone: the same update as a step of :meth:`update`."""
        self.state, losses = _gradient_step(self.spec, self.state, batch, self.policy_params, update_actor=update_actor)
        return {k: float(v) for k, v in losses.items()}

    def distill_noise_critic(self, obs: np.ndarray) -> float:
        """One Q^W step compiled alone (DSRL-NA) for the states ``obs`` (B, obs_dim)."""
        self.state, loss = _distill_step(self.spec, self.state, jnp.asarray(obs), self.policy_params)
        return float(loss)

    def decode(self, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """pi_base(s, w) flattened, (B, chunk * act_dim)."""
        return np.asarray(self.spec.decoder(self.policy_params, jnp.asarray(obs), jnp.asarray(noise).reshape(len(obs), -1)))

    def critic_values(self, obs: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Q_i(s, x) (n, B): x the decoded chunk (NA) or the scaled noise (SAC)."""
        return np.asarray(_q_values(self.spec, self.state.critic, jnp.asarray(obs), jnp.asarray(x)))

    def noise_critic_values(self, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Q^W_i(s, w) (NA) or Q_i(s, w) (SAC), (n, B), for unscaled noise."""
        return np.asarray(_noise_q_values(self.spec, self.state, self.state.critic, jnp.asarray(obs), jnp.asarray(noise)))

    def save(self, path: str | Path, **metadata: Any) -> Path:
        """The whole state (parameters, optimiser states, temperature, key) as named arrays in a safetensors file;
        ``metadata`` (JSON-able: the step, the run's args) in its header."""
        return save_tree(path, self.state, metadata)

    def load(self, path: str | Path) -> dict[str, Any]:
        """Replace the state with the one :meth:`save` wrote (for the same args and policy); returns its metadata."""
        state, metadata = load_tree(path, self.state)
        self.state = jax.tree_util.tree_map(jnp.asarray, state)
        return metadata


class BackgroundLearner:
    """The agent's rounds in a worker thread, beside the env stepping in the caller's: at most one round in flight.

    :meth:`submit` first waits for the round before (so the learner never falls more than a round behind the env;
    it cannot run ahead, its batches being drawn by the caller), then freezes the actor it produced as the one
    :meth:`DSRLAgent.act` uses (``agent.acting``) and starts the new round on it. The env is thus stepped with the
    actor one round older than a sequential run's, whatever the timing, so a run is as deterministic as a
    sequential one and does the same updates per env step. A compiled round holds no Python lock while it runs
    (XLA's own threads), so it overlaps the simulator, the reward model and the base policy's decode.
    """

    def __init__(self, agent: DSRLAgent):
        from concurrent.futures import ThreadPoolExecutor

        self.agent, self._pool, self._running = agent, ThreadPoolExecutor(1, thread_name_prefix="dsrl-learner"), None
        self.alpha = agent.alpha
        """the temperature after the last round waited for"""

    def submit(self, batches: Batch, distill_obs: np.ndarray | None = None,
               update_actor: bool = True) -> dict[str, np.ndarray] | None:
        """Start a round (as :meth:`DSRLAgent.update`); returns the per-step losses of the round before, if any."""
        losses = self.wait()
        self.agent.acting = self.agent.state.actor
        self._running = self._pool.submit(self.agent.update, batches, distill_obs, update_actor)
        return losses

    def wait(self) -> dict[str, np.ndarray] | None:
        """Finish the round in flight (its losses, or None if none ran) and act with the latest actor again."""
        losses = self._running.result() if self._running is not None else None
        self._running, self.agent.acting, self.alpha = None, None, self.agent.alpha
        return losses

    def close(self) -> None:
        self.wait()
        self._pool.shutdown()
