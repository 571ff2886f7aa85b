"""Generic Hugging Face loading: weights paths and hub ids."""

import pytest

from vlmreward_gym.models import hf_loading


def test_weights_path_errors(tmp_path):
    with pytest.raises(ValueError, match="needs path"):
        hf_loading.resolve_weights(None, "x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hf_loading.resolve_weights(tmp_path / "missing", "x")
    (tmp_path / "f.bin").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        hf_loading.resolve_weights(tmp_path / "f.bin", "x")
    assert hf_loading.resolve_weights("org/model", "x") == "org/model"
