"""Torchvision-free Qwen3-VL video inputs: shapes, token layout, and agreement with transformers."""

import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the 'qwen' extra (transformers)")

from vlmreward_gym.models import qwen_video as qv  # noqa: E402


def clip(t=5, h=64, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_patches_shape_and_padding():
    spec = qv.VideoSpec(min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    patches, (gt, gh, gw) = qv.video_patches(clip(5), spec)
    assert gt == 3  # 5 frames padded to 6, temporal patch 2
    assert gh % spec.merge_size == 0 and gw % spec.merge_size == 0
    assert patches.shape == (gt * gh * gw, 3 * 2 * 16 * 16) and patches.dtype == np.float32
    assert -1.0 - 1e-6 <= patches.min() and patches.max() <= 1.0 + 1e-6  # mean 0.5, std 0.5
    one, grid = qv.video_patches(clip(1), spec)  # a single frame is repeated to fill the temporal patch
    assert grid[0] == 1 and one.shape[0] == grid[1] * grid[2]


def test_patch_layout_matches_transformers_patchify():
    torch = pytest.importorskip("torch")
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qv.VideoSpec(min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    frames = clip(4, 64, 64)  # already a multiple of 32: no resize, so only the layout is compared
    ours, grid = qv.video_patches(frames, spec)
    x = (torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255.0 - 0.5) / 0.5
    theirs, gt, gh, gw = Qwen3VLVideoProcessor.patchify(None, x[None], patch_size=16, merge_size=2, temporal_patch_size=2)
    assert (gt, gh, gw) == grid
    np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-6)


def test_same_tensors_as_the_torchvision_video_processor():
    pytest.importorskip("torchvision", reason="needs torchvision (no CPU build here; present on GPU machines) to "
                        "compare with transformers' torchvision video processor")
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qv.VideoSpec(min_pixels=32 * 32, max_pixels=64 * 64 * 4, max_frame_tokens=768)
    proc = Qwen3VLVideoProcessor(size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64 * 4},
                                 cap_pixels_per_frame=True, do_sample_frames=False)
    frames = clip(6, 70, 90)
    ours, grid = qv.video_patches(frames, spec)
    theirs = proc(videos=[frames], return_tensors="pt")
    assert tuple(theirs["video_grid_thw"][0].tolist()) == grid
    np.testing.assert_allclose(ours, theirs["pixel_values_videos"].numpy(), atol=0.05)  # PIL vs torch bicubic


def test_placeholder_and_timestamps():
    spec = qv.VideoSpec()
    text = qv.video_placeholder((2, 4, 6), [0.0, 0.5, 1.0], spec)
    assert text.count(qv.VISION_START) == 2 and text.count(qv.VIDEO_PAD) == 2 * 6
    assert text.startswith("<0.2 seconds>") and "<1.0 seconds>" in text
    assert qv.expand_videos("a" + qv.VIDEO_SLOT + "b", ["X"]) == "aXb"
    with pytest.raises(ValueError, match="video slots"):
        qv.expand_videos("a" + qv.VIDEO_SLOT, [])
    np.testing.assert_allclose(qv.frame_seconds(np.array([10, 12, 14]), 3, 2.0), [0.0, 1.0, 2.0])
    assert qv.subsample(20, 8)[[0, -1]].tolist() == [0, 19] and len(qv.subsample(3, 8)) == 3


def test_weights_path_errors(tmp_path):
    with pytest.raises(ValueError, match="needs path"):
        qv.resolve_weights(None, "x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        qv.resolve_weights(tmp_path / "missing", "x")
    (tmp_path / "f.bin").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        qv.resolve_weights(tmp_path / "f.bin", "x")
    assert qv.resolve_weights("org/model", "x") == "org/model"
