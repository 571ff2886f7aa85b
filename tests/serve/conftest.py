"""Servers on loopback, started and stopped by the tests."""

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from vlmreward_gym.serve.bench import free_port, start_server, stop_server  # noqa: E402

SLEEP = "vlmreward_gym.serve.bench:SleepRewardModel"


@pytest.fixture
def serve():
    """``serve(args..., env=...) -> (url, process)``; every server is stopped after the test."""
    procs = []

    def start(*args, env=None):
        port = free_port()
        proc = start_server(list(args), port, env=env)
        procs.append(proc)
        return f"http://127.0.0.1:{port}", proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            stop_server(proc)


@pytest.fixture(scope="module")
def oracle_url():
    port = free_port()
    proc = start_server(["--model", "oracle"], port)
    yield f"http://127.0.0.1:{port}"
    stop_server(proc)


@pytest.fixture(scope="module")
def sleep_url():
    """A frame-reading model (progress = mean pixel / 255) that takes 50 ms per call; small limits."""
    port = free_port()
    proc = start_server(["--model", SLEEP, "--model-kwargs", json.dumps({"seconds": 0.05}), "--max-frames", "16",
                         "--max-side", "128", "--max-clips", "8", "--max-instruction-chars", "200",
                         "--max-body-mb", "1"], port)
    yield f"http://127.0.0.1:{port}"
    stop_server(proc)
