"""Qwen3-VL chat inputs without torchvision: prompt rendering, vision token expansion, tokenised batches.

The prompt's video slot is replaced by one
``<t seconds><|vision_start|><|video_pad|>...<|vision_end|>`` group per temporal patch
(:func:`video_placeholder`, :func:`expand_videos`; the pixels and times come from
:mod:`~.qwen_frames`); and ``mm_token_type_ids`` (required by transformers 5 for M-RoPE) mark
image (1) and video (2) tokens. Images (Robometer's multi-image mode, LRM) go through
transformers' PIL image processor, which needs no torchvision, optionally pre-sized the way
qwen-vl-utils sizes images.

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vlmreward_gym.models.qwen_frames import SIZINGS, VideoSpec, group_timestamps, image_size, video_patches


VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
VIDEO_PAD, IMAGE_PAD = "<|video_pad|>", "<|image_pad|>"
VIDEO_SLOT = VISION_START + VIDEO_PAD + VISION_END


def video_placeholder(grid: tuple[int, int, int], seconds: Sequence[float], spec: VideoSpec) -> str:
    """The text that replaces a video slot: per temporal patch ``<t seconds>`` then its vision tokens.

    Same string as ``Qwen3VLProcessor.replace_video_token`` (``<{t:.1f} seconds>`` followed by
    ``<|vision_start|>``, ``grid_h * grid_w / merge_size**2`` video pads and ``<|vision_end|>``).
    """
    gt, gh, gw = grid
    per_group = gh * gw // spec.merge_size ** 2
    stamps = group_timestamps(seconds, spec.temporal_patch_size)
    if len(stamps) != gt:
        raise ValueError(f"{len(seconds)} frame times give {len(stamps)} temporal patches for a grid of {gt}")
    return "".join(f"<{stamps[g]:.1f} seconds>{VISION_START}{VIDEO_PAD * per_group}{VISION_END}" for g in range(gt))


def expand_videos(text: str, placeholders: Sequence[str]) -> str:
    """Replace each ``<|vision_start|><|video_pad|><|vision_end|>`` slot of ``text`` in order.

    The whole slot is replaced, as ``Qwen3VLProcessor.__call__`` of transformers 4.57 does (it
    swaps the full ``vision_start + video_pad + vision_end`` string for the timestamped groups), so
    the groups are not wrapped in a second pair of vision tokens. Earlier transformers 5 releases replaced only
    the ``<|video_pad|>`` and kept the outer pair (reported in github.com/vllm-project/vllm/issues/46817;
    transformers 5.25's ``Qwen3VLProcessor.get_text_with_replacements`` collapses it again;
    the 4.57 order is confirmed in github.com/EvolvingLMMs-Lab/lmms-engine/issues/132). The
    reward models were trained and released against 4.57: LRM pins ``transformers>=4.57,<5``
    (physical-superintelligence-lab/Large-Reward-Models vlm_reward/requirements.txt), the TOPReward
    code pins 4.57.1 (github.com/TOPReward/TOPReward pyproject.toml), Robometer uses qwen-vl-utils
    0.0.14 with ``transformers>=4.57`` (robometer/robometer pyproject.toml).
    """
    parts = text.split(VIDEO_SLOT)
    if len(parts) - 1 != len(placeholders):
        raise ValueError(f"prompt has {len(parts) - 1} video slots for {len(placeholders)} videos")
    out = [parts[0]]
    for placeholder, rest in zip(placeholders, parts[1:]):
        out += [placeholder, rest]
    return "".join(out)


class QwenInputs:
    """Builds batched Qwen3-VL model inputs from chat messages whose video entries are uint8 clips.

    Args:
        tokenizer: the checkpoint's tokenizer (padding side is set per call).
        spec: video preprocessing settings.
        image_processor: a transformers image processor for image entries (optional).
        image_sizing: ``"processor"`` (the image processor resizes within its ``size`` bounds) or
            ``"qwen_vl_utils"`` (PIL-resized to qwen-vl-utils' ``fetch_image`` size, then processed
            with ``do_resize=False``, as the Qwen3-VL README and Robometer's collator do).
    """

    def __init__(self, tokenizer: Any, spec: VideoSpec, image_processor: Any = None,
                 image_sizing: str = "processor"):
        if image_sizing not in SIZINGS:
            raise ValueError(f"image_sizing must be one of {SIZINGS}, got {image_sizing!r}")
        self.tokenizer, self.spec, self.image_processor = tokenizer, spec, image_processor
        self.image_sizing = image_sizing
        ids = tokenizer.convert_tokens_to_ids([IMAGE_PAD, VIDEO_PAD])
        if any(i is None or i == tokenizer.unk_token_id for i in ids):
            raise ValueError("the tokenizer lacks Qwen3-VL's <|image_pad|>/<|video_pad|> tokens")
        self.image_token_id, self.video_token_id = ids

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True, **template_kwargs: Any) -> str:
        """Chat-template text with one slot per video/image entry (content lists hold dicts)."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                  **template_kwargs)

    def __call__(self, texts: Sequence[str], videos: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]] = (),
                 images: Sequence[Sequence[np.ndarray]] = (), padding_side: str = "left") -> dict[str, Any]:
        """Tokenised batch.

        Args:
            texts: ``B`` rendered prompts (slots not yet expanded).
            videos: per prompt, its ``(frames (T, H, W, 3) uint8, seconds (T,))`` in slot order.
            images: per prompt, its ``(H, W, 3)`` uint8 images in slot order.
        Returns:
            ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` and, when present,
            ``pixel_values_videos`` / ``video_grid_thw`` / ``pixel_values`` / ``image_grid_thw`` (torch tensors).
        """
        import torch

        expanded, video_pixels, video_grids, image_pixels, image_grids = [], [], [], [], []
        for b, text in enumerate(texts):
            clips = videos[b] if videos else ()
            holders = []
            for frames, seconds in clips:
                patches, grid = video_patches(frames, self.spec)
                video_pixels.append(patches)
                video_grids.append(grid)
                holders.append(video_placeholder(grid, seconds, self.spec))
            text = expand_videos(text, holders)
            pics = images[b] if images else ()
            if pics:
                text = self._expand_images(text, pics, image_pixels, image_grids)
            expanded.append(text)
        self.tokenizer.padding_side = padding_side
        batch = self.tokenizer(expanded, return_tensors="pt", padding=True, add_special_tokens=False)
        ids = batch["input_ids"]
        types = torch.zeros_like(ids)
        types[ids == self.image_token_id] = 1
        types[ids == self.video_token_id] = 2
        out = {"input_ids": ids, "attention_mask": batch["attention_mask"], "mm_token_type_ids": types}
        if video_pixels:
            out["pixel_values_videos"] = torch.from_numpy(np.concatenate(video_pixels))
            out["video_grid_thw"] = torch.tensor(video_grids, dtype=torch.long)
        if image_pixels:
            out["pixel_values"] = torch.cat(image_pixels)
            out["image_grid_thw"] = torch.cat(image_grids)
        return out

    def _expand_images(self, text: str, pics: Sequence[np.ndarray], pixels: list, grids: list) -> str:
        from PIL import Image

        if self.image_processor is None:
            raise ValueError("image inputs need an image processor")
        if self.image_sizing == "qwen_vl_utils":
            factor = getattr(self.image_processor, "patch_size", 16) * getattr(self.image_processor, "merge_size", 2)
            sized = []
            for p in pics:
                h, w = image_size(p.shape[0], p.shape[1], factor)
                sized.append(Image.fromarray(p).resize((w, h), Image.BICUBIC))
            feats = self.image_processor(sized, do_resize=False, return_tensors="pt")
        else:
            feats = self.image_processor([Image.fromarray(p) for p in pics], return_tensors="pt")
        pixels.append(feats["pixel_values"])
        grids.append(feats["image_grid_thw"])
        merge = getattr(self.image_processor, "merge_size", 2) ** 2
        counts = [int(g.prod()) // merge for g in feats["image_grid_thw"]]
        parts = text.split(IMAGE_PAD)
        if len(parts) - 1 != len(counts):
            raise ValueError(f"prompt has {len(parts) - 1} image slots for {len(counts)} images")
        out = [parts[0]]
        for n, rest in zip(counts, parts[1:]):
            out += [IMAGE_PAD * n, rest]
        return "".join(out)
