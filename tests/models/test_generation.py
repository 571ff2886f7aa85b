"""Generation with parsed answers (behaviour on tiny checkpoints: test_backends)."""

from typing import Any, get_type_hints

from vlmreward_gym.models import generation


def test_generate_parsed_is_annotated_with_its_three_results():
    assert get_type_hints(generation.generate_parsed)["return"] == tuple[list[Any], list[list[str]], list[int]]
