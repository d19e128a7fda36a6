"""Many training runs as one compiled program: ``train_one`` for every seed and every grid point,
``jax.vmap``-ped over seeds, in chunks spread over all devices, resumable from a folder.

The lecture's claims about training ("a 2-2-1 network learns XOR") are claims about a distribution
over random initialisations; a sweep measures that distribution with as many seeds as it takes.

What ``run`` computes, for seeds i = 0 .. n_seeds - 1 and grid indices g_1 .. g_k::

    values[g_1, ..., g_k, i] = train_one(seed_key(key, i), name_1=grid[name_1][g_1], ...,
                                         name_k=grid[name_k][g_k])
    seed_key(key, i)         = jax.random.fold_in(key, i)

Seed i's key depends on ``(key, i)`` only: not on the chunk size, the device count, the process
count or the grid point. Every grid point thus trains seed i from the same key (common random
numbers), so a difference between two cells is not initialisation noise.

The folder. With ``out=DIR``, ``DIR/settings.json`` says what identifies the sweep: its ``name``, a
fingerprint of the program ``train_one`` computes for one seed, ``n_seeds``, ``chunk_size``, the
grid's names, dtypes and values, the key, every result leaf's path, dtype and shape, the format
and the fnnet, JAX and jaxlib versions.
``DIR/chunks/p{point}-c{chunk}.npz`` holds one finished unit (``point`` the grid point's flat
index in C order, ``chunk`` the chunk's index), written atomically; it names its sweep (a digest
of the settings) and its unit and carries a sha256 checksum of its arrays.

Resuming. A rerun with the same settings loads every chunk that verifies and computes the rest
(``Results.computed``); a chunk that does not verify is reported by a :class:`DamagedChunkWarning`
that names its path and the reason, and is computed again. A rerun with other settings (an edited
``train_one`` included) raises a ``ValueError`` that names each difference, and so does a folder
whose chunks have no readable settings; use another folder, or :func:`clear` to start afresh.
One JAX computes a sweep: a rerun under another JAX or jaxlib version is refused too, naming both
versions, since XLA may compile the same program otherwise and the resumed sweep would mix chunks
that differ in the last bits (e.g. 131,072 XOR seeds × 2,000 steps agreed to 1.5e-7 between jax
0.10.2 and 0.12.0.1, not bitwise). To load or finish a sweep, install the versions it names.
Settings are created exclusively: of two runs with different settings started together on one
folder, the later one gets that error. A folder that cannot be written is refused before any
training when anything is left to compute. :func:`status` reports a folder's verified progress.

Several hosts. Start every process with ``jax.distributed.initialize()`` (on a cluster that JAX
detects, such as SLURM or Cloud TPU, it needs no arguments; else give ``coordinator_address``,
``num_processes`` and ``process_id``), then call ``run`` with the same arguments and an ``out`` on
a filesystem that all of them share. Unit u = point * n_chunks + chunk goes to process
u % ``jax.process_count()``; after a barrier every process loads the whole sweep from ``out``.

How. Each unit (grid point, chunk of ``chunk_size`` seeds) is one call of one jit-compiled, vmapped
program, compiled once per sweep: the last chunk is padded with seeds past ``n_seeds`` whose
results are dropped, and grid values are traced arguments. A chunk's seed axis is sharded over the
local devices (``NamedSharding(Mesh(jax.local_devices(), ("seeds",)), PartitionSpec("seeds"))``).
The chunk size is the one given, else the one stored in ``out``, else :func:`choose_chunk_size`'s:
on a GPU or TPU as many seeds as fit in half of the devices' free memory (the compiled program's
memory need, fitted from two small compilations), on CPU :data:`CHUNK_SEEDS`. On a CPU with one
device and several cores, each chunk is split into equal parts run concurrently from threads, one
per core (:func:`cpu_parts`), and the parts' results concatenated.

Reproducibility. Reruns of one sweep on one machine (same chunk size, device count and core
count) are bitwise equal on a deterministic backend (XLA on CPU; on GPU set
``XLA_FLAGS=--xla_gpu_deterministic_ops=true``), so a resumed sweep equals an uninterrupted one.
Across chunk sizes, device and core counts, results agree to float rounding but are not promised
bitwise: XLA compiles the program for the number of seeds per device, which can change the last
bit of a reduction or a matmul, and training can amplify it. Compare such runs with a tolerance.

>>> import jax, jax.numpy as jnp, numpy as np
>>> def train_one(key, scale):
...     return {"x": jnp.sqrt(scale) * jax.random.normal(key)}  # NaN where scale < 0
>>> r = run(train_one, 8, grid={"scale": np.array([1.0, 4.0, -1.0])}, progress=False)
>>> r.values["x"].shape, r.diverged.shape
((3, 8), (3, 8))
>>> bool(np.all(r.values["x"][1] == 2 * r.values["x"][0])), bool(np.all(r.diverged[2]))
(True, True)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import inspect
import itertools
import json
import math
import os
import re
import secrets
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.extend as jex
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fnnet import _atomic, _checks
from fnnet._version import __version__

__all__ = [
    "ASSUMED_FREE_MEMORY",
    "CHUNK_SEEDS",
    "DamagedChunkWarning",
    "MAX_SEEDS_PER_DEVICE",
    "MEMORY_FRACTION",
    "MIN_PART_SEEDS",
    "MemoryNeed",
    "Results",
    "Status",
    "choose_chunk_size",
    "clear",
    "cpu_parts",
    "default_chunk_size",
    "free_memory",
    "run",
    "seed_key",
    "status",
]

CHUNK_SEEDS = 4096
"""The default chunk on CPU: at most this many seeds per compiled call (rounded up to the device
count). Measured 2026-11-27 on a 2-core AMD EPYC VM (shared, load average 5-8, so +-30% noise),
131072 seeds of XOR 2-2-1, 300 epochs, one device with chunks split over 2 threads, best of 2,
seed-steps/s: ``experiments._xor.train`` 1.6e7 (1024), 1.7e7 (4096), 1.7e7 (16384), 1.4e7
(65536); ``fit`` plain SGD ``layout="auto"`` 2.1e7, 3.5e7, 4.4e7, 3.1e7. An interleaved rerun of
4096 against 16384 gave 3.2e7 / 3.3e7 and 6.3e7 / 4.6e7: 4096 and 16384 tie within the noise,
smaller and larger chunks are slower, and 4096 keeps chunks a short unit of progress."""

MEMORY_FRACTION = 0.5
"""On a GPU or TPU, the default chunk's program may use this fraction of the free memory."""

