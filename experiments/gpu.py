"""The same training on every JAX backend this machine has: the MNIST-1D MLP by ``fnnet.train.fit``
for one seed and for many seeds vmapped, and an ``fnnet.sweep`` of many 2-2-1 XOR seeds, timed on
the CPU and, where one is present, on a GPU.

Each backend is measured in a fresh worker process (``JAX_PLATFORMS=cpu`` for the CPU; JAX's
default, which prefers a GPU, for the GPU), so that neither run can fall back on the other's device.
Times are wall-clock seconds of a call whose result is ready (``jax.block_until_ready``): the first
call (which compiles) and the best of ``repeats`` further calls. On a machine without a GPU nothing
is timed: the result says so, and the comparison is left to run where there is a GPU.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from experiments import _harness, _plots, _protocol, _seeds

CLAIM = (
    "Training is one compiled program, so fit, vmapped seeds and fnnet.sweep run unchanged on a "
    "CPU or a GPU; on a GPU, many seeds trained at once (vmap, sweep) run faster than on the CPU."
)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "The same compiled fnnet programs run on a CPU and a GPU, and the two many-seed workloads "
        "(vmapped MNIST-1D MLP seeds, a fnnet.sweep of XOR seeds) take less time on the GPU than "
        "on the CPU of the same machine."
    ),
    rule=(
        "holds if both many-seed workloads are faster on the GPU (best-of-repeats seconds after "
        "a compiling call); partly if one is; fails if neither is; not tested where JAX sees no "
        "GPU. The single-seed workload is reported, not judged: one small network cannot fill a "
        "GPU."
    ),
    kind="comparison",
)
QUICK = {
    "mnist1d_samples": 5000,  # the standard set: 4000 training, 1000 test sequences
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


def _mlp_one(settings):
    """``one(key, X, y, X_test, y_test) -> history``: ``fit`` of the MLP on ``mnist1d_samples``
    MNIST-1D sequences (80% for training) for ``mlp_epochs`` epochs of minibatches of 100, Adam
    1e-2, with the test accuracy after the last epoch; the data; and the number of steps. The data
    are arguments, not constants closed over, which XLA compiles about twice as slowly."""
    import optax

    import fnnet as fn

    (X, y), (Xt, yt) = fn.data.mnist1d(settings["mnist1d_samples"])
    net = fn.MLP(tuple(settings["mlp_sizes"]), hidden="relu", output="identity")

    def one(key, X, y, X_test, y_test):
        return _seeds.fit_one(
            net,
            optax.adam(1e-2),
            (X, y),
            epochs=settings["mlp_epochs"],
            batch_size=100,
            loss="softmax_cross_entropy",
            eval_data=(X_test, y_test),
            history="final",
        )(key)

    return one, (X, y, Xt, yt), settings["mlp_epochs"] * (X.shape[0] // 100)


def _time_mlp(settings) -> dict:
    """The MNIST-1D MLP: ``jit(fit)`` for one seed and ``jit(vmap(fit))`` for ``mlp_seeds``."""
    import jax

    one, data, steps = _mlp_one(settings)
    reps = settings["repeats"]
    key = jax.random.key(0)
    f1 = jax.jit(one)
    first, best = _timed(lambda: jax.block_until_ready(f1(key, *data)), reps)
    out = {
        "fit_one_seed": {
            "first_s": first,
            "seconds": best,
            "seeds": 1,
            "steps": steps,
            "seed_steps_per_s": steps / best,
            "test_accuracy": float(f1(key, *data)["eval_accuracy"]),
        }
    }
    S = settings["mlp_seeds"]
    keys = jax.random.split(jax.random.key(1), S)
    fv = jax.jit(jax.vmap(one, in_axes=(0, None, None, None, None)))
    first, best = _timed(lambda: jax.block_until_ready(fv(keys, *data)), reps)
    out["fit_vmap_seeds"] = {
        "first_s": first,
        "seconds": best,
        "seeds": S,
        "steps": steps,
        "seed_steps_per_s": S * steps / best,
        "test_accuracy_mean": float(np.mean(fv(keys, *data)["eval_accuracy"])),
    }
    return out


def _time_xor_sweep(settings) -> dict:
    """``fnnet.sweep`` of ``xor_seeds`` 2-2-1 XOR networks, ``xor_epochs`` full-batch epochs."""
    import fnnet as fn
    from experiments import _xor

    E, S = settings["xor_epochs"], settings["xor_seeds"]

    def train_one(key):
        r = _xor.train(key, epochs=E)
        return {"epoch_solved": r["epoch_solved"], "loss": r["loss"]}

    def sweep():
        return fn.sweep.run(train_one, S, progress=False)

    first, best = _timed(sweep, settings["repeats"])
    return {
        "first_s": first,
        "seconds": best,
        "seeds": S,
        "steps": E,
        "seed_steps_per_s": S * E / best,
        "solved_fraction": float(np.mean(sweep().values["epoch_solved"] > 0)),
    }


def worker(settings) -> dict:
    """Times the three workloads of :data:`WORKLOADS` on JAX's default backend in this process;
    returns their seconds and throughputs with the backend and its device."""
    import jax

    return {
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "devices": len(jax.devices()),
        **_time_mlp(settings),
        "xor_sweep": _time_xor_sweep(settings),
    }


def _worker_main(argv):
    """``python -m experiments.gpu --worker SETTINGS``: the worker's answer."""
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
    """The worker in a fresh process on ``backend`` ("cpu" or "gpu"); refuses a fallback."""
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


