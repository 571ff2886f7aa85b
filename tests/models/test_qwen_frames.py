"""Torchvision-free Qwen3-VL video frames: sizes, patch layout and times, against transformers."""

import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the 'qwen' extra (transformers)")

from vlmreward_gym.models import qwen_frames as qf  # noqa: E402

from .tiny import random_clip  # noqa: E402


def test_patches_shape_and_padding():
    spec = qf.VideoSpec(frame_max_pixels=64 * 64)
    patches, (gt, gh, gw) = qf.video_patches(random_clip(5), spec)
    assert gt == 3  # 5 frames padded to 6, temporal patch 2
    assert (gh, gw) == (4, 4)  # 64x48 -> 64x64 (qwen-vl-utils rounding) under the 64*64 per-frame cap
    assert patches.shape == (gt * gh * gw, 3 * 2 * 16 * 16) and patches.dtype == np.float32
    assert -1.0 - 1e-6 <= patches.min() and patches.max() <= 1.0 + 1e-6  # mean 0.5, std 0.5
    one, grid = qf.video_patches(random_clip(1), spec)  # a single frame is repeated to fill the temporal patch
    assert grid[0] == 1 and one.shape[0] == grid[1] * grid[2]


@pytest.mark.parametrize("frames, size, expected", [
    # qwen-vl-utils 0.0.14 fetch_image + fetch_video, worked by hand from vision_process.py:
    (16, (128, 128), (384, 384)),  # below 128 tokens per frame: scaled up to >= 128*32*32 pixels
    (8, (480, 640), (480, 640)),  # within 128..768 tokens per frame: unchanged
    (8, (1080, 1920), (640, 1152)),  # 1088x1920 after the image step, then capped at 768*32*32 pixels
    (5, (100, 150), (288, 480)),
    (1, (64, 48), (384, 384)),
])
def test_video_size_follows_qwen_vl_utils(frames, size, expected):
    assert qf.video_size(qf.VideoSpec(), frames, *size) == expected


def test_video_size_overrides_and_processor_path():
    assert qf.video_size(qf.VideoSpec(frame_max_pixels=64 * 64), 16, 128, 128) == (64, 64)
    assert qf.video_size(qf.VideoSpec(frame_size=(130, 200)), 4, 480, 640) == (128, 192)
    # the processor path bounds the whole clip (Qwen3-VL checkpoints: 4096 .. 25165824 pixels)
    assert qf.video_size(qf.VideoSpec(sizing="processor"), 15, 244, 244) == (256, 256)
    assert qf.video_size(qf.VideoSpec(sizing="processor"), 1, 244, 244) == (256, 256)
    with pytest.raises(ValueError, match="sizing"):
        qf.VideoSpec(sizing="torchvision")


def test_video_tokens_match_transformers_processor_count():
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qf.VideoSpec(sizing="processor")
    # a real processor (building one needs no torchvision; only calling it on videos does)
    processor = Qwen3VLVideoProcessor(size={"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels},
                                      patch_size=16, merge_size=2, temporal_patch_size=2, cap_pixels_per_frame=False)
    for frames, h, w in [(15, 244, 244), (64, 480, 640), (6, 70, 90), (3, 1080, 1920)]:
        _, grid = qf.video_patches(random_clip(frames, h, w), spec)
        theirs = processor.get_num_of_video_patches(frames, h, w)
        assert int(np.prod(grid)) == theirs


def test_patch_layout_matches_transformers_patchify():
    torch = pytest.importorskip("torch")
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qf.VideoSpec(sizing="processor", min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    frames = random_clip(4, 64, 64)  # already a multiple of 32 within the budget: no resize, only the layout is compared
    ours, grid = qf.video_patches(frames, spec)
    x = (torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255.0 - 0.5) / 0.5
    theirs, gt, gh, gw = Qwen3VLVideoProcessor.patchify(None, x[None], patch_size=16, merge_size=2, temporal_patch_size=2)
    assert (gt, gh, gw) == grid
    np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-6)


def test_same_tensors_as_the_torchvision_video_processor():
    pytest.importorskip("torchvision", reason="needs torchvision (no CPU build here; present on GPU machines) to "
                        "compare with transformers' torchvision video processor")
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qf.VideoSpec(sizing="processor", min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    proc = Qwen3VLVideoProcessor(size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64 * 4},
                                 cap_pixels_per_frame=False, do_sample_frames=False)
    frames = random_clip(6, 70, 90)
    ours, grid = qf.video_patches(frames, spec)
    theirs = proc(videos=[frames], return_tensors="pt")
    assert tuple(theirs["video_grid_thw"][0].tolist()) == grid
    np.testing.assert_allclose(ours, theirs["pixel_values_videos"].numpy(), atol=0.05)  # PIL vs torch bicubic


def test_frame_seconds():
    np.testing.assert_allclose(qf.frame_seconds(np.array([10, 12, 14]), 3, 2.0), [0.0, 1.0, 2.0])
    np.testing.assert_allclose(qf.frame_seconds(np.array([10, 12, 14]), 3, 2.0, qf.VideoSpec()), [0, 1, 2, 3])
    np.testing.assert_allclose(qf.frame_seconds(None, 1, 2.0, qf.VideoSpec()), [0.0, 0.5])
