"""Executing a frozen noise-conditioned policy's action chunks: the noise as the action.

A :class:`NoisePolicy` maps (observation, noise w) deterministically to an action chunk (a diffusion
policy with DDIM, eta = 0: :mod:`vlmreward_rl.algos.diffusion_policy`; PI0: :mod:`vlmreward_rl.algos.pi0_noise`).
:class:`ChunkRunner` makes that noise the action of a vector env: it decodes a chunk per sub-env,
executes it (stopping where the episode ends) and hands back each finished :class:`Chunk` with its
steps' rewards. :func:`run_episodes` rolls whole episodes out with it (the base policy's N(0, I)
noise, :func:`base_noise`, or any other), and :func:`evaluate_base_policy` measures a base policy in
the bare simulator. DSRL learns the noise (:mod:`vlmreward_rl.algos.dsrl`); success-filtered BC rolls
the base policy out (:mod:`vlmreward_rl.algos.filtered_bc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from tqdm.auto import tqdm

from vlmreward_rl.algos.common.envs import make_vector_env
from vlmreward_rl.algos.common.metrics import RolloutStats, fields_from_infos
from vlmreward_gym.wrappers.vector import sub_info, sub_obs


class NoisePolicy(Protocol):
    """What DSRL steers: a deterministic map (observations, noise) -> action chunks.

    A policy written in JAX (:class:`~vlmreward_rl.algos.diffusion_policy.DiffusionPolicy`) also offers
    ``params`` and a pure ``decode(params, obs, noise) -> actions``, which DSRL's compiled learner traces into its
    updates; any other (pi0 in torch) is only asked for :meth:`sample`."""

    noise_shape: tuple[int, int]  # shape of one initial noise, e.g. (chunk_size, act_dim)
    action_shape: tuple[int, int]  # shape of one decoded chunk (chunk_size, act_dim)

    def sample(self, obs: Any, noise: np.ndarray) -> Any:
        """obs: a batch of B observations; noise (B, *noise_shape) float32 -> actions (B, chunk, act_dim), a NumPy
        array or a CPU torch tensor."""


def chunk_return(step_rewards: Sequence[float], step_discount: float = 1.0) -> float:
    """The reward of a chunk: its steps' rewards, the j-th (from 0) weighted ``step_discount ** j``, summed in order
    (NaN while one is pending). With ``step_discount`` 1 the plain sum of the authors' ``ActionChunkWrapper.step``
    (ajwagen/dsrl, env_utils.py); see :func:`vlmreward_rl.algos.dsrl.step_discount` for when it is not 1."""
    return float(sum(step_discount ** j * float(r) for j, r in enumerate(step_rewards)))


@dataclass
class Chunk:
    """What one sub-env did with one decoded action chunk."""

    env: int
    obs: Any
    """the observation the chunk was decoded from"""
    noise: np.ndarray
    """the initial noise, flat (noise_dim,)"""
    actions: np.ndarray
    """the whole decoded chunk (chunk, act_dim), for the NA critic"""
    step_discount: float = 1.0
    """the weight of a step's reward is ``step_discount ** j`` (:func:`chunk_return`)"""
    rewards: list[float] = field(default_factory=list)
    """each executed step's learned reward (NaN: pending, relabelled later)"""
    keys: list[tuple[int, int]] = field(default_factory=list)
    """each executed step's ``(episode, step)`` from ``info["reward_model"]`` (0 without one)"""
    env_reward: float | None = None
    """the simulator's reward summed over the executed steps (None if the env reports none)"""
    next_obs: Any = None
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    """the last executed step's info (its ``env_reward`` the chunk's sum)"""

    @property
    def steps(self) -> int:
        return len(self.rewards)

    @property
    def reward(self) -> float:
        return chunk_return(self.rewards, self.step_discount)

    @property
    def ended(self) -> bool:
        return self.terminated or self.truncated


def select(obs: Any, envs: Sequence[int]) -> Any:
    """The observations of sub-envs ``envs`` as a policy batch: rows of an array, or a list of per-env dicts."""
    if isinstance(obs, dict):
        return [sub_obs(obs, i) for i in envs]
    return np.asarray(obs)[np.asarray(envs, np.int64)]


