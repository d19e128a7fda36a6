import json

import pytest

import experiments.digits
import experiments.gradient_check
from experiments import __main__ as runner
from experiments import _harness


def test_runner_discovers_the_experiments():
    assert {"gradient_check", "digits"} <= set(runner.discover())


def test_gradient_check_runs_writes_result_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.gradient_check, "QUICK", {"n_random": 1, "seed": 3})
    out = tmp_path / "gradient_check"
    result = _harness.run_experiment(experiments.gradient_check, "quick", str(out))
    saved = json.loads((out / "result.json").read_text())
    assert saved["summary"]["float64"]["max_rel_vs_jax_grad"] < 1e-10
    assert saved["summary"]["float32"]["max_rel_vs_jax_grad"] < 1e-5
    assert (out / "gradient_check.png").stat().st_size > 0
    assert saved["verdict"] == "holds" and saved["versions"]["jax"]
    # a finished result with the same settings is kept, not recomputed
    monkeypatch.setattr(experiments.gradient_check, "run", lambda *a: 1 / 0)
    assert _harness.run_experiment(experiments.gradient_check, "quick", str(out)) == saved
    assert result["summary"] == saved["summary"]
    runner.write_report([saved], str(tmp_path / "REPORT.md"))
    assert "gradient_check" in (tmp_path / "REPORT.md").read_text()


def test_digits_experiment_small(tmp_path, monkeypatch):
    monkeypatch.setattr(
        experiments.digits,
        "QUICK",
        {"epochs": 2, "batch_size": 100, "learning_rate": 1e-3, "seeds": 2},
    )
    result = _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    assert len(result["test_accuracy_per_seed"]) == 2
    assert 0.1 < result["test_accuracy_mean"] <= 1.0


def test_linear_classifier_experiment_small(tmp_path, monkeypatch):
    import experiments.linear_classifier as lc

    small = {**lc.QUICK, "n_points": 200, "data_seeds": 8, "last": 50}
    monkeypatch.setattr(lc, "QUICK", small)
    result = _harness.run_experiment(lc, "quick", str(tmp_path))
    assert result["book_arithmetic_reproduced"]
    assert result["book"]["1.0"]["A_after_each_update"][-1] == pytest.approx(2.9)
    var = [result["noisy"][str(lr)]["var_A_last"] for lr in small["lrs"]]
    assert var == sorted(var, reverse=True)
    assert result["verdict"] == "holds"
    assert all((tmp_path / f).stat().st_size > 0 for f in result["figures"])


def test_logic_gates_experiment_small(tmp_path, monkeypatch):
    import experiments.logic_gates as lg

    small = {**lg.QUICK, "seeds": 64, "grid_points": 21, "mlp_seeds": 16, "mlp_epochs": 1000}
    monkeypatch.setattr(lg, "QUICK", small)
    result = _harness.run_experiment(lg, "quick", str(tmp_path))
    conv = {g: r["converged"]["fraction"] for g, r in result["perceptron"].items()}
    assert conv == {"and": 1.0, "or": 1.0, "nand": 1.0, "xor": 0.0}
    assert result["grid_separating_lines"]["xor"] == 0
    assert result["grid_separating_lines"]["and"] > 0
    assert result["hand_built_xor"]["truth_table"] == [0.0, 1.0, 1.0, 0.0]
    assert 0.5 < result["backprop_xor"]["2-2-1"]["solved"]["fraction"] <= 1.0
    assert len(result["figures"]) == 4
    assert "XOR" in "\n".join(lg.report(result))


