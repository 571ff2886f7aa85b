"""Server-side time limits: a stuck model call, clients that gave up, requests past their deadline."""

import json
import re
import signal
import threading
import time

import httpx
import numpy as np
import pytest

from vlmreward_gym.serve.remote import RemoteRewardError, RemoteRewardModel
from vlmreward_gym.serve.wire import CONTENT_TYPE, encode_query
from vlmreward_gym.types import Capability, RewardQuery

from conftest import SLEEP

QUERY = RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(np.zeros((2, 8, 8, 3), np.uint8),))
HEADERS = {"Content-Type": CONTENT_TYPE}


def metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    return {name: float(value) for name, value in re.findall(r"^vlmreward_(\S+) (\S+)$", text, re.M)}


def wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not true within {seconds} s: {condition.__doc__}"
        time.sleep(0.1)


def test_a_stuck_model_call_answers_504_and_health_reports_stalled_until_it_returns(serve):
    url, _ = serve("--model", SLEEP, "--model-kwargs", json.dumps({"seconds": 4.0}), "--call-timeout-s", "0.5")
    answer = httpx.post(f"{url}/v1/score", content=encode_query(QUERY), headers=HEADERS, timeout=30)
    assert answer.status_code == 504 and "--call-timeout-s" in answer.json()["error"], answer.text
    health = httpx.get(f"{url}/health")
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "stalled" and "0.5 s" in health.json()["reason"]
    refused = httpx.post(f"{url}/v1/score", content=encode_query(QUERY), headers=HEADERS, timeout=30)
    assert refused.status_code == 503 and "stalled" in refused.json()["error"], refused.text
    assert metrics(url)["model_timeouts_total"] == 1

    def recovered():
        """/health answers 200 once the stuck call returned"""
        return httpx.get(f"{url}/health").status_code == 200

    wait_until(recovered, 15)


@pytest.fixture(scope="module")
def slow_url():
    """Each request is its own 2-second model call."""
    from vlmreward_gym.serve.bench import free_port, start_server, stop_server

    port = free_port()
    proc = start_server(["--model", SLEEP, "--model-kwargs", json.dumps({"seconds": 2.0}), "--max-batch", "1"], port)
    yield f"http://127.0.0.1:{port}"
    stop_server(proc)


def test_requests_of_clients_that_gave_up_are_dropped_before_the_model_runs(slow_url):
    before = metrics(slow_url)
    errors = []

    def client() -> None:  # gives up after 0.3 s, retries once, gives up again
        model = RemoteRewardModel(slow_url, timeout=0.3, retries=1, backoff=0.05)
        try:
            model(QUERY)
        except RemoteRewardError as exc:
            errors.append(exc)
        finally:
            model.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 4 and all("timed out" in str(e) for e in errors), errors

    def drained():
        """no request waits for the model"""
        return metrics(slow_url)["queue_depth"] == 0

    wait_until(drained, 30)
    time.sleep(2.5)  # longer than a model call: the last one has ended and been counted
    after = metrics(slow_url)
    # 8 requests (4 clients x 2 attempts) whose clients all left within 0.7 s: only the first ran
    assert after["model_calls_total"] - before["model_calls_total"] == 1
    assert after['score_requests_total{status="499"}'] - before.get('score_requests_total{status="499"}', 0) == 8


def test_a_request_past_its_deadline_gets_504_without_a_model_call(slow_url):
    calls = metrics(slow_url)["model_calls_total"]
    body = encode_query(QUERY)
    first = threading.Thread(target=httpx.post, args=(f"{slow_url}/v1/score",),
                             kwargs={"content": body, "headers": HEADERS, "timeout": 30})
    first.start()  # keeps the model busy for 2 s
    time.sleep(0.3)
    late = httpx.post(f"{slow_url}/v1/score", content=body, headers={**HEADERS, "X-Request-Timeout": "0.5"},
                      timeout=30)
    first.join(timeout=30)
    assert late.status_code == 504 and "X-Request-Timeout" in late.json()["error"], late.text
    assert metrics(slow_url)["model_calls_total"] - calls == 1
    bad = httpx.post(f"{slow_url}/v1/score", content=body, headers={**HEADERS, "X-Request-Timeout": "soon"})
    assert bad.status_code == 400 and "X-Request-Timeout" in bad.json()["error"], bad.text


def test_ctrl_c_stops_the_server_while_a_model_call_is_stuck(serve):
    url, proc = serve("--model", SLEEP, "--model-kwargs", json.dumps({"seconds": 60.0}), "--call-timeout-s", "0.5")
    assert httpx.post(f"{url}/v1/score", content=encode_query(QUERY), headers=HEADERS, timeout=30).status_code == 504
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)  # not the 60 s the stuck thread would keep the interpreter alive
    assert proc.returncode != 0 and "still running" in out
