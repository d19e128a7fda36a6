"""The minibatch-learning experiment (digits): end to end on tiny settings, and its measures and
choices on numbers worked out by hand."""

import math

import numpy as np
import pytest
from _experiment_checks import files_written

import experiments.digits as ex
from experiments import _harness, _protocol, _stats

# tiny programs compile several times faster at XLA's lowest optimisation level
LEVEL0 = {"xla_backend_optimization_level": 0}
TINY = {
    **ex.QUICK,
    "learning_rates": [0.3, 1.0],
    "tuning_seeds": 1,
    "seeds": 2,
    "epochs": {"full batch": 12, "minibatch": 4, "one at a time": 2},
    "timed_epochs": {"full batch": 4, "minibatch": 2, "one at a time": 1},
    "repeats": 2,
    "target": 0.8,
}


def test_digits_experiment_small(tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "QUICK", TINY)
    monkeypatch.setattr(ex, "COMPILER_OPTIONS", LEVEL0)
    result = _harness.run_experiment(ex, "quick", str(tmp_path))
    files_written(ex, result, tmp_path)
    assert result["n_train"] + result["n_validation"] == 1437 and result["n_validation"] == 285
    for arm in ex.ARMS:
        a, p = result["arms"][arm], result["arms"][arm]["per_seed"]
        # the tuned rate comes from the grid, and is the rate with the fewest mean passes to the
        # target among those whose every tuning run reached it
        assert a["learning_rate"] in TINY["learning_rates"]
        t = a["tuning"]
        full = [i for i, r in enumerate(t["reached"]) if all(r)]
        if full:
            best = min(full, key=lambda i: np.mean(t["passes_to_target"][i]))
            assert a["learning_rate"] == TINY["learning_rates"][best]
        # one plateau record per evaluation seed, and per tuning run
        assert a["plateau"]["n_runs"] == len(a["plateau"]["epoch"]) == 2
        assert t["plateau"]["n_runs"] == 2  # 2 rates × 1 tuning seed
        # steps and seconds are passes at the arm's steps and measured seconds per pass
        assert a["steps_per_pass"] * a["batch_size"] == result["n_train"]
        np.testing.assert_allclose(
            p["steps_to_target"], np.multiply(p["passes_to_target"], a["steps_per_pass"])
        )
        s = a["seconds_per_pass"]
        assert s["seconds"] == min(s["repeats"]) and len(s["repeats"]) == 2
        np.testing.assert_allclose(
            p["seconds_to_target"], np.multiply(p["passes_to_target"], s["seconds"])
        )
        assert all(1 <= e <= a["epochs"] for e in p["best_epoch"])
        # a missed target counts at the whole budget
        for passes, reached in zip(p["passes_to_target"], p["reached"], strict=True):
            assert reached or passes == a["epochs"]
    assert [result["arms"][a]["batch_size"] for a in ex.ARMS] == [1152, 32, 1]
    # the verdict follows the stated rule from the stored per-seed times
    mini = result["arms"]["minibatch"]
    for arm in ("full batch", "one at a time"):
        other, c = result["arms"][arm], result["comparisons"][arm]
        log_ratio = np.log(other["per_seed"]["seconds_to_target"]) - np.log(
            mini["per_seed"]["seconds_to_target"]
        )
        assert c["ratio"]["mean"] == pytest.approx(math.exp(log_ratio.mean()))
        converged = all(other["plateau"]["converged"]) and all(mini["plateau"]["converged"])
        assert c["converged"] == converged
        expected = ex.part_verdict(
            log_ratio, other["per_seed"]["reached"], mini["per_seed"]["reached"], converged
        )
        assert c["verdict"] == expected == result["parts"][f"minibatch faster than {arm}"]
        if not converged:
            assert c["verdict"] == "inconclusive"
    assert result["verdict"] == _protocol.combine(result["parts"])
    assert len(result["design"]) == 3
    text = "\n".join(ex.report(result))
    assert "2/2" in text or "0/2" in text or "1/2" in text
    assert "**" in text  # the chosen rates are marked in the tuning table
    assert "2 seeds" in result["headline"] and len(result["headline"]) < 160


