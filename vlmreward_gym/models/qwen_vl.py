"""A Qwen3-VL checkpoint for the VLM backends, loaded without torchvision: weights (and an optional
LoRA adapter), tokenizer, video settings and input builder; batches on its device; generated text.

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vlmreward_gym.models.adapters import load_adapter
from vlmreward_gym.models.hf_loading import (config_folder, default_dtype, import_torch_transformers, load_chat_template,
                                             load_error, resolve_weights, to_device)
from vlmreward_gym.models.qwen_chat import QwenInputs
from vlmreward_gym.models.qwen_frames import VideoSpec


class QwenVL:
    """A Qwen3-VL checkpoint loaded through ``from_pretrained``, with torchvision-free inputs.

    Args:
        name: the registry name (for messages).
        path: local checkpoint directory or hub id.
        device, dtype: where and in which precision the weights live.
        model_class: transformers class name (``Qwen3VLForConditionalGeneration`` or ``Qwen3VLModel``).
        spec_overrides: :class:`VideoSpec` fields to override (e.g. ``sizing``, ``frame_max_pixels``).
        adapter: optional peft adapter directory/id loaded on top (:func:`load_adapter`).
        adapter_subfolder: folder of the adapter inside ``adapter``.
        image_sizing: how image entries are sized (see :class:`QwenInputs`).
    """

    def __init__(self, name: str, path: Any, device: str = "cpu", dtype: Any = None,
                 model_class: str = "Qwen3VLForConditionalGeneration", spec_overrides: dict | None = None,
                 adapter: Any = None, adapter_subfolder: str | None = None, image_sizing: str = "processor"):
        torch, transformers = import_torch_transformers("qwen")
        self.torch, self.name, self.device = torch, name, str(device)
        self.path = resolve_weights(path, name)
        self.dtype = default_dtype(torch, self.device, dtype)
        try:
            cls = getattr(transformers, model_class)
            self.model = cls.from_pretrained(self.path, dtype=self.dtype).to(self.device)
            if adapter is not None:
                self.model = load_adapter(self.model, adapter, adapter_subfolder)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as err:
            where = self.path if adapter is None else f"{adapter}{'/' + adapter_subfolder if adapter_subfolder else ''}"
            raise load_error(name, where, err) from err
        self.model.eval()
        self.config_dir = config_folder(self.path)
        load_chat_template(self.tokenizer, self.config_dir)
        self.spec = VideoSpec.from_pretrained(self.config_dir, **(spec_overrides or {}))
        self.inputs = QwenInputs(self.tokenizer, self.spec, self._image_processor(transformers), image_sizing)

    def _image_processor(self, transformers: Any) -> Any:
        cls = getattr(transformers, "Qwen2VLImageProcessorPil", None)
        if cls is None or not (Path(self.config_dir) / "preprocessor_config.json").is_file():
            return None
        return cls.from_pretrained(self.config_dir)

    def batch(self, texts: Sequence[str], videos: Sequence = (), images: Sequence = (),
              padding_side: str = "left") -> dict[str, Any]:
        return to_device(self.inputs(texts, videos, images, padding_side), self.device, self.dtype)

    def generate(self, batch: dict[str, Any], max_new_tokens: int, sample: bool = False,
                 temperature: float = 0.7) -> list[str]:
        """Decode new tokens for each row (greedy, or sampled for retries)."""
        torch = self.torch
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample}
        if sample:
            kwargs.update(temperature=temperature, top_p=0.9)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**batch, **kwargs, pad_token_id=pad)
        new = out[:, batch["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)