NO_GPU_NOTE = (
    "No GPU is visible to JAX on this machine (its backends: {backends}). The claim compares a "
    "GPU with the CPU, so it was not tested here and nothing was timed. Run "
    "`python -m experiments.gpu` on a machine with a GPU (and JAX's GPU build) to test it."
)


def run(settings, out):
    """Without a GPU: says so and times nothing. With one: the worker on the CPU and on the GPU,
    compared workload by workload."""
    from experiments._harness import machine

    found = gpus()
    if not found:
        return {
            "machine": machine(),
            "gpu_available": False,
            "gpus": [],
            "backends": {},
            "ratios_gpu_over_cpu": None,
            "note": NO_GPU_NOTE.format(backends=", ".join(_backends())),
            "design": [
                "Three workloads: one MNIST-1D MLP seed, many vmapped seeds, and a fnnet.sweep of "
                "XOR seeds.",
                "Each timed on the CPU and on the GPU of the same machine, after a compiling call.",
                "Judged by the GPU-over-CPU time of the two many-seed workloads.",
            ],
            "headline": "not tested: no GPU visible to JAX on this machine",
            "seeds": "none (nothing is trained without a GPU)",
            "figures": [],
            "verdict": "not tested: no GPU",
        }
    runs = {}
    for backend in _harness.progress(["cpu", "gpu"], desc="gpu: backends", unit="backend"):
        runs[backend] = _run_worker(settings, backend)
    return {
        "machine": machine(),
        "gpu_available": True,
        "gpus": found,
        "backends": runs,
        **compare(runs, settings),
        "figures": [_figure(runs, settings, machine(), out)],
    }


def _backends() -> list[str]:
    """The platforms of the devices JAX sees in this process, e.g. ["cpu"], and the setting
    that limits them where one does (``JAX_PLATFORMS``)."""
    import jax

    found = sorted({d.platform for d in jax.devices()})
    if os.environ.get("JAX_PLATFORMS"):
        found.append(f"limited by JAX_PLATFORMS={os.environ['JAX_PLATFORMS']}")
    return found


def _n_seeds(n: int) -> str:
    """'1 seed', '4,096 seeds'."""
    return "1 seed" if n == 1 else f"{n:,} seeds"


