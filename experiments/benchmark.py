"""How fast fnnet.sweep trains many small networks at once, as a ratio to its fastest peer: other
ways of writing the same training, measured side by side in the same run on the same machine. The
claim is that ratio, never an absolute figure, which does not transfer between machines.

The workload: the 2-2-1 sigmoid MLP on the four XOR points, full-batch gradient descent (lr 0.5),
half_sse, float32, S seeds x T steps, all from the same initial parameters (uniform in ±0.5, drawn
as fnnet.sweep draws them). Throughput is seed-steps per second, S·T / seconds: the best of
``repeats`` rounds, each of which calls every method once in turn (so that the load of a shared
machine falls on all of them alike), after a first call of each that compiles.

Two worker processes take part in the same rounds, one after the other, never at once:

- the *plain-script* worker runs with the devices JAX gives a plain script: one host device on a
  CPU (set explicitly, since importing the ``experiments`` package would otherwise force one per
  core), or the GPU where JAX's default backend is one. It times fnnet.sweep at default settings
  (``fnnet.sweep.run(train_one, S)`` over ``fit`` with its default gradients and layout "auto";
  only the progress bar is off) and the peers (written in :mod:`experiments._peers`):

  - a hand-written C reference (``experiments/_xor_ref.c``): seeds in SIMD lanes, the four points
    written out, forward pass, hand backprop and update for all T steps inside each block of seeds
    (its exponential a Cephes polynomial written out, so that it vectorises inline), OpenMP over
    the cores; built at run time with the system C compiler (``cc -O3 -march=native -ffast-math
    -fopenmp``) into a cache in the temporary folder, absent where there is none or the build
    fails;
  - ``torch.compile`` and torch eager of the same step on 9 tensors of shape (S,), where torch is
    installed (the optional ``bench`` extra); eager on a share of the steps;
  - on a GPU only (JAX's default backend a GPU and cupy installed), a hand-fused CUDA kernel
    (``cupy.RawKernel``: one thread per seed, its 9 parameters in registers for all the steps,
    ``__expf``), the ceiling;
  - NumPy vectorised over seeds by hand (one core, a share of the steps);

- the *one-device-per-core* worker (``JAX_NUM_CPU_DEVICES`` = cores,
  ``JAX_PLATFORMS=cpu``) times fnnet.sweep there (both gradient paths) and the JAX comparisons: a
  hand-written JAX loop over the 9 scalars (``lax.scan`` over steps, ``vmap`` over seeds), the
  natural layout (``vmap`` of ``fit(layout="matrix")``), both on seeds sharded over every device,
  and Python loops: a per-seed ``jit(fit)`` (a share of the seeds) and a jitted step called from a
  loop over steps (one seed).

The verdict is the ratio of the plain-script fnnet.sweep's seed-steps/s to the fastest peer's
(:func:`verdict`), against :data:`TARGET`: fnnet.sweep at least as fast as the fastest peer. Every row keeps its ratio to the fastest peer. The final losses of the C
reference, torch.compile and the CUDA kernel are compared seed by seed with the sweep's in the same
run (``agreement``). With the full settings (``layout_checks``)
a larger network (8-32-32-1 on a regression task) checks that the layout "auto" picks is not tuned
to XOR, and a crossover of matrix and scalar layouts runs in the plain-script worker.

Every run writes its rates, the machine and the ratios to ``results/benchmark/*/result.json``;
the docs' Speed page quotes them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

from experiments import _harness, _peers, _plots, _protocol, _seeds

# fnnet.sweep, as a plain script runs it, is at least TARGET times as fast as the fastest peer
# measured in the same run (seed-steps/s): as fast as the best hand-written or compiled peer,
# which itself reaches about a quarter of the CPU's arithmetic peak (1.25x is the aim beyond it)
TARGET = 1.0
# the opt-in measured beside the default: options that may change results
FAST_MATH = {"xla_cpu_enable_fast_math": True}
# the layout "auto" picks should never be more than this many times slower than the faster one
AUTO_SLOWER = 1.2
# the chunk of the default before it followed the program's loop state and the L2 cache
FIXED_CHUNK = 4096
# a seed counts as solved where its final half_sse (summed over the four points) is below this
SOLVED_LOSS = 0.05
CLAIM = (
    "fnnet.sweep at default settings, run as a plain script, trains 2-2-1 XOR networks at least "
    "as fast as the fastest peer measured side by side in the same run (a hand-written C "
    "reference with seeds in SIMD lanes and OpenMP over the cores; torch.compile where installed; "
    "a fused CUDA kernel on a GPU)."
)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "fnnet.sweep at default settings, as a plain script runs it, reaches at least the "
        "seed-steps per second of the fastest peer measured beside it."
    ),
    rule=(
        f"met (holds) if fnnet.sweep's best-of-repeats rate divided by the fastest present peer's "
        f"is at least {TARGET:g}; not met (fails) otherwise; not tested where no peer runs."
    ),
    kind="threshold",
    source=(
        "fnnet's own target: a user sweeping seeds should gain nothing by writing the loop by "
        "hand in C or compiling it with torch.compile"
    ),
)
QUICK = {
    "seeds": 8192,
    "steps": 1000,
    "loop_seeds": 128,
    "naive_steps": 1000,
    "numpy_seeds": 8192,
    "numpy_steps": 20,
    "torch_eager_steps": 20,
    "repeats": 3,
    # the rows of the former fixed chunk and of opt-in fast math, with fast math's effect on
    # results: with the full settings only
    "option_rows": False,
    # random 2-2-1 networks whose hand-derived XOR gradient is checked with and without fast math
    "gradient_nets": 4096,
    # the larger network and the layout crossover: with the full settings only
    "layout_checks": False,
    "big_seeds": 8192,
    "big_steps": 200,
    "crossover_seeds": 4096,
    "crossover_steps": 200,
    # (sizes, batch, hidden activation): tanh on a regression task, sigmoid on 0/1 targets
    "crossover_nets": [
        [[2, 2, 1], 4, "tanh"],
        [[2, 4, 1], 4, "tanh"],
        [[2, 8, 1], 4, "tanh"],
        [[2, 8, 8, 1], 4, "tanh"],
        [[4, 8, 1], 8, "tanh"],
        [[2, 8, 1], 4, "sigmoid"],
        [[2, 16, 1], 4, "sigmoid"],
        [[4, 8, 1], 8, "sigmoid"],
        [[2, 8, 8, 1], 4, "sigmoid"],
    ],
}
FULL = {
    **QUICK,
    "seeds": 131_072,
    "steps": 2000,
    "numpy_seeds": 131_072,
    "numpy_steps": 50,
    "torch_eager_steps": 50,
    "option_rows": True,
    "layout_checks": True,
}

# the worker processes, in the order they start: "plain" as a plain script runs (no device count
# forced), "cores" with one host device per core
WORKERS = ("plain", "cores")

# (result key, worker, label in figures and tables, group); the group "peer" makes the verdict
ROWS = (
    ("sweep_plain", "plain", "fnnet.sweep, plain script (1 host device)", "fnnet"),
    (
        "sweep_plain_xla_defaults",
        "plain",
        "fnnet.sweep, plain script, XLA's default options",
        "fnnet",
    ),
    (
        "sweep_plain_fixed_chunk",
        "plain",
        "fnnet.sweep, plain script, the former fixed 4,096-seed chunk",
        "fnnet",
    ),
    (
        "sweep_plain_fast_math",
        "plain",
        "fnnet.sweep, plain script, opt-in fast math (compiler_options)",
        "fnnet",
    ),
    ("sweep_cores", "cores", "fnnet.sweep, one device per core", "fnnet"),
    ("sweep_autodiff", "cores", "fnnet.sweep, one device per core, jax.grad", "fnnet"),
    ("cuda_reference", "plain", "hand-fused CUDA kernel, one thread per seed (GPU)", "peer"),
    ("c_reference", "plain", "hand-written C: seeds in SIMD lanes, OpenMP over cores", "peer"),
    ("torch_compile", "plain", "torch.compile of the 9-tensor step", "peer"),
    ("torch_eager", "plain", "torch eager, the 9-tensor step", "peer"),
    ("numpy_vectorised", "plain", "NumPy, vectorised over seeds (one core)", "peer"),
    ("hand_jax", "cores", "hand-written JAX loop over 9 scalars", "jax"),
    ("natural_vmap", "cores", "natural vmap of fit: weight matrices", "jax"),
    ("per_seed_jit_loop", "cores", "Python loop over seeds of jit(fit)", "loop"),
    ("naive_step_loop", "cores", "Python loop over steps of a jitted step", "loop"),
)
PEERS = tuple(key for key, _, _, group in ROWS if group == "peer")
LABELS = {key: label for key, _, label, _ in ROWS}


def performance(result) -> dict:
    """The report's row for fnnet's own performance: the ratio to each peer measured, why the
    target, and where the time goes (fraction of the CPU's peak, compile time)."""
    rates = result.get("rates", {})
    sweep = rates.get("sweep_plain")
    peers = {p: rates[p] for p in PEERS if rates.get(p) and p != "numpy_vectorised"}
    if not sweep or not peers:
        return {"measured": result.get("headline", "-")}
    ratios = "; ".join(
        f"{sweep / r:.2f}x {_SHORT.get(p, p)}"
        for p, r in sorted(peers.items(), key=lambda x: -x[1])
    )
    frac = result.get("fraction_of_peak", {})
    first = result.get("workers", {}).get("plain", {}).get("sweep_plain", {}).get("compile_s")
    time = ", ".join(
        f"{_SHORT.get(k, 'fnnet')} {100 * frac[k]:.0f}% of peak"
        for k in ["sweep_plain", *peers]
        if k in frac
    )
    if first is not None:
        time += f"; fnnet's first call +{first:.1f} s (compiling)"
    return {
        "measured": f"fnnet.sweep {ratios} ({result['settings']['seeds']:,} seeds, "
        f"{result['settings']['steps']:,} steps, {result.get('machine', {}).get('cores', '?')} cores)",
        "why": CRITERION.source,
        "time": time,
    }


_SHORT = {
    "c_reference": "hand-written C",
    "torch_compile": "torch.compile",
    "torch_eager": "torch eager",
    "cuda_reference": "hand-fused CUDA",
    "sweep_plain": "fnnet",
}


# ---------------------------------------------------------------- the verdict


def verdict(rates: dict, target: float = TARGET) -> dict:
    """The claim's verdict from measured rates ``{row key: seed-steps/s, or None where absent}``.

    The ratio is the plain-script fnnet.sweep's rate (``rates["sweep_plain"]``) over the fastest
    peer's (the fastest present row of :data:`PEERS`); the target is met when it is at least
    ``target``. Returns ``verdict`` ("holds", "fails", or "not tested: ..." where the sweep or
    every peer is absent), ``met``, ``ratio``, ``fastest_peer``, ``target``, ``ratios`` (every
    present row's rate over the fastest peer's), ``absent_peers`` and ``sentence`` (the verdict in
    words, from the same numbers)."""
    sweep = rates.get("sweep_plain")
    present = {p: rates[p] for p in PEERS if rates.get(p)}
    out = {
        "target": target,
        "absent_peers": [p for p in PEERS if not rates.get(p)],
        "fastest_peer": None,
        "ratio": None,
        "met": None,
        "ratios": {},
    }
    if not sweep or not present:
        missing = "fnnet.sweep" if not sweep else "any peer"
        out["verdict"] = f"not tested: no rate for {missing}"
        out["sentence"] = f"Not tested: no rate was measured for {missing}."
        return out
    fastest = max(present, key=present.get)
    ratio = sweep / present[fastest]
    met = ratio >= target
    out.update(
        fastest_peer=fastest,
        ratio=ratio,
        met=met,
        ratios={k: x / present[fastest] for k, x in rates.items() if x},
        verdict="holds" if met else "fails",
    )
    out["sentence"] = (
        f"fnnet.sweep as a plain script ran at {ratio:.3g}x the rate of the fastest peer, "
        f"{LABELS.get(fastest, fastest)} ({_si(sweep)} against {_si(present[fastest])} "
        f"seed-steps/s, same run): the target, at least {target:g}x, is "
        f"{'met' if met else 'not met'}."
    )
    return out


# ---------------------------------------------------------------- the worker (a fresh process)


def _entry(work, first, times, **extra):
    """One method's measurement: ``work`` seed-steps per call; the rate of the best call, the
    range of rates over the repeats, and the first call's extra time (compiling)."""
    best = min(times)
    return {
        "seed_steps_per_s": work / best,
        "rate_range": [work / max(times), work / best],
        "seconds": best,
        "repeats": len(times),
        "compile_s": max(0.0, first - best),
        **extra,
    }


def _hand_one(steps):
    """``train_one(key) -> {"loss"}`` of the hand-written loop, from fnnet's uniform ±0.5 init."""
    import fnnet as fn

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")

    def train_one(key):
        return {"loss": _peers.hand_xor(net.init(key, "uniform", 0.5), steps)[1]}

    return train_one


def _sharded_keys(n, seed):
    """``n`` PRNG keys with their axis sharded over every device, as fnnet.sweep shards seeds."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), ("seeds",))
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.device_put(keys, NamedSharding(mesh, PartitionSpec("seeds")))


def _plain(settings):
    """The plain-script worker's contestants: fnnet.sweep at default settings and the peers, all
    from the same initial parameters. Returns ``(contestants, absent, checks)``: ``checks()``
    gives, per reference trained for all T steps, the largest difference of its final losses from
    the sweep's (its last call's)."""
    import jax

    import fnnet as fn

    S, T = settings["seeds"], settings["steps"]
    train_one = _peers.xor_fit(
        "auto", "backprop", T
    )  # fit's defaults: hand-derived backprop, "auto"
    finals = {}

    def row(name, defaults_only=False, **kwargs):
        """A contestant running fnnet.sweep with ``kwargs``; its entry records the chunk size
        the sweep used, as its settings give it."""
        extra = dict(kwargs)

        def call():
            with fn.xla.xla_defaults() if defaults_only else contextlib.nullcontext():
                r = fn.sweep.run(train_one, S, progress=False, **kwargs)
            finals[name] = r.values["loss"]
            extra["chunk_size"] = r.settings["chunk_size"]

        return call, S * T, extra

    # what the sweep decides from train_one: its loop state (for the chunk) and compiler options
    jaxpr = jax.make_jaxpr(train_one)(jax.random.key(0))
    call, work, extra = row("sweep_plain")
    extra.update(
        loop_state_bytes=fn.sweep.loop_state_bytes(jaxpr),
        l2_cache_bytes=fn.sweep.cache_bytes(),
        compiler_options=fn.xla.fast_options(jaxpr),
    )
    contestants = {
        "sweep_plain": (call, work, extra),
        "sweep_plain_xla_defaults": row("sweep_plain_xla_defaults", defaults_only=True),
    }
    absent = {}
    if settings["option_rows"]:
        contestants["sweep_plain_fixed_chunk"] = row(
            "sweep_plain_fixed_chunk", chunk_size=FIXED_CHUNK
        )
        contestants["sweep_plain_fast_math"] = row(
            "sweep_plain_fast_math", compiler_options=FAST_MATH
        )
    else:
        why = "run with the full settings (--full)"
        absent.update(sweep_plain_fixed_chunk=why, sweep_plain_fast_math=why)
    p0 = _peers.nine(_peers.initial_params(S))

    # the fastest peer expected first: the CUDA kernel (on a GPU), the C reference, torch.compile
    cuda, why = _peers.cuda_contestant(S, T, p0, finals)
    if cuda is None:
        absent["cuda_reference"] = why
    else:
        contestants["cuda_reference"] = cuda
    c, why = _peers.c_contestant(S, T, p0, finals)
    if c is None:
        absent["c_reference"] = why
    else:
        contestants["c_reference"] = c
    torch_rows, torch_absent = _peers.torch_contestants(
        S, T, p0, settings["torch_eager_steps"], finals
    )
    contestants.update(torch_rows)
    absent.update(torch_absent)
    s, ns = settings["numpy_seeds"], settings["numpy_steps"]
    p0_np = _peers.tree(p0[:, :s])
    contestants["numpy_vectorised"] = (
        lambda: _peers.numpy_xor(s, ns, params=p0_np),
        s * ns,
        {"measured_steps": ns, "measured_seeds": s, "runs_on": "NumPy, as it comes"},
    )

    def checks():
        ref = _peers.host(finals["sweep_plain"])
        return {
            k: float(np.max(np.abs(_peers.host(x) - ref)))
            for k, x in finals.items()
            if k != "sweep_plain"
        }

    def fast_math():
        if not settings["option_rows"]:
            return None
        solved = {
            k: float(np.mean(_peers.host(finals[k]) < SOLVED_LOSS))
            for k in ("sweep_plain", "sweep_plain_fast_math")
        }
        changed = _peers.host(finals["sweep_plain"]) < SOLVED_LOSS
        changed ^= _peers.host(finals["sweep_plain_fast_math"]) < SOLVED_LOSS
        return {
            "options": FAST_MATH,
            "solved_below": SOLVED_LOSS,
            "solved_fraction": solved,
            "seeds_whose_verdict_changed": int(changed.sum()),
            "gradient_error": fast_math_gradients(settings["gradient_nets"]),
        }

    return contestants, absent, checks, fast_math


def fast_math_gradients(n_nets: int) -> dict:
    """The hand-derived gradient (:func:`fnnet.backprop.value_and_grad`, half_sse) of ``n_nets``
    random 2-2-1 sigmoid networks on XOR (weights uniform in ±2), in float32 compiled with XLA's
    defaults and with :data:`FAST_MATH`, against the same gradient in float64 NumPy
    (:func:`experiments._peers.hand_step`): the median and largest relative error
    ``|g - g64| / |g64|`` (Euclidean norms over the 9 entries) of each compilation."""
    import jax

    import fnnet as fn

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, T = fn.data.logic_gate("xor")
    params = jax.vmap(lambda k: net.init(k, "uniform", 2.0))(
        jax.random.split(jax.random.key(7), n_nets)
    )

    def grads(p):
        return fn.backprop.value_and_grad(net, p, X, T, "half_sse")[1]

    p64 = _peers.nine(params).astype(np.float64)
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    stepped, _ = _peers.hand_step(tuple(p64), 1.0, sigmoid)
    g64 = p64 - np.stack(stepped)  # one step at lr 1: the gradient
    out = {}
    for name, options in (("default", None), ("fast_math", FAST_MATH)):
        g = _peers.nine(jax.jit(jax.vmap(grads), compiler_options=options)(params))
        err = np.linalg.norm(g - g64, axis=0) / np.linalg.norm(g64, axis=0)
        out[name] = {"median": float(np.median(err)), "max": float(np.max(err))}
    return out


def _sweeps(settings) -> dict:
    """fnnet.sweep over ``fit(layout="auto")`` for both gradient paths at its default chunk size,
    seeds sharded over every device by the sweep itself: ``{name: (call, work, extra)}``."""
    import fnnet as fn

    S, T = settings["seeds"], settings["steps"]
    out = {}
    for name, grads in (("sweep_cores", "backprop"), ("sweep_autodiff", "autodiff")):
        train_one = _peers.xor_fit("auto", grads, T)
        call = lambda t=train_one: fn.sweep.run(t, S, progress=False)  # noqa: E731
        out[name] = (call, S * T, {})
    return out


def _jax_peers(settings) -> dict:
    """The hand-written loop and the natural (matrix) layout: ``jit(vmap(train_one))`` on keys
    sharded over every device, so that they use the cores the sweep uses."""
    import jax

    S, T = settings["seeds"], settings["steps"]
    keys = _sharded_keys(S, 0)
    out = {}
    for name, train_one in (
        ("hand_jax", _hand_one(T)),
        ("natural_vmap", _peers.xor_fit("matrix", "backprop", T)),
    ):
        f = jax.jit(jax.vmap(train_one))
        out[name] = (lambda f=f: jax.block_until_ready(f(keys)), S * T, {})
    return out


def _loops(settings) -> dict:
    """Python loops, each on a share of the work: per-seed jit(fit) over ``loop_seeds`` seeds and
    a jitted step called ``naive_steps`` times for one seed."""
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

    T = settings["steps"]
    keys = jax.random.split(jax.random.key(1), settings["loop_seeds"])
    one = jax.jit(_peers.xor_fit("matrix", "backprop", T))

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, Y = (jnp.asarray(a) for a in fn.data.logic_gate("xor"))
    opt = optax.sgd(0.5)
    step = jax.jit(fn.train.make_step(net, opt, "half_sse"))
    n = settings["naive_steps"]

    def naive():
        state = fn.train.init_state(opt, net.init(keys[0], "uniform", 0.5))
        for _ in range(n):
            state, m = step(state, X, Y)
        return jax.block_until_ready(m["loss"])

    return {
        "per_seed_jit_loop": (
            lambda: [jax.block_until_ready(one(k)) for k in keys],
            len(keys) * T,
            {"measured_seeds": len(keys)},
        ),
        "naive_step_loop": (naive, n, {"measured_steps": n}),
    }


def race(contestants, rounds, ticks, say=None) -> dict:
    """Times every contestant ``{name: (call, work, extra)}``: a first call each (it compiles),
    then one round per item of ``rounds`` (an iterable: a range here, the parent's ``ROUND``
    commands in a worker) that calls every contestant once, in turn, so that the load of a shared
    machine falls on all of them alike. ``say`` hears ``READY`` after the first calls and ``ROUND
    DONE`` after each round. Returns an :func:`_entry` per name."""
    say = say or (lambda message: None)
    first = {}
    for name, (call, _, _) in contestants.items():
        t = time.perf_counter()
        call()
        first[name] = time.perf_counter() - t
        ticks.update(1)
    say("READY")
    times = {name: [] for name in contestants}
    for _ in rounds:
        for name, (call, _, _) in contestants.items():
            t = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t)
        ticks.update(1)
        say("ROUND DONE")
    return {
        name: _entry(work, first[name], times[name], **extra)
        for name, (_, work, extra) in contestants.items()
        if times[name]
    }


def _measure_big(settings, ticks) -> dict:
    """A larger network, 8-32-32-1 on a regression task (batch 64), where the matrix layout is
    the right one: the layout "auto" picks for it and its seed-steps/s (one device)."""
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

    big = fn.MLP((8, 32, 32, 1), hidden="tanh", output="identity")
    X = jax.random.normal(jax.random.key(1), (64, 8))
    T = jnp.sin(jnp.sum(X, axis=1, keepdims=True))
    one = _seeds.fit_one(
        big,
        optax.sgd(0.05),
        (X, T),
        epochs=settings["big_steps"],
        batch_size=64,
        loss="mse",
        history="final",
    )
    keys = jax.random.split(jax.random.key(2), settings["big_seeds"])
    f = jax.jit(jax.vmap(one))
    first, times = _peers.timed(lambda: jax.block_until_ready(f(keys)), settings["repeats"])
    ticks.update(1)
    return _entry(
        len(keys) * settings["big_steps"],
        first,
        times,
        layout=fn.layout.choose("auto", big, "mse", n_examples=64).name,
        network=big.describe(),
        batch=64,
    )


class _Ticks:
    """What the worker's measurements tick after each piece of work: nothing (``quiet``), or a
    ``PROGRESS n`` line on stdout that :func:`_run_workers` turns into its progress bar."""

    def __init__(self, quiet=True):
        self.quiet = quiet

    def update(self, n=1):
        if not self.quiet:
            print(f"PROGRESS {n}", flush=True)


def worker(settings, role, rounds=None, ticks=None, say=None) -> dict:
    """The measurements of worker ``role`` (:data:`WORKERS`) on JAX's default backend in this
    process: its contestants timed by :func:`race` (``rounds`` default ``repeats`` rounds), an
    ``{"absent": reason}`` entry per absent peer, and with ``layout_checks`` the larger network
    ("cores") or the layout crossover ("plain"). Returns ``{row: entry}`` with the backend and
    device count; the plain worker adds ``agreement`` (largest final-loss difference of each
    reference from the sweep)."""
    import jax

    ticks = ticks or _Ticks()
    rounds = range(max(1, settings["repeats"])) if rounds is None else rounds
    fast_math = None
    if role == "plain":
        contestants, absent, checks, fast_math = _plain(settings)
    elif role == "cores":
        contestants = {**_sweeps(settings), **_jax_peers(settings), **_loops(settings)}
        absent, checks = {}, None
    else:
        raise ValueError(f"role: expected one of {WORKERS}, got {role!r}")
    out = {
        "role": role,
        "devices": len(jax.devices()),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        **race(contestants, rounds, ticks, say),
        **{name: {"absent": why} for name, why in absent.items()},
    }
    if checks is not None:
        out["agreement"] = checks()
    if fast_math is not None:
        out["fast_math"] = fast_math()
    if settings["layout_checks"]:
        if role == "cores":
            out["big_auto"] = _measure_big(settings, ticks)
        else:
            out["crossover"] = crossover(settings, ticks)
    return out


def work_units(settings) -> int:
    """How many ticks the workers give together: a first call per row (less the torch and CUDA
    rows where torch or cupy is not installed; a failed build or compile gives fewer) and a round
    per repeat each (the two option rows with ``option_rows`` only), and with ``layout_checks``
    the larger network and each crossover network."""
    import importlib.util

    n = len(ROWS) + len(WORKERS) * max(1, settings["repeats"])
    n -= 2 * (importlib.util.find_spec("torch") is None)
    n -= importlib.util.find_spec("cupy") is None
    n -= 0 if settings["option_rows"] else 2
    if settings["layout_checks"]:
        n += 1 + len(settings["crossover_nets"])
    return n


def crossover(settings, ticks=None) -> list[dict]:
    """Matrix against scalar layout for a few growing networks (tanh on a regression task, or
    sigmoid on 0/1 targets; full batch), on one device: where the scalar layout stops paying,
    and what "auto" picks."""
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

    ticks = ticks or _Ticks()
    rows = []
    S, steps = settings["crossover_seeds"], settings["crossover_steps"]
    keys = jax.random.split(jax.random.key(3), S)
    for sizes, batch, *hidden in settings["crossover_nets"]:
        hidden = hidden[0] if hidden else "tanh"
        output = "identity" if hidden == "tanh" else "sigmoid"
        net = fn.MLP(tuple(sizes), hidden=hidden, output=output)
        X = jax.random.normal(jax.random.key(4), (batch, sizes[0]))
        T = jnp.sin(jnp.sum(X, axis=1, keepdims=True))
        if hidden != "tanh":
            T = (T > 0).astype(X.dtype)
        row = {
            "network": "-".join(map(str, sizes)) + f" {hidden}",
            "batch": batch,
            "batch_x_params": batch * net.n_params,
            "auto": fn.layout.choose("auto", net, "mse", n_examples=batch).name,
        }
        for layout in ("matrix", "scalar"):
            one = _seeds.fit_one(
                net,
                optax.sgd(0.05),
                (X, T),
                epochs=steps,
                batch_size=batch,
                loss="mse",
                history="final",
                layout=layout,
            )
            f = jax.jit(jax.vmap(lambda k, one=one: one(k)["loss"]))
            first, times = _peers.timed(
                lambda f=f: jax.block_until_ready(f(keys)), settings["repeats"]
            )
            row[layout] = _entry(S * steps, first, times)
        rows.append(row)
        ticks.update(1)
    return rows


def _commands(stream):
    """The rounds a worker runs: one per ``ROUND`` line the parent sends; any other line (the
    parent's ``FINISH``) or the end of input ends them."""
    while True:
        line = stream.readline()
        if line.strip() != "ROUND":
            return
        yield


def _worker_main(argv):
    """``python -m experiments.benchmark --worker SETTINGS ROLE``: the worker's answer, its rounds
    driven by the parent over stdin (:func:`_run_workers`)."""
    settings, role = json.loads(argv[0]), argv[1]
    result = worker(
        settings,
        role,
        _commands(sys.stdin),
        _Ticks(quiet=False),
        say=lambda message: print(message, flush=True),
    )
    _harness.print_result(result)
    return 0


# ---------------------------------------------------------------- the experiment


def _worker_env(role: str, cores: int) -> dict:
    """The environment of worker ``role``. "cores": one host device per core, CPU only. "plain":
    one host device, as JAX gives a plain script (the flag is set only because importing the
    ``experiments`` package would otherwise force one device per core), the default backend."""
    env = dict(os.environ)  # JAX_NUM_CPU_DEVICES overrides a device count in XLA_FLAGS
    env["JAX_NUM_CPU_DEVICES"] = str(cores if role == "cores" else 1)
    if role == "cores":
        env["JAX_PLATFORMS"] = "cpu"
    return env


def _await(role, proc, err, token, bar) -> str:
    """Reads worker ``role``'s stdout up to a line starting with ``token`` (``PROGRESS`` lines
    move ``bar``) and returns it; RuntimeError with the end of its stderr where it ends first."""
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            err.seek(0)
            raise RuntimeError(
                f"benchmark worker {role!r} failed (exit {proc.returncode}):\n{err.read()[-3000:]}"
            )
        if line.startswith("PROGRESS "):
            bar.update(int(line.split()[1]))
        elif line.startswith(token):
            return line


def _send(proc, command: str) -> None:
    """One command line to a worker; a worker that has died is reported by :func:`_await`."""
    try:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    except (BrokenPipeError, OSError):
        pass


def _run_workers(settings) -> dict:
    """Runs the workers of :data:`WORKERS` as fresh processes, in lock step: each starts and makes
    its first calls while the others wait, then every round runs in one worker after the other
    (the order reversed every other round), so that no two measure at once and the load of a
    shared machine falls on all of them alike. Returns ``{role: result}``."""

    cores = os.cpu_count() or 1
    procs = {}
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(
            _harness.progress(desc="benchmark", total=work_units(settings), unit="part")
        )
        for role in WORKERS:
            err = stack.enter_context(tempfile.TemporaryFile("w+"))
            proc = stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-m", "experiments.benchmark", "--worker"]
                    + [json.dumps(settings), role],
                    env=_worker_env(role, cores),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            )
            stack.callback(lambda p=proc: p.poll() is None and p.kill())
            procs[role] = (proc, err)
            _await(role, proc, err, "READY", bar)
        for r in range(max(1, settings["repeats"])):
            for role in WORKERS if r % 2 == 0 else WORKERS[::-1]:
                proc, err = procs[role]
                _send(proc, "ROUND")
                _await(role, proc, err, "ROUND DONE", bar)
        results = {}
        for role, (proc, err) in procs.items():
            _send(proc, "FINISH")
            line = _await(role, proc, err, "RESULT ", bar)
            results[role] = json.loads(line[len("RESULT ") :])
            proc.wait(timeout=60)
    return results


