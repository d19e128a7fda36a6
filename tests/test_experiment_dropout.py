"""The dropout experiment end to end on tiny settings, and the numbers it rests on."""

import numpy as np
from _experiment_checks import files_written

import experiments.dropout as dropout
from experiments import _harness

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
QUICK_COMPILE = {p: {"xla_backend_optimization_level": 0} for p in ("at_init", "train")}


def test_dropout_small(tmp_path, monkeypatch):
    small = {
        **dropout.QUICK,
        "depth": 3,
        "width": 64,
        "rates": [0.0, 0.5],
        "seeds": 2,
        "epochs": 40,
        "lr": 3e-3,
    }
    monkeypatch.setattr(dropout, "QUICK", small)
    monkeypatch.setattr(dropout, "COMPILER_OPTIONS", QUICK_COMPILE["train"])
    result = _harness.run_experiment(dropout, "quick", str(tmp_path))
    files_written(dropout, result, tmp_path)
    r0, r5 = result["rates"]["0.0"], result["rates"]["0.5"]
    for r in (r0, r5):
        assert len(r["final_test_accuracy"]["values"]) == 2
        np.testing.assert_allclose(
            r["final_gap"]["mean"],
            r["final_train_accuracy"]["mean"] - r["final_test_accuracy"]["mean"],
            atol=1e-9,
        )
    # without dropout 300 examples are memorised; dropout 0.5 holds train accuracy down
    assert min(r0["final_train_accuracy"]["values"]) > 0.95
    assert max(r5["final_train_accuracy"]["values"]) < min(r0["final_train_accuracy"]["values"])
    assert r5["final_gap"]["mean"] < r0["final_gap"]["mean"]
    assert "dropout 0.5" in "\n".join(dropout.report(result))
