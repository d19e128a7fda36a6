"""The pretraining experiment end to end on tiny settings, and the numbers it rests on."""

from _experiment_checks import files_written

import experiments.pretraining as pretraining
from experiments import _harness

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
QUICK_COMPILE = {p: {"xla_backend_optimization_level": 0} for p in ("at_init", "train")}


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
    files_written(pretraining, result, tmp_path)
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
