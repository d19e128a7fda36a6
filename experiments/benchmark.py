"""How fast fnnet trains many small networks at once, as ratios to other ways of writing the same
training, all measured side by side in one run on one machine.

The workload: the 2-2-1 sigmoid MLP on the four XOR points, full-batch gradient descent (lr 0.5),
half_sse, float32, S seeds x T steps. Throughput is seed-steps per second, S·T / seconds: the best
of ``repeats`` rounds, each timing every method once in turn (so that the load of a shared machine
falls on all of them alike), after a first call of each that compiles. Compared:

- ``fnnet.sweep`` over a ``train_one`` that calls ``fnnet.train.fit`` (layout "auto", which writes
  this small network out per parameter), with hand-derived backprop and with ``jax.grad``;
- a hand-written JAX loop: the 9 parameters as 9 scalars, the forward and backward pass written out
  for the four points, ``lax.scan`` over steps, ``jax.vmap`` over seeds; no fnnet in the loop;
- the natural layout: ``jax.vmap`` over seeds of ``fit(layout="matrix")``, whose ``lax.scan``
  carries the usual params pytree of (2, 2), (2,), (2, 1), (1,) arrays;
- Python loops: a per-seed ``jit(fit)`` called from a loop over seeds (on a share of the seeds), a
  loop over steps calling a jitted step (one seed), and NumPy vectorised over seeds by hand (a
  share of the steps).

An absolute figure does not transfer between CPUs; these ratios are what the claim is about. The
JAX methods get the same cores: the worker runs with one host device per core
(``--xla_force_host_platform_device_count``, set before JAX starts, ``JAX_PLATFORMS=cpu``), and the
seed axis of the sweep, of the hand-written loop and of the natural layout is sharded over all of
them. The Python and NumPy loops run on one core, as written. With ``one_device_too`` (the full
settings) the worker also runs with a single host device. A larger network (8-32-32-1 on a
regression task) and a layout crossover check that the layout "auto" picks is not tuned to XOR.

The thresholds of the claim (:data:`THRESHOLDS`) lie below what was measured on 2-core CPUs, so
that they hold on a busy machine too. Quick settings on an AMD EPYC shared with other work, five
runs at load 3-7 (on 2 cores): the slower sweep path 0.80-0.92x the hand-written loop, 4.1-5.1x the
natural layout, 8-15x the fastest loop (the per-seed jit loop; NumPy 45-59x), the 8x at load 7. On
an Intel Xeon, an earlier form of this benchmark (full settings, the natural layout on one device)
gave 3.9-4.8x the natural layout device for device and 33x the per-seed loop. Load lowers the ratio
to the one-core loops most: the sweep's second core is the one that other work takes. The ratios
need calls long enough to hide the sweep's fixed cost per call (chunks, sharding, checks; about 7
ms here): on 1,024 seeds x 200 steps, 2-3 ms of work per call, the same machine measured 0.42x the
hand-written loop and 1.2x the natural layout.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np

from experiments import _harness, _seeds

# the ratios the claim promises, fnnet.sweep's seed-steps/s (the slower of its two gradient paths)
# over each peer's, measured in the same run: at least THRESHOLDS[peer]
THRESHOLDS = {"hand_jax": 0.5, "natural_vmap": 2.0, "fastest_loop": 5.0}
CLAIM = (
    "On a CPU, fnnet.sweep trains 2-2-1 XOR networks, with either gradient path, at least half as "
    "fast as a hand-written JAX loop over the 9 scalars, at least 2x as fast as the natural vmap "
    "layout and at least 5x as fast as Python or NumPy loops, measured side by side on the same "
    "cores."
)
QUICK = {
    "seeds": 8192,
    "steps": 1000,
    "chunk_size": 4096,
    "loop_seeds": 128,
    "naive_steps": 1000,
    "numpy_seeds": 8192,
    "numpy_steps": 20,
    "repeats": 3,
    "one_device_too": False,
    # the larger network and the layout crossover: with the full settings only
    "layout_checks": False,
    "big_seeds": 8192,
    "big_steps": 200,
    "crossover_seeds": 4096,
    "crossover_steps": 200,
    "crossover_nets": [
        [[2, 2, 1], 4],
        [[2, 4, 1], 4],
        [[2, 8, 1], 4],
        [[2, 8, 8, 1], 4],
        [[4, 8, 1], 8],
    ],
}
FULL = {
    **QUICK,
    "seeds": 131_072,
    "steps": 2000,
    "chunk_size": 8192,
    "numpy_seeds": 131_072,
    "numpy_steps": 50,
    "one_device_too": True,
    "layout_checks": True,
}

# (result key, label in figures and tables); the XOR methods, fastest expected first
METHODS = (
    ("sweep_backprop", "fnnet.sweep, hand-derived backprop"),
    ("sweep_autodiff", "fnnet.sweep, jax.grad"),
    ("hand_jax", "hand-written JAX loop over 9 scalars"),
    ("natural_vmap", "natural vmap of fit: weight matrices"),
    ("numpy_vectorised", "NumPy, vectorised over seeds"),
    ("per_seed_jit_loop", "Python loop over seeds of jit(fit)"),
    ("naive_step_loop", "Python loop over steps of a jitted step"),
)
LOOPS = ("numpy_vectorised", "per_seed_jit_loop", "naive_step_loop")
SWEEPS = ("sweep_backprop", "sweep_autodiff")
PEERS = {
    "hand_jax": "the hand-written JAX loop",
    "natural_vmap": "the natural vmap layout",
    "fastest_loop": "the fastest Python or NumPy loop",
}


def machine() -> dict:
    """This machine's CPU model, core count and platform, for the report."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform()}


