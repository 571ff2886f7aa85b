"""Qwen3-VL video frames without torchvision: sizes, pixel patches and frame times.

transformers' Qwen3-VL *video* processor needs torchvision (which breaks the Qwen3-VL import on
CPU-only installs), so clips are turned into pixel inputs here: frames are resized with PIL to
the size the reference pipeline gives them (:func:`video_size`: qwen-vl-utils or the processor,
see :class:`VideoSpec`), normalised, and cut into patches in the same layout as
``Qwen3VLVideoProcessor.patchify`` (:func:`video_patches`); each frame gets its time in seconds
(:func:`frame_seconds`) and each temporal patch the time of its ``<t seconds>`` stamp
(:func:`group_timestamps`). Images are sized the way qwen-vl-utils sizes them (:func:`image_size`).

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np


# Reference pipelines the sizes below reproduce (sources, read 2026):
# - qwen-vl-utils 0.0.14, github.com/QwenLM/Qwen3-VL qwen-vl-utils/src/qwen_vl_utils/vision_process.py
#   (``smart_resize``, ``fetch_image``, ``fetch_video``): a list of frames is resized per frame as
#   an image, padded to an even count by repeating its last frame, then resized as a video with
#   per-frame bounds of 128..768 merged tokens; its sample_fps turns list positions into seconds.
#   The Qwen3-VL README (same repo) then calls the processor with ``do_resize=False``.
# - transformers' ``Qwen3VLVideoProcessor`` (models/qwen3_vl/video_processing_qwen3_vl.py): bounds
#   ``size.shortest_edge`` / ``size.longest_edge`` on the whole clip (T x H x W); every Qwen3-VL
#   checkpoint ships {shortest_edge: 4096, longest_edge: 25165824} in video_preprocessor_config.json
#   (e.g. huggingface.co/Qwen/Qwen3-VL-8B-Instruct).
SIZINGS = ("qwen_vl_utils", "processor")
IMAGE_MIN_TOKENS, IMAGE_MAX_TOKENS = 4, 16384  # qwen-vl-utils IMAGE_MIN/MAX_TOKEN_NUM
FRAME_MIN_TOKENS, FRAME_MAX_TOKENS = 128, 768  # qwen-vl-utils VIDEO_MIN/MAX_TOKEN_NUM
SEQ_TOKENS = 128000  # qwen-vl-utils MODEL_SEQ_LEN default (its total_pixels budget is 90% of it)


@dataclass(frozen=True)
class VideoSpec:
    """Qwen3-VL video preprocessing settings.

    Attributes:
        patch_size, temporal_patch_size, merge_size: the vision encoder's patching.
        min_pixels, max_pixels: the processor's whole-clip bounds on T x H x W (``size`` of the
            checkpoint's ``video_preprocessor_config.json``); used by ``sizing="processor"``.
        sizing: ``"qwen_vl_utils"`` (frame lists through qwen-vl-utils, then the processor with
            ``do_resize=False``: the Qwen3-VL README path, used by RoboReward and Robometer) or
            ``"processor"`` (frames straight into the processor with their metadata: TOPReward).
        frame_max_pixels: optional per-frame pixel cap (qwen-vl-utils' ``max_pixels``) to save memory.
        frame_size: optional fixed ``(height, width)`` (qwen-vl-utils' ``resized_height`` /
            ``resized_width``, rounded to the patch grid); overrides the bounds.
        mean, std: per-channel normalisation after scaling to [0, 1].
    """

    patch_size: int = 16
    temporal_patch_size: int = 2
    merge_size: int = 2
    min_pixels: int = 4096
    max_pixels: int = 25165824
    sizing: str = "qwen_vl_utils"
    frame_max_pixels: int | None = None
    frame_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if self.sizing not in SIZINGS:
            raise ValueError(f"sizing must be one of {SIZINGS}, got {self.sizing!r}")

    @classmethod
    def from_pretrained(cls, path: str, **overrides: Any) -> "VideoSpec":
        """Read ``video_preprocessor_config.json`` (else ``preprocessor_config.json``) of a local checkpoint."""
        cfg: dict[str, Any] = {}
        for fname in ("video_preprocessor_config.json", "preprocessor_config.json"):
            file = Path(path) / fname
            if file.is_file():
                cfg = json.loads(file.read_text())
                break
        size = cfg.get("size") or {}
        values: dict[str, Any] = {}
        for key in ("patch_size", "temporal_patch_size", "merge_size"):
            if key in cfg:
                values[key] = int(cfg[key])
        if "shortest_edge" in size or "min_pixels" in cfg:
            values["min_pixels"] = int(size.get("shortest_edge", cfg.get("min_pixels")))
        if "longest_edge" in size or "max_pixels" in cfg:
            values["max_pixels"] = int(size.get("longest_edge", cfg.get("max_pixels")))
        if "image_mean" in cfg:
            values["mean"] = tuple(float(v) for v in cfg["image_mean"])
        if "image_std" in cfg:
            values["std"] = tuple(float(v) for v in cfg["image_std"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


def utils_smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """qwen-vl-utils' ``smart_resize``: a multiple of ``factor`` per side, area within the bounds."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"absolute aspect ratio must be smaller than 200, got {height}x{width}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


def image_size(height: int, width: int, factor: int = 32) -> tuple[int, int]:
    """Size qwen-vl-utils' ``fetch_image`` gives an image (default 4..16384 merged tokens)."""
    return utils_smart_resize(height, width, factor, IMAGE_MIN_TOKENS * factor ** 2, IMAGE_MAX_TOKENS * factor ** 2)


def video_size(spec: VideoSpec, num_frames: int, height: int, width: int) -> tuple[int, int]:
    """Resized ``(height, width)`` of every frame of a clip, as the reference pipeline of ``spec.sizing`` does."""
    f, tps = spec.factor, spec.temporal_patch_size
    if spec.frame_size is not None:  # fetch_image / fetch_video with resized_height and resized_width
        return image_size(spec.frame_size[0], spec.frame_size[1], f)
    if spec.sizing == "processor":
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

        n = max(num_frames, tps)  # the processor pads odd clips only after resizing; one frame is sent twice
        max_pixels = spec.max_pixels
        if spec.frame_max_pixels is not None:
            max_pixels = min(max_pixels, spec.frame_max_pixels * n)
        return smart_resize(num_frames=n, height=height, width=width, temporal_factor=tps, factor=f,
                            min_pixels=spec.min_pixels, max_pixels=max_pixels)
    n = num_frames + (-num_frames % tps)  # qwen-vl-utils pads the list first (ceil to FRAME_FACTOR)
    h, w = image_size(height, width, f)  # fetch_image on each listed frame
    low = FRAME_MIN_TOKENS * f * f
    high = max(min(FRAME_MAX_TOKENS * f * f, SEQ_TOKENS * f * f * 0.9 / n * 2), int(low * 1.05))
    if spec.frame_max_pixels is not None:
        high = min(high, spec.frame_max_pixels)
    return utils_smart_resize(h, w, f, min(low, high), high)  # fetch_video on the stacked list


def video_patches(frames: np.ndarray, spec: VideoSpec) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Pixel patches of one clip for ``pixel_values_videos``.

    Args:
        frames: ``(T, H, W, 3)`` uint8.
    Returns:
        ``(patches, (grid_t, grid_h, grid_w))`` with patches ``(grid_t * grid_h * grid_w,
        3 * temporal_patch_size * patch_size**2)`` float32; the clip is padded to a multiple of the
        temporal patch size by repeating its last frame.
    """
    from PIL import Image

    T, H, W, _ = frames.shape
    rh, rw = video_size(spec, T, H, W)
    resized = np.stack([np.asarray(Image.fromarray(f).resize((rw, rh), Image.BICUBIC)) for f in frames])
    x = resized.astype(np.float32) / 255.0
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    x = x.transpose(0, 3, 1, 2)  # T, C, H, W
    if pad := -T % spec.temporal_patch_size:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    tps, p, m = spec.temporal_patch_size, spec.patch_size, spec.merge_size
    gt, gh, gw = x.shape[0] // tps, rh // p, rw // p
    x = x.reshape(gt, tps, 3, gh // m, m, p, gw // m, m, p)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)  # same order as Qwen3VLVideoProcessor.patchify
    return np.ascontiguousarray(x.reshape(gt * gh * gw, 3 * tps * p * p)), (gt, gh, gw)


def group_timestamps(seconds: Sequence[float], temporal_patch_size: int) -> list[float]:
    """Time of each temporal patch: the mean of its first and last frame's time.

    This is ``Qwen3VLProcessor._calculate_timestamps`` (transformers, models/qwen3_vl/
    processing_qwen3_vl.py): a list shorter than whole patches is padded by repeating its last
    time. Pass the padded clip's times (see :func:`frame_seconds`) to get qwen-vl-utils' padding.
    """
    times = list(seconds)
    if pad := -len(times) % temporal_patch_size:
        times += [times[-1]] * pad
    return [(times[i] + times[i + temporal_patch_size - 1]) / 2 for i in range(0, len(times), temporal_patch_size)]


def frame_seconds(timesteps: np.ndarray | None, length: int, fps: float, spec: VideoSpec | None = None) -> np.ndarray:
    """Time in seconds of each frame: the episode steps over the frame rate (the index if unknown).

    With ``spec.sizing == "qwen_vl_utils"`` an odd clip gets one more time, one frame interval
    after the last: qwen-vl-utils pads a frame list by repeating its last frame and numbers the
    copy as the next frame, so the last temporal patch is stamped between the two (``fetch_video``).
    The processor path instead repeats the last time (:func:`group_timestamps`).
    """
    steps = np.arange(length) if timesteps is None else np.asarray(timesteps, np.float64)
    seconds = (steps - steps[0]) / float(fps)
    if spec is not None and spec.sizing == "qwen_vl_utils" and len(seconds) % spec.temporal_patch_size:
        step = seconds[-1] - seconds[-2] if len(seconds) > 1 else 1.0 / float(fps)
        seconds = np.append(seconds, seconds[-1] + step)
    return seconds


def check_fps(fps: float) -> float:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)
