import pickle
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import httpx
import numpy as np
import pytest

import vlmreward_gym as vrg
from vlmreward_gym.serve.remote import RemoteRewardError, RemoteRewardModel
from vlmreward_gym.serve.wire import CONTENT_TYPE, encode_query
from vlmreward_gym.types import Capability, CapabilityError, RewardInputError, RewardQuery

from conftest import SLEEP

ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE


def metric(url: str, name: str, headers=None) -> float:
    text = httpx.get(f"{url}/metrics", headers=headers).text
    return float(re.search(rf"^vlmreward_{name} (\S+)$", text, re.M).group(1))


def clip(value: int, frames: int = 3, size: int = 8) -> np.ndarray:
    return np.full((frames, size, size, 3), value, np.uint8)


def test_remote_mirrors_the_served_model_and_answers_exactly_like_it(oracle_url):
    remote = vrg.make_reward_model("remote", url=oracle_url)
    local = vrg.make_reward_model("oracle")
    assert remote.info.name == "oracle" and remote.info.needs_oracle and not remote.info.needs_frames
    assert remote.info.capabilities == local.info.capabilities and remote.info.device == oracle_url
    rng = np.random.default_rng(0)
    progress = tuple(rng.uniform(0, 1, n) for n in (1, 4, 7))
    success = tuple(rng.uniform(0, 1, n) > 0.5 for n in (1, 4, 7))
    query = RewardQuery(instructions=("a", "b", "c"), want=ALL, oracle_progress=progress, oracle_success=success)
    got, want = remote(query), local(query)
    for field in ("success", "comparison", "score"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
    for p, q in zip(got.progress, want.progress):
        np.testing.assert_array_equal(p, q)
    copy = pickle.loads(pickle.dumps(remote))  # as a subprocess vector env would ship it: reconnects
    assert copy.info == remote.info and copy(query).score.tolist() == want.score.tolist()
    copy.close()
    remote.close()


@pytest.mark.parametrize("form,options", [("dense", {"every": 2}), ("episodic", {}), ("contrastive", {"delta": 2})])
def test_wrapped_env_pays_the_same_rewards_through_the_server(oracle_url, form, options):
    rewards = []
    for model in ("oracle", vrg.make_reward_model("remote", url=oracle_url)):
        env = vrg.wrap(gym.make("vlmreward/PointReach-v0"), model=model, form=form, instruction="reach", **options)
        env.reset(seed=3)
        actions = np.random.default_rng(1).uniform(-1, 1, (40, 2))
        rewards.append([env.step(a)[1] for a in actions])
        env.close()
    assert rewards[0] == rewards[1]


def test_concurrent_clients_share_model_calls_and_get_their_own_answers(sleep_url):
    model = RemoteRewardModel(sleep_url)
    calls_before = metric(sleep_url, "model_calls_total")
    answers, errors = {}, []

    def client(i: int) -> None:
        try:
            out = model(RewardQuery(instructions=(f"task {i}",), want=Capability.PROGRESS, frames=(clip(10 * i),)))
            answers[i] = out.progress[0]
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(answers) == 8
    for i, progress in answers.items():
        np.testing.assert_allclose(progress, np.full(3, 10 * i / 255))
    calls = metric(sleep_url, "model_calls_total") - calls_before
    assert calls <= 4, f"8 concurrent requests took {calls} model calls"
    assert metric(sleep_url, "batch_requests_max") >= 2
    model.close()


def framed(header: bytes, payload: bytes = b"") -> bytes:
    """A request body: the 4-byte header length, the header, the payload."""
    return len(header).to_bytes(4, "little") + header + payload


def post(url: str, body: bytes, content_type: str = CONTENT_TYPE, headers=None) -> httpx.Response:
    return httpx.post(f"{url}/v1/score", content=body, headers={"Content-Type": content_type, **(headers or {})})


def test_bad_requests_get_a_4xx_with_a_reason(sleep_url, oracle_url):
    good = encode_query(RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(clip(5),)))
    assert post(sleep_url, good).status_code == 200
    cases = [
        (post(sleep_url, good, "application/json"), 415, "content type"),
        (post(sleep_url, b""), 400, "shorter"),
        (post(sleep_url, good[:-1]), 400, "need"),
        (post(sleep_url, good + b"\0"), 400, "payload"),
        (post(sleep_url, (10**6).to_bytes(4, "little") + good[4:]), 400, "runs past"),
        (post(sleep_url, b"\x02\0\0\0{x"), 400, "JSON"),
        (post(sleep_url, b"\x00\x00\x00\x08" + b"x" * 16), 413, "header length"),
        (post(sleep_url, framed(b'{"version": 1, "want": ' + b"[" * 5000 + b"]" * 5000 + b"}")), 400, "nested"),
        (post(sleep_url, np.zeros(2 * 2**20, np.uint8).tobytes()), 413, "limit"),
    ]

    def body(**changes) -> bytes:
        import json
        header = {"version": 1, "want": ["progress"], "clips": [{"instruction": "x", "shape": [3, 8, 8, 3]}]}
        header.update(changes.pop("top", {}))
        if changes:
            header["clips"][0].update(changes)
        data = json.dumps(header).encode()
        shapes = [c.get("shape") for c in header["clips"] if isinstance(c.get("shape"), list)]
        size = sum(int(np.prod(s)) for s in shapes)
        return framed(data, bytes(max(0, min(size, 2**20 - 1000))))

    cases += [
        (post(sleep_url, body(top={"want": ["flying"]})), 422, "unknown capability"),
        (post(sleep_url, body(top={"want": ["compare"]})), 422, "cannot answer"),
        (post(sleep_url, body(top={"version": 9})), 400, "version"),
        (post(sleep_url, body(top={"clips": []})), 400, "non-empty"),
        (post(sleep_url, body(dtype="float32")), 422, "uint8"),
        (post(sleep_url, body(shape=[3, 8, 8, 4])), 422, "shape"),
        (post(sleep_url, body(shape=[0, 8, 8, 3])), 422, "shape"),
        (post(sleep_url, body(shape=[17, 8, 8, 3])), 413, "frames exceed"),
        (post(sleep_url, body(shape=[1, 8, 129, 3])), 413, "pixels"),
        (post(sleep_url, body(shape=None)), 422, "needs frames"),
        (post(sleep_url, body(instruction="")), 422, "instruction"),
        (post(sleep_url, body(instruction="y" * 201)), 413, "instruction"),
        (post(sleep_url, body(instruction="lone \ud800 surrogate")), 400, "surrogate"),
        (post(sleep_url, body(colour="red")), 400, "unknown keys"),
        (post(sleep_url, body(top={"clips": [{"instruction": "x", "shape": None}] * 9})), 413, "clips exceed"),
        (post(oracle_url, body(shape=None, oracle_progress=[0.1, 2.0, 0.3], oracle_success=[False] * 3)), 422, "[0, 1]"),
        (post(oracle_url, body(shape=None, oracle_progress=[0.1, 0.2, 0.3])), 422, "oracle"),
        (post(oracle_url, body(shape=None, oracle_progress=[0.1], oracle_success=[False, True])), 422, "to match the clip"),
    ]
    for i, (response, status, reason) in enumerate(cases):
        assert response.status_code == status, (i, response.text)
        assert reason in response.json()["error"], (i, response.text)
    assert httpx.get(f"{sleep_url}/health").json() == {"status": "ok", "model": "sleep"}
    remote = RemoteRewardModel(sleep_url)
    with pytest.raises(CapabilityError, match="cannot answer"):
        remote(RewardQuery(instructions=("x",), want=Capability.EPISODE_SCORE, frames=(clip(1),)))
    with pytest.raises(RewardInputError, match="frames exceed"):
        remote(RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(clip(1, frames=17),)))
    remote.close()


