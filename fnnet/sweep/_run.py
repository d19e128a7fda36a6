"""A sweep run: check the arguments, plan the units, open the store, load what it holds, compute
the rest chunk by chunk (writing each), and gather every unit into one :class:`Results`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from fnnet import _checks
from fnnet.sweep._arguments import (
    as_key,
    check_compiler_options,
    check_grid,
    check_out,
    check_train_one,
    default_name,
    seed_key,
)
from fnnet.sweep._chunks import chunk_size_chooser
from fnnet.sweep._folder import holding
from fnnet.sweep._labelled import dataframe, dataset
from fnnet.sweep._peers import Peers, join
from fnnet.sweep._plan import SweepPlan, plan_run
from fnnet.sweep._program import (
    Program,
    build_program,
    fetch,
    fingerprint,
    jit_program,
    start,
    threads,
)
from fnnet.sweep._settings import digest, sweep_settings
from fnnet.sweep._store import (
    DamagedChunkWarning,
    Store,
    open_store,
    read_settings,
    require_writable,
)

__all__ = ["Results", "run"]


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
      settings: what identifies the sweep, as ``out/settings.json`` holds it (its name, program
        fingerprint, seeds, chunk size, grid, key, results and versions); ``program`` is None
        where ``run`` had no ``out``. None in results made by hand.
    """

    values: Any
    diverged: np.ndarray
    grid: dict
    n_seeds: int
    computed: tuple
    settings: dict | None = None

    def to_xarray(self):
        """The results as an ``xarray.Dataset`` (needs fnnet's ``analysis`` extra).

        One data variable per result leaf, named by its path (``loss``, ``params.0.W``; see
        below), of dimensions ``(*grid, "seed", *trailing)``: the grid's names in order, then
        ``"seed"``, then the leaf's own dimensions ``NAME_dim0``, ``NAME_dim1``, ... Every leaf
        keeps its dtype; its ``path`` attribute is ``jax.tree_util.keystr``'s. ``diverged`` is a
        bool variable of dimensions ``(*grid, "seed")``. The coordinates are the grid's values
        and the seed indices 0 .. n_seeds - 1; the attributes are the sweep's settings:
        ``name``, ``program`` (where ``run`` had an ``out``), ``n_seeds``, ``chunk_size``,
        ``key_impl``, ``key_data``, ``fnnet_version``, ``jax_version``, ``jaxlib_version``.

        A leaf's name joins its path with dots; results that are not a dict at the top start
        with ``result`` (a bare array is ``result``, a tuple's leaves ``result.0``, ...).
        ``Dataset.to_netcdf`` writes it whole (with the ``h5netcdf`` or ``netCDF4`` engine:
        netCDF3 has no 64-bit integers).

        Returns:
          ``xarray.Dataset``.

        Raises:
          ImportError: where xarray is not installed, naming the extra that installs it.
          ValueError: where two names coincide (a grid name ``"seed"``, a leaf named like a
            grid name or ``"diverged"``), naming them.
        """
        return dataset(self)

    def to_dataframe(self):
        """The results in pandas' long form: one row per grid point and seed, in C order (the
        seed fastest). Columns: the grid's names (their values), ``seed``, one column per result
        leaf named as in :meth:`to_xarray` (a leaf with trailing dimensions gives one column per
        element, ``NAME[i,j]``), and ``diverged``; each keeps its dtype. ``DataFrame.attrs``
        holds the settings, as :meth:`to_xarray`'s attributes. Needs pandas (fnnet's
        ``analysis`` extra).

        Returns:
          ``pandas.DataFrame``.

        Raises:
          ImportError: where pandas is not installed, naming the extra that installs it.
          ValueError: where two names coincide, as in :meth:`to_xarray`.
        """
        return dataframe(self)


class _Gather(NamedTuple):
    """The whole sweep's results, filled chunk by chunk: ``values`` (one array per leaf,
    ``(*grid_shape, n_seeds, *leaf_shape)``) and ``diverged`` ``(*grid_shape, n_seeds)``."""

    values: list
    diverged: np.ndarray

    @classmethod
    def empty(cls, plan: SweepPlan, program: Program) -> _Gather:
        values = [
            np.empty((*plan.shape, plan.n_seeds, *s.shape[1:]), s.dtype) for s in program.leaves
        ]
        return cls(values, np.zeros((*plan.shape, plan.n_seeds), bool))

    def place(self, g, span: tuple[int, int], leaves, diverged) -> None:
        rows = (*g, slice(*span))
        for dst, src in zip(self.values, leaves):
            dst[rows] = src
        self.diverged[rows] = diverged


