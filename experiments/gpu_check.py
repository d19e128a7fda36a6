"""The accelerator checks of the sweep engine, as one script for a machine with a GPU.

``python -m experiments.gpu_check [--seeds 1048576] [--epochs 2000] [--budget 300]
[--tests-timeout 240] [--out DIR]`` runs, in under 10 minutes on one GPU:

1. the timings, seed-steps/s on the 2-2-1 sigmoid XOR network (four points, full batch,
   half_sse, float32), through the ordinary ``fnnet.sweep.run`` API, most telling first:

   - the hand-fused CUDA reference kernel of the benchmark (``experiments/_peers.py``, through
     cupy: one thread per seed, its 9 parameters in registers), the ceiling, from the same initial
     parameters as the sweeps;
   - plain SGD (lr 0.5) in the fused layout, and its final losses against the CUDA kernel's;
   - ``experiments/_xor.train``'s settings (momentum 0.9, the solved criterion every epoch) with
     the default chunk, in the fused and in the scalar layout ("auto");
   - plain SGD in layout "auto" with the default chunk size, and with each power-of-two chunk
     size from 2^14 seeds to all of them (the best of those is the reference for the default);
   - the MNIST-1D MLP (40-100-100-10, Adam, batch 100) over 1024 seeds with the default chunk:
     that the chosen chunk fits in memory, and its rate.

   Each timing is the best of two calls after one that compiles (whose seconds are kept too).
   Rows not started within ``--budget`` seconds are marked skipped; a row that fails keeps its
   error;
2. then the tests whose code path differs on a GPU: ``tests/test_fused.py`` (there the fused
   kernel is lowered to Triton instead of run in Pallas's interpreter) and
   ``tests/test_sweep_chunks.py``, on the GPU in float32, stopped after ``--tests-timeout``
   seconds; their output goes to ``DIR/gpu_check_tests.log``.

``DIR/gpu_check.json`` (default ``results/gpu_check``) is rewritten after every row, so that an
interrupted run keeps what it measured; it names the device, the jax and jaxlib versions and how
the fused kernel was lowered (:func:`fnnet.fused.lowering`), and ends with the ratios
(``summary``). Without a GPU the script says so and stops; :func:`check` runs the same rows on
any backend (the tests run them tiny on the CPU).

On a lent GPU machine whose image lacks mnist1d, carry its wheel (``.whl``, see the device notes)
and run, from the repository's root::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
    PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 -m experiments.gpu_check --out "$OUT"
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jaxlib
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _peers, _xor
from fnnet import fused

TESTS = ("tests/test_fused.py", "tests/test_sweep_chunks.py")
_CUDA = "CUDA reference kernel (cupy)"


def _plain(epochs, layout):
    """``train_one`` of plain SGD (lr 0.5), the benchmark's workload (:func:`_peers.xor_fit`:
    fit's hand-derived backprop, the initial parameters the peers start from)."""
    return _peers.xor_fit(layout, "backprop", epochs)


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