# ---------------------------------------------------------------- the worker (a fresh process)


def _timed(fn, repeats):
    """(first call's seconds, every one of ``repeats`` further calls' seconds)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, times


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


# the two gradient paths, by the names the result file uses
_GRADS = {"backprop": "value_and_grad", "autodiff": "autodiff"}


def _xor_fit(layout, grads, steps):
    """``train_one(key) -> {"loss"}``: fit of the 2-2-1 XOR network, ``steps`` full-batch steps."""
    import optax

    import fnnet as fn

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, T = fn.data.logic_gate("xor")

    one = _seeds.fit_one(
        net,
        optax.sgd(0.5),
        (X, T),
        epochs=steps,
        batch_size=4,
        loss="half_sse",
        history="final",
        init=lambda k: net.init(k, "uniform", 0.5),
        grads=getattr(fn.backprop, _GRADS[grads]),
        layout=layout,
    )

    def train_one(key):
        return {"loss": one(key)["loss"]}

    return train_one


# the four XOR points as Python numbers (x1, x2, t): constants of the hand-written program
_XOR_POINTS = ((0.0, 0.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0))


def _hand_step(p, lr):
    """One full-batch gradient step of the 2-2-1 sigmoid network, written out by hand.

    ``p`` = (w11, w12, w21, w22, b1, b2, v1, v2, c): hidden unit j gets
    z_j = x1 w1j + x2 w2j + b_j, h_j = σ(z_j); the output a = σ(h1 v1 + h2 v2 + c). Per point,
    with E = ½ (t - a)², δ = ∂E/∂z_out = (a - t) a (1 - a) and δ_j = δ v_j h_j (1 - h_j); the
    gradient sums over the four points (x1 δ_j, x2 δ_j, δ_j, h_j δ, δ). Returns (new p, E)."""
    import jax

    w11, w12, w21, w22, b1, b2, v1, v2, c = p
    g = [0.0] * 9
    loss = 0.0
    for x1, x2, t in _XOR_POINTS:
        h1 = jax.nn.sigmoid(x1 * w11 + x2 * w21 + b1)
        h2 = jax.nn.sigmoid(x1 * w12 + x2 * w22 + b2)
        a = jax.nn.sigmoid(h1 * v1 + h2 * v2 + c)
        loss = loss + 0.5 * (t - a) ** 2
        d = (a - t) * a * (1 - a)
        d1, d2 = d * v1 * h1 * (1 - h1), d * v2 * h2 * (1 - h2)
        terms = (x1 * d1, x1 * d2, x2 * d1, x2 * d2, d1, d2, h1 * d, h2 * d, d)
        g = [gk + tk for gk, tk in zip(g, terms)]
    return tuple(pk - lr * gk for pk, gk in zip(p, g)), loss


def hand_xor(params, steps, lr=0.5):
    """Trains one 2-2-1 XOR network from ``params`` (fnnet's pytree) by :func:`_hand_step` in a
    ``lax.scan``; returns the final parameters as the same pytree and the half_sse loss of the
    last step (before its update), as ``fit(history="final")`` does."""
    import jax
    import jax.numpy as jnp

    (l1, l2) = params
    W1, b1, W2, b2 = l1["W"], l1["b"], l2["W"], l2["b"]
    p = (W1[0, 0], W1[0, 1], W1[1, 0], W1[1, 1], b1[0], b1[1], W2[0, 0], W2[1, 0], b2[0])

    def body(carry, _):
        p, _ = carry
        return _hand_step(p, lr), None

    (p, loss), _ = jax.lax.scan(body, (p, jnp.zeros_like(p[0])), None, length=steps)
    w11, w12, w21, w22, c1, c2, v1, v2, c = p
    out = [
        {"W": jnp.stack([jnp.stack([w11, w12]), jnp.stack([w21, w22])]), "b": jnp.stack([c1, c2])},
        {"W": jnp.stack([jnp.stack([v1]), jnp.stack([v2])]), "b": jnp.stack([c])},
    ]
    return out, loss


def _hand_one(steps):
    """``train_one(key) -> {"loss"}`` of the hand-written loop, from fnnet's uniform ±0.5 init."""
    import fnnet as fn

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")

    def train_one(key):
        return {"loss": hand_xor(net.init(key, "uniform", 0.5), steps)[1]}

    return train_one


def _numpy_xor(S, steps, lr=0.5, seed=0, params=None):
    """The same training in NumPy, vectorised over seeds: W1 (S, 2, 2), b1 (S, 2), W2 (S, 2, 1),
    b2 (S, 1), drawn uniform in ±0.5 unless ``params`` (that tree with a leading seed axis) is
    given. Returns the final parameters and the half_sse loss of each seed before the last step."""
    f32 = np.float32
    if params is None:
        rng = np.random.default_rng(seed)
        shapes = [(S, 2, 2), (S, 2), (S, 2, 1), (S, 1)]
        W1, b1, W2, b2 = (rng.uniform(-0.5, 0.5, s).astype(f32) for s in shapes)
    else:
        W1, b1 = (np.array(params[0][k], f32) for k in ("W", "b"))
        W2, b2 = (np.array(params[1][k], f32) for k in ("W", "b"))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], f32)
    T = np.array([[0], [1], [1], [0]], f32)
    lr = f32(lr)
    for _ in range(steps):
        h = 1 / (1 + np.exp(-(np.einsum("ni,sio->sno", X, W1) + b1[:, None, :])))
        a = 1 / (1 + np.exp(-(np.einsum("snh,sho->sno", h, W2) + b2[:, None, :])))
        d2 = -(T - a) * a * (1 - a)  # (S, 4, 1): ∂E/∂z of the output
        d1 = np.einsum("sno,sho->snh", d2, W2) * h * (1 - h)
        W2 -= lr * np.einsum("snh,sno->sho", h, d2)
        b2 -= lr * d2.sum(1)
        W1 -= lr * np.einsum("ni,snh->sih", X, d1)
        b1 -= lr * d1.sum(1)
    loss = 0.5 * np.sum((T - a) ** 2, axis=(1, 2))
    return [{"W": W1, "b": b1}, {"W": W2, "b": b2}], loss


