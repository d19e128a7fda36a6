"""The vanishing gradient experiment end to end on tiny settings, and the numbers it rests on."""

import numpy as np
from _experiment_checks import files_written

import experiments.vanishing_gradient as vanishing
from experiments import _harness

# tiny programs compile several times faster at XLA's lowest optimisation level and run as fast
QUICK_COMPILE = {p: {"xla_backend_optimization_level": 0} for p in ("at_init", "train")}


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
    files_written(vanishing, result, tmp_path)
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
