"""``vlmreward serve``: an HTTP reward server that micro-batches concurrent requests.

    vlmreward serve --model NAME [--model-kwargs JSON] [--host 127.0.0.1] [--port 8321]
                    [--max-batch 32] [--max-wait-ms 5] [--call-timeout-s 120] [--token-env VLMREWARD_SERVE_TOKEN]

``NAME`` is a registered backend (``vlmreward models``) or a ``module:attribute`` factory.
Requests that arrive while the model is busy (or within ``max-wait-ms`` of the first one) are
merged into **one** model call of at most ``max-batch`` clips, then each caller gets its slice.
Only one model call runs at a time, in a worker thread, so the event loop keeps answering.
A request whose client disconnected, or waited past its ``X-Request-Timeout``, is dropped before
its model call. A call running past ``--call-timeout-s`` answers its requests 504 and marks the
model stalled: ``/health`` answers 503 with the reason and requests get 503 until the call returns.

Endpoints (wire format in :mod:`vlmreward_gym.serve.wire`):
    GET  /health     liveness, no auth: ``{"status": "ok", "model": name}``, or 503 with
                     ``{"status": "stalled", "model": name, "reason": ...}``
    GET  /v1/info    the served model's ModelInfo as JSON
    POST /v1/score   score a batch of clips
    GET  /metrics    Prometheus text: requests by status, clips, model calls, batch sizes, queue

If the environment variable named by ``--token-env`` is set and non-empty, every endpoint but
``/health`` needs ``Authorization: Bearer <token>``; the token is never printed or logged.
The server binds loopback unless ``--host`` says otherwise, and refuses a non-loopback host
without a token unless ``--insecure-no-token`` is given.

What a request may hold is bounded before its body is read: ``Content-Length`` is required and
at most ``--max-body-mb`` (413), all bodies held at once at most ``--max-inflight-mb`` (503), open
connections at most ``--max-connections`` (uvicorn answers 503); a body that stalls for
``--read-timeout-s`` gets 408 and its connection closed. The body is read into one buffer of its
declared size and the frames are views of it, never copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import ipaddress
import json
import math
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.requests import ClientDisconnect

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.models.registry import make_reward_model
from vlmreward_gym.serve.wire import (CONTENT_TYPE, TIMEOUT_HEADER, Limits, WireError, decode_query,
                                      encode_output, info_to_dict)
from vlmreward_gym.types import (CapabilityError, RewardInputError, RewardOutput, RewardOutputError,
                                 RewardQuery)

DEFAULT_PORT = 8321
DEFAULT_CALL_TIMEOUT_S = 120.0  # twice the remote client's 60 s per attempt: a call past it is stuck, not slow
DEFAULT_READ_TIMEOUT_S = 30.0  # of silence within a body: a stall (a loaded loopback still moves ~10 MB/s)
DEFAULT_INFLIGHT_BYTES = 2**30  # four bodies of the default 256 MB limit
DEFAULT_MAX_CONNECTIONS = 512
TOKEN_ENV = "VLMREWARD_SERVE_TOKEN"
_FIELDS = ("frames", "oracle_progress", "oracle_success", "timesteps")


class Overloaded(RuntimeError):
    """The request queue is full (answered 503 so clients back off and retry)."""


class DeadlineExceeded(RuntimeError):
    """A request's model call ran past ``--call-timeout-s``, or it waited past its own deadline (answered 504)."""


class ModelAborted(RuntimeError):
    """The model raised a ``BaseException`` that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``
    raised inside the model call): it fails that request with 500 instead of stopping the server."""


@dataclass
class _Job:
    query: RewardQuery
    future: asyncio.Future
    arrived: float
    deadline: float = math.inf  # loop time after which nobody waits for the answer

    @property
    def signature(self) -> tuple[bool, ...]:
        """Which optional fields the query carries; only jobs with equal signatures share a model call."""
        return tuple(getattr(self.query, name) is not None for name in _FIELDS)


@dataclass
class Stats:
    """Counters behind ``/metrics``."""

    requests: Counter = field(default_factory=Counter)  # by HTTP status
    clips: int = 0
    model_calls: int = 0
    model_seconds: float = 0.0
    batch_clips_max: int = 0
    batch_requests_max: int = 0
    model_errors: int = 0
    model_timeouts: int = 0
    body_bytes: int = 0  # request bodies held now


