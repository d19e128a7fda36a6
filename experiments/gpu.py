"""The same training on every JAX backend this machine has: the MNIST-1D MLP by ``fnnet.train.fit``
for one seed and for many seeds vmapped, and an ``fnnet.sweep`` of many 2-2-1 XOR seeds, timed on
the CPU and, where one is present, on a GPU.

Each backend is measured in a fresh worker process (``JAX_PLATFORMS=cpu`` for the CPU; JAX's
default, which prefers a GPU, for the GPU), so that neither run can fall back on the other's device.
Times are wall-clock seconds of a call whose result is ready (``jax.block_until_ready``): the first
call (which compiles) and the best of ``repeats`` further calls. On a machine without a GPU the
result says so, and the GPU comparison is left to run where there is one.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from experiments import _harness, _seeds

CLAIM = (
    "Training is one compiled program, so fit, vmapped seeds and fnnet.sweep run unchanged on a "
    "CPU or a GPU; on a GPU, many seeds trained at once (vmap, sweep) run faster than on the CPU."
)
QUICK = {
    "mlp_sizes": [40, 100, 100, 10],
    "mlp_epochs": 5,  # 200 steps of 100 on the 4000 training sequences
    "mlp_seeds": 64,
    "xor_seeds": 65_536,
    "xor_epochs": 2000,
    "repeats": 1,
}
# the MNIST-1D paper's 6000 steps, and four times the XOR seeds
FULL = {**QUICK, "mlp_epochs": 150, "xor_seeds": 262_144, "repeats": 2}

WORKLOADS = (
    ("fit_one_seed", "jit(fit), MNIST-1D MLP"),
    ("fit_vmap_seeds", "jit(vmap(fit)), MNIST-1D MLP"),
    ("xor_sweep", "fnnet.sweep, 2-2-1 XOR"),
)

# ---------------------------------------------------------------- the worker (a fresh process)


def _timed(fn, repeats):
    """(first call's seconds, best of ``repeats`` further calls)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return first, best


def worker(settings) -> dict:
    """Times the three workloads on JAX's default backend; returns seconds and throughputs."""
    import jax
    import optax

    import fnnet as fn
    from experiments import _xor

    dev = jax.devices()[0]
    out = {
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
        "devices": len(jax.devices()),
    }
    reps = settings["repeats"]
    (X, y), (Xt, yt) = fn.data.mnist1d()
    net = fn.MLP(tuple(settings["mlp_sizes"]), hidden="relu", output="identity")
    opt = optax.adam(1e-2)
    epochs = settings["mlp_epochs"]
    steps = epochs * (X.shape[0] // 100)

    one = _seeds.fit_one(
        net,
        opt,
        (X, y),
        epochs=epochs,
        batch_size=100,
        loss="softmax_cross_entropy",
        eval_data=(Xt, yt),
        history="final",
    )

    key = jax.random.key(0)
    f1 = jax.jit(one)
    first, best = _timed(lambda: jax.block_until_ready(f1(key)), reps)
    acc1 = float(f1(key)["eval_accuracy"])
    out["fit_one_seed"] = {
        "first_s": first,
        "seconds": best,
        "seeds": 1,
        "steps": steps,
        "seed_steps_per_s": steps / best,
        "test_accuracy": acc1,
    }

    S = settings["mlp_seeds"]
    keys = jax.random.split(jax.random.key(1), S)
    fv = jax.jit(jax.vmap(one))
    first, best = _timed(lambda: jax.block_until_ready(fv(keys)), reps)
    accs = np.asarray(fv(keys)["eval_accuracy"])
    out["fit_vmap_seeds"] = {
        "first_s": first,
        "seconds": best,
        "seeds": S,
        "steps": steps,
        "seed_steps_per_s": S * steps / best,
        "test_accuracy_mean": float(accs.mean()),
    }

    E, SX = settings["xor_epochs"], settings["xor_seeds"]

    def train_one(key):
        r = _xor.train(key, epochs=E)
        return {"epoch_solved": r["epoch_solved"], "loss": r["loss"]}

    def sweep():
        return fn.sweep.run(train_one, SX, progress=False)

    first, best = _timed(sweep, reps)
    solved = sweep().values["epoch_solved"]
    out["xor_sweep"] = {
        "first_s": first,
        "seconds": best,
        "seeds": SX,
        "steps": E,
        "seed_steps_per_s": SX * E / best,
        "solved_fraction": float(np.mean(solved > 0)),
    }
    return out


def _worker_main(argv):
    _harness.print_result(worker(json.loads(argv[0])))
    return 0


# ---------------------------------------------------------------- the experiment


def gpus() -> list[str]:
    """The GPUs JAX sees in this process (none where its platforms exclude them)."""
    import jax

    try:
        return [d.device_kind for d in jax.devices("gpu")]
    except RuntimeError:  # no GPU backend: "Unknown backend" or "failed to initialize"
        return []


def _run_worker(settings, backend: str) -> dict:
    env = dict(os.environ)
    if backend == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    else:  # JAX's default order prefers the GPU
        env.pop("JAX_PLATFORMS", None)
        # this process may hold a GPU already (JAX preallocates 75% of its memory); the worker
        # needs little, so it allocates as it goes
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    result = _harness.run_worker(
        "experiments.gpu", [json.dumps(settings)], env, f"gpu worker ({backend})"
    )
    if result["backend"] != backend:
        raise RuntimeError(
            f"gpu worker: expected backend {backend!r}, ran on {result['backend']!r}"
        )
    return result


def run(settings, out):
    from experiments.benchmark import machine

    found = gpus()
    runs = {"cpu": _run_worker(settings, "cpu")}
    if found:
        runs["gpu"] = _run_worker(settings, "gpu")
    ratios = None
    if "gpu" in runs:
        ratios = {w: runs["gpu"][w]["seconds"] / runs["cpu"][w]["seconds"] for w, _ in WORKLOADS}
        faster = [ratios[w] < 1 for w in ("fit_vmap_seeds", "xor_sweep")]
        verdict = "holds" if all(faster) else ("partly" if any(faster) else "fails")
        note = "GPU and CPU measured on this machine."
    else:
        verdict = "pending: no GPU"
        note = (
            "No GPU was available to JAX on this machine: only the CPU was measured; the GPU "
            "comparison is still to run (python -m experiments.gpu on a machine with a GPU)."
        )
    return {
        "machine": machine(),
        "gpu_available": bool(found),
        "gpus": found,
        "backends": runs,
        "ratios_gpu_over_cpu": ratios,
        "note": note,
        "figures": [_figure(runs, out)],
        "verdict": verdict,
    }


def _figure(runs, out):
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    y = np.arange(len(WORKLOADS))
    h = 0.8 / len(runs)
    for k, (backend, r) in enumerate(runs.items()):
        ax.barh(
            y + k * h,
            [r[w]["seconds"] for w, _ in WORKLOADS],
            height=h,
            label=f"{backend} ({r['device_kind']})",
        )
    cpu = runs["cpu"]
    labels = [f"{label}, {cpu[w]['seeds']} seed(s)" for w, label in WORKLOADS]
    ax.set_yticks(y + h * (len(runs) - 1) / 2, labels)
    ax.set(xscale="log", xlabel="seconds (compiled, best of repeats)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    if "gpu" not in runs:
        ax.set_title("no GPU on this machine: CPU only", fontsize=9)
    return _harness.save_figure(fig, out, "gpu_timings.png")


def report(result):
    s = result["settings"]
    m = result["machine"]
    runs = result["backends"]
    backends = list(runs)
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores; GPUs: {', '.join(result['gpus']) or 'none'}. "
        f"MNIST-1D MLP {'-'.join(map(str, s['mlp_sizes']))}: {s['mlp_epochs']} epochs "
        f"({runs['cpu']['fit_one_seed']['steps']} steps of 100), 1 and {s['mlp_seeds']} seeds; "
        f"XOR sweep: {s['xor_seeds']} seeds x {s['xor_epochs']} epochs.",
        "",
        "| workload | "
        + " | ".join(f"{b}: seconds (first call, with compile)" for b in backends)
        + " | "
        + " | ".join(f"{b}: seed-steps/s" for b in backends)
        + (" | GPU/CPU time |" if result["ratios_gpu_over_cpu"] else " |"),
        "|---|" + "---|" * (2 * len(backends) + (1 if result["ratios_gpu_over_cpu"] else 0)),
    ]
    for w, label in WORKLOADS:
        cells = [f"{runs[b][w]['seconds']:.3g} ({runs[b][w]['first_s']:.3g})" for b in backends]
        cells += [f"{runs[b][w]['seed_steps_per_s']:.3g}" for b in backends]
        if result["ratios_gpu_over_cpu"]:
            cells.append(f"{result['ratios_gpu_over_cpu'][w]:.3g}")
        lines.append(f"| {label}, {runs['cpu'][w]['seeds']} seed(s) | " + " | ".join(cells) + " |")
    lines += ["", result["note"]]
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2:]))
    raise SystemExit(_harness.main(__import__(__name__)))
