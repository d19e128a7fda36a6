"""Many training runs as one compiled program: every seed times every hyperparameter point, by
``jax.vmap`` over seeds, in chunks spread over all devices, resumable from a folder of chunks.

The lecture's claims about training ("a 2-2-1 network learns XOR") are claims about a distribution
over random initialisations; a sweep measures that distribution with as many seeds as it takes.

What ``run`` computes, for seeds i = 0 .. n_seeds - 1 and grid indices g_1 .. g_k::

    values[g_1, ..., g_k, i] = train_one(seed_key(key, i), name_1=grid[name_1][g_1], ...,
                                         name_k=grid[name_k][g_k])
    seed_key(key, i)         = jax.random.fold_in(key, i)

Seed i's key depends on ``(key, i)`` only: not on the chunk size, the device count, the process
count or the grid point. Every grid point thus trains seed i from the same key (common random
numbers): cells differ only by their hyperparameters, so a difference between two cells is not
initialisation noise.

Units of work are (grid point, chunk of ``chunk_size`` seeds). Each is one call of one jit-compiled,
vmapped program, compiled once per sweep (the last chunk is padded with seeds past ``n_seeds``
whose results are dropped, so it needs no second program; grid values are traced arguments, so
a new grid point needs none either). The seed axis of a chunk is sharded over the local devices
(``Mesh(jax.local_devices(), ("seeds",))``, ``NamedSharding(mesh, PartitionSpec("seeds"))``)
and jit propagates that sharding through the program.

Reproducibility. The same sweep on the same machine (same chunk size, same device count) gives
bitwise the same numbers on a deterministic backend (XLA on CPU; on GPU set
``XLA_FLAGS=--xla_gpu_deterministic_ops=true``), so a resumed sweep equals an uninterrupted one.
Across chunk sizes and device counts, results agree to float rounding but are not promised
bitwise: XLA compiles the vmapped program for the number of seeds per device, its code depends
on that number (how loops are vectorised, or a batch of one), and that can change the last bit
of a reduction or a matmul, which training then amplifies. Measured on CPU (jaxlib 0.10.2), 24
seeds of a 2-2-1 MLP trained 50 epochs on XOR by :func:`fnnet.train.fit` with learning rates up to 5: with
fit's default layout, bitwise equal for every chunk size from 1 to 32 on one device and from 4 to
128 on four; with ``layout="matrix"`` and minibatches of 2, several chunk sizes changed the final
loss by one float32 ulp, and one seed per device changed weights by up to 2e-3 (chaotic
training at that learning rate). Compare such runs with a tolerance; reruns of one sweep on one
machine are bitwise equal.

Resuming. With ``out=DIR``, every finished chunk is written atomically (a temporary file, then
``os.replace``) to ``DIR/chunks/p{point}-c{chunk}.npz`` (``point`` the grid point's flat index in
C order, ``chunk`` the chunk's index), next to ``DIR/settings.json``: ``name``, ``n_seeds``,
``chunk_size``, the grid's names, dtypes and values, the key's implementation and data, every
result leaf's path, dtype and shape, and the fnnet version. A rerun with the same settings loads
the finished chunks and computes only the rest (``Results.computed`` lists what it computed);
a rerun with other settings raises a ``ValueError`` that names each difference. A process killed
mid-chunk loses only the chunks it had not yet written. :func:`status` reports a folder's
progress.

Several hosts. Start every process with ``jax.distributed.initialize()`` (on a cluster that
JAX detects, such as SLURM or Cloud TPU, it needs no arguments; else give ``coordinator_address``,
``num_processes`` and ``process_id``), then call ``run`` with the same arguments and an ``out``
on a filesystem that all of them share. Units are numbered u = point * n_chunks + chunk; process
p = ``jax.process_index()`` of P = ``jax.process_count()`` computes the units with u % P == p on
its local devices and writes them to ``out``; after a barrier
(``jax.experimental.multihost_utils.sync_global_devices``) every process loads the whole sweep
from ``out`` and returns it. With one process all of this reduces to computing every unit. (The
tests run two CPU processes on one machine this way.)

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

import functools
import inspect
import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fnnet import _checks

__all__ = ["Results", "Status", "run", "seed_key", "status", "default_chunk_size", "CHUNK_SEEDS"]

CHUNK_SEEDS = 4096
"""The default chunk: at most this many seeds per compiled call (rounded up to the device count)."""

_FORMAT = 1
_SETTINGS = "settings.json"
_CHUNKS = "chunks"


class Results(NamedTuple):
    """What :func:`run` returns.

    Attributes:
      values: ``train_one``'s result tree; every leaf a NumPy array of shape
        ``(len(grid[name_1]), ..., len(grid[name_k]), n_seeds, *leaf_shape)``
        (``(n_seeds, *leaf_shape)`` without a grid).
      diverged: bool NumPy array ``(len(grid[name_1]), ..., n_seeds)``: True where any floating
        leaf of that seed's result holds a NaN or an infinity.
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
    """A sweep folder's progress (:func:`status`): its settings and its finished and missing units,
    each ``(grid_index, chunk)``."""

    settings: dict
    finished: tuple
    missing: tuple


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
    return jax.random.fold_in(_as_key(key), i)