def merge_queries(queries: list[RewardQuery]) -> RewardQuery:
    """One query holding every clip of ``queries`` in order (their optional fields must match)."""
    want = queries[0].want
    for q in queries[1:]:
        want |= q.want
    parts = {name: None if getattr(queries[0], name) is None else
             tuple(x for q in queries for x in getattr(q, name)) for name in _FIELDS}
    return RewardQuery(instructions=tuple(t for q in queries for t in q.instructions), want=want, **parts)


def split_output(output: RewardOutput, sizes: list[int]) -> list[RewardOutput]:
    """Cut a merged answer back into one answer per query of ``sizes`` clips."""
    outputs, start = [], 0
    for n in sizes:
        cut = slice(start, start + n)

        def part(value: np.ndarray | None) -> np.ndarray | None:
            return None if value is None else np.asarray(value)[cut]

        outputs.append(RewardOutput(progress=None if output.progress is None else output.progress[cut],
                                    success=part(output.success), comparison=part(output.comparison),
                                    score=part(output.score), raw=output.raw[cut]))
        start += n
    return outputs


class Batcher:
    """Collects queries and runs them through the model in merged batches, one call at a time.

    Args:
        model: the backend.
        max_batch: most clips in one model call (a larger single request runs alone).
        max_wait_s: longest wait for company before a model call: an idle model waits (from the first
            request's arrival or the last call's end) until as many clips are queued as were in flight
            around the previous call, so returning callers share one call; a lone caller waits not at all.
        max_queue: most requests waiting; beyond it :meth:`submit` raises :class:`Overloaded`.
        call_timeout_s: longest a model call may run. Past it its requests fail with
            :class:`DeadlineExceeded` and the model counts as stalled (:meth:`stalled`): queued and new
            requests fail with :class:`Overloaded` until the call returns (a thread cannot be killed).

    A request whose caller is gone (its future was cancelled) or whose deadline passed is dropped
    before its model call.
    """

    def __init__(self, model: RewardModel, max_batch: int = 32, max_wait_s: float = 0.005,
                 max_queue: int = 1024, stats: Stats | None = None, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S):
        if max_batch < 1 or max_wait_s < 0 or max_queue < 1 or not call_timeout_s > 0:
            raise ValueError(f"need max_batch >= 1, max_wait_s >= 0, max_queue >= 1, call_timeout_s > 0; got "
                             f"{max_batch}, {max_wait_s}, {max_queue}, {call_timeout_s}")
        self.model, self.max_batch, self.max_wait_s, self.max_queue = model, max_batch, max_wait_s, max_queue
        self.call_timeout_s = call_timeout_s
        self._call: Future | None = None  # the model call in the worker thread (done only once it returned)
        self._call_start, self._stalled = 0.0, False
        self.stats = stats or Stats()
        self.pending: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reward-model")
        self._task: asyncio.Task | None = None
        self._expected, self._last_end = 0, float("-inf")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        _fail(self.pending, Overloaded, "the server is shutting down")
        self._executor.shutdown(wait=False)

    @property
    def running(self) -> bool:
        """Whether a model call is running in the worker thread."""
        return self._call is not None and not self._call.done()

    @property
    def depth(self) -> int:
        """Requests waiting for the model whose callers still want an answer."""
        return sum(not job.future.done() for job in self.pending)

    def stalled(self) -> str | None:
        """Why the model counts as stalled (its running call is past ``call_timeout_s``), else None."""
        if not self._stalled:
            return None
        running = asyncio.get_running_loop().time() - self._call_start
        return (f"the model is stalled: a call has been running for {running:.1f} s, past the limit of "
                f"{self.call_timeout_s:g} s (--call-timeout-s); requests are refused until it returns")

    async def submit(self, query: RewardQuery, timeout_s: float | None = None) -> RewardOutput:
        """The answer to ``query``; dropped with :class:`DeadlineExceeded` if it still waits after ``timeout_s``."""
        stalled = self.stalled()
        if stalled:
            raise Overloaded(stalled)
        if self.depth >= self.max_queue:
            raise Overloaded(f"{self.depth} requests are already queued (limit {self.max_queue}); retry later")
        loop = asyncio.get_running_loop()
        now = loop.time()
        job = _Job(query, loop.create_future(), now, math.inf if timeout_s is None else now + timeout_s)
        self.pending.append(job)
        self._wakeup.set()
        return await job.future

    def _queued_clips(self) -> int:
        return sum(job.query.batch_size for job in self.pending if not job.future.done())

    def _take(self) -> list[_Job]:
        """Drop the jobs nobody waits for, then pop the oldest job and the following ones with its signature,
        up to ``max_batch`` clips (none if none is left)."""
        now = asyncio.get_running_loop().time()
        for job in self.pending:
            if not job.future.done() and now > job.deadline:
                job.future.set_exception(DeadlineExceeded(
                    f"the request waited {now - job.arrived:.1f} s for the model, past its deadline of "
                    f"{job.deadline - job.arrived:g} s (X-Request-Timeout)"))
        self.pending = deque(job for job in self.pending if not job.future.done())
        if not self.pending:
            return []
        first = self.pending.popleft()
        jobs, clips, keep = [first], first.query.batch_size, deque()
        while self.pending:
            job = self.pending.popleft()
            if job.signature == first.signature and clips + job.query.batch_size <= self.max_batch:
                jobs.append(job)
                clips += job.query.batch_size
            else:
                keep.append(job)
        self.pending.extendleft(reversed(keep))
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            # Wait (at most max_wait_s) for as many clips as were in flight around the last call:
            # callers answered by it usually come straight back, and waiting for them keeps batches full.
            target = min(self.max_batch, max(1, self._expected))
            deadline = max(self.pending[0].arrived, self._last_end) + self.max_wait_s
            while self._queued_clips() < target and loop.time() < deadline:
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
            jobs = self._take()
            if not jobs:
                continue
            self._call_start = loop.time()
            self._call = self._executor.submit(self._run_model, [j.query for j in jobs])
            call = asyncio.wrap_future(self._call)
            try:
                results = await asyncio.wait_for(asyncio.shield(call), self.call_timeout_s)
            except asyncio.TimeoutError:
                self.stats.model_timeouts += 1
                self._stalled = True
                _fail(jobs, DeadlineExceeded, f"the model call took longer than {self.call_timeout_s:g} s "
                      "(--call-timeout-s); the model may be stuck")
                _fail(self.pending, Overloaded, self.stalled())
                results = await call  # the thread cannot be stopped: wait until the model returns
                self._stalled = False
            self._last_end = loop.time()
            self._expected = sum(j.query.batch_size for j in jobs) + self._queued_clips()
            for job, result in zip(jobs, results):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _run_model(self, queries: list[RewardQuery]) -> list[RewardOutput | BaseException]:
        """Run one merged model call; if it fails, run each query alone so one bad query fails only itself."""
        start = time.perf_counter()
        try:
            merged = merge_queries(queries) if len(queries) > 1 else queries[0]
            outputs: list[RewardOutput | BaseException] = split_output(
                self.model(merged), [q.batch_size for q in queries])
        except BaseException as exc:  # noqa: BLE001  (reported to the caller, never swallowed)
            if not isinstance(exc, Exception):  # only the model's thread saw it: no signal reached the server
                exc = ModelAborted(f"the model raised {type(exc).__name__}: {exc}")
            if len(queries) == 1:
                self.stats.model_errors += 1
                outputs = [exc]
            else:
                self._count(queries, start)
                return [self._run_model([q])[0] for q in queries]
        self._count(queries, start)
        return outputs

    def _count(self, queries: list[RewardQuery], start: float) -> None:
        clips = sum(q.batch_size for q in queries)
        s = self.stats
        s.model_calls += 1
        s.model_seconds += time.perf_counter() - start
        s.clips += clips
        s.batch_clips_max = max(s.batch_clips_max, clips)
        s.batch_requests_max = max(s.batch_requests_max, len(queries))


