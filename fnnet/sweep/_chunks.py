"""How many seeds a sweep computes per compiled call: the default chunk size (on CPU what keeps a
core's working set in its L2 cache, on a GPU or TPU what fits the free memory) and the split of a
CPU chunk over threads."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np

from fnnet import _checks
from fnnet.xla import nested_jaxprs

__all__ = [
    "ASSUMED_CACHE_BYTES",
    "ASSUMED_FREE_MEMORY",
    "CHUNK_SEEDS",
    "MAX_PART_SEEDS",
    "MAX_SEEDS_PER_DEVICE",
    "MEMORY_FRACTION",
    "MIN_PART_SEEDS",
    "WORKING_SET_FACTOR",
    "MemoryNeed",
    "accelerated",
    "cache_bytes",
    "choose_chunk_size",
    "chunk_size_chooser",
    "cpu_chunk_size",
    "cpu_parts",
    "default_chunk_size",
    "free_memory",
    "host_cores",
    "loop_state_bytes",
    "measure_need",
]

CHUNK_SEEDS = 4096
"""The smallest default chunk on CPU, and the whole default where a program's loop state is
unknown: this many seeds per compiled call (fewer where the sweep has fewer seeds; rounded up to
the device count). Larger networks (the 2-8-8-1 and 8-32-32-1 rows of the docs' Sweeps page) run
no faster with larger chunks."""

WORKING_SET_FACTOR = 4
"""On CPU, a seed's working set in a training step is taken as this many times its loop state
(:func:`loop_state_bytes`): the step's temporaries beside the state. The compiled programs' own
figure (``memory_analysis().temp_size_in_bytes`` per seed) was 3.3-3.7x the loop state for plain
gradient descent on 2-2-1 to 2-8-8-1 networks and 1.8x with Adam."""

MAX_PART_SEEDS = 16384
"""On CPU, the default gives a core at most this many seeds per compiled call."""

ASSUMED_CACHE_BYTES = 2**20
"""The L2 cache per core assumed where Linux's ``/sys`` does not say (1 MiB)."""

MEMORY_FRACTION = 0.5
"""On a GPU or TPU, the default chunk's program may use this fraction of the free memory."""

MAX_SEEDS_PER_DEVICE = 2**22
"""On a GPU or TPU, the default chunk holds at most this many seeds per device (a chunk is also
the unit of progress and of work lost when a sweep is killed). Set by
``python -m experiments.gpu_check``'s ``plain SGD`` rows, one per power-of-two chunk size."""

ASSUMED_FREE_MEMORY = 8 * 2**30
"""On a GPU or TPU that reports no memory stats, the free bytes assumed (a small card's)."""

MIN_PART_SEEDS = 256
"""On CPU, a chunk is split over threads only into parts of at least this many seeds (smaller
chunks gain little, and XLA may round otherwise for a part of one seed)."""


_CACHES = "/sys/devices/system/cpu/cpu0/cache"
_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


def _l2_bytes(folder: str) -> int | None:
    """The size of the level-2 data (or unified) cache that ``folder`` (Linux's
    ``/sys/devices/system/cpu/cpuN/cache``) describes; None where it says nothing readable."""
    try:
        for index in sorted(os.listdir(folder)):
            info = {}
            for field in ("level", "type", "size"):
                with open(os.path.join(folder, index, field)) as f:
                    info[field] = f.read().strip()
            if info["level"] == "2" and info["type"] in ("Unified", "Data"):
                size = info["size"]
                scale = _UNITS.get(size[-1:].upper())
                return int(size[:-1]) * scale if scale else int(size)
    except (OSError, ValueError):
        return None
    return None


@functools.cache
def cache_bytes() -> int:
    """The bytes of the L2 cache of the first CPU core, as Linux's
    ``/sys/devices/system/cpu/cpu0/cache`` gives them; :data:`ASSUMED_CACHE_BYTES` where it does
    not (another OS, a container that hides it)."""
    return _l2_bytes(_CACHES) or ASSUMED_CACHE_BYTES


def loop_state_bytes(jaxpr) -> int:
    """The bytes of the largest loop state in the (closed) ``jaxpr``: the carry of a ``while``
    or ``scan`` at any depth (for :func:`fnnet.train.fit`, the parameters, the optimizer's state
    and what it records). Of ``train_one`` traced for one seed, that is one seed's state, which a
    training step reads and writes; 0 for a program without loops."""
    most = 0
    for j in nested_jaxprs(jaxpr):
        inner = j.jaxpr if isinstance(j, jex.core.ClosedJaxpr) else j
        for eqn in inner.eqns:
            if eqn.primitive.name == "while":
                skip = eqn.params["cond_nconsts"] + eqn.params["body_nconsts"]
                carry = eqn.invars[skip:]
            elif eqn.primitive.name == "scan":
                carry = _scan_carry(eqn)
            else:
                continue
            most = max(most, sum(v.aval.size * v.aval.dtype.itemsize for v in carry))
    return int(most)


def _scan_carry(eqn) -> list:
    """The carry among a ``scan`` equation's inputs (after its constants, before its xs). jax up
    to 0.11 counts them in ``num_consts`` and ``num_carry``; jax 0.12 gives ``ft_in``, a flat
    tree of the three groups (iterating one yields its leaves)."""
    params = eqn.params
    if "num_consts" in params:
        skip, n = params["num_consts"], params["num_carry"]
    else:
        consts, carry, _ = params["ft_in"].unpack()
        skip, n = len(list(consts)), len(list(carry))
    return eqn.invars[skip : skip + n]


def _lanes(devices) -> int:
    """Over how many cores a CPU chunk runs: one per device, or one thread per core where JAX
    sees one device (:func:`cpu_parts`)."""
    return len(devices) if len(devices) > 1 else host_cores()


def cpu_chunk_size(n_seeds: int, devices, state_bytes: int | None) -> int:
    """The default chunk size on CPU for a program whose loop state is ``state_bytes`` per seed
    (:func:`loop_state_bytes`; None where unknown).

    Each core gets the power of two nearest to ``cache_bytes() / (WORKING_SET_FACTOR *
    state_bytes)`` seeds, at most :data:`MAX_PART_SEEDS`: as many as keep its working set near
    its L2 cache, so that a step's passes over the seeds' values stay in the cache while the
    fixed cost of each step (about 2 us per call of the loop body's ~20 fused loops) is spread
    over many seeds. The chunk is that times the cores (:func:`_lanes`), at least
    :data:`CHUNK_SEEDS`; at most ``n_seeds``, rounded up to a multiple of the device count
    (:func:`default_chunk_size`'s rule where ``state_bytes`` is None).

    Measured on a 2-core AMD EPYC with AVX-512 (1 MiB L2 per core): the 2-2-1 XOR sweep (44
    bytes of state) gets 8,192 seeds per core, 1.24x the rate of the former fixed 4,096-seed chunk
    (2,048 per core); 16,384 per core was 1.17x, past the cache. Networks of 2-8-8-1 and larger
    ran no faster with more than 2,048-4,096 per core and keep :data:`CHUNK_SEEDS`. Results are
    bitwise equal across chunk sizes for the scalar layout (elementwise over seeds); see the
    docs' Sweeps page for the matrix layout.
    """
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1)
    devices = list(devices)
    n_devices = len(devices)
    if state_bytes is None:
        return default_chunk_size(n_seeds, n_devices)
    per_seed = WORKING_SET_FACTOR * max(int(state_bytes), 1)
    part = 2 ** round(math.log2(max(cache_bytes() / per_seed, 1)))
    chunk = max(CHUNK_SEEDS, min(part, MAX_PART_SEEDS) * _lanes(devices))
    return math.ceil(min(n_seeds, chunk) / n_devices) * n_devices


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


