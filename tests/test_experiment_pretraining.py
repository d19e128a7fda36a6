"""The pretraining experiment end to end on tiny settings, and the numbers it rests on: equal
gradient steps for both arms, choices made from validation accuracies alone, a plateau record per
arm, rate and seed, and a verdict that follows from the stated rule."""

import numpy as np
import pytest
from _experiment_checks import files_written

import experiments.pretraining as pretraining
from experiments import _harness, _protocol, _stats

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
QUICK_COMPILE = {"xla_backend_optimization_level": 0}
SMALL = {
    **pretraining.QUICK,
    "hidden": [8, 8],
    "n_train": 300,
    "n_val": 100,
    "budget_epochs": 12,
    "pretrain_epochs": 2,
    "checkpoint_every": 2,
    "seeds": 2,
    "lrs": [0.1, 0.3],
}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretraining")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(pretraining, "QUICK", SMALL)
        m.setattr(pretraining, "COMPILER_OPTIONS", QUICK_COMPILE)
        result = _harness.run_experiment(pretraining, "quick", str(out))
        saved = files_written(pretraining, result, out)
    return result, saved


def test_pretraining_small_end_to_end(small_run):
    result, saved = small_run
    # equal budgets: both arms take the same gradient steps, the pre-trained arm's pre-training
    # (2 layers x 2 epochs x 300/100 steps) counted
    b = result["budget"]
    assert b["steps"]["pretrained"] == {"pre-training": 12, "fine-tuning": 24}
    assert b["total_steps"] == {"pretrained": 36, "random": 36}
    assert b["fine_tuning_epochs"] == {"pretrained": 8, "random": 12}
    lrs, seeds = SMALL["lrs"], SMALL["seeds"]
    for name, arm in saved["arms"].items():
        # a plateau record for every rate and seed, over that arm's own epochs
        p = arm["plateau"]
        assert np.shape(p["epoch"]) == np.shape(p["converged"]) == (len(lrs), seeds)
        assert p["n_runs"] == len(lrs) * seeds
        assert all(e <= b["fine_tuning_epochs"][name] for row in p["epoch"] for e in row)
        # the rates come from the grid, and are the arg max of the stored validation scores
        for point in ("final", "best"):
            assert arm["tuned"][point]["lr"] in lrs
            score = arm["validation"][f"score_{point}"]
            assert arm["tuned"][point]["lr"] == lrs[int(np.argmax(score))]
        final = np.nan_to_num(np.asarray(arm["validation"]["final"]), nan=0.0)
        np.testing.assert_allclose(arm["validation"]["score_final"], final.mean(axis=1))
        assert len(arm["test_accuracy"]["final"]["values"]) == seeds
    # the verdict follows mechanically from the intervals, the plateau and the stated margin
    parts = {}
    for point in ("final", "best"):
        d = saved["difference"][point]
        pre = saved["arms"]["pretrained"]["test_accuracy"][point]["values"]
        rnd = saved["arms"]["random"]["test_accuracy"][point]["values"]
        np.testing.assert_allclose(d["values"], np.subtract(pre, rnd))
        converged = all(saved["arms"][a]["converged"][point] for a in pretraining.ARMS)
        parts[point] = _stats.decide(d["ci"], smallest=0.01, converged=converged)
        assert saved["parts"][point]["verdict"] == parts[point]
    assert saved["verdict"] == _protocol.combine(parts)
    assert [r["autoencoder"] for r in saved["reconstruction"]] == ["40-8-40", "8-8-8"]
    assert len(result["design"]) == 3
    assert len(result["headline"]) < 160
    assert "pre-trained" in "\n".join(pretraining.report(result))


def test_choices_read_validation_only():
    """The rate and checkpoint follow validation; test accuracy that peaks elsewhere moves
    nothing, and the reported test number is the one at the validation-chosen place."""
    val = np.array(
        [
            [[0.2, 0.5, 0.3], [0.2, 0.4, 0.3]],  # rate 0: best checkpoint 1, final 0.3
            [[0.1, 0.2, 0.45], [0.1, 0.6, 0.35]],  # rate 1: final mean 0.40, best mean 0.525
        ]
    )
    test = np.array(
        [
            [[0.9, 0.1, 0.1], [0.9, 0.1, 0.1]],
            [[0.9, 0.1, 0.2], [0.1, 0.7, 0.3]],
        ]
    )
    chosen = pretraining.choose(val)
    assert chosen["final"] == 1 and chosen["best"] == 1
    np.testing.assert_array_equal(chosen["checkpoint"], [[1, 1], [2, 1]])
    h = {"val": val, "test": test, "train": np.ones_like(test)}
    got = pretraining.at_choices(h, chosen)
    np.testing.assert_allclose(got["final"], [0.2, 0.3])
    np.testing.assert_allclose(got["best"], [0.2, 0.7])
    # a diverged run (NaN) counts as a network that classifies nothing; ties go to the smaller rate
    nan = np.array([[[0.5, 0.5]], [[np.nan, 0.5]]])
    c = pretraining.choose(nan)
    assert c["final"] == 0 and c["best"] == 0 and c["score_best"].tolist() == [0.5, 0.5]


def test_budget_refuses_what_cannot_be_matched():
    with pytest.raises(ValueError, match="budget_epochs"):
        pretraining.budget({**SMALL, "budget_epochs": 6}, 300)  # 4 epochs of pre-training
    with pytest.raises(ValueError, match="checkpoint_every"):
        pretraining.budget({**SMALL, "checkpoint_every": 3}, 300)  # 8 epochs
    with pytest.raises(ValueError, match="batch_size"):
        pretraining.budget(SMALL, 50)
    b = pretraining.budget(pretraining.FULL, 3000)
    assert b["total_steps"]["pretrained"] == b["total_steps"]["random"] == 45000
