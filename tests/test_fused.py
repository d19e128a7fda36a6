"""The fused layout (one Pallas kernel for a whole run; on CPU in Pallas's interpreter) trains as
the scalar layout does, for every optimizer and network the issue names, and refuses clearly what
it cannot run."""

import contextlib
import json
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
from fnnet import layout as L
from fnnet.fused import fused

X, T = fn.data.logic_gate("xor")
OPTIMIZERS = {
    "sgd": optax.sgd(2.0),
    "momentum": optax.sgd(0.5, momentum=0.9),
    "adam": optax.adam(0.1),
}


def _solved(a, t):
    return jnp.all(jnp.abs(a - t) < 0.4)


def _fit(net, opt, key, layout, solved, epochs=150, **kw):
    state, h = fn.train.fit(
        net,
        opt,
        key,
        (X, T),
        epochs=epochs,
        batch_size=4,
        loss="half_sse",
        init=lambda k: net.init(k, "uniform", 1.0),
        record=fn.train.Record(history="final", solved=solved),
        layout=layout,
        **kw,
    )
    return state, h


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jnp.issubdtype(x.dtype, jnp.integer):
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sizes", [(2, 2, 1), (2, 4, 1), (2, 2, 2, 1)])
def test_fused_equals_scalar(sizes):
    """sgd, sgd + momentum and adam, with and without a solved criterion: parameters, optimizer
    state, steps, the final loss and the solved epoch, one program per network."""
    net = fn.MLP(sizes, hidden="sigmoid", output="sigmoid")
    keys = jax.random.split(jax.random.key(sum(sizes)), 6)

    def every(key):
        return {
            (name, layout, solved is not None): _fit(net, opt, key, layout, solved)
            for name, opt in OPTIMIZERS.items()
            for layout in ("scalar", "fused")
            for solved in (None, _solved)
        }

    runs = jax.jit(jax.vmap(every))(keys)
    solved_any = False
    for name in OPTIMIZERS:
        for with_solved in (False, True):
            scalar, fz = runs[(name, "scalar", with_solved)], runs[(name, "fused", with_solved)]
            _assert_same(fz, scalar)
            assert ("epoch_solved" in fz[1]) == with_solved
            if with_solved:
                solved_any |= bool(np.any(np.asarray(fz[1]["epoch_solved"]) > 0))
    assert solved_any  # the criterion fired somewhere, so the solved epochs were compared


def test_fused_one_seed_and_traced_hyperparameters():
    """Without vmap the kernel runs one seed; a learning rate traced under vmap (the optimizer
    closes over it) and a nested vmap (rates × seeds) give the scalar layout's numbers."""
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    keys = jax.random.split(jax.random.key(3), 3)
    lrs = jnp.array([0.3, 0.9])

    def one(key, lr, layout):
        return _fit(net, optax.sgd(lr, momentum=0.9), key, layout, _solved, epochs=60)

    def rates_by_seeds(layout):
        return jax.vmap(jax.vmap(lambda k, lr: one(k, lr, layout), (0, None)), (None, 0))

    grid = {layout: jax.jit(rates_by_seeds(layout))(keys, lrs) for layout in ("scalar", "fused")}
    _assert_same(grid["fused"], grid["scalar"])
    alone = one(keys[1], 0.9, "fused")
    _assert_same(alone, jax.tree.map(lambda x: x[1, 1], grid["scalar"]))


def test_fused_progress_and_sweep():
    """fit_with_progress (epochs in chunks: the kernel starts at a later epoch) and
    fnnet.sweep.run give the scalar layout's numbers."""
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    key = jax.random.key(5)
    kw = dict(
        epochs=120,
        batch_size=4,
        loss="half_sse",
        init=lambda k: net.init(k, "uniform", 1.0),
        record=fn.train.Record(history="final", solved=_solved),
    )
    opt = optax.sgd(2.0)
    with_bar = fn.train.fit_with_progress(net, opt, key, (X, T), layout="fused", **kw)
    _assert_same(with_bar, fn.train.fit(net, opt, key, (X, T), layout="scalar", **kw))

    def train_one(layout):
        def one(key, lr):
            s, h = _fit(net, optax.sgd(lr), key, layout, _solved, epochs=40)
            return {"loss": h["loss"], "epoch_solved": h["epoch_solved"], "params": s.params}

        return one

    grid = {"lr": np.array([1.0, 3.0], np.float32)}
    out = {
        layout: fn.sweep.run(train_one(layout), 5, grid=grid, chunk_size=5, progress=False)
        for layout in ("scalar", "fused")
    }
    _assert_same(out["fused"].values, out["scalar"].values)


def test_the_name_that_stored_sweeps_fingerprint_is_kept():
    """fnnet.sweep fingerprints ``train_one`` by its jaxpr's text, which names the kernel's batching
    rule: renamed, every fused sweep stored before would refuse to resume."""
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    one = lambda k: _fit(net, OPTIMIZERS["sgd"], k, "fused", None, epochs=2)  # noqa: E731
    assert "rule=<function _engine.<locals>.batched at" in str(
        jax.make_jaxpr(one)(jax.random.key(0))
    )


