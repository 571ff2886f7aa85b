"""Torchvision-free Qwen3-VL video inputs: sizes, token layout, and agreement with transformers."""

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the 'qwen' extra (transformers)")

from vlmreward_gym.models import qwen_video as qv  # noqa: E402


def clip(t=5, h=64, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_patches_shape_and_padding():
    spec = qv.VideoSpec(frame_max_pixels=64 * 64)
    patches, (gt, gh, gw) = qv.video_patches(clip(5), spec)
    assert gt == 3  # 5 frames padded to 6, temporal patch 2
    assert (gh, gw) == (4, 4)  # 64x48 -> 64x64 (qwen-vl-utils rounding) under the 64*64 per-frame cap
    assert patches.shape == (gt * gh * gw, 3 * 2 * 16 * 16) and patches.dtype == np.float32
    assert -1.0 - 1e-6 <= patches.min() and patches.max() <= 1.0 + 1e-6  # mean 0.5, std 0.5
    one, grid = qv.video_patches(clip(1), spec)  # a single frame is repeated to fill the temporal patch
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
    assert qv.video_size(qv.VideoSpec(), frames, *size) == expected


def test_video_size_overrides_and_processor_path():
    assert qv.video_size(qv.VideoSpec(frame_max_pixels=64 * 64), 16, 128, 128) == (64, 64)
    assert qv.video_size(qv.VideoSpec(frame_size=(130, 200)), 4, 480, 640) == (128, 192)
    # the processor path bounds the whole clip (Qwen3-VL checkpoints: 4096 .. 25165824 pixels)
    assert qv.video_size(qv.VideoSpec(sizing="processor"), 15, 244, 244) == (256, 256)
    assert qv.video_size(qv.VideoSpec(sizing="processor"), 1, 244, 244) == (256, 256)
    with pytest.raises(ValueError, match="sizing"):
        qv.VideoSpec(sizing="torchvision")


def test_video_tokens_match_transformers_processor_count():
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qv.VideoSpec(sizing="processor")
    # a real processor (building one needs no torchvision; only calling it on videos does)
    processor = Qwen3VLVideoProcessor(size={"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels},
                                      patch_size=16, merge_size=2, temporal_patch_size=2, cap_pixels_per_frame=False)
    for frames, h, w in [(15, 244, 244), (64, 480, 640), (6, 70, 90), (3, 1080, 1920)]:
        _, grid = qv.video_patches(clip(frames, h, w), spec)
        theirs = processor.get_num_of_video_patches(frames, h, w)
        assert int(np.prod(grid)) == theirs


def test_patch_layout_matches_transformers_patchify():
    torch = pytest.importorskip("torch")
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qv.VideoSpec(sizing="processor", min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    frames = clip(4, 64, 64)  # already a multiple of 32 within the budget: no resize, only the layout is compared
    ours, grid = qv.video_patches(frames, spec)
    x = (torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255.0 - 0.5) / 0.5
    theirs, gt, gh, gw = Qwen3VLVideoProcessor.patchify(None, x[None], patch_size=16, merge_size=2, temporal_patch_size=2)
    assert (gt, gh, gw) == grid
    np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-6)


def test_same_tensors_as_the_torchvision_video_processor():
    pytest.importorskip("torchvision", reason="needs torchvision (no CPU build here; present on GPU machines) to "
                        "compare with transformers' torchvision video processor")
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    spec = qv.VideoSpec(sizing="processor", min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    proc = Qwen3VLVideoProcessor(size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64 * 4},
                                 cap_pixels_per_frame=False, do_sample_frames=False)
    frames = clip(6, 70, 90)
    ours, grid = qv.video_patches(frames, spec)
    theirs = proc(videos=[frames], return_tensors="pt")
    assert tuple(theirs["video_grid_thw"][0].tolist()) == grid
    np.testing.assert_allclose(ours, theirs["pixel_values_videos"].numpy(), atol=0.05)  # PIL vs torch bicubic


def transformers_placeholder(grid, indices, fps):
    """``Qwen3VLProcessor.replace_video_token`` of the installed transformers, on a stub processor."""
    import torch
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    from transformers.video_utils import VideoMetadata

    stub = object.__new__(Qwen3VLProcessor)
    stub.video_processor = SimpleNamespace(merge_size=2, temporal_patch_size=2)
    stub.video_token, stub.image_token = qv.VIDEO_PAD, qv.IMAGE_PAD
    stub.vision_start_token, stub.vision_end_token = qv.VISION_START, qv.VISION_END
    inputs = {"video_grid_thw": torch.tensor([grid]),
              "video_metadata": [VideoMetadata(total_num_frames=len(indices), fps=fps, frames_indices=list(indices))]}
    return stub, Qwen3VLProcessor.replace_video_token(stub, inputs, 0)


@pytest.mark.parametrize("sizing, frames, indices", [
    ("processor", 6, range(6)),
    ("processor", 5, range(5)),  # the processor pads the indices by repeating the last one
    ("qwen_vl_utils", 5, range(6)),  # qwen-vl-utils pads the frame list, the copy is numbered 5
    ("qwen_vl_utils", 1, range(2)),
])
def test_placeholder_matches_transformers_processor(sizing, frames, indices):
    spec = qv.VideoSpec(sizing=sizing)
    grid = ((frames + 1) // 2, 4, 6)
    _, theirs = transformers_placeholder(grid, indices, 2.0)
    ours = qv.video_placeholder(grid, qv.frame_seconds(None, frames, 2.0, spec), spec)
    assert ours == theirs
    assert ours.count(qv.VIDEO_PAD) == grid[0] * 6 and ours.count(qv.VISION_START) == grid[0]


def test_prompt_expansion_is_the_4_57_layout_of_the_transformers_expansion(tmp_path):
    """Our token ids equal the transformers expansion with the whole slot replaced (transformers 4.57, the
    layout Qwen3-VL was trained with). Earlier transformers 5 releases kept an outer <|vision_start|>/<|vision_end|>
    pair around the per-frame groups; 5.25 collapses it again: either way the installed one's
    expansion must be one of those two layouts, so a third layout fails here."""
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

    from . import tiny

    tok = tiny.build_tokenizer(tmp_path)
    spec = qv.VideoSpec(frame_max_pixels=64 * 64)
    frames = clip(5, 64, 64)
    text = "<|im_start|>user\n" + qv.VIDEO_SLOT + "What happens?<|im_end|>\n<|im_start|>assistant\n"
    seconds = qv.frame_seconds(np.arange(5) * 3, 5, 6.0, spec)  # steps 0,3,..,12 at 6 Hz: 0.5 s apart
    batch = qv.QwenInputs(tok, spec)([text], [[(frames, seconds)]])
    stub, placeholder = transformers_placeholder((3, 4, 4), [0, 1, 2, 3, 4, 5], 2.0)
    v5_text = Qwen3VLProcessor.get_text_with_replacements(stub, [text], videos_replacements=[placeholder])[0][0]
    v4_text = text.replace(qv.VIDEO_SLOT, placeholder)
    assert v4_text.count(qv.VISION_START) == 3  # one <|vision_start|> per temporal group, no outer pair
    assert v5_text in (v4_text, text.replace(qv.VIDEO_PAD, placeholder))
    expected = tok(v4_text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert batch["input_ids"].tolist() == expected.tolist()
    assert "<0.2 seconds>" in v4_text and "<2.2 seconds>" in v4_text
    video_id = tok.convert_tokens_to_ids(qv.VIDEO_PAD)
    assert (batch["mm_token_type_ids"] == 2).sum() == (batch["input_ids"] == video_id).sum() == 3 * 4
    assert tuple(batch["video_grid_thw"][0].tolist()) == (3, 4, 4)


def test_placeholder_and_timestamps():
    spec = qv.VideoSpec(sizing="processor")
    text = qv.video_placeholder((2, 4, 6), [0.0, 0.5, 1.0], spec)
    assert text.count(qv.VISION_START) == 2 and text.count(qv.VIDEO_PAD) == 2 * 6
    assert text.startswith("<0.2 seconds>") and "<1.0 seconds>" in text
    assert qv.expand_videos("a" + qv.VIDEO_SLOT + "b", ["X"]) == "aXb"
    with pytest.raises(ValueError, match="video slots"):
        qv.expand_videos("a" + qv.VIDEO_SLOT, [])
    with pytest.raises(ValueError, match="temporal patches"):
        qv.video_placeholder((3, 4, 6), [0.0, 0.5], spec)
    np.testing.assert_allclose(qv.frame_seconds(np.array([10, 12, 14]), 3, 2.0), [0.0, 1.0, 2.0])
    np.testing.assert_allclose(qv.frame_seconds(np.array([10, 12, 14]), 3, 2.0, qv.VideoSpec()), [0, 1, 2, 3])
    np.testing.assert_allclose(qv.frame_seconds(None, 1, 2.0, qv.VideoSpec()), [0.0, 0.5])


def test_images_sized_like_qwen_vl_utils(tmp_path):
    from transformers import Qwen2VLImageProcessorPil

    from . import tiny

    tok = tiny.build_tokenizer(tmp_path)
    tiny.write_processor_configs(tmp_path)  # image size bounds 32*32 .. 64*64
    proc = Qwen2VLImageProcessorPil.from_pretrained(tmp_path)
    text = qv.VISION_START + qv.IMAGE_PAD + qv.VISION_END
    pics = [clip(1, 40, 40)[0], clip(1, 96, 160)[0]]
    by_utils = qv.QwenInputs(tok, qv.VideoSpec(), proc, image_sizing="qwen_vl_utils")([text * 2], images=[pics])
    by_proc = qv.QwenInputs(tok, qv.VideoSpec(), proc)([text * 2], images=[pics])
    # qwen-vl-utils: 40x40 -> 64x64 (at least 4 merged tokens), 96x160 kept; the processor's own bounds
    # (32*32 .. 64*64 pixels here) give 32x32 and 32x64
    assert by_utils["image_grid_thw"].tolist() == [[1, 4, 4], [1, 6, 10]]
    assert by_proc["image_grid_thw"].tolist() == [[1, 2, 2], [1, 2, 4]]
    image_id = tok.convert_tokens_to_ids(qv.IMAGE_PAD)
    assert (by_utils["input_ids"] == image_id).sum() == 4 + 15


def test_generate_parsed_is_annotated_with_its_three_results():
    from typing import Any, get_type_hints

    assert get_type_hints(qv.generate_parsed)["return"] == tuple[list[Any], list[list[str]], list[int]]
