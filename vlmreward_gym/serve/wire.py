"""The reward server's wire format, shared by the server and the ``remote`` backend.

A scoring request (``POST /v1/score``, content type ``application/x-vlmreward-clips``) is one
binary body, so uint8 frames travel as raw bytes (no base64, no image codec)::

    [4 bytes: header length N, unsigned little-endian] [N bytes: UTF-8 JSON header] [payload]

The JSON header describes the batch::

    {"version": 1,
     "want": ["progress", "success"],            # Capability names
     "clips": [{"instruction": "pick up the cube",
                "shape": [T, H, W, 3] | null,    # null: this clip sends no frames
                "dtype": "uint8",                 # optional; nothing else is accepted
                "oracle_progress": [T floats] | null,
                "oracle_success": [T bools] | null,
                "timesteps": [T ints] | null}, ...]}

and the payload is every clip's frames, C order, concatenated in clip order (its length must be
exactly the sum of ``prod(shape)``). Either every clip carries a given field or none does. The
request must carry ``Content-Length`` (411 without it; no chunked uploads). An optional
``X-Request-Timeout: <seconds>`` header says how long the client waits: a request still queued
after that is dropped (504) before it reaches the model, as is one whose client left.

The answer is JSON: ``{"progress": [[T_i floats] ...] | null, "success": [B] | null,
"comparison": [B] | null, "score": [B] | null, "raw": [B dicts]}``. Errors are JSON
``{"error": reason}`` with a 4xx status for the caller's mistakes and 5xx for the server's.
Floats round-trip exactly (JSON keeps 17 significant digits).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelInfo
from vlmreward_gym.types import Capability, RewardInputError, RewardOutput, RewardQuery

CONTENT_TYPE = "application/x-vlmreward-clips"
TIMEOUT_HEADER = "X-Request-Timeout"  # optional: seconds the client waits; the server drops the request after
VERSION = 1
_HEADER_LEN = struct.Struct("<I")
_CLIP_KEYS = {"instruction", "shape", "dtype", "oracle_progress", "oracle_success", "timesteps"}
_OPTIONAL = ("oracle_progress", "oracle_success", "timesteps")


class WireError(ValueError):
    """A request body is malformed. ``status`` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What the server accepts; anything beyond is refused with a 4xx naming the limit.

    Attributes:
        max_body_bytes: request body size (413 beyond it).
        max_clips: clips per request.
        max_frames: frames per clip.
        max_side: frame height and width in pixels.
        max_instruction_chars: characters per instruction.
        max_header_bytes: size of the JSON header.
    """

    max_body_bytes: int = 256 * 2**20
    max_clips: int = 256
    max_frames: int = 256
    max_side: int = 1024
    max_instruction_chars: int = 2000
    max_header_bytes: int = 4 * 2**20


# ----------------------------------------------------------------------------- encoding (client)

def encode_query(query: RewardQuery) -> bytes:
    """The request body for ``query`` (see the module docstring)."""
    clips, payload = [], []
    for i, text in enumerate(query.instructions):
        clip: dict[str, Any] = {"instruction": text, "shape": None}
        if query.frames is not None:
            frames = np.ascontiguousarray(query.frames[i], dtype=np.uint8)
            clip["shape"], clip["dtype"] = list(frames.shape), "uint8"
            payload.append(frames.data)
        if query.oracle_progress is not None:
            clip["oracle_progress"] = [float(v) for v in query.oracle_progress[i]]
        if query.oracle_success is not None:
            clip["oracle_success"] = [bool(v) for v in query.oracle_success[i]]
        if query.timesteps is not None:
            clip["timesteps"] = [int(v) for v in query.timesteps[i]]
        clips.append(clip)
    header = json.dumps({"version": VERSION, "want": query.want.names(), "clips": clips}).encode()
    return b"".join([_HEADER_LEN.pack(len(header)), header, *payload])


def decode_output(data: dict[str, Any]) -> RewardOutput:
    """A :class:`RewardOutput` from the server's JSON answer (validated again by the caller)."""
    def vector(name: str) -> np.ndarray | None:
        value = data.get(name)
        return None if value is None else np.asarray(value, dtype=np.float64)

    progress = data.get("progress")
    return RewardOutput(
        progress=None if progress is None else tuple(np.asarray(p, dtype=np.float64) for p in progress),
        success=vector("success"), comparison=vector("comparison"), score=vector("score"),
        raw=tuple(dict(r) for r in data.get("raw") or ()))


