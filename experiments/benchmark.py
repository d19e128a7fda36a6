"""Seed-steps per second of training many small networks at once, measured side by side.

The workload: the 2-2-1 sigmoid MLP on the four XOR points, full-batch gradient descent (lr 0.5),
half_sse, float32, S seeds x T steps. Compared in one run on one machine:

- ``fnnet.sweep`` over a ``train_one`` that calls ``fnnet.train.fit`` (layout "auto", which writes
  this small network out per parameter), with hand-derived backprop and with ``jax.grad``;
- the natural layout: ``jax.vmap`` over seeds of ``fit(layout="matrix")``, whose ``lax.scan``
  carries the usual params pytree of (2, 2), (2,), (2, 1), (1,) arrays;
- a per-seed ``jit(fit)`` called from a Python loop over seeds (measured on a few seeds);
- a naive Python loop over steps calling a jitted step, one seed (measured on a few steps);
- NumPy, vectorised over seeds by hand (measured on a few steps).

Each measurement runs in a fresh worker process, once with one host device and once with as many
as the machine has cores (``--xla_force_host_platform_device_count``, set before JAX starts), so
that ``fnnet.sweep`` can shard the seeds over them. A larger network (8-32-32-1 on a regression
task) checks that the layout choice is not tuned to XOR alone.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np

from experiments import _harness, _seeds

CLAIM = (
    "fnnet.sweep trains 2-2-1 XOR networks at over 1e8 seed-steps per second on a 2-core CPU, with "
    "either gradient path, several times the natural vmap layout and orders of magnitude above "
    "Python loops."
)
QUICK = {
    "seeds": 32_768,
    "steps": 2000,
    "chunk_size": 8192,
    "loop_seeds": 8,
    "naive_steps": 300,
    "numpy_seeds": 32_768,
    "numpy_steps": 50,
    "big_seeds": 2048,
    "big_steps": 200,
    "repeats": 2,
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
FULL = {**QUICK, "seeds": 131_072, "numpy_seeds": 131_072, "big_seeds": 8192, "repeats": 3}
GOAL = 1.0e8


def machine() -> dict:
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
    """(first call's seconds, best of ``repeats`` further calls)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return first, best


def _entry(work, first, best, **extra):
    return {
        "seed_steps_per_s": work / best,
        "seconds": best,
        "compile_s": max(0.0, first - best),
        **extra,
    }


# the two gradient paths, by the names the result file uses
_GRADS = {"backprop": "value_and_grad", "autodiff": "autodiff"}


def _xor_fit(layout, grads, steps):
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


def worker(settings) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

    S, steps, reps = settings["seeds"], settings["steps"], settings["repeats"]
    out = {
        "devices": len(jax.devices()),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
    }
    keys = jax.random.split(jax.random.key(0), S)

    chunk = settings["chunk_size"]
    for grads in ("backprop", "autodiff"):
        train_one = _xor_fit("auto", grads, steps)
        first, best = _timed(
            lambda t=train_one: fn.sweep.run(t, S, chunk_size=chunk, progress=False), reps
        )
        # compile time alone: a fresh program on one chunk, minus that chunk's share of the run
        t = time.perf_counter()
        fn.sweep.run(_xor_fit("auto", grads, steps), chunk, chunk_size=chunk, progress=False)
        compile_s = time.perf_counter() - t - best * chunk / S
        out[f"sweep_{grads}"] = {
            **_entry(S * steps, first, best),
            "compile_s": max(0.0, compile_s),
        }

    natural = jax.jit(jax.vmap(_xor_fit("matrix", "backprop", steps)))
    first, best = _timed(lambda: jax.block_until_ready(natural(keys)), reps)
    out["natural_vmap"] = _entry(S * steps, first, best)

    one = jax.jit(_xor_fit("matrix", "backprop", steps))
    n = settings["loop_seeds"]
    first, best = _timed(lambda: [jax.block_until_ready(one(k)) for k in keys[:n]], 1)
    out["per_seed_jit_loop"] = _entry(n * steps, first, best, measured_seeds=n)

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, T = (jnp.asarray(a) for a in fn.data.logic_gate("xor"))
    opt = optax.sgd(0.5)
    step = jax.jit(fn.train.make_step(net, opt, "half_sse"))
    n = settings["naive_steps"]

    def naive():
        state = fn.train.init_state(opt, net.init(keys[0], "uniform", 0.5))
        for _ in range(n):
            state, m = step(state, X, T)
        return jax.block_until_ready(m["loss"])

    first, best = _timed(naive, 1)
    out["naive_step_loop"] = _entry(n, first, best, measured_steps=n)

    n, s = settings["numpy_steps"], settings["numpy_seeds"]
    first, best = _timed(lambda: _numpy_xor(s, n), 1)
    out["numpy_vectorised"] = _entry(s * n, first, best, measured_steps=n)

    # a larger network, where the matrix layout is the right one: what "auto" picks
    big = fn.MLP((8, 32, 32, 1), hidden="tanh", output="identity")
    Xb = jax.random.normal(jax.random.key(1), (64, 8))
    Tb = jnp.sin(jnp.sum(Xb, axis=1, keepdims=True))
    choice = fn.layout.choose("auto", big, "mse", n_examples=64).name
    big_one = _seeds.fit_one(
        big,
        optax.sgd(0.05),
        (Xb, Tb),
        epochs=settings["big_steps"],
        batch_size=64,
        loss="mse",
        history="final",
    )

    Sb = settings["big_seeds"]
    bk = jax.random.split(jax.random.key(2), Sb)
    f_auto = jax.jit(jax.vmap(big_one))
    first, best = _timed(lambda: jax.block_until_ready(f_auto(bk)), reps)
    out["big_auto"] = _entry(
        Sb * settings["big_steps"], first, best, layout=choice, network=big.describe(), batch=64
    )
    return out


def crossover(settings) -> list[dict]:
    """Matrix against scalar layout for a few growing networks (tanh, regression, full batch):
    where the scalar layout stops paying, and what "auto" picks."""
    import jax
    import jax.numpy as jnp
    import optax

    import fnnet as fn

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
            first, best = _timed(lambda f=f: jax.block_until_ready(f(keys)), 1)
            row[layout] = _entry(S * steps, first, best)
        rows.append(row)
    return rows


def _worker_main(argv):
    settings = json.loads(argv[0])
    result = worker(settings)
    if len(argv) > 1 and argv[1] == "--crossover":
        result["crossover"] = crossover(settings)
    _harness.print_result(result)
    return 0


# ---------------------------------------------------------------- the experiment


def _run_worker(settings, devices: int, extra=()) -> dict:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])
    return _harness.run_worker(
        "experiments.benchmark",
        [json.dumps(settings), *extra],
        env,
        f"benchmark worker ({devices} devices)",
    )


