"""The rules every experiment's verdict rests on: the protocol of a module, the decision rule, the
intervals, the plateau rule, rounding to the spread, and the glossary's links."""

import types

import numpy as np
import pytest

from experiments import _glossary, _protocol, _seeds, _stats


def test_every_experiment_module_follows_the_protocol():
    from experiments import _report

    for name in _report.discover():
        module = __import__(f"experiments.{name}", fromlist=["_"])
        _protocol.check(module)
        assert isinstance(module, _protocol.Experiment)


def test_the_protocol_check_names_what_is_missing_or_wrong():
    m = types.ModuleType("experiments.x")
    m.CLAIM, m.QUICK, m.FULL = "c", {}, {}
    with pytest.raises(TypeError, match=r"missing \['CRITERION', 'run', 'report'\]"):
        _protocol.check(m)
    m.CRITERION, m.run, m.report = "a sentence", print, print
    with pytest.raises(TypeError, match=r"CRITERION \(expected Criterion, got str\)"):
        _protocol.check(m)
    with pytest.raises(ValueError, match=r"Criterion.kind: expected one of .* got 'vibes'"):
        _protocol.Criterion("h", "r", "vibes")
    with pytest.raises(ValueError, match="Criterion.rule: expected a sentence"):
        _protocol.Criterion("h", " ", "exact")


def test_verdicts_combine_mechanically():
    assert _protocol.combine({"a": "holds", "b": "holds"}) == "holds"
    assert _protocol.combine({"a": "holds", "b": "fails"}) == "partly"
    assert _protocol.combine({"a": "holds", "b": "inconclusive"}) == "inconclusive"
    assert _protocol.combine({"a": "holds", "b": "partly"}) == "partly"
    assert _protocol.combine({"a": "partly", "b": "inconclusive"}) == "partly"
    assert _protocol.combine({"a": "fails", "b": "inconclusive"}) == "fails"
    assert _protocol.combine({"a": "inconclusive"}) == "inconclusive"
    with pytest.raises(ValueError, match="expected verdicts among"):
        _protocol.combine({"a": "great"})


def test_the_decision_rule():
    assert _stats.decide((0.01, 0.05)) == "holds"
    assert _stats.decide((0.01, 0.05), converged=False) == "inconclusive"
    assert _stats.decide((-0.05, -0.01)) == "fails"
    assert _stats.decide((-0.01, 0.005), smallest=0.01) == "fails"  # any effect is negligible
    assert _stats.decide((-0.01, 0.02), smallest=0.01) == "inconclusive"


def test_intervals_match_their_formulas():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    m = _stats.mean_interval(x)
    half = 3.182446305284263 * x.std(ddof=1) / 2  # t(0.975, 3) sd / sqrt(4)
    assert m["mean"] == 2.5 and m["ci"] == pytest.approx([2.5 - half, 2.5 + half])
    d = _stats.paired_difference([2.0, 3.0, 5.0], [1.0, 2.0, 3.0])
    assert d["values"] == [1.0, 1.0, 2.0]
    assert _stats.mean_interval([3.0])["ci"] == [-np.inf, np.inf]
    with pytest.raises(ValueError, match="as many values in a as in b"):
        _stats.paired_difference([1.0], [1.0, 2.0])
    lo, hi = _stats.wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert _stats.wilson(0, 10)[0] == 0.0 and _stats.wilson(10, 10)[1] == pytest.approx(1.0)


def test_numbers_are_rounded_to_their_spread():
    assert _stats.pm({"mean": 0.67123, "std": 0.0123}) == "0.671 ± 0.012"
    assert _stats.pm({"mean": 0.67123, "std": 0.05}) == "0.67 ± 0.05"
    assert _stats.rounded(1916.5, 400.0) == "1916"  # no decimals below a spread of hundreds
    assert _stats.pm({"mean": 0.671, "ci": [0.656, 0.687]}, 100, "%") == "67.1% [65.6, 68.7]"
    assert _stats.pm({"mean": 1.0, "std": 0.0}, 100, "%") == "100.0% ± 0.0%"


def test_the_plateau_rule():
    epochs = np.arange(100)
    falling_then_flat = np.exp(-epochs / 5) + 0.1
    still_falling = np.linspace(2.0, 0.0, 100)
    late = np.r_[np.ones(90), np.linspace(1.0, 0.5, 10)]  # levels off only in the last tenth
    diverged = np.r_[np.ones(50), np.full(50, np.nan)]
    p = _seeds.plateau(np.stack([falling_then_flat, still_falling, late, diverged]))
    assert p["converged"].tolist() == [True, False, False, False]
    # the first epoch after which no later one is better than (1 - 1%) best - 0.01
    e = p["epoch"][0]
    best = falling_then_flat[:e].min()
    assert falling_then_flat[e:].min() >= best * 0.99 - 0.01
    assert falling_then_flat[e - 1 :].min() < falling_then_flat[: e - 1].min() * 0.99 - 0.01
    assert p["epoch"][3] == -1
    record = _seeds.plateau_record(np.stack([falling_then_flat, still_falling]))
    assert record["n_converged"] == 1 and record["n_runs"] == 2 and "20%" in record["rule"]
    with pytest.raises(ValueError, match=r"loss: expected per-epoch losses"):
        _seeds.plateau(np.ones(1))


def test_the_glossary_links_each_terms_first_use_only():
    terms = {"seed": "a run's random numbers.", "Wilson interval": "an interval."}
    lines = [
        "# a seed in a heading stays",
        "One seed, two seeds, then `seed` in code and another seed.",
        "The Wilson interval, and [seed](#elsewhere) again.",
    ]
    out = _glossary.link_first_uses(lines, terms)
    assert out[0] == lines[0]
    assert out[1] == "One [seed](#glossary-seed), two seeds, then `seed` in code and another seed."
    assert (
        out[2] == "The [Wilson interval](#glossary-wilson-interval), and [seed](#elsewhere) again."
    )
    section = "\n".join(_glossary.section(terms))
    assert '<a id="glossary-seed"></a>**seed**: a run\'s random numbers.' in section
