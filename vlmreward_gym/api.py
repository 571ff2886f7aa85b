"""``vlmreward_gym.wrap``: one call from a rendering env to a learned-reward env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.wrappers import FORMS, LearnedRewardWrapper
from vlmreward_gym.wrappers.vector import LearnedRewardVectorWrapper

__all__ = ["wrap", "FORMS"]


def wrap(env: gym.Env | VectorEnv, model: str | RewardModel = "oracle", form: str = "dense",
         instruction: str | None = None, **kwargs: Any) -> gym.Env | VectorEnv:
    """Wrap ``env`` (single or vector) so its reward comes from ``model`` in the given ``form``.

    The ``vlmreward/<Task>-v1`` ids take the same names: ``gym.make(id, model=..., form=...,
    model_kwargs=..., instruction=..., reward_kwargs={<the rest of kwargs>})`` (see
    :mod:`vlmreward_gym.registration`).

    Args:
        env: a Gymnasium env or vector env that renders (``render_mode='rgb_array'``) or has an
            image observation (pass ``frame_key``), unless the model reads no frames.
        model: a registered backend name or a :class:`RewardModel`. A model built here from a name
            is closed with the wrapper; a model passed in is the caller's to close.
        form: a registered form (:data:`FORMS`): ``episodic`` | ``dense`` | ``contrastive`` |
            ``stage_gated`` (``-`` also accepted).
        instruction: the task in words (``stage_gated`` takes ``stages=[...]`` instead).
        **kwargs: the wrapper's ``model_kwargs`` (the model's options, e.g. ``{"mae": 0.5}``),
            ``frame_key``, ``scoring``, ``scoring_options``, and the form's options, e.g. ``every=5``.
            Anything else is a ``TypeError`` that names the closest option (or, for a model's
            option passed here, says to put it in ``model_kwargs``).

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> import vlmreward_gym as vrg
        >>> env = vrg.wrap(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model="oracle",
        ...                form="dense", instruction="reach the green dot", every=5)
        >>> obs, info = env.reset(seed=0)
        >>> for _ in range(5):  # head for the dot; the model is asked every 5 steps
        ...     obs, reward, terminated, truncated, info = env.step(np.clip(10 * (obs[2:] - obs[:2]), -1, 1))
        >>> round(reward, 2), round(info["env_reward"], 2), info["reward_model"]["queried"]
        (0.51, -0.57, True)

        A vector env gets the vector wrapper, one model call per vector step for all sub-envs:

        >>> envs = vrg.wrap(gym.make_vec("vlmreward/PointReach-v0", num_envs=2, render_mode="rgb_array"),
        ...                 model="oracle", form="episodic", instruction="reach the green dot")
        >>> type(envs)
        <class 'vlmreward_gym.wrappers.vector.EpisodicReward'>
    """
    generic = LearnedRewardVectorWrapper if isinstance(env, VectorEnv) else LearnedRewardWrapper
    return generic.named(form)(env, model=model, instruction=instruction, **kwargs)
