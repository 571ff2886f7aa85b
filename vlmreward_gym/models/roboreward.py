"""RoboReward (``roboreward-4b``, ``roboreward-8b``): a 1-5 end-of-episode progress score from a rollout video.

Facts used (sources):
- Checkpoints ``teetone/RoboReward-4B`` / ``-8B`` are Qwen3-VL-4B/8B-Instruct fine-tunes, licence
  CC-BY-4.0, used "following the original Qwen3-VL instructions with video input" (model cards,
  huggingface.co/teetone/RoboReward-4B and -8B, README.md).
- The prompt below is the model cards' text (the rubric is the paper's appendix A.2.2): the
  rubric, a blank line, then ``Task: <instruction>``; the model answers ``ANSWER: <score>``. The
  same text, blank line included, is used by the Robometer repo's RoboReward baseline
  (robometer/robometer ``robometer/evals/baselines/roboreward.py``) and by the LRM release's
  server (physical-superintelligence-lab/Large-Reward-Models ``vlm_reward/vlm_reward_server.py``,
  ``ROBOREWARD_PROMPT``).
- The video comes before the text in the user turn, with the generation prompt; decoding is
  greedy; frames are a list through qwen-vl-utils, then the processor with ``do_resize=False``
  (both sources above; the Qwen3-VL README's video recipe), so :class:`~.qwen_frames.VideoSpec`
  uses ``sizing="qwen_vl_utils"``. Those sources take the first ``ANSWER: <digit>`` and fall
  back to a bare digit; here only ``ANSWER: <n>`` counts (the last one), and a miss is retried once.

Progress is the score mapped onto [0, 1] as ``(s - 1) / 4`` for the clip's last frame.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.models.generation import generate_parsed
from vlmreward_gym.models.qwen_frames import check_fps, frame_seconds
from vlmreward_gym.models.qwen_vl import QwenVL
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery, subsample_indices

PROMPT = (
    "Given the task, assign a discrete progress score reward (1,2,3,4,5) for the robot in the video in the "
    "format: ANSWER: <score>\n"
    "Rubric for end-of-episode progress (judge only the final state without time limits):\n"
    "1 - No Success: Final state shows no goal-relevant change for the command.\n"
    "2 - Minimal Progress: Final state shows a small but insufficient change toward the goal.\n"
    "3 - Partial Completion: The final state shows good progress toward the goal but violates more than one "
    "requirement or a major requirement.\n"
    "4 - Near Completion: Final state is correct in region and intent but misses a single minor requirement.\n"
    "5 - Perfect Completion: Final state satisfies all requirements.\n\n"
    "Task: {task}"
)
_ANSWER = re.compile(r"ANSWER:\s*([0-9]+)", re.IGNORECASE)
HUB_IDS = {"roboreward-4b": "teetone/RoboReward-4B", "roboreward-8b": "teetone/RoboReward-8B"}


def parse_score(text: str) -> int | None:
    """The last ``ANSWER: <n>`` with n in 1..5, or None."""
    found = [int(m) for m in _ANSWER.findall(text)]
    return found[-1] if found and 1 <= found[-1] <= 5 else None


class RoboRewardModel(RewardModel):
    """RoboReward through transformers' ``Qwen3VLForConditionalGeneration``.

    Args:
        path: checkpoint directory or hub id (e.g. ``teetone/RoboReward-8B``).
        device, dtype: e.g. ``"cuda:0"``, ``"bfloat16"`` (default: float32 on CPU, bfloat16 on GPU).
        num_frames: frames sent per clip (evenly subsampled, first and last kept).
        fps: frame rate of the env's frames; frame times (``timesteps / fps``) become Qwen3-VL's
            ``<t seconds>`` stamps (qwen-vl-utils' ``sample_fps`` for a frame list).
        max_new_tokens: generation budget (the answer is short; the model may reason first).
        max_pixels: per-frame pixel cap (qwen-vl-utils' ``max_pixels``; lower it to save GPU
            memory); None = qwen-vl-utils' default of 768 merged tokens per frame.
        name: registry name.
    """

    card = ModelCard(Capability.EPISODE_SCORE | Capability.PROGRESS,
                     "RoboReward (Qwen3-VL): the 1-5 end-state rubric of a clip", num_frames=16,
                     weights="path=<RoboReward checkpoint or hub id>")

    def __init__(self, path: Any = None, device: str = "cpu", dtype: Any = None, num_frames: int = 16,
                 fps: float = 2.0, max_new_tokens: int = 64, max_pixels: int | None = None,
                 name: str = "roboreward-8b"):
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.num_frames, self.fps, self.max_new_tokens = int(num_frames), check_fps(fps), int(max_new_tokens)
        self.vl = QwenVL(name, path, device, dtype,
                         spec_overrides={"sizing": "qwen_vl_utils", "frame_max_pixels": max_pixels})
        self.info = ModelInfo(name=name, capabilities=self.card.capabilities,
                              num_frames=self.num_frames, fps=self.fps, score_range=(1.0, 5.0), device=self.vl.device)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        texts, videos = [], []
        for i, (clip, task) in enumerate(zip(query.frames, query.instructions)):
            keep = subsample_indices(len(clip), self.num_frames)
            steps = None if query.timesteps is None else query.timesteps[i][keep]
            messages = [{"role": "user", "content": [{"type": "video"},
                                                     {"type": "text", "text": PROMPT.format(task=task)}]}]
            texts.append(self.vl.inputs.render(messages))
            videos.append([(clip[keep], frame_seconds(steps, len(keep), self.fps, self.vl.spec))])
        scores, attempts, _ = generate_parsed(self.vl, texts, videos, (), parse_score, self.max_new_tokens,
                                              "'ANSWER: <1-5>'")
        score = np.asarray(scores, np.float64)
        return RewardOutput(progress=tuple(np.array([(s - 1.0) / 4.0]) for s in score), score=score,
                            raw=tuple({"score": s, "text": a[-1], "attempts": a} for s, a in zip(scores, attempts)))

    def close(self) -> None:
        del self.vl


def make_4b(path: Any = HUB_IDS["roboreward-4b"], **kwargs: Any) -> RoboRewardModel:
    return RoboRewardModel(path=path, name="roboreward-4b", **kwargs)


def make_8b(path: Any = HUB_IDS["roboreward-8b"], **kwargs: Any) -> RoboRewardModel:
    return RoboRewardModel(path=path, name="roboreward-8b", **kwargs)


make_4b.card = replace(RoboRewardModel.card, weights=HUB_IDS["roboreward-4b"])  # type: ignore[attr-defined]
make_8b.card = replace(RoboRewardModel.card, weights=HUB_IDS["roboreward-8b"])  # type: ignore[attr-defined]
