"""The benchmark experiment: its hand-written JAX loop and its NumPy baseline train as fit does,
and the whole experiment runs end to end on tiny settings."""

import os

import jax
import numpy as np
import optax
from _markdown import assert_tables_well_formed

import fnnet as fn
from experiments import _harness


def _fit_from(p0, steps):
    """fit of the 2-2-1 XOR network from the initial parameters ``p0`` (a leading seed axis)."""
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

    return jax.jit(jax.vmap(fit))(p0)


def _inits(getkey, n):
    net = fn.MLP((2, 2, 1))
    return jax.vmap(lambda k: net.init(k, "uniform", 0.5))(jax.random.split(getkey(), n))


def test_benchmark_baselines_train_like_fit(getkey):
    from experiments import benchmark

    p0 = _inits(getkey, 3)
    ref, ref_loss = _fit_from(p0, 20)
    hand, hand_loss = jax.jit(jax.vmap(lambda p: benchmark.hand_xor(p, 20)))(p0)
    got, loss = benchmark._numpy_xor(3, 20, params=jax.tree.map(np.asarray, p0))
    for params, losses in ((hand, hand_loss), (got, loss)):
        assert jax.tree.structure(params) == jax.tree.structure(ref)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses, ref_loss, rtol=1e-5)


def test_benchmark_ratios_and_verdict_from_the_rates():
    from experiments import benchmark

    rates = dict(zip([m for m, _ in benchmark.METHODS], [100.0, 80.0, 100.0, 20.0, 1.0, 5.0, 0.1]))
    r = benchmark.ratios({m: {"seed_steps_per_s": x} for m, x in rates.items()})
    # the slower sweep path (80) over each peer; the fastest loop is the per-seed loop (5)
    assert (r["hand_jax"], r["natural_vmap"], r["fastest_loop"]) == (0.8, 4.0, 16.0)
    assert r["fastest_loop_method"] == "per_seed_jit_loop"
    assert r["sweep_over_method"]["naive_step_loop"] == 1000.0


def test_benchmark_small_end_to_end(tmp_path, monkeypatch):
    from experiments import benchmark

    tiny = {
        **benchmark.QUICK,
        "seeds": 64,
        "steps": 10,
        "chunk_size": 32,
        "loop_seeds": 2,
        "naive_steps": 5,
        "numpy_seeds": 64,
        "numpy_steps": 5,
        "repeats": 2,
    }
    monkeypatch.setattr(benchmark, "QUICK", tiny)
    result = _harness.run_experiment(benchmark, "quick", str(tmp_path))
    cores = str(os.cpu_count())
    assert list(result["by_devices"]) == [cores] and result["main_devices"] == cores
    main = result["by_devices"][cores]
    assert main["backend"] == "cpu" and main["devices"] == os.cpu_count()
    for method, _ in benchmark.METHODS:
        e = main[method]
        assert e["repeats"] == 2 and e["seed_steps_per_s"] > 0, method
        assert e["rate_range"][0] <= e["seed_steps_per_s"] == e["rate_range"][1], method
    assert "big_auto" not in main and result["layout_crossover"] == []  # with --full only
    assert result["ratios"] == benchmark.ratios(main)
    met = {p: result["ratios"][p] >= t for p, t in benchmark.THRESHOLDS.items()}
    assert result["threshold_met"] == met
    assert result["verdict"] == (
        "holds" if all(met.values()) else "partly" if any(met.values()) else "fails"
    )
    for k in ("headline", "seeds"):
        assert isinstance(result[k], str) and result[k]
    lines = benchmark.report(result)
    assert_tables_well_formed(lines)
    text = "\n".join(lines)
    assert "hand-written JAX loop" in text and "run with the full settings" in text
    assert (tmp_path / "benchmark.png").stat().st_size > 0


def test_benchmark_layout_crossover_small():
    from experiments import benchmark

    tiny = {**benchmark.FULL, "crossover_seeds": 8, "crossover_steps": 3}
    tiny["crossover_nets"] = [[[2, 2, 1], 4]]
    (row,) = benchmark.crossover(tiny)
    assert (row["network"], row["batch"], row["batch_x_params"]) == ("2-2-1", 4, 36)
    assert row["auto"] == "scalar"
    assert row["matrix"]["seed_steps_per_s"] > 0 and row["scalar"]["seed_steps_per_s"] > 0
    lines = benchmark._crossover_table({"settings": tiny, "layout_crossover": [row]})
    assert_tables_well_formed(lines)
    assert lines[-1].startswith("| 2-2-1 | 4 | 36 |") and lines[-1].endswith("| scalar |")
    # the larger network the full settings time (benchmark._measure_big): "auto" picks matrix
    big = fn.MLP((8, 32, 32, 1), hidden="tanh", output="identity")
    assert fn.layout.choose("auto", big, "mse", n_examples=64).name == "matrix"
