"""The machinery every reward form shares, for one env or a batch of them.

A form (:mod:`vlmreward_gym.wrappers.forms`) decides, per env, which time points to record, when to
ask the model and how to turn its answer into a reward. :class:`RewardEngine` keeps each env's
episode record, records frames only when the form asks for them, gathers all due queries of a step
into **one** batched model call and pays each env's :class:`Step` in order once its answer is in.
The single-env wrapper is the engine with one env; the vector wrapper uses it with ``num_envs``
envs, so both compute the same rewards.
"""

from __future__ import annotations

import warnings
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.oracle import SUCCESS_KEY, read_oracle
from vlmreward_gym.types import RewardInputError, RewardOutput, RewardQuery
from vlmreward_gym.wrappers.forms.base import ClipAnswer, ClipRequest, EpisodeRecord, Payment, RewardForm
from vlmreward_gym.wrappers.scoring import make_scorer


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


@dataclass(eq=False)
class Step:
    """One observed env step (``step`` >= 1, the actions taken in the episode) or episode start (``step`` 0).

    Queued with its query (``request``, sent as clip ``index`` of the batched call whose eventual output is
    ``output``) until the answer is in; then paid (``paid``: a reset's holds reward 0 and the reset info) or
    failed: its query raised ``error``, or it comes ``after`` the failed step of its episode (the form's
    state from there on depends on the lost answer).
    """

    env: int
    episode: int
    step: int
    state: Any
    record: EpisodeRecord
    request: ClipRequest | None
    done: bool = False
    env_reward: float = 0.0
    output: Future[RewardOutput] | None = None
    index: int = 0
    paid: Payment | None = None
    error: BaseException | None = None
    after: int | None = None

    @property
    def is_reset(self) -> bool:
        return self.step == 0

    def answered(self) -> bool:
        """Whether its answer is in (or it asked none)."""
        return self.output is None or self.output.done()


def describe_failures(failures: Sequence[Step]) -> str:
    """One message naming every failed step, then, per episode, the steps that depend on it."""
    parts = [f"env {f.env}, episode {f.episode}, step {f.step} failed: {f.error!r}" for f in failures if f.error]
    following: dict[tuple[int, int, int], list[int]] = {}
    for f in failures:
        if f.after is not None:
            following.setdefault((f.env, f.episode, f.after), []).append(f.step)
    parts += [f"env {env}, episode {episode}, steps {min(steps)}-{max(steps)} have no reward (they follow step {after})"
              for (env, episode, after), steps in following.items()]
    return "the reward queries of " + "; ".join(parts)


FrameGetter = Callable[[], np.ndarray]


class RewardEngine:
    """Per-env episode records and one batched model call per step, for ``num_envs`` envs.

    Use: call :meth:`observe_reset` / :meth:`observe_step` for every env that reset or stepped,
    then :meth:`dispatch` once (one model call for all their due queries) and :meth:`collect`,
    which pays each env's :class:`Step` in order as their answers are in. With ``scoring="sync"`` every
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
        self._observed: list[Step] = []  # since the last dispatch
        self._queues: list[deque[Step]] = [deque() for _ in range(self.num_envs)]  # dispatched, not paid yet
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
        record = self.records[env] = EpisodeRecord(self.records[env].episode + 1)
        state = self.states[env] = self.form.new_state()
        self._record_point(env, False, info, frame)
        self._observed.append(Step(env, record.episode, 0, state, record, self.form.request(env, state, record, False)))

    def observe_step(self, env: int, env_reward: float, terminated: bool, truncated: bool, info: dict[str, Any],
                     frame: FrameGetter) -> None:
        """Env ``env`` took a step; ``info``/``frame()`` describe the state it reached."""
        record, done = self.records[env], bool(terminated or truncated)
        self.success_trap.observe(bool(terminated), info)
        record.t += 1
        self._record_point(env, done, info, frame)
        state = self.states[env]
        self._observed.append(Step(env, record.episode, record.t, state, record,
                                   self.form.request(env, state, record, done), done, float(env_reward)))

    def _query(self, asked: list[Step]) -> RewardQuery:
        info = self.model.info
        frames = oracle_progress = oracle_success = None
        if info.needs_frames:
            frames = [np.stack([s.record.frames[j] for j in s.request.points]) for s in asked]
        if info.needs_oracle:
            oracle_progress = [np.array([s.record.progress[j] for j in s.request.points]) for s in asked]
            oracle_success = [np.array([s.record.success[j] for j in s.request.points]) for s in asked]
        return RewardQuery(instructions=[s.request.instruction for s in asked], want=self.form.want,
                           frames=frames, oracle_progress=oracle_progress, oracle_success=oracle_success,
                           timesteps=[np.array([s.record.steps[j] for j in s.request.points]) for s in asked])

    def dispatch(self) -> list[Step]:
        """Send every due query observed since the last dispatch to the model, in one call; return the
        steps observed since then."""
        observed, self._observed = self._observed, []
        asked = [s for s in observed if s.request is not None]
        if asked:
            output = self.scorer.submit(self._query(asked))
            for k, s in enumerate(asked):
                s.output, s.index = output, k
        for s in observed:
            self._queues[s.env].append(s)
        return observed

    def collect(self, block: bool = False) -> tuple[list[Step], list[Step]]:
        """Pay, per env and in order, every dispatched step whose answer is in (all of them if ``block``).

        Returns:
            The paid steps, and the failed ones, left without a reward: a late answer failed (sync errors
            are raised by :meth:`dispatch`), or the step follows a failed one in its episode. A failure stops
            nothing else: every other env's steps and later episodes are still paid.
        """
        if block:
            self.scorer.flush()
        paid, failed = [], []
        for queue in self._queues:
            while queue and (block or queue[0].answered()):
                s = queue.popleft()
                (paid if self._pay(s) else failed).append(s)
        return paid, failed

    def _pay(self, s: Step) -> bool:
        """Pay ``s`` with its answer, or mark it failed; whether it was paid."""
        latest_failure = self._failed.get(s.env)
        if latest_failure is not None and latest_failure[0] == s.episode:
            s.after = latest_failure[1]
            return False
        try:
            answer = None if s.output is None else ClipAnswer.of(s.output.result(), s.index)
        except Exception as error:
            self._failed[s.env] = (s.episode, s.step)
            s.error = error
            return False
        if s.is_reset:
            s.paid = Payment(0.0, False, self.form.start(s.state, s.record, answer))
        else:
            s.paid = self.form.pay(s.state, s.record, s.done, answer, s.env_reward)
        return True

    def unanswered(self) -> int:
        """How many observed env steps (resets not counted) wait for an answer."""
        return sum(not s.is_reset for queue in self._queues for s in queue)

    def close(self) -> None:
        """Stop the scorer (async: after the queries in flight are answered; deferred: waiting ones never run)."""
        self.scorer.close()
