"""The processes of one sweep under ``jax.distributed``, kept in step through JAX's key-value store:
before any training they agree on what they bring (local devices, settings, the folder they see),
a process that fails tells the others, which stop too, and at the end each waits for all.

Not through collectives: those need the same number of devices on every process (else JAX fails
reshaping its device list), and on CPU they give up after 30 s (Gloo's context deadline), so a
process that finished its share half a minute before another could not wait for it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any, NamedTuple

import jax
import numpy as np

from fnnet.sweep._settings import differences

__all__ = ["POLL_MS", "PeerFailed", "Peers", "join"]

POLL_MS = 1000
"""While a process waits for the others, how often it looks whether one failed (and lets Ctrl-C
through): a key-value read of at most this many milliseconds, then a look."""

# the sweeps this process ran; every process of a program runs its sweeps in one order, so the
# n-th sweep of each shares the keys under "fnnet.sweep/n/"
_SWEEPS = itertools.count()


class PeerFailed(RuntimeError):
    """Another process of the sweep failed; this one stops too (a sweep needs all of them)."""


def _client():
    """JAX's distributed runtime client, where ``jax.distributed.initialize`` made one; else None.
    JAX offers its key-value store only through this private object (``multihost_utils`` reaches
    it the same way); where a JAX version moves it, the sweep falls back to collectives."""
    try:
        from jax._src import distributed
    except ImportError:
        return None
    client = getattr(getattr(distributed, "global_state", None), "client", None)
    wanted = ("key_value_set", "blocking_key_value_get", "key_value_dir_get")
    return client if all(hasattr(client, m) for m in wanted) else None


def join(n_processes: int) -> Peers:
    """This process among the ``n_processes`` of a sweep (every process calls it once per sweep)."""
    client = _client() if n_processes > 1 else None
    prefix = f"fnnet.sweep/{next(_SWEEPS)}/" if client is not None else ""
    return Peers(client, prefix, jax.process_index() if n_processes > 1 else 0, n_processes)


def _each(values: list, what: str) -> str:
    return ", ".join(f"process {p}: {v} {what}{'s' * (v != 1)}" for p, v in enumerate(values))


class Peers(NamedTuple):
    """Process ``index`` of the ``count`` processes of one sweep, and the key-value store
    (``client``, keys under ``prefix``) they share. With one process every step is trivial; with
    several and no store (a JAX that hides it) agreement is skipped and collectives wait."""

    client: Any
    prefix: str
    index: int
    count: int

    def exchange(self, topic: str, value) -> list:
        """Every process's ``value`` (JSON) for ``topic``, in process order; each must call it.
        Waits as long as the others live, stopping where one failed."""
        if self.client is None:
            return [value] * self.count
        self.client.key_value_set(f"{self.prefix}{topic}/{self.index}", json.dumps(value))
        return [self._wait(f"{self.prefix}{topic}/{p}") for p in range(self.count)]

    def _wait(self, key: str):
        while True:
            try:
                return json.loads(self.client.blocking_key_value_get(key, POLL_MS))
            except jax.errors.JaxRuntimeError as e:
                if "DEADLINE_EXCEEDED" not in str(e):
                    raise
            self.check()

    def check(self) -> None:
        """Raises :class:`PeerFailed` where another process of the sweep failed."""
        if self.client is None:
            return
        for key, why in sorted(self.client.key_value_dir_get(f"{self.prefix}failed/")):
            process = int(key.rsplit("/", 1)[1])
            if process != self.index:
                raise PeerFailed(
                    f"process {process} of the {self.count} processes of this sweep failed "
                    f"({why}), so this one stops too. No finished chunk is lost: remove the "
                    "cause, then rerun every process with the same arguments to resume"
                )

    def fail(self, error: BaseException) -> None:
        """Tells the other processes that this one failed with ``error``, where it can."""
        if self.client is None or isinstance(error, PeerFailed):
            return
        key = f"{self.prefix}failed/{self.index}"
        with contextlib.suppress(Exception):  # the store may be gone with the error's cause
            self.client.key_value_set(key, f"{type(error).__name__}: {error}")

    def wait_for_all(self, name: str) -> None:
        """Returns when every process got here (a barrier); raises where one failed instead."""
        if self.count == 1:
            return
        if self.client is None:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"fnnet.sweep {name}")
            return
        self.exchange("finished", True)

    def smallest(self, value: int) -> int:
        """The smallest of the processes' ``value``."""
        if self.client is None and self.count > 1:
            from jax.experimental import multihost_utils

            return int(min(multihost_utils.process_allgather(np.int32(value))))
        return min(self.exchange("smallest", int(value)))

    def agree_on_devices(self, n_devices: int) -> None:
        """Raises a ValueError on every process unless all have ``n_devices`` local devices."""
        counts = self.exchange("devices", n_devices)
        if len(set(counts)) > 1:
            raise ValueError(
                "jax.local_devices(): expected the same number of local devices on every "
                "process of a sweep (each spreads a chunk's seeds evenly over its devices, and "
                f"results are bitwise equal at one device count only), got {_each(counts, 'device')}"
            )

    def agree_on_settings(self, settings: dict, stored: str | None, out: str) -> None:
        """Raises a ValueError on every process unless all computed these ``settings`` and found
        the same sweep (``stored``, its digest, or None) in ``out``: one folder that they share."""
        everyone = self.exchange("settings", {"settings": settings, "stored": stored})
        first = everyone[0]["settings"]
        lines = [
            line
            for p, theirs in enumerate(everyone)
            for line in differences(first, theirs["settings"], _names(p))
        ]
        if lines:
            raise ValueError(
                f"out: the {self.count} processes of this sweep disagree on its settings, so none "
                "trains: every process must run the same train_one with the same arguments "
                f"(and the same versions). Differences from process 0: {'; '.join(lines)}"
            )
        found = [s["stored"] for s in everyone]
        if len(set(found)) > 1:
            seen = ", ".join(f"process {p} {_sees(s)}" for p, s in enumerate(found))
            raise ValueError(
                f"out: expected a folder that all processes of the sweep share, got {out!r}, in "
                f"which {seen}; give every process the path of one shared folder"
            )


def _names(p: int) -> tuple:
    """How :func:`differences` names process 0's settings, process p's, and what computes them."""
    return ("process 0 has", f"process {p} has", "process 0's train_one")


def _sees(stored: str | None) -> str:
    return "finds no sweep" if stored is None else f"finds sweep {stored[:16]}"
