"""Binding: a non-loopback host needs a token or an explicit --insecure-no-token."""

import pytest

from vlmreward_gym.serve import server


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