def _fail(jobs: Iterable[_Job], error: type[Exception], reason: str) -> None:
    """Answer every job still waiting with ``error(reason)``."""
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error(reason))


def body_size(request: Request, max_bytes: int) -> int:
    """The body size the request declares; :class:`WireError` for a wrong content type (415), no
    ``Content-Length`` (411) or one above ``max_bytes`` (413), all before a byte of the body is read."""
    if request.headers.get("content-type", "").split(";")[0].strip() != CONTENT_TYPE:
        raise WireError(f"content type must be {CONTENT_TYPE}", 415)
    declared = request.headers.get("content-length")
    if declared is None:
        raise WireError("a Content-Length header is required (the body is read into one buffer of that size)", 411)
    if not declared.isdigit():
        raise WireError(f"content-length {declared!r} is not a number of bytes")
    if int(declared) > max_bytes:
        raise WireError(f"content-length {declared} exceeds the limit of {max_bytes} bytes (--max-body-mb)", 413)
    return int(declared)


async def read_body(request: Request, size: int, idle_s: float) -> bytearray:
    """The ``size``-byte body, each chunk copied once into one buffer as it arrives; :class:`WireError` 408
    if nothing arrives for ``idle_s`` (a stalled upload; a slow one that keeps sending is not cut)."""
    body, filled = bytearray(size), 0
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(idle_s) as deadline:
            async for chunk in request.stream():
                body[filled:filled + len(chunk)] = chunk  # the server enforces Content-Length: never grows
                filled += len(chunk)
                deadline.reschedule(loop.time() + idle_s)
    except TimeoutError:
        raise WireError(f"the body stalled: nothing arrived for {idle_s:g} s (--read-timeout-s) after {filled} of "
                        f"{size} bytes", 408) from None
    return body