def test_bearer_token_guards_everything_but_health_and_is_never_printed(serve, monkeypatch):
    token = "s3cret-token-do-not-log"
    url, proc = serve("--model", "zero", "--token-env", "TEST_SERVE_TOKEN", "--access-log",
                      env={"TEST_SERVE_TOKEN": token})
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/v1/info").status_code == 401
    assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/v1/info", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with pytest.raises(RemoteRewardError, match="401"):
        RemoteRewardModel(url, token_env="TEST_SERVE_TOKEN_UNSET")
    monkeypatch.setenv("TEST_SERVE_TOKEN", token)
    remote = RemoteRewardModel(url, token_env="TEST_SERVE_TOKEN")
    query = RewardQuery(instructions=("x",), want=Capability.SUCCESS, timesteps=([0, 1],))
    assert remote(query).success.tolist() == [0.0]
    remote.close()
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert "/v1/info" in out and token not in out  # the access log ran, the token stayed out of it


def test_timeouts_and_a_dead_server_raise_clear_errors_quickly(serve):
    url, _ = serve("--model", SLEEP, "--model-kwargs", '{"seconds": 2.0}')
    slow = RemoteRewardModel(url, timeout=0.3, retries=1, backoff=0.05)
    start = time.monotonic()
    with pytest.raises(RemoteRewardError, match=r"timed out \(ReadTimeout\) after 2 attempt"):
        slow(RewardQuery(instructions=("x",), want=Capability.PROGRESS, frames=(clip(1),)))
    assert time.monotonic() - start < 2.0
    slow.close()
    from vlmreward_gym.serve.bench import free_port
    with pytest.raises(RemoteRewardError, match=r"unreachable \(ConnectError.*after 2 attempt"):
        RemoteRewardModel(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)


def test_server_death_mid_rollout_raises_inside_env_step(serve):
    url, proc = serve("--model", "oracle")
    model = RemoteRewardModel(url, timeout=2.0, retries=2, backoff=0.05)
    env = vrg.wrap(gym.make("vlmreward/PointReach-v0"), model=model, form="dense", instruction="reach")
    env.reset(seed=0)
    for _ in range(5):
        env.step(env.action_space.sample())
    proc.kill()
    proc.wait()
    start = time.monotonic()
    with pytest.raises(RemoteRewardError, match="no reward was produced"):
        for _ in range(5):
            env.step(env.action_space.sample())
    assert time.monotonic() - start < 5.0
    env.close()


def test_metrics_count_requests_by_status(sleep_url):
    text = httpx.get(f"{sleep_url}/metrics").text
    for name in ("clips_total", "model_calls_total", "batch_clips_max", "queue_depth", "model_seconds_total"):
        assert f"vlmreward_{name} " in text
    assert 'vlmreward_score_requests_total{status="200"}' in text


class CaptivePortal(BaseHTTPRequestHandler):
    """Answers every GET with a 200 HTML page, as a proxy or captive portal in front of the server would."""

    def do_GET(self):
        body = b"<html>please log in to the proxy</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_200_that_is_not_json_raises_a_clear_error_naming_the_url_and_the_body():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CaptivePortal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(RemoteRewardError, match=re.escape(url) + r".*not JSON.*please log in to the proxy"):
            RemoteRewardModel(url, retries=0)
    finally:
        server.shutdown()
        server.server_close()