def _load(store: Store | None, plan: SweepPlan, gather: _Gather, unit) -> bool | str | None:
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


def _load_mine(store: Store | None, plan: SweepPlan, gather: _Gather, mine: list) -> list:
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


def _load_others(store: Store, plan: SweepPlan, gather: _Gather, others: list) -> None:
    """After every process has written its units, loads the others' from ``store``."""
    for g, c in others:
        loaded = _load(store, plan, gather, (g, c))
        if loaded is not True:
            raise RuntimeError(
                f"out: unit {(g, c)} of another process, {store.path(plan.point(g), c)!r}, is "
                f"{'damaged: ' + loaded if loaded else 'missing'} after all processes finished"
            )


def _compute(todo: list, key, plan: SweepPlan, program: Program, gather, save) -> None:
    """Computes the units ``todo``, places each in ``gather`` and hands it to ``save(g, c,
    leaves, diverged)``. Dispatch is asynchronous: the next chunk is queued before the last one
    is saved, so the devices (or the threads of a split chunk) keep working while the host
    writes."""

    def finish(g, c, started):
        tree, bad = fetch(started)
        lo, hi = plan.span(c)
        leaves = [np.asarray(x)[: hi - lo] for x in jax.tree.leaves(tree)]
        bad = np.asarray(bad)[: hi - lo]
        gather.place(g, (lo, hi), leaves, bad)
        save(g, c, leaves, bad)

    with threads(program.parts) as pool:
        pending = None
        for g, c in todo:
            started = start(program, key, plan.seeds(c), plan.hparams(g), pool)
            if pending is not None:
                finish(*pending)
            pending = (g, c, started)
        if pending is not None:
            finish(*pending)


def _saver(store: Store | None, plan: SweepPlan, mine: list, todo: list, bar, peers: Peers):
    """What :func:`_compute` calls with each finished unit: writes it to ``store`` (where there
    is one; a failed write says how much is finished), counts its seeds on ``bar`` (where there
    is one), and stops where another process failed."""
    written = []

    def save(g, c, leaves, diverged):
        if store is not None:
            finished = len(mine) - len(todo) + len(written)
            share = " of this process's share" if peers.count > 1 else ""
            done = (
                f"{finished} of {len(mine)} units{share} are finished and kept in "
                f"{store.folder!r} ({len(written)} of them computed by this run)"
            )
            store.write(plan.point(g), c, leaves, diverged, done)
        written.append((g, c))
        if bar is not None:
            bar.update(plan.rows([(g, c)]))
        peers.check()

    return save


def _progress_bar(plan: SweepPlan, mine: list, todo: list, name: str):
    """A tqdm bar counting this process's seeds, those loaded already counted."""
    tqdm = _checks.require("tqdm", "tqdm").tqdm
    done = plan.rows(mine) - plan.rows(todo)
    return tqdm(total=plan.rows(mine), initial=done, desc=f"sweep {name}", unit="seed")


