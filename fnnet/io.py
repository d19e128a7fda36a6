"""Saving and loading parameter pytrees without pickle: the arrays in a ``.npz`` file, the tree's
structure beside them as JSON, loaded back with ``allow_pickle=False``."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from fnnet import _atomic, _checks

__all__ = ["save", "load"]

_STRUCTURE = "__fnnet_structure__"
_FORMAT = 1


def _encode(tree, leaves):
    """The tree's structure as JSON-able data; leaves become {"leaf": index} and are collected."""
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise TypeError(f"params: dict keys must be strings to be saved, got {list(tree)}")
        return {"dict": {k: _encode(v, leaves) for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)):
        kind = "list" if isinstance(tree, list) else "tuple"
        return {kind: [_encode(v, leaves) for v in tree]}
    if tree is None:
        return {"none": None}
    arr = np.asarray(tree)
    if arr.dtype == object:
        raise TypeError(f"params: leaves must be arrays or numbers, got {type(tree).__name__}")
    leaves.append(arr)
    return {"leaf": len(leaves) - 1}


def _decode(node, arrays):
    ((kind, value),) = node.items()
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in value.items()}
    if kind == "list":
        return [_decode(v, arrays) for v in value]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in value)
    if kind == "none":
        return None
    return arrays[f"leaf_{value}"]


def save(path: str | os.PathLike, params) -> None:
    """Writes ``params`` (nested dicts, lists and tuples of arrays) to ``path`` (``.npz``).

    The file is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    leaves: list[np.ndarray] = []
    structure = _encode(jax.device_get(params), leaves)
    path = os.fspath(path)
    arrays = {f"leaf_{i}": a for i, a in enumerate(leaves)}
    arrays[_STRUCTURE] = np.array(json.dumps({"format": _FORMAT, "tree": structure}))
    _atomic.write(path, lambda f: np.savez(f, **arrays))


def load(path: str | os.PathLike, like=None):
    """Reads a pytree written by :func:`save`, as NumPy arrays.

    Args:
      path: the ``.npz`` file.
      like: optional expectation: an :class:`fnnet.MLP` or a pytree of arrays (or
        ``jax.ShapeDtypeStruct``); the loaded tree must have its structure and shapes.

    Raises:
      ValueError: when the file is not an fnnet parameter file, or does not match ``like``.
    """
    with np.load(os.fspath(path), allow_pickle=False) as f:
        if _STRUCTURE not in f.files:
            raise ValueError(f"path: {os.fspath(path)!r} is not a parameter file saved by fnnet.io")
        meta = json.loads(str(f[_STRUCTURE]))
        arrays = {k: f[k] for k in f.files if k != _STRUCTURE}
    if meta.get("format") != _FORMAT:
        raise ValueError(f"path: unknown fnnet.io format {meta.get('format')!r} in {path!r}")
    tree = _decode(meta["tree"], arrays)
    if like is None:
        return tree
    if hasattr(like, "check_params"):  # an MLP spec
        return like.check_params(tree, name=f"parameters in {os.fspath(path)!r}")
    want, got = jax.tree.structure(like), jax.tree.structure(tree)
    if want != got:
        raise ValueError(
            f"path: the tree in {os.fspath(path)!r} has structure {got}, expected {want}"
        )
    for (p, w), g in zip(jax.tree_util.tree_leaves_with_path(like), jax.tree.leaves(tree)):
        if _checks.shape_of(w) != g.shape:
            raise ValueError(
                f"path: leaf {jax.tree_util.keystr(p)} in {os.fspath(path)!r} has shape "
                f"{g.shape}, expected {_checks.shape_of(w)}"
            )
    return tree
