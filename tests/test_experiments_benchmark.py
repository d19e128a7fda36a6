"""The benchmark experiment: its hand-written JAX loop, NumPy baseline, C reference (and its CUDA
kernel, run here as C), and torch path train as fit does; the verdict follows from the rates; the
whole experiment runs end to end on tiny settings."""

import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest
from _markdown import assert_tables_well_formed

import fnnet as fn
from experiments import _harness, _peers, benchmark

_FITS = {}
N = 37  # seeds in every test here (one compiled fit): more than a block of the C reference's 32


def _fit_from(p0, steps):
    """fit of the 2-2-1 XOR network from the initial parameters ``p0`` (a leading seed axis)."""
    if steps not in _FITS:
        net = fn.MLP((2, 2, 1))
        X, T = fn.data.logic_gate("xor")

        def fit(p):
            s, h = fn.train.fit(
                net,
                optax.sgd(0.5),
                jax.random.key(0),
                (X, T),
                epochs=steps,
                batch_size=4,
                loss="half_sse",
                init=p,
                record=fn.train.Record(history="final"),
            )
            return s.params, h["loss"]

        _FITS[steps] = jax.jit(jax.vmap(fit))
    return _FITS[steps](p0)


def _inits(getkey, n):
    net = fn.MLP((2, 2, 1))
    return jax.vmap(lambda k: net.init(k, "uniform", 0.5))(jax.random.split(getkey(), n))


def _assert_trains_like_fit(params, losses, ref, ref_loss, rtol, atol):
    assert jax.tree.structure(params) == jax.tree.structure(ref)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref)):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(losses, ref_loss, rtol=rtol)


def test_benchmark_baselines_train_like_fit(getkey):
    p0 = _inits(getkey, N)
    ref, ref_loss = _fit_from(p0, 20)
    hand, hand_loss = jax.jit(jax.vmap(lambda p: _peers.hand_xor(p, 20)))(p0)
    got, loss = _peers.numpy_xor(N, 20, params=jax.tree.map(np.asarray, p0))
    for params, losses in ((hand, hand_loss), (got, loss)):
        _assert_trains_like_fit(params, losses, ref, ref_loss, rtol=1e-5, atol=1e-6)
    # the C reference's layout, (9, S), and back
    p = jax.tree.map(np.asarray, p0)
    assert _peers.nine(p).shape == (9, N) and _peers.nine(p).flags["C_CONTIGUOUS"]
    for a, b in zip(jax.tree.leaves(_peers.tree(_peers.nine(p))), jax.tree.leaves(p)):
        np.testing.assert_array_equal(a, b)


needs_cc = pytest.mark.skipif(
    _peers.c_compiler() is None, reason="no C compiler (cc or gcc) on the PATH"
)


@needs_cc
def test_benchmark_c_reference_trains_like_fit(getkey):
    p0 = _inits(getkey, N)  # more than one block of seeds, and a partial one
    ref, ref_loss = _fit_from(p0, 20)
    lib, why = _peers.c_reference()
    assert lib is not None, why
    assert lib.xor_threads() >= 1
    got, loss = _peers.c_xor(jax.tree.map(np.asarray, p0), 20)
    # -ffast-math and a polynomial exp: float tolerance, not bit equality
    _assert_trains_like_fit(got, loss, ref, ref_loss, rtol=1e-3, atol=1e-5)


