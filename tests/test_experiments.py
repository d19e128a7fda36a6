"""End-to-end runs of the introductory experiments (gradient check, digits, linear classifier,
logic gates, XOR sweep) on tiny settings, and checks of their helpers."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _experiment_checks import files_written
from _markdown import assert_tables_well_formed

import experiments.digits
import experiments.gradient_check
import fnnet as fn
from experiments import _harness, _stats


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

    small = {**lc.QUICK, "data_seeds": 8}  # fewer insects would leave L = 0.01 still moving
    monkeypatch.setattr(lc, "QUICK", small)
    result = _harness.run_experiment(lc, "quick", str(tmp_path))
    files_written(lc, result, tmp_path)
    assert result["book"]["1.0"]["A_after_each_update"][-1] == pytest.approx(2.9)
    assert result["parts"] == {"book": "holds", "accuracy": "holds", "steadiness": "holds"}
    assert result["verdict"] == "holds" and len(result["design"]) == 3
    # every L, every data seed: one plateau record each; the paired difference is of the
    # per-seed values of the two arms, seed by seed
    for lr in small["lrs"]:
        r = result["noisy"][str(lr)]
        assert len(r["plateau"]["epoch"]) == len(r["final_accuracy"]["values"]) == 8
    assert set(result["compared"]) == {"0.5", "0.1", "0.01"}
    acc = {k: np.array(v["mean_accuracy_last"]["values"]) for k, v in result["noisy"].items()}
    d = result["compared"]["0.01"]["accuracy_minus_L1"]
    np.testing.assert_allclose(d["values"], acc["0.01"] - acc["1.0"])
    assert d["ci"][0] > 0 and d["n"] == 8
    var = [result["noisy"][str(lr)]["var_A_last"]["mean"] for lr in small["lrs"]]
    assert var == sorted(var, reverse=True)
    assert "8 data seeds" in result["headline"] and "[" in result["headline"]
    assert "| 0.01 |" in _check_entries(lc, result)


def test_linear_classifier_criterion_fires():
    """Each L < 1 is judged against L = 1 by its paired interval: worse accuracy fails, an
    unconverged arm is inconclusive, and the parts combine as the criterion says."""
    import experiments.linear_classifier as lc

    rng = np.random.default_rng(0)
    base = 0.8 + 0.01 * rng.standard_normal(16)
    measures = {
        "mean_accuracy_last": np.stack([base, base + 0.1, base - 0.1]),
        "var_A_last": np.stack([np.full(16, 2.0), np.full(16, 0.1), np.full(16, 3.0)]),
    }
    converged = np.ones((3, 16), bool)
    c = lc._compare(measures, {"converged": converged}, [1.0, 0.5, 0.1])
    assert c["0.5"]["accuracy_verdict"] == c["0.5"]["steadiness_verdict"] == "holds"
    assert c["0.1"]["accuracy_verdict"] == c["0.1"]["steadiness_verdict"] == "fails"
    converged[0, 3] = False  # one run of L = 1 not levelled off: nothing can be decided
    c = lc._compare(measures, {"converged": converged}, [1.0, 0.5, 0.1])
    assert {v["accuracy_verdict"] for v in c.values()} == {"inconclusive"}
    # the book's part fails when the line without a learning rate misses the last target
    book = {"1.0": lc._book(1.0), "0.5": lc._book(0.5)}
    assert lc._book_verdict(book) == "holds"
    book["1.0"]["final_errors"][1] = 0.01
    assert lc._book_verdict(book) == "fails"


def test_linear_classifier_loss_is_the_update_s_objective():
    """ΔA = L (E / x) is a gradient step on ½ (t/x - A)²: the loss computed from the moments
    equals the direct mean, and an update with L = 1 lands on the example's t/x."""
    import experiments.linear_classifier as lc

    ratio = np.array([0.5, 2.0, 3.5])
    A = np.array([[[0.0, 1.0, 2.0]]])
    runs = {"slope": A, "ratio_moments": np.array([[[ratio.mean(), (ratio**2).mean()]]])}
    direct = 0.5 * ((ratio[None, :] - A[0, 0][:, None]) ** 2).mean(1)
    np.testing.assert_allclose(lc._loss(runs)[0, 0], direct)
    A1, _ = fn.linear.fit(0.25, np.array([2.0]), np.array([3.0]), lr=1.0)
    assert float(A1) == pytest.approx(1.5)


