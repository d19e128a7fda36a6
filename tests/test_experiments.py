import json

import pytest

import experiments.digits
import experiments.gradient_check
from experiments import _harness


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