@needs_cc
def test_benchmark_cuda_kernel_trains_like_fit_when_run_as_c(getkey):
    """The CUDA kernel's text, compiled as C with the CUDA names defined and called once per
    thread index: the same arithmetic as on a GPU (with expf for __expf)."""
    shim = (
        "#include <math.h>\n#define __global__\n#define __restrict__ __restrict\n"
        "#define __expf expf\nstatic struct { long long x; } blockIdx, blockDim, threadIdx;\n"
    )
    kernel = _peers.cuda_source().replace('extern "C" ', "")
    driver = (
        "\nvoid run_all(const float *p0, float *p, float *loss, long long n, long long steps,"
        " float lr) {\n  blockDim.x = 1;\n  for (long long i = 0; i < n; i++) {\n"
        "    blockIdx.x = i;\n    xor_train(p0, p, loss, n, steps, lr);\n  }\n}\n"
    )
    path, why = _peers.build_shared(shim + kernel + driver, ("-O1", "-shared", "-fPIC"), "cu")
    assert path is not None, why
    import ctypes

    run_all = ctypes.CDLL(path).run_all
    run_all.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] * 2 + [ctypes.c_float]
    p0 = _inits(getkey, N)
    ref, ref_loss = _fit_from(p0, 20)
    q0 = _peers.nine(jax.tree.map(np.asarray, p0))
    q, loss = np.empty_like(q0), np.empty(N, np.float32)
    run_all(q0.ctypes.data, q.ctypes.data, loss.ctypes.data, N, 20, 0.5)
    _assert_trains_like_fit(_peers.tree(q), loss, ref, ref_loss, rtol=1e-4, atol=1e-6)


def test_benchmark_c_reference_absent_without_a_compiler(monkeypatch):
    monkeypatch.setattr(_peers, "c_compiler", lambda: None)
    assert _peers.build_shared("int f(void) { return 1; }") == (
        None,
        "no C compiler (cc or gcc) on the PATH",
    )


@needs_cc
def test_benchmark_c_build_failure_is_a_reason():
    path, why = _peers.build_shared("this is not C;", name="broken")
    assert path is None and why.startswith("the C build (") and "failed" in why


def test_benchmark_torch_trains_like_fit(getkey):
    pytest.importorskip("torch", reason="torch not installed (the optional bench extra)")
    p0 = _inits(getkey, N)
    ref, ref_loss = _fit_from(p0, 20)
    for compiled in (False, True):
        got, loss = _peers.torch_xor(jax.tree.map(np.asarray, p0), 20, compiled=compiled)
        _assert_trains_like_fit(got, loss, ref, ref_loss, rtol=1e-4, atol=1e-6)


