"""Late learned rewards (``reward_kwargs scoring async`` or ``deferred``), shared by PPO and DSRL.

Such an env pays ``NaN`` for a step whose reward is still being scored and names the step in
``info["reward_model"]`` (``episode``, ``step``); the real reward comes later as a
:class:`~vlmreward_gym.wrappers.scoring.Relabel` from ``pop_relabels()`` (what has arrived) or
``flush()`` (everything). A step is keyed ``(env, episode, step)``, ``env`` being the index of the
env in the algorithm's list or vector. After a ``flush()`` every pending step must have its
reward: one that is missing is an error, never a silent zero.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from vlmreward_gym.wrappers.scoring import Relabel

Key = tuple[int, int, int]


class MissingRewardError(RuntimeError):
    """A pending step's reward did not arrive although the env was flushed."""


def by_key(relabels: Iterable[Relabel], env: int | None = None) -> dict[Key, Relabel]:
    """``relabels`` keyed ``(env, episode, step)``; ``env`` replaces ``Relabel.env`` (0 for a single env)."""
    return {(r.env if env is None else env, r.episode, r.step): r for r in relabels}


def step_key(info: Mapping, env: int) -> Key:
    """The key of the step whose single-env ``info`` this is (env ``env`` of the algorithm's list)."""
    rm = info.get("reward_model", {})
    return env, int(rm.get("episode", 0)), int(rm.get("step", 0))


def late_rewards(keys: np.ndarray, arrived: Mapping[Key, Relabel], strict: bool = True) -> list[Relabel | None]:
    """The relabel of each pending step ``keys`` (n, 3) int ``(env, episode, step)``; None where it has
    not arrived yet, which is an error (:class:`MissingRewardError`) when ``strict`` (after a flush)."""
    found = []
    for env, episode, step in np.reshape(keys, (-1, 3)).tolist():
        relabel = arrived.get((env, episode, step))
        if relabel is None and strict:
            raise MissingRewardError(f"no reward arrived for env {env}, episode {episode}, step {step} "
                                     f"although the env was flushed")
        found.append(relabel)
    return found
