"""A sweep's folder: ``settings.json`` and ``chunks/p{point}-c{chunk}.npz``, every chunk written
atomically and verified against its sweep when read; errors that name the file a write failed on.

Chunks are ``np.savez`` archives written through :func:`fnnet._atomic.write`, not through
:func:`fnnet.io.save`: io's file holds a tree's structure beside arrays it names itself, and
folders already written hold flat arrays (``leaf_j``, ``diverged``, ``sweep``, ``unit``,
``checksum``) that a rerun must keep reading and writing as they are.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from fnnet import _atomic
from fnnet.sweep._settings import differences, digest, settings_problem

__all__ = [
    "CHUNKS",
    "SETTINGS",
    "DamagedChunkWarning",
    "Store",
    "fresh_start",
    "in_the_way",
    "open_store",
    "read_settings",
    "require_writable",
    "special",
    "write_error",
]

SETTINGS = "settings.json"
CHUNKS = "chunks"
_CHUNK_FILE = re.compile(r"p\d+-c\d+\.npz")


class DamagedChunkWarning(UserWarning):
    """A chunk of a sweep folder did not verify; the message names its path and the reason. The
    sweep computes that chunk again instead of loading it."""


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


_REASON_CHARS = 300  # a zip error may quote a whole damaged header: enough to say what failed


def _read_npz(path: str) -> dict | str:
    """The arrays of the ``.npz`` archive at ``path``, or why it cannot be read as one."""
    try:
        with open(path, "rb") as file:  # closed here also where np.load fails
            head = file.read(len(_ZIP))
            file.seek(0)
            if head != _ZIP:  # np.load would take it for a pickle and say so
                return _not_a_zip(head)
            with np.load(file, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
    except Exception as e:  # a damaged file can fail in many ways; each means "recompute"
        why = f"{type(e).__name__}: {e}"
        why = why if len(why) <= _REASON_CHARS else why[: _REASON_CHARS - 3] + "..."
        return f"it cannot be read as an .npz archive ({why})"


_ZIP = b"PK\x03\x04"  # how a zip archive (an .npz) starts: its first member's header


def _not_a_zip(head: bytes) -> str:
    if not head:
        return "it is empty (0 bytes), not an .npz archive"
    if head == b"\x93NUM":
        return "it holds a single array, not an .npz archive"
    return (
        f"it cannot be read as an .npz archive (it is not a valid zip file: it starts with "
        f"{head!r}, a zip with {_ZIP!r})"
    )


def special(path: str) -> str | None:
    """What ``path`` is where it exists but is not a regular file (a directory, a named pipe,
    ...): something no chunk can be read from or renamed over. None for a file or nothing."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # absent (a dangling link included): the chunk is missing
        return None
    if stat.S_ISREG(mode):
        return None
    return (
        "a directory" if stat.S_ISDIR(mode) else f"not a regular file (mode {stat.filemode(mode)})"
    )


def in_the_way(path: str, kind: str, what: str) -> OSError:
    """The error for a ``kind`` (a directory, ...) at ``path``, where ``what`` belongs."""
    error = IsADirectoryError if kind == "a directory" else FileExistsError
    return error(f"out: {path!r} is {kind}, not {what}: remove it")


class Store(NamedTuple):
    """A sweep folder: ``folder/settings.json`` (``settings``, identified by ``digest``) and
    ``folder/chunks/p{point}-c{chunk}.npz``, each chunk written atomically and read verified."""

    folder: str
    settings: dict
    digest: str

    def path(self, point: int, chunk: int) -> str:
        return os.path.join(self.folder, CHUNKS, f"p{point}-c{chunk}.npz")

    def read(self, point: int, chunk: int, rows: int) -> tuple | str | None:
        """Chunk ``(point, chunk)`` of ``rows`` seeds as ``(leaves, diverged)``; None where it
        does not exist; the reason where it does not verify (unreadable, other arrays, dtypes or
        shapes, another sweep's or unit's, a checksum that does not match)."""
        path = self.path(point, chunk)
        kind = special(path)
        if kind is not None:
            return f"it is {kind}, not a chunk file: remove it"
        if not os.path.exists(path):
            return None
        arrays = _read_npz(path)
        if isinstance(arrays, str):
            return arrays
        return _verify(arrays, self.digest, [point, chunk], rows, self.settings["results"])

    def require_files(self, units) -> None:
        """Raises an error naming a chunk path of ``units`` ``(point, chunk)`` that is a
        directory or another non-file, over which no chunk can be written (before training)."""
        names = {os.path.basename(self.path(point, chunk)) for point, chunk in units}
        try:
            entries = list(os.scandir(os.path.join(self.folder, CHUNKS)))
        except OSError:  # no chunks folder yet: nothing in the way
            return
        for entry in sorted(entries, key=lambda e: e.name):
            kind = special(entry.path) if entry.name in names and not entry.is_file() else None
            if kind is not None:
                raise in_the_way(entry.path, kind, "a chunk file")

    def write(self, point: int, chunk: int, leaves: list, diverged: np.ndarray, done: str) -> None:
        """Writes chunk ``(point, chunk)``; where that fails, raises an OSError of the same errno
        that names the file and says ``done``, how much of the sweep is finished."""
        arrays = {f"leaf_{j}": x for j, x in enumerate(leaves)}
        arrays.update(diverged=diverged, sweep=np.array(self.digest), unit=np.array([point, chunk]))
        arrays["checksum"] = np.array(_checksum(arrays))
        path = self.path(point, chunk)
        try:
            _atomic.write(path, lambda f: np.savez(f, **arrays))
        except OSError as e:
            raise write_error(e, f"chunk {path!r}", done) from e