METHODS = (
    ("sweep_backprop", "fnnet.sweep, fit(layout='auto'), hand backprop"),
    ("sweep_autodiff", "fnnet.sweep, fit(layout='auto'), jax.grad"),
    ("natural_vmap", "vmap of fit(layout='matrix'): params pytree in the scan carry"),
    ("numpy_vectorised", "NumPy vectorised over seeds (einsum)"),
    ("per_seed_jit_loop", "Python loop over seeds of jit(fit)"),
    ("naive_step_loop", "Python loop over steps of a jitted step"),
    ("big_auto", "8-32-32-1 regression, vmap of fit(layout='auto')"),
)


def run(settings, out):
    counts = sorted({1, os.cpu_count() or 1})
    runs = {str(d): _run_worker(settings, d, ["--crossover"] if d == 1 else []) for d in counts}
    best = runs[str(counts[-1])]
    cross = runs[str(counts[0])].pop("crossover")
    base = best["natural_vmap"]["seed_steps_per_s"]
    ratios = {m: best[m]["seed_steps_per_s"] / base for m, _ in METHODS if m != "big_auto"}
    sweep_rate = min(
        best["sweep_backprop"]["seed_steps_per_s"], best["sweep_autodiff"]["seed_steps_per_s"]
    )
    return {
        "machine": machine(),
        "by_devices": runs,
        "ratios_to_natural_vmap": ratios,
        "sweep_min_seed_steps_per_s": sweep_rate,
        "goal_seed_steps_per_s": GOAL,
        "layout_crossover": cross,
        "figures": [_figure(runs, out)],
        "verdict": "holds" if sweep_rate >= GOAL else "fails",
    }


def _figure(runs, out):
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    names = [m for m, _ in METHODS if m != "big_auto"]
    y = np.arange(len(names))
    h = 0.8 / len(runs)
    for k, (d, r) in enumerate(sorted(runs.items())):
        ax.barh(
            y + k * h,
            [r[m]["seed_steps_per_s"] for m in names],
            height=h,
            label=f"{d} host device(s)",
        )
    ax.axvline(GOAL, color="k", ls="--", lw=1, label="goal 1e8")
    ax.set_yticks(y + h * (len(runs) - 1) / 2, names)
    ax.set(xscale="log", xlabel="seed-steps per second (2-2-1 XOR, full batch, float32)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    return _harness.save_figure(fig, out, "benchmark.png")


def report(result):
    m = result["machine"]
    counts = sorted(result["by_devices"], key=int)
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores; "
        f"backend {result['by_devices'][counts[0]]['backend']}. "
        f"S = {result['settings']['seeds']} seeds x T = {result['settings']['steps']} steps.",
        "",
        "| method | "
        + " | ".join(f"{d} device(s): seed-steps/s (compile s)" for d in counts)
        + " | ratio to natural vmap |",
        "|---|" + "---|" * len(counts) + "---|",
    ]
    for key, label in METHODS:
        cells = []
        for d in counts:
            e = result["by_devices"][d][key]
            cells.append(f"{e['seed_steps_per_s']:.3g} ({e['compile_s']:.2f})")
        ratio = result["ratios_to_natural_vmap"].get(key)
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {'' if ratio is None else f'{ratio:.3g}'} |"
        )
    lines += [
        "",
        "Matrix against scalar layout, one device, vmap of fit over "
        f"{result['settings']['crossover_seeds']} seeds (seed-steps/s, compile s):",
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
    lines += [
        "",
        f"fnnet.sweep, slower of the two gradient paths: {result['sweep_min_seed_steps_per_s']:.3g} "
        f"seed-steps/s against the goal of {result['goal_seed_steps_per_s']:.0e}. The 8-32-32-1 row "
        f"uses the layout 'auto' picks for it: {result['by_devices'][counts[0]]['big_auto']['layout']}.",
    ]
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2:]))
    raise SystemExit(_harness.main(__import__(__name__)))