def test_fused_refuses_what_it_cannot_run():
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    key = jax.random.key(0)

    def fit(data=(X, T), **changes):
        kw = dict(epochs=2, batch_size=4, loss="half_sse", layout="fused")
        kw["record"] = fn.train.Record(history="final")
        return fn.train.fit(net, optax.sgd(0.5), key, data, **{**kw, **changes})

    with pytest.raises(ValueError, match=r"layout: 'fused' runs full-batch .*got batch_size=2"):
        fit(batch_size=2)
    with pytest.raises(ValueError, match=r"layout: 'fused' .*final values only.*'epoch'"):
        fit(record=fn.train.Record())
    with pytest.raises(ValueError, match=r"layout: 'fused' runs fnnet.backprop.value_and_grad"):
        fit(grads=fn.backprop.dropout(0.5))
    no_example = fn.losses.Loss("plain", fn.losses.mse.value, fn.losses.mse.grad)
    with pytest.raises(ValueError, match=r"layout: 'fused' needs a loss with a per-example form"):
        fit(loss=no_example)
    with pytest.raises(ValueError, match=r"layout: 'fused' writes the data points .*traced"):
        jax.jit(lambda X: fit((X, T)))(X)


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_auto_never_picks_fused(monkeypatch, backend):
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    for sizes in [(2, 2, 1), (2, 4, 1), (2, 2, 2, 1), (2, 8, 1), (40, 100, 10)]:
        net = fn.MLP(sizes, hidden="sigmoid", output="sigmoid")
        for n in (1, 4, 100):
            assert L.choose("auto", net, "half_sse", n_examples=n) is not fused
    assert L.choose("fused", fn.MLP((2, 2, 1)), "mse") is fused


def test_gpu_check_runs_on_cpu(capsys, tmp_path):
    """The GPU script's rows run (tiny, on CPU), each result file complete after every row, and
    without a GPU its main stops at once. (On a GPU the script runs this file itself: there its
    main would start the whole check again.)"""
    if jax.default_backend() == "gpu":
        pytest.skip("experiments.gpu_check runs this file on the GPU; this test is its CPU side")
    from experiments import gpu_check

    assert gpu_check.main(["--out", str(tmp_path / "unused")]) == 0
    assert "no GPU" in capsys.readouterr().out
    assert not (tmp_path / "unused").exists()
    lines = []
    result = gpu_check.check(8, 3, str(tmp_path), say=lines.append, mnist_seeds=2, mnist_epochs=1)
    rows = result["timings"]
    assert result["fused_lowering"] == "interpret" and result["jax"] == jax.__version__
    assert [r["what"] for r in rows] == [
        gpu_check._CUDA,
        "plain SGD, fused",
        "_xor.train (momentum, solved), fused",
        "_xor.train (momentum, solved), auto",
        "plain SGD, default chunk",
        "plain SGD",  # one chunk size: all 8 seeds
        "MNIST-1D MLP, Adam, 2 seeds",
    ]
    assert len(lines) == len(rows)
    assert rows[0] == {
        "what": gpu_check._CUDA,
        "absent": "no GPU: JAX's default backend here is cpu",
    }
    for row in rows[1:]:
        assert "error" not in row, row
        assert row["seed_steps_per_s"] > 0 and row["steps"] > 0
    assert rows[-1]["seeds"] == 2 and rows[-1]["steps"] == 40 and rows[5]["chunk_size"] == 8
    s = result["summary"]
    assert s["fused_over_cuda"] is None and "fused_vs_cuda_final_loss_max_abs_diff" not in s
    assert s["best_chunk_over_default"] == pytest.approx(
        rows[5]["seed_steps_per_s"] / rows[4]["seed_steps_per_s"]
    )
    with open(tmp_path / "gpu_check.json") as f:
        assert json.load(f) == json.loads(json.dumps(result))
    # a budget spent before the first row: every row is marked, none runs
    skipped = gpu_check.check(8, 3, str(tmp_path), budget=-1, say=lines.append)["timings"]
    assert all(r["skipped"].startswith("not started within the budget") for r in skipped)


# Pallas's Triton backend warns at every lowering from jax 0.11 on (and fnnet keeps using it: see
# fnnet.fused); the lowering tests expect that warning there, and no such warning before
_TRITON_DEPRECATED = "The Pallas Triton backend is deprecated"
_WARNS = tuple(int(p) for p in jax.__version__.split(".")[:2]) >= (0, 11)


def _for_an_h100():
    """The context that names the GPU Pallas lowers for without one: an abstract H100 (jax 0.12
    asks for it; before 0.10 an AbstractDevice has no platform, and Triton's lowering needs none)."""
    try:
        device = jax.sharding.AbstractDevice(
            device_kind="NVIDIA H100 80GB HBM3", num_cores=132, platform="gpu"
        )
    except TypeError:
        return contextlib.nullcontext()
    # Auto axes: no sharding in the traced types, as on one device
    mesh = jax.sharding.AbstractMesh(
        (1,), ("seeds",), (jax.sharding.AxisType.Auto,), abstract_device=device
    )
    return jax.sharding.use_abstract_mesh(mesh)


