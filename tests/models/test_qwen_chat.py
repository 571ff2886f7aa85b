"""Torchvision-free Qwen3-VL chat inputs: video and image token layout, and agreement with transformers."""

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the 'qwen' extra (transformers)")

from vlmreward_gym.models import qwen_chat as qc, qwen_frames as qf  # noqa: E402

from . import tiny  # noqa: E402


def transformers_placeholder(grid, indices, fps):
    """``Qwen3VLProcessor.replace_video_token`` of the installed transformers, on a stub processor."""
    import torch
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    from transformers.video_utils import VideoMetadata

    stub = object.__new__(Qwen3VLProcessor)
    stub.video_processor = SimpleNamespace(merge_size=2, temporal_patch_size=2)
    stub.video_token, stub.image_token = qc.VIDEO_PAD, qc.IMAGE_PAD
    stub.vision_start_token, stub.vision_end_token = qc.VISION_START, qc.VISION_END
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
    spec = qf.VideoSpec(sizing=sizing)
    grid = ((frames + 1) // 2, 4, 6)
    _, theirs = transformers_placeholder(grid, indices, 2.0)
    ours = qc.video_placeholder(grid, qf.frame_seconds(None, frames, 2.0, spec), spec)
    assert ours == theirs
    assert ours.count(qc.VIDEO_PAD) == grid[0] * 6 and ours.count(qc.VISION_START) == grid[0]


def test_prompt_expansion_is_the_4_57_layout_of_the_transformers_expansion(tmp_path):
    """Our token ids equal the transformers expansion with the whole slot replaced (transformers 4.57, the
    layout Qwen3-VL was trained with). Earlier transformers 5 releases kept an outer <|vision_start|>/<|vision_end|>
    pair around the per-frame groups; 5.25 collapses it again: either way the installed one's
    expansion must be one of those two layouts, so a third layout fails here."""
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

    tok = tiny.build_tokenizer(tmp_path)
    spec = qf.VideoSpec(frame_max_pixels=64 * 64)
    frames = tiny.random_clip(5, 64, 64)
    text = "<|im_start|>user\n" + qc.VIDEO_SLOT + "What happens?<|im_end|>\n<|im_start|>assistant\n"
    seconds = qf.frame_seconds(np.arange(5) * 3, 5, 6.0, spec)  # steps 0,3,..,12 at 6 Hz: 0.5 s apart
    batch = qc.QwenInputs(tok, spec)([text], [[(frames, seconds)]])
    stub, placeholder = transformers_placeholder((3, 4, 4), [0, 1, 2, 3, 4, 5], 2.0)
    v5_text = Qwen3VLProcessor.get_text_with_replacements(stub, [text], videos_replacements=[placeholder])[0][0]
    v4_text = text.replace(qc.VIDEO_SLOT, placeholder)
    assert v4_text.count(qc.VISION_START) == 3  # one <|vision_start|> per temporal group, no outer pair
    assert v5_text in (v4_text, text.replace(qc.VIDEO_PAD, placeholder))
    expected = tok(v4_text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert batch["input_ids"].tolist() == expected.tolist()
    assert "<0.2 seconds>" in v4_text and "<2.2 seconds>" in v4_text
    video_id = tok.convert_tokens_to_ids(qc.VIDEO_PAD)
    assert (batch["mm_token_type_ids"] == 2).sum() == (batch["input_ids"] == video_id).sum() == 3 * 4
    assert tuple(batch["video_grid_thw"][0].tolist()) == (3, 4, 4)


def test_placeholder_and_timestamps():
    spec = qf.VideoSpec(sizing="processor")
    text = qc.video_placeholder((2, 4, 6), [0.0, 0.5, 1.0], spec)
    assert text.count(qc.VISION_START) == 2 and text.count(qc.VIDEO_PAD) == 2 * 6
    assert text.startswith("<0.2 seconds>") and "<1.0 seconds>" in text
    assert qc.expand_videos("a" + qc.VIDEO_SLOT + "b", ["X"]) == "aXb"
    with pytest.raises(ValueError, match="video slots"):
        qc.expand_videos("a" + qc.VIDEO_SLOT, [])
    with pytest.raises(ValueError, match="temporal patches"):
        qc.video_placeholder((3, 4, 6), [0.0, 0.5], spec)


def test_images_sized_like_qwen_vl_utils(tmp_path):
    from transformers import Qwen2VLImageProcessorPil

    tok = tiny.build_tokenizer(tmp_path)
    tiny.write_processor_configs(tmp_path)  # image size bounds 32*32 .. 64*64
    proc = Qwen2VLImageProcessorPil.from_pretrained(tmp_path)
    text = qc.VISION_START + qc.IMAGE_PAD + qc.VISION_END
    pics = [tiny.random_clip(1, 40, 40)[0], tiny.random_clip(1, 96, 160)[0]]
    by_utils = qc.QwenInputs(tok, qf.VideoSpec(), proc, image_sizing="qwen_vl_utils")([text * 2], images=[pics])
    by_proc = qc.QwenInputs(tok, qf.VideoSpec(), proc)([text * 2], images=[pics])
    # qwen-vl-utils: 40x40 -> 64x64 (at least 4 merged tokens), 96x160 kept; the processor's own bounds
    # (32*32 .. 64*64 pixels here) give 32x32 and 32x64
    assert by_utils["image_grid_thw"].tolist() == [[1, 4, 4], [1, 6, 10]]
    assert by_proc["image_grid_thw"].tolist() == [[1, 2, 2], [1, 2, 4]]
    image_id = tok.convert_tokens_to_ids(qc.IMAGE_PAD)
    assert (by_utils["input_ids"] == image_id).sum() == 4 + 15
