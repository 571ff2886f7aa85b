"""``vlmreward_gym.wrap``: one call from a rendering env to a learned-reward env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv

from vlmreward_gym import wrappers
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.wrappers import vector

FORMS = ("episodic", "dense", "contrastive", "stage_gated")
_CLASS_NAMES = {"episodic": "EpisodicReward", "dense": "DenseReward", "contrastive": "ContrastiveReward",
                "stage_gated": "StageGatedReward"}


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
        form: ``episodic`` | ``dense`` | ``contrastive`` | ``stage_gated`` (``-`` also accepted).
        instruction: the task in words (``stage_gated`` takes ``stages=[...]`` instead).
        **kwargs: the wrapper's ``model_kwargs`` (the model's options, e.g. ``{"mae": 0.5}``),
            ``frame_key``, ``scoring``, ``scoring_options``, and the form's options, e.g. ``every=5``.
            Anything else is a ``TypeError`` that names the closest option (or, for a model's
            option passed here, says to put it in ``model_kwargs``).
    """
    key = form.replace("-", "_")
    if key not in _CLASS_NAMES:
        raise ValueError(f"unknown reward form {form!r}; choose one of {list(FORMS)}")
    module = vector if isinstance(env, VectorEnv) else wrappers
    return getattr(module, _CLASS_NAMES[key])(env, model=model, instruction=instruction, **kwargs)