def _lower_for_cuda(f, *args):
    """``f``'s program for CUDA as text, lowered for an abstract H100; checks the Triton backend's
    deprecation warning (present from jax 0.11 on, absent before)."""
    with warnings.catch_warnings(record=True) as seen, _for_an_h100():
        warnings.simplefilter("always")
        text = jax.jit(f).trace(*args).lower(lowering_platforms=("cuda",)).as_text()
    deprecated = [w for w in seen if _TRITON_DEPRECATED in str(w.message)]
    assert all(issubclass(w.category, DeprecationWarning) for w in deprecated)
    if "__gpu$xla.gpu.triton" in text:
        assert bool(deprecated) == _WARNS, (jax.__version__, [str(w.message) for w in seen])
    return text


@pytest.fixture
def triton_lowering(monkeypatch):
    """The fused kernel as a GPU would build it (Pallas's Triton lowering, blocks of BLOCK seeds),
    lowered here for CUDA without a GPU. The jitted run is traced afresh before and after, so
    that no program traced for the interpreter is reused and none for Triton is left behind."""
    pytest.importorskip("jax.experimental.pallas.triton")
    from fnnet import fused as F

    F._run_jit.clear_cache()
    monkeypatch.setattr(F, "_interpret", lambda: False)
    assert F.lowering() == "triton"
    # float32 throughout, as GPU work runs (with float64 enabled, optax's Adam computes its bias
    # correction in float64, which Triton's lowering of pow refuses)
    with jax.enable_x64(False):
        yield _lower_for_cuda
    F._run_jit.clear_cache()


def test_fused_on_a_gpu_without_pallas_triton_refuses_clearly(monkeypatch):
    """A jax without Pallas's Triton backend (simulated: its module cannot be imported): on a GPU
    the fused layout refuses before any work, saying why; on the CPU it runs in the interpreter."""
    from fnnet import fused as F

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    monkeypatch.setitem(sys.modules, "jax.experimental.pallas.triton", None)
    monkeypatch.setattr(F, "_interpret", lambda: True)  # as on a CPU (gpu_check runs this on one)
    assert F.lowering() == "interpret"
    state, _ = _fit(net, OPTIMIZERS["sgd"], jax.random.key(0), "fused", None, epochs=2)
    assert int(state.step) == 2
    monkeypatch.setattr(F, "_interpret", lambda: False)
    assert F.lowering() == "unavailable"
    with pytest.raises(ValueError, match=r"layout: 'fused' .*Triton backend on a GPU.*got jax"):
        _fit(net, OPTIMIZERS["sgd"], jax.random.key(0), "fused", None, epochs=2)
    for n in (1, 4, 100):
        assert L.choose("auto", net, "half_sse", n_examples=n) is not fused


@pytest.mark.parametrize("sizes", [(2, 2, 1), (2, 4, 1), (2, 2, 2, 1)])
def test_fused_kernel_lowers_to_triton(sizes, triton_lowering):
    """The cases of the equality test above (all on 2-2-1, adam with a criterion on the others),
    and jax.grad and a learning rate traced under vmap, lower to one Triton kernel (the GPU code path, checked without a GPU: a kernel that
    lowered to Mosaic GPU, or used a primitive Triton lacks, would fail here)."""
    net = fn.MLP(sizes, hidden="sigmoid", output="sigmoid")
    keys = jax.random.split(jax.random.key(0), 200)  # not a multiple of the block: padded
    # every optimizer with and without a criterion on 2-2-1; the most demanding case on the others
    cases = OPTIMIZERS.items() if sizes == (2, 2, 1) else [("adam", OPTIMIZERS["adam"])]
    for name, opt in cases:
        for solved in (None, _solved) if sizes == (2, 2, 1) else (_solved,):
            run = jax.vmap(lambda k, opt=opt, solved=solved: _fit(net, opt, k, "fused", solved))
            text = triton_lowering(run, keys)
            assert text.count("__gpu$xla.gpu.triton") == 1, (name, solved)
    by_rate = jax.vmap(
        lambda k, lr: _fit(net, optax.sgd(lr), k, "fused", _solved, grads=fn.backprop.autodiff)
    )
    text = triton_lowering(by_rate, keys, jnp.linspace(0.1, 1.0, 200))
    assert text.count("__gpu$xla.gpu.triton") == 1


def test_fused_on_a_gpu_refuses_a_criterion_over_non_power_of_2_outputs(triton_lowering):
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X3, T3 = np.asarray(X)[:3], np.asarray(T)[:3]

    def one(key, solved):
        record = fn.train.Record(history="final", solved=solved)
        kw = dict(epochs=3, batch_size=3, loss="half_sse", record=record, layout="fused")
        return fn.train.fit(net, optax.sgd(0.5), key, (X3, T3), **kw)

    keys = jax.random.split(jax.random.key(0), 8)
    assert "__gpu$xla.gpu.triton" in triton_lowering(jax.vmap(lambda k: one(k, None)), keys)
    with pytest.raises(ValueError, match=r"power-of-2 sizes.*got \(3, 1\)"):
        triton_lowering(jax.vmap(lambda k: one(k, _solved)), keys)
