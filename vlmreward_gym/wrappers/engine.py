"""The machinery every reward form shares, for one env or a batch of them.

A :class:`RewardForm` decides, per env, which time points to record, when to ask the model and
how to turn its answer into a reward. :class:`RewardEngine` keeps each env's episode record,
records frames only when the form asks for them, gathers all due queries of a step into **one**
batched model call and hands each env its answer. The single-env wrappers are the engine with
one env; the vector twins use it with ``num_envs`` envs, so both compute the same rewards.
"""

from __future__ import annotations

import abc
import inspect
import math
import re
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.oracle import SUCCESS_KEY, read_oracle
from vlmreward_gym.types import Capability, RewardInputError, RewardOutput, RewardQuery
from vlmreward_gym.wrappers.scoring import Answers, make_scorer

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


@dataclass(frozen=True)
class StepReward:
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


def form_name(form_class: type) -> str:
    """The form's name as :func:`vlmreward_gym.wrap` takes it: ``StageGatedForm`` -> ``stage_gated``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", form_class.__name__.removesuffix("Form")).lower()


def form_options(form_class: type) -> list[str]:
    """The keyword options of a form's constructor, in order."""
    parameters = list(inspect.signature(form_class.__init__).parameters.values())[1:]  # without self
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


class RewardForm(abc.ABC):
    """How one reward form turns model answers into rewards. Per-env state lives in objects
    made by :meth:`new_state`, so the engine can keep an ending episode's state while the next
    episode starts (Gymnasium's same-step autoreset)."""

    #: capabilities the form needs from the model
    want: Capability
    #: whether the form ends an episode (``terminated=True``) once it detects success
    terminate_on_success: bool = False
    #: whether every step pays an absolute value (progress, stage value) rather than a change or a comparison
    pays_absolute_per_step: bool = False

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

    @property
    def name(self) -> str:
        return form_name(type(self))

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
            env_reward: float) -> StepReward:
        """The reward of the step that led to ``record.t``; ``answer`` is None when no query was due."""

    def start(self, state: Any, record: EpisodeRecord, answer: ClipAnswer | None) -> dict[str, Any]:
        """Take the answer to a reset-time query (if :meth:`request` asked one) into ``state`` and return the
        reset info; a reset pays no reward, so what :meth:`pay` computes for it is dropped. A form that
        queries at reset overrides this: a reset-time answer never counts toward success detection."""
        return self.pay(state, record, False, answer, 0.0).info


def success_termination(terminate_on_success: bool) -> str | None:
    """:attr:`RewardForm.sync_only` of a form whose only answer-dependent step is ending episodes at success."""
    return "ends episodes on a detected success (terminate_on_success=True)" if terminate_on_success else None


class SuccessTrap:
    """Warns (a ``UserWarning``, once) when a form pays an absolute reward every step while episodes end at
    success, by ``terminate_on_success`` or by the env's own termination at success: a policy then collects
    more reward by stalling just short of success than by finishing, so RL may learn to avoid success."""

    def __init__(self, form: RewardForm):
        self.form, self.warned = form, False
        if form.pays_absolute_per_step and form.terminate_on_success:
            self._warn("terminate_on_success=True")

    def observe(self, terminated: bool, info: dict[str, Any]) -> None:
        """One env step: ``terminated`` with the oracle protocol's ``info["success"]`` is a termination at success."""
        if self.warned or not (self.form.pays_absolute_per_step and terminated):
            return
        if bool(np.asarray(info.get(SUCCESS_KEY, False)).reshape(())):
            self._warn(f"the env terminated at success (info[{SUCCESS_KEY!r}])")

    def _warn(self, why: str) -> None:
        self.warned = True
        warnings.warn(f"the {self.form.name} reward form pays an absolute value every step (relative=False) while "
                      f"episodes end at success ({why}): a policy earns more by stalling just short of success than "
                      f"by finishing, so RL may learn to avoid it. Pay the change instead (relative=True, "
                      f"potential-based shaping) or let episodes run on after success", UserWarning, stacklevel=4)


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


@dataclass
class _Pending:
    env: int
    state: Any
    record: EpisodeRecord
    done: bool
    env_reward: float
    request: ClipRequest | None
    is_reset: bool
    step: int
    answers: Answers | None = None
    index: int = 0


