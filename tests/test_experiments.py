import json

import experiments.digits
import experiments.gradient_check
from experiments import __main__ as runner
from experiments import _harness


def test_runner_discovers_the_experiments():
    assert {"gradient_check", "digits"} <= set(runner.discover())


def test_gradient_check_runs_writes_result_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments.gradient_check, "QUICK", {"n_random": 1, "seed": 3})
    out = tmp_path / "gradient_check"
    result = _harness.run_experiment(experiments.gradient_check, "quick", str(out))
    saved = json.loads((out / "result.json").read_text())
    assert saved["summary"]["float64"]["max_rel_vs_jax_grad"] < 1e-10
    assert saved["summary"]["float32"]["max_rel_vs_jax_grad"] < 1e-5
    assert (out / "gradient_check.png").stat().st_size > 0
    assert saved["verdict"] == "holds" and saved["versions"]["jax"]
    # a finished result with the same settings is kept, not recomputed
    monkeypatch.setattr(experiments.gradient_check, "run", lambda *a: 1 / 0)
    assert _harness.run_experiment(experiments.gradient_check, "quick", str(out)) == saved
    assert result["summary"] == saved["summary"]
    runner.write_report([saved], str(tmp_path / "REPORT.md"))
    assert "gradient_check" in (tmp_path / "REPORT.md").read_text()


def test_digits_experiment_small(tmp_path, monkeypatch):
    monkeypatch.setattr(
        experiments.digits,
        "QUICK",
        {"epochs": 2, "batch_size": 100, "learning_rate": 1e-3, "seeds": 2},
    )
    result = _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    assert len(result["test_accuracy_per_seed"]) == 2
    assert 0.1 < result["test_accuracy_mean"] <= 1.0
