"""The deep-network experiments (vanishing gradient, pre-training, dropout) end to end on tiny
settings, and the numbers they rest on."""

import json

import numpy as np
from _markdown import assert_tables_well_formed

import experiments.dropout as dropout
import experiments.pretraining as pretraining
import experiments.vanishing_gradient as vanishing
from experiments import _harness

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
QUICK_COMPILE = {p: {"xla_backend_optimization_level": 0} for p in ("at_init", "train")}


def _files_written(module, result, out):
    """result.json and the figures are on disk, the summary entries are there, and the report's
    tables are well formed."""
    saved = json.loads((out / "result.json").read_text())
    assert saved["verdict"] == result["verdict"]
    assert result["figures"] and all((out / f).stat().st_size > 0 for f in result["figures"])
    for key in ("headline", "seeds"):
        assert isinstance(result[key], str) and result[key].strip()
    assert_tables_well_formed(module.report(result))
    return saved


def test_vanishing_gradient_small(tmp_path, monkeypatch):
    small = {
        **vanishing.QUICK,
        "depth": 4,
        "width": 32,
        "n_train": 300,
        "init_seeds": 3,
        "grad_examples": 32,
        "hist_examples": 64,
        "seeds": 2,
        "epochs": 2,
        "batch_size": 100,
        "configs": ["sigmoid-xavier", "relu-he"],  # each hidden activation compiles its programs
    }
    monkeypatch.setattr(vanishing, "QUICK", small)
    monkeypatch.setattr(vanishing, "COMPILER_OPTIONS", QUICK_COMPILE)
    result = _harness.run_experiment(vanishing, "quick", str(tmp_path))
    _files_written(vanishing, result, tmp_path)
    configs = result["configs"]
    assert set(configs) == {"sigmoid-xavier", "relu-he"}
    for c in configs.values():
        assert len(c["grad_norm_batch_geomean"]) == 5  # 4 hidden layers and the output layer
        assert all(0.0 <= s <= 1.0 for s in c["saturated_per_layer"])
        acc = c["training"]["sgd"]["final_test_accuracy_mean"]
        assert 0.0 <= acc <= 1.0
        assert len(c["training"]["sgd"]["final_train_accuracy_values"]) == 2
    # the computed numbers: sigmoid with Xavier loses an order of magnitude of gradient over
    # three layers (about 1/4 per layer), ReLU with He keeps it within a factor of a few
    assert configs["sigmoid-xavier"]["ratio_first_last_single"]["max"] < 0.05
    relu = configs["relu-he"]["ratio_first_last_single"]
    assert 0.1 < relu["min"] and relu["max"] < 10
    # ReLU units with He's init are inactive about half the time; Xavier sigmoids rarely saturate
    assert 0.3 < np.mean(configs["relu-he"]["saturated_per_layer"]) < 0.7
    assert np.mean(configs["sigmoid-xavier"]["saturated_per_layer"]) < 0.2
    text = "\n".join(vanishing.report(result))
    assert "ReLU, He" in text and "reference ratios are for 10 hidden layers" in text
    # the sentences quote the numbers of the table beside them
    sat = configs["relu-he"]["saturated_per_layer"]
    assert f"{100 * sat[0]:.0f} ± " in text and f"{100 * sat[-1]:.0f} ± " in text


def test_pretraining_small(tmp_path, monkeypatch):
    small = {
        **pretraining.QUICK,
        "hidden": [16, 16],
        "n_train": 400,
        "seeds": 2,
        "pretrain_epochs": 3,
        "pretrain_batch_size": 20,
        "epochs": 2,
        "optimizers": ["adam"],
    }
    monkeypatch.setattr(pretraining, "QUICK", small)
    monkeypatch.setattr(pretraining, "COMPILER_OPTIONS", QUICK_COMPILE["train"])
    result = _harness.run_experiment(pretraining, "quick", str(tmp_path))
    _files_written(pretraining, result, tmp_path)
    assert result["verdict"] in ("holds", "mixed", "does not help here")
    assert [r["autoencoder"] for r in result["reconstruction"]] == ["40-16-40", "16-16-16"]
    for r in result["reconstruction"]:
        # each autoencoder learned: its reconstruction error fell over its few epochs
        assert r["last_epoch"]["mean"] < r["first_epoch"]["mean"]
        assert r["unexplained_fraction"]["mean"] > 0.0
    arms = result["fine_tuning"]["adam"]
    assert set(arms) == {"pretrained", "xavier", "normal0.01"}
    for a in arms.values():
        assert len(a["test_accuracy"]["values"]) == 2
        assert 0.0 <= a["test_accuracy"]["mean"] <= 1.0
    assert "pre-training" in "\n".join(pretraining.report(result))


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
    _files_written(dropout, result, tmp_path)
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
