"""What a reward form is, and the pieces the forms share.

A :class:`RewardForm` decides, per env, which time points to record, when to ask the model
(:meth:`~RewardForm.request` a :class:`ClipRequest`) and how to turn its :class:`ClipAnswer`
into the step's :class:`Payment`. Forms are pure logic: no env, no model call, no batching;
:class:`~vlmreward_gym.wrappers.engine.RewardEngine` does that for one env or a batch of them.
"""

from __future__ import annotations

import abc
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.types import Capability, RewardOutput

FILL_MODES = ("hold", "zero", "env")


class EpisodeRecord:
    """The recorded time points of one env's current episode.

    ``episode`` numbers the env's episodes from 1; ``t`` counts the actions taken in the episode; point ``j`` was recorded at step ``steps[j]``
    (the state after that many actions), with its frame (if the model reads frames) and its
    oracle progress and success (if the model reads them).
    """

    def __init__(self, episode: int = 0) -> None:
        self.episode = episode
        self.t = 0
        self.steps: list[int] = []
        self.frames: list[np.ndarray] = []
        self.progress: list[float] = []
        self.success: list[bool] = []

    def __len__(self) -> int:
        return len(self.steps)

    def latest_at_or_before(self, step: int) -> int:
        """Index of the last point recorded at or before ``step``."""
        j = int(np.searchsorted(self.steps, step, side="right")) - 1
        if j < 0:
            raise ValueError(f"no point recorded at or before step {step}")
        return j


@dataclass(frozen=True)
class ClipRequest:
    """One clip a form wants scored: the record's point indices and the instruction to use."""

    points: Sequence[int]
    instruction: str


@dataclass(frozen=True)
class ClipAnswer:
    """The model's answer for one clip (fields the query did not ask for are None)."""

    progress: np.ndarray | None
    success: float | None
    comparison: float | None
    score: float | None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, output: RewardOutput, k: int) -> ClipAnswer:
        """Clip ``k``'s answer in a batched model output."""
        return cls(progress=None if output.progress is None else np.asarray(output.progress[k], np.float64),
                   success=None if output.success is None else float(output.success[k]),
                   comparison=None if output.comparison is None else float(output.comparison[k]),
                   score=None if output.score is None else float(output.score[k]), raw=output.raw[k])


@dataclass(frozen=True)
class Payment:
    """What a form pays for one env step. ``info`` becomes ``info["reward_model"]``."""

    reward: float
    detected_success: bool
    info: dict[str, Any]


@dataclass
class DetectionState:
    """Per-env success-detector state (forms' per-env states extend it)."""

    success_prob: float = math.nan  # the latest answer
    streak: int = 0  # consecutive queries at or above the threshold
    detected: bool = False  # sticky within the episode


class SuccessDetector:
    """Success when the probability stays at or above ``threshold`` for ``patience`` consecutive queries."""

    def __init__(self, threshold: float, patience: int):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"success threshold must be in [0, 1], got {threshold}")
        if patience < 1:
            raise ValueError(f"success patience must be >= 1, got {patience}")
        self.threshold, self.patience = float(threshold), int(patience)

    def update(self, streak: int, probability: float) -> int:
        """The new streak length after one more query answered ``probability``."""
        return streak + 1 if probability >= self.threshold else 0

    def reached(self, streak: int) -> bool:
        return streak >= self.patience

    def observe(self, state: DetectionState, probability: float | None) -> None:
        """Fold one answer (None: the model gave no success probability) into ``state``."""
        if probability is None:
            return
        state.success_prob = probability
        state.streak = self.update(state.streak, probability)
        state.detected = state.detected or self.reached(state.streak)


def detection_info(state: DetectionState) -> dict[str, Any]:
    """The detector's part of a step's info: ``success`` (sticky) and, once the model has answered one in
    the episode, ``success_prob`` (no NaN placeholder, so infos of replayed runs compare equal)."""
    info: dict[str, Any] = {"success": state.detected}
    if not math.isnan(state.success_prob):
        info["success_prob"] = state.success_prob
    return info