def default_chunk_size(n_seeds: int, n_devices: int) -> int:
    """All seeds in one chunk up to :data:`CHUNK_SEEDS`, else :data:`CHUNK_SEEDS`; either rounded
    up to a multiple of ``n_devices`` so that every device gets the same number of seeds."""
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1)
    n_devices = _checks.integer(n_devices, "n_devices", minimum=1)
    return math.ceil(min(n_seeds, CHUNK_SEEDS) / n_devices) * n_devices


def _check_grid(grid) -> dict:
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


def _mesh() -> Mesh:
    return Mesh(np.array(jax.local_devices()), ("seeds",))


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


def _program(train_one) -> tuple[Callable, dict]:
    """The jitted chunk program and its static keyword arguments."""
    try:
        hash(train_one)
    except TypeError:  # an unhashable callable cannot be static: one jit for this sweep
        return jax.jit(functools.partial(_chunk_program, train_one=train_one)), {}
    return _chunk_jit, {"train_one": train_one}


def _describe_results(out_info) -> list:
    leaves = jax.tree_util.tree_leaves_with_path(out_info)
    return [
        {"path": jax.tree_util.keystr(p), "dtype": str(s.dtype), "shape": list(s.shape[1:])}
        for p, s in leaves
    ]


def _settings(name, n_seeds, chunk_size, grid, key, out_info) -> dict:
    import fnnet

    return {
        "format": _FORMAT,
        "name": name,
        "n_seeds": n_seeds,
        "chunk_size": chunk_size,
        "grid": [{"name": k, "dtype": str(v.dtype), "values": v.tolist()} for k, v in grid.items()],
        "key": {
            "impl": str(jax.random.key_impl(key)),
            "data": np.asarray(jax.random.key_data(key)).tolist(),
        },
        "results": _describe_results(out_info),
        "fnnet": fnnet.__version__,
    }


def _short(value, limit: int = 120) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differences(stored: dict, given: dict) -> list[str]:
    return [
        f"{k}: stored {_short(stored.get(k))}, given {_short(given.get(k))}"
        for k in dict.fromkeys([*given, *stored])
        if stored.get(k) != given.get(k)
    ]


def _read_settings(out: str) -> dict | None:
    path = os.path.join(out, _SETTINGS)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"out: {path!r} is not a sweep settings file ({e})") from e


