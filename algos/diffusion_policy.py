"""A state-based diffusion policy trained by behaviour cloning on the shared trajectory format (JAX/Flax).

    vlmreward bc --demos DIR --out DIR [--kinds expert] [--steps 4000] [--eval-env vlmreward/PointReach-v0]

The policy predicts an action chunk ``(chunk_size, act_dim)`` from one observation. Training is DDPM's
epsilon prediction (cosine betas, ``train_timesteps`` steps); sampling is DDIM with ``eta = 0``, so the map
(observation, initial noise) -> action chunk is deterministic: the property DSRL steers
(:mod:`vlmreward_rl.algos.dsrl`). Both are diffusers' ``DDPMScheduler`` / ``DDIMScheduler`` (``squaredcos_cap_v2``,
``clip_sample``, ``set_alpha_to_one``, ``timestep_spacing="trailing"``) written out in :mod:`jax.numpy`
(:class:`DDIMSchedule`; tests/algos/test_diffusion_policy.py checks them against diffusers), so
:meth:`DiffusionPolicy.decode` is a pure function of the parameters that DSRL-NA's jit-compiled learner traces
into its critic update. Observations are standardised, actions mapped to [-1, 1] by the demos' per-dimension
min/max (and back). Saved as ``model.safetensors`` (the parameter tree's arrays by name) + ``config.json``; a
checkpoint written by the former torch version of this module (``model.net.<i>.weight`` names) is converted
on load.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tyro
from tqdm.auto import tqdm

from vlmreward_rl.algos.common.chunks import evaluate_base_policy
from vlmreward_rl.algos.common.jax_nets import MLP, Params, apply_updates
from vlmreward_rl.algos.common.tree_io import TreeFileError, read_arrays, save_tree, unflatten
from vlmreward_gym.data import Trajectory, load_trajectories

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


@dataclass(frozen=True)
class DiffusionConfig:
    obs_dim: int
    act_dim: int
    chunk_size: int = 4
    """actions predicted (and executed) per observation"""
    hidden: int = 256
    layers: int = 3
    time_dim: int = 32
    """width of the sinusoidal timestep embedding"""
    train_timesteps: int = 20
    """DDPM diffusion steps in training (the paper's Lift/Can setting)"""
    inference_steps: int = 8
    """DDIM steps when sampling"""

    @property
    def flat_dim(self) -> int:
        return self.chunk_size * self.act_dim


def timestep_embedding(t: jax.Array, dim: int) -> jax.Array:
    """Sinusoidal embedding of diffusion steps t (B,) -> (B, dim): ``[sin(t f), cos(t f)]``, ``f = 10^(-4 i / half)``."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = t.astype(jnp.float32)[:, None] * freqs[None]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class NoisePredictor(MLP):
    """epsilon(noisy chunk (B, chunk * act_dim), t (B,), normalised observation (B, obs_dim)) -> (B, chunk * act_dim):
    an MLP with Mish (no LayerNorm) over the concatenated inputs and the timestep embedding."""

    time_dim: int = 32
    layer_norm: bool = False
    activation: str = "mish"

    def __call__(self, sample: jax.Array, t: jax.Array, obs: jax.Array) -> jax.Array:  # type: ignore[override]
        return super().__call__(jnp.concatenate([sample, obs, timestep_embedding(t, self.time_dim)], axis=-1))


def alphas_cumprod(train_timesteps: int) -> np.ndarray:
    """diffusers' ``squaredcos_cap_v2`` schedule (``betas_for_alpha_bar``, max beta 0.999): prod_s (1 - beta_s),
    float32 (T,)."""
    bar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - bar((i + 1) / train_timesteps) / bar(i / train_timesteps), 0.999)
                      for i in range(train_timesteps)], np.float32)
    return np.cumprod(np.float32(1.0) - betas, dtype=np.float32)


@dataclass(frozen=True)
class DDIMSchedule:
    """The DDIM (eta = 0) steps of diffusers' ``DDIMScheduler`` with ``timestep_spacing="trailing"`` and
    ``set_alpha_to_one``: step k goes from diffusion step ``timesteps[k]`` (cumulative alpha ``alpha[k]``) to
    ``timesteps[k] - T // inference_steps`` (``alpha_prev[k]``, 1 below step 0)."""

    timesteps: tuple[int, ...]
    alpha: tuple[float, ...]
    alpha_prev: tuple[float, ...]

    @classmethod
    def of(cls, config: DiffusionConfig) -> "DDIMSchedule":
        T, n = config.train_timesteps, config.inference_steps
        cumprod = alphas_cumprod(T)
        timesteps = (np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1).tolist()
        prev = [t - T // n for t in timesteps]
        return cls(tuple(timesteps), tuple(float(cumprod[t]) for t in timesteps),
                   tuple(float(cumprod[p]) if p >= 0 else 1.0 for p in prev))


def normalize_obs(params: Params, obs: jax.Array) -> jax.Array:
    return (obs - params["obs_mean"]) / params["obs_std"]


def normalize_actions(params: Params, actions: jax.Array) -> jax.Array:
    return 2.0 * (actions - params["act_low"]) / (params["act_high"] - params["act_low"]) - 1.0


def unnormalize_actions(params: Params, actions: jax.Array) -> jax.Array:
    return (actions + 1.0) / 2.0 * (params["act_high"] - params["act_low"]) + params["act_low"]


@dataclass(frozen=True)
class DDIMDecoder:
    """The deterministic DDIM (eta = 0) map of a :class:`DiffusionConfig`'s policy, a pure function of its parameters:
    diffusers' ``DDIMScheduler.step`` (the predicted clean sample clipped to [-1, 1], the predicted noise kept),
    its steps a ``jax.lax.scan``. Equal configs, equal decoders (a compiled caller is reused)."""

    config: DiffusionConfig

    def __call__(self, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
        """obs (B, obs_dim) in env units, noise (B, chunk, act_dim) -> float32 (B, chunk, act_dim) actions in env units."""
        config, schedule = self.config, DDIMSchedule.of(self.config)
        model = NoisePredictor(config.hidden, config.layers, config.flat_dim, time_dim=config.time_dim)
        cond, x = normalize_obs(params, obs), noise.reshape(noise.shape[0], -1)
        steps = (jnp.asarray(schedule.timesteps, jnp.int32), jnp.asarray(schedule.alpha, jnp.float32),
                 jnp.asarray(schedule.alpha_prev, jnp.float32))

        def step(x: jax.Array, s: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, None]:
            t, alpha, alpha_prev = s
            eps = model.apply(params["model"], x, jnp.full((x.shape[0],), t), cond)
            x0 = jnp.clip((x - jnp.sqrt(1.0 - alpha) * eps) / jnp.sqrt(alpha), -1.0, 1.0)
            return jnp.sqrt(alpha_prev) * x0 + jnp.sqrt(1.0 - alpha_prev) * eps, None

        x, _ = jax.lax.scan(step, x, steps)
        return unnormalize_actions(params, jnp.clip(x, -1.0, 1.0).reshape(noise.shape))


@partial(jax.jit, static_argnums=0)
def _decode(decoder: DDIMDecoder, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
    return decoder(params, obs, noise)


class DiffusionPolicy:
    """Observation (B, obs_dim) + noise (B, chunk_size, act_dim) -> action chunk (B, chunk_size, act_dim).

    ``noise_shape`` is the shape of one initial noise; the base policy draws it from N(0, I). ``params`` holds
    the noise predictor's Flax parameters (``model``) and the normalisation (``obs_mean``, ``obs_std``,
    ``act_low``, ``act_high``); :meth:`decode` is the pure (jit-traceable) DDIM map of them, :meth:`sample` its
    compiled NumPy front. ``seed`` draws the initial weights.
    """

    def __init__(self, config: DiffusionConfig, seed: int = 0):
        self.config = config
        self.model = NoisePredictor(config.hidden, config.layers, config.flat_dim, time_dim=config.time_dim)
        self.schedule = DDIMSchedule.of(config)
        self._alphas_cumprod = jnp.asarray(alphas_cumprod(config.train_timesteps))
        dummy = jnp.zeros((1, config.flat_dim))
        model = self.model.init(jax.random.PRNGKey(seed), dummy, jnp.zeros((1,), jnp.int32),
                                jnp.zeros((1, config.obs_dim)))
        self.params: Params = {"model": model, "obs_mean": jnp.zeros(config.obs_dim), "obs_std": jnp.ones(config.obs_dim),
                               "act_low": -jnp.ones(config.act_dim), "act_high": jnp.ones(config.act_dim)}

    @property
    def noise_shape(self) -> tuple[int, int]:
        return (self.config.chunk_size, self.config.act_dim)

    @property
    def action_shape(self) -> tuple[int, int]:
        """Shape of one decoded chunk (the same as ``noise_shape``)."""
        return self.noise_shape

    @property
    def chunk_size(self) -> int:
        return self.config.chunk_size

    @property
    def act_dim(self) -> int:
        return self.config.act_dim

    def set_normalization(self, obs: np.ndarray, actions: np.ndarray) -> None:
        """Standardise observations (std with Bessel's correction, at least 1e-3); map each action dimension's
        [min, max] onto [-1, 1] (a constant dimension onto [value - 1, value + 1])."""
        obs, actions = np.asarray(obs, np.float32), np.asarray(actions, np.float32)
        low, high = actions.min(0), actions.max(0)
        flat = (high - low) < 1e-6
        self.params = {**self.params, "obs_mean": jnp.asarray(obs.mean(0)),
                       "obs_std": jnp.asarray(np.maximum(obs.std(0, ddof=1), 1e-3)),
                       "act_low": jnp.asarray(np.where(flat, low - 1.0, low)),
                       "act_high": jnp.asarray(np.where(flat, high + 1.0, high))}

    def loss(self, params: Params, obs: jax.Array, chunks: jax.Array, key: jax.Array) -> jax.Array:
        """DDPM epsilon-prediction loss (mean squared error) of observations (B, obs_dim) and demo chunks
        (B, chunk, act_dim), with noise and diffusion steps drawn from ``key``."""
        x0 = normalize_actions(params, chunks).reshape(chunks.shape[0], -1)
        noise_key, t_key = jax.random.split(key)
        noise = jax.random.normal(noise_key, x0.shape)
        t = jax.random.randint(t_key, (x0.shape[0],), 0, self.config.train_timesteps)
        alpha = self._alphas_cumprod[t][:, None]
        noisy = jnp.sqrt(alpha) * x0 + jnp.sqrt(1.0 - alpha) * noise  # DDPMScheduler.add_noise
        eps = self.model.apply(params["model"], noisy, t, normalize_obs(params, obs))
        return jnp.mean((eps - noise) ** 2)

    @property
    def decoder(self) -> "DDIMDecoder":
        """The pure DDIM map of this architecture (hashable: a static argument of compiled functions)."""
        return DDIMDecoder(self.config)

    def decode(self, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
        """:class:`DDIMDecoder` of ``params``: (B, obs_dim) x (B, chunk, act_dim) -> (B, chunk, act_dim)."""
        return self.decoder(params, obs, noise)

    def sample(self, obs: Any, noise: Any = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """:meth:`decode` of NumPy (or torch) inputs, compiled: ``noise`` (B, chunk, act_dim), drawn from N(0, I)
        with ``rng`` if None. Deterministic in (obs, noise). Returns float32 (B, chunk, act_dim) actions."""
        obs = np.asarray(obs, np.float32).reshape(-1, self.config.obs_dim)
        if noise is None:
            noise = (rng or np.random.default_rng()).standard_normal((obs.shape[0], *self.noise_shape))
        noise = np.asarray(noise, np.float32)
        if noise.shape != (obs.shape[0], *self.noise_shape):
            raise ValueError(f"noise must be (B, {self.noise_shape[0]}, {self.noise_shape[1]}) for B={obs.shape[0]}, "
                             f"got {tuple(noise.shape)}")
        return np.asarray(_decode(self.decoder, self.params, obs, noise))

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_tree(out / WEIGHTS_FILE, self.params, {"format": "flax"})
        (out / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path) -> "DiffusionPolicy":
        """Read a policy folder; a torch-era ``model.safetensors`` (``model.net.<i>.weight`` names) is converted.

        Raises :class:`~vlmreward_rl.algos.common.tree_io.TreeFileError` naming the mismatch and the retraining
        command when the weights fit neither format."""
        path = Path(path)
        policy = cls(DiffusionConfig(**json.loads((path / CONFIG_FILE).read_text())))
        arrays, _ = read_arrays(path / WEIGHTS_FILE)
        if TORCH_FIRST_LAYER in arrays:
            arrays = from_torch_state_dict(arrays, policy.config.layers)
        try:
            policy.params = jax.tree_util.tree_map(jnp.asarray, unflatten(policy.params, arrays, str(path / WEIGHTS_FILE)))
        except TreeFileError as error:
            raise TreeFileError(f"{error}. The policy folder {path} was not written by this version of "
                                f"vlmreward_rl.algos.diffusion_policy for its config.json; retrain it with `vlmreward bc "
                                f"--demos <demos folder> --out {path}`") from None
        return policy


TORCH_FIRST_LAYER = "model.net.0.weight"


def from_torch_state_dict(state: Mapping[str, np.ndarray], layers: int) -> dict[str, np.ndarray]:
    """The torch version's state dict (``model.net.<2i>.weight`` (out, in) / ``.bias`` for the ``layers`` hidden
    Linear layers and the head, Mish between them; ``obs_mean`` ...) as this version's named arrays."""
    names = {f"model.net.{2 * i}": f"model/params/Linear_{i}" for i in range(layers + 1)}
    out = {k: np.asarray(state[k]) for k in ("obs_mean", "obs_std", "act_low", "act_high") if k in state}
    for torch_name, flax_name in names.items():
        if f"{torch_name}.weight" in state:
            out[f"{flax_name}/kernel"] = np.ascontiguousarray(np.asarray(state[f"{torch_name}.weight"]).T)
            out[f"{flax_name}/bias"] = np.asarray(state[f"{torch_name}.bias"])
    return out


def chunk_dataset(trajectories: Sequence[Trajectory], chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (obs[t], actions[t : t + chunk_size]) pair of the trajectories; chunks that run past
    an episode's end repeat its last action. Returns obs (N, D) and chunks (N, chunk_size, A)."""
    obs, chunks = [], []
    for traj in trajectories:
        T = traj.num_steps
        if T == 0:
            continue
        index = np.minimum(np.arange(T)[:, None] + np.arange(chunk_size)[None], T - 1)
        obs.append(traj.obs[:T])
        chunks.append(traj.actions[index])
    if not obs:
        raise ValueError("no demo steps to train on")
    return np.concatenate(obs).astype(np.float32), np.concatenate(chunks).astype(np.float32)


def train_bc(trajectories: Sequence[Trajectory], config: DiffusionConfig | None = None, steps: int = 4000,
             batch_size: int = 256, learning_rate: float = 3e-4, seed: int = 0,
             log_every: int = 0, progress: str | None = None) -> tuple[DiffusionPolicy, list[float]]:
    """Fit a :class:`DiffusionPolicy` to the demos (AdamW as torch's, weight decay 1e-6, cosine LR decay to 0 over
    ``steps``; batches of ``batch_size`` drawn with replacement). Returns it and the loss per step. ``progress``:
    the description of a tqdm bar over the steps (None: no bar)."""
    obs, chunks = chunk_dataset(trajectories, (config.chunk_size if config else 4))
    if config is None:
        config = DiffusionConfig(obs_dim=obs.shape[1], act_dim=chunks.shape[2])
    if (config.obs_dim, config.act_dim) != (obs.shape[1], chunks.shape[2]):
        raise ValueError(f"config dims {(config.obs_dim, config.act_dim)} do not match the demos "
                         f"{(obs.shape[1], chunks.shape[2])}")
    policy = DiffusionPolicy(config, seed=seed)
    policy.set_normalization(obs, chunks.reshape(-1, config.act_dim))
    optimizer = optax.adamw(optax.cosine_decay_schedule(learning_rate, max(steps, 1)), b1=0.9, b2=0.999, eps=1e-8,
                            weight_decay=1e-6)
    data_obs, data_chunks, batch = jnp.asarray(obs), jnp.asarray(chunks), min(batch_size, len(obs))

    @jax.jit
    def step(model: Params, opt_state: Any, normalization: Params, key: jax.Array):
        index_key, loss_key = jax.random.split(key)
        index = jax.random.randint(index_key, (batch,), 0, data_obs.shape[0])
        loss, grads = jax.value_and_grad(lambda m: policy.loss({**normalization, "model": m}, data_obs[index],
                                                               data_chunks[index], loss_key))(model)
        model, opt_state = apply_updates(optimizer, model, opt_state, grads)
        return model, opt_state, loss

    normalization = {k: v for k, v in policy.params.items() if k != "model"}
    model, opt_state, key = policy.params["model"], optimizer.init(policy.params["model"]), jax.random.PRNGKey(seed)
    losses = []
    for i in tqdm(range(steps), desc=progress, unit="step", disable=progress is None, leave=False):
        key, sub = jax.random.split(key)
        model, opt_state, loss = step(model, opt_state, normalization, sub)
        losses.append(loss)
        if log_every and (i + 1) % log_every == 0:
            tqdm.write(f"bc step {i + 1}/{steps}: loss {float(np.mean(losses[-log_every:])):.4f}")
    policy.params = {**policy.params, "model": model}
    return policy, [float(x) for x in jax.device_get(losses)]


@dataclass(frozen=True)
class BCTraining:
    """The policy's architecture and the BC optimisation: what :func:`train_bc` needs besides the data."""

    chunk_size: int = 4
    hidden: int = 256
    layers: int = 3
    train_timesteps: int = 20
    inference_steps: int = 8
    steps: int = 4000
    batch_size: int = 256
    learning_rate: float = 3e-4

    def config(self, obs_dim: int, act_dim: int) -> DiffusionConfig:
        return DiffusionConfig(obs_dim=obs_dim, act_dim=act_dim, chunk_size=self.chunk_size, hidden=self.hidden,
                               layers=self.layers, train_timesteps=self.train_timesteps,
                               inference_steps=self.inference_steps)

    def fit(self, trajectories: Sequence[Trajectory], seed: int = 0, log_every: int = 0,
            progress: str | None = None) -> tuple[DiffusionPolicy, list[float]]:
        """:func:`train_bc` on ``trajectories`` with these settings (dims from the first trajectory); ``progress``:
        a progress bar's description (None: no bar)."""
        first = trajectories[0]
        return train_bc(trajectories, self.config(first.obs.shape[1], first.actions.shape[1]), self.steps,
                        self.batch_size, self.learning_rate, seed, log_every, progress)


@dataclass(frozen=True)
class BCArgs(BCTraining):
    demos: str = field(kw_only=True)
    """trajectory dataset folder (vlmreward_gym.data format)"""
    out: str = field(kw_only=True)
    """output folder: model.safetensors, config.json, bc.json"""
    kinds: tuple[str, ...] = ("expert",)
    """trajectory kinds to clone (e.g. expert noisy)"""
    max_trajectories: int | None = None
    """use only the first this many trajectories"""
    seed: int = 0
    eval_env: str | None = None
    """if set, roll the policy out in this Gymnasium env and report its success rate"""
    eval_episodes: int = 20


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(BCArgs, args=argv)
    trajectories = load_trajectories(args.demos, args.kinds)[:args.max_trajectories]
    if not trajectories:
        raise SystemExit(f"vlmreward bc: no trajectories of kinds {list(args.kinds)} in {args.demos}")
    start = time.time()
    policy, losses = args.fit(trajectories, args.seed, log_every=max(args.steps // 10, 1), progress="BC")
    policy.save(args.out)
    report = {"trajectories": len(trajectories), "demo_steps": int(sum(t.num_steps for t in trajectories)),
              "final_loss": float(np.mean(losses[-100:])), "seconds": round(time.time() - start, 1)}
    if args.eval_env:
        report.update(evaluate_base_policy(policy, args.eval_env, args.eval_episodes, seed=args.seed))
    (Path(args.out) / "bc.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
