"""The single-env learned-reward wrapper that every reward form specialises."""

from __future__ import annotations

import difflib
import warnings
from typing import Any, Callable, ClassVar, Sequence

import gymnasium as gym
import numpy as np

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.models.registry import check_capabilities, make_reward_model, model_options
from vlmreward_gym.types import RewardInputError, check_frame
from vlmreward_gym.wrappers.engine import (Delivery, FailedStep, RewardEngine, RewardForm, describe_failures, form_name,
                                           form_options)
from vlmreward_gym.wrappers.frames import frame_from_obs
from vlmreward_gym.wrappers.scoring import Relabel, RewardDeliveryError


class ResetNeeded(RuntimeError):
    """step() was called before reset()."""


ScoringOptions = dict[str, Any]


class Deliveries:
    """Turns the engine's deliveries into this step's rewards and, for answers that come in later,
    :class:`~vlmreward_gym.wrappers.scoring.Relabel` records; shared by single and vector wrappers."""

    def __init__(self, engine: RewardEngine):
        self.engine = engine
        self._late: list[Relabel] = []

    def settle(self) -> dict[tuple[int, bool], Delivery]:
        """Dispatch what was observed and return what is answered of it, keyed ``(env, is_reset)``.

        Raises:
            RewardDeliveryError: an earlier late answer failed; this step's reward, if in, becomes a relabel.
        """
        current = set(self.engine.dispatch())
        delivered, failures = self.engine.collect(block=self.engine.scoring == "sync")
        inline = {}
        for d in delivered:
            if (d.env, d.episode, d.step, d.is_reset) in current and not failures:
                inline[(d.env, d.is_reset)] = d
            else:
                self._keep(d)
        self._raise(failures)
        return inline

    def _keep(self, d: Delivery) -> None:
        if not d.is_reset:
            self._late.append(Relabel(d.env, d.episode, d.step, d.paid.reward, step_info(d)))

    def _raise(self, failures: list[FailedStep]) -> None:
        if failures:
            cause = next((f.error for f in failures if f.error is not None), None)
            raise RewardDeliveryError(f"{describe_failures(failures)}. The {len(self._late)} rewards that did "
                                      f"arrive are kept: pop_relabels() returns them") from cause

    def take(self, block: bool) -> list[Relabel]:
        """Every arrived relabel not taken yet (waiting for all pending answers if ``block``).

        Raises:
            RewardDeliveryError: naming every step left without a reward; the arrived ones stay for the next call.
        """
        self._raise(self._gather(block))
        late, self._late = self._late, []
        return late

    def _gather(self, block: bool) -> list[FailedStep]:
        """Keep every answered step as a relabel; return the failed ones."""
        delivered, failures = self.engine.collect(block=block)
        for d in delivered:
            self._keep(d)
        return failures

    def close(self) -> None:
        """Stop the scorer and warn about every reward that was never taken (nothing is dropped silently)."""
        self.engine.close()
        failures = self._gather(block=False)
        unanswered = self.engine.unanswered()
        if not (self._late or unanswered or failures):
            return
        problems = []
        if self._late:
            problems.append(f"{len(self._late)} arrived but were not taken (pop_relabels())")
        if unanswered:
            problems.append(f"{unanswered} were never answered")
        if failures:
            problems.append(describe_failures(failures))
        lost = len(self._late) + unanswered + sum(f.step > 0 for f in failures)  # step 0: a reset, no reward
        warnings.warn(f"closing with {lost} rewards not delivered: {'; '.join(problems)}. Call flush() and apply "
                      f"its relabels before close()", RuntimeWarning, stacklevel=3)


def step_info(d: Delivery | None, episode: int = 0, step: int = 0) -> dict[str, Any]:
    """``info["reward_model"]`` of a step: the form's answer and ``step`` (actions taken in the episode), or
    a pending marker with the ids a :class:`~vlmreward_gym.wrappers.scoring.Relabel` will carry.

    Only a pending step carries ``episode`` (the wrapper's count of the env's episodes, which keeps a relabel
    identifiable across seeded resets): every other entry is the same whenever the same seed and actions are
    replayed, as Gymnasium's ``check_env`` requires."""
    if d is None:
        return {"pending": True, "episode": episode, "step": step}
    return {**d.info, "pending": False, "step": d.step}


