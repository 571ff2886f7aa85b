"""What the server holds and for how long: request bodies, stalled uploads, connections, binding, 5xx counts."""

import json
import re
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.serve import server
from vlmreward_gym.serve.wire import CONTENT_TYPE, encode_query
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

from conftest import SLEEP

HEADERS = {"Content-Type": CONTENT_TYPE}


def peak_rss(pid: int) -> int:
    """The process's peak resident memory in bytes (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_a_large_body_is_held_once_not_copied(serve):
    url, proc = serve("--model", SLEEP, "--model-kwargs", json.dumps({"seconds": 0.0}), "--max-body-mb", "64")
    small = RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(np.zeros((1, 8, 8, 3), np.uint8),))
    assert httpx.post(f"{url}/v1/score", content=encode_query(small), headers=HEADERS).status_code == 200
    body = encode_query(RewardQuery(instructions=("x",), want=Capability.PROGRESS,
                                    frames=(np.full((16, 1024, 1024, 3), 7, np.uint8),)))  # 48 MiB
    before = peak_rss(proc.pid)
    answer = httpx.post(f"{url}/v1/score", content=body, headers=HEADERS, timeout=60)
    assert answer.status_code == 200 and answer.json()["progress"][0][0] == pytest.approx(7 / 255)
    grown = peak_rss(proc.pid) - before
    assert grown < 1.5 * len(body), f"the server's peak memory grew {grown / len(body):.2f}x the body"


def upload(url: str, declared: int, start: bytes) -> socket.socket:
    """A connection that sends headers promising ``declared`` body bytes, then ``start`` of them."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(f"POST /v1/score HTTP/1.1\r\nHost: {host}\r\nContent-Type: {CONTENT_TYPE}\r\n"
                 f"Content-Length: {declared}\r\n\r\n".encode() + start)
    return sock


def stalled_upload(url: str, declared: int) -> socket.socket:
    """A connection that sends headers promising ``declared`` body bytes, then 10 of them, then nothing."""
    return upload(url, declared, bytes(10))


def test_stalled_uploads_time_out_and_uploads_are_capped(serve):
    url, _ = serve("--model", SLEEP, "--model-kwargs", json.dumps({"seconds": 0.0}), "--read-timeout-s", "3",
                   "--max-connections", "4", "--max-inflight-mb", "1", "--max-body-mb", "1")
    query = RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(np.zeros((1, 8, 8, 3), np.uint8),))
    start = time.monotonic()
    big = stalled_upload(url, 800_000)  # holds 0.8 of the 1 MB of bodies in flight
    time.sleep(0.2)
    over = httpx.post(f"{url}/v1/score", content=bytes(300_000), headers=HEADERS)
    assert over.status_code == 503 and "--max-inflight-mb" in over.json()["error"], over.text
    stalled = [big]
    for _ in range(2):
        time.sleep(0.1)  # one at a time: uvicorn counts the connections open when a request arrives
        stalled.append(stalled_upload(url, 100))
    time.sleep(0.2)
    refused = httpx.post(f"{url}/v1/score", content=encode_query(query), headers=HEADERS)
    assert refused.status_code == 503, refused.text  # with it, 4 connections are open: uvicorn's limit_concurrency
    answer = b""
    while chunk := big.recv(4096):  # headers and body may come in separate packets; the server then closes
        answer += chunk
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408") and "--read-timeout-s" in answer, answer
    assert 2.5 < time.monotonic() - start < 15
    for sock in stalled:
        while sock.recv(4096):  # the server closes every stalled upload
            pass
        sock.close()
    assert httpx.post(f"{url}/v1/score", content=encode_query(query), headers=HEADERS).status_code == 200
    chunked = httpx.post(f"{url}/v1/score", content=iter([encode_query(query)]), headers=HEADERS)
    assert chunked.status_code == 411 and "Content-Length" in chunked.json()["error"], chunked.text
    body = encode_query(query)
    slow = upload(url, len(body), body[:50])  # slower than the read timeout in all, but never silent for it
    for start in range(50, len(body), 60):
        time.sleep(1.0)
        slow.sendall(body[start:start + 60])
    assert slow.recv(4096).startswith(b"HTTP/1.1 200"), "a slow upload that keeps sending was cut"
    slow.close()


class LoneSurrogateRaw(RewardModel):
    """Answers with a lone surrogate in ``raw`` (as a judge's decoded text might): the JSON answer cannot be encoded."""

    info = ModelInfo(name="bad-raw", capabilities=Capability.SUCCESS, needs_frames=False)

    def _predict(self, query):
        return RewardOutput(success=np.zeros(query.batch_size), raw=tuple({"text": "\ud800"} for _ in query.instructions))


def test_metrics_count_500s_that_escape_the_handler():
    with TestClient(server.create_app(LoneSurrogateRaw()), raise_server_exceptions=False) as client:
        query = RewardQuery(instructions=("x",), want=Capability.SUCCESS, timesteps=(np.arange(2),))
        assert client.post("/v1/score", content=encode_query(query), headers=HEADERS).status_code == 500
        assert 'vlmreward_score_requests_total{status="500"} 1' in client.get("/metrics").text


@pytest.fixture
def uvicorn_runs(monkeypatch):
    """Records ``uvicorn.run`` calls instead of serving."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.delenv("VLMREWARD_SERVE_TOKEN", raising=False)
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.org"])
def test_a_non_loopback_host_without_a_token_is_refused_unless_insecure_is_explicit(uvicorn_runs, host):
    with pytest.raises(SystemExit, match="--insecure-no-token"):
        server.main(["--model", "zero", "--host", host])
    assert not uvicorn_runs
    server.main(["--model", "zero", "--host", host, "--insecure-no-token"])
    assert uvicorn_runs[-1]["host"] == host


def test_loopback_serves_without_a_token_and_passes_the_connection_limits(uvicorn_runs):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        server.main(["--model", "zero", "--host", host, "--max-connections", "7"])
        assert uvicorn_runs[-1]["host"] == host and uvicorn_runs[-1]["limit_concurrency"] == 7
