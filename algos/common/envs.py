"""Build learned-reward envs from a config: a Gymnasium id, a reward model name and a reward form.

Any registered id works, e.g. ``vlmreward/PointReach-v0`` or ``vlmreward/PickCube-v1`` (whose
``reward_model=None`` gives the bare simulator with the oracle protocol). The env renders only
if the reward model reads frames; the policy sees the env's own (state) observations.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterator, Mapping, Sequence

import gymnasium as gym
import tyro
from gymnasium.vector import AutoresetMode, VectorEnv

import vlmreward_gym as vrg
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.options import format_kwargs, parse_kwargs

VECTORIZATION = ("sync", "async")
KwargValue = int | float | bool | str
# Keyword options on the command line: key=value pairs (values read as JSON where they parse, else text) or a
# JSON object (vlmreward_gym.options); given on the command line, they replace the preset's.
Kwargs = Annotated[dict[str, KwargValue], tyro.constructors.PrimitiveConstructorSpec(
    nargs="*", metavar="KEY=VALUE...", instance_from_str=parse_kwargs, is_instance=lambda value: isinstance(value, dict),
    str_from_instance=format_kwargs)]


#: Env options that shape training episodes only: evaluations in the bare simulator leave them out and run the task
#: as it is defined (a run that keeps training episodes going past the simulator's success, so that only the learned
#: model's judgement ends them, is still evaluated on episodes that end at that success, as its oracle twin is).
TRAINING_ONLY_ENV_KWARGS = ("terminate_on_success",)


@dataclass(frozen=True)
class RewardEnvArgs:
    """The env and learned-reward options every RL algorithm's arguments start with."""

    env_id: str = "vlmreward/PointReach-v0"
    """Gymnasium id of the simulator env (state observations; it renders only if the model reads frames)"""
    env_kwargs: Kwargs = field(default_factory=dict)
    """keyword arguments of gym.make for the env: key=value pairs or a JSON object (each of the three kwargs options
    replaces a preset's whole dict; `vlmreward train PRESET --env-kwargs.KEY VALUE` changes one key and keeps the rest)"""
    model: str = "oracle"
    """registered reward model (vlmreward_gym.list_reward_models())"""
    model_kwargs: Kwargs = field(default_factory=dict)
    """keyword arguments of the reward model: key=value pairs or a JSON object, e.g. mae=0.5 seed=0 (noisy-oracle)"""
    form: str = "dense"
    """reward form: episodic | dense | contrastive | stage_gated"""
    reward_kwargs: Kwargs = field(default_factory=dict)
    """options of the reward form: key=value pairs or a JSON object, e.g. every=5 relative=true; replaces a preset's
    whole dict (its relative=true too): `vlmreward train PRESET --reward-kwargs.KEY VALUE` changes one key"""
    instruction: str = "complete the task"
    """the task in words, for the reward model"""
    bootstrap_timeouts: bool | None = None
    """bootstrap time-outs from the value function; None: yes unless the form is episodic"""
    bootstrap_terminations: bool = False
    """bootstrap terminations too (ManiSkill's bootstrap_at_done='always'): with a non-negative dense reward and
    a task that ends on success, not bootstrapping makes succeeding cost the reward the agent could linger for"""

    def reward_model(self) -> RewardModel:
        """The run's reward model, built once: every env of the run (training and evaluation) shares it."""
        return build_model(self.model, self.model_kwargs)

    @property
    def evaluation_env_kwargs(self) -> dict[str, Any]:
        """``env_kwargs`` without :data:`TRAINING_ONLY_ENV_KWARGS`: the bare-simulator evaluations' env."""
        return {k: v for k, v in self.env_kwargs.items() if k not in TRAINING_ONLY_ENV_KWARGS}

    def form_kwargs(self, step_gamma: float, sync_scoring: bool = False) -> dict[str, Any]:
        """The reward form's options: ``reward_kwargs`` with a potential-based form's shaping gamma set to
        ``step_gamma``, the algorithm's discount per env step (:func:`shaped_reward_kwargs`), and with
        ``sync_scoring`` the rewards scored at once whatever ``scoring`` says (as evaluation wants)."""
        kwargs = shaped_reward_kwargs(self.form, self.reward_kwargs, step_gamma)
        return {**kwargs, "scoring": "sync"} if sync_scoring else kwargs


POTENTIAL_FORMS = ("dense", "stage_gated")
"""forms that pay a potential-based reward ``gamma * potential' - potential`` with ``relative=True``"""


def is_potential_based(form: str, reward_kwargs: Mapping[str, Any]) -> bool:
    return form.replace("-", "_") in POTENTIAL_FORMS and bool(reward_kwargs.get("relative", False))


