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
    """
    generic = LearnedRewardVectorWrapper if isinstance(env, VectorEnv) else LearnedRewardWrapper
    return generic.named(form)(env, model=model, instruction=instruction, **kwargs)
