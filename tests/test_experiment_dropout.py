"""The dropout experiment end to end on tiny settings, and the choices it rests on: learning rates
and epochs chosen on validation alone, equal budgets, the plateau record, the verdict's rule."""

import jax
import numpy as np
import pytest
from _experiment_checks import files_written

import experiments.dropout as dropout
from experiments import _harness, _protocol, _stats

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
FAST_COMPILE = {"xla_backend_optimization_level": 0}
TINY = {
    **dropout.QUICK,
    "n_train": 100,
    "n_val": 200,
    "hidden": [32],
    "rates": [0.0, 0.5],
    "lrs": [1e-2, 3e-2],
    "seeds": 2,
    "epochs": 40,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("dropout")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dropout, "QUICK", TINY)
        mp.setattr(dropout, "COMPILER_OPTIONS", FAST_COMPILE)
        result = _harness.run_experiment(dropout, "quick", str(out))
    return result, out


def test_dropout_small_end_to_end(tiny):
    result, out = tiny
    files_written(dropout, result, out)
    base, drop = result["arms"]["0.0"], result["arms"]["0.5"]
    # the same number of gradient steps in every arm: epochs × minibatches per epoch
    assert base["steps"] == drop["steps"] == result["steps_per_arm"] == 40 * (100 // 25)
    for arm in (base, drop):
        assert arm["lr"] in TINY["lrs"]
        assert len(arm["plateau"]["converged"]) == len(arm["plateau"]["epoch"]) == 2
        assert all(1 <= e <= TINY["epochs"] for e in arm["best_epoch"])
        np.testing.assert_allclose(
            arm["final_gap"]["values"],
            np.subtract(
                arm["final_train_accuracy"]["values"], arm["final_test_accuracy"]["values"]
            ),
        )
    # without dropout the tiny network memorises its 100 examples; with 0.5 it still trains
    assert min(base["final_train_accuracy"]["values"]) == 1.0
    assert min(drop["final_train_accuracy"]["values"]) > 0.9
    # the paired differences are the seed-by-seed differences of the arms' own numbers
    e = result["effects_against_no_dropout"]["0.5"]
    np.testing.assert_allclose(
        e["test_accuracy_at_best"]["values"],
        np.subtract(
            drop["test_accuracy_at_best"]["values"], base["test_accuracy_at_best"]["values"]
        ),
    )
    np.testing.assert_allclose(
        e["final_gap_narrowing"]["values"],
        np.subtract(base["final_gap"]["values"], drop["final_gap"]["values"]),
    )
    assert "p = 0.5" in "\n".join(dropout.report(result))
    assert len(result["design"]) == 3 and len(result["headline"]) < 160


def test_dropout_learning_rate_is_the_best_converged_on_validation(tiny):
    result, _ = tiny
    for rate, row in result["grid"].items():
        assert set(row) == {str(x) for x in TINY["lrs"]}
        for cell in row.values():  # one plateau entry per seed in every grid cell
            assert cell["plateau"]["n_runs"] == len(cell["plateau"]["epoch"]) == TINY["seeds"]
        eligible = {x: c for x, c in row.items() if c["plateau"]["n_converged"] == TINY["seeds"]}
        pool = eligible or row
        best = max(pool, key=lambda x: pool[x]["validation_score"])
        assert float(best) == result["arms"][rate]["lr"]


def test_dropout_verdict_follows_the_stated_rule(tiny):
    result, _ = tiny
    e = result["effects_against_no_dropout"]["0.5"]
    converged = result["arms"]["0.0"]["converged"] and result["arms"]["0.5"]["converged"]
    parts = {
        "gap narrows": _stats.decide(
            e["final_gap_narrowing"]["ci"], smallest=dropout.SMALLEST, converged=converged
        ),
        "test accuracy rises": _stats.decide(
            e["test_accuracy_at_best"]["ci"], smallest=dropout.SMALLEST, converged=converged
        ),
    }
    assert result["parts"] == parts
    assert result["verdict"] == _protocol.combine(parts)


def test_dropout_choices_do_not_depend_on_the_test_set(monkeypatch):
    """Training twice, once with the test labels shuffled: every learning rate and epoch chosen
    is the same, while the test accuracies differ (the test set is measured, not used)."""
    monkeypatch.setattr(dropout, "COMPILER_OPTIONS", FAST_COMPILE)
    s = {**TINY, "epochs": 16}
    data, val_data, (Xt, yt) = dropout.splits(s)
    shuffled = (Xt, np.random.default_rng(0).permutation(yt))
    net = dropout.fn.MLP((40, 32, 10), hidden="relu", output="identity")
    arms = [(r, lr) for r in s["rates"] for lr in s["lrs"]]
    keys = jax.random.split(jax.random.key(0), s["seeds"])
    choices, tests = [], []
    for test_data in ((Xt, yt), shuffled):
        h = dropout.train(net, arms, data, val_data, test_data, s, keys)
        h = {k: v.reshape(2, 2, *v.shape[1:]) for k, v in h.items()}
        _, converged = dropout.convergence(h["loss"], s)
        index, _ = dropout.choose_lrs(h["eval_accuracy"], converged)
        choices.append((index.tolist(), dropout.best_epochs(h["eval_accuracy"]).tolist()))
        tests.append(h["test_accuracy"])
    assert choices[0] == choices[1]
    assert not np.allclose(tests[0], tests[1])


def test_choose_lrs_skips_runs_that_have_not_levelled_off():
    val = np.zeros((1, 3, 2, 5))
    val[0, 0, :, 2] = 0.5  # converged, scores 0.5
    val[0, 1, :, 4] = 0.6  # converged, scores 0.6: chosen
    val[0, 2, :, 1] = 0.9  # best score, but one seed has not levelled off
    converged = np.array([[[True, True], [True, True], [True, False]]])
    index, score = dropout.choose_lrs(val, converged)
    assert index.tolist() == [1]
    np.testing.assert_allclose(score, [[0.5, 0.6, 0.9]])
    # where no learning rate has levelled off, the best score is taken (and judged inconclusive)
    index, _ = dropout.choose_lrs(val, np.zeros_like(converged))
    assert index.tolist() == [2]
    assert dropout.best_epochs(val)[0].tolist() == [[2, 2], [4, 4], [1, 1]]


def test_smoothed_is_the_trailing_mean():
    loss = np.array([4.0, 2.0, 0.0, 6.0])
    np.testing.assert_allclose(dropout.smoothed(loss, 2), [4.0, 3.0, 1.0, 3.0])
    np.testing.assert_allclose(dropout.smoothed(loss, 1), loss)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rates": [0.2, 0.5]}, "rates:"),
        ({"judged_rate": 0.3}, "judged_rate:"),
        ({"lrs": [0.01, -0.1]}, "lrs:"),
        ({"n_train": 3500, "n_val": 1000}, "n_train \\+ n_val:"),
        ({"seeds": 1}, "seeds:"),
        ({"plateau": {**dropout.QUICK["plateau"], "smooth": 0.3}}, "plateau.smooth:"),
    ],
)
def test_dropout_refuses_settings_that_cannot_give_a_fair_test(change, message):
    with pytest.raises(ValueError, match=message):
        dropout.check_settings({**dropout.QUICK, **change})
