"""Builders of tiny, randomly initialised checkpoints in the released models' layouts (plumbing only).

Each builder writes a directory that the backends load through their real ``from_pretrained`` /
safetensors / peft paths: a byte-level BPE tokenizer built offline (the 256 byte symbols plus
Qwen3-VL's special tokens and a Qwen3-VL-style chat template), a Qwen3-VL config with two text and
two vision layers, and the processor configs.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]

# A reduced form of Qwen3-VL's chat template: the same turn markers, newlines and vision slots
# ('<|im_start|>' role '\n' ... '<|im_end|>\n', generation prompt '<|im_start|>assistant\n').
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'video' -%}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif item['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- else -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def random_clip(t: int = 5, h: int = 64, w: int = 48, seed: int = 0):
    """A ``(t, h, w, 3)`` uint8 clip of random pixels."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def build_tokenizer(folder: Path, extra_tokens: list[str] = ()):
    """A byte-level BPE tokenizer (no merges) saved to ``folder``; returns it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_symbols = pre_tokenizers.ByteLevel.alphabet()
    vocab = {s: i for i, s in enumerate(sorted(byte_symbols))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=SPECIALS[1:] + list(extra_tokens))
    tok.add_special_tokens({"additional_special_tokens": SPECIALS[1:] + list(extra_tokens)})
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(folder)
    return tok


def qwen3_vl_config(tok, hidden: int = 64):
    from transformers import Qwen3VLConfig

    ids = tok.convert_tokens_to_ids(SPECIALS)
    return Qwen3VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                          "mrope_interleaved": True},
                         pad_token_id=ids[0], eos_token_id=ids[2], bos_token_id=ids[0]),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[1]),
        image_token_id=ids[5], video_token_id=ids[6], vision_start_token_id=ids[3], vision_end_token_id=ids[4],
        tie_word_embeddings=True)


def write_processor_configs(folder: Path, max_pixels: int = 64 * 64 * 4) -> None:
    """Small pixel budgets so clips stay a few tokens per frame."""
    video = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5] * 3,
             "image_std": [0.5] * 3, "size": {"shortest_edge": 32 * 32, "longest_edge": max_pixels}}
    (folder / "video_preprocessor_config.json").write_text(json.dumps(video))
    image = {"image_processor_type": "Qwen2VLImageProcessorPil", "patch_size": 16, "temporal_patch_size": 2,
             "merge_size": 2, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
             "size": {"shortest_edge": 32 * 32, "longest_edge": 64 * 64}}
    (folder / "preprocessor_config.json").write_text(json.dumps(image))


def build_qwen3_vl(folder: Path, seed: int = 0) -> Path:
    """A tiny ``Qwen3VLForConditionalGeneration`` checkpoint (RoboReward / TOPReward / LRM base layout)."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(qwen3_vl_config(tok)).eval()
    model.save_pretrained(folder)
    write_processor_configs(folder)
    return folder


ROBOMETER_TOKENS = ["<|split_token|>", "<|reward_token|>", "<|pref_token|>", "<|sim_token|>", "<|prog_token|>"]


def build_robometer(folder: Path, model_settings: dict, seed: int = 0, data: dict | None = None,
                    training: dict | None = None, progress_outputs: int | None = None) -> Path:
    """A tiny Robometer checkpoint in the release layout: config.json (Qwen3-VL), config.yaml,
    tokenizer with the five added tokens, and safetensors with ``model.*`` + head weights."""
    import torch
    import yaml
    from safetensors.torch import save_file
    from transformers import Qwen3VLModel

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder, ROBOMETER_TOKENS)
    config = qwen3_vl_config(tok)
    config.architectures = ["RFM"]
    config.save_pretrained(folder)
    torch.manual_seed(seed)
    body = Qwen3VLModel(config)
    state = {f"model.{k}": v for k, v in body.state_dict().items()}
    hidden, half = config.text_config.hidden_size, config.text_config.hidden_size // 2
    bins = model_settings.get("progress_discrete_bins") if model_settings.get("progress_loss_type") == "discrete" else 1
    bins = progress_outputs or bins
    for head, out in (("progress_head", bins), ("preference_head", 1), ("success_head", 1)):
        state[f"{head}.0.weight"], state[f"{head}.0.bias"] = torch.randn(half, hidden) * 0.2, torch.zeros(half)
        state[f"{head}.1.weight"], state[f"{head}.1.bias"] = torch.ones(half), torch.zeros(half)
        state[f"{head}.4.weight"], state[f"{head}.4.bias"] = torch.randn(out, half) * 0.2, torch.zeros(out)
    state["frame_pool_attn.weight"] = torch.randn(1, hidden) * 0.1
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    settings = {"base_model_id": "Qwen/Qwen3-VL-4B-Instruct", **model_settings}
    sections = {"model": settings, "data": {"max_frames": 8, **(data or {})}, "training": training or {}}
    (folder / "config.yaml").write_text(yaml.safe_dump(sections))
    write_processor_configs(folder)
    return folder


def build_clip(folder: Path, kind: str = "clip", seed: int = 0) -> Path:
    """A tiny CLIP or SigLIP dual encoder with the byte-level tokenizer and a PIL image processor config."""
    import torch
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    torch.manual_seed(seed)
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=64, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.pad_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                  patch_size=8)
    if kind == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
        proc = {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 32},
                "crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "do_resize": True,
                "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711]}
    else:
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        tok.model_max_length = 16
        tok.save_pretrained(folder)
        proc = {"image_processor_type": "SiglipImageProcessor", "size": {"height": 32, "width": 32},
                "do_resize": True, "do_normalize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(proc))
    return folder


def build_lora_adapters(base: Path, folder: Path, names=("contrastive", "progress", "completion"),
                        modules_to_save: list[str] | None = None, zero_b: bool = False) -> Path:
    """LoRA adapters (one subfolder per name) on the tiny Qwen3-VL at ``base``, saved by peft.

    ``modules_to_save`` (e.g. LRM progress's ``["visual", "merger"]``) saves whole modules too;
    ``zero_b`` keeps peft's initial all-zero B matrices (an adapter that changes nothing).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3VLForConditionalGeneration

    for i, name in enumerate(names):
        torch.manual_seed(100 + i)
        model = Qwen3VLForConditionalGeneration.from_pretrained(base)
        peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                      modules_to_save=modules_to_save, init_lora_weights=zero_b))
        if modules_to_save:  # make the saved copies differ from the base weights
            with torch.no_grad():
                for n, p in peft_model.named_parameters():
                    if "modules_to_save" in n:
                        p.add_(0.01)
        peft_model.save_pretrained(folder / name)
    return folder


def build_full_models(folder: Path, names=("contrastive", "progress", "completion")) -> Path:
    """Merged full checkpoints (no adapter_config.json), one subfolder per name: LRM's other layout."""
    for i, name in enumerate(names):
        build_qwen3_vl(folder / name, seed=200 + i)
    return folder