def compare(runs, settings) -> dict:
    """GPU over CPU seconds per workload, the verdict (holds where the GPU is faster for both
    many-seed workloads), and the summary lines, from the two backends' results."""
    ratios = {w: runs["gpu"][w]["seconds"] / runs["cpu"][w]["seconds"] for w, _ in WORKLOADS}
    faster = [ratios[w] < 1 for w in ("fit_vmap_seeds", "xor_sweep")]
    speedup = {w: 1 / r for w, r in ratios.items()}
    return {
        "ratios_gpu_over_cpu": ratios,
        "note": f"GPU ({runs['gpu']['device_kind']}) and CPU measured on this machine; times are "
        f"the best of {settings['repeats']} timed call(s), after a first call that compiles.",
        "headline": f"GPU speed-up {speedup['fit_vmap_seeds']:.3g}x for {settings['mlp_seeds']} "
        f"vmapped MLP seeds, {speedup['xor_sweep']:.3g}x for {settings['xor_seeds']:,} XOR seeds, "
        f"{speedup['fit_one_seed']:.3g}x for one seed",
        "seeds": f"1 and {settings['mlp_seeds']} MNIST-1D seeds, {settings['xor_seeds']:,} XOR "
        "seeds",
        "verdict": "holds" if all(faster) else ("partly" if any(faster) else "fails"),
    }


def _figure(runs, settings, m, out):
    """One panel per workload (they differ in size by orders of magnitude): CPU and GPU seconds
    side by side on a linear axis from 0, each bar labelled, the speed-up in the panel's title."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, len(WORKLOADS), figsize=(11, 3.8))
    names = [f"CPU\n{m['cores']} cores", f"GPU\n{runs['gpu']['device_kind']}"]
    for ax, (w, label) in zip(axes, WORKLOADS):
        cpu, gpu = runs["cpu"][w], runs["gpu"][w]
        secs = [cpu["seconds"], gpu["seconds"]]
        bars = ax.bar(names, secs, color=["C0", "C1"])
        ax.bar_label(bars, [f"{x:.3g} s" for x in secs], padding=2, fontsize=8)
        ax.set_ylim(0, max(secs) * 1.2)
        ax.set_title(
            f"{label}\n{_n_seeds(cpu['seeds'])} x {cpu['steps']:,} steps\n"
            f"GPU {secs[0] / secs[1]:.3g}x as fast",
            fontsize=9,
        )
        ax.set_ylabel("seconds (compiled, best of repeats)", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"The same training programs on CPU ({m['cpu']}) and GPU", fontsize=10)
    return _plots.save_figure(fig, out, "gpu_timings.png")


def report(result):
    """The note alone without a GPU; else the setting, a table of both backends and the note."""
    if not result["gpu_available"]:
        return [result["note"]]
    s = result["settings"]
    runs = result["backends"]
    lines = [
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; GPUs: "
        f"{', '.join(result['gpus'])}. MNIST-1D MLP {'-'.join(map(str, s['mlp_sizes']))}: "
        f"{s['mlp_epochs']} epochs ({runs['cpu']['fit_one_seed']['steps']} steps of 100 on "
        f"{s['mnist1d_samples'] * 4 // 5} training sequences), 1 and "
        f"{s['mlp_seeds']} seeds; XOR sweep: {s['xor_seeds']:,} seeds x {s['xor_epochs']} epochs.",
        "",
        "| workload | CPU seconds (first call) | GPU seconds (first call) | CPU seed-steps/s | "
        "GPU seed-steps/s | GPU speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for w, label in WORKLOADS:
        c, g = runs["cpu"][w], runs["gpu"][w]
        lines.append(
            f"| {label}, {_n_seeds(c['seeds'])} | {c['seconds']:.3g} ({c['first_s']:.3g}) | "
            f"{g['seconds']:.3g} ({g['first_s']:.3g}) | {c['seed_steps_per_s']:.3g} | "
            f"{g['seed_steps_per_s']:.3g} | {1 / result['ratios_gpu_over_cpu'][w]:.3g}x |"
        )
    lines += ["", result["note"]]
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2:]))
    raise SystemExit(_harness.main(__import__(__name__)))
