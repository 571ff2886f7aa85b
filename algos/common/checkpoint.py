"""Checkpoints that let an interrupted run resume: weights, optimizer, counters and RNG states.

A checkpoint holds tensors and plain data only (dicts, lists, tuples, strings, numbers, booleans,
None) and is read with ``torch.load(weights_only=True)``, which refuses anything else: a run folder
may be shared, and unpickling a file someone else could have written would run their code.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

PLAIN = (str, int, float, bool, type(None))
# Fields of the run's config that say where and how it logs, not what it computes: a resume may change them.
RESUMABLE_CHANGES = ("run_dir", "resume", "tensorboard", "progress_bar", "torch_threads", "total_timesteps")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read, holds more than tensors and plain data, or belongs to another config."""


def rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's global and torch's RNGs, as tensors and plain data.

    NumPy's bit-generator state (a ``uint32`` key and counters) is stored with its key as an
    int64 tensor, so the checkpoint needs no NumPy pickling.
    """
    numpy = np.random.get_state(legacy=False)
    numpy["state"] = {**numpy["state"], "key": torch.from_numpy(numpy["state"]["key"].astype(np.int64))}
    return {"python": random.getstate(), "numpy": numpy, "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = dict(state["numpy"])
    numpy["state"] = {**numpy["state"], "key": np.asarray(numpy["state"]["key"], np.int64).astype(np.uint32)}
    np.random.set_state(numpy)
    torch.set_rng_state(state["torch"])


def _check_plain(value: Any, where: str) -> None:
    """Raise :class:`TypeError` naming the first value below ``where`` that is neither a tensor nor plain data."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, PLAIN):
                raise TypeError(f"checkpoint key {where}[{key!r}] is a {type(key).__name__}, not plain data")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, (torch.Tensor, *PLAIN)):
        raise TypeError(f"checkpoint value {where} is a {type(value).__name__}; a checkpoint holds tensors and plain "
                        f"data only (convert it, e.g. a NumPy array with torch.from_numpy)")


def save_checkpoint(path: str | Path, **state: Any) -> Path:
    """Write ``state`` (state dicts, counters, plain data) atomically: a crash mid-write keeps the old file.

    Raises :class:`TypeError` if ``state`` holds anything :func:`load_checkpoint` would refuse.
    """
    _check_plain(state, "state")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; nothing but tensors and plain data is unpickled.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt, or holds other objects (refused, never run);
            the message names the file and how to recover.
    """
    path = Path(path)
    recover = f"delete {path} to start the run over, or run without --resume"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: pass an existing checkpoint.pt to --resume, or --resume auto")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        unsafe = _unsafe_globals(path)
        if unsafe:
            raise CheckpointError(
                f"refusing checkpoint {path}: besides tensors and plain data it holds {', '.join(unsafe)}, which "
                f"could run code when loaded (or it was written by an older version of this package); "
                f"{recover}") from None
        # torch's own unpickling message advises turning the weights-only check off: not advice to pass on
        reason = "not a checkpoint" if isinstance(error, pickle.UnpicklingError) or not str(error) \
            else str(error).splitlines()[0]
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or corrupt: {reason}); {recover}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict of state; {recover}")
    return state


def _unsafe_globals(path: Path) -> list[str]:
    """The classes and functions a checkpoint file would import when unpickled, beyond torch's safe ones
    (read without unpickling); empty if there are none or the file is no readable checkpoint."""
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001  (not a torch zip file: corrupt, reported as such)
        return []


def config_changes(saved: Mapping[str, Any], current: Mapping[str, Any],
                   ignored: tuple[str, ...] = RESUMABLE_CHANGES) -> dict[str, tuple[Any, Any]]:
    """``{field: (saved value, current value)}`` for the config fields that differ, ``ignored`` left out.

    Both sides are compared as JSON, so a tuple equals the list it was saved as."""
    as_json = lambda d: json.loads(json.dumps(dict(d), default=str))  # noqa: E731
    before, after = as_json(saved), as_json(current)
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
            if k not in ignored and before.get(k) != after.get(k)}


def check_same_config(path: str | Path, saved: Mapping[str, Any] | None, current: Mapping[str, Any]) -> None:
    """Refuse to resume from checkpoint ``path`` (config ``saved``) with a config that differs from it.

    Raises :class:`CheckpointError` naming each differing field with both values (or saying the
    checkpoint records no config)."""
    if saved is None:
        raise CheckpointError(f"refusing to resume from {path}: it records no config to check against; "
                              f"start a new run without --resume")
    changes = config_changes(saved, current)
    if changes:
        listed = "; ".join(f"{k}: {old!r} in the checkpoint, {new!r} now" for k, (old, new) in changes.items())
        raise CheckpointError(f"refusing to resume from {path}: it was made with another config ({listed}). "
                              f"Resume with the checkpoint's settings, or start a new run without --resume")