def rates_of(runs) -> dict:
    """``{row: seed-steps/s}`` of every row of :data:`ROWS` from the workers' results, None
    where the row is absent."""
    out = {}
    for key, role, _, _ in ROWS:
        e = runs.get(role, {}).get(key)
        out[key] = e["seed_steps_per_s"] if e and "absent" not in e else None
    return out


def labels(runs) -> dict:
    """The rows' labels; the plain-script sweep's names the device it got where that is not the
    one host device of a CPU."""
    out = dict(LABELS)
    plain = runs.get("plain", {})
    if plain.get("backend", "cpu") != "cpu":
        out["sweep_plain"] = f"fnnet.sweep, plain script (1 {plain['backend'].upper()})"
    return out


def run(settings, out):
    """Runs the workers in lock step, computes every row's ratio to the fastest peer and the
    verdict, and draws the figure."""
    runs = _run_workers(settings)
    cross = runs["plain"].pop("crossover", [])
    rates = rates_of(runs)
    v = verdict(rates)
    m = _harness.machine()
    absent = {k: runs[role][k]["absent"] for k, role, _, _ in ROWS if not rates[k]}
    work, top = arithmetic(), peak(m["cores"])
    return {
        "machine": m,
        "arithmetic_per_seed_step": work,
        "peak": top,
        "fraction_of_peak": fractions_of_peak(rates, work["ops"], top["ops_per_s"]),
        "workers": runs,
        "rates": rates,
        "ratio_to_fastest_peer": v["ratios"],
        "fastest_peer": v["fastest_peer"],
        "ratio": v["ratio"],
        "target": TARGET,
        "target_met": v["met"],
        "absent": absent,
        "agreement": runs["plain"].get("agreement", {}),
        "fast_math": runs["plain"].get("fast_math"),
        "verdict_sentence": v["sentence"],
        "layout_crossover": cross,
        "headline": _headline(v, runs, settings),
        "seeds": (
            f"{settings['seeds']:,} XOR seeds x {settings['steps']} steps per method "
            "(the loops, NumPy and torch eager on a share), the same initial parameters"
        ),
        "figures": [_figure(runs, rates, v, settings, m, out)],
        "verdict": v["verdict"],
    }