def info_to_dict(info: ModelInfo) -> dict[str, Any]:
    out = asdict(info)
    out["capabilities"] = info.capabilities.names()
    return out


def info_from_dict(data: dict[str, Any], device: str) -> ModelInfo:
    """The served model's :class:`ModelInfo`, with ``device`` replaced (a remote model runs at a URL)."""
    fields = dict(data)
    fields["capabilities"] = parse_want(fields.get("capabilities", []))
    for key in ("frame_size", "score_range"):
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    fields["device"] = device
    known = ModelInfo.__dataclass_fields__
    return ModelInfo(**{k: v for k, v in fields.items() if k in known})


def parse_want(names: Any) -> Capability:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise WireError("'want' must be a list of capability names")
    want = Capability.NONE
    for name in names:
        try:
            want |= Capability[name.upper()]
        except KeyError:
            raise WireError(f"unknown capability {name!r}; known: {_ALL.names()}", 422) from None
    return want


_ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE


# ----------------------------------------------------------------------------- decoding (server)

def decode_query(body: bytes | bytearray, limits: Limits) -> RewardQuery:
    """Parse and check a request body; raise :class:`WireError` with the status and reason. The frames
    are views of ``body``, not copies."""
    if len(body) > limits.max_body_bytes:
        raise WireError(f"body of {len(body)} bytes exceeds the limit of {limits.max_body_bytes}", 413)
    if len(body) < _HEADER_LEN.size:
        raise WireError(f"body of {len(body)} bytes is shorter than the 4-byte header length")
    (n,) = _HEADER_LEN.unpack_from(body)
    if n > limits.max_header_bytes:
        raise WireError(f"header length {n} exceeds the limit of {limits.max_header_bytes}", 413)
    if _HEADER_LEN.size + n > len(body):
        raise WireError(f"header length {n} runs past the end of the {len(body)}-byte body")
    try:
        header = json.loads(body[_HEADER_LEN.size:_HEADER_LEN.size + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"header is not UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise WireError("header JSON is nested too deeply to parse (the wire format needs 4 levels)") from None
    if not isinstance(header, dict):
        raise WireError("header must be a JSON object")
    if header.get("version", VERSION) != VERSION:
        raise WireError(f"unsupported wire version {header.get('version')!r}; this server speaks {VERSION}")
    want = parse_want(header.get("want"))
    clips = header.get("clips")
    if not isinstance(clips, list) or not clips:
        raise WireError("'clips' must be a non-empty list")
    if len(clips) > limits.max_clips:
        raise WireError(f"{len(clips)} clips exceed the limit of {limits.max_clips} per request", 413)
    payload = memoryview(body)[_HEADER_LEN.size + n:]
    instructions, frames, fields = [], [], {k: [] for k in _OPTIONAL}
    offset = 0
    for i, clip in enumerate(clips):
        if not isinstance(clip, dict):
            raise WireError(f"clip {i} must be a JSON object")
        unknown = set(clip) - _CLIP_KEYS
        if unknown:
            raise WireError(f"clip {i} has unknown keys {sorted(unknown)}")
        text = clip.get("instruction")
        if not isinstance(text, str) or not text.strip():
            raise WireError(f"clip {i}: instruction must be a non-empty string", 422)
        try:  # JSON allows "\\ud800", Unicode text does not: models and answers would fail to encode it
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise WireError(f"clip {i}: instruction holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
                            "send valid Unicode") from None
        if len(text) > limits.max_instruction_chars:
            raise WireError(f"clip {i}: instruction of {len(text)} characters exceeds the limit of "
                            f"{limits.max_instruction_chars}", 413)
        instructions.append(text)
        shape = clip.get("shape")
        if shape is None:
            frames.append(None)
        else:
            array = _frames(i, shape, clip.get("dtype", "uint8"), payload, offset, limits)
            offset += array.nbytes
            frames.append(array)
        for key in _OPTIONAL:
            fields[key].append(_series(i, key, clip.get(key), limits))
    if offset != len(payload):
        raise WireError(f"payload has {len(payload)} bytes but the clip shapes need {offset}")
    try:
        return RewardQuery(instructions=tuple(instructions), want=want,
                           frames=_all_or_none("shape", frames),
                           **{k: _all_or_none(k, v) for k, v in fields.items()})
    except RewardInputError as exc:
        raise WireError(str(exc), 422) from None


def _frames(i: int, shape: Any, dtype: Any, payload: memoryview, offset: int, limits: Limits) -> np.ndarray:
    if dtype != "uint8":
        raise WireError(f"clip {i}: dtype must be 'uint8', got {dtype!r}", 422)
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)):
        raise WireError(f"clip {i}: shape must be [T, H, W, 3] integers, got {shape!r}", 422)
    T, H, W, C = shape
    if C != 3 or min(T, H, W) < 1:
        raise WireError(f"clip {i}: shape must be [T>=1, H>=1, W>=1, 3], got {shape}", 422)
    if T > limits.max_frames:
        raise WireError(f"clip {i}: {T} frames exceed the limit of {limits.max_frames}", 413)
    if max(H, W) > limits.max_side:
        raise WireError(f"clip {i}: frames of {H}x{W} exceed the limit of {limits.max_side} pixels a side", 413)
    size = T * H * W * 3
    if offset + size > len(payload):
        raise WireError(f"clip {i}: shape {shape} needs {size} bytes but only {len(payload) - offset} remain")
    return np.frombuffer(payload[offset:offset + size], dtype=np.uint8).reshape(shape)