class CountStatus:
    """ASGI middleware counting ``/v1/score`` answers by HTTP status into ``counter``, including the 500 that
    Starlette sends when the handler raises."""

    def __init__(self, app: Any, counter: Counter):
        self.app, self.counter = app, counter

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/score":
            return await self.app(scope, receive, send)
        status = 500  # unless a response starts

        async def watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.counter[status] += 1


async def _disconnected(request: Request) -> None:
    """Return once the client has closed its connection (call after the body was read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def request_timeout(request: Request) -> float | None:
    """The client's deadline in seconds from its ``X-Request-Timeout`` header (the remote backend sends its
    timeout), or None; past it a request still waiting for the model is dropped with 504."""
    value = request.headers.get(TIMEOUT_HEADER)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise WireError(f"{TIMEOUT_HEADER} must be a positive number of seconds, got {value!r}")
    return seconds


class BearerAuth:
    """ASGI middleware: every path but ``/health`` needs ``Authorization: <expected>`` (compared in constant time)."""

    def __init__(self, app: Any, expected: bytes, reject: Any):
        self.app, self.expected, self.reject = app, expected, reject

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await self.reject()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_model(name: str, kwargs: dict[str, Any] | None = None) -> RewardModel:
    """A registered backend by name, or any ``module:attribute`` factory."""
    kwargs = kwargs or {}
    if ":" in name:
        module, _, attr = name.partition(":")
        model = getattr(importlib.import_module(module), attr)(**kwargs)
        if not isinstance(model, RewardModel):
            raise TypeError(f"{name} returned {type(model).__name__}, not a RewardModel")
        return model
    return make_reward_model(name, **kwargs)


def create_app(model: RewardModel, *, max_batch: int = 32, max_wait_ms: float = 5.0, max_queue: int = 1024,
               limits: Limits = Limits(), token: str | None = None, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
               read_timeout_s: float = DEFAULT_READ_TIMEOUT_S, max_inflight_bytes: int = DEFAULT_INFLIGHT_BYTES):
    """The FastAPI app serving ``model``.

    Args:
        token: required bearer token, or None for no auth.
        call_timeout_s: longest model call (see :class:`Batcher`).
        read_timeout_s: longest silence within a request body (408 and the connection closes after it).
        max_inflight_bytes: most request-body bytes held at once, being read, queued or in the model (503
            beyond it, before the body is read).
    """
    if max_inflight_bytes < limits.max_body_bytes or not read_timeout_s > 0:
        raise ValueError(f"need max_inflight_bytes (--max-inflight-mb) >= limits.max_body_bytes (--max-body-mb) "
                         f"and read_timeout_s > 0; got {max_inflight_bytes}, {limits.max_body_bytes}, {read_timeout_s}")
    stats = Stats()
    expected = f"Bearer {token}".encode() if token else None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher = Batcher(model, max_batch, max_wait_ms / 1000.0, max_queue, stats, call_timeout_s)
        batcher.start()
        app.state.batcher = batcher
        yield
        await batcher.stop()

    app = FastAPI(title="vlmreward reward server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    def error(status: int, reason: str, close: bool = False) -> JSONResponse:
        """A JSON error; ``close``: the body was not read, so the connection must not be reused."""
        return JSONResponse({"error": reason}, status_code=status, headers={"Connection": "close"} if close else None)

    @contextlib.contextmanager
    def hold(size: int):
        """Count ``size`` body bytes as held while the request lives; 503 if they would pass the budget."""
        if stats.body_bytes + size > max_inflight_bytes:
            raise WireError(f"{stats.body_bytes} bytes of request bodies are held already; {size} more would pass "
                            f"the limit of {max_inflight_bytes} (--max-inflight-mb); retry later", 503)
        stats.body_bytes += size
        try:
            yield
        finally:
            stats.body_bytes -= size

    if expected is not None:
        app.add_middleware(BearerAuth, expected=expected,
                           reject=lambda: error(401, "missing or wrong bearer token (Authorization: Bearer <token>)"))
    app.add_middleware(CountStatus, counter=stats.requests)  # outermost: counts 401s and escaped 500s too

    @app.get("/health")
    async def health():
        stalled = app.state.batcher.stalled()
        if stalled:
            return JSONResponse({"status": "stalled", "model": model.info.name, "reason": stalled}, status_code=503)
        return {"status": "ok", "model": model.info.name}

    @app.get("/v1/info")
    async def info():
        return {"model": info_to_dict(model.info), "max_batch": max_batch, "limits": limits.__dict__}

    @app.get("/metrics")
    async def metrics():
        batcher = getattr(app.state, "batcher", None)
        lines = ["# TYPE vlmreward_score_requests_total counter"]
        lines += [f'vlmreward_score_requests_total{{status="{code}"}} {n}' for code, n in sorted(stats.requests.items())]
        for name, value in (("clips_total", stats.clips), ("model_calls_total", stats.model_calls),
                            ("model_seconds_total", round(stats.model_seconds, 6)),
                            ("model_errors_total", stats.model_errors),
                            ("model_timeouts_total", stats.model_timeouts),
                            ("model_stalled", int(bool(batcher and batcher.stalled()))),
                            ("batch_clips_max", stats.batch_clips_max),
                            ("batch_requests_max", stats.batch_requests_max),
                            ("queue_depth", batcher.depth if batcher else 0),
                            ("body_bytes_held", stats.body_bytes)):
            lines.append(f"vlmreward_{name} {value}")
        return PlainTextResponse("\n".join(lines) + "\n")

    @app.post("/v1/score")
    async def score(request: Request):
        try:
            size, timeout = body_size(request, limits.max_body_bytes), request_timeout(request)
            with hold(size):
                return await answer(request, await read_body(request, size, read_timeout_s), timeout)
        except WireError as exc:  # refused before its body was read in full
            return error(exc.status, str(exc), close=True)
        except ClientDisconnect:
            return error(499, "the client disconnected while sending its body")

    async def answer(request: Request, body: bytearray, timeout: float | None) -> JSONResponse:
        try:
            query = decode_query(body, limits)
            model.check_query(query)
        except WireError as exc:
            return error(exc.status, str(exc))
        except (RewardInputError, CapabilityError) as exc:
            return error(422, str(exc))
        job = asyncio.ensure_future(app.state.batcher.submit(query, timeout))
        gone = asyncio.ensure_future(_disconnected(request))
        await asyncio.wait((job, gone), return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not job.done():  # the client left: drop its request unless its model call already runs
            job.cancel()
            return error(499, "the client disconnected before its answer")
        try:
            output = job.result()
        except Overloaded as exc:
            return error(503, str(exc))
        except DeadlineExceeded as exc:
            return error(504, str(exc))
        except (RewardInputError, CapabilityError) as exc:
            return error(422, str(exc))
        except RewardOutputError as exc:
            return error(500, f"the reward model broke its contract: {exc}")
        except Exception as exc:  # noqa: BLE001
            return error(500, f"the reward model failed: {type(exc).__name__}: {exc}")
        return JSONResponse(encode_output(output))

    return app


@dataclass(frozen=True)
class ServeArgs:
    model: str = "oracle"
    """registered backend name or 'module:attribute' factory"""
    model_kwargs: str = "{}"
    """JSON object of keyword arguments for the model factory"""
    host: str = "127.0.0.1"
    """bind address; a non-loopback one needs a token (or --insecure-no-token)"""
    insecure_no_token: bool = False
    """serve a non-loopback --host without a token: anyone who can reach the port can use the model"""
    port: int = DEFAULT_PORT
    max_batch: int = 32
    """most clips per model call"""
    max_wait_ms: float = 5.0
    """how long an idle server waits for more requests before calling the model"""
    max_queue: int = 1024
    """most queued requests; beyond it requests get 503"""
    call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S
    """longest a model call may run: past it its requests get 504 and /health reports the model stalled (503)
    until the call returns"""
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    """longest silence within a request body: a stalled upload gets 408 and its connection closes"""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """most open connections and requests (uvicorn's limit_concurrency); beyond it requests get 503"""
    max_inflight_mb: float = DEFAULT_INFLIGHT_BYTES / 2**20
    """most request-body MB held at once (being read, queued or in the model); beyond it requests get 503"""
    token_env: str = TOKEN_ENV
    """environment variable holding the bearer token (unset or empty: no auth)"""
    max_frames: int = Limits.max_frames
    max_side: int = Limits.max_side
    max_clips: int = Limits.max_clips
    max_instruction_chars: int = Limits.max_instruction_chars
    max_body_mb: float = Limits.max_body_bytes / 2**20
    access_log: bool = False


def main(argv: list[str] | None = None) -> None:
    import tyro
    import uvicorn

    args = tyro.cli(ServeArgs, args=argv)
    try:
        kwargs = json.loads(args.model_kwargs)
    except ValueError as exc:
        raise SystemExit(f"vlmreward serve: --model-kwargs is not JSON: {exc}") from None
    if not isinstance(kwargs, dict):
        raise SystemExit("vlmreward serve: --model-kwargs must be a JSON object")
    token = os.environ.get(args.token_env) or None
    if token is None and not is_loopback(args.host):
        if not args.insecure_no_token:
            raise SystemExit(f"vlmreward serve: refusing to serve on {args.host} without a token: anyone who can "
                             f"reach the port could use the model. Set {args.token_env} (the remote backend sends "
                             "it from the same variable), bind 127.0.0.1, or pass --insecure-no-token on a network "
                             "you trust.")
        print(f"warning: serving on {args.host} without auth (--insecure-no-token)", file=sys.stderr)
    model = build_model(args.model, kwargs)
    limits = Limits(max_body_bytes=int(args.max_body_mb * 2**20), max_clips=args.max_clips,
                    max_frames=args.max_frames, max_side=args.max_side,
                    max_instruction_chars=args.max_instruction_chars)
    try:
        app = create_app(model, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                         limits=limits, token=token, call_timeout_s=args.call_timeout_s,
                         read_timeout_s=args.read_timeout_s, max_inflight_bytes=int(args.max_inflight_mb * 2**20))
    except ValueError as exc:
        model.close()
        raise SystemExit(f"vlmreward serve: {exc}") from None
    print(f"serving reward model {model.info.name!r} on http://{args.host}:{args.port} "
          f"(max batch {args.max_batch}, max wait {args.max_wait_ms} ms, auth {'on' if token else 'off'})",
          flush=True)
    try:  # uvicorn re-raises the signal that stopped it: SIGINT arrives here as KeyboardInterrupt
        uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.access_log else "warning",
                    access_log=args.access_log, limit_concurrency=args.max_connections)
    finally:
        batcher = getattr(app.state, "batcher", None)
        if batcher is not None and batcher.running:  # its stuck thread would keep the interpreter from exiting
            print("vlmreward serve: a model call is still running; exiting without waiting for it",
                  file=sys.stderr, flush=True)
            os._exit(1)
        model.close()


if __name__ == "__main__":
    main()
