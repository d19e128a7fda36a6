"""The accelerator checks of the sweep engine, as one script for a machine with a GPU.

``python -m experiments.gpu_check [--seeds 1048576] [--epochs 2000] [--out DIR]`` runs, in a few
minutes on one GPU:

1. the tests whose code path differs on a GPU: ``tests/test_fused.py`` (there the fused kernel is
   lowered to Triton instead of run in Pallas's interpreter) and ``tests/test_sweep_chunks.py``;
2. the timings, seed-steps/s on the 2-2-1 sigmoid XOR network (four points, full batch,
   half_sse, float32), through the ordinary ``fnnet.sweep.run`` API:
   - plain SGD (lr 0.5) with the default chunk size, and with each power-of-two chunk size from
     2^14 seeds to all of them (the best of those is the reference for the default);
   - ``experiments/_xor.train``'s settings (momentum 0.9, the solved criterion every epoch) with
     the default chunk, in the scalar and the fused layout;
   - plain SGD in the fused layout;
   - the MNIST-1D MLP (40-100-100-10, Adam, batch 100) over 1024 seeds with the default chunk:
     that the chosen chunk fits in memory, and its rate.

Each timing is the best of two calls after one that compiles (the first call's seconds are kept
too). The result is written to ``DIR/gpu_check.json`` (default ``results/gpu_check``), with the
device's name, and printed. Without a GPU it says so and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import optax

import fnnet as fn
from experiments import _xor


def _timed(call, repeats=2):
    t = time.perf_counter()
    jax.block_until_ready(call())
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(call())
        best = min(best, time.perf_counter() - t)
    return first, best


def _plain(epochs, layout):
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    opt = optax.sgd(0.5)

    def train_one(key):
        s, h = fn.train.fit(
            net,
            opt,
            key,
            (_xor.X, _xor.T),
            epochs=epochs,
            batch_size=4,
            loss="half_sse",
            init=lambda k: net.init(k, "uniform", 0.5),
            record=fn.train.Record(history="final"),
            layout=layout,
        )
        return {"loss": h["loss"]}

    return train_one


def _xor_settings(epochs, layout):
    def train_one(key):
        r = _xor.train(key, epochs=epochs, layout=layout)
        return {"loss": r["loss"], "epoch_solved": r["epoch_solved"]}

    return train_one


def _mnist1d(epochs):
    (X, y), _ = fn.data.mnist1d(seed=0)
    net = fn.MLP((40, 100, 100, 10), hidden="relu", output="identity")
    opt = optax.adam(1e-3)

    def train_one(key):
        s, h = fn.train.fit(
            net,
            opt,
            key,
            (X, y),
            epochs=epochs,
            batch_size=100,
            loss="softmax_cross_entropy",
            record=fn.train.Record(history="final"),
        )
        return {"loss": h["loss"], "train_accuracy": h["train_accuracy"]}

    return train_one


def _row(what, train_one, n_seeds, steps, chunk_size=None):
    def call():
        return fn.sweep.run(train_one, n_seeds, chunk_size=chunk_size, progress=False).values

    try:
        first, best = _timed(call)
    except Exception as e:  # noqa: BLE001 - a row that fails is a result (out of memory, lowering)
        row = {"what": what, "chunk_size": chunk_size, "error": f"{type(e).__name__}: {e}"[:500]}
        print(json.dumps(row), flush=True)
        return row
    row = {
        "what": what,
        "chunk_size": chunk_size,
        "seeds": n_seeds,
        "steps": steps,
        "first_s": first,
        "best_s": best,
        "seed_steps_per_s": n_seeds * steps / best,
    }
    print(json.dumps(row), flush=True)
    return row


def timings(n_seeds: int, epochs: int) -> list[dict]:
    rows = [_row("plain SGD, default chunk", _plain(epochs, "auto"), n_seeds, epochs)]
    size = 2**14
    while size < n_seeds:
        rows.append(_row("plain SGD", _plain(epochs, "auto"), n_seeds, epochs, size))
        size *= 2
    rows.append(_row("plain SGD", _plain(epochs, "auto"), n_seeds, epochs, n_seeds))
    rows.append(_row("plain SGD, fused", _plain(epochs, "fused"), n_seeds, epochs))
    for layout in ("auto", "fused"):
        what = f"_xor.train (momentum, solved), {layout}"
        rows.append(_row(what, _xor_settings(epochs, layout), n_seeds, epochs))
    steps = 40 * (4000 // 100)
    rows.append(_row("MNIST-1D MLP, Adam, 1024 seeds", _mnist1d(40), 1024, steps))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2**20)
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--out", default=os.path.join("results", "gpu_check"))
    p.add_argument("--no-tests", action="store_true", help="timings only")
    args = p.parse_args(argv)
    if jax.default_backend() != "gpu":
        print(f"gpu_check: no GPU (JAX's backend is {jax.default_backend()!r}); nothing to check")
        return 0
    result = {"device": str(jax.devices()[0].device_kind), "jax": jax.__version__}
    if not args.no_tests:
        tests = ["tests/test_fused.py", "tests/test_sweep_chunks.py"]
        t = time.perf_counter()
        # on the GPU (the tests default to the CPU; the CPU stays available for the tests of the
        # CPU's rules), in float32 as GPU work runs
        env = {**os.environ, "JAX_PLATFORMS": "cuda,cpu", "JAX_ENABLE_X64": "0"}
        rc = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], env=env
        )
        result["tests"] = {"files": tests, "exit_code": rc, "seconds": time.perf_counter() - t}
    result["timings"] = timings(args.seeds, args.epochs)
    rates = [r for r in result["timings"] if r["what"] == "plain SGD" and "error" not in r]
    default = result["timings"][0]
    if rates and "error" not in default:
        best = max(rates, key=lambda r: r["seed_steps_per_s"])
        result["default_vs_best_chunk"] = best["seed_steps_per_s"] / default["seed_steps_per_s"]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gpu_check.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"gpu_check: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
