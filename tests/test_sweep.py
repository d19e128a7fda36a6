"""fnnet.sweep: one compiled program per sweep, seed keys independent of chunks and devices,
resuming after a kill without recomputing, diverged seeds isolated, clear errors."""

import functools
import os
import signal
import socket
import subprocess
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _children import reaped, start

import fnnet as fn
import fnnet.sweep as sweep

NET = fn.MLP((2, 2, 1))
XOR = fn.data.logic_gate("xor")
GRID = {"lr": np.array([0.5, 2.0]), "scale": np.array([0.5, 1.0])}
# Across chunk sizes and device counts, or against one unbatched run, XLA may round a last bit
# differently (its code for a vmapped batch depends on the batch's size per device) and training
# amplifies it. Measured on CPU: train_xor in a sweep vs alone differs by up to 9e-7; across chunk
# sizes and 1 vs 4 devices it is bitwise equal with fit's default layout (not with
# layout="matrix", minibatches of 2 and lr 5). Random draws and reruns of one program: bitwise.
CLOSE = dict(rtol=1e-5, atol=1e-5)


def train_xor(key, lr, scale, nan_rate=0.0):
    """A 2-2-1 sigmoid MLP on XOR, 50 epochs of SGD with momentum; with probability nan_rate
    (drawn from the seed's key) the learning rate is NaN, and training diverges."""
    k_fit, k_nan = jax.random.split(key)
    lr = jnp.where(jax.random.uniform(k_nan) < nan_rate, jnp.nan, lr)
    state, history = fn.train.fit(
        NET,
        optax.sgd(lr, momentum=0.9),
        k_fit,
        XOR,
        epochs=50,
        batch_size=4,
        init=lambda k: NET.init(k, "uniform", scale),
    )
    return {
        "loss": history["loss"][-1],
        "accuracy": history["train_accuracy"][-1],
        "params": state.params,
        "steps": state.step,
    }


def draws(key, a, b=1):
    """Cheap: the seed's random numbers and the hyperparameters handed in."""
    return {"u": jax.random.uniform(key, (2,)), "a": a, "b": b * jnp.ones((), jnp.int32)}


def slow(key, n_steps=15_000_000):
    """A long scalar loop: each chunk takes a noticeable fraction of a second."""
    x0 = jax.random.uniform(key)
    x = jax.lax.fori_loop(0, n_steps, lambda i, x: x + jnp.sin(x) * 1e-9, x0)
    return {"x": x, "x0": x0}


def _assert_results_equal(a, b):
    chex.assert_trees_all_equal_structs(a.values, b.values)
    for x, y in zip(jax.tree.leaves(a.values), jax.tree.leaves(b.values)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.diverged, b.diverged)


def _assert_results_close(a, b):
    chex.assert_trees_all_equal_structs(a.values, b.values)
    for x, y in zip(jax.tree.leaves(a.values), jax.tree.leaves(b.values)):
        assert x.shape == y.shape and x.dtype == y.dtype
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, **CLOSE)
        else:
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.diverged, b.diverged)


# --- subprocesses: another device count, a process to kill, several processes --------------


def _child(entry, *args, n_devices=1, **popen):
    return start(__file__, entry, *args, n_devices=n_devices, **popen)


def _finish(proc, timeout=120):
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (stdout or b"").decode() + (stderr or b"").decode()


def child_four_devices(path):
    assert jax.local_device_count() == 4, jax.devices()
    saved = {}
    for chunk_size in (None, 4, 8):
        r = sweep.run(train_xor, 24, grid=GRID, chunk_size=chunk_size, progress=False)
        for i, leaf in enumerate(jax.tree.leaves(r.values)):
            saved[f"{chunk_size}_leaf{i}"] = leaf
        saved[f"{chunk_size}_diverged"] = r.diverged
        u = sweep.run(
            draws, 24, grid={"a": np.array([1.0, 2.0])}, chunk_size=chunk_size, progress=False
        )
        saved[f"{chunk_size}_u"] = u.values["u"]
    try:
        sweep.run(draws, 8, grid={"a": np.array([1.0])}, chunk_size=6, progress=False)
    except ValueError as e:
        saved["error"] = np.array(str(e))
    np.savez(path, **saved)


def child_slow(out):
    sweep.run(slow, 12, chunk_size=2, out=out, name="slow", progress=False)


def child_process_of_two(port, process_id, out, path):
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=int(process_id))
    r = sweep.run(
        draws, 10, grid={"a": np.array([1.0, 2.0, 3.0])}, chunk_size=4, out=out, progress=False
    )
    computed = np.array([[*g, c] for g, c in r.computed])
    np.savez(path, u=r.values["u"], diverged=r.diverged, computed=computed)