class RewardForm(abc.ABC):
    """How one reward form turns model answers into rewards. Per-env state lives in objects
    made by :meth:`new_state`, so the engine can keep an ending episode's state while the next
    episode starts (Gymnasium's same-step autoreset).

    A subclass ``FooBarForm`` is the form ``foo_bar`` (:attr:`name`); its constructor's keyword
    arguments are its options (:meth:`options`). Listing it in
    :data:`vlmreward_gym.wrappers.forms.FORMS` makes it a form of ``vrg.wrap``, of both generic
    wrappers and of named wrappers ``FooBarReward`` (single and vector).
    """

    #: the form's name as :func:`vlmreward_gym.wrap` takes it: ``StageGatedForm`` -> ``stage_gated``
    name: ClassVar[str]
    #: capabilities the form needs from the model
    want: Capability
    #: whether the form ends an episode (``terminated=True``) once it detects success
    terminate_on_success: bool = False
    #: whether every step pays an absolute value (progress, stage value) rather than a change or a comparison
    pays_absolute_per_step: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__.removesuffix("Form")).lower()

    @classmethod
    def options(cls) -> list[str]:
        """The form's keyword options (its constructor's), in order."""
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # without self
        return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @property
    @abc.abstractmethod
    def sync_only(self) -> str | None:
        """Why this form, as configured, needs each answer before the env's next step (a query or the
        episode's end depends on the previous answer), so it refuses ``async`` / ``deferred`` scoring;
        None when its answers may arrive steps later."""

    def default_instruction(self) -> str | None:
        """The instruction to use when the caller gives none (None: the caller must give one)."""
        return None

    def bind(self, model: RewardModel, instructions: Sequence[str]) -> None:
        """Attach the model and the per-env instructions; check the model can serve this form."""
        model.require(self.want, purpose=f"the {self.name} reward form")
        self.model = model
        self.instructions = list(instructions)

    @abc.abstractmethod
    def new_state(self) -> Any:
        """Fresh per-env state for a new episode."""

    @abc.abstractmethod
    def needs_point(self, state: Any, t: int, done: bool) -> bool:
        """Whether the state after ``t`` actions must be recorded (rendered if the model reads frames)."""

    @abc.abstractmethod
    def request(self, env: int, state: Any, record: EpisodeRecord, done: bool) -> ClipRequest | None:
        """The clip to score after the latest point (``record.t``), or None if no query is due."""

    @abc.abstractmethod
    def pay(self, state: Any, record: EpisodeRecord, done: bool, answer: ClipAnswer | None,
            env_reward: float) -> Payment:
        """The reward of the step that led to ``record.t``; ``answer`` is None when no query was due."""

    def start(self, state: Any, record: EpisodeRecord, answer: ClipAnswer | None) -> dict[str, Any]:
        """Take the answer to a reset-time query (if :meth:`request` asked one) into ``state`` and return the
        reset info; a reset pays no reward, so what :meth:`pay` computes for it is dropped. A form that
        queries at reset overrides this: a reset-time answer never counts toward success detection."""
        return self.pay(state, record, False, answer, 0.0).info


def success_termination(terminate_on_success: bool) -> str | None:
    """:attr:`RewardForm.sync_only` of a form whose only answer-dependent step is ending episodes at success."""
    return "ends episodes on a detected success (terminate_on_success=True)" if terminate_on_success else None


def check_period(value: int | None, name: str = "every") -> int | None:
    """A period in env steps (>= 1), or None: never within the episode (a form's ``every=None`` queries only
    at its end). A period longer than any episode, as ``every=1_000_000_000``, does the same."""
    if value is None:
        return None
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def on_period(t: int, period: int | None) -> bool:
    """Whether step ``t`` falls on the period (step 0 always does; with ``period=None`` only step 0)."""
    return t == 0 if period is None else t % period == 0


def check_fill(fill: str) -> str:
    if fill not in FILL_MODES:
        raise ValueError(f"fill must be one of {FILL_MODES}, got {fill!r}")
    return fill


def fill_reward(fill: str, held: float, env_reward: float) -> float:
    """The reward between model queries: the last value held, zero, or the simulator's own."""
    return {"hold": held, "zero": 0.0, "env": float(env_reward)}[fill]


def shaping_reward(gamma: float, held: float, new: float | None = None) -> float:
    """Potential-based shaping ``gamma * new - held`` (Ng et al., 1999): the potential ``held`` becomes
    ``new`` on a query step and is held between queries (``new=None`` pays ``(gamma - 1) * held``), so
    the discounted return of an episode telescopes to ``gamma**T * potential_T - potential_0``."""
    return gamma * (held if new is None else new) - held
