"""Pytrees of arrays (Flax parameters, optax states) as safetensors files: named arrays, never a pickle.

A leaf's name is its path in the tree, its keys joined with ``/`` (``critic/params/members/Linear_0/kernel``,
``critic_opt/0/mu/...``). Reading needs a *template*, a tree of the same structure (a freshly initialised agent or
policy): every leaf of the template is looked up by its name and checked for its shape, so a file made for
another architecture fails with the names that do not match instead of loading into the wrong place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


class TreeFileError(ValueError):
    """A safetensors file does not hold the tree asked for (names missing or shapes different)."""


def _key_name(key: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def leaf_name(path: tuple) -> str:
    """A pytree key path as a name: ``('critic', 'params', 'Linear_0', 'kernel')`` -> ``critic/params/Linear_0/kernel``."""
    return "/".join(_key_name(k) for k in path)


def flatten(tree: Any) -> dict[str, np.ndarray]:
    """Every array leaf of ``tree`` by its :func:`leaf_name` (as a contiguous NumPy array)."""
    return {leaf_name(path): np.ascontiguousarray(np.asarray(leaf))
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def unflatten(template: Any, arrays: Mapping[str, np.ndarray], source: str = "the file") -> Any:
    """``template`` with each leaf replaced by ``arrays[its name]`` (same shape, the template's dtype; safetensors
    stores a scalar as shape (1,), read back as a scalar).

    Raises :class:`TreeFileError` naming the missing names and the shape mismatches."""
    leaves = jax.tree_util.tree_leaves_with_path(template)
    arrays = {name: (np.reshape(a, ()) if np.size(a) == 1 and np.ndim(a) == 1 else a) for name, a in arrays.items()}
    missing = [leaf_name(p) for p, _ in leaves if leaf_name(p) not in arrays]
    wrong = [f"{leaf_name(p)} {tuple(np.shape(arrays[leaf_name(p)]))} (expected {tuple(np.shape(leaf))})"
             for p, leaf in leaves if leaf_name(p) in arrays and np.shape(arrays[leaf_name(p)]) != np.shape(leaf)]
    if missing or wrong:
        raise TreeFileError(f"{source} does not match this architecture: "
                            + "; ".join(filter(None, [f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
                                                      if missing else "", f"other shapes: {', '.join(wrong[:5])}"
                                                      if wrong else ""])))
    values = [np.asarray(arrays[leaf_name(p)], dtype=np.asarray(leaf).dtype) for p, leaf in leaves]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), values)


def save_tree(path: str | Path, tree: Any, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``tree``'s arrays to ``path`` (safetensors); ``metadata`` (JSON-able) goes into the header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(flatten(tree), str(tmp), metadata={"json": json.dumps(dict(metadata or {}), default=str)})
    tmp.replace(path)
    return path


def read_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The named arrays of a safetensors file and the metadata :func:`save_tree` stored (``{}`` if none)."""
    with safe_open(str(path), framework="numpy") as f:
        arrays = {name: f.get_tensor(name) for name in f.keys()}
        header = f.metadata() or {}
    return arrays, json.loads(header["json"]) if "json" in header else {}


def load_tree(path: str | Path, template: Any) -> tuple[Any, dict[str, Any]]:
    """``(tree shaped as template, metadata)`` from a file written by :func:`save_tree`."""
    arrays, metadata = read_arrays(path)
    return unflatten(template, arrays, str(path)), metadata