def test_passes_to_target_interpolates_between_passes():
    initial = np.array([2.0, 2.0, 2.0])
    val = np.array([[1.0, 0.4, 0.1], [1.0, 0.9, 0.7], [np.nan, np.nan, np.nan]])
    passes, reached = ex.passes_to_target(initial, val, 0.5)
    # pass 2 is the first at or below 0.5: 1 + (1.0 - 0.5) / (1.0 - 0.4)
    assert passes[0] == pytest.approx(1 + 0.5 / 0.6)
    assert reached.tolist() == [True, False, False] and np.isnan(passes[1:]).all()
    # reached within the first pass: interpolated from the initial loss
    p, r = ex.passes_to_target(np.array([2.0]), np.array([[0.0, 0.0]]), 1.0)
    assert r[0] and p[0] == pytest.approx(0.5)


def test_rate_choice_uses_validation_numbers_alone():
    # rate 1 has the fewest passes on the run that reached, but a run missed: rate 2 is chosen
    passes = np.array([[30.0, 32.0], [5.0, np.nan], [10.0, 12.0]])
    reached = ~np.isnan(passes)
    val = np.ones((3, 2, 4))
    assert ex.choose_rate([0.1, 0.3, 1.0], passes, reached, val)[0] == 2
    # none reached on every run: the lowest mean best validation loss, a diverged run counting
    # as infinitely bad
    reached = np.zeros((3, 2), bool)
    val = np.stack([np.full((2, 4), 0.9), np.full((2, 4), 0.5), np.full((2, 4), np.nan)])
    assert ex.choose_rate([0.1, 0.3, 1.0], passes, reached, val) == (
        1,
        "none reached the target: lowest validation loss",
    )


def test_best_pass_and_times_ignore_the_test_set():
    rng = np.random.default_rng(0)
    h = {
        "eval_loss": np.array([[1.0, 0.5, 0.3, 0.4], [0.9, 0.6, 0.7, 0.2], [1.0, 0.9, 0.8, 0.7]]),
        "eval_accuracy": rng.uniform(size=(3, 4)),
        "loss": rng.uniform(size=(3, 4)),
        "test_accuracy": rng.uniform(size=(3, 4)),
    }
    settings, initial = {"target": 0.45}, np.full(3, 2.0)
    a = ex._per_seed(h, initial, settings, 36, 0.01)
    b = ex._per_seed({**h, "test_accuracy": 1 - h["test_accuracy"]}, initial, settings, 36, 0.01)
    assert a["best_epoch"] == b["best_epoch"] == [3, 4, 4]
    assert a["passes_to_target"] == b["passes_to_target"]
    assert a["test_accuracy_at_best"] == [
        h["test_accuracy"][i, e - 1] for i, e in enumerate([3, 4, 4])
    ]
    # seed 2 reaches 0.45 only at pass 4: 3 + (0.7 - 0.45) / (0.7 - 0.2)
    assert a["passes_to_target"][1] == pytest.approx(3.5)
    assert a["seconds_to_target"][1] == pytest.approx(0.035)
    # seed 3 misses the target: counted at its whole budget, a lower bound
    assert a["reached"] == [True, True, False]
    assert a["passes_to_target"][2] == 4 and a["seconds_to_target"][2] == pytest.approx(0.04)
    assert a["steps_to_target"][2] == 4 * 36


@pytest.mark.parametrize(
    "log_ratio, other, mini, converged, verdict",
    [
        ([1.0, 1.2, 0.9], [True] * 3, [True] * 3, True, "holds"),
        ([1.0, 1.2, 0.9], [True] * 3, [True, False, True], True, "inconclusive"),
        ([1.0, 1.2, 0.9], [True] * 3, [True] * 3, False, "inconclusive"),
        ([-1.0, -1.2, -0.9], [True] * 3, [True] * 3, True, "fails"),
        ([-1.0, -1.2, -0.9], [False, True, True], [True] * 3, True, "inconclusive"),
        ([1.0, -1.0, 0.1], [True] * 3, [True] * 3, True, "inconclusive"),
    ],
)
def test_part_verdict_follows_the_rule(log_ratio, other, mini, converged, verdict):
    assert ex.part_verdict(np.array(log_ratio), other, mini, converged) == verdict
    if verdict == "holds":
        assert _stats.mean_interval(log_ratio)["ci"][0] > 0
