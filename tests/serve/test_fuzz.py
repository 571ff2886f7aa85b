"""At least 1,000 malformed requests: every one gets a 4xx and the server stays up."""

import copy
import json
import re

import httpx
import numpy as np

from vlmreward_gym.serve.wire import CONTENT_TYPE, encode_query
from vlmreward_gym.types import Capability, RewardQuery

N = 1200
BAD_VALUES = {  # (clip key or top-level key) -> values that are always invalid there
    "shape": [[-1, 8, 8, 3], [2, 8, 8, 4], [2, 8, 8], "2x8x8x3", [2.0, 8, 8, 3], [True, 8, 8, 3], [99999, 8, 8, 3],
              [2, 8, 10**9, 3], {}, [None, 8, 8, 3], [2, 0, 8, 3], [2, 8, 8, 3, 1]],
    "dtype": ["float32", "int8", None, 8, "uint16"],
    "instruction": ["", "   ", None, 5, ["x"], "y" * 5000, "lone \ud800 surrogate", "\udfff"],
    "oracle_progress": [[2.0, 0.1], [0.1], "0.5", [None, 0.1], [float("nan")] * 2, [[0.1], [0.2]]],
    "timesteps": [[0.5, 1.5], ["a", "b"], [10**30, 1], [1]],
    "bogus": [1, "x", None],
    "want": [["flying"], "progress", 3, None, [1], ["compare"]],
    "clips": [[], {}, "x", None, [1, 2], [[]]],
    "version": [0, 2, "1", None],
}


def make_body(rng: np.random.Generator, good_header: dict, payload: bytes) -> bytes:
    kind = rng.integers(5)
    if kind == 0:  # random bytes
        return rng.integers(0, 256, int(rng.integers(0, 600)), dtype=np.uint8).tobytes()
    body = len(json.dumps(good_header).encode()).to_bytes(4, "little") + json.dumps(good_header).encode() + payload
    if kind == 1:  # truncated anywhere
        return body[:int(rng.integers(0, len(body)))]
    if kind == 2:  # trailing garbage
        return body + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    if kind == 3:  # a wrong header length
        n = int.from_bytes(body[:4], "little")
        wrong = int(rng.choice([0, 1, n - 1, n + 1, len(body), 2**31, 2**32 - 1]))
        return wrong.to_bytes(4, "little") + body[4:]
    header = copy.deepcopy(good_header)  # one field set to an invalid value
    key = str(rng.choice(list(BAD_VALUES)))
    value = BAD_VALUES[key][int(rng.integers(len(BAD_VALUES[key])))]
    target = header if key in ("want", "clips", "version") else header["clips"][int(rng.integers(2))]
    target[key] = value
    data = json.dumps(header).encode()
    return len(data).to_bytes(4, "little") + data + payload


def test_fuzz_malformed_requests_all_get_4xx_and_the_server_survives(sleep_url):
    rng = np.random.default_rng(0)
    clips = (rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8), rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8))
    good = encode_query(RewardQuery(instructions=("a", "b"), want=Capability.PROGRESS, frames=clips,
                                    timesteps=([0, 1], [0, 1, 2])))
    n = int.from_bytes(good[:4], "little")
    good_header, payload = json.loads(good[4:4 + n]), good[4 + n:]
    statuses = {}
    with httpx.Client(base_url=sleep_url, headers={"Content-Type": CONTENT_TYPE}) as client:
        assert client.post("/v1/score", content=good).status_code == 200
        for i in range(N):
            body = make_body(rng, good_header, payload)
            status = client.post("/v1/score", content=body).status_code
            statuses[status] = statuses.get(status, 0) + 1
            assert 400 <= status < 500, (i, status, body[:200])
        assert client.get("/health").status_code == 200
        assert client.post("/v1/score", content=good).status_code == 200
        text = client.get("/metrics").text
    print(f"fuzz: {N} malformed requests -> HTTP status counts {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) == N and len(statuses) >= 3, statuses
    assert not re.search(r'status="5\d\d"', text)