def accelerated(devices) -> bool:
    """Whether ``devices`` are a GPU's or TPU's (not the CPU's); a test may replace it."""
    return devices[0].platform != "cpu"


def choose_chunk_size(n_seeds: int, devices, need=None, state_bytes=None) -> int:
    """The default chunk size of a sweep of ``n_seeds`` seeds on the local ``devices``.

    On CPU (``devices[0].platform == "cpu"``): :func:`cpu_chunk_size` for a loop state of
    ``state_bytes`` per seed (an int, None where unknown, or a function of no arguments that
    returns one of these, called on a CPU only).

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
    at two small sizes). ``free_memory`` and ``accelerated`` are looked up in this module at each
    call, so a test can replace them (a fake GPU on CPU).
    """
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1)
    devices = list(devices)
    if not devices:
        raise ValueError("devices: expected at least one device, got none")
    n_devices = len(devices)
    if not accelerated(devices):
        state_bytes = state_bytes() if callable(state_bytes) else state_bytes
        return cpu_chunk_size(n_seeds, devices, state_bytes)
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


def measure_need(lower: Callable, device, sizes=(256, 512)) -> MemoryNeed | None:
    """The chunk program's :class:`MemoryNeed`, a line through its compiled memory need at
    ``sizes`` seeds on ``device``; ``lower(seeds)`` lowers it for an abstract ``seeds`` array.
    None where the backend gives no memory analysis."""
    # one device as a mesh of one (SingleDeviceSharding is deprecated from jax 0.12.1)
    mesh = jax.sharding.Mesh(np.array([device]), ("seeds",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    needs = []
    for size in sizes:
        seeds = jax.ShapeDtypeStruct((size,), jnp.uint32, sharding=sharding)
        needs.append(_bytes_needed(lower(seeds).compile()))
    if None in needs:
        return None
    (s1, s2), (b1, b2) = sizes, needs
    per_seed = max(math.ceil((b2 - b1) / (s2 - s1)), 1)
    return MemoryNeed(max(b1 - per_seed * s1, 0), per_seed)


def chunk_size_chooser(
    lower,
    key,
    grid: dict,
    n_seeds: int,
    devices,
    wanted: bool,
    smallest: Callable | None = None,
    train_one: Callable | None = None,
) -> Callable:
    """The default chunk size as a function of no arguments, which the plan calls where neither
    the caller nor the folder gives one: :func:`choose_chunk_size`, measuring the program's
    memory need (lowered by ``lower(key, seeds, hparams)``) on an accelerator, and on a CPU the
    loop state of ``train_one`` traced for one seed (:func:`loop_state_bytes`; unknown without
    ``train_one``). On several processes the choice is made now, where ``wanted``, by every
    process (whether it resumes or not), and the smallest taken, so that all processes agree
    (their caches or free memory may differ): ``smallest(seeds_per_device)`` (every process must
    call it) returns the processes' smallest.
    """
    hparams = {k: np.asarray(v[0]) for k, v in grid.items()}

    def need():
        return measure_need(lambda seeds: lower(key, seeds, hparams), devices[0])

    def state_bytes():
        if train_one is None:
            return None
        one = lambda k, h: train_one(k, **h)  # noqa: E731
        try:
            return loop_state_bytes(jax.make_jaxpr(one)(jax.random.fold_in(key, 0), hparams))
        except Exception:  # advisory: unknown state keeps CHUNK_SEEDS, and the program's own
            return None  # trace, next, reports what is wrong with train_one

    def default():
        return choose_chunk_size(n_seeds, devices, need, state_bytes)

    if wanted and smallest is not None:
        agreed = smallest(default() // len(devices)) * len(devices)
        return lambda: agreed
    return default


def host_cores() -> int:
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

    Set by ``python -m experiments.benchmark``'s ``sweep_plain`` row (threads) against its
    ``sweep_cores`` row (one device per core). Each part is the same program for fewer seeds, so
    results equal the unsplit chunk's wherever the program is elementwise over seeds (``fit``'s
    scalar layout: bitwise; the matrix layout: to float rounding)."""
    devices = list(devices)
    if len(devices) != 1 or accelerated(devices):
        return 1
    most = min(host_cores(), chunk_size // MIN_PART_SEEDS)
    return max([k for k in range(1, most + 1) if chunk_size % k == 0], default=1)
