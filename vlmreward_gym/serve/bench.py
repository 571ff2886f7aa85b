"""Reward-server throughput: clips/s with 1, 8 and 32 concurrent clients.

    python -m vlmreward_gym.serve.bench [--seconds-per-call 0.1] [--duration 3] [--clients 1 8 32]

Starts ``vlmreward serve`` on loopback in a subprocess with :class:`SleepRewardModel` (a model
that sleeps ``seconds-per-call`` per call whatever the batch size, like a GPU forward pass that is
not yet saturated), then runs each client count for ``duration`` seconds: every client is a
thread that sends one ``frames``-frame clip per request through the ``remote`` backend, waiting
for each answer before the next. Prints clips/s, mean clips per model call and the speed-up
over one client. Pass ``--url`` to measure a server that is already running instead.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery


class SleepRewardModel(RewardModel):
    """Sleeps ``seconds + per_clip * B`` per call and answers progress = mean pixel value / 255.

    It reads frames, so requests carry real pixel payloads; the answer is a deterministic
    function of each frame, so a test can check that batching hands every caller its own answer.
    """

    def __init__(self, seconds: float = 0.1, per_clip: float = 0.0):
        self.seconds, self.per_clip = float(seconds), float(per_clip)
        self.calls = 0
        self.info = ModelInfo(name="sleep", capabilities=Capability.PROGRESS | Capability.SUCCESS)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        self.calls += 1
        time.sleep(self.seconds + self.per_clip * query.batch_size)
        progress = tuple(clip.reshape(len(clip), -1).mean(axis=1) / 255.0 for clip in query.frames)
        return RewardOutput(progress=progress, success=np.array([float(p[-1] > 0.5) for p in progress]),
                            raw=tuple({"batch_size": query.batch_size} for _ in progress))


@dataclass(frozen=True)
class ServeBenchArgs:
    seconds_per_call: float = 0.1
    """model latency per call (emulated forward pass)"""
    duration: float = 3.0
    """seconds measured per client count"""
    clients: tuple[int, ...] = (1, 8, 32)
    frames: int = 8
    """frames per clip"""
    size: int = 64
    """frame height and width"""
    max_batch: int = 32
    max_wait_ms: float = 5.0
    url: str | None = None
    """measure this running server instead of starting one"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: list[str], port: int, env: dict[str, str] | None = None,
                 timeout: float = 30.0) -> subprocess.Popen:
    """Run ``vlmreward serve ARGS --port PORT`` on loopback and wait until ``/health`` answers."""
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "vlmreward_gym.serve.server", *args, "--host", "127.0.0.1",
                             "--port", str(port)], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"reward server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"reward server on port {port} did not come up in {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def model_calls(url: str) -> int:
    import httpx

    text = httpx.get(f"{url}/metrics", headers=_auth(), timeout=10).text
    return int(re.search(r"^vlmreward_model_calls_total (\d+)", text, re.M).group(1))


def _auth() -> dict[str, str]:
    token = os.environ.get("VLMREWARD_SERVE_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def measure(url: str, clients: int, duration: float, clip: np.ndarray) -> tuple[float, float]:
    """``(clips/s, mean clips per model call)`` with ``clients`` threads for ``duration`` seconds."""
    from vlmreward_gym.serve.remote import RemoteRewardModel

    model = RemoteRewardModel(url)
    query = RewardQuery(instructions=("benchmark task",), want=Capability.PROGRESS, frames=(clip,))
    model(query)  # warm the connection pool
    done = [0] * clients
    stop = time.monotonic() + duration
    calls_before = model_calls(url)

    def client(i: int) -> None:
        while time.monotonic() < stop:
            model(query)
            done[i] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    calls = model_calls(url) - calls_before
    model.close()
    return sum(done) / elapsed, sum(done) / max(calls, 1)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    import tyro

    args = tyro.cli(ServeBenchArgs, args=argv)
    clip = np.random.default_rng(0).integers(0, 256, (args.frames, args.size, args.size, 3), dtype=np.uint8)
    proc = None
    url = args.url
    if url is None:
        port = free_port()
        proc = start_server(["--model", "vlmreward_gym.serve.bench:SleepRewardModel", "--model-kwargs",
                             json.dumps({"seconds": args.seconds_per_call}), "--max-batch", str(args.max_batch),
                             "--max-wait-ms", str(args.max_wait_ms)], port)
        url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        print(f"reward server {url}: {args.seconds_per_call * 1000:.0f} ms per model call, clips of "
              f"{args.frames}x{args.size}x{args.size}x3 uint8, {args.duration:.0f} s per row")
        print(f"{'clients':>7} {'clips/s':>9} {'clips/call':>11} {'speed-up':>9}")
        for n in args.clients:
            rate, per_call = measure(url, n, args.duration, clip)
            rows.append({"clients": n, "clips_per_s": rate, "clips_per_call": per_call})
            print(f"{n:>7} {rate:>9.1f} {per_call:>11.1f} {rate / rows[0]['clips_per_s']:>8.1f}x", flush=True)
    finally:
        if proc is not None:
            stop_server(proc)
    return rows


if __name__ == "__main__":
    main()
