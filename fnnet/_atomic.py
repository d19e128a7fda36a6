"""Writing a file so that readers see the old file or the whole new one, never half of it: the data
goes to a temporary file beside the target, is flushed to disk, and is renamed over the target.

Temporary files are named ``.NAME.HOST.PID.RANDOM.fnnet-tmp``. A writer killed between creating
one and renaming it leaves it behind; the next writer of that folder removes such leftovers: those
of a process of this host that no longer runs, and any older than an hour (a write takes
milliseconds, so an hour-old one has no live writer on any host).
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

__all__ = [
    "STALE_SECONDS",
    "SUFFIX",
    "live_writer",
    "remove_leftovers",
    "temporary_path",
    "write",
]

SUFFIX = ".fnnet-tmp"
STALE_SECONDS = 3600.0
"""A temporary file older than this has no live writer on any host (a write takes milliseconds)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# files get the mode the user's umask gives any new file (0644 under the usual umask 022), not
# mkstemp's 0600, which would hide a shared sweep or a saved network from its other readers
_MODE = 0o666 & ~_umask()


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def live_writer(path: str) -> str | None:
    """Why the writer of temporary file ``path`` (named ``.NAME.HOST.PID.RANDOM.fnnet-tmp``) may
    still run; None where it does not: its process is of this host and no longer runs, or the file
    is older than :data:`STALE_SECONDS`. Of another host's process only the file's age tells.
    Raises OSError where ``path`` cannot be stat-ed (it is gone already)."""
    age = max(time.time() - os.stat(path).st_mtime, 0.0)
    parts = os.path.basename(path)[: -len(SUFFIX)].rsplit(".", 3)
    host, pid = (parts[1], parts[2]) if len(parts) == 4 else ("", "")
    if age > STALE_SECONDS:
        return None
    if host == _host() and pid.isdigit():
        return f"process {pid} of this host still runs" if _alive(int(pid)) else None
    writer = f"a process of host {host!r}" if host else "an unknown process"
    return (
        f"{writer} wrote it {age:.0f} s ago, less than {STALE_SECONDS:.0f} s (an hour), after "
        "which no writer can still run"
    )


def remove_leftovers(directory: str) -> list[str]:
    """Removes the temporary files that killed writers left in ``directory``; returns their paths.

    A leftover is removed when its process (named in the file name) is of this host and no longer
    runs, or when it is older than an hour. Others may still be being written and are kept
    (:func:`live_writer` says why).
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(".") and name.endswith(SUFFIX)):
            continue
        path = os.path.join(directory, name)
        try:
            if live_writer(path) is None:
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue  # gone already
    return removed


def temporary_path(path: str | os.PathLike) -> str:
    """A temporary file's path beside ``path``, named as :func:`write` names its own
    (``.NAME.HOST.PID.RANDOM.fnnet-tmp``), so that :func:`remove_leftovers` knows it."""
    directory, name = os.path.split(os.fspath(path))
    tmp = f".{name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{SUFFIX}"
    return os.path.join(directory, tmp)


def write(path: str | os.PathLike, fill: Callable[[BinaryIO], object]) -> None:
    """Calls ``fill(f)`` on a temporary binary file beside ``path``, flushes it to disk and renames
    it to ``path``. On any error the temporary file is removed and ``path`` is left as it was.

    Raises:
      FileNotFoundError: naming ``path`` when its folder does not exist.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"path: the folder of {path!r} does not exist ({directory!r})")
    remove_leftovers(directory)
    prefix = f".{os.path.basename(path)}.{_host()}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=SUFFIX)
    try:
        os.fchmod(fd, _MODE)
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