_HINTS = {
    errno.ENOSPC: "free space on its filesystem",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "raise the file-size limit (ulimit -f) or use a filesystem that takes larger files",
    errno.EISDIR: "remove the directory in its place",
    errno.EACCES: "make the folder writable",
    errno.EROFS: "make the folder writable",
}


def write_error(e: OSError, what: str, done: str) -> OSError:
    """``e``, raised writing ``what``, as an OSError of its errno (so its class too, e.g.
    PermissionError) that names ``what``, says ``done`` and what to do."""
    hint = _HINTS.get(e.errno, "fix that")
    message = (
        f"out: could not write {what} ({e.strerror or e}); {done}; {hint}, then rerun with the "
        "same arguments to resume"
    )
    return OSError(e.errno, message) if e.errno else OSError(message)


def fresh_start(out: str) -> str:
    return f"use another folder, or call fnnet.sweep.clear({out!r}) to start afresh"


def read_settings(out: str) -> dict | None:
    """The settings stored in folder ``out``; None where it holds none and no chunks (a new
    sweep). Chunks with no settings, and settings that do not parse or are not a sweep's, raise a
    ValueError: nothing says which sweep those chunks belong to."""
    chunks = os.path.join(out, CHUNKS)
    names = os.listdir(chunks) if os.path.isdir(chunks) else []
    n_chunks = sum(_CHUNK_FILE.fullmatch(n) is not None for n in names)
    path = os.path.join(out, SETTINGS)
    try:
        with open(path, "rb") as f:
            text = f.read()
    except IsADirectoryError:
        raise in_the_way(path, "a directory", "a sweep's settings file") from None
    except FileNotFoundError:
        if n_chunks:
            raise ValueError(
                f"out: {out!r} holds {n_chunks} chunks but no {SETTINGS}, so nothing says "
                f"which sweep they belong to; {fresh_start(out)}"
            ) from None
        return None
    try:
        settings = json.loads(text)
        why = settings_problem(settings)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        why = f"it does not parse as JSON: {e}"
    if why is not None:
        raise ValueError(f"out: {path!r} is not a sweep's settings ({why}); {fresh_start(out)}")
    return settings


def require_writable(out: str, n_left: int) -> None:
    """Raises a PermissionError naming ``out`` unless this process can create a file in its
    chunks folder (tried for real: root may write where permissions say no, and a read-only
    filesystem refuses everyone)."""
    try:
        os.makedirs(os.path.join(out, CHUNKS), exist_ok=True)
        with tempfile.TemporaryFile(dir=os.path.join(out, CHUNKS)):
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
    path, text = os.path.join(out, SETTINGS), json.dumps(settings, indent=2).encode()
    try:
        created = _link_settings(path, text)
    except OSError as e:
        raise write_error(e, f"{path!r}", "no unit of the sweep is finished yet") from e
    return json.loads(text) if created else read_settings(out) or {}


def _link_settings(path: str, text: bytes) -> bool:
    """Creates file ``path`` holding ``text`` where it does not exist; whether it did."""
    tmp = _atomic.temporary_path(path)
    _atomic.write(tmp, lambda f: f.write(text))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links: exclusive creation, written in place
        try:
            with open(path, "xb") as f:
                _write_or_remove(f, path, text)
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    return True


def _write_or_remove(f, path: str, text: bytes) -> None:
    """Writes ``text`` to ``f``, open on ``path``; where that fails, removes ``path``, since a
    partial file would be taken for damaged settings."""
    try:
        f.write(text)
        f.flush()
    except BaseException:
        os.unlink(path)
        raise


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
            f"{fresh_start(out)}. Differences: {'; '.join(diff)}"
        )
    for folder in (out, os.path.join(out, CHUNKS)):
        _atomic.remove_leftovers(folder)
    return Store(out, stored, digest(stored))
