"""Stable-Baselines3 on learned-reward envs: an env adapter and a reward-fidelity callback.

    from stable_baselines3 import PPO, SAC
    from vlmreward_rl.algos.sb3 import RewardFidelityCallback, make_sb3_vec_env

    env = make_sb3_vec_env("vlmreward/PointReach-v0", n_envs=4, model="noisy-oracle", form="dense",
                           instruction="move the red dot onto the green dot",
                           model_kwargs={"mae": 0.5}, reward_kwargs={"relative": True})
    PPO("MlpPolicy", env, tensorboard_log="runs").learn(
        50_000, callback=RewardFidelityCallback(), tb_log_name="PointReach-v0__sb3-ppo__noisy-oracle-dense__s0")

SB3 sees only the learned reward: ``rollout/ep_rew_mean`` is the return under the reward model.
The simulator's reward stays in ``info["env_reward"]`` and the model's answers in
``info["reward_model"]``. The adapter copies the simulator's ``info["success"]`` to
``info["is_success"]`` so SB3 logs ``rollout/success_rate``; time-outs reach SB3 as
``TimeLimit.truncated`` and are bootstrapped by its PPO and SAC. The callback logs the same
``charts/`` and ``reward/`` scalars as :mod:`vlmreward_rl.algos.ppo_gae` (success precision/recall of the reward
model, Pearson correlation of the learned reward with oracle progress, ...).

For an env you built yourself, ``wrap_for_sb3(vlmreward_gym.wrap(env, ...))`` does the same per env.

Rewards must be scored synchronously (``reward_kwargs scoring sync``, the default): SB3 stores each
step's reward as it is returned and has no way to take the real one later, so the NaN of a pending
``async`` or ``deferred`` reward would reach its buffers ("found nan in rewards", then a torch error).
Both entry points refuse the other modes.
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from vlmreward_rl.algos.common.envs import build_model, make_env
from vlmreward_rl.algos.common.metrics import RolloutStats, fields_from_infos
from vlmreward_gym.models.base import RewardModel


class SuccessInfo(gym.Wrapper):
    """Adds ``info["is_success"]`` (SB3's name) from the oracle protocol's ``info["success"]``."""

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "success" in info:
            info = {**info, "is_success": bool(np.asarray(info["success"]))}
        return obs, reward, terminated, truncated, info


def require_sync_scoring(scoring: str) -> None:
    """Refuse a scoring mode that delivers rewards late (see the module docstring)."""
    if scoring != "sync":
        raise ValueError(f"SB3 needs every reward when the step returns, but scoring={scoring!r} pays NaN for a "
                         f"pending one and delivers it later, which SB3 cannot take: use scoring='sync' (or "
                         f"vlmreward_rl.algos.ppo_gae / vlmreward_rl.algos.dsrl, which relabel late rewards)")


def wrap_for_sb3(env: gym.Env) -> gym.Env:
    """A learned-reward env ready for SB3: ``is_success`` in info and a Monitor for episode stats.
    Raises ValueError if the env's learned reward is scored late (``scoring`` other than ``sync``)."""
    try:
        engine = env.get_wrapper_attr("engine")
    except AttributeError:  # no learned-reward wrapper: the env's own reward, always there at once
        engine = None
    if engine is not None:
        require_sync_scoring(engine.scoring)
    return Monitor(SuccessInfo(env))


def make_sb3_vec_env(env_id: str, n_envs: int = 1, *, model: str | RewardModel, form: str, instruction: str,
                     model_kwargs: Mapping[str, Any] | None = None, reward_kwargs: Mapping[str, Any] | None = None,
                     env_kwargs: Mapping[str, Any] | None = None, seed: int = 0,
                     vec_env_cls: type[VecEnv] = DummyVecEnv) -> VecEnv:
    """``n_envs`` learned-reward copies of ``env_id`` as an SB3 VecEnv (seeded ``seed``, ``seed + 1``, ...), sharing
    one reward model (``model``: a registered name, built once with ``model_kwargs``, or a model). SB3 steps its
    envs one after another, so each asks the model on its own.

    Pass ``vec_env_cls=SubprocVecEnv`` for one process per env (simulators: also
    ``vec_env_kwargs={"start_method": "spawn"}`` is needed; build it with SB3's make_vec_env directly).
    ``reward_kwargs`` must leave ``scoring`` at ``sync`` (ValueError otherwise).
    """
    require_sync_scoring(dict(reward_kwargs or {}).get("scoring", "sync"))
    reward_model = build_model(model, model_kwargs)  # one model shared by the envs (a SubprocVecEnv copies it)

    def factory() -> gym.Env:
        return SuccessInfo(make_env(env_id, model=reward_model, form=form, instruction=instruction,
                                    reward_kwargs=reward_kwargs, env_kwargs=env_kwargs))

    return make_vec_env(factory, n_envs=n_envs, seed=seed, vec_env_cls=vec_env_cls)


class RewardFidelityCallback(BaseCallback):
    """Logs ``charts/`` and ``reward/`` metrics of the learned reward (see :mod:`vlmreward_rl.algos.common.metrics`).

    Steps are gathered from the training env's infos; every rollout end with at least
    ``log_every`` new steps (PPO: each rollout; SAC: every ``log_every`` steps) the window's
    scalars are recorded to SB3's logger and kept in :attr:`last`.
    """

    def __init__(self, log_every: int = 1000, verbose: int = 0):
        super().__init__(verbose)
        self.log_every = int(log_every)
        self.last: dict[str, float] = {}

    def _init_callback(self) -> None:
        self.stats = RolloutStats(self.training_env.num_envs)
        self._steps = 0

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        dones = np.asarray(self.locals["dones"], bool)
        truncated = dones & np.array([bool(i.get("TimeLimit.truncated", False)) for i in infos])
        self.stats.add(np.asarray(self.locals["rewards"], np.float64), dones & ~truncated, truncated,
                       fields_from_infos(infos))
        self._steps += len(infos)
        return True

    def _on_rollout_end(self) -> None:
        if self._steps < self.log_every:
            return
        self.last = {k: v for k, v in self.stats.summary().items() if np.isfinite(v)}
        for key, value in self.last.items():
            self.logger.record(key, value)
        self.stats.clear()
        self._steps = 0