MAX_SEEDS_PER_DEVICE = 2**22
"""On a GPU or TPU, the default chunk holds at most this many seeds per device: an H200 is busy
with 2**20 XOR seeds already (1.07e10 seed-steps/s, against 1.7e8 with 4096), and a chunk is also
the unit of progress and of work lost when a sweep is killed."""

ASSUMED_FREE_MEMORY = 8 * 2**30
"""On a GPU or TPU that reports no memory stats, the free bytes assumed (a small card's)."""

MIN_PART_SEEDS = 256
"""On CPU, a chunk is split over threads only into parts of at least this many seeds (smaller
chunks gain little, and XLA may round otherwise for a part of one seed)."""

_FORMAT = 2
_SETTINGS = "settings.json"
_CHUNKS = "chunks"
# Compared on a rerun but not digested: the chunks of folders written before jaxlib was stored
# name the digest of the settings without both versions.
_VERSIONS = ("jax", "jaxlib")
# a folder's own files, which clear removes: settings, chunks and temporary files of their writers
_OWN_FILES = re.compile(r"settings\.json|\.+settings\.json.*\.(fnnet-)?tmp")
_OWN_CHUNKS = re.compile(r"p\d+-c\d+\.npz|\.+p\d+-c\d+\.npz.*\.(fnnet-)?tmp")
_CHUNK_FILE = re.compile(r"p\d+-c\d+\.npz")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-FX]+")


class DamagedChunkWarning(UserWarning):
    """A chunk of a sweep folder did not verify; the message names its path and the reason. The
    sweep computes that chunk again instead of loading it."""


class Results(NamedTuple):
    """What :func:`run` returns.

    Attributes:
      values: ``train_one``'s result tree; every leaf a NumPy array of shape
        ``(len(grid[name_1]), ..., len(grid[name_k]), n_seeds, *leaf_shape)``
        (``(n_seeds, *leaf_shape)`` without a grid).
      diverged: bool NumPy array ``(len(grid[name_1]), ..., n_seeds)``: True where any floating
        (or complex) leaf of that seed's result holds a NaN or an infinity.
      grid: the grid as NumPy arrays, in the order of the leading axes (``{}`` without a grid).
      n_seeds: the number of seeds.
      computed: the units this call (this process, with several) computed; the rest were loaded
        from ``out``. Each is ``(grid_index, chunk)``, ``grid_index`` a tuple of indices into
        the grid, ``chunk`` covering seeds ``chunk * chunk_size`` up to the next chunk.
    """

    values: Any
    diverged: np.ndarray
    grid: dict
    n_seeds: int
    computed: tuple


class Status(NamedTuple):
    """A sweep folder's progress (:func:`status`), every chunk verified: its settings; the units
    ``(grid_index, chunk)`` finished; those missing, which a rerun computes (absent or damaged);
    and the damaged ones as ``(unit, path, reason)``."""

    settings: dict
    finished: tuple
    missing: tuple
    damaged: tuple


# --- arguments ------------------------------------------------------------------------------


def _as_key(key, name: str = "key"):
    """``key`` as a typed scalar PRNG key; a legacy ``jax.random.PRNGKey`` is wrapped."""
    if isinstance(key, jax.Array) and not _checks.is_concrete(key):
        raise TypeError(
            f"{name}: expected a concrete PRNG key (call run outside jit), got a tracer"
        )
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name}: expected one PRNG key of shape (), got shape {key.shape}")
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"{name}: expected a PRNG key from jax.random.key, got {type(key).__name__} "
        f"{getattr(key, 'dtype', '')}{_checks.shape_of(key) if hasattr(key, 'shape') else ''}"
    )


def seed_key(key, i):
    """Seed i's key, ``jax.random.fold_in(key, i)``: the key :func:`run` hands ``train_one``.

    It depends on ``(key, i)`` only, so one seed of a sweep is reproduced alone by
    ``train_one(seed_key(key, i), **hparams)``.

    >>> import jax
    >>> k = seed_key(jax.random.key(0), 3)
    >>> bool(jax.random.key_data(k).tolist() == jax.random.key_data(
    ...     jax.random.fold_in(jax.random.key(0), 3)).tolist())
    True
    """
    if isinstance(i, (jax.Array, np.ndarray, np.generic)):
        if not jnp.issubdtype(i.dtype, jnp.integer) or i.shape != ():
            raise TypeError(f"i: expected one integer seed index, got {i.dtype}{list(i.shape)}")
    else:
        i = _checks.integer(i, "i", minimum=0, maximum=2**32 - 1)
    return jax.random.fold_in(_as_key(key), i)


def default_chunk_size(n_seeds: int, n_devices: int) -> int:
    """The chunk size on CPU, and on an accelerator whose program's memory need is unknown: all
    seeds in one chunk up to :data:`CHUNK_SEEDS`, else :data:`CHUNK_SEEDS`; either rounded up to
    a multiple of ``n_devices`` so that every device gets the same number of seeds."""
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1)
    n_devices = _checks.integer(n_devices, "n_devices", minimum=1)
    return math.ceil(min(n_seeds, CHUNK_SEEDS) / n_devices) * n_devices


class MemoryNeed(NamedTuple):
    """Device memory that a chunk program needs with s seeds per device: ``fixed + per_seed * s``
    bytes (:func:`choose_chunk_size` fits it from the compiled program)."""

    fixed: int
    per_seed: int


def free_memory(device) -> int | None:
    """Bytes free on ``device``: ``bytes_limit - bytes_in_use`` of ``device.memory_stats()``;
    None where the device does not report them (CPU, some plugins)."""
    try:
        stats = device.memory_stats()
    except Exception:  # a backend without memory stats may raise instead of returning None
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return max(0, int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))