def _series(i: int, key: str, value: Any, limits: Limits) -> np.ndarray | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limits.max_frames:
        raise WireError(f"clip {i}: {key} must be a list of at most {limits.max_frames} values", 422)
    kind = {"oracle_progress": (int, float), "oracle_success": (bool,), "timesteps": (int,)}[key]
    for v in value:
        if not isinstance(v, kind) or (key != "oracle_success" and isinstance(v, bool)):
            raise WireError(f"clip {i}: {key} has a value of the wrong type: {v!r}", 422)
        if isinstance(v, float) and not math.isfinite(v):
            raise WireError(f"clip {i}: {key} has a non-finite value", 422)
    dtype = {"oracle_progress": np.float64, "oracle_success": bool, "timesteps": np.int64}[key]
    try:
        return np.asarray(value, dtype=dtype)
    except OverflowError:
        raise WireError(f"clip {i}: {key} has a value out of range", 422) from None


def _all_or_none(key: str, values: list[Any]) -> tuple[Any, ...] | None:
    present = [v is not None for v in values]
    if all(present):
        return tuple(values)
    if not any(present):
        return None
    raise WireError(f"'{key}' is given for some clips but not others: send it for every clip or none", 422)


def encode_output(output: RewardOutput) -> dict[str, Any]:
    """JSON-ready answer; numpy values in ``raw`` become lists, anything else unknown a string."""
    def vector(value: np.ndarray | None) -> list[float] | None:
        return None if value is None else [float(v) for v in np.asarray(value).reshape(-1)]

    return {"progress": None if output.progress is None else [vector(p) for p in output.progress],
            "success": vector(output.success), "comparison": vector(output.comparison),
            "score": vector(output.score), "raw": [jsonable(r) for r in output.raw]}


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)
