"""End-to-end runs of the introductory experiments (gradient check, digits, linear classifier,
logic gates, XOR sweep) on tiny settings, and checks of their helpers."""

import json

import jax
import numpy as np
import pytest
from _markdown import assert_tables_well_formed

import experiments.digits
import experiments.gradient_check
import fnnet as fn
from experiments import _harness


def _check_entries(module, result):
    """What every experiment's result carries for the runner, and a report that renders."""
    for k in ("headline", "seeds"):
        assert isinstance(result[k], str) and result[k]
    lines = module.report(result)
    assert_tables_well_formed(lines)
    return "\n".join(lines)


def test_gradient_check_runs_writes_result_and_resumes(tmp_path, monkeypatch):
    gc = experiments.gradient_check
    monkeypatch.setattr(gc, "QUICK", {"n_random": 1, "draws": 2, "seed": 3})
    out = tmp_path / "gradient_check"
    result = _harness.run_experiment(gc, "quick", str(out))
    saved = json.loads((out / "result.json").read_text())
    f32, f64 = saved["summary"]["float32"], saved["summary"]["float64"]
    assert f64["max_rel_vs_jax_grad"] < 1e-10 and f32["max_rel_vs_jax_grad"] < 1e-5
    assert f64["max_vs_central_diff"] < 1e-7 and "max_vs_central_diff" not in f32
    # 2 networks (the lecture's and one random) x 2 draws, per dtype
    assert f32["checks"] == f64["checks"] == 4 == f32["passed"] == f64["passed"]
    assert (out / "gradient_check.png").stat().st_size > 0
    assert saved["verdict"] == "holds" and saved["versions"]["jax"]
    text = _check_entries(gc, result)
    assert "2-2-1 sigmoid/sigmoid" in text and "2 networks × 2 draws" in result["seeds"]
    # a finished result with the same settings is kept, not recomputed
    monkeypatch.setattr(gc, "run", lambda *a: 1 / 0)
    assert _harness.run_experiment(gc, "quick", str(out)) == saved
    assert result["summary"] == saved["summary"]


def test_gradient_check_fails_a_wrong_backprop(tmp_path, monkeypatch):
    """The check has teeth: a hand-derived gradient off by 0.1% fails it."""
    gc = experiments.gradient_check
    right = fn.backprop.grad
    monkeypatch.setattr(
        fn.backprop, "grad", lambda *a, **k: jax.tree.map(lambda g: g * 1.001, right(*a, **k))
    )
    result = gc.run({"n_random": 0, "draws": 2, "seed": 0}, str(tmp_path))
    assert result["verdict"] == "fails"
    assert result["summary"]["float64"]["passed"] == 0
    assert result["summary"]["float64"]["central_passed"] == 0


def test_gradient_check_cases_cover_every_activation_and_loss():
    cases = experiments.gradient_check.make_cases(4, seed=0)
    assert cases[0]["sizes"] == (2, 2, 1) and cases[0]["loss"] == "mse"
    assert {c["hidden"] for c in cases[1:]} == {"identity", "sigmoid", "tanh", "relu"}
    assert {c["loss"] for c in cases[1:]} == set(fn.losses.names())
    for c in cases:
        assert 1 <= len(c["sizes"]) - 1 <= 5 and all(1 <= w <= 16 for w in c["sizes"][1:])
        assert (c["output"] == "identity") == (c["loss"] == "softmax_cross_entropy")


def test_gradient_check_error_measures():
    gc = experiments.gradient_check
    ref = [{"W": np.array([[[3.0, 4.0]]]), "b": np.array([[0.0]])}]  # one draw
    off = [{"W": np.array([[[3.0, 4.5]]]), "b": np.array([[0.25]])}]
    # W: |(0, 0.5)| / |(3, 4)| = 0.1; b: its reference is 0, so the plain difference 0.25
    assert gc.relative_errors(off, ref) == pytest.approx([0.25])
    assert gc.relative_errors(ref, ref) == pytest.approx([0.0])
    # the largest entry difference, 0.5, divided by max(1, |L|)
    assert gc.scaled_differences(off, ref, np.array([0.5])) == pytest.approx([0.5])
    assert gc.scaled_differences(off, ref, np.array([-5.0])) == pytest.approx([0.1])


