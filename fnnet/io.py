"""Saving and loading parameter pytrees without pickle: ``load(save(path, tree))`` is ``tree``
exactly (dicts, lists, tuples, NamedTuple types, Nones; leaves as NumPy arrays of the same dtype,
bfloat16 included, shape and values), and any other outcome is an error whose message starts
with the argument at fault (``path:``, ``params:``, ``like:``) and names the file.

The file is an uncompressed ``.npz``: one ``leaf_<i>.npy`` per array and, in
``__fnnet_structure__.npy``, the tree as JSON, read back with ``allow_pickle=False``::

    {"format": 1, "tree": NODE, "dtypes": {"<i>": "bfloat16"}}      ("dtypes" only when needed)
    NODE = {"dict": {"key": NODE}} | {"list": [NODE]} | {"tuple": [NODE]} | {"none": null}
         | {"leaf": i} | {"namedtuple": {"type": "module:QualName", "fields": {"name": NODE}}}

Dtypes NumPy lacks (bfloat16 and the other ``ml_dtypes``) are stored as unsigned integers of their
width, with their name under "dtypes". A NamedTuple is rebuilt from its type, looked up in modules
already imported (or a submodule of a package already imported): a file names no code to import.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import re
import struct
import sys
import zipfile
import zlib

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from fnnet import _atomic, _checks
from fnnet.mlp import MLP

__all__ = ["save", "load"]

_STRUCTURE = "__fnnet_structure__"
_FORMAT = 1
# Deeper trees are refused at save and at load. Real parameter trees are a few levels deep; the
# cap keeps json's and this module's recursion far below Python's limit of 1000 frames.
_MAX_DEPTH = 100
_NATIVE_KINDS = "biufc"  # bool, int, uint, float, complex: what .npy stores as itself
_KINDS = ("dict", "list", "tuple", "none", "leaf", "namedtuple")
# what a damaged zip or .npy member raises inside zipfile, zlib and numpy's header parser
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    struct.error,
    ValueError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)


# -- save ------------------------------------------------------------------------------------------
def _extra_dtype(name) -> np.dtype | None:
    """The ml_dtypes dtype called ``name`` (bfloat16, float8_e4m3fn, int4, ...), else None."""
    t = getattr(ml_dtypes, name, None) if isinstance(name, str) and name.isidentifier() else None
    if isinstance(t, type) and issubclass(t, np.generic):
        dtype = np.dtype(t)
        if dtype.kind not in _NATIVE_KINDS and dtype.name == name:
            return dtype
    return None


def _leaf(x, where: str, leaves: list, dtypes: dict) -> dict:
    """Appends leaf ``x`` as an array to ``leaves`` and returns its node."""
    what = f"params: leaf {where or '(the root)'}"
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended):
        raise TypeError(f"{what} is a PRNG key array ({x.dtype}); save jax.random.key_data(key)")
    if not _checks.is_concrete(x):
        raise TypeError(
            f"{what} is a traced value (inside jit, grad or vmap); save concrete arrays"
        )
    try:
        arr = None if isinstance(x, (str, bytes)) else np.asarray(x)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.dtype.kind not in _NATIVE_KINDS:
        if arr is not None and _extra_dtype(arr.dtype.name) == arr.dtype:
            dtypes[str(len(leaves))] = arr.dtype.name
            arr = arr.view(np.dtype(f"u{arr.dtype.itemsize}"))
        else:
            got = type(x).__name__ if arr is None or arr.dtype == object else f"dtype {arr.dtype}"
            raise TypeError(
                f"{what}: expected an array or number (bool, int, float, complex or an ml_dtypes "
                f"float such as bfloat16), got {got} ({_short(x)})"
            )
    leaves.append(arr)
    return {"leaf": len(leaves) - 1}


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode(tree, leaves: list, dtypes: dict, where: str = "", depth: int = 0) -> dict:
    """The JSON node of ``tree``; its arrays are appended to ``leaves``, and the names of dtypes
    NumPy lacks go to ``dtypes`` by leaf index. Only exact dicts, lists and tuples, NamedTuples
    whose type can be found again by import, and None are containers: a subclass of dict, list or
    tuple would come back as its base class, so it is refused rather than silently changed."""
    if depth > _MAX_DEPTH:
        raise ValueError(
            f"params: the tree is nested deeper than {_MAX_DEPTH} levels; fnnet.io saves "
            "parameter trees up to that depth"
        )
    kind = type(tree)
    if kind is dict:
        for k in tree:
            if not isinstance(k, str):
                raise TypeError(
                    f"params: dict keys must be strings to be saved, got {k!r} "
                    f"({type(k).__name__}) in the dict at {where or '(the root)'}"
                )
        return {
            "dict": {
                k: _encode(v, leaves, dtypes, f"{where}[{k!r}]", depth + 1) for k, v in tree.items()
            }
        }
    if kind is list or kind is tuple:
        items = [_encode(v, leaves, dtypes, f"{where}[{i}]", depth + 1) for i, v in enumerate(tree)]
        return {kind.__name__: items}
    if isinstance(tree, tuple) and hasattr(kind, "_fields") and hasattr(kind, "_make"):
        ref = _type_ref(kind)
        found, why = _find_namedtuple(ref)
        if found is not kind:
            raise TypeError(
                f"params: the NamedTuple at {where or '(the root)'} has type {ref!r}, which load "
                f"could not find again ({why or 'the name leads to another object'}); define it "
                "at module level, or save a plain tuple"
            )
        fields = {
            f: _encode(v, leaves, dtypes, f"{where}.{f}", depth + 1)
            for f, v in zip(kind._fields, tree)
        }
        return {"namedtuple": {"type": ref, "fields": fields}}
    if tree is None:
        return {"none": None}
    if isinstance(tree, (dict, list, tuple)):
        base = next(b for b in (dict, list, tuple) if isinstance(tree, b)).__name__
        raise TypeError(
            f"params: {where or '(the root)'} has type {kind.__name__}, a subclass of {base} that "
            f"load would give back as a plain {base}; convert it with {base}(...) before saving"
        )
    return _leaf(tree, where, leaves, dtypes)


def save(path: str | os.PathLike, params) -> str:
    """Writes ``params`` (nested dicts, lists, tuples and NamedTuples of arrays, numbers and
    None) to ``path``, adding ``.npz`` when the name lacks it, and returns the path written.

    The file is written to a temporary name and renamed, so a crash never leaves half a file; it
    gets the mode the user's umask gives new files.

    Examples:
      >>> import os, tempfile, numpy as np
      >>> path = save(os.path.join(tempfile.mkdtemp(), "w"), {"W": np.ones((2, 3))})
      >>> path.endswith("w.npz"), load(path)["W"].shape
      (True, (2, 3))

    Raises:
      TypeError: ``params`` is None, or holds something other than the above (a str, an object,
        a dict with non-string keys, a PRNG key array, a NamedTuple type defined in a function).
      FileNotFoundError: the folder of ``path`` does not exist.
    """
    path = _checks.path(path)
    if not path.endswith(".npz"):
        path += ".npz"
    if params is None:
        raise TypeError(
            "params: expected a pytree of arrays (nested dicts, lists and tuples), got None; "
            f"nothing was written to {path!r}"
        )
    leaves: list[np.ndarray] = []
    dtypes: dict[str, str] = {}
    try:
        meta = {"format": _FORMAT, "tree": _encode(params, leaves, dtypes)}
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e}; nothing was written to {path!r}") from None
    if dtypes:
        meta["dtypes"] = dtypes
    arrays = {f"leaf_{i}": a for i, a in enumerate(leaves)}
    arrays[_STRUCTURE] = np.array(json.dumps(meta))
    try:
        _atomic.write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        if str(e).startswith("path:"):
            raise
        raise type(e)(f"path: cannot write {path!r}: {e.strerror or e}") from e
    return path


# -- load ------------------------------------------------------------------------------------------
class _Invalid(ValueError):
    """A problem with a file's content; :func:`load` adds the path."""