@dataclass(frozen=True)
class FailedStep:
    """A step (``step`` 0: a reset) left without a reward: its query failed with ``error``, or it comes
    ``after`` the failed step of its episode (the form's state from there on depends on the lost answer)."""

    env: int
    episode: int
    step: int
    error: BaseException | None = None
    after: int | None = None


def describe_failures(failures: Sequence[FailedStep]) -> str:
    """One message naming every failed step, then, per episode, the steps that depend on it."""
    parts = [f"env {f.env}, episode {f.episode}, step {f.step} failed: {f.error!r}" for f in failures if f.error]
    following: dict[tuple[int, int, int], list[int]] = {}
    for f in failures:
        if f.after is not None:
            following.setdefault((f.env, f.episode, f.after), []).append(f.step)
    parts += [f"env {env}, episode {episode}, steps {min(steps)}-{max(steps)} have no reward (they follow step {after})"
              for (env, episode, after), steps in following.items()]
    return "the reward queries of " + "; ".join(parts)


@dataclass(frozen=True)
class Delivery:
    """A paid step (``paid``) or a started episode (``is_reset``, ``info`` = its reset info)."""

    env: int
    episode: int
    step: int
    is_reset: bool
    info: dict[str, Any]
    paid: StepReward | None = None


FrameGetter = Callable[[], np.ndarray]


def _answer(output: RewardOutput, k: int) -> ClipAnswer:
    return ClipAnswer(progress=None if output.progress is None else np.asarray(output.progress[k], np.float64),
                      success=None if output.success is None else float(output.success[k]),
                      comparison=None if output.comparison is None else float(output.comparison[k]),
                      score=None if output.score is None else float(output.score[k]), raw=output.raw[k])


