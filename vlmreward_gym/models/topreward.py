"""TOPReward (``topreward``): zero-shot progress from Qwen3-VL's probability of "True".

Facts used (sources: Chen et al., "TOPReward: Token Probabilities as Hidden Zero-Shot Rewards for
Robotics", arXiv 2602.19313; the Robometer repo's TOPReward baseline,
robometer/evals/baselines/topreward.py and configs/reward_model/topreward.yaml, which follow
github.com/TOPReward/TOPReward):
- backbone Qwen3-VL-8B-Instruct, unchanged; frames resized to 224 x 224; video at 2 fps; at most
  64 frames; 15 prefix lengths ``linspace(1, T, 15)``;
- user turn = the video, then "The above video shows a robot manipulation trajectory that
  completes the following task: {task} Decide whether the above statement is True or not. The
  answer is:", chat template with the generation prompt, then the answer "True";
- the reward of a prefix is the mean log-probability of the answer tokens; the progress curve is
  the prefix rewards min-max normalised over the clip, interpolated to every frame.

``normalize="probability"`` instead reports ``P("True")`` of each prefix (absolute, not rescaled
per clip). The success probability is ``P("True")`` of the whole clip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.models.qwen_video import QwenVL, check_fps, frame_seconds, subsample
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

PROMPT = ("The above video shows a robot manipulation trajectory that completes the following task: {task} "
          "Decide whether the above statement is True or not. The answer is:")
ANSWER = "True"
HUB_ID = "Qwen/Qwen3-VL-8B-Instruct"
NORMALIZE = ("minmax", "probability")


def minmax(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; a constant curve (or a single value) maps to ones, as the reference does."""
    lo, hi = values.min(), values.max()
    return np.ones_like(values) if hi == lo else (values - lo) / (hi - lo)


class TOPRewardModel(RewardModel):
    """TOPReward over a Qwen3-VL instruct checkpoint.

    Args:
        path: checkpoint directory or hub id (default ``Qwen/Qwen3-VL-8B-Instruct``).
        device, dtype: where the model runs.
        num_frames: frames per clip (evenly subsampled, first and last kept); reference 64.
        num_prefixes: prefix lengths scored per clip; reference 15.
        fps: frame rate of the frames given to the model (timestamps); reference 2.
        image_size: frames are resized to this square size first; reference 224; None keeps them.
        normalize: ``minmax`` (reference) or ``probability``.
        batch_size: prefixes per forward pass (all clips' prefixes are pooled).
    """

    def __init__(self, path: Any = HUB_ID, device: str = "cpu", dtype: Any = None, num_frames: int = 64,
                 num_prefixes: int = 15, fps: float = 2.0, image_size: int | None = 224, normalize: str = "minmax",
                 batch_size: int = 8, max_pixels: int | None = None):
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
        if num_frames < 1 or num_prefixes < 1 or batch_size < 1:
            raise ValueError("num_frames, num_prefixes and batch_size must be >= 1")
        self.num_frames, self.num_prefixes, self.fps = int(num_frames), int(num_prefixes), check_fps(fps)
        self.image_size, self.normalize, self.batch_size = image_size, normalize, int(batch_size)
        self.vl = QwenVL("topreward", path, device, dtype, spec_overrides={"max_pixels": max_pixels})
        self.answer_len = len(self.vl.tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
        self.info = ModelInfo(name="topreward", capabilities=Capability.PROGRESS | Capability.SUCCESS,
                              num_frames=self.num_frames, fps=self.fps, device=self.vl.device)

    def _resize(self, clip: np.ndarray) -> np.ndarray:
        if self.image_size is None:
            return clip
        from PIL import Image

        size = (self.image_size, self.image_size)
        return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BICUBIC)) for f in clip])

    def _log_probs(self, items: list[tuple[str, np.ndarray, np.ndarray]]) -> np.ndarray:
        """Mean log-probability of the answer tokens ending each ``(task, frames, seconds)`` prompt."""
        torch = self.vl.torch
        out = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            texts = [self.vl.inputs.render([{"role": "user", "content": [
                {"type": "video"}, {"type": "text", "text": PROMPT.format(task=task)}]}]) + ANSWER
                for task, _, _ in chunk]
            batch = self.vl.batch(texts, [[(frames, secs)] for _, frames, secs in chunk], padding_side="left")
            with torch.no_grad():
                logits = self.vl.model(**batch).logits[:, -self.answer_len - 1:-1].float()
            targets = batch["input_ids"][:, -self.answer_len:]
            lp = torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            out.append(lp.mean(-1).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        items, spans, plans = [], [], []
        for i, (clip, task) in enumerate(zip(query.frames, query.instructions)):
            keep = subsample(len(clip), self.num_frames)
            frames = self._resize(clip[keep])
            secs = frame_seconds(None if query.timesteps is None else query.timesteps[i][keep], len(keep), self.fps)
            lengths = sorted({int(n) for n in np.linspace(1, len(keep), min(self.num_prefixes, len(keep)))})
            spans.append((len(items), len(items) + len(lengths)))
            plans.append((keep, lengths))
            items += [(task, frames[:n], secs[:n]) for n in lengths]
        log_probs = self._log_probs(items)
        progress, success, raw = [], [], []
        for (a, b), (keep, lengths), n in zip(spans, plans, query.lengths):
            lp = log_probs[a:b]
            curve = minmax(lp) if self.normalize == "minmax" else np.exp(lp)
            at_frames = np.interp(np.arange(n), keep[np.asarray(lengths) - 1], curve)
            progress.append(np.clip(at_frames, 0.0, 1.0))
            success.append(float(np.exp(lp[-1])))
            raw.append({"prefix_lengths": lengths, "prefix_log_probs": lp.tolist()})
        return RewardOutput(progress=tuple(progress), success=np.clip(success, 0.0, 1.0), raw=tuple(raw))

    def close(self) -> None:
        del self.vl
