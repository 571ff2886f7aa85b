"""LoRA adapter loading: which ``modules_to_save`` entries are dropped (loading itself: test_backends)."""

from vlmreward_gym.models import adapters


def test_nested_modules_to_save():
    names = ["model.visual", "model.visual.merger", "model.visual.blocks.0", "model.language_model", "lm_head"]
    assert adapters.nested_modules_to_save(["visual", "merger"], names) == ["merger"]
    assert adapters.nested_modules_to_save(["visual", "lm_head"], names) == []
    assert adapters.nested_modules_to_save(["merger"], names) == []
