"""Checkpoints: tensors and plain data only, never unpickling code; unreadable ones name the file and the way out."""

import random

import numpy as np
import pytest
import torch

from vlmreward_rl.algos.common.checkpoint import (CheckpointError, check_same_config, load_checkpoint, rng_state, save_checkpoint,
                                     set_rng_state)


class _WritesAFile:
    """Unpickling this runs ``exec``: what a crafted checkpoint in a shared run folder could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_a_crafted_checkpoint_is_refused_without_running_its_code(tmp_path):
    marker, path = tmp_path / "pwned.txt", tmp_path / "checkpoint.pt"
    torch.save({"agent": {}, "iteration": 1, "payload": _WritesAFile(marker)}, path)
    with pytest.raises(CheckpointError, match=f"refusing checkpoint {path}: .* holds builtins.exec, which could run code"):
        load_checkpoint(path)
    assert not marker.exists()


def test_rng_states_and_tensors_round_trip(tmp_path):
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    state = rng_state()
    expected = (random.random(), np.random.standard_normal(3), torch.rand(3))
    path = save_checkpoint(tmp_path / "c.pt", rng=state, weights={"w": torch.ones(2)}, args={"seed": 3, "t": (1, 2)})
    loaded = load_checkpoint(path)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    set_rng_state(loaded["rng"])
    assert random.random() == expected[0]
    assert np.array_equal(np.random.standard_normal(3), expected[1]) and torch.equal(torch.rand(3), expected[2])
    assert torch.equal(loaded["weights"]["w"], torch.ones(2)) and loaded["args"] == {"seed": 3, "t": (1, 2)}


def test_saving_anything_but_tensors_and_plain_data_is_an_error(tmp_path):
    with pytest.raises(TypeError, match=r"state\['rng'\]\['key'\] is a ndarray"):
        save_checkpoint(tmp_path / "c.pt", rng={"key": np.zeros(3)})
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_an_unreadable_checkpoint_names_the_file_and_the_way_out(tmp_path, damage):
    path = save_checkpoint(tmp_path / "checkpoint.pt", weights=torch.arange(1000.0))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match=str(path)) as error:
        load_checkpoint(path)
    assert ("delete" in str(error.value) and "without --resume" in str(error.value)) or damage == "missing"


def test_resuming_with_another_config_names_the_differing_fields(tmp_path):
    saved = {"model": "noisy-oracle", "model_kwargs": {"mae": 0.5}, "seed": 1, "run_dir": "a", "total_timesteps": 8}
    check_same_config("ck.pt", saved, {**saved, "run_dir": "b", "total_timesteps": 16})  # where it logs, its budget
    with pytest.raises(CheckpointError, match=r"ck.pt.*model_kwargs: \{'mae': 0.5\} in the checkpoint, "
                                              r"\{'mae': 1.0\} now; seed: 1 in the checkpoint, 2 now"):
        check_same_config("ck.pt", saved, {**saved, "model_kwargs": {"mae": 1.0}, "seed": 2})
