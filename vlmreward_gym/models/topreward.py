"""TOPReward (``topreward``): zero-shot progress from Qwen3-VL's probability of "True".

Sources: Chen et al., "TOPReward: Token Probabilities as Hidden Zero-Shot Rewards for Robotics",
arXiv 2602.19313; the authors' code github.com/TOPReward/TOPReward (read from its copy
github.com/jcoleharrison/TOPReward, commit bc61380): ``topreward/clients/qwen.py``
(``compute_instruction_reward``, ``_instruction_reward_prompt_parts``,
``_aligned_video_tensor_and_metadata``, ``compute_instruction_rewards_for_prefixes``),
``topreward/utils/constants.py``, ``configs/experiments/predict_topreward.yaml``; cross-checked with
the Robometer repo's baseline (robometer/robometer ``robometer/evals/baselines/topreward.py``) and
the LRM release's copy (physical-superintelligence-lab/Large-Reward-Models ``vlm_reward_server.py``).

Facts used:
- backbone Qwen3-VL-8B-Instruct, unchanged; frames resized to 244 x 244 (``IMG_SIZE``; the
  Robometer baseline uses 224) and sent straight to the processor as a video with their own
  frame indices and fps (2 by default), a single frame twice; at most 64 frames; 15 prefix lengths
  ``int(linspace(1, T, min(15, T)))``, only the whole clip when ``T <= 2`` (``num_frames > 2`` test).
- prompt, default (``add_chat_template: false``): the user turn holds the video and "The above
  video shows a robot manipulation trajectory that completes the following task: ", the chat
  template is cut at the end-of-turn token, and "{task} Decide whether the above statement is True
  or not. The answer is: True" follows in the same turn. With ``chat_template=True`` the whole
  sentence ends "The answer is:" inside the user turn and "True" follows the generation prompt
  (the other variant of the same code; the Robometer baseline's setting).
- only the last token ("True") is scored: all earlier labels are masked; the reward of a prefix is
  its log-probability; the progress curve is the prefix rewards min-max normalised over the clip
  (a constant curve maps to ones), interpolated to every frame here.

``normalize="probability"`` instead reports ``P("True")`` of each prefix (absolute, not rescaled
per clip). The success probability is ``P("True")`` of the whole clip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.models.qwen_frames import check_fps, frame_seconds
from vlmreward_gym.models.qwen_vl import QwenVL
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery, subsample_indices

PREFIX = "The above video shows a robot manipulation trajectory that completes the following task: "
SUFFIX = " Decide whether the above statement is True or not. The answer is:"
ANSWER = "True"
PROMPT = PREFIX + "{task}" + SUFFIX  # the chat-template variant's user text
HUB_ID = "Qwen/Qwen3-VL-8B-Instruct"
NORMALIZE = ("minmax", "probability")


def prefix_lengths(n: int, count: int) -> list[int]:
    """Prefix lengths scored for an ``n``-frame clip (TOPReward's rule)."""
    if n <= 2:
        return [n]
    return sorted({int(k) for k in np.linspace(1, n, min(count, n))})


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
        image_size: frames are resized to this square size first; reference 244; None keeps them.
        chat_template: False (reference default): the answer continues the user turn; True: the
            answer follows the generation prompt.
        normalize: ``minmax`` (reference) or ``probability``.
        batch_size: prefixes per forward pass (all clips' prefixes are pooled).
        max_pixels: per-frame pixel cap (lower it to save memory); None = the processor's bounds.
    """

    card = ModelCard(Capability.PROGRESS | Capability.SUCCESS,
                     "TOPReward: progress from a Qwen3-VL's answer probabilities over clip prefixes", num_frames=64,
                     weights=HUB_ID)

    def __init__(self, path: Any = HUB_ID, device: str = "cpu", dtype: Any = None, num_frames: int = 64,
                 num_prefixes: int = 15, fps: float = 2.0, image_size: int | None = 244, chat_template: bool = False,
                 normalize: str = "minmax", batch_size: int = 8, max_pixels: int | None = None):
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
        if num_frames < 1 or num_prefixes < 1 or batch_size < 1:
            raise ValueError("num_frames, num_prefixes and batch_size must be >= 1")
        self.num_frames, self.num_prefixes, self.fps = int(num_frames), int(num_prefixes), check_fps(fps)
        self.image_size, self.normalize, self.batch_size = image_size, normalize, int(batch_size)
        self.chat_template = bool(chat_template)
        self.vl = QwenVL("topreward", path, device, dtype,
                         spec_overrides={"sizing": "processor", "frame_max_pixels": max_pixels})
        self.info = ModelInfo(name="topreward", capabilities=self.card.capabilities,
                              num_frames=self.num_frames, fps=self.fps, device=self.vl.device)

    def _resize(self, clip: np.ndarray) -> np.ndarray:
        if self.image_size is None:
            return clip
        from PIL import Image

        size = (self.image_size, self.image_size)
        return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BICUBIC)) for f in clip])

    def text(self, task: str) -> str:
        """The full scored text of one prefix, ending with the answer token."""
        if self.chat_template:
            content = [{"type": "video"}, {"type": "text", "text": PROMPT.format(task=task)}]
            return self.vl.inputs.render([{"role": "user", "content": content}]) + ANSWER
        content = [{"type": "video"}, {"type": "text", "text": PREFIX}]
        turn = self.vl.inputs.render([{"role": "user", "content": content}], add_generation_prompt=False)
        eos = self.vl.tokenizer.eos_token
        if eos:
            turn = turn.split(eos)[0]
        return f"{turn}{task}{SUFFIX} {ANSWER}"

    def _log_probs(self, items: list[tuple[str, np.ndarray, np.ndarray]]) -> np.ndarray:
        """Log-probability of the last token ending each ``(task, frames, seconds)`` prompt."""
        torch = self.vl.torch
        out = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            texts = [self.text(task) for task, _, _ in chunk]
            batch = self.vl.batch(texts, [[(frames, secs)] for _, frames, secs in chunk], padding_side="left")
            with torch.no_grad():
                logits = self.vl.model(**batch).logits[:, -2].float()
            target = batch["input_ids"][:, -1]
            lp = torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
            out.append(lp.cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        items, spans, plans = [], [], []
        for i, (clip, task) in enumerate(zip(query.frames, query.instructions)):
            keep = subsample_indices(len(clip), self.num_frames)
            frames = self._resize(clip[keep])
            secs = frame_seconds(None if query.timesteps is None else query.timesteps[i][keep], len(keep), self.fps)
            lengths = prefix_lengths(len(keep), self.num_prefixes)
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
