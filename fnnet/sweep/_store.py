"""A sweep's folder: ``settings.json`` and ``chunks/p{point}-c{chunk}.npz``, every chunk written
atomically and verified against its sweep when read; :func:`status` and :func:`clear` of a folder.

Chunks are ``np.savez`` archives written through :func:`fnnet._atomic.write`, not through
:func:`fnnet.io.save`: io's file holds a tree's structure beside arrays it names itself, and
folders already written hold flat arrays (``leaf_j``, ``diverged``, ``sweep``, ``unit``,
``checksum``) that a rerun must keep reading and writing as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from fnnet import _atomic
from fnnet.sweep._arguments import check_out
from fnnet.sweep._plan import plan_of
from fnnet.sweep._settings import FORMAT, differences, digest, settings_problem

__all__ = [
    "DamagedChunkWarning",
    "Status",
    "Store",
    "clear",
    "open_store",
    "read_settings",
    "require_writable",
    "status",
]

_SETTINGS = "settings.json"
_CHUNKS = "chunks"
# a folder's own files, which clear removes: settings, chunks and temporary files of their writers
_OWN_FILES = re.compile(r"settings\.json|\.+settings\.json.*\.(fnnet-)?tmp")
_OWN_CHUNKS = re.compile(r"p\d+-c\d+\.npz|\.+p\d+-c\d+\.npz.*\.(fnnet-)?tmp")
_CHUNK_FILE = re.compile(r"p\d+-c\d+\.npz")


class DamagedChunkWarning(UserWarning):
    """A chunk of a sweep folder did not verify; the message names its path and the reason. The
    sweep computes that chunk again instead of loading it."""


class Status(NamedTuple):
    """A sweep folder's progress (:func:`status`), every chunk verified: its settings; the units
    ``(grid_index, chunk)`` finished; those missing, which a rerun computes (absent or damaged);
    and the damaged ones as ``(unit, path, reason)``."""

    settings: dict
    finished: tuple
    missing: tuple
    damaged: tuple


def _checksum(arrays: dict) -> str:
    """sha256 of a chunk's arrays but its checksum: their names, dtypes, shapes and bytes."""
    sha = hashlib.sha256()
    for name in sorted(arrays):
        if name != "checksum":
            a = np.ascontiguousarray(arrays[name])
            sha.update(f"{name} {a.dtype} {a.shape}\n".encode())
            sha.update(a.tobytes())
    return sha.hexdigest()


def _verify(arrays: dict, sweep: str, unit: list[int], rows: int, results: list) -> tuple | str:
    """A chunk's ``(leaves, diverged)`` where its ``arrays`` verify, else the reason they do not.

    They verify where they are unit ``[point, chunk]`` of sweep ``sweep`` (the settings' digest),
    hold one leaf per entry of the settings' ``results`` of that dtype and shape (``rows`` seeds
    first), a bool ``diverged`` of shape ``(rows,)``, and a checksum that matches.
    """
    names = [f"leaf_{j}" for j in range(len(results))]
    want = {*names, "diverged", "sweep", "unit", "checksum"}
    if set(arrays) != want:
        return f"it holds arrays {sorted(arrays)}, expected {sorted(want)}"
    if str(arrays["sweep"]) != sweep:
        return f"it belongs to another sweep ({str(arrays['sweep'])[:16]}, not {sweep[:16]})"
    if arrays["unit"].tolist() != unit:
        return f"it holds unit {arrays['unit'].tolist()}, expected {unit}"
    expected = [(r["dtype"], (rows, *r["shape"])) for r in results] + [("bool", (rows,))]
    for name, (dtype, shape) in zip([*names, "diverged"], expected):
        a = arrays[name]
        if a.dtype.kind == "V" and a.dtype.itemsize == jnp.dtype(dtype).itemsize:
            a = arrays[name] = a.view(jnp.dtype(dtype))  # np.save writes bfloat16 as void
        if str(a.dtype) != dtype or a.shape != shape:
            return f"{name} has dtype {a.dtype} and shape {a.shape}, expected {dtype} {shape}"
    if str(arrays["checksum"]) != _checksum(arrays):
        return "its checksum does not match its arrays (they changed after it was written)"
    return [arrays[n] for n in names], arrays["diverged"]