def arithmetic() -> dict:
    """The arithmetic of one seed-step, as XLA counts it in the hand-written step of the same
    network (``_peers.hand_step``: products with the inputs 0 and 1 folded, as fnnet's scalar
    layout folds them): floating-point operations and transcendentals (the 12 logistic
    functions); ``ops`` counts each transcendental as one operation, a lower bound on its cost."""
    import jax
    import jax.numpy as jnp

    p = tuple(jnp.zeros((), jnp.float32) for _ in range(9))
    cost = jax.jit(lambda p: _peers.hand_step(p, 0.5)).lower(p).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops, trans = float(cost["flops"]), float(cost.get("transcendentals", 0.0))
    return {"flops": flops, "transcendentals": trans, "ops": flops + trans}


def peak(cores: int) -> dict:
    """The CPU's single-precision arithmetic peak, ops/s: cores x clock (``cpu MHz`` of
    /proc/cpuinfo, the nominal clock in a VM) x float32 lanes (16 with AVX-512, 8 with AVX2, else
    4) x 2 (a fused multiply-add) x 2 (two FMA pipes per core); None where the clock is unknown.
    A CPU that splits 512-bit operations into two halves (AMD Zen 4) reaches half of it with
    AVX-512 instructions: the figure is an upper bound."""
    import fnnet as fn

    mhz = float(fn.xla.cpu_info("cpu MHz") or "nan")
    features = fn.xla.cpu_features()
    lanes = 16 if "avx512f" in features else 8 if "avx2" in features else 4
    if math.isnan(mhz):
        return {"ops_per_s": None, "why": "no clock in /proc/cpuinfo"}
    ops = cores * mhz * 1e6 * lanes * 2 * 2
    return {"ops_per_s": ops, "cores": cores, "mhz": mhz, "float32_lanes": lanes}