class RewardEngine:
    """Per-env episode records and one batched model call per step, for ``num_envs`` envs.

    Use: call :meth:`observe_reset` / :meth:`observe_step` for every env that reset or stepped,
    then :meth:`dispatch` once (one model call for all their due queries) and :meth:`collect`,
    which pays each env's steps in order as their answers are in. With ``scoring="sync"`` every
    answer is in at once; ``"async"`` and ``"deferred"`` (see :mod:`.scoring`) deliver later.
    """

    def __init__(self, model: RewardModel, form: RewardForm, instructions: Sequence[str], scoring: str = "sync",
                 workers: int = 1, max_pending: int = 8, max_batch: int = 256):
        form.bind(model, instructions)
        if scoring != "sync" and form.sync_only:
            raise ValueError(f"scoring={scoring!r} delivers rewards late, but the {form.name} form {form.sync_only}, "
                             f"so it needs each answer before the next step: use scoring='sync'")
        self.model, self.form, self.scoring = model, form, scoring
        self.scorer = make_scorer(scoring, model, workers, max_pending, max_batch)
        self.num_envs = len(instructions)
        self.records = [EpisodeRecord() for _ in range(self.num_envs)]
        self.states = [form.new_state() for _ in range(self.num_envs)]
        self._pending: list[_Pending] = []
        self._queues: list[deque[_Pending]] = [deque() for _ in range(self.num_envs)]
        self._failed: dict[int, tuple[int, int]] = {}  # env -> (episode, step) of its latest failed step
        self.success_trap = SuccessTrap(form)

    def _record_point(self, env: int, done: bool, info: dict[str, Any], frame: FrameGetter) -> None:
        """Record the state after ``record.t`` actions if the form needs it. Everything is read before
        anything is stored, so an error (a failed render, a missing oracle key) leaves the record aligned."""
        record, state = self.records[env], self.states[env]
        if not self.form.needs_point(state, record.t, done):
            return
        image = self._frame_of(record, frame) if self.model.info.needs_frames else None
        oracle = read_oracle(info) if self.model.info.needs_oracle else None
        record.steps.append(record.t)
        if image is not None:
            record.frames.append(image)
        if oracle is not None:
            record.progress.append(oracle[0])
            record.success.append(oracle[1])

    @staticmethod
    def _frame_of(record: EpisodeRecord, frame: FrameGetter) -> np.ndarray:
        """The frame after ``record.t`` actions, (H, W, 3) uint8 of the size of the episode's earlier ones."""
        image = frame()
        if record.frames and image.shape != record.frames[0].shape:
            raise RewardInputError(
                f"the frame after step {record.t} has shape {image.shape}, but this episode's earlier frames have "
                f"{record.frames[0].shape}: a reward clip needs frames of one size; keep the render/camera "
                f"resolution fixed within an episode (or resize frames to one size before the wrapper)")
        return image

    def observe_reset(self, env: int, info: dict[str, Any], frame: FrameGetter) -> None:
        """Env ``env`` started a new episode; ``info`` is its reset info, ``frame()`` renders its first frame."""
        self.records[env] = EpisodeRecord(self.records[env].episode + 1)
        self.states[env] = self.form.new_state()
        self._record_point(env, False, info, frame)
        request = self.form.request(env, self.states[env], self.records[env], False)
        self._pending.append(_Pending(env, self.states[env], self.records[env], False, 0.0, request, True, 0))

    def observe_step(self, env: int, env_reward: float, terminated: bool, truncated: bool, info: dict[str, Any],
                     frame: FrameGetter) -> None:
        """Env ``env`` took a step; ``info``/``frame()`` describe the state it reached."""
        record, done = self.records[env], bool(terminated or truncated)
        self.success_trap.observe(bool(terminated), info)
        record.t += 1
        self._record_point(env, done, info, frame)
        request = self.form.request(env, self.states[env], record, done)
        self._pending.append(_Pending(env, self.states[env], record, done, float(env_reward), request, False,
                                      record.t))

    def _query(self, pending: list[_Pending]) -> RewardQuery:
        info = self.model.info
        frames = oracle_progress = oracle_success = None
        if info.needs_frames:
            frames = [np.stack([p.record.frames[j] for j in p.request.points]) for p in pending]
        if info.needs_oracle:
            oracle_progress = [np.array([p.record.progress[j] for j in p.request.points]) for p in pending]
            oracle_success = [np.array([p.record.success[j] for j in p.request.points]) for p in pending]
        return RewardQuery(instructions=[p.request.instruction for p in pending], want=self.form.want,
                           frames=frames, oracle_progress=oracle_progress, oracle_success=oracle_success,
                           timesteps=[np.array([p.record.steps[j] for j in p.request.points]) for p in pending])

    def dispatch(self) -> list[tuple[int, int, int, bool]]:
        """Send every due query observed since the last dispatch to the model, in one call; return the
        ``(env, episode, step, is_reset)`` keys of what was observed."""
        pending, self._pending = self._pending, []
        asked = [p for p in pending if p.request is not None]
        if asked:
            answers = self.scorer.submit(self._query(asked))
            for k, p in enumerate(asked):
                p.answers, p.index = answers, k
        for p in pending:
            self._queues[p.env].append(p)
        return [(p.env, p.record.episode, p.step, p.is_reset) for p in pending]

    def collect(self, block: bool = False) -> tuple[list[Delivery], list[FailedStep]]:
        """Pay, per env and in order, every observed step whose answer is in (all of them if ``block``).

        Returns:
            The deliveries, and the steps left without a reward: a late answer failed (sync errors are
            raised by :meth:`dispatch`), or the step follows a failed one in its episode. A failure stops
            nothing else: every other env's steps and later episodes are still paid.
        """
        if block:
            self.scorer.flush()
        delivered, failures = [], []
        for queue in self._queues:
            while queue and (block or queue[0].answers is None or queue[0].answers.done()):
                p = queue.popleft()
                episode = p.record.episode
                failed = self._failed.get(p.env)
                if failed is not None and failed[0] == episode:
                    failures.append(FailedStep(p.env, episode, p.step, after=failed[1]))
                    continue
                try:
                    answer = None if p.answers is None else _answer(p.answers.get(), p.index)
                except Exception as error:
                    self._failed[p.env] = (episode, p.step)
                    failures.append(FailedStep(p.env, episode, p.step, error=error))
                    continue
                if p.is_reset:
                    delivered.append(Delivery(p.env, episode, p.step, True, self.form.start(p.state, p.record, answer)))
                else:
                    paid = self.form.pay(p.state, p.record, p.done, answer, p.env_reward)
                    delivered.append(Delivery(p.env, episode, p.step, False, paid.info, paid))
        return delivered, failures

    def unanswered(self) -> int:
        """How many observed env steps (resets not counted) wait for an answer."""
        return sum(not p.is_reset for queue in self._queues for p in queue)

    def close(self) -> None:
        """Stop the scorer (async: after the queries in flight are answered; deferred: waiting ones never run)."""
        self.scorer.close()