def _check_arguments(train_one, n_seeds, grid, key, name, progress) -> tuple:
    """``(grid, n_seeds, key, name)`` of :func:`run`, checked in the order of its signature."""
    grid = check_grid(grid)
    check_train_one(train_one, list(grid))
    n_seeds = _checks.integer(n_seeds, "n_seeds", minimum=1, maximum=2**31)
    key = jax.random.key(0) if key is None else as_key(key)
    name = default_name(train_one) if name is None else name
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress: expected True or False, got {progress!r}")
    return grid, n_seeds, key, name


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
    compiler_options: dict | None = None,
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
        compiling the program at two small sizes first; on CPU :func:`cpu_chunk_size`'s, as
        many seeds per core as keep a step's working set near the core's L2 cache, judged from
        ``train_one``'s loop state for one seed, at least :data:`CHUNK_SEEDS`). On several
        processes, every process chooses and the smallest choice is taken.
      out: optional folder of finished chunks, for resuming (created if missing).
      name: what names the sweep in ``out``'s settings; default ``train_one``'s module and
        qualified name. What ``train_one`` computes is identified apart from it, by a
        fingerprint of its program for one seed.
      progress: show a tqdm bar counting seeds (needs tqdm).
      compiler_options: optional XLA compiler options for the chunk program
        (``jax.jit(..., compiler_options=...)``), over fnnet's own
        (:func:`fnnet.xla.fast_options`, which never change results). Use it for options that
        may change results, such as ``{"xla_cpu_enable_fast_math": True}`` (see the docs' Speed
        page for what it did to speed and results); they are part of the sweep's settings, so
        that ``out`` never mixes chunks computed with different options. Each must be one the
        installed jaxlib compiles with.

    Returns:
      :class:`Results`: ``values``, ``diverged``, ``grid``, ``n_seeds``, ``computed``,
      ``settings``; ``to_xarray()`` and ``to_dataframe()`` label them for analysis.

    Raises:
      TypeError, ValueError: for bad arguments, each naming the argument, what was expected and
        what was received; ValueError when ``out`` holds a sweep with other settings, or chunks
        with no readable settings.
      PermissionError: when ``out`` cannot be written and something is left to compute.
      IsADirectoryError: naming a directory where a chunk of the sweep belongs (before training).
      OSError: of the failed write's errno (a full disk, a file-size limit), naming the file and
        saying how many units are finished; they are kept, and a rerun resumes.
      ValueError: on every process of a sweep over several, where they disagree on the local
        device count, the settings or the sweep that ``out`` holds (before training).
      RuntimeError: where another process of the sweep failed, quoting its error.

    Warns:
      DamagedChunkWarning: for each chunk in ``out`` that does not verify, naming its path and
        the reason; it is computed again.
    """
    peers = join(jax.process_count())
    try:
        return _sweep(
            peers, train_one, n_seeds, grid, key, chunk_size, out, name, progress, compiler_options
        )
    except BaseException as e:
        peers.fail(e)  # so that the other processes stop too, saying why
        raise


def _sweep(peers: Peers, train_one, n_seeds, grid, key, chunk_size, out, name, progress, options):
    """:func:`run` as process ``peers.index`` of ``peers.count``."""
    grid, n_seeds, key, name = _check_arguments(train_one, n_seeds, grid, key, name, progress)
    options = check_compiler_options(options)
    out = check_out(out, peers.count)
    stored = None if out is None else read_settings(out)

    devices = jax.local_devices()
    peers.agree_on_devices(len(devices))
    jitted = jit_program(train_one)
    smallest = peers.smallest if peers.count > 1 else None
    wanted = chunk_size is None
    default = chunk_size_chooser(
        jitted.lower, key, grid, n_seeds, devices, wanted, smallest, train_one
    )
    plan = plan_run(grid, n_seeds, chunk_size, stored, len(devices), default)
    program = build_program(jitted, plan, key, devices, options)
    hparams = plan.hparams((0,) * len(grid))
    program_digest = None if out is None else fingerprint(train_one, seed_key(key, 0), hparams)
    settings = sweep_settings(name, program_digest, plan, key, program.results, options)
    store = None
    if out is not None:
        peers.agree_on_settings(settings, None if stored is None else digest(stored), out)
        store = open_store(out, settings, stored, len(plan.units()))
    with holding(out):
        gather, todo = _fill(store, plan, program, key, peers, name, progress)
    values = jax.tree.unflatten(program.treedef, gather.values)
    return Results(values, gather.diverged, grid, n_seeds, tuple(todo), settings)


def _fill(
    store: Store | None, plan: SweepPlan, program: Program, key, peers: Peers, name, progress
):
    """The whole sweep's results (a :class:`_Gather`) and the units this process computed: its
    own units loaded from ``store`` or computed (and written), then the other processes'."""
    gather = _Gather.empty(plan, program)
    mine, others = plan.share(peers.index, peers.count)
    if store is not None:
        store.require_files([(plan.point(g), c) for g, c in plan.units()])
    todo = _load_mine(store, plan, gather, mine)
    if store is not None and todo:
        require_writable(store.folder, len(todo))
    bar = _progress_bar(plan, mine, todo, name) if progress else None
    try:
        _compute(todo, key, plan, program, gather, _saver(store, plan, mine, todo, bar, peers))
    finally:
        if bar is not None:
            bar.close()
    if peers.count > 1:
        peers.wait_for_all(name)
        _load_others(store, plan, gather, others)
    return gather, todo