def test_linear_classifier_accuracy_curve_equals_classify():
    import experiments.linear_classifier as lc

    points, labels = fn.data.insects(jax.random.key(0), 300, 0.3)
    slopes = jax.random.uniform(jax.random.key(1), (400,), minval=0.0, maxval=5.0)
    ref = jax.vmap(lambda a: jnp.sum(fn.linear.classify(a, points) == labels))(slopes)
    got = lc.accuracy_curve(slopes, points, labels) * 300
    np.testing.assert_array_equal(np.round(np.asarray(got)), np.asarray(ref))
    # the slopes range from lines that get half the insects right to ones that get nearly all
    assert float(got.min()) <= 160 and float(got.max()) >= 290


def test_logic_gates_experiment_small(tmp_path, monkeypatch):
    import experiments.logic_gates as lg

    small = {**lg.QUICK, "seeds": 64, "grid_points": 21, "mlp_seeds": 16, "mlp_epochs": 1000}
    monkeypatch.setattr(lg, "QUICK", small)
    result = _harness.run_experiment(lg, "quick", str(tmp_path))
    files_written(lg, result, tmp_path)
    conv = {g: r["converged"]["fraction"] for g, r in result["perceptron"].items()}
    assert conv == {"and": 1.0, "or": 1.0, "nand": 1.0, "xor": 0.0}
    for gate in lg.SEPARABLE:  # every seed within its Novikoff bound, the budget above it
        r = result["perceptron"][gate]
        assert r["within_bound"] == 64 and r["slack_min"] >= 0
        assert r["mistakes_max"] <= r["bound_max"] <= r["bound_worst_start"] < small["epochs"]
    assert min(result["perceptron"]["xor"]["mistakes_per_epoch_min"]) >= 1
    assert result["grid_separating_lines"]["xor"] == 0
    assert result["grid_separating_lines"]["and"] > 0
    assert result["hand_built_xor"]["truth_table"] == [0.0, 1.0, 1.0, 0.0]
    b = result["backprop_xor"]["2-2-1"]
    solved = b["solved"]
    assert 0.5 < solved["fraction"] <= 1.0 and solved["of"] == 16
    assert b["wilson95"][0] <= solved["fraction"] <= b["wilson95"][1]
    plateau = b["solved_fraction_plateau"]  # one record: the cell's solved fraction
    assert plateau["n_runs"] == 1 and isinstance(plateau["converged"], bool)
    assert set(result["parts"]) == {
        "separable gates",
        "XOR, one layer",
        "XOR by hand",
        "XOR by backprop",
    }
    assert result["parts"]["separable gates"] == result["parts"]["XOR, one layer"] == "holds"
    assert result["verdict"] == lg._protocol.combine(result["parts"])
    assert len(result["figures"]) == 4 and len(result["design"]) == 3
    assert "XOR 0/64" in result["headline"]
    text = _check_entries(lg, result)
    assert "| XOR | 0 | 0/64 |" in text


def test_logic_gates_margins_and_novikoff_bound():
    """The largest margins of the gates (1/√17 for AND and NAND, 1/3 for OR, 0 for XOR); from
    w = 0 the bound is (R/γ)² = 3 · 17 = 51 for AND; the run refuses a budget below the bound."""
    import experiments.logic_gates as lg

    assert lg.margin("and")[0] == pytest.approx(1 / np.sqrt(17))
    assert lg.margin("nand")[0] == pytest.approx(1 / np.sqrt(17))
    assert lg.margin("or")[0] == pytest.approx(1 / 3)
    assert lg.margin("xor") == (0.0, None)
    gamma, u = lg.margin("and")
    assert int(lg.novikoff_bound(np.zeros(3), u, gamma, 0.1)) == 51
    # a start against u needs more mistakes than one along it
    w = 0.5 * u
    assert lg.novikoff_bound(-w, u, gamma, 0.1) > lg.novikoff_bound(w, u, gamma, 0.1)
    assert lg.worst_bound(gamma, 0.1, 0.5) == 122
    with pytest.raises(ValueError, match="expected epochs >= 123"):
        lg.run({**lg.QUICK, "epochs": 100}, "unused")