def _sharded_keys(n, seed):
    """``n`` PRNG keys with their axis sharded over every device, as fnnet.sweep shards seeds."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), ("seeds",))
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.device_put(keys, NamedSharding(mesh, PartitionSpec("seeds")))


def _sweeps(settings) -> dict:
    """fnnet.sweep over ``fit(layout="auto")`` for both gradient paths, seeds sharded over every
    device by the sweep itself: ``{name: (call, seed-steps per call, extra)}``."""
    import fnnet as fn

    S, T, chunk = settings["seeds"], settings["steps"], settings["chunk_size"]
    out = {}
    for grads in ("backprop", "autodiff"):
        train_one = _xor_fit("auto", grads, T)
        call = lambda t=train_one: fn.sweep.run(t, S, chunk_size=chunk, progress=False)  # noqa: E731
        out[f"sweep_{grads}"] = (call, S * T, {})
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
        ("natural_vmap", _xor_fit("matrix", "backprop", T)),
    ):
        f = jax.jit(jax.vmap(train_one))
        out[name] = (lambda f=f: jax.block_until_ready(f(keys)), S * T, {})
    return out


def _loops(settings) -> dict:
    """Python loops on one core, each on a share of the work: per-seed jit(fit) over
    ``loop_seeds`` seeds, a jitted step called ``naive_steps`` times for one seed, and NumPy
    vectorised over ``numpy_seeds`` seeds for ``numpy_steps`` steps."""
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

    T = settings["steps"]
    keys = jax.random.split(jax.random.key(1), settings["loop_seeds"])
    one = jax.jit(_xor_fit("matrix", "backprop", T))

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, Y = (jnp.asarray(a) for a in fn.data.logic_gate("xor"))
    opt = optax.sgd(0.5)
    step = jax.jit(fn.train.make_step(net, opt, "half_sse"))
    n, s, ns = settings["naive_steps"], settings["numpy_seeds"], settings["numpy_steps"]

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
        "numpy_vectorised": (
            lambda: _numpy_xor(s, ns),
            s * ns,
            {"measured_steps": ns, "measured_seeds": s},
        ),
    }


def race(contestants, repeats, ticks) -> dict:
    """Times every contestant ``{name: (call, work, extra)}``: a first call each (it compiles),
    then ``repeats`` rounds that call every contestant once, in turn, so that the load of a
    shared machine falls on all of them alike. Returns an :func:`_entry` per name."""
    first = {}
    for name, (call, _, _) in contestants.items():
        t = time.perf_counter()
        call()
        first[name] = time.perf_counter() - t
        ticks.update(1)
    times = {name: [] for name in contestants}
    for _ in range(max(1, repeats)):
        for name, (call, _, _) in contestants.items():
            t = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t)
        ticks.update(1)
    return {
        name: _entry(work, first[name], times[name], **extra)
        for name, (_, work, extra) in contestants.items()
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
    first, times = _timed(lambda: jax.block_until_ready(f(keys)), settings["repeats"])
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
    ``PROGRESS n`` line on stdout that :func:`_run_worker` turns into its progress bar."""

    def __init__(self, quiet=True):
        self.quiet = quiet

    def update(self, n=1):
        if not self.quiet:
            print(f"PROGRESS {n}", flush=True)


