"""Gymnasium ids ``vlmreward/<Task>-v1`` for simulator tasks, and the reward keywords they take.

The tasks are not the plugin's: packages register them through the ``vlmreward_gym.envs`` entry-point
group (this distribution's RL side does, in :mod:`vlmreward_rl.envs.tasks`), each entry a function that
registers its ids with *string* entry points, so importing :mod:`vlmreward_gym` imports no simulator.
Every id takes the reward keywords of :func:`vlmreward_gym.wrap`, under the same names::

    gym.make("vlmreward/PickCube-v1", model="noisy-oracle", model_kwargs={"mae": 0.5}, form="dense",
             render_mode="rgb_array", instruction=None, reward_kwargs={"every": 5, "relative": True})

* ``model``: a registered reward-model name or a model; without it the env is the bare simulator
  (which still implements the oracle protocol of :mod:`vlmreward_gym.oracle`).
* ``form`` (default ``dense``), ``model_kwargs``, ``instruction`` (default: the task's own): as in
  ``wrap``. ``reward_model`` / ``reward_form`` are accepted as older names of ``model`` / ``form``
  (giving both names of one option is an error).
* ``reward_kwargs``: the rest of ``wrap``'s keywords: the form's options, ``frame_key``, ``scoring``,
  ``scoring_options``. The ``stage_gated`` form gets the task's sub-task stages unless it holds ``stages``.

Every other keyword goes to the simulator env.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Sequence

import gymnasium as gym

NAMESPACE = "vlmreward"
#: Entry-point group of functions that register ``vlmreward/<Task>-v1`` ids (called with no argument).
ENV_ENTRY_POINT_GROUP = "vlmreward_gym.envs"

#: The reward keywords of every ``vlmreward/<Task>-v1`` id, older aliases last.
REWARD_OPTIONS = ("model", "form", "model_kwargs", "instruction", "reward_kwargs", "reward_model", "reward_form")
_ALIASES = {"reward_model": "model", "reward_form": "form"}


def reward_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the reward keywords out of an entry point's ``kwargs`` (the rest is the simulator's) and check
    them before a simulator is built: ``{model, form, model_kwargs, instruction, reward_kwargs}``.

    Raises:
        TypeError: an option given under both its names, or reward options without a ``model``.
    """
    given = {key: kwargs.pop(key) for key in REWARD_OPTIONS if key in kwargs}
    for alias, name in _ALIASES.items():
        if alias in given and name in given:
            raise TypeError(f"got both {name}= and {alias}= (its older name): pass only {name}=")
        if alias in given:
            given[name] = given.pop(alias)
    options = {key: given.get(key) for key in REWARD_OPTIONS if key not in _ALIASES}
    if options["model"] is None and any(value is not None for value in options.values()):
        named = ", ".join(f"{key}=" for key, value in options.items() if value is not None)
        raise TypeError(f"{named} given without model=: pass model=<reward model name> (e.g. 'oracle') to replace "
                        f"the env's reward, or leave them out for the bare simulator")
    if options["model_kwargs"] is not None and "model_kwargs" in (options["reward_kwargs"] or {}):
        raise TypeError("model_kwargs given both directly and inside reward_kwargs: pass it once, as model_kwargs=")
    return options


def wrap_if_requested(env: gym.Env, default_instruction: str, default_stages: Sequence[str] | None = None, *,
                      model: Any = None, form: str | None = None, model_kwargs: dict[str, Any] | None = None,
                      instruction: str | None = None, reward_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """Apply :func:`vlmreward_gym.wrap` when ``model`` is given (the options of :func:`reward_options`), with
    the task's instruction and, for ``stage_gated``, its ``default_stages``; the tail of every ``make_env``."""
    if model is None:
        return env
    from vlmreward_gym.api import wrap

    form = form or "dense"
    options = dict(reward_kwargs or {})
    if model_kwargs is not None:
        options["model_kwargs"] = model_kwargs
    if form.replace("-", "_") == "stage_gated" and default_stages and "stages" not in options:
        options["stages"] = list(default_stages)
    return wrap(env, model=model, form=form, instruction=instruction or default_instruction, **options)


def register_envs() -> None:
    """Call every function of the ``vlmreward_gym.envs`` entry-point group (each registers its ids; idempotent)."""
    for entry_point in entry_points(group=ENV_ENTRY_POINT_GROUP):
        entry_point.load()()
