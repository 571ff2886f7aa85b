"""When reward queries run: at once (``sync``), in a worker pool while the env keeps stepping
(``async``), or batched up until the rewards are needed (``deferred``).

A wrapper built with ``scoring="async"`` or ``"deferred"`` returns ``reward = NaN`` for a step
whose answer is not in yet, with ``info["reward_model"]["pending"] = True`` and the step's
``episode`` and ``step`` ids (only pending steps carry ``episode``: it counts the wrapper's episodes, so
relabels stay identifiable across seeded resets, while every other info repeats with the seed), and delivers the real reward later as a :class:`Relabel` through
``wrapper.pop_relabels()`` (what has arrived) or ``wrapper.flush()`` (waits for everything).
Consumers (PPO's rollout buffer, a replay buffer) relabel those steps before learning from them.
Each env's steps are paid in order, so rewards that depend on earlier answers (held values,
potentials) are exact; a failed query raises :class:`RewardDeliveryError` naming the env,
episode and step (and the later steps of that episode, whose rewards depend on it), it is never
dropped, and every reward that did arrive is still delivered. ``close()`` warns about rewards
that were never taken: call ``flush()`` first. Forms whose next query depends on the last answer
(``stage_gated``) or that end episodes on detected success need ``sync``.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from vlmreward_gym.types import RewardOutput, RewardQuery

SCORING_MODES = ("sync", "async", "deferred")


class RewardDeliveryError(RuntimeError):
    """A reward query that was answered late failed; the message names the env, episode and step."""


@dataclass(frozen=True)
class Relabel:
    """The real reward of a step first returned as pending (NaN).

    Attributes:
        env: sub-env index (0 for a single env).
        episode: the wrapper's count of the env's episodes, from 1, never reset by a seed
            (``info["reward_model"]["episode"]`` of that pending step).
        step: the step within the episode (``info["reward_model"]["step"]``), 1 = the first action.
        reward: the learned reward to use instead of the NaN.
        info: what ``info["reward_model"]`` would have held for that step.
    """

    env: int
    episode: int
    step: int
    reward: float
    info: dict[str, Any] = field(default_factory=dict)


def concat_queries(queries: list[RewardQuery]) -> RewardQuery:
    """One query holding every clip of ``queries`` in order (they must want the same outputs)."""
    def join(name: str) -> tuple | None:
        parts = [getattr(q, name) for q in queries]
        return None if parts[0] is None else tuple(x for part in parts for x in part)

    return RewardQuery(instructions=join("instructions"), want=queries[0].want, frames=join("frames"),
                       oracle_progress=join("oracle_progress"), oracle_success=join("oracle_success"),
                       timesteps=join("timesteps"))


def split_output(output: RewardOutput, sizes: list[int]) -> list[RewardOutput]:
    """Cut a batched output back into consecutive pieces of ``sizes`` clips."""
    pieces, start = [], 0
    for size in sizes:
        cut = slice(start, start + size)
        pieces.append(RewardOutput(
            progress=None if output.progress is None else output.progress[cut],
            success=None if output.success is None else np.asarray(output.success)[cut],
            comparison=None if output.comparison is None else np.asarray(output.comparison)[cut],
            score=None if output.score is None else np.asarray(output.score)[cut],
            raw=output.raw[cut]))
        start += size
    return pieces


class Scorer:
    """Runs ``model(query)`` now; the base of the other modes. Errors propagate at once.

    :meth:`submit` returns the query's eventual output as a :class:`~concurrent.futures.Future`, whose
    ``result()`` raises the model's error, if any.
    """

    def __init__(self, model: Callable[[RewardQuery], RewardOutput]):
        self.model = model

    def submit(self, query: RewardQuery) -> Future[RewardOutput]:
        output: Future[RewardOutput] = Future()
        output.set_result(self.model(query))
        return output

    def flush(self) -> None:
        """Start every query still held back (deferred mode)."""

    def close(self) -> None:
        """Stop worker threads."""


class AsyncScorer(Scorer):
    """Runs queries in ``workers`` threads while the caller goes on; at most ``max_pending``
    queries in flight (submitting another first waits for the oldest)."""

    def __init__(self, model: Callable[[RewardQuery], RewardOutput], workers: int = 1, max_pending: int = 8):
        super().__init__(model)
        if workers < 1 or max_pending < 1:
            raise ValueError(f"workers and max_pending must be >= 1, got {workers}, {max_pending}")
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vlmreward-scoring")
        self.max_pending = max_pending
        self._in_flight: deque[Future] = deque()

    def submit(self, query: RewardQuery) -> Future[RewardOutput]:
        while self._in_flight and self._in_flight[0].done():
            self._in_flight.popleft()
        if len(self._in_flight) >= self.max_pending:
            self._in_flight.popleft().exception()  # wait; the error, if any, surfaces on delivery
        future = self.pool.submit(self.model, query)
        self._in_flight.append(future)
        return future

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class DeferredScorer(Scorer):
    """Holds queries back and answers them together, in calls of at most ``max_batch`` clips,
    when :meth:`flush` is called (or once ``max_batch`` clips are waiting)."""

    def __init__(self, model: Callable[[RewardQuery], RewardOutput], max_batch: int = 256):
        super().__init__(model)
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        self._waiting: list[tuple[RewardQuery, Future[RewardOutput]]] = []
        self._clips = 0
        self._lock = threading.Lock()

    def submit(self, query: RewardQuery) -> Future[RewardOutput]:
        output: Future[RewardOutput] = Future()
        with self._lock:
            self._waiting.append((query, output))
            self._clips += query.batch_size
            full = self._clips >= self.max_batch
        if full:
            self.flush()
        return output

    def flush(self) -> None:
        with self._lock:
            waiting, self._waiting, self._clips = self._waiting, [], 0
        while waiting:
            group, clips = [], 0
            while waiting and (not group or clips + waiting[0][0].batch_size <= self.max_batch):
                group.append(waiting.pop(0))
                clips += group[-1][0].batch_size
            try:
                outputs = split_output(self.model(concat_queries([q for q, _ in group])),
                                       [q.batch_size for q, _ in group])
            except Exception as error:  # delivered to each waiting step, which raises it in order
                for _, future in group:
                    future.set_exception(error)
            else:
                for (_, future), output in zip(group, outputs):
                    future.set_result(output)


def make_scorer(mode: str, model: Callable[[RewardQuery], RewardOutput], workers: int = 1, max_pending: int = 8,
                max_batch: int = 256) -> Scorer:
    """The scorer for ``mode`` in :data:`SCORING_MODES`."""
    if mode == "sync":
        return Scorer(model)
    if mode == "async":
        return AsyncScorer(model, workers, max_pending)
    if mode == "deferred":
        return DeferredScorer(model, max_batch)
    raise ValueError(f"scoring must be one of {SCORING_MODES}, got {mode!r}")