# --- the tests ------------------------------------------------------------------------------


def test_seed_key_is_fold_in_and_sweep_equals_a_loop_of_draws(getkey):
    key = getkey()
    grid = {"a": np.array([0.5, -1.0, 3.0])}
    r = sweep.run(draws, 7, grid=grid, key=key, chunk_size=3, progress=False)
    for j, a in enumerate(grid["a"]):
        for i in range(7):
            k = sweep.seed_key(key, i)
            np.testing.assert_array_equal(
                jax.random.key_data(k), jax.random.key_data(jax.random.fold_in(key, i))
            )
            one = draws(k, a)
            np.testing.assert_array_equal(r.values["u"][j, i], one["u"])
            assert r.values["a"][j, i] == a
    assert not r.diverged.any()


def test_sweep_of_xor_training_equals_a_python_loop_of_fit(getkey):
    key = getkey()
    r = sweep.run(train_xor, 6, grid=GRID, key=key, chunk_size=4, progress=False)
    one_seed = jax.jit(train_xor)  # one program for the loop (fit compiles per optimizer object)
    for j, lr in enumerate(GRID["lr"]):
        for k, scale in enumerate(GRID["scale"]):
            for i in (0, 3, 5):
                one = one_seed(sweep.seed_key(key, i), lr, scale)
                chex.assert_trees_all_close(
                    jax.tree.map(lambda v, j=j, k=k, i=i: v[j, k, i], r.values), one, **CLOSE
                )
    assert r.values["steps"].dtype == np.int32 and np.all(r.values["steps"] == 50)
    assert r.values["accuracy"][0, 0].mean() > 0.2  # it trained (a smoke check of the numbers)


def test_results_agree_across_chunk_sizes_and_1_vs_4_devices(tmp_path):
    path = tmp_path / "four.npz"
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with reaped(_child("child_four_devices", path, n_devices=4, **pipes)) as (proc,):
        runs = {
            cs: sweep.run(train_xor, 24, grid=GRID, chunk_size=cs, progress=False)
            for cs in (None, 4, 16)
        }
        _assert_results_close(runs[None], runs[4])
        _assert_results_close(runs[None], runs[16])
        u = sweep.run(draws, 24, grid={"a": np.array([1.0, 2.0])}, progress=False).values["u"]
        for cs in (1, 5, 16):
            v = sweep.run(
                draws, 24, grid={"a": np.array([1.0, 2.0])}, chunk_size=cs, progress=False
            )
            np.testing.assert_array_equal(v.values["u"], u)
        _finish(proc)
    with np.load(path) as f:
        four = dict(f)
    assert "multiple of the 4 local devices" in str(four["error"]) and "got 6" in str(four["error"])
    ref = jax.tree.leaves(runs[None].values)
    for cs in ("None", "4", "8"):  # 6, 1 and 2 seeds per device
        np.testing.assert_array_equal(four[f"{cs}_u"], u)  # the same keys, bitwise
        leaves = [four[f"{cs}_leaf{i}"] for i in range(len(ref))]
        for x, y in zip(ref, leaves):
            assert x.shape == y.shape and x.dtype == y.dtype
            np.testing.assert_allclose(x, y, **CLOSE)
        np.testing.assert_array_equal(four[f"{cs}_diverged"], runs[None].diverged)


def test_compiles_once_and_drops_the_padding(getkey):
    traces = []

    def counted(key, a):
        traces.append(a)
        return draws(key, a)

    key = getkey()
    grid = {"a": np.array([1.0, 2.0, 3.0])}
    r = sweep.run(counted, 10, grid=grid, key=key, chunk_size=4, progress=False)
    assert len(traces) == 1  # 3 grid points x 3 chunks, one trace, one program
    assert len(r.computed) == 9 and r.values["u"].shape == (3, 10, 2)
    whole = sweep.run(draws, 10, grid=grid, key=key, progress=False)
    np.testing.assert_array_equal(r.values["u"], whole.values["u"])