def _read_npz(path: str) -> dict | str:
    """The arrays of the ``.npz`` archive at ``path``, or why it cannot be read as one."""
    try:
        with open(path, "rb") as file:  # closed here also where np.load fails
            data = np.load(file, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                return "it holds a single array, not an .npz archive"
            with data:
                return {name: data[name] for name in data.files}
    except Exception as e:  # a damaged file can fail in many ways; each means "recompute"
        return f"it cannot be read as an .npz archive ({type(e).__name__}: {e})"


class Store(NamedTuple):
    """A sweep folder: ``folder/settings.json`` (``settings``, identified by ``digest``) and
    ``folder/chunks/p{point}-c{chunk}.npz``, each chunk written atomically and read verified."""

    folder: str
    settings: dict
    digest: str

    def path(self, point: int, chunk: int) -> str:
        return os.path.join(self.folder, _CHUNKS, f"p{point}-c{chunk}.npz")

    def read(self, point: int, chunk: int, rows: int) -> tuple | str | None:
        """Chunk ``(point, chunk)`` of ``rows`` seeds as ``(leaves, diverged)``; None where it
        does not exist; the reason where it does not verify (unreadable, other arrays, dtypes or
        shapes, another sweep's or unit's, a checksum that does not match)."""
        path = self.path(point, chunk)
        if not os.path.exists(path):
            return None
        arrays = _read_npz(path)
        if isinstance(arrays, str):
            return arrays
        return _verify(arrays, self.digest, [point, chunk], rows, self.settings["results"])

    def write(self, point: int, chunk: int, leaves: list, diverged: np.ndarray) -> None:
        arrays = {f"leaf_{j}": x for j, x in enumerate(leaves)}
        arrays.update(diverged=diverged, sweep=np.array(self.digest), unit=np.array([point, chunk]))
        arrays["checksum"] = np.array(_checksum(arrays))
        _atomic.write(self.path(point, chunk), lambda f: np.savez(f, **arrays))


def _fresh_start(out: str) -> str:
    return f"use another folder, or call fnnet.sweep.clear({out!r}) to start afresh"


def read_settings(out: str) -> dict | None:
    """The settings stored in folder ``out``; None where it holds none and no chunks (a new
    sweep). Chunks with no settings, and settings that do not parse or are not a sweep's, raise a
    ValueError: nothing says which sweep those chunks belong to."""
    chunks = os.path.join(out, _CHUNKS)
    names = os.listdir(chunks) if os.path.isdir(chunks) else []
    n_chunks = sum(_CHUNK_FILE.fullmatch(n) is not None for n in names)
    path = os.path.join(out, _SETTINGS)
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        if n_chunks:
            raise ValueError(
                f"out: {out!r} holds {n_chunks} chunks but no {_SETTINGS}, so nothing says "
                f"which sweep they belong to; {_fresh_start(out)}"
            ) from None
        return None
    try:
        settings = json.loads(text)
        why = settings_problem(settings)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        why = f"it does not parse as JSON: {e}"
    if why is not None:
        raise ValueError(f"out: {path!r} is not a sweep's settings ({why}); {_fresh_start(out)}")
    return settings


def require_writable(out: str, n_left: int) -> None:
    """Raises a PermissionError naming ``out`` unless this process can create a file in its
    chunks folder (tried for real: root may write where permissions say no, and a read-only
    filesystem refuses everyone)."""
    try:
        os.makedirs(os.path.join(out, _CHUNKS), exist_ok=True)
        with tempfile.TemporaryFile(dir=os.path.join(out, _CHUNKS)):
            pass
    except OSError as e:
        raise PermissionError(
            f"out: expected a folder this process can write, since {n_left} unit(s) of the sweep "
            f"are left to compute, got {out!r} ({e.strerror or e}); make it writable or give "
            "another folder"
        ) from e


def _create_settings(out: str, settings: dict) -> dict:
    """Writes ``settings`` to ``out`` unless another process was first; returns the settings the
    folder holds then. Exclusive: the file is written whole under a temporary name and linked to
    ``settings.json``, which fails where that exists already."""
    text = json.dumps(settings, indent=2).encode()
    path = os.path.join(out, _SETTINGS)
    tmp = _atomic.temporary_path(path)
    _atomic.write(tmp, lambda f: f.write(text))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return read_settings(out) or {}
    except OSError:  # a filesystem without hard links: exclusive creation, written in place
        with contextlib.suppress(FileExistsError), open(path, "xb") as f:
            f.write(text)
        return read_settings(out) or {}
    finally:
        os.unlink(tmp)
    return json.loads(text)


def open_store(out: str, settings: dict, stored: dict | None, n_units: int) -> Store:
    """The store of ``out`` for a run with ``settings``: created where ``stored`` is None,
    else checked to hold the same settings; temporary files of killed writers are removed."""
    if stored is None:
        require_writable(out, n_units)
        stored = _create_settings(out, settings)
    diff = differences(stored, settings)
    if diff:
        raise ValueError(
            f"out: {out!r} holds a sweep with other settings; give the same settings, "
            f"{_fresh_start(out)}. Differences: {'; '.join(diff)}"
        )
    for folder in (out, os.path.join(out, _CHUNKS)):
        _atomic.remove_leftovers(folder)
    return Store(out, stored, digest(stored))


def status(out: str | os.PathLike) -> Status:
    """The progress of the sweep in folder ``out``: its settings and its finished, missing and
    damaged units, every chunk verified as :func:`run` would before loading it.

    Raises:
      ValueError: when ``out`` holds no sweep settings, settings that are not a sweep's, or those
        of another format.
    """
    out = check_out(out, 1)
    settings = None if out is None or not os.path.isdir(out) else read_settings(out)
    if settings is None:
        raise ValueError(f"out: expected a sweep folder with {_SETTINGS}, got {out!r}")
    if settings["format"] != FORMAT:
        raise ValueError(
            f"out: expected a sweep of format {FORMAT}, got format {settings['format']} (fnnet "
            f"{settings.get('fnnet')}) in {out!r}; {_fresh_start(out)}"
        )
    store, plan = Store(out, settings, digest(settings)), plan_of(settings)
    finished, missing, damaged = [], [], []
    for g, c in plan.units():
        lo, hi = plan.span(c)
        found = store.read(plan.point(g), c, hi - lo)
        (finished if isinstance(found, tuple) else missing).append((g, c))
        if isinstance(found, str):
            damaged.append(((g, c), store.path(plan.point(g), c), found))
    return Status(settings, tuple(finished), tuple(missing), tuple(damaged))


def clear(out: str | os.PathLike) -> tuple[str, ...]:
    """Removes the sweep in folder ``out`` so that the next :func:`run` starts afresh: its
    ``settings.json``, its ``chunks/p{point}-c{chunk}.npz`` and temporary files that killed
    writers left. Other files stay, and so does the folder. Returns the removed paths (none where
    ``out`` does not exist).

    Raises:
      ValueError: when ``out`` is a file, or a folder that holds neither a ``chunks`` folder nor
        a sweep's ``settings.json``.
    """
    out = check_out(out, 1)
    if out is None or not os.path.exists(out):
        return ()
    chunks = os.path.join(out, _CHUNKS)
    if not os.path.isdir(chunks):
        _require_a_sweep(out)
    removed = []
    for folder, own in ((out, _OWN_FILES), (chunks, _OWN_CHUNKS)):
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        for name in filter(own.fullmatch, names):
            os.unlink(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(chunks)  # where it is empty now
    return tuple(removed)


def _require_a_sweep(out: str) -> None:
    """Raises a ValueError unless folder ``out``, which has no chunks folder, holds a sweep's
    settings: :func:`clear` removes only a sweep's own files."""
    try:
        why = None if read_settings(out) else f"it holds neither {_CHUNKS}/ nor {_SETTINGS}"
    except ValueError as e:
        why = str(e)
    if why is not None:
        raise ValueError(
            f"out: expected a sweep folder (with a {_CHUNKS} folder or a sweep's "
            f"{_SETTINGS}), got {out!r}, and clear removes only a sweep's own files: {why}"
        )
