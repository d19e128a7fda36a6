"""A sweep folder as its user handles it: :func:`status`, its verified progress, and :func:`clear`,
which starts it afresh but never while a sweep runs there (:func:`holding`, a lock that
:func:`fnnet.sweep.run` holds on the settings while it runs) or a writer may still write in it."""

from __future__ import annotations

import contextlib
import os
import re
from typing import NamedTuple

from fnnet import _atomic
from fnnet.sweep._arguments import check_out
from fnnet.sweep._plan import plan_of
from fnnet.sweep._settings import FORMAT, digest
from fnnet.sweep._store import (
    CHUNKS,
    SETTINGS,
    Store,
    fresh_start,
    in_the_way,
    read_settings,
    special,
)

try:
    import fcntl
except ImportError:  # not on POSIX: no file locks; clear sees only live temporary files
    fcntl = None

__all__ = ["Status", "clear", "holding", "status"]

# a folder's own files, which clear removes: settings, chunks and temporary files of their writers
_OWN_FILES = re.compile(r"settings\.json|\.+settings\.json.*\.(fnnet-)?tmp")
_OWN_CHUNKS = re.compile(r"p\d+-c\d+\.npz|\.+p\d+-c\d+\.npz.*\.(fnnet-)?tmp")


class Status(NamedTuple):
    """A sweep folder's progress (:func:`status`), every chunk verified: its settings; the units
    ``(grid_index, chunk)`` finished; those missing, which a rerun computes (absent or damaged);
    and the damaged ones as ``(unit, path, reason)``."""

    settings: dict
    finished: tuple
    missing: tuple
    damaged: tuple


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
        raise ValueError(f"out: expected a sweep folder with {SETTINGS}, got {out!r}")
    if settings["format"] != FORMAT:
        raise ValueError(
            f"out: expected a sweep of format {FORMAT}, got format {settings['format']} (fnnet "
            f"{settings.get('fnnet')}) in {out!r}; {fresh_start(out)}"
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


def clear(out: str | os.PathLike, *, dry_run: bool = False) -> tuple[str, ...]:
    """Removes the sweep in folder ``out`` so that the next :func:`run` starts afresh: its
    ``settings.json``, its ``chunks/p{point}-c{chunk}.npz`` and temporary files that killed
    writers left. Other files stay, and so does the folder. Returns the removed paths (none where
    ``out`` does not exist). With ``dry_run=True`` it removes nothing and returns the paths it
    would remove, after the same checks (it refuses where it would refuse).

    Raises:
      ValueError: when ``out`` is a file, or a folder that holds neither a ``chunks`` folder nor
        a sweep's ``settings.json``.
      RuntimeError: while a sweep runs in ``out`` (:func:`run` holds a lock on its settings
        while it runs) or a writer may still write a temporary file there (one of a process of
        this host that still runs, or of another host and younger than an hour); nothing is
        removed then.
      IsADirectoryError: naming a directory where a chunk or the settings belong; nothing is
        removed then.
    """
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run: expected True or False, got {dry_run!r}")
    out = check_out(out, 1)
    if out is None or not os.path.exists(out):
        return ()
    chunks = os.path.join(out, CHUNKS)
    if not os.path.isdir(chunks):
        _require_a_sweep(out)
    removed = []
    with _exclusive(out):
        paths = _own_paths(out, chunks)
        _require_no_writer(out, paths)
        if dry_run:
            return tuple(paths)
        for path in paths:
            with contextlib.suppress(FileNotFoundError):  # a writer renamed it meanwhile
                os.unlink(path)
                removed.append(path)
    with contextlib.suppress(OSError):
        os.rmdir(chunks)  # where it is empty now
    return tuple(removed)


def _own_paths(out: str, chunks: str) -> list[str]:
    """The paths of ``out``'s own files (settings, chunks, temporary files of their writers);
    raises naming the first of them that is a directory (or another non-file)."""
    paths = []
    for folder, own in ((out, _OWN_FILES), (chunks, _OWN_CHUNKS)):
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        paths += [os.path.join(folder, name) for name in filter(own.fullmatch, names)]
    for path in paths:
        kind = special(path)
        if kind is not None:
            what = "a sweep's settings file" if path.endswith(SETTINGS) else "a chunk file"
            raise in_the_way(path, kind, what)
    return paths


def _require_no_writer(out: str, paths: list[str]) -> None:
    """Raises a RuntimeError where a temporary file among ``paths`` may still be being written."""
    for path in filter(lambda p: p.endswith(_atomic.SUFFIX), paths):
        try:
            why = _atomic.live_writer(path)
        except OSError:  # gone: its writer renamed it
            continue
        if why is not None:
            raise RuntimeError(
                f"out: a sweep may still write to {out!r}: its temporary file {path!r} may "
                f"still be being written ({why}); clear removes nothing while a writer runs: "
                "stop it or wait until it ends, then clear again (if none runs, remove that "
                "file yourself)"
            )


@contextlib.contextmanager
def _locked(out: str, exclusive: bool):
    """Holds a lock on ``out``'s settings file (where it and file locks exist): shared while a
    sweep runs there, exclusive while :func:`clear` removes it; yields whether it got it."""
    try:
        fd = os.open(os.path.join(out, SETTINGS), os.O_RDONLY)
    except OSError:  # no settings yet, or a folder that cannot be read: nothing to hold
        yield True
        return
    try:
        yield _lock(fd, exclusive)
    finally:
        os.close(fd)  # which releases the lock


def _lock(fd: int, exclusive: bool) -> bool:
    """Locks open file ``fd`` without waiting; False where another holds a conflicting lock."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except (OSError, AttributeError):  # no file locks here (ENOLCK, or no fcntl): none held
        pass
    return True


@contextlib.contextmanager
def holding(out: str | None):
    """While a sweep runs in ``out`` (None: nowhere), a shared lock on its settings, so that
    :func:`clear` refuses to remove them meanwhile (best effort: where a filesystem has no file
    locks, or its locks do not reach other hosts, clear cannot see it)."""
    if out is None:
        yield
        return
    with _locked(out, exclusive=False):
        yield


@contextlib.contextmanager
def _exclusive(out: str):
    with _locked(out, exclusive=True) as got:
        if not got:
            raise RuntimeError(
                f"out: a sweep runs in {out!r} (a process holds the lock that fnnet.sweep.run "
                f"holds on its {SETTINGS} while it runs); clear removes nothing while a sweep "
                "runs there: stop it or wait until it ends, then clear again"
            )
        yield


def _require_a_sweep(out: str) -> None:
    """Raises a ValueError unless folder ``out``, which has no chunks folder, holds a sweep's
    settings: :func:`clear` removes only a sweep's own files."""
    try:
        why = None if read_settings(out) else f"it holds neither {CHUNKS}/ nor {SETTINGS}"
    except ValueError as e:
        why = str(e)
    if why is not None:
        raise ValueError(
            f"out: expected a sweep folder (with a {CHUNKS} folder or a sweep's "
            f"{SETTINGS}), got {out!r}, and clear removes only a sweep's own files: {why}"
        )
