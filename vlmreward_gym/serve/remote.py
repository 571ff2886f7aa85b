"""The ``remote`` backend: a reward model served by ``vlmreward serve`` somewhere else.

    model = make_reward_model("remote", url="http://127.0.0.1:8321")
    env = vlmreward_gym.wrap(env, model=model, form="dense", instruction="...")

Its :class:`~vlmreward_gym.models.base.ModelInfo` is the served model's (fetched from
``/v1/info`` when it is built), with ``device`` set to the URL, so wrappers render, subsample and
send oracle fields exactly as they would for the local model. Connection failures, timeouts and
503 (server busy) are retried a bounded number of times with exponential backoff; after that,
or on any other failure, the call raises :class:`RemoteRewardError` - a remote model never
makes up a reward. The client is thread-safe (one connection pool), so vector envs and
benchmark threads may share it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.serve.wire import CONTENT_TYPE, TIMEOUT_HEADER, decode_output, encode_query, info_from_dict
from vlmreward_gym.types import CapabilityError, RewardInputError, RewardOutput, RewardQuery

_RETRY_STATUS = {502, 503, 504}


class RemoteRewardError(RuntimeError):
    """The reward server could not be reached or failed to answer; no reward was produced."""


class RemoteRewardModel(RewardModel):
    """Client of a reward server.

    Args:
        url: server base URL, e.g. ``http://127.0.0.1:8321``.
        timeout: seconds allowed per HTTP attempt (connect and read).
        retries: extra attempts after a connection error, timeout or 502/503/504.
        backoff: seconds before the first retry; doubles each retry.
        token_env: environment variable holding the server's bearer token (read once, never logged).
    """

    def __init__(self, url: str, timeout: float = 60.0, retries: int = 2, backoff: float = 0.2,
                 token_env: str = "VLMREWARD_SERVE_TOKEN"):
        import httpx

        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError(f"need timeout > 0, retries >= 0, backoff >= 0; got {timeout}, {retries}, {backoff}")
        self.url, self.retries, self.backoff, self.timeout = url.rstrip("/"), int(retries), float(backoff), timeout
        self._args = (url, timeout, retries, backoff, token_env)
        token = os.environ.get(token_env) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, timeout=timeout, headers=headers,
                                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        try:
            answer = self._request("GET", "/v1/info")
        except BaseException:
            self._client.close()
            raise
        self.server_info: dict[str, Any] = answer
        self.info = info_from_dict(answer["model"], device=self.url)

    def __reduce__(self):
        """Pickled (e.g. into a subprocess vector env) as its arguments: the copy connects afresh."""
        return type(self), self._args

    def __deepcopy__(self, memo: dict) -> RemoteRewardModel:
        return self  # a stateless handle on a server (Gymnasium deep-copies wrapper arguments)

    def _request(self, method: str, path: str, content: bytes | None = None) -> dict[str, Any]:
        """One call with bounded retries; returns the JSON answer or raises."""
        headers = {"Content-Type": CONTENT_TYPE, TIMEOUT_HEADER: f"{self.timeout:g}"} if content is not None else None
        response = request_with_retries(self._client, method, path, retries=self.retries, backoff=self.backoff,
                                        what=f"reward server {self.url}", content=content, headers=headers)
        if response.status_code == 200:
            return json_object(response, f"reward server {self.url} answered {method} {path} with HTTP 200")
        reason = error_reason(response)
        if response.status_code in (413, 422):  # the query is too large or breaks the contract
            raise (CapabilityError if "cannot answer" in reason else RewardInputError)(
                f"reward server {self.url} refused the query: {reason}")
        raise RemoteRewardError(f"reward server {self.url} answered {method} {path} with HTTP "
                                f"{response.status_code}: {reason}")

    def _predict(self, query: RewardQuery) -> RewardOutput:
        return decode_output(self._request("POST", "/v1/score", encode_query(query)))

    def close(self) -> None:
        self._client.close()


def request_with_retries(client: Any, method: str, path: str, *, retries: int, backoff: float, what: str,
                         **kwargs: Any) -> Any:
    """``client.request`` retried after connection errors, timeouts and 502/503/504, with exponential
    backoff; returns the first other response or raises :class:`RemoteRewardError` naming ``what``."""
    import httpx

    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            last = f"timed out ({type(exc).__name__})"
            continue
        except httpx.TransportError as exc:
            last = f"unreachable ({type(exc).__name__}: {exc})"
            continue
        if response.status_code not in _RETRY_STATUS:
            return response
        last = f"busy or failing (HTTP {response.status_code}: {error_reason(response)})"
    raise RemoteRewardError(f"{what} is {last} after {retries + 1} attempt(s) of {method} {path}; "
                            f"no reward was produced")


def json_object(response: Any, what: str) -> dict[str, Any]:
    """The JSON object in ``response``'s body, or :class:`RemoteRewardError` saying ``what`` answered instead
    (e.g. a proxy's or captive portal's HTML page) with the start of the body."""
    try:
        data = response.json()
    except ValueError as exc:
        raise RemoteRewardError(f"{what} but the body is not JSON ({exc}); it starts {response.text[:300]!r}. "
                                "Is the URL that of a vlmreward server (not a proxy or web page)?") from None
    if not isinstance(data, dict):
        raise RemoteRewardError(f"{what} but the body is JSON {type(data).__name__}, not an object; it starts "
                                f"{response.text[:300]!r}")
    return data


def error_reason(response: Any) -> str:
    """The ``error`` field of a JSON error answer, else the start of the body."""
    try:
        data = response.json()
        return str(data.get("error", data) if isinstance(data, dict) else data)[:500]
    except ValueError:
        return response.text[:500]
