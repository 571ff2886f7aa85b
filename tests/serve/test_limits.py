"""Binding (a non-loopback host needs a token or an explicit --insecure-no-token) and 5xx counts."""

import numpy as np
import pytest
from starlette.testclient import TestClient

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.serve import server
from vlmreward_gym.serve.wire import CONTENT_TYPE, encode_query
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

HEADERS = {"Content-Type": CONTENT_TYPE}


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


def test_loopback_serves_without_a_token(uvicorn_runs):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        server.main(["--model", "zero", "--host", host])
        assert uvicorn_runs[-1]["host"] == host