def fractions_of_peak(rates: dict, ops: float, peak_ops) -> dict:
    """Every present row's arithmetic rate (seed-steps/s x ``ops``) over the CPU's peak."""
    if not peak_ops:
        return {}
    return {k: r * ops / peak_ops for k, r in rates.items() if r}


def _headline(v, runs, settings):
    """The verdict's ratio and the fastest peer in one line."""
    if v["ratio"] is None:
        return v["sentence"]
    met = "met" if v["met"] else "not met"
    return (
        f"fnnet.sweep (plain script) {v['ratio']:.2g}x the fastest peer "
        f"({labels(runs)[v['fastest_peer']]}); target >= {v['target']:.3g}x: {met} "
        f"(best of {settings['repeats']}, {runs['cores']['devices']} cores)"
    )


# how the figure colours the rows: by group
_GROUPS = {
    "fnnet": ("C0", "fnnet.sweep"),
    "peer": ("C3", "peers (the verdict: the fastest of them)"),
    "jax": ("C1", "JAX without fnnet.sweep, one device per core"),
    "loop": ("0.55", "Python loops of JAX"),
}


def _figure(runs, rates, v, settings, m, out):
    """Seed-steps/s of every present row (log scale), coloured by group, each bar labelled with
    its rate and its ratio to the fastest peer; the verdict in the title, absent rows below."""
    plt = _plots.pyplot()
    names = labels(runs)
    rows = [(k, g) for k, _, _, g in ROWS if rates[k]]
    fig, ax = plt.subplots(figsize=(12, 5.6))
    for group, (color, legend) in _GROUPS.items():
        y = [i for i, (_, g) in enumerate(rows) if g == group]
        if not y:
            continue
        xs = [rates[rows[i][0]] for i in y]
        bars = ax.barh(y, xs, height=0.7, color=color, label=legend)
        ratios = v["ratios"]
        notes = [
            _rate(x) + (f" ({ratios[rows[i][0]]:.2g}×)" if ratios else "") for i, x in zip(y, xs)
        ]
        ax.bar_label(bars, notes, padding=3, fontsize=8)
    ax.set_yticks(range(len(rows)), [names[k] for k, _ in rows], fontsize=8)
    ax.set_xscale("log")
    xs = [rates[k] for k, _ in rows]
    ax.set_xlim(min(xs) / 2, max(xs) * 8)  # room for the labels right of the bars
    ax.set_xlabel(
        f"seed-steps per second (log scale; best of {settings['repeats']} rounds); in brackets: "
        f"the ratio to the fastest peer. {m['cores']}-core CPU: {m['cpu']}",
        fontsize=8,
    )
    ax.invert_yaxis()
    said = (
        "no peer ran"
        if v["ratio"] is None
        else f"fnnet.sweep {v['ratio']:.2g}× the fastest peer (target ≥ {v['target']:.3g}×)"
    )
    ax.set_title(
        f"2-2-1 XOR, {settings['seeds']:,} seeds × {settings['steps']:,} steps, all rows in one "
        f"run: {said}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    missing = [f"{names[k]} ({runs[r][k]['absent']})" for k, r, _, _ in ROWS if not rates[k]]
    if missing:
        note = textwrap.fill("Absent: " + "; ".join(missing) + ".", 110)
        ax.text(0, -0.14, note, transform=ax.transAxes, fontsize=7, va="top")
    return _plots.save_figure(fig, out, "benchmark.png")


def report(result):
    """The machine and setting, the verdict sentence, every row's rate and ratio to the fastest
    peer, the absent rows with their reasons, the C reference's agreement with the sweep and (full
    settings) the layout crossover."""
    s = result["settings"]
    m = result["machine"]
    runs = result["workers"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores. S = {s['seeds']:,} seeds x T = "
        f"{s['steps']:,} steps, every method from the same initial parameters (shares of the "
        f"work: the per-seed loop {s['loop_seeds']} seeds, the step loop {s['naive_steps']} steps "
        f"of one seed, NumPy {s['numpy_seeds']:,} seeds x {s['numpy_steps']} steps, torch eager "
        f"{s['torch_eager_steps']} steps). Each rate is the best of {s['repeats']} rounds that "
        "time every method in turn, both workers in the same rounds, after a first call that "
        "compiles.",
        "",
        f"**{result['verdict_sentence']}**",
        "",
        *_method_table(result),
        "",
    ]
    if result["absent"]:
        names = labels(runs)
        absent = "; ".join(f"{names[k]}: {why}" for k, why in result["absent"].items())
        lines += [f"Absent: {absent}.", ""]
    c = runs["plain"].get("c_reference", {})
    if "build_s" in c:
        lines += [
            f"The C reference: {os.path.basename(c['compiler'])} {c['flags']} "
            f"(built or found in the cache in {c['build_s']:.2f} s, before the first call).",
            "",
        ]
    for k, diff in result["agreement"].items():
        lines += [
            f"{LABELS[k]}: final losses within {diff:.2g} of fnnet.sweep's, seed by seed "
            "(the largest difference; float32).",
            "",
        ]
    lines += _fast_math_lines(result)
    lines += _crossover_table(result)
    big = runs["cores"].get("big_auto")
    if big:
        lines += [
            "",
            f"The 8-32-32-1 row uses the layout 'auto' picks for it: {big['layout']}.",
        ]
    return lines


def _fast_math_lines(result) -> list:
    """What the fast-math opt-in did: its speed against the default, the solved fraction and the
    hand-derived gradient's error against float64, with and without it."""
    f = result.get("fast_math")
    if not f:
        return []
    rates = result["rates"]
    speed = (
        rates.get("sweep_plain_fast_math") and rates["sweep_plain_fast_math"] / rates["sweep_plain"]
    )
    solved, g = f["solved_fraction"], f["gradient_error"]
    return [
        f"Opt-in fast math ({', '.join(f'{k}={v}' for k, v in f['options'].items())}, through "
        f"`fn.sweep.run(compiler_options=...)`): {speed:.2f}x the default's rate; solved "
        f"(final loss < {f['solved_below']:g}) {solved['sweep_plain_fast_math']:.2%} of seeds "
        f"against {solved['sweep_plain']:.2%}, {f['seeds_whose_verdict_changed']:,} seeds "
        f"changing side; the hand-derived gradient of random 2-2-1 networks against float64, "
        f"relative error median {g['fast_math']['median']:.1e} (max {g['fast_math']['max']:.1e}) "
        f"against {g['default']['median']:.1e} (max {g['default']['max']:.1e}) with XLA's "
        "defaults.",
        "",
    ]


def _where(run, entry) -> str:
    """Where a row ran, in words: its worker and, for JAX, the devices; else how it ran."""
    worker = "plain-script" if run["role"] == "plain" else "one-device-per-core"
    n, backend = run["devices"], run["backend"]
    how = entry.get("runs_on") or f"JAX, {n} {backend} device{'s' if n > 1 else ''}"
    return f"{worker} worker: {how}"


def _method_table(result):
    """Every row: where it ran, seed-steps/s (range over the rounds), the first call's extra
    seconds and its ratio to the fastest peer; absent rows with their reason."""
    runs = result["workers"]
    names = labels(runs)
    ratios = result["ratio_to_fastest_peer"]
    fractions = result.get("fraction_of_peak", {})
    lines = [
        "| method | runs in | seed-steps/s | range over rounds | first call's extra s "
        "| ratio to the fastest peer | fraction of peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, role, _, _ in ROWS:
        e = runs[role].get(key)
        if e is None:
            continue
        if "absent" in e:
            lines.append(f"| {names[key]} | - | absent: {_cell(e['absent'])} | - | - | - | - |")
            continue
        lo, hi = e["rate_range"]
        ratio = f"{ratios[key]:.3g}" if key in ratios else "-"
        if key == result["fastest_peer"]:
            ratio += " (the fastest peer)"
        lines.append(
            f"| {names[key]} | {_where(runs[role], e)} | {e['seed_steps_per_s']:.3g} | "
            f"{lo:.2g}-{hi:.2g} | {e['compile_s']:.2f} | {ratio} | {_fraction(fractions, key)} |"
        )
    big = runs["cores"].get("big_auto")
    if big:
        lines.append(
            f"| 8-32-32-1 regression, vmap of fit(layout='auto') | {_where(runs['cores'], {})} | "
            f"{big['seed_steps_per_s']:.3g} | {big['rate_range'][0]:.2g}-"
            f"{big['rate_range'][1]:.2g} | {big['compile_s']:.2f} | - | - |"
        )
    return lines


def _fraction(fractions: dict, key: str) -> str:
    return f"{fractions[key]:.1%}" if key in fractions else "-"


def _cell(text) -> str:
    """``text`` fit for one cell of a Markdown table: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _si(x):
    """A count in words: '35 M', '23 k'."""
    if x >= 1e6:
        return f"{x / 1e6:.3g} M"
    if x >= 1e3:
        return f"{x / 1e3:.3g} k"
    return f"{x:.3g}"


def _rate(x):
    """A rate in words: '35 M/s', '23 k/s'."""
    return f"{_si(x)}/s"


def _crossover_table(result):
    """Matrix against scalar layout per network, and the layout "auto" picks."""
    if not result["layout_crossover"]:
        return ["The larger network and the layout crossover run with the full settings (--full)."]
    lines = [
        "Matrix against scalar layout, in the plain-script worker (one device), vmap of fit over "
        f"{result['settings']['crossover_seeds']:,} seeds (seed-steps/s, compile s):",
        "",
        "| network | batch | batch x params | matrix | scalar | auto picks | auto / faster |",
        "|---|---|---|---|---|---|---|",
    ]
    worst = 1.0
    for r in result["layout_crossover"]:
        m, s = r["matrix"], r["scalar"]
        share = auto_share(r)
        worst = min(worst, share)
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['batch_x_params']} | "
            f"{m['seed_steps_per_s']:.3g} ({m['compile_s']:.1f}) | "
            f"{s['seed_steps_per_s']:.3g} ({s['compile_s']:.1f}) | {r['auto']} | {share:.2f} |"
        )
    lines += [
        "",
        f"'auto' ran at {worst:.2f} of the faster layout's rate at worst "
        f"(the aim: never more than {AUTO_SLOWER:g}x slower, i.e. at least {1 / AUTO_SLOWER:.2f}).",
    ]
    return lines


def auto_share(row) -> float:
    """The rate of the layout "auto" picked for a crossover ``row`` over the faster layout's."""
    rates = {k: row[k]["seed_steps_per_s"] for k in ("matrix", "scalar")}
    return rates[row["auto"]] / max(rates.values())


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2:]))
    raise SystemExit(_harness.main(__import__(__name__)))