class ChunkRunner:
    """Executes a frozen policy's action chunks in the sub-envs of a vector env, one env step in all of them at a
    time, so a learned reward is asked once per step for every sub-env (the batched twin of the reward form).

    The vector env must not autoreset (``autoreset_mode="disabled"``). A sub-env without a running chunk
    gets one before the step: ``choose(envs, obs)`` gives the noise of all such sub-envs at once and the
    policy decodes it in one call (DDIM, eta = 0); its actions are clipped to the env's action space as they
    are executed. A chunk ends when its actions are all executed or its episode ends; :meth:`step` returns
    the chunks that ended, and the caller :meth:`reset`\\ s the sub-envs whose episode ended before the next
    step. Chunk boundaries are per sub-env: one that starts a new episode decodes its next chunk at once
    instead of idling until the others finish theirs.
    """

    def __init__(self, envs: VectorEnv, policy: NoisePolicy, step_discount: float = 1.0):
        if envs.metadata.get("autoreset_mode") != AutoresetMode.DISABLED:
            raise ValueError("ChunkRunner needs a vector env made with autoreset_mode 'disabled': a chunk that "
                             "ends its episode must not run on into the next one")
        self.envs, self.policy, self.num_envs, self.step_discount = envs, policy, envs.num_envs, step_discount
        self.noise_shape = tuple(policy.noise_shape)
        self.noise_dim = int(np.prod(self.noise_shape))
        space = envs.single_action_space
        self._low, self._high, self._dtype, self._act_dim = space.low, space.high, space.dtype, space.shape[0]
        self.obs: Any = None
        self._running: list[Chunk | None] = [None] * self.num_envs

    def reset(self, seed: int | Sequence[int | None] | None = None,
              mask: np.ndarray | None = None) -> dict[str, Any]:
        """Reset every sub-env, or those in ``mask``; ``seed`` as Gymnasium's vector ``reset``. Returns the info."""
        if mask is None:
            self.obs, info = self.envs.reset(seed=seed)
            self._running = [None] * self.num_envs
            return info
        mask = np.asarray(mask, bool)
        # a masked reset returns every sub-env's current observation, the others' unchanged
        self.obs, info = self.envs.reset(seed=seed, options={"reset_mask": mask})
        for i in np.flatnonzero(mask):
            self._running[i] = None
        return info

    def decode(self, obs: Any, noise: np.ndarray) -> np.ndarray:
        """The chunks (B, chunk, act_dim) the policy makes of ``noise`` (B, noise_dim) for a batch of observations."""
        noise = np.asarray(noise, np.float32).reshape(-1, *self.noise_shape)
        return np.asarray(self.policy.sample(obs, noise))

    def step(self, choose: Callable[[np.ndarray, Any], np.ndarray]) -> list[Chunk]:
        """One env step in every sub-env (chunks decoded first where needed); the chunks that ended, by sub-env."""
        starting = [i for i, chunk in enumerate(self._running) if chunk is None]
        if starting:
            batch = select(self.obs, starting)
            noise = np.asarray(choose(np.array(starting), batch), np.float32).reshape(len(starting), -1)
            for i, w, actions in zip(starting, noise, self.decode(batch, noise)):
                self._running[i] = Chunk(i, sub_obs(self.obs, i), w, actions, self.step_discount)
        actions = np.stack([np.clip(c.actions[c.steps][:self._act_dim], self._low, self._high) for c in self._running])
        obs, rewards, terminated, truncated, info = self.envs.step(actions.astype(self._dtype))
        self.obs, ended = obs, []
        for i, chunk in enumerate(self._running):
            step_info = sub_info(info, i)
            rm = step_info.get("reward_model", {})
            chunk.rewards.append(float(rewards[i]))
            chunk.keys.append((int(rm.get("episode", 0)), int(rm.get("step", 0))))
            if "env_reward" in step_info:
                chunk.env_reward = (chunk.env_reward or 0.0) + float(step_info["env_reward"])
            if terminated[i] or truncated[i] or chunk.steps == len(chunk.actions):
                chunk.next_obs, chunk.terminated, chunk.truncated = sub_obs(obs, i), bool(terminated[i]), bool(truncated[i])
                chunk.info = step_info if chunk.env_reward is None else {**step_info, "env_reward": chunk.env_reward}
                ended.append(chunk)
                self._running[i] = None
        return ended

    def close(self) -> None:
        self.envs.close()


Choose = Callable[[np.ndarray, Any], np.ndarray]
"""``choose(envs, obs)``: the noise (len(envs), noise_dim) for the sub-envs ``envs`` and their observations."""


def base_noise(noise_shape: Sequence[int], generator: torch.Generator) -> Choose:
    """The base policy's noise: N(0, I), unclipped, drawn from ``generator``."""
    return lambda envs, obs: torch.randn((len(envs), *noise_shape), generator=generator).flatten(1).numpy()


def zero_noise(noise_shape: Sequence[int]) -> Choose:
    """The noise w = 0 for every sub-env (the base policy's deterministic DDIM "mode", where DSRL's actor starts)."""
    noise_dim = int(np.prod(noise_shape))
    return lambda envs, obs: np.zeros((len(envs), noise_dim), np.float32)


def run_episodes(runner: ChunkRunner, choose: Choose | None, episodes: int, seed: int,
                 progress: str | None = None) -> dict[str, float]:
    """Roll out ``episodes`` episodes, one after another in sub-env 0 of a one-env ``runner``, reset seeds
    ``seed``, ``seed + 1``, ...; ``choose`` gives the noise, or None for the base policy (unclipped N(0, I),
    drawn from a generator seeded ``seed``). Chunk-level rollout metrics (``charts/``, ``reward/`` keys).
    ``progress``: the description of a tqdm bar over the episodes, with its ETA (None: no bar)."""
    if runner.num_envs != 1:
        raise ValueError(f"run_episodes rolls out one episode at a time: give it a one-env runner, not {runner.num_envs}")
    stats = RolloutStats(1)
    choose = choose or base_noise(runner.noise_shape, torch.Generator().manual_seed(seed))
    for episode in tqdm(range(episodes), desc=progress, unit="episode", disable=progress is None, leave=False):
        runner.reset(seed=[seed + episode])
        done = False
        while not done:
            for chunk in runner.step(choose):
                stats.add(np.array([chunk.reward]), np.array([chunk.terminated]), np.array([chunk.truncated]),
                          fields_from_infos([chunk.info]))
                done = chunk.ended
    return stats.summary()


def evaluate_base_policy(policy: NoisePolicy, env_id: str, episodes: int, seed: int = 0,
                         **env_kwargs: Any) -> dict[str, float]:
    """Success of the base policy (noise ~ N(0, I)) in the bare env ``env_id``: base/success_rate, ..."""
    runner = ChunkRunner(make_vector_env(env_id, 1, model=None, env_kwargs=env_kwargs, autoreset_mode="disabled"),
                         policy)
    summary = run_episodes(runner, None, episodes, seed)
    runner.close()
    return {"base/success_rate": summary["charts/success_rate"], "base/success_once": summary["charts/success_once"],
            "base/episodic_length": summary["charts/episodic_length"]}