def test_brute_force_lines_counts_a_known_case():
    from experiments.logic_gates import brute_force_lines

    # on the grid {-1, -0.5, 0, 0.5, 1}^3: AND needs w0 < 0, w0 + w1 < 0, w0 + w2 < 0 and
    # w0 + w1 + w2 >= 0: only (-1, 0.5, 0.5). OR needs w0 < 0, w0 + w1 >= 0, w0 + w2 >= 0:
    # (-1, 1, 1) and w0 = -0.5 with w1, w2 in {0.5, 1}, five in all. NAND needs w0 >= 0,
    # w0 + w1 >= 0, w0 + w2 >= 0, w0 + w1 + w2 < 0: (0.5, -0.5, -0.5) and three with w0 = 1.
    counts = brute_force_lines(5, 1.0)
    assert counts == {"and": 1, "or": 5, "nand": 4, "xor": 0}


def test_xor_training_vmapped_equals_per_seed():
    import jax
    import numpy as np

    from experiments import _xor

    keys = jax.random.split(jax.random.key(5), 4)
    many = jax.jit(jax.vmap(lambda k: _xor.train(k, epochs=300)))(keys)
    for i in range(4):
        one = _xor.train(keys[i], epochs=300)
        assert int(one["epoch_solved"]) == int(many["epoch_solved"][i])
        np.testing.assert_allclose(one["loss"], many["loss"][i], rtol=1e-5)


def test_benchmark_numpy_baseline_trains_like_fit():
    import jax
    import numpy as np
    import optax

    import fnnet as fn
    from experiments import benchmark

    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor")
    keys = jax.random.split(jax.random.key(0), 3)
    p0 = jax.vmap(lambda k: net.init(k, "uniform", 0.5))(keys)

    def fit(p):
        s, h = fn.train.fit(
            net,
            optax.sgd(0.5),
            keys[0],
            (X, T),
            epochs=20,
            batch_size=4,
            loss="half_sse",
            init=p,
            record=fn.train.Record(history="final"),
        )
        return s.params, h["loss"]

    ref, ref_loss = jax.jit(jax.vmap(fit))(p0)
    got, loss = benchmark._numpy_xor(3, 20, params=jax.tree.map(np.asarray, p0))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)


def test_benchmark_worker_small():
    from experiments import benchmark

    small = {
        **benchmark.QUICK,
        "seeds": 64,
        "steps": 20,
        "chunk_size": 32,
        "loop_seeds": 2,
        "naive_steps": 5,
        "numpy_seeds": 64,
        "numpy_steps": 5,
        "big_seeds": 8,
        "big_steps": 3,
        "repeats": 1,
    }
    r = benchmark.worker(small)
    for method, _ in benchmark.METHODS:
        assert r[method]["seed_steps_per_s"] > 0, method
    assert r["big_auto"]["layout"] == "matrix"
    rows = benchmark.crossover(
        {**small, "crossover_seeds": 8, "crossover_steps": 3, "crossover_nets": [[[2, 2, 1], 4]]}
    )
    assert rows[0]["auto"] == "scalar" and rows[0]["scalar"]["seed_steps_per_s"] > 0


def test_wilson_interval():
    from experiments.xor_sweep import wilson

    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson(10, 10)[1] == pytest.approx(1.0, abs=1e-12)


def test_xor_sweep_small_resumes(tmp_path, monkeypatch):
    import experiments.xor_sweep as xs

    small = {**xs.QUICK, "seeds": 16, "epochs": 400, "ranges": [0.5, 8.0], "chunk_size": 8}
    monkeypatch.setattr(xs, "QUICK", small)
    result = _harness.run_experiment(xs, "quick", str(tmp_path))
    assert len(result["cells"]) == 2 * len(xs.OPTIMIZERS)
    for c in result["cells"]:
        assert 0.0 <= c["wilson95"][0] <= c["solved_fraction"] <= c["wilson95"][1] <= 1.0
    # the sweep's chunks are on disk: a forced rerun loads them instead of training again
    import fnnet as fn

    (sweep_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    assert not fn.sweep.status(str(sweep_dir)).missing
    again = _harness.run_experiment(xs, "quick", str(tmp_path), force=True)
    assert again["cells"] == result["cells"]
