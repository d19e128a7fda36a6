"""The compiled program of one unit of a sweep (``train_one`` vmapped over a chunk of seeds at one
grid point): its jit, its results' structure, its fingerprint, and starting and fetching a chunk."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fnnet.sweep._chunks import cpu_parts
from fnnet.sweep._plan import SweepPlan
from fnnet.xla import fast_options, nested_jaxprs

__all__ = [
    "Jitted",
    "Program",
    "build_program",
    "fetch",
    "fingerprint",
    "jit_program",
    "start",
    "threads",
]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-FX]+")


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


@functools.cache
def _chunk_jit(options: tuple):
    """The chunk program jitted with compiler ``options`` (name, value) pairs. ``train_one`` is
    static: jit's cache keeps one program per (train_one, shapes), also across calls. Nothing is
    donated: the only inputs are a key, the seed indices and scalars, none of which has the shape
    of an output, so donation could not save a buffer (and warns where it cannot)."""
    return jax.jit(
        _chunk_program, static_argnames=("train_one",), compiler_options=dict(options) or None
    )


class Program(NamedTuple):
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


class Jitted(NamedTuple):
    """The jitted chunk program of one ``train_one``: ``call(key, seeds, hparams)``, its
    ``lower`` for abstract arguments, its ``trace`` (which the calls reuse), and
    ``with_options(options)``, the same program compiled with other compiler options (sharing
    the trace where ``train_one`` is hashable)."""

    call: Callable
    lower: Callable
    trace: Callable
    with_options: Callable


def jit_program(train_one, options: dict | None = None) -> Jitted:
    """The chunk program for ``train_one``, compiled with compiler ``options`` (a top-level jit:
    never call it inside one)."""
    again = functools.partial(jit_program, train_one)
    try:
        hash(train_one)
    except TypeError:  # an unhashable callable cannot be static: one jit for this sweep
        program = functools.partial(_chunk_program, train_one=train_one)
        jitted = jax.jit(program, compiler_options=options or None)
        return Jitted(jitted, jitted.lower, jitted.trace, again)
    chunk_jit = _chunk_jit(tuple(sorted((options or {}).items())))
    bound = (chunk_jit, chunk_jit.lower, chunk_jit.trace)
    return Jitted(*(functools.partial(f, train_one=train_one) for f in bound), again)


def build_program(jitted: Jitted, plan: SweepPlan, key, devices, options=None) -> Program:
    """The chunk program ``jitted``, the sharding of its seeds over the local ``devices``, and its
    results' structure, from one trace (jit's cache reuses it for the calls); results must be
    numeric arrays. The calls compile with :func:`fnnet.xla.fast_options` for that trace, and
    over them the compiler ``options`` the caller gave (a dict, checked)."""
    sharding = NamedSharding(Mesh(np.array(devices), ("seeds",)), PartitionSpec("seeds"))
    parts = cpu_parts(plan.chunk_size, devices)
    # traced at the shape the calls will have (a part of a split chunk), so that they reuse it
    seeds = jax.device_put(np.split(plan.seeds(0), parts)[0], sharding)
    try:
        traced = jitted.trace(key, seeds, plan.hparams((0,) * len(plan.grid)))
    except TypeError as e:
        if "is not a valid JAX type" not in str(e):
            raise
        raise TypeError(f"train_one: expected results that are numeric arrays, got {e}") from None
    out_info, _ = traced.out_info
    results = _describe(out_info)
    treedef, leaves = jax.tree.structure(out_info), jax.tree.leaves(out_info)
    options = {**fast_options(traced.jaxpr), **(options or {})}
    call = jitted.with_options(options).call if options else jitted.call
    return Program(call, sharding, treedef, leaves, results, parts)


def _describe(out_info) -> list[dict]:
    """The path, dtype and shape (seeds axis left out) of every leaf of the results
    ``out_info``, for the settings; each leaf must be a numeric array."""
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
    return [
        {"path": jax.tree_util.keystr(p), "dtype": str(s.dtype), "shape": list(s.shape[1:])}
        for p, s in described
    ]


def _consts(jaxpr) -> Iterator:
    """The constants of a (closed) jaxpr and of every jaxpr nested in its equations' parameters
    (a ``jax.jit`` inside ``train_one`` keeps what it closes over in its own jaxpr)."""
    for j in nested_jaxprs(jaxpr):
        if isinstance(j, jex.core.ClosedJaxpr):
            yield from j.consts


def fingerprint(train_one, key, hparams: dict) -> str:
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


def start(program: Program, key, seeds: np.ndarray, hparams: dict, pool):
    """Starts the chunk program on ``seeds``; :func:`fetch` waits for its results. Split into
    ``program.parts`` equal parts, each part runs (and is fetched) in a thread of ``pool``."""
    if program.parts == 1:
        return program.call(key, jax.device_put(seeds, program.sharding), hparams)

    def part(p):
        return jax.device_get(program.call(key, jax.device_put(p, program.sharding), hparams))

    return [pool.submit(part, p) for p in np.split(seeds, program.parts)]


def fetch(started) -> tuple:
    """The host results ``(tree, diverged)`` of a chunk that :func:`start` started; a split
    chunk's parts concatenated along the seed axis."""
    if not isinstance(started, list):
        return jax.device_get(started)
    parts = [future.result() for future in started]
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def threads(parts: int):
    """A pool of ``parts`` threads for the parts of split chunks; none for unsplit ones."""
    return concurrent.futures.ThreadPoolExecutor(parts) if parts > 1 else contextlib.nullcontext()
