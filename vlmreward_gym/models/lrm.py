"""Large Reward Models (``lrm-contrastive``, ``lrm-progress``, ``lrm-completion``).

Facts used (sources: Wu et al., "Large Reward Models: Generalizable Online Robot Reward Generation
with Vision-Language Models", arXiv 2603.16065, Sec. III-B eqs. 2-4; model card
huggingface.co/USC-PSI-Lab/LRM-models):
- three LoRA adapters on Qwen3-VL-8B-Instruct, loaded with peft; licence Apache-2.0;
- contrastive: the previous frame I_{t-dt} and the current frame I_t -> +1 (current closer to the
  goal), -1 (previous closer), 0 (undecidable);
- progress: the initial frame I_0 (anchor) and the current frame I_t -> 0.0 .. 1.0 in tenths;
- completion: the current frame I_t -> task done (1) or not (0).

NOT verified against the release: the exact prompt wording and the adapters' folder names inside
the hub repo (the model card's table could not be read here). Both are arguments
(``prompt=``, ``adapter=`` / ``adapter_subfolder=``); the defaults below paraphrase the paper's
definitions and ask for a bare answer, and the parser accepts the answer anywhere in the text.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.models.qwen_video import QwenVL, generate_parsed
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

BASE_ID = "Qwen/Qwen3-VL-8B-Instruct"
ADAPTER_REPO = "USC-PSI-Lab/LRM-models"

PROMPTS = {
    "contrastive": ("Task: {task}\nThe first image is an earlier observation and the second image is the current "
                    "observation of a robot performing the task. Which state is closer to completing the task? "
                    "Answer 1 if the second image is closer, -1 if the first image is closer, 0 if undecidable."),
    "progress": ("Task: {task}\nThe first image is the initial observation and the second image is the current "
                 "observation of a robot performing the task. Estimate the task completion progress of the current "
                 "observation as a number from 0.0 to 1.0 in steps of 0.1."),
    "completion": ("Task: {task}\nThis image is the current observation of a robot performing the task. Has the task "
                   "been completed? Answer yes or no."),
}

_SIGNED = re.compile(r"(?<![\d.])([+-]?1(?:\.0)?|0(?:\.0)?)(?!\.?\d)")
_UNIT = re.compile(r"(?<![\d.])(1(?:\.0+)?|0(?:\.\d+)?|\.\d+)(?!\.?\d)")
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)


def parse_contrastive(text: str) -> float | None:
    m = _SIGNED.search(text)
    return float(m.group(1)) if m else None


def parse_progress(text: str) -> float | None:
    """The first number in [0, 1], rounded to tenths (the trained output grid)."""
    m = _UNIT.search(text)
    return None if m is None else round(float(m.group(1)) * 10) / 10


def parse_completion(text: str) -> float | None:
    m = _YES_NO.search(text)
    return None if m is None else float(m.group(1).lower() in ("yes", "true"))


MODES = {
    "contrastive": (Capability.COMPARE, parse_contrastive, "-1/0/+1"),
    "progress": (Capability.PROGRESS, parse_progress, "progress 0.0-1.0"),
    "completion": (Capability.SUCCESS | Capability.PROGRESS | Capability.EPISODE_SCORE, parse_completion, "yes/no"),
}


class LRMRewardModel(RewardModel):
    """One LRM reward modality: Qwen3-VL-8B-Instruct + its LoRA adapter, answering in text.

    Args:
        mode: ``contrastive`` | ``progress`` | ``completion``.
        path: base model directory or hub id (default Qwen3-VL-8B-Instruct).
        adapter: the LoRA adapter directory or hub id (default the LRM hub repo).
        adapter_subfolder: folder of this mode's adapter inside ``adapter`` (default: the mode name).
        prompt: the user text (``{task}`` is replaced); default: see module docstring.
        device, dtype, max_new_tokens, max_pixels: as for the other Qwen3-VL backends.

    Frames: contrastive reads the clip's last two frames (``[reference, current]``); progress
    reads the first (anchor) and last; completion reads the last. Completion's yes/no is the
    success probability, the episode score on [0, 1] and the last frame's progress.
    """

    def __init__(self, mode: str, path: Any = BASE_ID, adapter: Any = ADAPTER_REPO,
                 adapter_subfolder: str | None = None, prompt: str | None = None, device: str = "cpu",
                 dtype: Any = None, max_new_tokens: int = 16, max_pixels: int | None = None):
        if mode not in MODES:
            raise ValueError(f"LRM mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode, self.max_new_tokens = mode, int(max_new_tokens)
        self.prompt = prompt or PROMPTS[mode]
        self.capabilities, self.parse, self.what = MODES[mode]
        subfolder = mode if adapter_subfolder is None else adapter_subfolder
        self.vl = QwenVL(f"lrm-{mode}", path, device, dtype, spec_overrides={"max_pixels": max_pixels},
                         adapter=adapter, adapter_kwargs={"subfolder": subfolder} if subfolder else None)
        if self.vl.inputs.image_processor is None:
            raise ValueError(f"LRM needs the base checkpoint's preprocessor_config.json (images) in {path!r}")
        self.info = ModelInfo(name=f"lrm-{mode}", capabilities=self.capabilities, num_frames=2 if mode != "completion"
                              else 1, score_range=(0.0, 1.0), device=self.vl.device)

    def _frames(self, clip: np.ndarray) -> list[np.ndarray]:
        if self.mode == "contrastive":
            return [clip[-2] if len(clip) > 1 else clip[-1], clip[-1]]
        if self.mode == "progress":
            return [clip[0], clip[-1]]
        return [clip[-1]]

    def _predict(self, query: RewardQuery) -> RewardOutput:
        texts, images = [], []
        for clip, task in zip(query.frames, query.instructions):
            pics = self._frames(clip)
            content = [{"type": "image"} for _ in pics] + [{"type": "text", "text": self.prompt.format(task=task)}]
            texts.append(self.vl.inputs.render([{"role": "user", "content": content}]))
            images.append(pics)
        values, attempts = generate_parsed(self.vl, texts, (), images, self.parse, self.max_new_tokens, self.what)
        v = np.clip(np.asarray(values, np.float64), -1.0 if self.mode == "contrastive" else 0.0, 1.0)
        raw = tuple({"value": float(x), "text": a[-1], "attempts": a} for x, a in zip(v, attempts))
        if self.mode == "contrastive":
            return RewardOutput(comparison=v, raw=raw)
        if self.mode == "progress":
            return RewardOutput(progress=tuple(np.array([x]) for x in v), raw=raw)
        return RewardOutput(progress=tuple(np.array([x]) for x in v), success=v, score=v, raw=raw)

    def close(self) -> None:
        del self.vl


def make_contrastive(**kwargs: Any) -> LRMRewardModel:
    return LRMRewardModel("contrastive", **kwargs)


def make_progress(**kwargs: Any) -> LRMRewardModel:
    return LRMRewardModel("progress", **kwargs)


def make_completion(**kwargs: Any) -> LRMRewardModel:
    return LRMRewardModel("completion", **kwargs)