def test_linear_classifier_experiment_small(tmp_path, monkeypatch):
    import experiments.linear_classifier as lc

    small = {**lc.QUICK, "n_points": 200, "data_seeds": 8, "last": 50}
    monkeypatch.setattr(lc, "QUICK", small)
    result = _harness.run_experiment(lc, "quick", str(tmp_path))
    assert result["book_arithmetic_reproduced"]
    assert result["book"]["1.0"]["A_after_each_update"][-1] == pytest.approx(2.9)
    var = [result["noisy"][str(lr)]["var_A_last"]["mean"] for lr in small["lrs"]]
    assert var == sorted(var, reverse=True)
    assert all(len(r["final_accuracy"]["values"]) == 8 for r in result["noisy"].values())
    assert result["verdict"] == "holds"
    assert "8 data seeds" in result["headline"] and "±" in result["headline"]
    assert "mean ± sd over 8 data seeds" in _check_entries(lc, result)
    assert all((tmp_path / f).stat().st_size > 0 for f in result["figures"])


def test_logic_gates_experiment_small(tmp_path, monkeypatch):
    import experiments.logic_gates as lg

    small = {**lg.QUICK, "seeds": 64, "grid_points": 21, "mlp_seeds": 16, "mlp_epochs": 1000}
    monkeypatch.setattr(lg, "QUICK", small)
    result = _harness.run_experiment(lg, "quick", str(tmp_path))
    conv = {g: r["converged"]["fraction"] for g, r in result["perceptron"].items()}
    assert conv == {"and": 1.0, "or": 1.0, "nand": 1.0, "xor": 0.0}
    assert min(result["perceptron"]["xor"]["mistakes_per_epoch_min"]) >= 1
    assert result["grid_separating_lines"]["xor"] == 0
    assert result["grid_separating_lines"]["and"] > 0
    assert result["hand_built_xor"]["truth_table"] == [0.0, 1.0, 1.0, 0.0]
    solved = result["backprop_xor"]["2-2-1"]["solved"]
    assert 0.5 < solved["fraction"] <= 1.0 and solved["of"] == 16
    lo, hi = result["backprop_xor"]["2-2-1"]["wilson95"]
    assert lo <= solved["fraction"] <= hi
    assert len(result["figures"]) == 4
    assert "XOR 0/64" in result["headline"]
    text = _check_entries(lg, result)
    assert "| XOR | 0/64 |" in text


def test_logic_gates_chunks_equal_one_call():
    from experiments.logic_gates import _chunked

    keys = jax.random.split(jax.random.key(3), 10)
    program = jax.jit(jax.vmap(lambda k: {"u": jax.random.uniform(k, (2,))}))

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    chunked = _chunked(program, keys, 4, bar)  # 4 + 4 + 2 (padded to 4)
    np.testing.assert_array_equal(chunked["u"], np.asarray(program(keys)["u"]))
    assert bar.n == 10


def test_brute_force_lines_counts_a_known_case():
    from experiments.logic_gates import brute_force_lines

    # on the grid {-1, -0.5, 0, 0.5, 1}^3: AND needs w0 < 0, w0 + w1 < 0, w0 + w2 < 0 and
    # w0 + w1 + w2 >= 0: only (-1, 0.5, 0.5). OR needs w0 < 0, w0 + w1 >= 0, w0 + w2 >= 0:
    # (-1, 1, 1) and w0 = -0.5 with w1, w2 in {0.5, 1}, five in all. NAND needs w0 >= 0,
    # w0 + w1 >= 0, w0 + w2 >= 0, w0 + w1 + w2 < 0: (0.5, -0.5, -0.5) and three with w0 = 1.
    counts = brute_force_lines(5, 1.0)
    assert counts == {"and": 1, "or": 5, "nand": 4, "xor": 0}


def test_xor_training_vmapped_equals_per_seed():
    from experiments import _xor

    keys = jax.random.split(jax.random.key(5), 4)
    many = jax.jit(jax.vmap(lambda k: _xor.train(k, epochs=300)))(keys)
    single = jax.jit(lambda k: _xor.train(k, epochs=300))  # one seed per call
    for i in range(4):
        one = single(keys[i])
        assert int(one["epoch_solved"]) == int(many["epoch_solved"][i])
        np.testing.assert_allclose(one["loss"], many["loss"][i], rtol=1e-5)


def test_wilson_interval():
    from experiments._stats import wilson

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
    fractions = [c["solved_fraction"] for c in result["cells"]]
    assert result["best_cell"]["solved_fraction"] == max(fractions)
    assert result["worst_cell"]["solved_fraction"] == min(fractions)
    assert "16 seeds per cell" in result["headline"]
    assert "plain SGD" in _check_entries(xs, result)
    # the sweep's chunks are on disk: a forced rerun loads them instead of training again
    (sweep_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    assert not fn.sweep.status(str(sweep_dir)).missing
    again = _harness.run_experiment(xs, "quick", str(tmp_path), force=True)
    assert again["cells"] == result["cells"]
