"""The minibatch-learning experiment (digits) end to end on tiny settings."""

import numpy as np
import pytest

import experiments.digits
from experiments import _harness


def test_digits_experiment_small(tmp_path, monkeypatch):
    monkeypatch.setattr(
        experiments.digits,
        "QUICK",
        {"epochs": 2, "batch_size": 100, "learning_rate": 1e-3, "seeds": 2},
    )
    result = _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    acc = result["test_accuracy_per_seed"]
    assert len(acc) == 2 and 0.1 < result["test_accuracy_mean"] <= 1.0
    assert result["test_accuracy_std"] == pytest.approx(np.std(acc))
    assert result["verdict"] == ("holds" if min(acc) >= 0.97 else "fails")
    assert "2 seeds" in result["headline"] and f"{min(acc):.3f}" in result["headline"]
    assert "2 seeds" in "\n".join(experiments.digits.report(result))
    assert (tmp_path / "digits_curves.png").stat().st_size > 0