def _error(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def _measured(what, call, seeds, steps, **extra):
    """The row of one timed ``call`` (``seeds`` x ``steps`` seed-steps per call), or of its error:
    a row that fails is a result (out of memory, a lowering that does not compile)."""
    try:  # the benchmark's timing: a first call that compiles, then the best of two
        first, times = _peers.timed(lambda: jax.block_until_ready(call()), 2)
    except Exception as e:  # noqa: BLE001
        return {"what": what, **extra, "error": _error(e)}
    return {
        "what": what,
        **extra,
        "seeds": seeds,
        "steps": steps,
        "first_s": first,
        "best_s": min(times),
        "seed_steps_per_s": seeds * steps / min(times),
    }


def _row(what, make, n_seeds, steps, chunk_size=None, finals=None):
    """A timed ``fnnet.sweep.run(make(), n_seeds, chunk_size=chunk_size)``; its last call's
    ``"loss"`` values go to ``finals[what]`` where ``finals`` is given."""
    try:
        train_one = make()
    except Exception as e:  # noqa: BLE001 - a data set that cannot be made, say
        return {"what": what, "chunk_size": chunk_size, "error": _error(e)}

    def call():
        values = fn.sweep.run(train_one, n_seeds, chunk_size=chunk_size, progress=False).values
        if finals is not None:
            finals[what] = values["loss"]
        return values

    return _measured(what, call, n_seeds, steps, chunk_size=chunk_size)


def _cuda_row(n_seeds, epochs, finals):
    """The CUDA reference kernel's row (``absent`` with the reason where there is no GPU or no
    cupy), from the initial parameters of :func:`_plain`'s sweeps."""
    what = _CUDA
    try:
        p0 = _peers.nine(_peers.initial_params(n_seeds))
        contestant, why = _peers.cuda_contestant(n_seeds, epochs, p0, finals)
    except Exception as e:  # noqa: BLE001
        return {"what": what, "error": _error(e)}
    if contestant is None:
        return {"what": what, "absent": why}
    call, _, extra = contestant
    return _measured(what, call, n_seeds, epochs, **extra)


def _plan(n_seeds: int, epochs: int, finals: dict, mnist_seeds=1024, mnist_epochs=40) -> list:
    """The rows as ``(what, make_row)``, most telling first; nothing is built before its row."""

    def sweep(what, make, seeds=n_seeds, steps=epochs, chunk=None, keep=None):
        return what, functools.partial(_row, what, make, seeds, steps, chunk, keep)

    plain, auto = functools.partial(_plain, epochs), functools.partial(_plain, epochs, "auto")
    plan = [
        (_CUDA, functools.partial(_cuda_row, n_seeds, epochs, finals)),
        sweep("plain SGD, fused", functools.partial(plain, "fused"), keep=finals),
    ]
    for layout in ("fused", "auto"):
        make = functools.partial(_xor_settings, epochs, layout)
        plan.append(sweep(f"_xor.train (momentum, solved), {layout}", make))
    plan.append(sweep("plain SGD, default chunk", auto))
    size = min(2**14, n_seeds)
    while True:
        plan.append(sweep("plain SGD", auto, chunk=size))
        if size >= n_seeds:
            break
        size = min(2 * size, n_seeds)
    what = f"MNIST-1D MLP, Adam, {mnist_seeds} seeds"
    steps = mnist_epochs * (4000 // 100)  # 4,000 training examples, batch 100
    plan.append(sweep(what, functools.partial(_mnist1d, mnist_epochs), mnist_seeds, steps))
    return plan


def _rate(rows, what):
    found = [r for r in rows if r["what"] == what and "seed_steps_per_s" in r]
    return max((r["seed_steps_per_s"] for r in found), default=None)


def summary(rows: list, finals: dict) -> dict:
    """The ratios the issue's targets are stated in, from the rows (None where a row is missing):
    fused plain SGD over the CUDA kernel, ``_xor.train`` fused over plain SGD fused, plain SGD
    over ``_xor.train`` in layout "auto" at the default chunk, the best chunk over the default; the
    largest difference of the fused sweep's final losses from the CUDA kernel's."""

    def ratio(a, b):
        a, b = _rate(rows, a), _rate(rows, b)
        return a / b if a and b else None

    out = {
        "fused_over_cuda": ratio("plain SGD, fused", _CUDA),
        "xor_train_fused_over_plain_fused": ratio(
            "_xor.train (momentum, solved), fused", "plain SGD, fused"
        ),
        "plain_auto_over_xor_train_auto": ratio(
            "plain SGD, default chunk", "_xor.train (momentum, solved), auto"
        ),
        "best_chunk_over_default": ratio("plain SGD", "plain SGD, default chunk"),
    }
    mine, ref = finals.get("plain SGD, fused"), finals.get("cuda_reference")
    if mine is not None and ref is not None:
        diff = np.abs(np.asarray(mine, np.float64) - _peers.host(ref))
        out["fused_vs_cuda_final_loss_max_abs_diff"] = float(np.max(diff))
    return out


def _save(result: dict, out: str) -> None:
    """Writes ``result`` to ``out/gpu_check.json`` (replaced whole: never a half-written file)."""
    _harness.write_json(os.path.join(out, "gpu_check.json"), result)


def check(
    n_seeds: int,
    epochs: int,
    out: str,
    budget: float = float("inf"),
    say=print,
    mnist_seeds: int = 1024,
    mnist_epochs: int = 40,
) -> dict:
    """Runs the rows of :func:`_plan` on JAX's default backend, rewriting ``out/gpu_check.json``
    after each; rows not started within ``budget`` seconds are marked skipped."""
    result = {
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        # how the fused rows' kernel was built: "triton" on a GPU (Pallas's Triton backend,
        # deprecated from jax 0.11, warning at each lowering), "interpret" elsewhere
        "fused_lowering": fused.lowering(),
        "seeds": n_seeds,
        "epochs": epochs,
        "timings": [],
    }
    finals: dict = {}
    start = time.perf_counter()
    for name, make in _plan(n_seeds, epochs, finals, mnist_seeds, mnist_epochs):
        if time.perf_counter() - start > budget:
            row = {"what": name, "skipped": f"not started within the budget of {budget:g} s"}
        else:
            row = make()
        result["timings"].append(row)
        result["summary"] = summary(result["timings"], finals)
        _save(result, out)
        say(json.dumps(row))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2**20)
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--budget", type=float, default=300.0, help="seconds for the timings")
    p.add_argument("--tests-timeout", type=float, default=240.0, help="seconds for the tests")
    p.add_argument("--out", default=os.path.join("results", "gpu_check"))
    p.add_argument("--no-tests", action="store_true", help="timings only")
    args = p.parse_args(argv)
    if jax.default_backend() != "gpu":
        print(f"gpu_check: no GPU (JAX's backend is {jax.default_backend()!r}); nothing to check")
        return 0
    say = lambda line: print(line, flush=True)  # noqa: E731
    result = check(args.seeds, args.epochs, args.out, args.budget, say)
    if not args.no_tests:
        result["tests"] = _tests(args.out, args.tests_timeout)
        _save(result, args.out)
    say(json.dumps({"summary": result["summary"], "tests": result.get("tests")}))
    print(f"gpu_check: wrote {os.path.join(args.out, 'gpu_check.json')}")
    return 0


def _tests(out: str, timeout: float) -> dict:
    """Runs :data:`TESTS` on the GPU (the CPU stays available for the tests of the CPU's rules) in
    float32, as GPU work runs, on 4 workers that do not preallocate the GPU's memory; the output
    goes to ``out/gpu_check_tests.log``."""
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cuda,cpu",
        "JAX_ENABLE_X64": "0",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "gpu_check_tests.log")
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", "4", "-p", "no:cacheprovider", *TESTS]
    t = time.perf_counter()
    with open(log, "w") as f:
        # a session of its own, so that a timeout stops pytest's workers too
        proc = subprocess.Popen(
            cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = f"stopped after {timeout:g} s"
    with open(log) as f:
        tail = f.read().splitlines()[-3:]
    return {"files": list(TESTS), "exit_code": rc, "seconds": time.perf_counter() - t, "tail": tail}


if __name__ == "__main__":
    sys.exit(main())
