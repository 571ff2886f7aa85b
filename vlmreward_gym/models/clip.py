"""VLM-RM (``clip``): CLIP / SigLIP frame-text similarity with goal-baseline regularisation.

Facts used (source: Rocamonde et al., "Vision-Language Models are Zero-Shot Reward Models for
Reinforcement Learning", 2023, Sec. 3, and its code github.com/AlignmentResearch/vlmrm
``src/vlmrm/reward_model.py``, ``CLIPReward``): with unit-norm embeddings of the frame ``x``, the
goal text ``g`` and the baseline ``b`` (the mean of the unit-norm embeddings of one or more
baseline prompts, not renormalised, as ``CLIPReward`` averages its prompt embeddings),
``d = g - b`` and ``P = alpha * d d^T / |d|^2 + (1 - alpha) * I``, the reward is
``R(x) = 1 - |(x - g) P|^2 / 2``. ``alpha = 0`` is plain CLIP similarity (``R = x . g``);
``alpha = 1`` keeps only the goal-baseline direction.

Since unit vectors give ``R`` in [-1, 1], progress is ``(R + 1) / 2`` (an affine map: the
per-frame ordering and the RL optimum are unchanged); ``R`` itself is in ``raw``.
Any local CLIP or SigLIP checkpoint in transformers format works (licence: the checkpoint's).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.models.hf_loading import default_dtype, import_torch_transformers, load_error, resolve_weights
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery


def vlmrm_projection(goal: np.ndarray, baseline: np.ndarray | None, alpha: float) -> np.ndarray:
    """``(D, D)`` projection ``alpha * d d^T / |d|^2 + (1 - alpha) I`` with ``d = goal - baseline``."""
    eye = np.eye(goal.shape[-1])
    if baseline is None or alpha == 0.0:
        return eye
    d = goal - baseline
    return alpha * np.outer(d, d) / float(d @ d) + (1.0 - alpha) * eye


def vlmrm_reward(x: np.ndarray, goal: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """``1 - |(x - g) P|^2 / 2`` for each row of unit-norm ``x``."""
    return 1.0 - 0.5 * np.sum(((x - goal) @ projection) ** 2, axis=-1)


class CLIPRewardModel(RewardModel):
    """VLM-RM reward from a CLIP or SigLIP checkpoint (transformers ``AutoModel``).

    Args:
        path: checkpoint directory or hub id (e.g. ``openai/clip-vit-large-patch14``).
        baseline: the baseline prompt ``b`` (e.g. ``"a robot arm"``), or several whose embeddings
            are averaged; needed when ``alpha > 0``.
        alpha: goal-baseline regularisation strength in [0, 1].
        device, dtype: where the model runs.
        batch_size: frames per forward pass (frames of all clips are scored together).
        num_frames: preferred frames per clip for dense queries (None = all).
    """

    card = ModelCard(Capability.PROGRESS, "VLM-RM: CLIP / SigLIP image-instruction similarity as progress",
                     weights="path=<CLIP or SigLIP checkpoint or hub id>")

    def __init__(self, path: Any = None, baseline: str | Sequence[str] | None = None, alpha: float = 0.0,
                 device: str = "cpu", dtype: Any = None, batch_size: int = 64, num_frames: int | None = None):
        torch, transformers = import_torch_transformers("clip")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        baselines = [baseline] if isinstance(baseline, str) else list(baseline or [])
        if any(not (isinstance(b, str) and b.strip()) for b in baselines):
            raise ValueError(f"baseline prompts must be non-empty strings, got {baseline!r}")
        if alpha > 0 and not baselines:
            raise ValueError("alpha > 0 needs a baseline prompt, e.g. baseline='a robot arm'")
        self.torch, self.alpha, self.baselines, self.batch_size = torch, float(alpha), baselines, int(batch_size)
        folder = resolve_weights(path, "clip")
        self.device = str(device)
        self.dtype = default_dtype(torch, self.device, dtype)
        try:
            self.model = transformers.AutoModel.from_pretrained(folder, dtype=self.dtype).to(self.device).eval()
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
            self.image_processor = transformers.AutoImageProcessor.from_pretrained(folder)
        except (OSError, ValueError) as err:
            raise load_error("clip", folder, err) from err
        if not hasattr(self.model, "get_image_features"):
            raise TypeError(f"{folder!r} is a {type(self.model).__name__}, not a CLIP/SigLIP dual encoder")
        self.siglip = "siglip" in self.model.config.model_type
        self._text_cache: dict[str, np.ndarray] = {}
        self.info = ModelInfo(name="clip", capabilities=self.card.capabilities, num_frames=num_frames,
                              device=self.device)

    def _texts(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if todo:
            # SigLIP was trained on max_length-padded text (transformers' SigLIP docs)
            enc = self.tokenizer(todo, padding="max_length" if self.siglip else True, truncation=True,
                                 return_tensors="pt")
            with self.torch.no_grad():
                emb = self._features(self.model.get_text_features(**enc.to(self.device)))
            for t, e in zip(todo, emb):
                self._text_cache[t] = e
        return np.stack([self._text_cache[t] for t in texts])

    def _features(self, out: Any) -> np.ndarray:
        emb = out if isinstance(out, self.torch.Tensor) else out.pooler_output
        emb = emb.float()
        return (emb / emb.norm(dim=-1, keepdim=True)).cpu().numpy().astype(np.float64)

    def _images(self, frames: list[np.ndarray]) -> np.ndarray:
        """Unit-norm embeddings of ``frames`` (any sizes), ``batch_size`` per forward pass."""
        out = []
        for start in range(0, len(frames), self.batch_size):
            pix = self.image_processor(frames[start:start + self.batch_size], return_tensors="pt")["pixel_values"]
            with self.torch.no_grad():
                out.append(self._features(self.model.get_image_features(pixel_values=pix.to(self.device, self.dtype))))
        return np.concatenate(out)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        images = self._images([f for clip in query.frames for f in clip])
        goals = self._texts(list(query.instructions))
        base = self._texts(self.baselines).mean(0) if self.baselines else None
        progress, raw, start = [], [], 0
        for goal, n in zip(goals, query.lengths):
            r = vlmrm_reward(images[start:start + n], goal, vlmrm_projection(goal, base, self.alpha))
            start += n
            progress.append(np.clip((r + 1.0) / 2.0, 0.0, 1.0))
            raw.append({"vlmrm_reward": r.tolist()})
        return RewardOutput(progress=tuple(progress), raw=tuple(raw))
