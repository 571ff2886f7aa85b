"""Gymnasium ids ``vlmreward/<Task>-v1`` for the supported simulator tasks.

Ids are registered with *string* entry points, so importing :mod:`vlmreward_gym` imports no
simulator. Every id takes the same keywords::

    gym.make("vlmreward/PickCube-v1", reward_model="oracle", reward_form="dense",
             render_mode="rgb_array", instruction=None, reward_kwargs={"every": 5})

``reward_model=None`` gives the bare simulator env (which still implements the oracle
protocol of :mod:`vlmreward_gym.oracle`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

NAMESPACE = "vlmreward"

#: ManiSkill3 tasks that need no asset download and run on the CPU (see envs/maniskill.py).
MANISKILL_TASKS: tuple[str, ...] = (
    "PickCube", "PushCube", "PullCube", "StackCube", "PlaceSphere", "LiftPegUpright", "PegInsertionSide",
)
#: Robomimic tasks (see envs/robomimic.py).
ROBOMIMIC_TASKS: tuple[str, ...] = ("Lift", "Can", "Square")


def wrap_if_requested(env: gym.Env, reward_model: Any, reward_form: str, instruction: str | None,
                      default_instruction: str, reward_kwargs: dict[str, Any] | None) -> gym.Env:
    """Apply :func:`vlmreward_gym.wrap` when ``reward_model`` is given; the shared tail of every ``make_env``."""
    if reward_model is None:
        return env
    from vlmreward_gym.api import wrap

    return wrap(env, model=reward_model, form=reward_form, instruction=instruction or default_instruction,
                **(reward_kwargs or {}))


def register_envs() -> None:
    """Register every ``vlmreward/<Task>-v1`` id (idempotent)."""
    tables = (("envs.maniskill:make_env", MANISKILL_TASKS), ("envs.robomimic:make_env", ROBOMIMIC_TASKS))
    for entry_point, tasks in tables:
        for task in tasks:
            env_id = f"{NAMESPACE}/{task}-v1"
            if env_id not in gym.registry:
                gym.register(env_id, entry_point=entry_point, kwargs={"task": task})