def test_resume_after_sigkill_recomputes_only_the_missing_chunks(tmp_path):
    out = tmp_path / "sweep"
    chunks = out / "chunks"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with reaped(_child("child_slow", out, **quiet)) as (proc,):
        deadline = time.monotonic() + 90
        while not (chunks.is_dir() and any(p.suffix == ".npz" for p in chunks.iterdir())):
            assert proc.poll() is None, "the sweep ended before a chunk was written"
            assert time.monotonic() < deadline, "no chunk written in 90 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    before = sweep.status(out)
    assert 1 <= len(before.finished) < 6, before.finished  # killed mid-sweep
    assert before.settings["n_seeds"] == 12 and before.settings["chunk_size"] == 2
    stats = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in chunks.glob("*.npz")}
    assert len(stats) == len(before.finished)

    resumed = sweep.run(slow, 12, out=out, name="slow", progress=False)  # chunk_size from out
    assert resumed.computed == before.missing
    assert sweep.status(out).missing == ()
    for name, stat in stats.items():
        p = chunks / name
        assert (p.stat().st_mtime_ns, p.stat().st_ino) == stat, f"{name} was rewritten"

    whole = sweep.run(slow, 12, chunk_size=2, progress=False)
    _assert_results_equal(resumed, whole)
    again = sweep.run(slow, 12, out=out, name="slow", progress=False)
    assert again.computed == ()
    _assert_results_equal(again, whole)


def test_a_diverged_seed_is_marked_and_spoils_no_other(getkey):
    key = getkey()
    grid = {"lr": np.array([0.5, 2.0]), "scale": np.array([1.0]), "nan_rate": np.array([0.0, 0.3])}
    r = sweep.run(train_xor, 16, grid=grid, key=key, chunk_size=8, progress=False)
    assert r.diverged.shape == (2, 1, 2, 16) and r.diverged.dtype == bool
    expect = np.array(
        [jax.random.uniform(jax.random.split(sweep.seed_key(key, i))[1]) < 0.3 for i in range(16)]
    )
    assert 0 < expect.sum() < 16
    np.testing.assert_array_equal(r.diverged[:, 0, 0], False)
    np.testing.assert_array_equal(r.diverged[:, 0, 1], np.broadcast_to(expect, (2, 16)))
    assert np.all(np.isnan(r.values["loss"][:, 0, 1][:, expect]))
    np.testing.assert_array_equal(r.values["steps"], 50)  # an integer leaf is never "diverged"
    for leaf in jax.tree.leaves(r.values):  # the others: the same numbers as with no NaN at all
        np.testing.assert_array_equal(leaf[:, 0, 1][:, ~expect], leaf[:, 0, 0][:, ~expect])


def test_grid_shape_order_and_common_random_numbers(getkey):
    key = getkey()
    grid = {"a": np.array([1.5, 2.5]), "b": np.array([10, 20, 30])}
    r = sweep.run(draws, 5, grid=grid, key=key, progress=False)
    chex.assert_shape(r.values["u"], (2, 3, 5, 2))
    chex.assert_shape([r.values["a"], r.values["b"], r.diverged], (2, 3, 5))
    np.testing.assert_array_equal(
        r.values["a"], np.broadcast_to(grid["a"][:, None, None], (2, 3, 5))
    )
    np.testing.assert_array_equal(
        r.values["b"], np.broadcast_to(grid["b"][None, :, None], (2, 3, 5))
    )
    # every grid point trains seed i from the same key
    np.testing.assert_array_equal(r.values["u"], np.broadcast_to(r.values["u"][0, 0], (2, 3, 5, 2)))
    assert list(r.grid) == ["a", "b"] and r.n_seeds == 5
    no_grid = sweep.run(functools.partial(draws, a=1.5), 5, grid=None, key=key, progress=False)
    chex.assert_shape(no_grid.values["u"], (5, 2))
    np.testing.assert_array_equal(no_grid.values["u"], r.values["u"][0, 0])
    assert no_grid.grid == {} and no_grid.computed == (((), 0),)