def _find_file(path: str) -> str:
    """``path``, or ``path + ".npz"`` where only that exists, as :func:`save` names files."""
    candidates = [path] if path.endswith(".npz") else [path, path + ".npz"]
    for c in candidates:
        if os.path.exists(c) and not os.path.isdir(c):
            return c
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"path: {path!r} is a folder, expected a file saved by fnnet.io.save"
        )
    tried = " or ".join(map(repr, candidates))
    raise FileNotFoundError(f"path: no file {tried}")


def _looks_like(raw: bytes) -> str:
    """What a file that is not a zip seems to be, for messages."""
    if not raw:
        return "the file is empty"
    if raw.startswith(b"\x93NUMPY"):
        return "it is a single .npy array (np.save), not an .npz of fnnet.io.save"
    if raw.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed"
    text = raw[:512].decode("utf-8", errors="replace")
    if all(c.isprintable() or c.isspace() for c in text) and "\ufffd" not in text:
        return f"it looks like text ({text[:40]!r}...), not a zip archive"
    return f"it starts with bytes {raw[:8].hex()}, not a zip header 504b0304"


def _npy(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """The array of one ``.npy`` member, read as a stream: its header first, then exactly the
    bytes the header declares. The member must fill the size the zip directory records for it:
    a header claiming more data than that fails before anything is allocated, one claiming less
    would leave bytes unread (and the member's CRC unchecked), so it fails too; a member that
    inflates beyond the recorded size is never inflated past it (a zip bomb costs nothing)."""
    name = info.filename
    with z.open(info) as f:
        shape, fortran, dtype = _npy_header(f, name)
        count = math.prod(shape)  # Python ints: a forged shape cannot wrap around
        have = info.file_size - f.tell()
        if count * dtype.itemsize != have:
            raise _Invalid(
                f"member {name!r} claims shape {shape} of {dtype} ({count * dtype.itemsize} "
                f"bytes) but holds {have} bytes"
            )
        data = f.read(have)
        if len(data) != have or f.read(1):  # the read to the end checks the member's CRC
            raise _Invalid(f"member {name!r} does not hold the {have} bytes its directory says")
    if count == 0:
        return np.empty(shape, dtype, order="F" if fortran else "C")
    flat = np.frombuffer(data, dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


def _npy_header(f, name: str):
    """(shape, fortran order, dtype) from the ``.npy`` header at the start of stream ``f``; a
    numeric dtype only."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise _Invalid(f"member {name!r} has .npy version {version}, expected (1, 0) or (2, 0)")
    if dtype.hasobject or dtype.kind not in _NATIVE_KINDS + "U":
        raise _Invalid(f"member {name!r} has dtype {dtype}, expected a numeric array")
    return shape, fortran, dtype


def _read_arrays(raw: bytes) -> dict[str, np.ndarray]:
    """The arrays of an fnnet ``.npz`` by name (without ``.npy``), CRC-checked."""
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        names = z.namelist()
        if f"{_STRUCTURE}.npy" not in names:
            members = ", ".join(map(repr, names[:5])) + (", ..." if len(names) > 5 else "")
            raise _Invalid(f"it is a zip archive without {_STRUCTURE}.npy (members: {members})")
        if len(set(names)) != len(names):
            raise _Invalid("it names a member twice")
        arrays = {}
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                raise _Invalid(f"it holds {info.filename!r}, which is not an .npy array")
            arrays[info.filename[:-4]] = _npy(z, info)
    return arrays


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Invalid(f"the structure JSON repeats a key in an object with keys {keys}")
    return dict(pairs)


def _parse_structure(arrays: dict) -> dict:
    """The structure JSON as a dict with a known format; its nesting is measured before json
    parses it, so a forged deep file fails with a message, not a RecursionError."""
    s = arrays[_STRUCTURE]
    if s.shape != () or s.dtype.kind != "U":
        raise _Invalid(f"{_STRUCTURE} holds {s.dtype}{list(s.shape)}, expected one string")
    text = str(s[()])
    depth = deepest = 0
    for bracket in re.sub(r'"(?:[^"\\]|\\.)*"', "", text):  # strings may hold brackets
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth -= 1
    # a tree level is at most 3 JSON levels (a namedtuple node, its body, its fields)
    if deepest > 3 * _MAX_DEPTH + 2:
        raise _Invalid(f"its structure is nested deeper than {_MAX_DEPTH} levels")
    try:
        meta = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Invalid:
        raise
    except ValueError as e:
        raise _Invalid(f"its structure JSON does not parse ({e})") from e
    if not isinstance(meta, dict) or "format" not in meta or "tree" not in meta:
        raise _Invalid(
            f"its structure JSON is {_short(meta)}, expected an object with 'format' and 'tree'"
        )
    fmt = meta["format"]
    if type(fmt) is not int or fmt != _FORMAT:
        raise _Invalid(f"it has format {fmt!r}; this fnnet reads format {_FORMAT}")
    extra = set(meta) - {"format", "tree", "dtypes"}
    if extra:
        raise _Invalid(f"its structure JSON has unknown entries {sorted(extra)}")
    if not isinstance(meta.get("dtypes", {}), dict):
        raise _Invalid(f"its 'dtypes' entry is {_short(meta['dtypes'])}, expected an object")
    return meta


def _find_namedtuple(ref) -> tuple[type | None, str | None]:
    """The NamedTuple type named ``"module:QualName"``, or None and why not. Only modules already
    imported, or submodules of packages already imported, are searched: a file names no code."""
    module_name, colon, qualname = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    parts = qualname.split(".")
    if "<locals>" in parts:
        return None, "a type defined inside a function cannot be found by its name"
    if not colon or not all(p.isidentifier() for p in module_name.split(".") + parts):
        return None, f"{_short(ref)} is not of the form 'module:QualName'"
    module = sys.modules.get(module_name)
    if module is None:
        if module_name.partition(".")[0] not in sys.modules:
            return None, f"module {module_name!r} is not imported; import it before load"
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # any failure of a third-party import is reported, not raised
            return None, f"importing {module_name!r} failed ({type(e).__name__}: {e})"
    obj = module
    for p in parts:
        obj = getattr(obj, p, None)
    if not (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")):
        return None, f"{ref!r} is {type(obj).__name__}, not a NamedTuple type"
    return obj, None


def _decode(node, arrays: dict, dtypes: dict, used: set, where: str = "", depth: int = 0):
    """The tree that ``node`` describes, its leaves taken from ``arrays`` (and marked in
    ``used``). Every node is checked: one key of a known kind, a value of the right JSON type, a
    leaf index naming an array not used before, a NamedTuple type found with the same fields."""
    at = where or "the root"
    if depth > _MAX_DEPTH:
        raise _Invalid(f"its structure is nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) != 1:
        got = f"keys {list(node)}" if isinstance(node, dict) else _short(node)
        raise _Invalid(f"its structure at {at} has {got}; expected one key, one of {_KINDS}")
    ((kind, value),) = node.items()
    want = {"dict": dict, "list": list, "tuple": list, "namedtuple": dict}.get(kind)
    if kind not in _KINDS:
        raise _Invalid(f"its structure at {at} has an unknown kind {kind!r}; expected {_KINDS}")
    if (want is not None and not isinstance(value, want)) or (kind == "none" and value is not None):
        raise _Invalid(f"its structure at {at} has {kind!r} with value {_short(value)}")
    if kind == "dict":
        return {
            k: _decode(v, arrays, dtypes, used, f"{where}[{k!r}]", depth + 1)
            for k, v in value.items()
        }
    if kind in ("list", "tuple"):
        items = [
            _decode(v, arrays, dtypes, used, f"{where}[{i}]", depth + 1)
            for i, v in enumerate(value)
        ]
        return items if kind == "list" else tuple(items)
    if kind == "none":
        return None
    if kind == "namedtuple":
        return _decode_namedtuple(value, arrays, dtypes, used, where, depth)
    return _decode_leaf(value, arrays, dtypes, used, at)


def _decode_namedtuple(value: dict, arrays, dtypes, used, where: str, depth: int):
    at = where or "the root"
    if set(value) != {"type", "fields"} or not isinstance(value["fields"], dict):
        raise _Invalid(f"its namedtuple at {at} is {_short(value)}, expected 'type' and 'fields'")
    cls, why = _find_namedtuple(value["type"])
    if cls is None:
        raise _Invalid(f"its namedtuple at {at} cannot be rebuilt: {why}")
    fields = value["fields"]
    if tuple(fields) != tuple(cls._fields):
        raise _Invalid(
            f"its namedtuple at {at} has fields {tuple(fields)}, but {value['type']} has "
            f"fields {tuple(cls._fields)}"
        )
    return cls._make(
        _decode(v, arrays, dtypes, used, f"{where}.{f}", depth + 1) for f, v in fields.items()
    )


def _decode_leaf(index, arrays: dict, dtypes: dict, used: set, at: str) -> np.ndarray:
    """The array ``leaf_<index>``, marked used; one stored as unsigned ints under a name in
    "dtypes" is viewed back as that ml_dtypes dtype, after checking that the widths agree."""
    if type(index) is not int or index < 0:
        raise _Invalid(f"its leaf at {at} has index {_short(index)}, expected an int >= 0")
    name = f"leaf_{index}"
    if name not in arrays:
        raise _Invalid(f"its leaf at {at} refers to {name}, which the file does not hold")
    if index in used:
        raise _Invalid(f"its leaf at {at} refers to {name}, which another leaf uses already")
    used.add(index)
    arr = arrays[name]
    if arr.dtype.kind not in _NATIVE_KINDS:
        raise _Invalid(f"its leaf at {at} ({name}) has dtype {arr.dtype}, expected numbers")
    if str(index) not in dtypes:
        return arr
    dtype = _extra_dtype(dtypes[str(index)])
    if dtype is None or arr.dtype != np.dtype(f"u{dtype.itemsize}"):
        raise _Invalid(
            f"its leaf at {at} ({name}) is stored as {arr.dtype} with dtype name "
            f"{dtypes[str(index)]!r}, expected an ml_dtypes name and unsigned ints of its width"
        )
    return arr.view(dtype)


def _check_like(like):
    """``like`` is an MLP, or a pytree whose leaves have shape and dtype (or are numbers)."""
    if isinstance(like, MLP):
        return
    for p, leaf in jax.tree_util.tree_leaves_with_path(like):
        if not (
            (hasattr(leaf, "shape") and hasattr(leaf, "dtype"))
            or isinstance(leaf, (bool, int, float, complex))
        ):
            raise TypeError(
                f"like: expected an fnnet.MLP or a pytree of arrays or jax.ShapeDtypeStruct, got "
                f"{type(leaf).__name__} ({_short(leaf)}) at {jax.tree_util.keystr(p) or 'the root'}"
            )


def _match(tree, like, path: str):
    """``tree`` if it fits ``like``: an MLP's structure, shapes and one floating dtype, or a
    pytree's structure, shapes and dtypes (where a ``like`` leaf has a dtype)."""
    if hasattr(like, "check_params"):  # an MLP spec
        try:
            like.check_params(tree)
        except ValueError as e:
            raise ValueError(f"path: the parameters in {path!r} do not fit {like!r}: {e}") from None
        first = None  # np.dtype is falsy (it has no fields), hence the `is None` tests
        for p, g in jax.tree_util.tree_leaves_with_path(tree):
            if not jnp.issubdtype(g.dtype, jnp.floating) or (
                first is not None and g.dtype != first
            ):
                want = "a floating dtype" if first is None else f"{first} like the first leaf"
                raise ValueError(
                    f"path: leaf {jax.tree_util.keystr(p)} in {path!r} has dtype {g.dtype}, "
                    f"expected {want} for {like!r}"
                )
            first = g.dtype if first is None else first
        return tree
    want, got = jax.tree.structure(like), jax.tree.structure(tree)
    if want != got:
        raise ValueError(f"path: the tree in {path!r} has structure {got}, expected {want}")
    for (p, w), g in zip(jax.tree_util.tree_leaves_with_path(like), jax.tree.leaves(tree)):
        where = jax.tree_util.keystr(p) or "(the root)"
        if _checks.shape_of(w) != g.shape:
            raise ValueError(
                f"path: leaf {where} in {path!r} has shape {g.shape}, expected "
                f"{_checks.shape_of(w)}"
            )
        if hasattr(w, "dtype") and np.dtype(w.dtype) != g.dtype:
            raise ValueError(
                f"path: leaf {where} in {path!r} has dtype {g.dtype}, expected {np.dtype(w.dtype)}"
            )
    return tree


def load(path: str | os.PathLike, like=None):
    """Reads a pytree written by :func:`save`, its leaves as NumPy arrays.

    Args:
      path: the ``.npz`` file; a name without ``.npz`` is tried as given, then with ``.npz``.
      like: optional expectation: an :class:`fnnet.MLP` (its structure and shapes, one floating
        dtype) or a pytree of arrays or ``jax.ShapeDtypeStruct`` (its structure, shapes and
        dtypes); a file that does not match is refused, never converted.

    Raises:
      TypeError: ``path`` is not a path, or ``like`` is neither an MLP nor a pytree of arrays.
      FileNotFoundError, IsADirectoryError, PermissionError: ``path`` names no readable file.
      ValueError: the file is damaged, is not an fnnet parameter file, or does not match ``like``.
    """
    path = _find_file(_checks.path(path))
    if like is not None:
        _check_like(like)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise type(e)(f"path: cannot read {path!r}: {e.strerror or e}") from e
    not_ours = f"path: {path!r} is not a parameter file saved by fnnet.io.save"
    if not raw.startswith(b"PK\x03\x04"):
        raise ValueError(f"{not_ours}: {_looks_like(raw)}")
    try:
        arrays = _read_arrays(raw)
    except _Invalid as e:
        raise ValueError(f"{not_ours}: {e}") from None
    except _DAMAGE as e:
        raise ValueError(
            f"path: {path!r} is damaged (truncated or altered) or is not a parameter file saved by "
            f"fnnet.io.save ({type(e).__name__}: {e})"
        ) from e
    try:
        meta = _parse_structure(arrays)
        used: set[int] = set()
        tree = _decode(meta["tree"], arrays, meta.get("dtypes", {}), used)
        unused = sorted(set(arrays) - {_STRUCTURE} - {f"leaf_{i}" for i in used})
        if unused:
            raise _Invalid(f"it holds arrays its structure does not refer to: {unused[:5]}")
        stray = sorted(set(meta.get("dtypes", {})) - {str(i) for i in used})
        if stray:
            raise _Invalid(f"its 'dtypes' name leaves it does not hold: {stray[:5]}")
    except _Invalid as e:
        raise ValueError(f"path: {path!r} is not a valid fnnet parameter file: {e}") from None
    return tree if like is None else _match(tree, like, path)