def _accelerated(devices) -> bool:
    """Whether ``devices`` are a GPU's or TPU's (not the CPU's); a test may replace it."""
    return devices[0].platform != "cpu"


def choose_chunk_size(n_seeds: int, devices, need=None) -> int:
    """The default chunk size of a sweep of ``n_seeds`` seeds on the local ``devices``.

    On CPU (``devices[0].platform == "cpu"``): :func:`default_chunk_size`, at most
    :data:`CHUNK_SEEDS` seeds per chunk, the fastest of those measured (see :data:`CHUNK_SEEDS`).

    On a GPU or TPU: as many seeds per device as fit in :data:`MEMORY_FRACTION` of the smallest
    free memory (:func:`free_memory`) among ``devices``, the program needing
    ``need.fixed + need.per_seed * s`` bytes for s seeds per device; at most
    :data:`MAX_SEEDS_PER_DEVICE`, and at least 1. Where the devices report no free memory,
    :data:`ASSUMED_FREE_MEMORY` bytes are assumed free; where ``need`` is None (the program's
    memory need is unknown), :func:`default_chunk_size` applies. The seeds are then spread over
    the fewest chunks of that size and every chunk made as small as that number of chunks allows,
    so that the last one is barely padded: ``ceil(n_seeds / n_devices / n_chunks)`` seeds per
    device, times ``len(devices)``.

    ``need`` is a :class:`MemoryNeed`, None, or a function of no arguments that returns one of
    these (called only on an accelerator: :func:`run` passes one that compiles the chunk program
    at two small sizes). ``free_memory`` and ``_accelerated`` are looked up in this module at each
    call, so a test can replace them (a fake GPU on CPU).
    """
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1)
    devices = list(devices)
    if not devices:
        raise ValueError("devices: expected at least one device, got none")
    n_devices = len(devices)
    if not _accelerated(devices):
        return default_chunk_size(n_seeds, n_devices)
    need = need() if callable(need) else need
    if need is None:
        return default_chunk_size(n_seeds, n_devices)
    free = [free_memory(d) for d in devices]
    free = ASSUMED_FREE_MEMORY if None in free else min(free)
    budget = MEMORY_FRACTION * free - need.fixed
    per_device = int(min(max(budget // max(need.per_seed, 1), 1), MAX_SEEDS_PER_DEVICE))
    wanted = math.ceil(n_seeds / n_devices)
    n_chunks = math.ceil(wanted / per_device)
    return math.ceil(wanted / n_chunks) * n_devices


def _bytes_needed(compiled) -> int | None:
    """Peak device bytes of a compiled chunk program while :func:`run` pipelines it: arguments,
    temporaries and two chunks' outputs (one being computed, the one before being fetched)."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # a backend without it may raise (NotImplementedError, UNIMPLEMENTED)
        return None
    if m is None:
        return None
    outputs = 2 * m.output_size_in_bytes - m.alias_size_in_bytes
    return int(m.argument_size_in_bytes + m.temp_size_in_bytes + outputs)


def _measure_need(lower: Callable, device, sizes=(256, 512)) -> MemoryNeed | None:
    """The chunk program's :class:`MemoryNeed`, a line through its compiled memory need
    (:func:`_bytes_needed`) at ``sizes`` seeds on ``device``; ``lower(seeds)`` lowers it for an
    abstract ``seeds`` array. None where the backend gives no memory analysis."""
    sharding = jax.sharding.SingleDeviceSharding(device)
    needs = []
    for size in sizes:
        seeds = jax.ShapeDtypeStruct((size,), jnp.uint32, sharding=sharding)
        needs.append(_bytes_needed(lower(seeds).compile()))
    if None in needs:
        return None
    (s1, s2), (b1, b2) = sizes, needs
    per_seed = max(math.ceil((b2 - b1) / (s2 - s1)), 1)
    return MemoryNeed(max(b1 - per_seed * s1, 0), per_seed)


def _agreed_chunk_size(chunk: int, n_devices: int) -> int:
    """The smallest of the processes' default chunk sizes (every process must call this), so
    that all of them run the sweep with one chunk size; a multiple of ``n_devices``."""
    from jax.experimental import multihost_utils

    per_device = multihost_utils.process_allgather(np.int32(chunk // n_devices))
    return int(np.min(per_device)) * n_devices


def _host_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_parts(chunk_size: int, devices) -> int:
    """Into how many equal parts :func:`run` splits each chunk, each part run from its own
    thread: on a CPU backend with one local device and several cores (XLA runs one program on
    one core and releases the GIL while it runs), the largest divisor of ``chunk_size`` up to the
    core count whose parts hold at least :data:`MIN_PART_SEEDS` seeds; else 1. A second device
    (``JAX_NUM_CPU_DEVICES=N``) shards the chunk instead.

    Measured 2026-11-27 on a 2-core AMD EPYC VM (shared, load average 5-8), 131072 seeds of XOR
    2-2-1, ``fit`` plain SGD lr 0.5, full batch, 300 epochs, ``Record(history="final")``, best of
    3 interleaved, seed-steps/s, unsplit against 2 threads: 2.4e7 / 3.8e7 (chunks of 4096) and
    3.1e7 / 4.3e7 (16384); an earlier run 3.2e7 / 4.1e7 and 3.2e7 / 5.0e7. Two host devices in
    another process, for comparison: 4.0e7 and 4.5e7. Each part is the same program for fewer
    seeds, so results equal the unsplit chunk's wherever the program is elementwise over seeds
    (``fit``'s scalar layout: bitwise; the matrix layout: to float rounding)."""
    devices = list(devices)
    if len(devices) != 1 or _accelerated(devices):
        return 1
    most = min(_host_cores(), chunk_size // MIN_PART_SEEDS)
    return max([k for k in range(1, most + 1) if chunk_size % k == 0], default=1)


def _check_grid(grid) -> dict:
    """``grid`` as a dict name -> non-empty 1-D NumPy array of finite numbers (``{}`` for None).

    Names must be Python identifiers, since they reach ``train_one`` as keyword arguments; values
    must be bool, integer or floating, since they reach it as traced 0-d arrays.
    """
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise TypeError(
            f"grid: expected a dict name -> 1-D array of values, got {type(grid).__name__}"
        )
    checked = {}
    for name, values in grid.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise TypeError(
                f"grid: expected names that are Python identifiers (keyword arguments of "
                f"train_one), got {name!r}"
            )
        try:
            v = np.asarray(jax.device_get(values))
        except Exception as e:
            raise TypeError(
                f"grid[{name!r}]: expected a 1-D array of numbers, got {type(values).__name__}"
            ) from e
        if not (
            v.dtype == bool
            or np.issubdtype(v.dtype, np.integer)
            or np.issubdtype(v.dtype, np.floating)
        ):
            raise TypeError(
                f"grid[{name!r}]: expected numbers (bool, integer or floating; a choice among "
                f"things that are not numbers can be an integer index), got dtype {v.dtype}"
            )
        if v.ndim != 1 or v.size == 0:
            raise ValueError(
                f"grid[{name!r}]: expected a non-empty 1-D array of values, got shape {v.shape}"
            )
        if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
            raise ValueError(f"grid[{name!r}]: expected finite values, got {v.tolist()}")
        checked[name] = v
    return checked


_PASS_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _check_train_one(train_one, names) -> None:
    """Checks that ``train_one`` is a function ``train_one(key, **hparams)`` whose keyword
    arguments are exactly covered by the grid's ``names`` (those with defaults may be left out;
    ``**kwargs`` takes any). Builtins, whose signature Python cannot read, pass unchecked.
    """
    if not callable(train_one):
        raise TypeError(
            f"train_one: expected a function train_one(key, **hparams) -> results, got "
            f"{type(train_one).__name__}"
        )
    try:
        sig = inspect.signature(train_one)
    except (TypeError, ValueError):  # a builtin or C function: nothing to check
        return
    params = list(sig.parameters.values())
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    varargs = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
    if not positional and not varargs:
        raise TypeError(
            f"train_one: expected a function train_one(key, **hparams) that takes the key as "
            f"its first positional argument, got signature {sig}"
        )
    first = positional[0] if positional else None
    rest = [p for p in params if p is not first]
    by_name = {p.name for p in rest if p.kind in _PASS_BY_NAME}
    if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params):
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(
                f"grid: expected names of train_one's keyword arguments {sorted(by_name)}, got "
                f"{unknown} that train_one{sig} does not take"
            )
    missing = [
        p.name
        for p in rest
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in names
    ]
    if missing:
        raise ValueError(
            f"grid: train_one{sig} requires {missing}, which grid does not give; expected them "
            f"in grid, or given a default (e.g. with functools.partial)"
        )


def _default_name(train_one) -> str:
    target = train_one.func if isinstance(train_one, functools.partial) else train_one
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def _check_out(out, n_processes: int) -> str | None:
    """``out`` as a path string, or None; several processes need a folder that they share."""
    if out is None:
        if n_processes > 1:
            raise ValueError(
                f"out: a sweep over {n_processes} processes needs a folder that all of them "
                "share, got None"
            )
        return None
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a folder path (str or os.PathLike), got {out!r}")
    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out: expected a folder, got the file {out!r}")
    return out


# --- the plan: units, chunks, seeds, this process's share -----------------------------------


class _Plan(NamedTuple):
    """Which seeds and hyperparameters each unit of a sweep covers.

    Unit ``(g, c)`` trains seeds ``span(c) = (lo, hi)`` of chunk c at grid point g (a tuple of
    indices into the grid, flat index ``point(g)`` in C order); its program runs ``seeds(c)``,
    ``chunk_size`` seed indices from ``lo``, the last chunk padded past ``n_seeds``.
    """

    grid: dict
    n_seeds: int
    chunk_size: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.grid.values())

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_seeds / self.chunk_size)

    def units(self) -> list[tuple[tuple[int, ...], int]]:
        grid_points = itertools.product(*map(range, self.shape))
        return [(g, c) for g in grid_points for c in range(self.n_chunks)]

    def point(self, g) -> int:
        return int(np.ravel_multi_index(g, self.shape)) if g else 0

    def span(self, c: int) -> tuple[int, int]:
        return c * self.chunk_size, min((c + 1) * self.chunk_size, self.n_seeds)

    def seeds(self, c: int) -> np.ndarray:
        return np.arange(c * self.chunk_size, (c + 1) * self.chunk_size, dtype=np.uint32)

    def hparams(self, g) -> dict:
        return {name: np.asarray(v[i]) for (name, v), i in zip(self.grid.items(), g)}

    def rows(self, units) -> int:
        """The number of seeds that ``units`` cover together."""
        return sum(hi - lo for lo, hi in (self.span(c) for _, c in units))

    def share(self, process: int, n_processes: int) -> tuple[list, list]:
        """This process's units (unit number u goes to process u % n_processes) and the others."""
        units = self.units()
        mine = [u for n, u in enumerate(units) if n % n_processes == process]
        return mine, [u for n, u in enumerate(units) if n % n_processes != process]


def _plan(
    grid: dict, n_seeds: int, chunk_size, stored: dict | None, n_devices: int, default
) -> _Plan:
    """The plan of a run: ``chunk_size`` as given, else the one stored in ``out``, else
    ``default()``; either way a multiple of the local device count."""
    if chunk_size is None:
        reuse = stored is not None and stored["chunk_size"] % n_devices == 0
        chunk_size = stored["chunk_size"] if reuse else default()
    else:
        chunk_size = _checks.integer(chunk_size, "chunk_size", minimum=1)
        if chunk_size % n_devices:
            raise ValueError(
                f"chunk_size: expected a multiple of the {n_devices} local devices (each gets "
                f"the same number of seeds), got {chunk_size}"
            )
    return _Plan(grid, n_seeds, chunk_size)


def _plan_of(settings: dict) -> _Plan:
    """The plan that a folder's settings describe."""
    grid = {g["name"]: np.asarray(g["values"], g["dtype"]) for g in settings["grid"]}
    return _Plan(grid, settings["n_seeds"], settings["chunk_size"])


# --- the program: one chunk of seeds at one grid point ----------------------------------------


def _nonfinite(x):
    """(chunk,) bool: True where seed's slice of a floating leaf x (chunk, ...) is not finite."""
    return jnp.any(~jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1)


def _chunk_program(key, seeds, hparams, *, train_one):
    """One unit of work: ``train_one`` for every seed index in ``seeds`` (chunk,) at ``hparams``."""

    def one(i):
        return train_one(jax.random.fold_in(key, i), **hparams)

    out = jax.vmap(one)(seeds)
    diverged = jnp.zeros(seeds.shape, bool)
    for leaf in jax.tree.leaves(out):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            diverged = diverged | _nonfinite(leaf)
    return out, diverged


# train_one is static: jit's cache keeps one program per (train_one, shapes), also across calls.
# Nothing is donated: the only inputs are a key, the seed indices and scalars, none of which has
# the shape of an output, so donation could not save a buffer (and warns where it cannot).
_chunk_jit = jax.jit(_chunk_program, static_argnames=("train_one",))


class _Program(NamedTuple):
    """The compiled chunk program ``call(key, seeds, hparams) -> (tree, diverged)``, with the
    structure of its results: ``leaves`` (chunk_size, *shape) and their description for the
    settings (``results``); ``parts``, the number of threads a chunk is split over
    (:func:`cpu_parts`)."""

    call: Callable
    sharding: NamedSharding
    treedef: Any
    leaves: list
    results: list
    parts: int


def _jit(train_one) -> tuple[Callable, Callable]:
    """The jitted chunk program ``call(key, seeds, hparams)`` for ``train_one``, and
    ``lower(key, seeds, hparams)``, its lowering for abstract arguments."""
    try:
        hash(train_one)
    except TypeError:  # an unhashable callable cannot be static: one jit for this sweep
        jitted = jax.jit(functools.partial(_chunk_program, train_one=train_one))
        return jitted, jitted.lower
    call = functools.partial(_chunk_jit, train_one=train_one)
    return call, functools.partial(_chunk_jit.lower, train_one=train_one)


def _compile(call: Callable, plan: _Plan, key, devices) -> _Program:
    """The chunk program ``call``, the sharding of its seeds over the local ``devices``, and its
    results' structure, from one trace (jit's cache reuses it for the calls); results must be
    numeric arrays."""
    sharding = NamedSharding(Mesh(np.array(devices), ("seeds",)), PartitionSpec("seeds"))
    parts = cpu_parts(plan.chunk_size, devices)
    # traced at the shape the calls will have (a part of a split chunk), so that they reuse it
    seeds = jax.device_put(np.split(plan.seeds(0), parts)[0], sharding)
    try:
        out_info, _ = jax.eval_shape(call, key, seeds, plan.hparams((0,) * len(plan.grid)))
    except TypeError as e:
        if "is not a valid JAX type" not in str(e):
            raise
        raise TypeError(f"train_one: expected results that are numeric arrays, got {e}") from None
    described = jax.tree_util.tree_leaves_with_path(out_info)
    if not described:
        raise TypeError(
            "train_one: expected results that are numeric arrays, got none (None or an empty tree)"
        )
    for p, s in described:
        if not (s.dtype == bool or jnp.issubdtype(s.dtype, jnp.number)):
            raise TypeError(
                f"train_one: expected results that are numeric arrays, got leaf "
                f"{jax.tree_util.keystr(p) or '(root)'} of dtype {s.dtype}"
            )
    results = [
        {"path": jax.tree_util.keystr(p), "dtype": str(s.dtype), "shape": list(s.shape[1:])}
        for p, s in described
    ]
    treedef, leaves = jax.tree.structure(out_info), jax.tree.leaves(out_info)
    return _Program(call, sharding, treedef, leaves, results, parts)


def _consts(jaxpr) -> Iterator:
    """The constants of a (closed) jaxpr and of every jaxpr nested in its equations' parameters
    (a ``jax.jit`` inside ``train_one`` keeps what it closes over in its own jaxpr)."""
    if isinstance(jaxpr, jex.core.ClosedJaxpr):
        yield from jaxpr.consts
        jaxpr = jaxpr.jaxpr
    for eqn in jaxpr.eqns:
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if isinstance(sub, (jex.core.ClosedJaxpr, jex.core.Jaxpr)):
                    yield from _consts(sub)


def _fingerprint(train_one, key, hparams: dict) -> str:
    """The sha256 digest of what ``train_one`` computes for one seed: the text of its jaxpr for
    ``(key, hparams)``, and the dtype, shape and bytes of every constant it closes over.

    The text has the memory addresses that some parameters print removed (a callback's
    ``<function f at 0x7f...>``), since they differ between processes. Argument values are
    traced, so the digest depends on ``train_one`` and the arguments' dtypes only: an edit that
    changes the computation (a loop length, a closed-over array, a formula) changes it, one that
    does not (a comment, a name) keeps it. Python callbacks count by name only, and the text is
    the program as this JAX version writes it.
    """
    closed = jax.make_jaxpr(lambda k, hp: train_one(k, **hp))(key, hparams)
    digest = hashlib.sha256(_ADDRESS.sub("", str(closed.jaxpr)).encode())
    for const in _consts(closed):
        if isinstance(const, jax.Array) and jax.dtypes.issubdtype(const.dtype, jax.dtypes.prng_key):
            const = jax.random.key_data(const)
        a = np.asarray(const)
        digest.update(f"{a.dtype} {a.shape}\n".encode())
        is_object = a.dtype == object
        digest.update(_ADDRESS.sub("", repr(a)).encode() if is_object else a.tobytes())
    return digest.hexdigest()


# --- settings: what identifies a sweep --------------------------------------------------------


def _settings(name: str, fingerprint: str, plan: _Plan, key, program: _Program) -> dict:
    """What identifies a sweep."""
    return {
        "format": _FORMAT,
        "name": name,
        "program": fingerprint,
        "n_seeds": plan.n_seeds,
        "chunk_size": plan.chunk_size,
        "grid": [
            {"name": k, "dtype": str(v.dtype), "values": v.tolist()} for k, v in plan.grid.items()
        ],
        "key": {
            "impl": str(jax.random.key_impl(key)),
            "data": np.asarray(jax.random.key_data(key)).tolist(),
        },
        "results": program.results,
        "fnnet": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
    }


def _digest(settings: dict) -> str:
    """The sweep's identity, which every chunk names: a sha256 digest of its settings but the
    versions (which the settings file holds, and reruns compare)."""
    identity = {k: v for k, v in settings.items() if k not in _VERSIONS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _short(value, limit: int = 120) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differences(stored: dict, given: dict) -> list[str]:
    """One line per setting that differs; an edited ``train_one`` is named as such."""

    def line(k):
        text = f"{k}: stored {_short(stored.get(k))}, given {_short(given.get(k))}"
        if k != "program":
            return text
        return (
            f"train_one computes something other than the stored sweep (the fingerprint of its "
            f"program differs, {text})"
        )

    if stored.get("format") != given["format"]:
        return [f"{line('format')} (stored by fnnet {stored.get('fnnet')})"]
    keys = [k for k in dict.fromkeys([*given, *stored]) if k not in _VERSIONS]
    # a folder written before jaxlib was stored compares jax alone
    versions = [k for k in _VERSIONS if k in stored and stored[k] != given[k]]
    names = ", ".join(f"{k}=={stored[k]}" for k in _VERSIONS if k in stored)
    return [line(k) for k in keys if stored.get(k) != given.get(k)] + [
        f"{line(k)} (one JAX computes a sweep: XLA may compile its program otherwise and the "
        f"results would mix; to load or finish it, install {names})"
        for k in versions
    ]


def _settings_problem(s) -> str | None:
    """Why ``s``, parsed from a settings file, is not a sweep's settings; None where it is."""
    if not isinstance(s, dict):
        return f"expected a JSON object, got {type(s).__name__}"
    types = dict(format=int, name=str, n_seeds=int, chunk_size=int, grid=list, results=list)
    for k, t in types.items():
        if not isinstance(s.get(k), t) or isinstance(s.get(k), bool):
            return f"{k}: expected {t.__name__}, got {_short(s.get(k))}"
    if s["n_seeds"] < 1 or s["chunk_size"] < 1:
        return f"expected n_seeds and chunk_size >= 1, got {s['n_seeds']} and {s['chunk_size']}"
    try:
        _plan_of(s)
        for r in s["results"]:  # an empty array of each: raises where they describe none
            np.empty((0, *map(int, r["shape"])), jnp.dtype(r["dtype"]))
    except (KeyError, TypeError, ValueError) as e:
        return f"grid or results do not describe arrays ({type(e).__name__}: {e})"
    return None


# --- the store: a sweep folder, every chunk verified ------------------------------------------


def _checksum(arrays: dict) -> str:
    """sha256 of a chunk's arrays but its checksum: their names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name != "checksum":
            a = np.ascontiguousarray(arrays[name])
            digest.update(f"{name} {a.dtype} {a.shape}\n".encode())
            digest.update(a.tobytes())
    return digest.hexdigest()


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


class _Store(NamedTuple):
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
        try:
            with open(path, "rb") as file:  # closed here also where np.load fails
                data = np.load(file, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    return "it holds a single array, not an .npz archive"
                with data:
                    arrays = {name: data[name] for name in data.files}
        except Exception as e:  # a damaged file can fail in many ways; each means "recompute"
            return f"it cannot be read as an .npz archive ({type(e).__name__}: {e})"
        return _verify(arrays, self.digest, [point, chunk], rows, self.settings["results"])

    def write(self, point: int, chunk: int, leaves: list, diverged: np.ndarray) -> None:
        arrays = {f"leaf_{j}": x for j, x in enumerate(leaves)}
        arrays.update(diverged=diverged, sweep=np.array(self.digest), unit=np.array([point, chunk]))
        arrays["checksum"] = np.array(_checksum(arrays))
        _atomic.write(self.path(point, chunk), lambda f: np.savez(f, **arrays))


def _fresh_start(out: str) -> str:
    return f"use another folder, or call fnnet.sweep.clear({out!r}) to start afresh"


def _read_settings(out: str) -> dict | None:
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
        why = _settings_problem(settings)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        why = f"it does not parse as JSON: {e}"
    if why is not None:
        raise ValueError(f"out: {path!r} is not a sweep's settings ({why}); {_fresh_start(out)}")
    return settings


def _require_writable(out: str, n_left: int) -> None:
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
    tmp = f".{_SETTINGS}.{_atomic._host()}.{os.getpid()}.{secrets.token_hex(4)}{_atomic.SUFFIX}"
    tmp = os.path.join(out, tmp)
    _atomic.write(tmp, lambda f: f.write(text))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read_settings(out) or {}
    except OSError:  # a filesystem without hard links: exclusive creation, written in place
        with contextlib.suppress(FileExistsError), open(path, "xb") as f:
            f.write(text)
        return _read_settings(out) or {}
    finally:
        os.unlink(tmp)
    return json.loads(text)


def _open_store(out: str, settings: dict, stored: dict | None, n_units: int) -> _Store:
    """The store of ``out`` for a run with ``settings``: created where ``stored`` is None,
    else checked to hold the same settings; temporary files of killed writers are removed."""
    if stored is None:
        _require_writable(out, n_units)
        stored = _create_settings(out, settings)
    diff = _differences(stored, settings)
    if diff:
        raise ValueError(
            f"out: {out!r} holds a sweep with other settings; give the same settings, "
            f"{_fresh_start(out)}. Differences: {'; '.join(diff)}"
        )
    for folder in (out, os.path.join(out, _CHUNKS)):
        _atomic.remove_leftovers(folder)
    return _Store(out, stored, _digest(stored))


def status(out: str | os.PathLike) -> Status:
    """The progress of the sweep in folder ``out``: its settings and its finished, missing and
    damaged units, every chunk verified as :func:`run` would before loading it.

    Raises:
      ValueError: when ``out`` holds no sweep settings, settings that are not a sweep's, or those
        of another format.
    """
    out = _check_out(out, 1)
    settings = None if out is None or not os.path.isdir(out) else _read_settings(out)
    if settings is None:
        raise ValueError(f"out: expected a sweep folder with {_SETTINGS}, got {out!r}")
    if settings["format"] != _FORMAT:
        raise ValueError(
            f"out: expected a sweep of format {_FORMAT}, got format {settings['format']} (fnnet "
            f"{settings.get('fnnet')}) in {out!r}; {_fresh_start(out)}"
        )
    store, plan = _Store(out, settings, _digest(settings)), _plan_of(settings)
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
    out = _check_out(out, 1)
    if out is None or not os.path.exists(out):
        return ()
    chunks = os.path.join(out, _CHUNKS)
    if not os.path.isdir(chunks):
        try:
            why = None if _read_settings(out) else f"it holds neither {_CHUNKS}/ nor {_SETTINGS}"
        except ValueError as e:
            why = str(e)
        if why is not None:
            raise ValueError(
                f"out: expected a sweep folder (with a {_CHUNKS} folder or a sweep's "
                f"{_SETTINGS}), got {out!r}, and clear removes only a sweep's own files: {why}"
            )
    removed = []
    for folder, own in ((out, _OWN_FILES), (chunks, _OWN_CHUNKS)):
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        for name in filter(own.fullmatch, names):
            os.unlink(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(chunks)  # where it is empty now
    return tuple(removed)


# --- run: check, plan, compute or load, gather ------------------------------------------------


class _Gather(NamedTuple):
    """The whole sweep's results, filled chunk by chunk: ``values`` (one array per leaf,
    ``(*grid_shape, n_seeds, *leaf_shape)``) and ``diverged`` ``(*grid_shape, n_seeds)``."""

    values: list
    diverged: np.ndarray

    @classmethod
    def empty(cls, plan: _Plan, program: _Program) -> _Gather:
        values = [
            np.empty((*plan.shape, plan.n_seeds, *s.shape[1:]), s.dtype) for s in program.leaves
        ]
        return cls(values, np.zeros((*plan.shape, plan.n_seeds), bool))

    def place(self, g, span: tuple[int, int], leaves, diverged) -> None:
        rows = (*g, slice(*span))
        for dst, src in zip(self.values, leaves):
            dst[rows] = src
        self.diverged[rows] = diverged


def _load(store: _Store | None, plan: _Plan, gather: _Gather, unit) -> bool | str | None:
    """Places unit ``(g, c)`` from ``store`` into ``gather``: True where it did; else None where
    the chunk is not there, and the reason where it is there but does not verify."""
    if store is None:
        return None
    (g, c), span = unit, plan.span(unit[1])
    found = store.read(plan.point(g), c, span[1] - span[0])
    if not isinstance(found, tuple):
        return found
    gather.place(g, span, *found)
    return True


def _load_mine(store: _Store | None, plan: _Plan, gather: _Gather, mine: list) -> list:
    """Loads this process's units that ``store`` holds; returns those left to compute. Each
    damaged chunk is reported by a :class:`DamagedChunkWarning` naming its path and reason."""
    todo = []
    for g, c in mine:
        loaded = _load(store, plan, gather, (g, c))
        if isinstance(loaded, str):
            path = store.path(plan.point(g), c)
            warnings.warn(f"{path!r}: {loaded}; computing it again", DamagedChunkWarning, 3)
        if loaded is not True:
            todo.append((g, c))
    return todo


def _load_others(store: _Store, plan: _Plan, gather: _Gather, others: list, name: str) -> None:
    """After every process has written its units, loads the others' from ``store``."""
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(f"fnnet.sweep {name}")
    for g, c in others:
        loaded = _load(store, plan, gather, (g, c))
        if loaded is not True:
            raise RuntimeError(
                f"out: unit {(g, c)} of another process, {store.path(plan.point(g), c)!r}, is "
                f"{'damaged: ' + loaded if loaded else 'missing'} after all processes finished"
            )


def _default_chunk_size(lower, key, grid: dict, n_seeds: int, devices, wanted: bool) -> Callable:
    """The default chunk size as a function of no arguments, which :func:`_plan` calls where
    neither the caller nor the folder gives one: :func:`choose_chunk_size`, measuring the
    program's memory need (lowered by ``lower``) on an accelerator only. On several processes with
    accelerators the choice is made now, where ``wanted``, by every process (whether it resumes
    or not), and the smallest taken, so that all processes agree."""
    hparams = {k: np.asarray(v[0]) for k, v in grid.items()}

    def need():
        return _measure_need(lambda seeds: lower(key, seeds, hparams), devices[0])

    def default():
        return choose_chunk_size(n_seeds, devices, need)

    if wanted and jax.process_count() > 1 and _accelerated(devices):
        agreed = _agreed_chunk_size(default(), len(devices))
        return lambda: agreed
    return default


def _dispatch(program: _Program, key, seeds: np.ndarray, hparams: dict, pool):
    """Starts the chunk program on ``seeds``; :func:`_fetch` waits for its results. Split into
    ``program.parts`` equal parts, each part runs (and is fetched) in a thread of ``pool``."""
    if program.parts == 1:
        return program.call(key, jax.device_put(seeds, program.sharding), hparams)

    def part(p):
        return jax.device_get(program.call(key, jax.device_put(p, program.sharding), hparams))

    return [pool.submit(part, p) for p in np.split(seeds, program.parts)]


def _fetch(started) -> tuple:
    """The host results ``(tree, diverged)`` of a chunk that :func:`_dispatch` started; a split
    chunk's parts concatenated along the seed axis."""
    if not isinstance(started, list):
        return jax.device_get(started)
    parts = [future.result() for future in started]
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def _threads(parts: int):
    """A pool of ``parts`` threads for the parts of split chunks; none for unsplit ones."""
    return concurrent.futures.ThreadPoolExecutor(parts) if parts > 1 else contextlib.nullcontext()


def _compute(todo: list, key, plan: _Plan, program: _Program, store, gather, bar) -> None:
    """Computes the units ``todo``, writes each to ``store`` (where there is one) and places it
    in ``gather``. Dispatch is asynchronous: the next chunk is queued before the last one is
    saved, so the devices (or the threads of a split chunk) keep working while the host writes."""

    def finish(g, c, started):
        tree, bad = _fetch(started)
        lo, hi = plan.span(c)
        leaves = [np.asarray(x)[: hi - lo] for x in jax.tree.leaves(tree)]
        bad = np.asarray(bad)[: hi - lo]
        if store is not None:
            store.write(plan.point(g), c, leaves, bad)
        gather.place(g, (lo, hi), leaves, bad)
        if bar is not None:
            bar.update(hi - lo)

    with _threads(program.parts) as pool:
        pending = None
        for g, c in todo:
            started = _dispatch(program, key, plan.seeds(c), plan.hparams(g), pool)
            if pending is not None:
                finish(*pending)
            pending = (g, c, started)
        if pending is not None:
            finish(*pending)


def _progress_bar(plan: _Plan, mine: list, todo: list, name: str):
    """A tqdm bar counting this process's seeds, those loaded already counted."""
    tqdm = _checks.require("tqdm", "tqdm").tqdm
    done = plan.rows(mine) - plan.rows(todo)
    return tqdm(total=plan.rows(mine), initial=done, desc=f"sweep {name}", unit="seed")


def run(
    train_one: Callable,
    n_seeds: int,
    *,
    grid: dict | None = None,
    key=None,
    chunk_size: int | None = None,
    out: str | os.PathLike | None = None,
    name: str | None = None,
    progress: bool = True,
) -> Results:
    """Trains one network per seed and grid point: ``train_one`` vmapped over seeds, in chunks.

    ``values[g_1, ..., g_k, i] = train_one(seed_key(key, i), **{name_j: grid[name_j][g_j]})``
    for every seed i < ``n_seeds`` and every point of the grid's Cartesian product (in the
    dict's order). See the module docstring for the keys, the folder, resuming and several hosts.

    Seed i is marked diverged where any floating (or complex) leaf of its result holds a NaN or
    an infinity; integer and bool leaves are not inspected, so a ``train_one`` that returns only
    those (an accuracy count, a solved flag) marks nothing diverged: return the loss too.

    Args:
      train_one: ``train_one(key, **hparams) -> results``: trains one network from ``key`` (with
        fnnet's usual API, e.g. :func:`fnnet.train.fit`) and returns a pytree of numeric arrays
        (final loss, the epoch it solved the task, parameters, ...). It runs under ``jax.vmap``
        and ``jax.jit``: no Python control flow on its arguments. The grid's values arrive as
        traced 0-d arrays of the grid's dtype.
      n_seeds: seeds per grid point, 1 <= n_seeds <= 2**31.
      grid: optional dict ``name -> 1-D array`` of hyperparameter values; each name a keyword
        argument of ``train_one``. Values must be finite numbers.
      key: the sweep's PRNG key (default ``jax.random.key(0)``).
      chunk_size: seeds per compiled call, a multiple of the local device count; default
        the chunk size stored in ``out`` when resuming, else :func:`choose_chunk_size`'s (on a
        GPU or TPU, as many seeds as fit in half of the free memory, which it measures by
        compiling the program at two small sizes first; on CPU :data:`CHUNK_SEEDS`). On several
        processes with accelerators, every process measures and the smallest choice is taken.
      out: optional folder of finished chunks, for resuming (created if missing).
      name: what names the sweep in ``out``'s settings; default ``train_one``'s module and
        qualified name. What ``train_one`` computes is identified apart from it, by a
        fingerprint of its program for one seed.
      progress: show a tqdm bar counting seeds (needs tqdm).

    Returns:
      :class:`Results`: ``values``, ``diverged``, ``grid``, ``n_seeds``, ``computed``.

    Raises:
      TypeError, ValueError: for bad arguments, each naming the argument, what was expected and
        what was received; ValueError when ``out`` holds a sweep with other settings, or chunks
        with no readable settings.
      PermissionError: when ``out`` cannot be written and something is left to compute.

    Warns:
      DamagedChunkWarning: for each chunk in ``out`` that does not verify, naming its path and
        the reason; it is computed again.
    """
    grid = _check_grid(grid)
    _check_train_one(train_one, list(grid))
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1, maximum=2**31)
    key = jax.random.key(0) if key is None else _as_key(key)
    name = _default_name(train_one) if name is None else name
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress: expected True or False, got {progress!r}")
    n_processes = jax.process_count()
    out = _check_out(out, n_processes)
    stored = None if out is None else _read_settings(out)

    devices = jax.local_devices()
    call, lower = _jit(train_one)
    default = _default_chunk_size(lower, key, grid, n_seeds, devices, chunk_size is None)
    plan = _plan(grid, n_seeds, chunk_size, stored, len(devices), default)
    program = _compile(call, plan, key, devices)
    store = None
    if out is not None:
        fingerprint = _fingerprint(train_one, seed_key(key, 0), plan.hparams((0,) * len(grid)))
        settings = _settings(name, fingerprint, plan, key, program)
        store = _open_store(out, settings, stored, len(plan.units()))

    gather = _Gather.empty(plan, program)
    mine, others = plan.share(jax.process_index(), n_processes)
    todo = _load_mine(store, plan, gather, mine)
    if store is not None and todo:
        _require_writable(out, len(todo))
    bar = _progress_bar(plan, mine, todo, name) if progress else None
    try:
        _compute(todo, key, plan, program, store, gather, bar)
    finally:
        if bar is not None:
            bar.close()
    if n_processes > 1:
        _load_others(store, plan, gather, others, name)
    return Results(
        jax.tree.unflatten(program.treedef, gather.values),
        gather.diverged,
        grid,
        n_seeds,
        tuple(todo),
    )