def test_progress_bar_counts_seeds(capsys):
    sweep.run(draws, 6, grid={"a": np.array([1.0])}, chunk_size=2, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "seed" in err


def test_default_chunk_size():
    assert sweep.default_chunk_size(10, 1) == 10
    assert sweep.default_chunk_size(10, 4) == 12
    assert sweep.default_chunk_size(100_000, 1) == sweep.CHUNK_SEEDS == 4096
    assert sweep.default_chunk_size(100_000, 3) == 4098


@pytest.mark.parametrize(
    "change, what",
    [
        (dict(n_seeds=9), "n_seeds: stored 8, given 9"),
        (dict(grid={"a": np.array([1.0, 2.5])}), "grid: stored"),
        (lambda: dict(key=jax.random.key(1)), "key: stored"),  # lazy: no backend at import
        (dict(chunk_size=2), "chunk_size: stored 4, given 2"),
        (dict(name="other"), "name: stored"),
        (dict(train_one=lambda key, a: {"u": a}), "results: stored"),
    ],
)
def test_a_mismatched_resume_raises_naming_the_difference(tmp_path, change, what):
    settings = dict(
        train_one=draws, n_seeds=8, grid={"a": np.array([1.0, 2.0])}, chunk_size=4, out=tmp_path
    )
    sweep.run(**settings, progress=False)
    files = sorted(os.listdir(tmp_path / "chunks"))
    assert len(files) == 4
    settings.update(change() if callable(change) else change)
    with pytest.raises(ValueError, match="out: .* other settings") as info:
        sweep.run(**settings, progress=False)
    assert what in str(info.value)
    assert sorted(os.listdir(tmp_path / "chunks")) == files


def _returns_key(key):
    return {"k": key}


def _two(key, a):
    return draws(key, a)


def _bad_out(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_seeds=0), ValueError, r"n_seeds: expected an integer in \[1, 2147483648\], got 0"),
        (dict(n_seeds=2.5), TypeError, "n_seeds: expected an integer"),
        (dict(n_seeds=True), TypeError, "n_seeds: expected an integer"),
        (dict(train_one=3), TypeError, "train_one: expected a function"),
        (dict(train_one=lambda: 0, grid=None), TypeError, "train_one: .* first positional"),
        (dict(train_one=_returns_key, grid=None), TypeError, "train_one: expected results"),
        (dict(grid=[1.0, 2.0]), TypeError, "grid: expected a dict"),
        (dict(grid={"a": np.zeros((2, 2))}), ValueError, r"grid\['a'\]: .* 1-D .* shape \(2, 2\)"),
        (dict(grid={"a": []}), ValueError, r"grid\['a'\]: expected a non-empty 1-D"),
        (dict(grid={"a": ["x", "y"]}), TypeError, r"grid\['a'\]: expected numbers"),
        (dict(grid={"a": [1.0, np.nan]}), ValueError, r"grid\['a'\]: expected finite"),
        (dict(grid={"a": [1.0], "c": [2.0]}), ValueError, r"grid: .*\['a'\], got \['c'\]"),
        (dict(grid=None), ValueError, r"grid: train_one.* requires \['a'\]"),
        (dict(chunk_size=0), ValueError, "chunk_size: expected an integer >= 1, got 0"),
        (dict(chunk_size="4"), TypeError, "chunk_size: expected an integer"),
        (dict(key=3), TypeError, "key: expected a PRNG key"),
        (lambda: dict(key=jax.random.split(jax.random.key(0))), ValueError, r"key: .* \(2,\)"),
        (dict(name=""), TypeError, "name: expected a non-empty string"),
        (dict(progress="yes"), TypeError, "progress: expected True or False"),
        ("bad out", ValueError, "out: expected a folder"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path, kwargs, error, match):
    args = dict(train_one=_two, n_seeds=4, grid={"a": np.array([1.0])}, progress=False)
    if kwargs == "bad out":
        kwargs = dict(out=_bad_out(tmp_path))
    args.update(kwargs() if callable(kwargs) else kwargs)
    with pytest.raises(error, match=match):
        sweep.run(**args)


def test_a_legacy_uint32_key_gives_the_same_sweep_as_its_typed_key():
    raw = jax.random.PRNGKey(3)
    a = sweep.run(draws, 4, grid={"a": np.array([1.0])}, key=raw, progress=False)
    b = sweep.run(
        draws, 4, grid={"a": np.array([1.0])}, key=jax.random.wrap_key_data(raw), progress=False
    )
    _assert_results_equal(a, b)


def test_two_processes_split_the_units_and_both_return_the_whole_sweep(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    out = tmp_path / "shared"
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    files = [tmp_path / f"p{p}.npz" for p in (0, 1)]
    children = [_child("child_process_of_two", port, p, out, files[p], **pipes) for p in (0, 1)]
    with reaped(*children):
        for proc in children:
            _finish(proc)
    single = sweep.run(
        draws, 10, grid={"a": np.array([1.0, 2.0, 3.0])}, chunk_size=4, progress=False
    )
    units = []
    for path in files:
        with np.load(path) as part:
            np.testing.assert_array_equal(part["u"], single.values["u"])
            np.testing.assert_array_equal(part["diverged"], single.diverged)
            units.append({(g, c) for g, c in part["computed"].tolist()})
    # unit u = point * 3 + chunk goes to process u % 2
    assert units[0] == {(g, c) for g in range(3) for c in range(3) if (g * 3 + c) % 2 == 0}
    assert units[1] == {(g, c) for g in range(3) for c in range(3) if (g * 3 + c) % 2 == 1}


def test_the_docstring_examples_run():
    import doctest
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(sweep.__path__, "fnnet.sweep."):
        failed, attempted = doctest.testmod(importlib.import_module(info.name))
        assert failed == 0, info.name
    failed, attempted = doctest.testmod(sweep)  # the package's docstring
    assert attempted > 0 and failed == 0