def _write_atomic(path: str, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, then a rename: no half files."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path), suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a shared sweep from its readers
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _chunk_path(out: str, point: int, chunk: int) -> str:
    return os.path.join(out, _CHUNKS, f"p{point}-c{chunk}.npz")


def _units(grid_shape, n_chunks):
    return [(g, c) for g in itertools.product(*map(range, grid_shape)) for c in range(n_chunks)]


def _n_chunks(settings: dict) -> int:
    return math.ceil(settings["n_seeds"] / settings["chunk_size"])


def status(out: str | os.PathLike) -> Status:
    """The progress of the sweep in folder ``out``: its settings, finished and missing units.

    Raises:
      ValueError: when ``out`` holds no sweep settings.
    """
    out = os.fspath(out)
    settings = _read_settings(out)
    if settings is None:
        raise ValueError(f"out: expected a sweep folder with {_SETTINGS}, got {out!r}")
    grid_shape = tuple(len(g["values"]) for g in settings["grid"])
    finished, missing = [], []
    for g, c in _units(grid_shape, _n_chunks(settings)):
        point = int(np.ravel_multi_index(g, grid_shape)) if g else 0
        done = os.path.exists(_chunk_path(out, point, c))
        (finished if done else missing).append((g, c))
    return Status(settings, tuple(finished), tuple(missing))


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
    dict's order). See the module docstring for the keys, the chunks, the devices, the folder and
    several hosts.

    Args:
      train_one: ``train_one(key, **hparams) -> results``: trains one network from ``key`` (with
        fnnet's usual API, e.g. :func:`fnnet.train.fit`) and returns a pytree of arrays (final
        loss, the epoch it solved the task, parameters, ...). It runs under ``jax.vmap`` and
        ``jax.jit``: no Python control flow on its arguments. The grid's values arrive as traced
        0-d arrays of the grid's dtype.
      n_seeds: seeds per grid point, 1 <= n_seeds <= 2**31.
      grid: optional dict ``name -> 1-D array`` of hyperparameter values; each name a keyword
        argument of ``train_one``. Values must be finite numbers.
      key: the sweep's PRNG key (default ``jax.random.key(0)``).
      chunk_size: seeds per compiled call, a multiple of the local device count; default
        :func:`default_chunk_size`, or the chunk size stored in ``out`` when resuming.
      out: optional folder of finished chunks, for resuming (created if missing).
      name: what identifies ``train_one`` in ``out``'s settings; default its module and
        qualified name. Give a new name when ``train_one`` changes in a way its name does not
        show (another ``functools.partial`` argument, edited code), or a rerun will reuse the
        old chunks.
      progress: show a tqdm bar counting seeds (needs tqdm).

    Returns:
      :class:`Results`: ``values``, ``diverged``, ``grid``, ``n_seeds``, ``computed``.

    Raises:
      TypeError, ValueError: for bad arguments, each naming the argument, what was expected and
        what was received; ValueError when ``out`` holds a sweep with other settings.
    """
    grid = _check_grid(grid)
    _check_train_one(train_one, list(grid))
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1, maximum=2**31)
    key = jax.random.key(0) if key is None else _as_key(key)
    if name is None:
        name = _default_name(train_one)
    elif not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress: expected True or False, got {progress!r}")
    n_devices = jax.local_device_count()
    n_processes, process = jax.process_count(), jax.process_index()

    stored = None
    if out is not None:
        out = os.fspath(out)
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"out: expected a folder, got the file {out!r}")
        stored = _read_settings(out)
    elif n_processes > 1:
        raise ValueError(
            f"out: a sweep over {n_processes} processes needs a folder that all of them share, "
            "got None"
        )

    if chunk_size is None:
        reuse = stored is not None and isinstance(stored.get("chunk_size"), int)
        if reuse and stored["chunk_size"] % n_devices == 0:
            chunk_size = stored["chunk_size"]
        else:
            chunk_size = default_chunk_size(n_seeds, n_devices)
    else:
        chunk_size = _checks.integer(chunk_size, "chunk_size", minimum=1)
        if chunk_size % n_devices:
            raise ValueError(
                f"chunk_size: expected a multiple of the {n_devices} local devices (each gets "
                f"the same number of seeds), got {chunk_size}"
            )

    grid_shape = tuple(len(v) for v in grid.values())
    n_chunks = math.ceil(n_seeds / chunk_size)
    program, static = _program(train_one)
    sharding = NamedSharding(_mesh(), PartitionSpec("seeds"))

    def seeds_of(chunk):
        start = chunk * chunk_size
        return jax.device_put(np.arange(start, start + chunk_size, dtype=np.uint32), sharding)

    def hparams_at(g):
        return {k: np.asarray(v[i]) for (k, v), i in zip(grid.items(), g)}

    # One trace gives the results' structure; jit's cache reuses it for the calls below.
    first = (key, seeds_of(0), hparams_at((0,) * len(grid)))
    out_info, _ = jax.eval_shape(functools.partial(program, **static), *first)
    for p, s in jax.tree_util.tree_leaves_with_path(out_info):
        if not (s.dtype == bool or jnp.issubdtype(s.dtype, jnp.number)):
            raise TypeError(
                f"train_one: expected results that are numeric arrays, got leaf "
                f"{jax.tree_util.keystr(p) or '(root)'} of dtype {s.dtype}"
            )
    treedef = jax.tree.structure(out_info)
    leaf_info = jax.tree.leaves(out_info)

    settings = _settings(name, n_seeds, chunk_size, grid, key, out_info)
    if out is not None:
        if stored is not None:
            diff = _differences(stored, settings)
            if diff:
                raise ValueError(
                    f"out: {out!r} holds a sweep with other settings; use another folder or the "
                    f"same settings. Differences: {'; '.join(diff)}"
                )
        else:
            os.makedirs(out, exist_ok=True)
            text = json.dumps(settings, indent=2).encode()
            _write_atomic(os.path.join(out, _SETTINGS), lambda f: f.write(text))
        os.makedirs(os.path.join(out, _CHUNKS), exist_ok=True)

    values = [np.empty((*grid_shape, n_seeds, *s.shape[1:]), s.dtype) for s in leaf_info]
    diverged = np.zeros((*grid_shape, n_seeds), bool)

    def point_of(g):
        return int(np.ravel_multi_index(g, grid_shape)) if g else 0

    def span(c):
        return c * chunk_size, min((c + 1) * chunk_size, n_seeds)

    def place(g, c, leaves, bad):
        lo, hi = span(c)
        for dst, src in zip(values, leaves):
            dst[(*g, slice(lo, hi))] = src
        diverged[(*g, slice(lo, hi))] = bad

    def load(g, c) -> bool:
        if out is None:
            return False
        path = _chunk_path(out, point_of(g), c)
        if not os.path.exists(path):
            return False
        lo, hi = span(c)
        with np.load(path, allow_pickle=False) as f:
            leaves = [f[f"leaf_{j}"] for j in range(len(leaf_info))]
            bad = f["diverged"]
        for j, (arr, s) in enumerate(zip(leaves, leaf_info)):
            if arr.shape != (hi - lo, *s.shape[1:]):
                raise ValueError(
                    f"out: {path!r} leaf_{j} has shape {arr.shape}, expected "
                    f"{(hi - lo, *s.shape[1:])}"
                )
        place(g, c, leaves, bad)
        return True

    units = _units(grid_shape, n_chunks)
    mine = [u for n, u in enumerate(units) if n % n_processes == process]
    others = [u for n, u in enumerate(units) if n % n_processes != process]
    todo = [u for u in mine if not load(*u)]

    bar = None
    if progress:
        tqdm = _checks.require("tqdm", "tqdm").tqdm
        total = sum(span(c)[1] - span(c)[0] for _, c in mine)
        done = total - sum(span(c)[1] - span(c)[0] for _, c in todo)
        bar = tqdm(total=total, initial=done, desc=f"sweep {name}", unit="seed")

    def finish(g, c, result):
        tree, bad = jax.device_get(result)
        lo, hi = span(c)
        leaves = [np.asarray(x)[: hi - lo] for x in jax.tree.leaves(tree)]
        bad = np.asarray(bad)[: hi - lo]
        if out is not None:
            arrays = {f"leaf_{j}": x for j, x in enumerate(leaves)}
            _write_atomic(
                _chunk_path(out, point_of(g), c), lambda f: np.savez(f, diverged=bad, **arrays)
            )
        place(g, c, leaves, bad)
        if bar is not None:
            bar.update(hi - lo)

    try:
        # Dispatch is asynchronous: the next chunk is queued before the last one is saved, so
        # the devices keep working while the host writes.
        pending = None
        for g, c in todo:
            result = program(key, seeds_of(c), hparams_at(g), **static)
            if pending is not None:
                finish(*pending)
            pending = (g, c, result)
        if pending is not None:
            finish(*pending)
    finally:
        if bar is not None:
            bar.close()

    if n_processes > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"fnnet.sweep {name}")
        for u in others:
            if not load(*u):
                raise RuntimeError(f"out: unit {u} missing after all processes finished")

    return Results(
        values=jax.tree.unflatten(treedef, values),
        diverged=diverged,
        grid=grid,
        n_seeds=n_seeds,
        computed=tuple(todo),
    )
