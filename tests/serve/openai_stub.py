"""A tiny OpenAI-compatible chat server for the ``openai`` backend's tests (run as a process).

    python openai_stub.py PORT LOG_DIR

Every image's true progress is its top-left red value / 250. The ``model`` field picks the behavior:
``good`` answers correctly (GVL JSON for prompts that ask for it, else ``ANSWER: <1-5>``),
``garbage`` answers prose without a score, ``overflow`` a GVL array whose frame number is 1e999 (an
OverflowError in ``int()``), ``deep`` an array nested 100,000 deep (a RecursionError in ``json.loads``),
``flaky`` answers 503 to every other request.
If STUB_KEY is set, requests need ``Authorization: Bearer $STUB_KEY``. Each request is written
to LOG_DIR as JSON (with the Authorization header it carried).
"""

import base64
import itertools
import json
import os
import sys
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

COUNTER = itertools.count()
CANNED = {"garbage": "I cannot tell.", "overflow": '[{"frame_number": 1e999, "task_reward": 50}]',
          "deep": "[" * 100_000 + "]" * 100_000}


def decode_png(data: bytes) -> np.ndarray:
    """Decode the 8-bit RGB, unfiltered PNGs the backend writes."""
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any(), "unexpected PNG filter"
    return rows[:, 1:].reshape(height, width, 3)


def progress_of(part: dict) -> float:
    url = part["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return decode_png(base64.b64decode(url[len(prefix):]))[0, 0, 0] / 250.0


def answer(body: dict) -> str:
    parts = body["messages"][-1]["content"]
    texts = " ".join(p["text"] for p in parts if p["type"] == "text")
    if "JSON array" in texts:
        entries, label = [], None
        for p in parts:
            if p["type"] == "text" and p["text"].startswith("Frame "):
                label = int(p["text"].split()[1].rstrip(":"))
            elif p["type"] == "image_url" and label is not None:
                entries.append({"frame_number": label, "frame_description": "a frame",
                                "task_reward": round(100 * progress_of(p))})
                label = None
        return "Here is my analysis.\n```json\n" + json.dumps(entries) + "\n```"
    last = [p for p in parts if p["type"] == "image_url"][-1]
    return f"The final state looks fine.\nANSWER: {1 + round(4 * progress_of(last))}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = next(COUNTER)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization")
        with open(os.path.join(sys.argv[2], f"{n:04d}.json"), "w") as f:
            json.dump({"path": self.path, "auth": auth, "body": body}, f)
        key = os.environ.get("STUB_KEY")
        if key and auth != f"Bearer {key}":
            return self.send(401, {"error": {"message": "bad key"}})
        if self.path != "/v1/chat/completions":
            return self.send(404, {"error": {"message": "no such path"}})
        if body["model"] == "flaky" and n % 2 == 0:
            return self.send(503, {"error": {"message": "overloaded"}})
        text = CANNED[body["model"]] if body["model"] in CANNED else answer(body)
        self.send(200, {"id": f"chatcmpl-{n}", "object": "chat.completion", "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def do_GET(self):
        self.send(200 if self.path == "/health" else 404, {"status": "ok"})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
