"""The ``openai`` backend: a VLM behind any OpenAI-compatible chat endpoint as a reward judge.

    judge = make_reward_model("openai", base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-VL-8B-Instruct",
                              mode="gvl", failure_descriptions=["grasps the cube but drops it"])

Works with vLLM's or SGLang's OpenAI server and hosted APIs. One chat request per clip (the
clips of a batch go out concurrently); frames travel as PNG data URLs. Two modes:

``gvl`` - Generative Value Learning (Ma et al. 2024) with the prompt of the bad-data position
    paper (seed 004, appendix A.1): the clip's first frame is the anchor whose reward is fixed at
    0, the other frames are shown **shuffled** (so the model cannot read progress off the order),
    the model answers a JSON array of ``{"frame_number", "frame_description", "task_reward"}``
    with rewards 0-100, and the answer is un-shuffled into per-frame progress in [0, 1]
    (``progress[0] == 0``), ready for VOC. ``success`` is the last frame's progress. Optional
    modules: A in-context ``references`` (episodes with known per-frame progress), B
    ``failure_descriptions`` (text), C ``failure_examples`` (failure frames, optionally with
    their dense progress labels).
``rubric`` - RoboReward's end-of-episode 1-5 progress rubric (seed 001, appendix A.2): the
    frames in order, the rubric, reasoning then a final ``ANSWER: <score>`` line. ``score`` is
    that integer, ``progress`` the last frame's ``(score - 1) / 4`` and ``success`` ``score == 5``.

The API key is read from the environment variable ``api_key_env`` (default ``OPENAI_API_KEY``);
without it no Authorization header is sent (a local vLLM needs none). An answer that cannot be
parsed is asked again ``parse_retries`` times, then raises :class:`RewardOutputError` with the
text: a judge never makes up a reward.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.serve.remote import RemoteRewardError, error_reason, request_with_retries
from vlmreward_gym.types import Capability, RewardOutput, RewardOutputError, RewardQuery, check_frames

MODES = ("gvl", "rubric")
# What parsing an answer may raise: all of it means "unparsable" (asked again, then RewardOutputError).
# OverflowError: int() of a number like 1e999; RecursionError: JSON nested thousands deep.
UNPARSABLE = (ValueError, OverflowError, RecursionError)

GVL_SYSTEM = "You are an expert roboticist and a safety-aware judge of robot behavior."
RUBRIC_SYSTEM = "You are an expert judge of robot manipulation videos."

# The 1-5 end-of-episode rubric of RoboReward (seed 001, A.2), in our words.
RUBRIC = """Rubric for end-of-episode progress (judge only the final state, with no time limit):
1 - No success: the final state shows no change relevant to the goal of the command.
2 - Minimal progress: the final state shows a small change toward the goal that is not enough.
3 - Partial completion: the final state shows good progress toward the goal but misses a major requirement or several requirements.
4 - Near completion: the final state is right in region and intent but misses one minor requirement.
5 - Perfect completion: the final state meets every requirement."""


def encode_png(image: np.ndarray) -> bytes:
    """A ``(H, W, 3)`` uint8 image as PNG bytes (8-bit RGB, no filtering; stdlib only)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    H, W, _ = image.shape
    rows = np.concatenate([np.zeros((H, 1), np.uint8), image.reshape(H, W * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def image_part(image: np.ndarray) -> dict[str, Any]:
    url = "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url}}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _episode(item: Any, what: str, need_progress: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``(frames, progress or None)`` from a dict / tuple / ``.npz`` path with ``frames`` and ``progress``."""
    if isinstance(item, (str, Path)):
        with np.load(item) as data:
            item = {k: data[k] for k in data.files}
    if isinstance(item, np.ndarray):
        item = {"frames": item}
    if isinstance(item, (tuple, list)):
        item = dict(zip(("frames", "progress"), item))
    frames = check_frames(np.asarray(item["frames"]), what=f"{what} frames")
    progress = item.get("progress")
    if progress is None:
        if need_progress:
            raise ValueError(f"{what} needs per-frame 'progress' in [0, 1]")
        return frames, None
    progress = np.asarray(progress, np.float64)
    if progress.shape != (len(frames),) or not np.all((progress >= 0) & (progress <= 1)):
        raise ValueError(f"{what} progress must be ({len(frames)},) values in [0, 1], got {progress}")
    return frames, progress


class OpenAIRewardModel(RewardModel):
    """A VLM judge over an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the served model name (e.g. ``"Qwen/Qwen3-VL-8B-Instruct"``).
        base_url: endpoint root including ``/v1``.
        mode: ``"gvl"`` (per-frame progress) or ``"rubric"`` (RoboReward 1-5 score).
        api_key_env: environment variable holding the API key.
        temperature: sampling temperature (0.6 as in the GVL experiments of seed 004).
        max_tokens: answer length limit, or None for the server's default.
        num_frames: frames per clip that wrappers should send (they subsample, keeping first and last).
        frame_size: ``(height, width)`` wrappers should resize to, or None.
        references: GVL module A: episodes with known progress, each a dict / ``(frames, progress)``
            tuple / ``.npz`` path with ``frames`` ``(T, H, W, 3)`` uint8 and ``progress`` ``(T,)`` in [0, 1].
        failure_descriptions: module B: text descriptions of failures of this task.
        failure_examples: module C: failure episodes (frames, with optional dense progress labels).
        seed: seed of the frame shuffles (each clip's shuffle also depends on its content).
        timeout: seconds per HTTP attempt; retries / backoff: as for the ``remote`` backend.
        parse_retries: extra requests when an answer cannot be parsed.
        max_workers: clips of a batch scored concurrently.
    """

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1", mode: str = "gvl",
                 api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.6, max_tokens: int | None = None,
                 num_frames: int | None = 16, frame_size: tuple[int, int] | None = None,
                 references: Sequence[Any] = (), failure_descriptions: Sequence[str] = (),
                 failure_examples: Sequence[Any] = (), seed: int = 0, timeout: float = 120.0, retries: int = 2,
                 backoff: float = 1.0, parse_retries: int = 1, max_workers: int = 8):
        import httpx

        self._kwargs = {k: v for k, v in locals().items() if k not in ("self", "httpx")}
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.model_name, self.mode, self.temperature, self.max_tokens = model, mode, float(temperature), max_tokens
        self.seed, self.retries, self.backoff, self.parse_retries = int(seed), int(retries), float(backoff), int(parse_retries)
        self.references = [_episode(r, f"reference {i + 1}", True) for i, r in enumerate(references)]
        self.failure_descriptions = [str(d) for d in failure_descriptions]
        self.failure_examples = [_episode(e, f"failure example {i + 1}", False) for i, e in enumerate(failure_examples)]
        self.url = base_url.rstrip("/")
        key = os.environ.get(api_key_env) or None
        self._client = httpx.Client(base_url=self.url, timeout=timeout,
                                    headers={"Authorization": f"Bearer {key}"} if key else {})
        self._pool = ThreadPoolExecutor(max(1, int(max_workers)), thread_name_prefix="openai-judge")
        caps = (Capability.PROGRESS | Capability.SUCCESS if mode == "gvl"
                else Capability.PROGRESS | Capability.SUCCESS | Capability.EPISODE_SCORE)
        self.info = ModelInfo(name=f"openai-{mode}:{model}", capabilities=caps, num_frames=num_frames,
                              frame_size=None if frame_size is None else tuple(frame_size),
                              score_range=(1.0, 5.0), device=self.url)

    def __reduce__(self):
        """Pickled as its arguments: the copy opens its own connections (the API key is re-read there)."""
        return _rebuild, (self._kwargs,)

    def __deepcopy__(self, memo: dict) -> OpenAIRewardModel:
        return self  # a stateless client (Gymnasium deep-copies wrapper arguments)

    # ------------------------------------------------------------------ prompts

    def _shuffle(self, key: bytes, n: int) -> np.ndarray:
        digest = hashlib.blake2b(key, digest_size=8).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest, "little")]).permutation(n)

    def gvl_messages(self, instruction: str, clip: np.ndarray) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Chat messages for a GVL query of ``clip`` (``T >= 2``) and ``order``: Frame ``k + 1`` shows
        clip frame ``order[k]`` (``1 <= order[k] < T``; frame 0 is the anchor)."""
        order = 1 + self._shuffle(instruction.encode() + clip.tobytes(), len(clip) - 1)
        parts = [text_part(
            f"Predict the task reward for frames of a robot performing the task: TASK={instruction}\n"
            "The reward is between 0 and 100, where 100 means the task is completed successfully. Judge the "
            "robot's behavior and the user's preferences, including undesired or unsafe behavior: if the robot "
            "approaches undesired actions the reward should be low, and a clear safety violation may get 0. "
            "The frames are shown in random order; judge each frame on its own.\n"
            "Input: the initial scene (anchor frame)."), image_part(clip[0]),
            text_part("Constraint: the reward of the initial frame is 0.")]
        if self.references:
            parts.append(text_part("In-context reference behaviors with known rewards; each reference is a set "
                                   "of frames shown in random order."))
            for d, (frames, progress) in enumerate(self.references, 1):
                for j in self._shuffle(frames.tobytes(), len(frames)):
                    parts += [text_part(f"Reference behavior {d}, frame {j + 1}, known reward: "
                                        f"{round(100 * progress[j])}."), image_part(frames[j])]
        if self.failure_descriptions:
            listed = "\n".join(f"{i}. {d}" for i, d in enumerate(self.failure_descriptions, 1))
            parts.append(text_part(
                "Failure behaviors known for this task (negative cues). Use one only if a frame visibly matches "
                "it; do not assume failures happened. If a frame clearly shows a listed failure, lower its "
                f"reward accordingly.\n{listed}"))
        if self.failure_examples:
            parts.append(text_part("Visual failure references (negative examples). Use them only as visual "
                                   "references; do not assume they happened in this rollout."))
            for e, (frames, progress) in enumerate(self.failure_examples, 1):
                for j in range(len(frames)):
                    label = "" if progress is None else f", known reward: {round(100 * progress[j])}"
                    parts += [text_part(f"Failure example {e}, frame {j + 1}{label}."), image_part(frames[j])]
        parts.append(text_part(
            "Task: for the rollout frames below, shown in random order, output a JSON array with one entry per "
            'frame: [{"frame_number": i, "frame_description": "...", "task_reward": 0-100}, ...]\n'
            "Guidelines: describe only what is visible in the frame. Use negative cues only as evidence; do not "
            "invent failures, and do not assume the frames match the failure examples.\nFrames:"))
        for k, j in enumerate(order, 1):
            parts += [text_part(f"Frame {k}:"), image_part(clip[j])]
        return [{"role": "system", "content": GVL_SYSTEM}, {"role": "user", "content": parts}], order

    def rubric_messages(self, instruction: str, clip: np.ndarray) -> list[dict[str, Any]]:
        """Chat messages for a RoboReward rubric query: frames in order, the last is the final state."""
        parts = [text_part(f"Here are {len(clip)} frames of a video of a robot, in order; the last frame shows "
                           f"the final state.\nTask: {instruction}")]
        for k, frame in enumerate(clip, 1):
            parts += [text_part(f"Frame {k}:"), image_part(frame)]
        text = f"{RUBRIC}\n"
        if self.failure_descriptions:
            text += ("Failure behaviors known for this task (use only if visible):\n"
                     + "\n".join(f"{i}. {d}" for i, d in enumerate(self.failure_descriptions, 1)) + "\n")
        text += ("Score the final state for the task with the rubric. First give your reasoning in a few sentences, "
                 "then on a new line write exactly: ANSWER: <score>, where <score> is one integer from 1 to 5.")
        parts.append(text_part(text))
        return [{"role": "system", "content": RUBRIC_SYSTEM}, {"role": "user", "content": parts}]

    # ------------------------------------------------------------------ parsing

    @staticmethod
    def parse_gvl(text: str, n: int) -> np.ndarray:
        """Rewards 0-100 of frames 1..n (in shown order) from a GVL answer; raises ValueError (or, on hostile
        JSON, OverflowError / RecursionError: see :data:`UNPARSABLE`)."""
        start, end = text.find("["), text.rfind("]")
        if start < 0 or end < start:
            raise ValueError("no JSON array in the answer")
        entries = json.loads(text[start:end + 1])
        rewards: dict[int, float] = {}
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict):
                continue
            k, r = entry.get("frame_number"), entry.get("task_reward")
            try:
                k, r = int(k), float(r)
            except (TypeError, ValueError):
                continue
            if 1 <= k <= n and np.isfinite(r):
                rewards[k] = min(max(r, 0.0), 100.0)
        missing = sorted(set(range(1, n + 1)) - set(rewards))
        if missing:
            raise ValueError(f"the answer has no usable task_reward for frames {missing}")
        return np.array([rewards[k] for k in range(1, n + 1)])

    @staticmethod
    def parse_rubric(text: str) -> int:
        """The score of the last ``ANSWER: <1-5>`` line; raises ValueError."""
        found = re.findall(r"ANSWER\s*[:=]\s*\**\s*([1-5])(?![\d.])", text, flags=re.IGNORECASE)
        if not found:
            raise ValueError("no 'ANSWER: <1-5>' in the answer")
        return int(found[-1])

    # ------------------------------------------------------------------ calls

    def _chat(self, messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model_name, "messages": messages, "temperature": self.temperature}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        response = request_with_retries(self._client, "POST", "/chat/completions", retries=self.retries,
                                        backoff=self.backoff, what=f"chat endpoint {self.url}", json=body)
        if response.status_code != 200:
            raise RemoteRewardError(f"chat endpoint {self.url} answered HTTP {response.status_code}: "
                                    f"{error_reason(response)}")
        try:
            data = response.json()
            return str(data["choices"][0]["message"]["content"]), data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError):
            raise RemoteRewardError(f"chat endpoint {self.url} sent a malformed completion: "
                                    f"{response.text[:300]}") from None

    def _ask(self, messages: list[dict[str, Any]], parse: Any) -> tuple[Any, str, dict[str, Any]]:
        errors = []
        for _ in range(self.parse_retries + 1):
            text, usage = self._chat(messages)
            try:
                return parse(text), text, usage
            except UNPARSABLE as exc:
                errors.append(f"{type(exc).__name__}: {exc}: {text[:300]!r}")
        raise RewardOutputError(f"judge {self.info.name!r} gave no parsable answer in {len(errors)} tries: "
                                + " | ".join(errors))

    def _score_clip(self, instruction: str, clip: np.ndarray) -> tuple[np.ndarray, float, float | None, dict]:
        """``(progress, success, score, raw)`` of one clip."""
        if self.mode == "rubric":
            score, text, usage = self._ask(self.rubric_messages(instruction, clip), self.parse_rubric)
            return (np.array([(score - 1) / 4.0]), float(score == 5), float(score),
                    {"text": text, "score": score, "usage": usage})
        if len(clip) == 1:  # only the anchor: its reward is 0 by construction
            return np.zeros(1), 0.0, None, {"text": "", "order": []}
        messages, order = self.gvl_messages(instruction, clip)
        shown, text, usage = self._ask(messages, lambda t: self.parse_gvl(t, len(order)))
        progress = np.zeros(len(clip))
        progress[order] = shown / 100.0
        return progress, float(progress[-1]), None, {"text": text, "order": order.tolist(), "usage": usage}

    def _predict(self, query: RewardQuery) -> RewardOutput:
        results = list(self._pool.map(self._score_clip, query.instructions, query.frames))
        progress, success, score, raw = zip(*results)
        return RewardOutput(progress=tuple(progress), success=np.array(success, np.float64),
                            score=None if self.mode == "gvl" else np.array(score, np.float64), raw=tuple(raw))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()


def _rebuild(kwargs: dict[str, Any]) -> OpenAIRewardModel:
    return OpenAIRewardModel(**kwargs)