def shaped_reward_kwargs(form: str, reward_kwargs: Mapping[str, Any], step_gamma: float) -> dict[str, Any]:
    """``reward_kwargs`` with the shaping gamma of a potential-based reward set to ``step_gamma``.

    A relative ``dense`` or ``stage_gated`` reward pays ``g * potential_new - potential_held`` every step
    (``vlmreward_gym.wrappers.engine.shaping_reward``), so its return telescopes to ``g**T * potential_T -
    potential_0`` exactly when ``g`` is the discount the algorithm applies per env step: PPO's ``gamma``,
    DSRL's ``gamma ** (1 / chunk length)`` (:func:`vlmreward_rl.algos.dsrl.step_discount`). The algorithm therefore sets it
    here, in one place; a ``gamma`` given in ``reward_kwargs`` that says otherwise is refused. Other forms'
    options are returned as given."""
    kwargs = dict(reward_kwargs)
    if not is_potential_based(form, kwargs):
        return kwargs
    given = kwargs.get("gamma")
    if given is not None and not math.isclose(float(given), step_gamma, rel_tol=1e-9):
        raise ValueError(f"reward_kwargs gives the potential-based {form} reward the shaping gamma {given}, but the "
                         f"algorithm's discount per env step is {step_gamma:.6g}, and only that makes the return "
                         f"telescope: leave gamma out of reward_kwargs, the algorithm sets it")
    return {**kwargs, "gamma": step_gamma}


AUTORESET = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
             "disabled": AutoresetMode.DISABLED}


@contextmanager
def simulator_hint(env_id: str) -> Iterator[None]:
    """Turn a missing simulator module into an error that says how to install it."""
    try:
        yield
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"making {env_id!r} failed: {error}. Its simulator is not installed: run "
                                  f"`bash install.sh` (without --core) to install every simulator stack") from error


def build_model(model: str | RewardModel, model_kwargs: Mapping[str, Any] | None = None) -> RewardModel:
    return vrg.make_reward_model(model, **dict(model_kwargs or {}))


def _render_mode(model: RewardModel) -> str | None:
    return "rgb_array" if model.info.needs_frames else None


def make_env(env_id: str, *, model: str | RewardModel, form: str, instruction: str,
             model_kwargs: Mapping[str, Any] | None = None, reward_kwargs: Mapping[str, Any] | None = None,
             env_kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """One env whose reward is the learned one (the simulator's stays in ``info["env_reward"]``).
    ``model``: a registered name (built here, with ``model_kwargs``) or a model to share."""
    reward_model = build_model(model, model_kwargs)
    with simulator_hint(env_id):
        env = gym.make(env_id, render_mode=_render_mode(reward_model), **dict(env_kwargs or {}))
    return vrg.wrap(env, model=reward_model, form=form, instruction=instruction, **dict(reward_kwargs or {}))


def make_vector_env(env_id: str, num_envs: int, *, model: str | RewardModel | None, form: str = "dense",
                    instruction: str = "", model_kwargs: Mapping[str, Any] | None = None,
                    reward_kwargs: Mapping[str, Any] | None = None, env_kwargs: Mapping[str, Any] | None = None,
                    vectorization: str = "sync", autoreset_mode: str = "next_step",
                    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = ()) -> VectorEnv:
    """``num_envs`` copies of ``env_id`` in a Gymnasium vector env, wrapped by the batched twin of
    the reward form so all sub-envs share one model call per step.

    ``model``: a registered name (built here, with ``model_kwargs``), a model to share (a run builds
    its model once, :meth:`RewardEnvArgs.reward_model`), or None for the bare simulator (its own
    reward). ``vectorization="async"`` runs each sub-env in its own process (spawned: simulators such as
    SAPIEN hang after a fork). ``autoreset_mode``: ``next_step`` (Gymnasium's default; needed by
    frame-reading models unless they read frames from the observation), ``same_step``, or ``disabled``
    (the caller resets ended sub-envs with ``reset(options={"reset_mask": ...})``, as chunked
    execution does). ``wrappers`` wrap each sub-env (inside the learned-reward wrapper).
    """
    if vectorization not in VECTORIZATION:
        raise ValueError(f"vectorization must be one of {VECTORIZATION}, got {vectorization!r}")
    if autoreset_mode not in AUTORESET:
        raise ValueError(f"autoreset_mode must be one of {list(AUTORESET)}, got {autoreset_mode!r}")
    reward_model = None if model is None else build_model(model, model_kwargs)
    vector_kwargs: dict[str, Any] = {"autoreset_mode": AUTORESET[autoreset_mode]}
    if vectorization == "async":
        vector_kwargs["context"] = "spawn"
    with simulator_hint(env_id):
        envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization,
                            vector_kwargs=vector_kwargs, wrappers=list(wrappers) or None,
                            render_mode=None if reward_model is None else _render_mode(reward_model),
                            **dict(env_kwargs or {}))
    if reward_model is None:
        return envs
    return vrg.wrap(envs, model=reward_model, form=form, instruction=instruction, **dict(reward_kwargs or {}))