def worker(settings, ticks=None) -> dict:
    """Times every method of :data:`METHODS` (:func:`race`) and, with ``layout_checks``, the
    larger network, on JAX's default backend in this process; returns ``{method: entry}`` with
    the backend and device count. ``ticks`` (a :class:`_Ticks`) hears of each finished piece."""
    import jax

    ticks = ticks or _Ticks()
    contestants = {**_sweeps(settings), **_jax_peers(settings), **_loops(settings)}
    out = {
        "devices": len(jax.devices()),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        **race(contestants, settings["repeats"], ticks),
    }
    if settings["layout_checks"]:
        out["big_auto"] = _measure_big(settings, ticks)
    return out


def work_units(settings, crossover_too: bool) -> int:
    """How many ticks a worker run gives: a first call per method, a round per repeat and, with
    ``layout_checks``, the larger network and (``crossover_too``) each crossover network."""
    n = len(METHODS) + max(1, settings["repeats"])
    if settings["layout_checks"]:
        n += 1 + (len(settings["crossover_nets"]) if crossover_too else 0)
    return n


def crossover(settings, ticks=None) -> list[dict]:
    """Matrix against scalar layout for a few growing networks (tanh, regression, full batch), on
    one device: where the scalar layout stops paying, and what "auto" picks."""
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

    ticks = ticks or _Ticks()
    rows = []
    S, steps = settings["crossover_seeds"], settings["crossover_steps"]
    keys = jax.random.split(jax.random.key(3), S)
    for sizes, batch in settings["crossover_nets"]:
        net = fn.MLP(tuple(sizes), hidden="tanh", output="identity")
        X = jax.random.normal(jax.random.key(4), (batch, sizes[0]))
        T = jnp.sin(jnp.sum(X, axis=1, keepdims=True))
        row = {
            "network": "-".join(map(str, sizes)),
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
            first, times = _timed(lambda f=f: jax.block_until_ready(f(keys)), 1)
            row[layout] = _entry(S * steps, first, times)
        rows.append(row)
        ticks.update(1)
    return rows


def _worker_main(argv):
    """``python -m experiments.benchmark --worker SETTINGS [--crossover]``: the worker's answer."""
    settings = json.loads(argv[0])
    ticks = _Ticks(quiet=False)
    result = worker(settings, ticks)
    if "--crossover" in argv[1:] and settings["layout_checks"]:
        result["crossover"] = crossover(settings, ticks)
    _harness.print_result(result)
    return 0


# ---------------------------------------------------------------- the experiment


def _run_worker(settings, devices: int, crossover_too: bool) -> dict:
    """The worker in a fresh CPU-only process with ``devices`` host devices; its ``PROGRESS``
    lines drive a progress bar here, its ``RESULT`` line is the answer (as
    :func:`experiments._harness.run_worker` reads it)."""
    import subprocess
    import tempfile

    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])
    env["JAX_PLATFORMS"] = "cpu"  # the claim is about CPUs, also on a machine with a GPU
    args = [json.dumps(settings), *(["--crossover"] if crossover_too else [])]
    result = None
    with (
        tempfile.TemporaryFile("w+") as err,
        _harness.progress(
            desc=f"benchmark: {devices}-device run",
            total=work_units(settings, crossover_too),
            unit="part",
        ) as bar,
    ):
        with subprocess.Popen(
            [sys.executable, "-m", "experiments.benchmark", "--worker", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as proc:
            for line in proc.stdout:
                if line.startswith("PROGRESS "):
                    bar.update(int(line.split()[1]))
                elif line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT ") :])
        if proc.returncode or result is None:
            err.seek(0)
            raise RuntimeError(
                f"benchmark worker ({devices} devices) failed:\n{err.read()[-3000:]}"
            )
    return result


def ratios(r: dict) -> dict:
    """The claim's ratios from one worker's result ``r``: for each peer of :data:`PEERS`, the
    slower fnnet.sweep path's seed-steps/s over the peer's (the fastest loop for the loops); and
    ``sweep_over_method``, the backprop sweep's rate over every method's (for the table)."""
    rate = {m: r[m]["seed_steps_per_s"] for m, _ in METHODS}
    sweep = min(rate[m] for m in SWEEPS)
    fastest_loop = max(LOOPS, key=rate.get)
    return {
        "hand_jax": sweep / rate["hand_jax"],
        "natural_vmap": sweep / rate["natural_vmap"],
        "fastest_loop": sweep / rate[fastest_loop],
        "fastest_loop_method": fastest_loop,
        "sweep_over_method": {m: rate["sweep_backprop"] / rate[m] for m, _ in METHODS},
    }


def run(settings, out):
    """Runs the worker (all cores; with ``one_device_too`` also one device), computes the claim's
    ratios and the verdict, and draws the figure."""
    cores = os.cpu_count() or 1
    counts = sorted({1, cores}) if settings["one_device_too"] else [cores]
    runs = {str(d): _run_worker(settings, d, crossover_too=d == counts[0]) for d in counts}
    cross = runs[str(counts[0])].pop("crossover", [])
    main = runs[str(cores)]
    r = ratios(main)
    held = {peer: r[peer] >= t for peer, t in THRESHOLDS.items()}
    verdict = "holds" if all(held.values()) else ("partly" if any(held.values()) else "fails")
    m = machine()
    return {
        "machine": m,
        "by_devices": runs,
        "main_devices": str(cores),
        "ratios": r,
        "thresholds": THRESHOLDS,
        "threshold_met": held,
        "layout_crossover": cross,
        "headline": _headline(r, main, settings),
        "seeds": f"{settings['seeds']:,} XOR seeds x {settings['steps']} steps per JAX method",
        "figures": [_figure(runs, settings, m, out)],
        "verdict": verdict,
    }


def _headline(r, main, settings):
    """The claim's three ratios in one line."""
    return (
        f"fnnet.sweep {r['hand_jax']:.2g}x hand-written JAX, {r['natural_vmap']:.2g}x natural vmap, "
        f"{r['fastest_loop']:.3g}x fastest loop (best of {settings['repeats']}, "
        f"{main['devices']} cores)"
    )


# how the figure colours the methods: fnnet, other JAX programs on the same cores, loops
_GROUPS = (
    (SWEEPS, "C0", "fnnet.sweep"),
    (("hand_jax", "natural_vmap"), "C1", "JAX without fnnet.sweep, same cores"),
    (LOOPS, "0.55", "Python / NumPy loops, one core"),
)


def _figure(runs, settings, m, out):
    """Seed-steps/s of every method with all cores (log scale), coloured by kind, each bar
    labelled with its rate and how the backprop sweep compares; the setting in the title."""
    plt = _harness.pyplot()
    r = runs[str(m["cores"])]
    over = ratios(r)["sweep_over_method"]
    fig, ax = plt.subplots(figsize=(9.5, 4.6))
    for keys, color, label in _GROUPS:
        y = [i for i, (key, _) in enumerate(METHODS) if key in keys]
        rates = [r[METHODS[i][0]]["seed_steps_per_s"] for i in y]
        bars = ax.barh(y, rates, height=0.7, color=color, label=label)
        notes = [_rate(x) + _compared(over[METHODS[i][0]]) for i, x in zip(y, rates)]
        ax.bar_label(bars, notes, padding=3, fontsize=8)
    ax.set_yticks(range(len(METHODS)), [label for _, label in METHODS])
    ax.set_xscale("log")
    rates = [r[key]["seed_steps_per_s"] for key, _ in METHODS]
    ax.set_xlim(min(rates) / 3, max(rates) * 100)  # room for the labels right of the bars
    ax.set_xlabel(f"seed-steps per second (log scale; best of {settings['repeats']} rounds)")
    ax.invert_yaxis()
    ax.set_title(
        f"Training 2-2-1 XOR networks, {settings['seeds']:,} seeds × {settings['steps']:,} "
        f"full-batch steps (float32),\nall methods in one run on a {m['cores']}-core CPU "
        f"({m['cpu']}), JAX on {r['devices']} host device(s)\n"
        "in brackets: how the sweep with hand-derived backprop compares with each method",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="lower right")
    return _harness.save_figure(fig, out, "benchmark.png")


def _rate(x):
    """A rate in words: '35 M/s', '23 k/s'."""
    if x >= 1e6:
        return f"{x / 1e6:.3g} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.3g} k/s"
    return f"{x:.3g}/s"


def _compared(x):
    """How the backprop sweep compares with a method whose rate it has ``x`` times."""
    if x >= 100:
        return f"  (sweep {x:,.0f}× faster)"
    if x > 1.05:
        return f"  (sweep {x:.3g}× faster)"
    if x < 0.95:
        return f"  (sweep {x:.2g}× as fast)"
    return ""


def report(result):
    """The machine and setting, every method's rate, the crossover (full settings) and the claim's
    ratios against their thresholds."""
    s = result["settings"]
    m = result["machine"]
    r = result["ratios"]
    counts = sorted(result["by_devices"], key=int)
    main = result["by_devices"][result["main_devices"]]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores; backend {main['backend']}. "
        f"S = {s['seeds']:,} seeds x T = {s['steps']:,} steps (the loops on a share of the work: "
        f"{s['loop_seeds']} seeds, {s['naive_steps']} steps of one seed, NumPy "
        f"{s['numpy_seeds']:,} seeds x {s['numpy_steps']} steps). Each rate is the best of "
        f"{s['repeats']} rounds that time every method in turn, after a first call that "
        "compiles; in brackets the range over the rounds and the first call's extra seconds.",
        "",
        *_method_table(result, counts),
        "",
        *_crossover_table(result),
        "",
        "The claim's ratios, slower fnnet.sweep path over each peer, "
        f"{main['devices']} core(s), same run:",
        "",
        "| peer | ratio | promised | met |",
        "|---|---|---|---|",
    ]
    for peer, label in PEERS.items():
        if peer == "fastest_loop":
            label += f" ({dict(METHODS)[r['fastest_loop_method']]})"
        met = "yes" if result["threshold_met"][peer] else "no"
        lines.append(f"| {label} | {r[peer]:.3g} | >= {result['thresholds'][peer]:g} | {met} |")
    if "big_auto" in main:
        lines += [
            "",
            f"The 8-32-32-1 row uses the layout 'auto' picks for it: {main['big_auto']['layout']}.",
        ]
    return lines


def _method_table(result, counts):
    """Seed-steps/s (range over repeats) and compile seconds per method and device count."""
    main = result["by_devices"][result["main_devices"]]
    over = result["ratios"]["sweep_over_method"]
    lines = [
        "| method | "
        + " | ".join(f"{d} device(s): seed-steps/s (range; compile s)" for d in counts)
        + f" | backprop sweep / method ({main['devices']} devices) |",
        "|---|" + "---|" * len(counts) + "---|",
    ]
    rows = [*METHODS, ("big_auto", "8-32-32-1 regression, vmap of fit(layout='auto')")]
    for key, label in rows:
        if key not in main:  # the larger network: with layout_checks only
            continue
        cells = []
        for d in counts:
            e = result["by_devices"][d][key]
            lo, hi = e["rate_range"]
            cells.append(f"{e['seed_steps_per_s']:.3g} ({lo:.2g}-{hi:.2g}; {e['compile_s']:.2f})")
        ratio = f"{over[key]:.3g}" if key in over else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    return lines


def _crossover_table(result):
    """Matrix against scalar layout per network, and the layout "auto" picks."""
    if not result["layout_crossover"]:
        return ["The larger network and the layout crossover run with the full settings (--full)."]
    lines = [
        "Matrix against scalar layout, one device, vmap of fit over "
        f"{result['settings']['crossover_seeds']:,} seeds (seed-steps/s, compile s):",
        "",
        "| network | batch | batch x params | matrix | scalar | auto picks |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["layout_crossover"]:
        m, s = r["matrix"], r["scalar"]
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['batch_x_params']} | "
            f"{m['seed_steps_per_s']:.3g} ({m['compile_s']:.1f}) | "
            f"{s['seed_steps_per_s']:.3g} ({s['compile_s']:.1f}) | {r['auto']} |"
        )
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2:]))
    raise SystemExit(_harness.main(__import__(__name__)))
