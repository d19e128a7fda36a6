"""The vanishing-gradient factorial end to end on tiny settings, its choices (made from validation
numbers alone) and the numbers it rests on."""

import numpy as np
import pytest
from _experiment_checks import files_written

import experiments.vanishing_gradient as vanishing
from experiments import _harness

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
QUICK_COMPILE = {p: {"xla_backend_optimization_level": 0} for p in ("at_init", "train")}
TINY = {
    "depth": 4,
    "width": 16,
    "n_train": 200,
    "n_val": 100,
    "n_test": 100,
    "init_seeds": 4,
    "grad_batch": 20,
    "hist_examples": 50,
    "batch_size": 50,
    "learning_rates": [0.01, 0.1],
    "seeds": 2,
    "epochs": 6,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("vanishing")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vanishing, "QUICK", {**vanishing.QUICK, **TINY})
        mp.setattr(vanishing, "COMPILER_OPTIONS", QUICK_COMPILE)
        result = _harness.run_experiment(vanishing, "quick", str(out))
        files_written(vanishing, result, out)
    return result


def test_factorial_has_every_cell_with_the_same_budget(tiny):
    cells = tiny["cells"]
    assert set(cells) == {f"{a}-{i}" for a in vanishing.ACTIVATIONS for i in vanishing.INITS}
    grid = TINY["learning_rates"]
    assert tiny["steps"] == TINY["epochs"] * (TINY["n_train"] // TINY["batch_size"])
    for c in cells.values():
        t = c["training"]
        # one budget: every run of every cell trains the same epochs of the same minibatches
        assert t["epochs"] == TINY["epochs"]
        assert t["learning_rate"] in grid
        # the plateau record: one entry per seed at the chosen rate, and per rate × seed
        assert len(t["plateau"]["converged"]) == len(t["plateau"]["epoch"]) == TINY["seeds"]
        assert np.shape(t["plateau_by_rate"]["converged"]) == (len(grid), TINY["seeds"])
        assert len(t["test_accuracy_at_chosen"]["values"]) == TINY["seeds"]
        assert all(1 <= e <= TINY["epochs"] for e in t["chosen_epoch"])
        # the rate chosen is the best-scoring one on validation: the mean over seeds of each
        # run's best validation accuracy (0 where it diverged), the smaller rate on ties
        best = np.asarray(t["best_val_accuracy"])
        scores = np.where(t["diverged_by_rate"], 0.0, best).mean(axis=1)
        assert np.allclose(t["rate_scores"], scores)
        assert t["learning_rate"] == grid[int(np.argmax(scores))] == grid[t["rate_index"]]
        # the chosen rate's runs are the ones reported: their validation accuracy at the chosen
        # epoch is their best
        assert np.allclose(t["val_accuracy_at_chosen"], best[t["rate_index"]])
        assert len(c["init"]["grad_norm_batch_geomean"]) == TINY["depth"] + 1


def test_gradient_numbers_follow_the_per_layer_factor(tiny):
    """ρ = √n · σ · rms g'(z) per layer: sigmoid with N(0, 0.01²) on width 16 loses a factor of
    about 100 per layer; sigmoid with Xavier's weights about 3 to 4; ReLU with He's keeps it."""
    cells = tiny["cells"]
    small = cells["sigmoid-small"]["init"]["ratio_batch"]
    assert small["ci"][1] < 1e-4
    assert cells["sigmoid-xavier"]["init"]["ratio_batch"]["ci"][1] < 0.1
    relu = cells["relu-he"]["init"]["ratio_batch"]
    assert 0.1 < relu["ci"][0] and relu["ci"][1] < 10
    # in the linear regime (tanh and ReLU with tiny weights) the activations shrink forward as the
    # error shrinks backward: every layer's weight gradient is equally tiny, r near 1
    for name in ("tanh-small", "relu-small"):
        c = cells[name]["init"]
        assert 0.3 < c["ratio_batch"]["geomean"] < 3
        assert max(c["grad_norm_batch_geomean"]) < 1e-3 * min(
            cells["relu-he"]["init"]["grad_norm_batch_geomean"]
        )
    # ReLU units with He's weights are inactive about half the time
    assert 0.3 < np.mean(cells["relu-he"]["init"]["saturated_per_layer"]) < 0.7


def test_verdict_parts_follow_the_criterion(tiny):
    parts = tiny["parts"]
    assert len(parts) == 3 and tiny["verdict"] == vanishing._protocol.combine(parts)
    assert parts["(a) sigmoid's gradient vanishes"] in ("holds", "fails", "inconclusive")
    # 6 epochs: runs that still learn have not levelled off, so part (c) cannot be decided
    converged = all(
        all(tiny["cells"][c]["training"]["plateau"]["converged"])
        for c in (*vanishing.SIGMOID_CELLS, vanishing.RELU_CELL)
    )
    if not converged:
        assert parts["(c) sigmoid hardly trains, ReLU trains"] == "inconclusive"
    text = "\n".join(vanishing.report(tiny))
    # ReLU's zeros are inactive units, not saturated ones
    line = next(ln for ln in text.splitlines() if ln.startswith("Hidden layer"))
    for label in ("ReLU, N(0, 0.01²)", "ReLU, Xavier", "ReLU, He"):
        assert line.split(f"{label} ")[1].split(",")[0].endswith("inactive (zero)")
    assert line.split("sigmoid, Xavier ")[1].split(",")[0].endswith("saturated")
    assert "r, batch" in text and "single example" in text
    assert len(tiny["headline"]) < 160


def test_choose_rate_uses_validation_only():
    # val, loss: (cells=1, rates=3, seeds=2, epochs=3)
    val = np.array(
        [
            [
                [[0.1, 0.3, 0.2], [0.1, 0.2, 0.3]],  # best 0.3, 0.3
                [[0.5, 0.4, 0.2], [0.1, 0.2, np.nan]],  # best 0.5; the second diverged
                [[0.1, 0.2, 0.3], [0.3, 0.3, 0.3]],
            ]
        ]
    )  # best 0.3, 0.3: ties with rate 0
    loss = np.ones_like(val)
    loss[0, 1, 1, 2] = np.nan
    index, score = vanishing.choose_rate(val, loss)
    # rate 1 scores (0.5 + 0) / 2 = 0.25; rates 0 and 2 score 0.3: the smaller rate wins
    assert np.allclose(score, [[0.3, 0.25, 0.3]]) and int(index[0]) == 0
    loss[0, 1, 1, 2] = 1.0
    val[0, 1, 1, 2] = 0.2
    index, score = vanishing.choose_rate(val, loss)
    assert np.allclose(score[0, 1], 0.35) and int(index[0]) == 1


def test_rate_and_epoch_are_chosen_on_validation_whatever_the_test_says():
    settings = {**vanishing.QUICK, **TINY, "epochs": 4}
    # (rates, seeds, epochs): rate 0 has the better test accuracy everywhere, rate 1 the better
    # validation accuracy; within rate 1 the test accuracy peaks away from the best validation
    val = np.array(
        [
            [[0.1, 0.2, 0.2, 0.1], [0.1, 0.3, 0.2, 0.1]],
            [[0.2, 0.5, 0.5, 0.3], [0.1, np.nan, 0.4, 0.2]],
        ]
    )
    test = np.array(
        [
            [[0.99, 0.99, 0.99, 0.99], [0.99, 0.99, 0.99, 0.99]],
            [[0.9, 0.1, 0.2, 0.95], [0.8, 0.9, 0.1, 0.7]],
        ]
    )
    h = {"val_accuracy": val, "test_accuracy": test, "loss": np.ones((2, 2, 4))}
    entry = vanishing._training_entry(settings, h)
    assert entry["rate_index"] == 1 and entry["learning_rate"] == TINY["learning_rates"][1]
    assert entry["chosen_epoch"] == [2, 3]  # first best validation epoch; NaN never chosen
    assert entry["test_accuracy_at_chosen"]["values"] == [0.1, 0.1]
    assert entry["final_test_accuracy"]["values"] == [0.95, 0.7]


def test_bad_settings_are_refused():
    base = {**vanishing.QUICK, **TINY}
    with pytest.raises(ValueError, match="init_seeds"):
        vanishing._check({**base, "init_seeds": 1})
    with pytest.raises(ValueError, match="learning_rates"):
        vanishing._check({**base, "learning_rates": [0.1, -1]})
    with pytest.raises(ValueError, match="n_train"):
        vanishing.split({**base, "n_train": 3900, "n_val": 200})


def _cells(r_sigmoid, r_relu, acc_sigmoid, acc_relu, converged=True):
    """Minimal cell entries for :func:`vanishing.parts`: log10 r intervals and accuracy
    intervals of the claim's three cells."""

    def cell(r, acc):
        return {
            "init": {"ratio_batch": {"log10": {"ci": list(np.log10(r))}}},
            "training": {
                "test_accuracy_at_chosen": {"ci": list(acc)},
                "plateau": {"converged": [converged, True]},
            },
        }

    cells = {name: cell(r_sigmoid, acc_sigmoid) for name in vanishing.SIGMOID_CELLS}
    cells[vanishing.RELU_CELL] = cell(r_relu, acc_relu)
    return cells


def test_parts_follow_the_stated_thresholds():
    a, b, c = (
        "(a) sigmoid's gradient vanishes",
        "(b) ReLU keeps it",
        "(c) sigmoid hardly trains, ReLU trains",
    )
    claim = vanishing.parts(_cells((1e-6, 1e-4), (0.2, 0.5), (0.09, 0.12), (0.3, 0.4)))
    assert claim == {a: "holds", b: "holds", c: "holds"}
    # r exactly on a line decides nothing; beyond it, the part fails
    edge = vanishing.parts(_cells((1e-3, 1e-2), (0.1, 0.5), (0.1, 0.2), (0.2, 0.4)))
    assert edge == {a: "inconclusive", b: "inconclusive", c: "inconclusive"}
    wrong = vanishing.parts(_cells((0.02, 0.5), (11.0, 30.0), (0.25, 0.3), (0.3, 0.4)))
    assert wrong == {a: "fails", b: "fails", c: "fails"}
    relu_dead = vanishing.parts(_cells((1e-6, 1e-4), (0.2, 0.5), (0.09, 0.12), (0.09, 0.15)))
    assert relu_dead[c] == "fails"
    # a run of the claim's cells that has not levelled off leaves part (c) undecided
    moving = vanishing.parts(_cells((1e-6, 1e-4), (0.2, 0.5), (0.09, 0.12), (0.3, 0.4), False))
    assert moving == {a: "holds", b: "holds", c: "inconclusive"}
