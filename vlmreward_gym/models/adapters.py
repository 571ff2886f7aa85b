"""LoRA adapters (peft) loaded on top of a base checkpoint, as LRM's released adapters need.

Source: physical-superintelligence-lab/Large-Reward-Models ``vlm_reward/vlm_reward_server.py``
(``load_vlm_multi_adapter``: nested ``modules_to_save`` entries dropped, all-zero LoRA warning).
Nothing here imports peft or torch at module import time.
"""

from __future__ import annotations

from typing import Any, Sequence


def nested_modules_to_save(names: Sequence[str], module_names: Sequence[str]) -> list[str]:
    """The ``modules_to_save`` entries whose every module lies inside a module of another entry.

    peft matches an entry to each module whose name equals it or ends with ``"." + entry``.
    LRM's released progress adapter lists both the vision tower ``visual`` and its own ``merger``;
    peft cannot wrap a module inside an already wrapped one (loading fails), while wrapping
    ``visual`` alone already restores every merger weight. The release's tri-head server drops
    the nested entry for the same reason (physical-superintelligence-lab/Large-Reward-Models
    vlm_reward/vlm_reward_server.py, ``load_vlm_multi_adapter``).
    """
    def matches(entry: str) -> list[str]:
        return [m for m in module_names if m == entry or m.endswith("." + entry)]

    found = {entry: matches(entry) for entry in names}
    nested = []
    for entry, mods in found.items():
        outer = [m for other, ms in found.items() if other != entry and other not in nested for m in ms]
        if mods and all(any(m.startswith(o + ".") for o in outer) for m in mods):
            nested.append(entry)
    return nested


def load_adapter(model: Any, adapter: Any, subfolder: str | None = None) -> Any:
    """``PeftModel.from_pretrained`` on ``model``, minus nested ``modules_to_save`` entries.

    Raises ValueError when the adapter's LoRA ``B`` matrices are all zero: peft then leaves the
    base model unchanged (the release's server warns of this failure mode), which would score
    with the base model silently.
    """
    from peft import PeftConfig, PeftModel

    kwargs = {"subfolder": subfolder} if subfolder else {}
    config = PeftConfig.from_pretrained(adapter, **kwargs)
    if getattr(config, "modules_to_save", None):
        drop = nested_modules_to_save(list(config.modules_to_save), [n for n, _ in model.named_modules()])
        config.modules_to_save = [m for m in config.modules_to_save if m not in drop]
    peft_model = PeftModel.from_pretrained(model, adapter, config=config, **kwargs)
    lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    if lora_b and not any(bool(p.detach().abs().sum()) for p in lora_b):
        raise ValueError(f"the adapter {adapter!r}{f' ({subfolder})' if subfolder else ''} loaded with all-zero "
                         f"LoRA B weights: it would leave the base model unchanged")
    return peft_model