def test_benchmark_torch_rows_absent_without_torch(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    rows, absent = _peers.torch_contestants(4, 2, np.zeros((9, 4), np.float32), 1)
    assert rows == {}
    assert absent == {"torch_compile": "torch not installed", "torch_eager": "torch not installed"}


def test_benchmark_cuda_row_absent_on_a_cpu():
    call, why = _peers.cuda_contestant(4, 2, np.zeros((9, 4), np.float32))
    assert call is None and why == "no GPU: JAX's default backend here is cpu"


def test_benchmark_verdict_from_the_rates():
    rates = {key: None for key, _, _, _ in benchmark.ROWS}
    rates.update(sweep_plain=125.0, sweep_cores=120.0, c_reference=100.0, numpy_vectorised=1.0)
    v = benchmark.verdict(rates)
    # the bound itself: 100 / 100 = 1 is met, 99 / 100 is not
    assert benchmark.verdict({**rates, "sweep_plain": 100.0})["met"] is True
    assert benchmark.verdict({**rates, "sweep_plain": 99.0})["met"] is False
    # 125 / 100 = 1.25: met
    assert (v["verdict"], v["met"], v["fastest_peer"]) == ("holds", True, "c_reference")
    assert v["ratio"] == pytest.approx(1.25)
    assert v["ratios"] == pytest.approx(
        {"sweep_plain": 1.25, "sweep_cores": 1.2, "c_reference": 1.0, "numpy_vectorised": 0.01}
    )
    assert "torch_compile" in v["absent_peers"] and "c_reference" not in v["absent_peers"]
    assert "is met" in v["sentence"] and "at least 1x" in v["sentence"]
    # a faster peer: torch.compile at 200 makes it 0.625, not met
    v = benchmark.verdict({**rates, "torch_compile": 200.0})
    assert (v["verdict"], v["met"], v["fastest_peer"]) == ("fails", False, "torch_compile")
    assert v["ratio"] == pytest.approx(0.625) and "not met" in v["sentence"]
    assert v["ratios"]["c_reference"] == pytest.approx(0.5)
    # another target
    assert benchmark.verdict({**rates, "torch_compile": 200.0}, target=0.6)["met"]
    # no peer, or no sweep: not tested
    for bad in (
        {**rates, "c_reference": None, "numpy_vectorised": None},
        {**rates, "sweep_plain": None},
    ):
        v = benchmark.verdict(bad)
        assert v["verdict"].startswith("not tested") and v["met"] is None and v["ratios"] == {}
        assert v["sentence"].startswith("Not tested")


def test_benchmark_worker_environments(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=7 --xla_foo=1")
    monkeypatch.setenv("JAX_PLATFORMS", "")
    monkeypatch.setenv("JAX_NUM_CPU_DEVICES", "5")
    plain, cores = (benchmark._worker_env(role, 3) for role in ("plain", "cores"))
    # a plain script's one host device, the default backend; one host device per core, the CPU
    assert plain["JAX_NUM_CPU_DEVICES"] == "1" and plain["JAX_PLATFORMS"] == ""
    assert cores["JAX_NUM_CPU_DEVICES"] == "3" and cores["JAX_PLATFORMS"] == "cpu"
    # JAX's own setting wins over the flag, which is left to the user's other flags
    assert plain["XLA_FLAGS"] == cores["XLA_FLAGS"] == os.environ["XLA_FLAGS"]
    for env, n in ((plain, 1), (cores, 3)):
        probe = "import jax; print(jax.device_count('cpu'))"
        env = {**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=7"}
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == str(n), out.stderr


def test_benchmark_small_end_to_end(tmp_path, monkeypatch):
    tiny = {
        **benchmark.QUICK,
        "seeds": 64,
        "steps": 10,
        "loop_seeds": 2,
        "naive_steps": 5,
        "numpy_seeds": 64,
        "numpy_steps": 5,
        "torch_eager_steps": 2,
        "repeats": 2,
        "option_rows": True,
        "gradient_nets": 64,
    }
    monkeypatch.setattr(benchmark, "QUICK", tiny)
    result = _harness.run_experiment(benchmark, "quick", str(tmp_path))
    runs = result["workers"]
    assert set(runs) == set(benchmark.WORKERS)
    assert runs["cores"]["devices"] == os.cpu_count() and runs["cores"]["backend"] == "cpu"
    assert runs["plain"]["devices"] == 1  # a plain script's one host device
    for key, role, _, _ in benchmark.ROWS:
        e = runs[role][key]
        if "absent" in e:
            assert result["absent"][key] == e["absent"] and result["rates"][key] is None
            continue
        assert e["repeats"] == 2 and e["seed_steps_per_s"] > 0, key
        assert e["rate_range"][0] <= e["seed_steps_per_s"] == e["rate_range"][1], key
    assert result["absent"].get("cuda_reference", "").startswith("no GPU")
    assert ("c_reference" in result["absent"]) == (_peers.c_compiler() is None)
    if _peers.c_compiler() is not None:
        # same initial parameters, same training: the C reference's losses are the sweep's
        assert result["agreement"]["c_reference"] < 1e-4
    # the fast-math opt-in: its effect on results measured beside the default
    f = result["fast_math"]
    assert f["options"] == benchmark.FAST_MATH
    assert all(0 <= x <= 1 for x in f["solved_fraction"].values())
    assert 0 <= f["seeds_whose_verdict_changed"] <= tiny["seeds"]
    g = f["gradient_error"]
    assert g["default"]["median"] < 1e-5 and g["fast_math"]["median"] < 1e-3
    assert runs["plain"]["sweep_plain_fixed_chunk"]["chunk_size"] == benchmark.FIXED_CHUNK
    assert runs["plain"]["sweep_plain"]["loop_state_bytes"] > 0
    assert "big_auto" not in runs["cores"] and result["layout_crossover"] == []
    assert result["rates"] == benchmark.rates_of(runs)
    v = benchmark.verdict(result["rates"])
    assert result["verdict"] == v["verdict"] in ("holds", "fails")
    assert result["ratio"] == v["ratio"] and result["fastest_peer"] == v["fastest_peer"]
    assert result["ratio_to_fastest_peer"] == v["ratios"]
    assert result["target_met"] == (v["ratio"] >= benchmark.TARGET)
    for k in ("headline", "seeds"):
        assert isinstance(result[k], str) and result[k]
    lines = benchmark.report(result)
    assert_tables_well_formed(lines)
    text = "\n".join(lines)
    assert v["sentence"] in text and "run with the full settings" in text
    for key, _, label, _ in benchmark.ROWS:
        if key != "sweep_plain":
            assert label in text, label
    assert "fnnet.sweep, plain script (1 host device)" in text
    assert "absent: no GPU" in text
    assert "Opt-in fast math (xla_cpu_enable_fast_math=True" in text
    assert (tmp_path / "benchmark.png").stat().st_size > 0
    # the arithmetic of a seed-step, XLA's count of the hand-written step: 12 logistic functions
    work = result["arithmetic_per_seed_step"]
    assert work["transcendentals"] == 12 and 100 < work["flops"] < 1000
    assert work["ops"] == work["flops"] + work["transcendentals"]
    top = result["peak"]["ops_per_s"]
    if top:  # a clock in /proc/cpuinfo
        assert result["fraction_of_peak"]["sweep_plain"] == pytest.approx(
            result["rates"]["sweep_plain"] * work["ops"] / top
        )
        assert "| fraction of peak |" in text and "%" in text


def test_fractions_of_peak_and_the_peak():
    assert benchmark.fractions_of_peak({"a": 1e8, "b": None}, 300.0, 3e11) == {"a": 0.1}
    assert benchmark.fractions_of_peak({"a": 1e8}, 300.0, None) == {}
    top = benchmark.peak(2)
    if top["ops_per_s"] is not None:
        lanes = 16 if "avx512f" in fn.xla.cpu_features() else top["float32_lanes"]
        assert top["float32_lanes"] == lanes
        assert top["ops_per_s"] == 2 * top["mhz"] * 1e6 * lanes * 4


def test_benchmark_layout_crossover_small():
    tiny = {**benchmark.FULL, "crossover_seeds": 8, "crossover_steps": 3}
    tiny["crossover_nets"] = [[[2, 2, 1], 4], [[2, 2, 1], 4, "sigmoid"]]
    rows = benchmark.crossover(tiny)
    names = [(r["network"], r["batch"], r["batch_x_params"]) for r in rows]
    assert names == [("2-2-1 tanh", 4, 36), ("2-2-1 sigmoid", 4, 36)]
    for row in rows:
        assert row["auto"] == "scalar"
        assert row["matrix"]["seed_steps_per_s"] > 0 and row["scalar"]["seed_steps_per_s"] > 0
    lines = benchmark._crossover_table({"settings": tiny, "layout_crossover": rows})
    assert_tables_well_formed(lines)
    row = lines[-3]
    assert row.startswith("| 2-2-1 sigmoid | 4 | 36 |") and "| scalar |" in row
    share = benchmark.auto_share(rows[-1])
    assert 0 < share <= 1 and row.endswith(f"| {share:.2f} |")
    assert lines[-1].startswith(f"'auto' ran at {min(map(benchmark.auto_share, rows)):.2f} of")
    made_up = {
        "auto": "matrix",
        "matrix": {"seed_steps_per_s": 1.0},
        "scalar": {"seed_steps_per_s": 4.0},
    }
    assert benchmark.auto_share(made_up) == 0.25
    # the larger network the full settings time (benchmark._measure_big): "auto" picks matrix
    big = fn.MLP((8, 32, 32, 1), hidden="tanh", output="identity")
    assert fn.layout.choose("auto", big, "mse", n_examples=64).name == "matrix"