class LateRewardsMixin:
    """``pop_relabels()`` / ``flush()`` for wrappers whose rewards may arrive late, and ``close()``."""

    deliveries: Deliveries
    model: RewardModel
    owns_model: bool  # built from a name by the wrapper, so closed with it
    _closed = False

    def pop_relabels(self) -> list[Relabel]:
        """Real rewards of earlier pending (NaN) steps that have arrived since the last call."""
        return self.deliveries.take(block=False)

    def flush(self) -> list[Relabel]:
        """Wait for every pending answer and return the relabels not yet taken (empty with ``sync``)."""
        return self.deliveries.take(block=True)

    def close(self) -> None:
        """Stop the scorer (warning about rewards never taken, see :meth:`flush`), close the model if the wrapper
        built it from a name (a model passed in is the caller's to close) and close the env; idempotent."""
        if not self._closed:
            self._closed = True
            self.deliveries.close()
            if self.owns_model:
                self.model.close()
        super().close()


#: the wrapper's own keyword options besides ``model`` and ``instruction`` (the rest go to the form)
WRAPPER_OPTIONS = ("model_kwargs", "frame_key", "scoring", "scoring_options")


def check_form_options(form_class: type[RewardForm], model: str | RewardModel, form_kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments that are no option of the form, saying where they belong.

    Raises:
        TypeError: model options passed flat (pointing to ``model_kwargs``), or an unknown option (with
            the closest valid name and the list of options).
    """
    options = form_options(form_class)
    unknown = {key: value for key, value in form_kwargs.items() if key not in options}
    if not unknown:
        return
    name = form_name(form_class)
    of_model = {k: v for k, v in unknown.items() if isinstance(model, str) and k in model_options(model)}
    if of_model:
        raise TypeError(f"{', '.join(of_model)} {'is an option' if len(of_model) == 1 else 'are options'} of reward "
                        f"model {model!r}, not of the {name} reward form: pass model_kwargs={of_model!r}")
    key = next(iter(unknown))
    close = difflib.get_close_matches(key, options + list(WRAPPER_OPTIONS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise TypeError(f"unknown option {key!r} for the {name} reward form{hint} Its options: {', '.join(options)}; "
                    f"the wrapper's: {', '.join(WRAPPER_OPTIONS)}; a model's go in model_kwargs={{...}}")


def build_model_and_form(form_class: type[RewardForm], model: str | RewardModel, model_kwargs: dict | None,
                         form_kwargs: dict[str, Any]) -> tuple[RewardModel, bool, RewardForm]:
    """The backend, whether it was built here from a name (then the wrapper closes it), and the form;
    shared by single and vector wrappers. The form is checked and built first, and the backend's card is
    checked against what the form needs: their errors cost no model load."""
    check_form_options(form_class, model, form_kwargs)
    form = form_class(**form_kwargs)
    check_capabilities(model, form.want, purpose=f"the {form.name} reward form")
    return make_reward_model(model, **(model_kwargs or {})), not isinstance(model, RewardModel), form


def check_instruction(instruction: str | None, form: RewardForm) -> str:
    """The instruction to score against; forms with a default (stage-gated: its stages) may omit it."""
    if instruction is None and form.default_instruction() is not None:
        return form.default_instruction()
    if not isinstance(instruction, str) or not instruction.strip():
        raise RewardInputError(f"the {form.name} reward form needs a non-empty instruction, got {instruction!r}")
    return instruction


def check_frame_source(model: RewardModel, frame_key: str | None, render_mode: str | None) -> None:
    """A model that reads frames needs ``render_mode='rgb_array'`` or an observation key."""
    if model.info.needs_frames and frame_key is None and render_mode != "rgb_array":
        raise ValueError(
            f"reward model {model.info.name!r} reads frames: make the env with render_mode='rgb_array' "
            f"(it has {render_mode!r}) or pass frame_key=<observation key holding an RGB image>")


class LearnedRewardWrapper(LateRewardsMixin, gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replace an env's reward with a learned reward model's, in the form of ``form_class``.

    The simulator's reward stays in ``info["env_reward"]``; ``info["reward_model"]`` holds the
    model's latest answers (progress, success probability once answered, score, stage, raw output),
    ``queried`` (whether the model was called on this step) and ``step`` (actions taken in the
    episode); infos repeat exactly for the same seed and actions (Gymnasium's ``check_env`` passes). Frames come from ``render()``
    (``render_mode='rgb_array'``) or from ``obs[frame_key]`` and are taken only on steps the form
    uses. A model error propagates: a failed reward is never paid as 0.

    Args:
        env: any Gymnasium env.
        model: a registered backend name (see :func:`vlmreward_gym.list_reward_models`) or a model.
        instruction: the task in words.
        model_kwargs: keyword arguments for the backend (e.g. ``{"mae": 0.5}`` for noisy-oracle).
        frame_key: take frames from this key of a dict observation instead of ``render()``.
        scoring: ``sync`` (answer every query before returning the step), ``async`` (a worker pool
            answers while the env steps on) or ``deferred`` (queries wait and are answered in big
            batches at ``flush()``). With the latter two a step whose answer is not in yet returns
            reward NaN and ``info["reward_model"]["pending"] = True``; its reward comes later through
            :meth:`pop_relabels` / :meth:`flush` (see :mod:`vlmreward_gym.wrappers.scoring`).
        scoring_options: ``workers`` and ``max_pending`` (async), ``max_batch`` (deferred).
        **form_kwargs: the form's options (see the form class's docstring).
    """

    form_class: ClassVar[type[RewardForm]]

    def __init__(self, env: gym.Env, model: str | RewardModel = "oracle", instruction: str | None = None, *,
                 model_kwargs: dict[str, Any] | None = None, frame_key: str | None = None, scoring: str = "sync",
                 scoring_options: ScoringOptions | None = None, **form_kwargs: Any):
        gym.utils.RecordConstructorArgs.__init__(self, model=model, instruction=instruction,
                                                 model_kwargs=model_kwargs, frame_key=frame_key, scoring=scoring,
                                                 scoring_options=scoring_options, **form_kwargs)
        gym.Wrapper.__init__(self, env)
        self.model, self.owns_model, self.form = build_model_and_form(self.form_class, model, model_kwargs,
                                                                      form_kwargs)
        self.instruction = check_instruction(instruction, self.form)
        self.frame_key = frame_key
        check_frame_source(self.model, frame_key, env.render_mode)
        self.engine = RewardEngine(self.model, self.form, [self.instruction], scoring, **(scoring_options or {}))
        self.deliveries = Deliveries(self.engine)
        self._needs_reset = True

    def _frame(self, obs: Any) -> Callable[[], np.ndarray]:
        if self.frame_key is not None:
            return lambda: frame_from_obs(obs, self.frame_key, "observation frame")
        return lambda: check_frame(self.env.render(), "rendered frame")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.engine.observe_reset(0, info, self._frame(obs))
        started = self.deliveries.settle().get((0, True))
        self._needs_reset = False
        record = self.engine.records[0]
        return obs, {**info, "reward_model": step_info(started, record.episode, 0)}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._needs_reset:
            raise ResetNeeded("call reset() before step()")
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self.engine.observe_step(0, float(env_reward), terminated, truncated, info, self._frame(obs))
        record = self.engine.records[0]
        paid = self.deliveries.settle().get((0, False))
        info = {**info, "env_reward": float(env_reward), "reward_model": step_info(paid, record.episode, record.t)}
        if paid is None:
            return obs, float("nan"), bool(terminated), bool(truncated), info
        return obs, paid.paid.reward, bool(terminated) or paid.paid.detected_success, bool(truncated), info


def per_env_instructions(instruction: str | Sequence[str], num_envs: int) -> list[str]:
    """One instruction per sub-env from a single string or a sequence of ``num_envs``."""
    if isinstance(instruction, str):
        return [instruction] * num_envs
    instructions = list(instruction)
    if len(instructions) != num_envs:
        raise ValueError(f"got {len(instructions)} instructions for {num_envs} sub-envs")
    return instructions
