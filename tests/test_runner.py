"""The runner, python -m experiments: it finds the experiments and writes results/REPORT.md."""

from experiments import __main__ as runner


def test_runner_discovers_the_experiments():
    assert {"gradient_check", "digits"} <= set(runner.discover())
