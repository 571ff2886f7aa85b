"""Generic Hugging Face loading, shared by the Qwen3-VL backends, Robometer and CLIP: the torch /
transformers import, weights paths (local folders or hub ids) and load errors, dtype and device,
and a checkpoint's small config files (processor configs, chat template).

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def import_torch_transformers(extra: str = "qwen") -> tuple[Any, Any]:
    """``(torch, transformers)``, or an ImportError naming the extra to install."""
    try:
        import torch
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(f"this reward model needs torch and transformers: pip install 'vlmreward-gym[{extra}]' "
                          f"(and torch==2.13.0 first, see install.sh)") from err
    return torch, transformers


def resolve_weights(path: str | Path | None, name: str) -> str:
    """A local checkpoint directory or a hub id for ``from_pretrained``; clear errors otherwise."""
    if path is None or str(path).strip() == "":
        raise ValueError(f"reward model {name!r} needs path=<local checkpoint directory or hub id>")
    local = Path(path).expanduser()
    if local.is_dir():
        return str(local)
    if local.exists():
        raise NotADirectoryError(f"weights path for {name!r} must be a checkpoint directory, got the file {local}")
    text = str(path)
    if text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise FileNotFoundError(f"weights path for {name!r} does not exist: {local}")
    return text  # a hub id: from_pretrained resolves it (fails cleanly when offline)


def load_error(name: str, path: str, err: Exception) -> OSError:
    return OSError(f"could not load the weights of reward model {name!r} from {path!r}: {err}. Pass path= a local "
                   f"checkpoint directory (no hub download happens with HF_HUB_OFFLINE=1).")


def torch_dtype(torch: Any, dtype: Any) -> Any:
    """``"bfloat16"`` / ``"float32"`` / a torch dtype / None (float32 on CPU, bfloat16 on GPU) to a torch dtype."""
    if dtype is None or dtype == "auto":
        return None
    if isinstance(dtype, str):
        value = getattr(torch, dtype.replace("torch.", ""), None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}")
        return value
    return dtype


def default_dtype(torch: Any, device: str, dtype: Any) -> Any:
    chosen = torch_dtype(torch, dtype)
    if chosen is None:
        chosen = torch.float32 if str(device).startswith("cpu") else torch.bfloat16
    return chosen


def to_device(batch: dict[str, Any], device: Any, dtype: Any) -> dict[str, Any]:
    """Move tensors to ``device``; floating pixel tensors also to ``dtype``."""
    return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in batch.items()}


def config_folder(path: str) -> str:
    """A local folder holding the checkpoint's small config files (a hub id's come from the HF cache)."""
    if Path(path).is_dir():
        return path
    from huggingface_hub import snapshot_download

    return snapshot_download(path, allow_patterns=["*.json", "*.jinja"])


def load_chat_template(tokenizer: Any, path: str) -> None:
    """Give the tokenizer the checkpoint's chat template when only the processor files carry it."""
    if getattr(tokenizer, "chat_template", None):
        return
    folder = Path(path)
    if (folder / "chat_template.jinja").is_file():
        tokenizer.chat_template = (folder / "chat_template.jinja").read_text()
    elif (folder / "chat_template.json").is_file():
        tokenizer.chat_template = json.loads((folder / "chat_template.json").read_text())["chat_template"]
    else:
        raise ValueError(f"the checkpoint at {path!r} has no chat template (tokenizer_config.json, "
                         f"chat_template.jinja or chat_template.json)")
