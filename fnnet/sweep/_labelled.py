"""A sweep's results as labelled data for its analysis: an ``xarray.Dataset`` whose dimensions are
the grid's names and ``"seed"``, and a pandas data frame of one row per grid point and seed.

xarray and pandas are optional (fnnet's ``analysis`` extra); each is imported where it is used.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np

from fnnet import _checks

__all__ = ["SEED", "attributes", "dataframe", "dataset", "leaf_names"]

SEED = "seed"
"""The name of the seed dimension (and column)."""

_EXTRA = "analysis"
_DIVERGED = "True where a floating (or complex) leaf of the seed's result is NaN or infinite"


def _part(entry) -> str:
    """One entry of a leaf's path as a name: a dict key, a sequence index or an attribute."""
    for field in ("key", "idx", "name"):
        if hasattr(entry, field):
            return str(getattr(entry, field))
    return str(entry)


def leaf_names(values) -> list[tuple[str, str, np.ndarray]]:
    """``(name, path, leaf)`` for every leaf of the result tree ``values``: the name joins the
    leaf's path with dots (``"loss"``, ``"params.0.W"``); results that are not a dict (or an
    object with fields) at the top start with ``"result"`` (``"result"``, ``"result.0"``). The
    path is ``jax.tree_util.keystr``'s."""
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(values):
        parts = [_part(entry) for entry in path]
        if not path or hasattr(path[0], "idx"):
            parts = ["result", *parts]
        out.append((".".join(parts), jax.tree_util.keystr(path), np.asarray(leaf)))
    return out


def attributes(results) -> dict:
    """The settings of the sweep that gave ``results``, as attributes a netCDF file can hold:
    ``name``, ``program`` (where the sweep had an ``out`` folder), ``n_seeds``, ``chunk_size``,
    ``key_impl``, ``key_data`` and the ``fnnet``, ``jax`` and ``jaxlib`` versions (each
    ``*_version``)."""
    s = results.settings or {}
    attrs = {
        "name": s.get("name"),
        "program": s.get("program"),
        "n_seeds": int(results.n_seeds),
        "chunk_size": s.get("chunk_size"),
        "key_impl": s.get("key", {}).get("impl"),
        "key_data": s.get("key", {}).get("data"),
        **{f"{k}_version": s.get(k) for k in ("fnnet", "jax", "jaxlib")},
    }
    return {k: v for k, v in attrs.items() if v is not None}


def _layout(results) -> tuple[tuple[str, ...], list, dict]:
    """The leading dimensions (grid names, then the seed), every leaf with its name, path and
    trailing dimensions, and the coordinates; raises where two of the names coincide."""
    dims = (*results.grid, SEED)
    leaves = [
        (name, path, leaf, tuple(f"{name}_dim{j}" for j in range(leaf.ndim - len(dims))))
        for name, path, leaf in leaf_names(results.values)
    ]
    names = [*dims, "diverged", *(n for n, *_ in leaves), *(d for *_, t in leaves for d in t)]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(
            f"results: expected distinct names for the grid's dimensions, {SEED!r}, 'diverged' "
            f"and the result leaves (and their trailing dimensions), got {clashes} more than "
            "once; rename the grid's or train_one's results"
        )
    coords = {k: np.asarray(v) for k, v in results.grid.items()}
    coords[SEED] = np.arange(results.n_seeds)
    return dims, leaves, coords


def dataset(results):
    """``results`` (a :class:`fnnet.sweep.Results`) as an ``xarray.Dataset``; see
    :meth:`fnnet.sweep.Results.to_xarray`."""
    xr = _checks.require("xarray", "xarray", _EXTRA, "by Results.to_xarray")
    dims, leaves, coords = _layout(results)
    data = {name: (dims + trailing, leaf, {"path": path}) for name, path, leaf, trailing in leaves}
    data["diverged"] = (dims, np.asarray(results.diverged), {"description": _DIVERGED})
    coords = {k: (k, v) for k, v in coords.items()}
    return xr.Dataset(data, coords=coords, attrs=attributes(results))


def dataframe(results):
    """``results`` (a :class:`fnnet.sweep.Results`) as a pandas ``DataFrame`` in long form; see
    :meth:`fnnet.sweep.Results.to_dataframe`."""
    pd = _checks.require("pandas", "pandas", _EXTRA, "by Results.to_dataframe")
    dims, leaves, coords = _layout(results)
    shape = tuple(len(v) for v in coords.values())
    rows = int(np.prod(shape))
    index = np.indices(shape).reshape(len(shape), rows)
    columns = {d: coords[d][i] for d, i in zip(dims, index)}
    for name, _, leaf, trailing in leaves:
        flat = leaf.reshape(rows, -1)
        if not trailing:
            columns[name] = flat[:, 0]
            continue
        for e, at in enumerate(itertools.product(*map(range, leaf.shape[len(dims) :]))):
            columns[f"{name}[{','.join(map(str, at))}]"] = flat[:, e]
    columns["diverged"] = np.asarray(results.diverged).reshape(rows)
    frame = pd.DataFrame(columns)
    frame.attrs = attributes(results)
    return frame