def test_logic_gates_backprop_part_fires():
    import experiments.logic_gates as lg

    def parts(wilson, levelled):
        mlp = {"2-2-1": {"wilson95": wilson, "solved_fraction_plateau": {"converged": levelled}}}
        perceptron = {
            g: {
                "converged": {"count": 0 if g == "xor" else 8, "of": 8},
                "within_bound": 8,
                "margin": 0.0 if g == "xor" else 0.3,
            }
            for g in lg.GATES
        }
        grid = {"and": 1, "or": 1, "nand": 1, "xor": 0}
        return lg._parts(perceptron, grid, [0.0, 1.0, 1.0, 0.0], mlp)["XOR by backprop"]

    assert parts([0.6, 0.7], True) == parts([0.6, 0.7], False) == "holds"
    assert parts([0.2, 0.4], True) == "fails"
    assert parts([0.2, 0.4], False) == "inconclusive"  # still rising: more budget could help
    assert parts([0.4, 0.6], True) == "inconclusive"


def test_logic_gates_backprop_runs_are_the_sweep_s():
    """logic_gates' backprop seeds are the XOR sweep's: the classic cell of a sweep and the
    logic-gates runs solve at the same epochs, seed by seed."""
    import experiments.logic_gates as lg
    import experiments.xor_sweep as xs

    settings = {**xs.QUICK, "epochs": 300, "tol": 0.4}
    train_one = xs.make_train_one(settings)
    sweep = fn.sweep.run(
        train_one,
        8,
        grid={"scale": np.array([0.5], np.float32), "optimizer": np.array([0], np.int32)},
        progress=False,
    )

    class Bar:
        def update(self, k):
            pass

    s = {**lg.QUICK, "mlp_seeds": 8, "mlp_epochs": 300, "mlp_sizes": [[2, 2, 1]]}
    mlp, _ = lg._backprop_results(s, Bar())
    np.testing.assert_array_equal(mlp["2-2-1"]["epochs_solved"], sweep.values["epoch_solved"][0, 0])


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
    files_written(xs, result, tmp_path)
    assert len(result["cells"]) == 2 * len(xs.OPTIMIZERS) and len(result["design"]) == 3
    for c in result["cells"]:
        assert 0.0 <= c["wilson95"][0] <= c["solved_fraction"] <= c["wilson95"][1] <= 1.0
        assert c["solved"] == round(c["solved_fraction"] * 16) and c["of"] == 16
        if c["epochs_median"] is not None:
            lo, hi = c["epochs_median95"]
            assert lo <= c["epochs_median"] <= hi
    assert set(result["parts"]) == {
        "most starts",
        "how often: initial range",
        "how fast: initial range",
        "how often: optimizer",
        "how fast: optimizer",
    }
    assert result["verdict"] == xs._protocol.combine(result["parts"])
    # one call per level of the other factor
    assert len(result["effects"]["how often: optimizer"]["at"]) == 2
    assert len(result["effects"]["how fast: initial range"]["at"]) == len(xs.OPTIMIZERS)
    assert "16 seeds/cell" in result["headline"] and "init ±" in result["headline"]
    assert "plain SGD" in _check_entries(xs, result)
    # the sweep's chunks are on disk: a forced rerun loads them instead of training again
    (sweep_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    assert not fn.sweep.status(str(sweep_dir)).missing
    again = _harness.run_experiment(xs, "quick", str(tmp_path), force=True)
    assert again["cells"] == result["cells"]


def _cell(fraction, levelled=True, median=100.0, n=1000, spread=0.05, rho=0.5, momentum=0.0):
    from experiments import _stats

    solved = round(fraction * n)
    return {
        "range": rho,
        "lr": 0.5,
        "momentum": momentum,
        "solved_fraction": solved / n,
        "wilson95": list(_stats.wilson(solved, n)),
        "levelled": levelled,
        "epochs_median": median,
        "epochs_median95": (median * (1 - spread), median * (1 + spread)),
    }


def test_xor_sweep_calls_fire():
    """The per-level calls and the part verdicts of the criterion: strong, not strong and
    undecided each reached, a rising cell keeps "not strong" from being called."""
    import experiments.xor_sweep as xs

    name = lambda c: f"±{c['range']:g}"  # noqa: E731
    assert xs._often([_cell(0.9), _cell(0.5, rho=8.0)], name)["call"] == "strong"
    assert xs._often([_cell(0.9), _cell(0.88, rho=8.0)], name)["call"] == "not strong"
    # 0.9 vs 0.72: 18 points, but the intervals reach 20 apart
    assert xs._often([_cell(0.9), _cell(0.72, rho=8.0)], name)["call"] == "undecided"
    rising = [_cell(0.9), _cell(0.88, rho=8.0), _cell(0.05, levelled=False, rho=0.1)]
    assert xs._often(rising, name)["call"] == "undecided"
    assert xs._often(rising[1:], name)["call"] == "undecided"  # one levelled cell only
    assert xs._fast([_cell(0.9, median=100), _cell(0.9, median=300)], name)["call"] == "strong"
    assert xs._fast([_cell(0.9, median=100), _cell(0.9, median=150)], name)["call"] == (
        "not strong"
    )
    wide = [_cell(0.9, median=100, spread=0.5), _cell(0.9, median=250, spread=0.5)]
    assert xs._fast(wide, name)["call"] == "undecided"
    assert xs._part(["strong", "strong"]) == "holds"
    assert xs._part(["not strong", "not strong"]) == "fails"
    assert xs._part(["strong", "not strong"]) == xs._part(["strong", "undecided"]) == "partly"
    assert xs._part(["not strong", "undecided"]) == "inconclusive"


def test_median_interval():
    # Binomial(100, 1/2): P(B <= 39) < 2.5% <= P(B <= 40), so the 40th and 61st values
    assert _stats.median_interval(np.arange(1, 101)) == (40.0, 61.0)
    assert _stats.median_interval([7]) == (7.0, 7.0)
    assert _stats.median_interval([]) is None


def test_unsolved_curve():
    from experiments import _xor

    e = np.array([[3, -1, 1, 5], [2, 2, -1, -1]])
    np.testing.assert_allclose(
        _xor.unsolved_curve(e, 5),
        [[0.75, 0.75, 0.5, 0.5, 0.25], [1.0, 0.5, 0.5, 0.5, 0.5]],
    )


def test_gradient_check_float32_rounding_rule():
    """A float32 check above its tolerance passes only where the hand-derived gradient is as
    accurate, against float64, as jax.grad's own float32 gradient (within a factor 10)."""
    from experiments import gradient_check as gc

    def rows(hand_vs_float64):
        f32 = {
            "dtype": "float32",
            "vs_jax_grad": [0.0, 7e-5],
            "hand_vs_float64": [1e-7, hand_vs_float64],
            "jax_grad_vs_float64": [1e-7, 3e-5],
        }
        f64 = {"dtype": "float64", "vs_jax_grad": [0.0, 1e-14], "vs_central_diff": [1e-9, 1e-9]}
        return [f32, f64]

    s = gc._summarise(rows(2e-4))["float32"]
    assert (s["checks"], s["passed"], s["passed_by_tolerance"]) == (2, 2, 1)
    s = gc._summarise(rows(4e-4))["float32"]  # more than 10 x jax.grad's error: a wrong gradient
    assert (s["checks"], s["passed"], s["passed_by_tolerance"]) == (2, 1, 1)
