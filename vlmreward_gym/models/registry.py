"""Reward-model registry: names to lazily imported factories.

Built-in backends are listed here as ``"module:attribute"`` strings, so importing the plugin
imports no model code. Third-party packages add theirs through the entry-point group
``vlmreward_gym.reward_models``::

    [project.entry-points."vlmreward_gym.reward_models"]
    my-model = "my_package.rewards:MyRewardModel"

A factory is any callable returning a :class:`~vlmreward_gym.models.base.RewardModel`; keyword
arguments of :func:`make_reward_model` are passed to it. A name registered twice is an error.
A factory (the class, or a function with a ``card`` attribute) may carry a
:class:`~vlmreward_gym.models.base.ModelCard`: :func:`reward_model_card` reads it by importing
only that backend's module, and :func:`check_capabilities` refuses a form the backend cannot
serve before any weights load.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any, Callable

from vlmreward_gym.models.base import ModelCard, RewardModel, capability_error
from vlmreward_gym.types import Capability

ENTRY_POINT_GROUP = "vlmreward_gym.reward_models"

Factory = Callable[..., RewardModel]

_BUILTIN: dict[str, str] = {
    "zero": "vlmreward_gym.models.control:ZeroRewardModel",
    "oracle": "vlmreward_gym.models.control:OracleRewardModel",
    "noisy-oracle": "vlmreward_gym.models.control:NoisyOracleRewardModel",
    "roboreward-4b": "vlmreward_gym.models.roboreward:make_4b",
    "roboreward-8b": "vlmreward_gym.models.roboreward:make_8b",
    "robometer-4b": "vlmreward_gym.models.robometer:RobometerModel",
    "lrm-contrastive": "vlmreward_gym.models.lrm:make_contrastive",
    "lrm-progress": "vlmreward_gym.models.lrm:make_progress",
    "lrm-completion": "vlmreward_gym.models.lrm:make_completion",
    "topreward": "vlmreward_gym.models.topreward:TOPRewardModel",
    "clip": "vlmreward_gym.models.clip:CLIPRewardModel",
    "sim-rm": "vlmreward_gym.models.sim_rm:SimRewardModel",
    "sim-rm-robomimic": "vlmreward_gym.models.sim_rm:make_robomimic",
    "sim-rm-lift": "vlmreward_gym.models.sim_rm:make_lift",
    "sim-rm-lift-side": "vlmreward_gym.models.sim_rm:make_lift_side",
    "sim-rm-pickcube": "vlmreward_gym.models.sim_rm:make_pickcube",
    "remote": "vlmreward_gym.serve.remote:RemoteRewardModel",
    "openai": "vlmreward_gym.serve.openai_judge:OpenAIRewardModel",
}

_registry: dict[str, Factory | str] = dict(_BUILTIN)
_origin: dict[str, str] = {name: "built-in" for name in _BUILTIN}
_entry_points_loaded = False


class UnknownRewardModelError(KeyError):
    """No backend is registered under that name."""

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateRewardModelError(ValueError):
    """A backend name is registered twice."""


def register_reward_model(name: str, factory: Factory | str, *, origin: str = "register_reward_model") -> None:
    """Register ``factory`` (a callable or a ``"module:attribute"`` string) under ``name``.

    Raises:
        DuplicateRewardModelError: ``name`` is already registered.
        ValueError: ``name`` is empty or ``factory`` is neither callable nor ``"module:attribute"``.
    """
    _load_entry_points()
    _add(name, factory, origin)


def _add(name: str, factory: Factory | str, origin: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a reward model name must be a non-empty string, got {name!r}")
    if not callable(factory) and not (isinstance(factory, str) and ":" in factory):
        raise ValueError(f"factory for {name!r} must be callable or 'module:attribute', got {factory!r}")
    if name in _registry:
        raise DuplicateRewardModelError(
            f"reward model {name!r} is already registered (by {_origin[name]}); refusing the one from {origin}")
    _registry[name] = factory
    _origin[name] = origin


def unregister_reward_model(name: str) -> None:
    """Remove a registration (for tests and plugins that replace themselves)."""
    _registry.pop(name, None)
    _origin.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _add(ep.name, ep.value, origin=f"entry point {ep.value!r} of {ep.dist.name if ep.dist else '?'}")


def list_reward_models() -> list[str]:
    """Sorted names of every registered backend (built-in and entry points).

    Example:
        >>> import vlmreward_gym as vrg
        >>> {"zero", "oracle", "noisy-oracle"} <= set(vrg.list_reward_models())
        True
    """
    _load_entry_points()
    return sorted(_registry)


def model_options(name: str) -> list[str]:
    """The keyword options of the factory registered as ``name`` (what ``model_kwargs`` may hold); empty when
    the name is unknown, its module cannot be imported or its signature cannot be read."""
    _load_entry_points()
    try:
        parameters = inspect.signature(_resolve(name)).parameters.values()
    except (KeyError, ImportError, TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _resolve(name: str) -> Factory:
    factory = _registry[name]
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
        _registry[name] = factory
    return factory


def _known(name: str) -> None:
    """Raise :class:`UnknownRewardModelError` (with close matches) if ``name`` is not registered."""
    _load_entry_points()
    if name not in _registry:
        close = difflib.get_close_matches(str(name), _registry, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise UnknownRewardModelError(f"unknown reward model {name!r}.{hint} Known: {sorted(_registry)}")


def reward_model_card(name: str) -> ModelCard | None:
    """The :class:`ModelCard` of backend ``name``, without building it (its module is imported; no weights
    load); None if the backend only knows its capabilities once built (e.g. ``remote``)."""
    _known(name)
    card = getattr(_resolve(name), "card", None)
    return card if isinstance(card, ModelCard) else None


def check_capabilities(name: str | RewardModel, wanted: Capability, purpose: str = "") -> None:
    """Raise :class:`~vlmreward_gym.types.CapabilityError` if backend ``name`` cannot answer ``wanted``,
    before it is built (from its card; a backend without one, or a built model, is checked from its ``info``)."""
    if isinstance(name, RewardModel):
        name.require(wanted, purpose)
        return
    card = reward_model_card(name)
    error = None if card is None else capability_error(name, card.capabilities, wanted, purpose)
    if error is not None:
        raise error


def make_reward_model(name: str | RewardModel, **kwargs: Any) -> RewardModel:
    """Build the backend registered as ``name`` with ``kwargs``; a model instance is returned as is.

    Raises:
        UnknownRewardModelError: no such name; the message lists the known names.

    Example:
        >>> import vlmreward_gym as vrg
        >>> model = vrg.make_reward_model("noisy-oracle", mae=0.1, seed=0)
        >>> model.info.name, model.info.needs_frames, vrg.make_reward_model(model) is model
        ('noisy-oracle', False, True)
        >>> vrg.make_reward_model("oracel")
        Traceback (most recent call last):
        ...
        vlmreward_gym.models.registry.UnknownRewardModelError: unknown reward model 'oracel'.
        Did you mean ['oracle']? Known: [...]
    """
    if isinstance(name, RewardModel):
        if kwargs:
            raise ValueError(f"model keyword arguments {sorted(kwargs)} given with an already built model {name!r}")
        return name
    _known(name)
    model = _resolve(name)(**kwargs)
    if not isinstance(model, RewardModel):
        raise TypeError(f"factory of reward model {name!r} returned {type(model).__name__}, not a RewardModel")
    return model
