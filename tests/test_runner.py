"""The runner, python -m experiments: it finds the experiments, runs them in the lecture's order,
keeps quick and full results side by side, announces cached results, and keeps results/REPORT.md
whole when one experiment runs. The experiments' own computations are replaced by cheap stand-ins
here (their tests run them for real)."""

import json

import pytest
from _markdown import assert_tables_well_formed, table_problems

import experiments.digits
import experiments.gradient_check
from experiments import __main__ as runner
from experiments import _harness, _plots, _protocol, _report


def test_runner_discovers_the_experiments_in_the_lectures_order():
    names = runner.discover()
    assert {"gradient_check", "digits"} <= set(names)
    ordered = [n for n, _ in _report.ORDER]
    assert names == ordered, "every experiment has its place in the lecture's order"
    assert names.index("linear_classifier") < names.index("logic_gates") < names.index("xor_sweep")
    assert names.index("vanishing_gradient") < names.index("pretraining") < names.index("dropout")


class Calls(list):
    """The stand-ins' calls, (module, settings tag), and the value each module returns."""

    values: dict


def _stand_in(monkeypatch, module, *, value, calls):
    """Replaces ``module``'s computation by one that records its call in ``calls`` and returns
    ``calls.values[module name]`` (``value`` to start with)."""
    calls.values[module.__name__] = value

    def run(settings, out):
        calls.append((module.__name__, settings["tag"]))
        value = calls.values[module.__name__]
        return {
            "value": value,
            "verdict": "holds",
            "headline": f"value {value} | {settings['tag']}",  # a pipe, escaped in the table
            "seeds": "2 seeds",
            "figures": [],
        }

    def report(result):
        return [
            f"Value {result['value']}.",
            "",
            "| setting | value |",
            "|---|---|",
            f"| {result['settings']['tag']} | {result['value']} |",
        ]

    monkeypatch.setattr(module, "run", run)
    monkeypatch.setattr(module, "report", report)
    monkeypatch.setattr(
        module,
        "CRITERION",
        _protocol.Criterion(hypothesis="The value is 1.", rule="holds if it is.", kind="exact"),
        raising=False,
    )
    monkeypatch.setattr(module, "QUICK", {"tag": "quick"})
    monkeypatch.setattr(module, "FULL", {"tag": "full"})


def _section(text, name):
    start = text.index(f'<a id="{name.replace("_", "-")}"></a>')
    end = text.find("<a id=", start + 1)
    return text[start : end if end >= 0 else len(text)]


@pytest.fixture
def stand_ins(monkeypatch):
    calls = Calls()
    calls.values = {}
    _stand_in(monkeypatch, experiments.digits, value=1, calls=calls)
    _stand_in(monkeypatch, experiments.gradient_check, value=2, calls=calls)
    return calls


def test_running_one_experiment_keeps_the_other_sections(tmp_path, stand_ins, capsys):
    out = str(tmp_path)
    assert runner.main(["digits", "--out", out]) == 0
    assert runner.main(["gradient_check", "--out", out]) == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "Value 1." in _section(report, "digits")
    assert "Value 2." in _section(report, "gradient_check")
    checked = _section(report, "gradient_check")
    # rerunning digits rewrites its section only
    stand_ins.values["experiments.digits"] = 7
    assert runner.main(["digits", "--out", out, "--force"]) == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "Value 7." in _section(report, "digits") and "Value 1." not in report
    assert _section(report, "gradient_check") == checked
    # the others are listed as not run, with the command that runs them
    assert "## 1. A linear classifier and its learning rate: not run yet" in report
    assert "`python -m experiments linear_classifier`" in report
    assert report.index('id="gradient-check"') < report.index('id="digits"')


def test_quick_and_full_live_side_by_side(tmp_path, stand_ins, capsys):
    out = str(tmp_path)
    runner.main(["digits", "--out", out])
    quick = tmp_path / "digits" / "quick" / "result.json"
    before = quick.read_bytes()
    runner.main(["digits", "--full", "--out", out])
    full = json.loads((tmp_path / "digits" / "full" / "result.json").read_text())
    assert full["mode"] == "full" and full["settings"] == {"tag": "full"}
    assert quick.read_bytes() == before, "a full run leaves the quick result alone"
    section = _section((tmp_path / "REPORT.md").read_text(), "digits")
    assert "*full mode (the quick result is also on disk)" in section
    assert "| full | 1 |" in section
    # the next quick run reuses the quick result, and the report still shows the full one
    assert stand_ins == [("experiments.digits", "quick"), ("experiments.digits", "full")]
    capsys.readouterr()
    runner.main(["digits", "--out", out])
    assert len(stand_ins) == 2, "the quick result was reused, not recomputed"
    err = capsys.readouterr().err
    assert "digits (quick): cached result from " in err and "--force to rerun" in err
    text = (tmp_path / "REPORT.md").read_text()
    assert "*full mode" in _section(text, "digits")
    # the summary row shows the full verdict and, beside it, the quick one
    row = next(ln for ln in text.splitlines() if ln.startswith("| ") and "(#digits)" in ln)
    assert row.endswith("| value 1 \\| full | full | holds |")


def test_a_cached_result_is_announced_with_its_date(tmp_path, stand_ins, capsys, monkeypatch):
    out = tmp_path / "digits" / "quick"
    first = _harness.run_experiment(experiments.digits, "quick", str(out))
    assert capsys.readouterr().err == ""
    again = _harness.run_experiment(experiments.digits, "quick", str(out))
    assert again == first and len(stand_ins) == 1
    err = capsys.readouterr().err
    when = first["finished"].replace("T", " ").replace("Z", " UTC")
    assert f"cached result from {when} in {out / 'result.json'}; --force to rerun" in err
    # changed settings: recomputed, and said so
    monkeypatch.setattr(experiments.digits, "QUICK", {"tag": "changed"})
    _harness.run_experiment(experiments.digits, "quick", str(out))
    assert stand_ins[-1] == ("experiments.digits", "changed")
    assert "settings differ from the result" in capsys.readouterr().err


def test_a_damaged_result_is_recomputed(tmp_path, stand_ins, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "result.json").write_text('{"mode": "quick", "settings": {"tag": "qu')
    result = _harness.run_experiment(experiments.digits, "quick", str(out))
    assert result["value"] == 1 and len(stand_ins) == 1
    assert "cannot be read" in capsys.readouterr().err
    assert json.loads((out / "result.json").read_text())["value"] == 1


def test_a_result_records_machine_date_seeds_and_headline(tmp_path, stand_ins):
    r = _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    assert r["machine"]["cores"] >= 1 and r["machine"]["cpu"]
    assert r["finished"].endswith("Z") and r["seeds"] == "2 seeds"
    assert r["mode"] == "quick" and r["experiment"] == "digits"


def test_a_verdict_outside_the_protocol_is_refused(tmp_path, stand_ins, monkeypatch):
    monkeypatch.setattr(
        experiments.digits,
        "run",
        lambda s, o: {"verdict": "looks good", "headline": "h", "seeds": "1 seed"},
    )
    with pytest.raises(ValueError, match=r"digits.run: expected a verdict among .*'looks good'"):
        _harness.run_experiment(experiments.digits, "quick", str(tmp_path))


def test_a_module_without_a_criterion_is_refused(tmp_path, stand_ins, monkeypatch):
    monkeypatch.delattr(experiments.digits, "CRITERION")
    with pytest.raises(
        TypeError, match=r"digits: an experiment module needs .*missing \['CRITERION'\]"
    ):
        _harness.run_experiment(experiments.digits, "quick", str(tmp_path))


def test_a_changed_criterion_reruns_a_cached_result(tmp_path, stand_ins, monkeypatch):
    _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    monkeypatch.setattr(
        experiments.digits,
        "CRITERION",
        _protocol.Criterion(hypothesis="Another.", rule="holds if so.", kind="exact"),
    )
    _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    assert len(stand_ins) == 2


def test_a_result_without_headline_is_refused(tmp_path, stand_ins, monkeypatch):
    monkeypatch.setattr(experiments.digits, "QUICK", {})
    monkeypatch.setattr(experiments.digits, "run", lambda s, o: {"verdict": "holds"})
    with pytest.raises(ValueError, match=r"digits.run: expected a result with .*'headline'"):
        _harness.run_experiment(experiments.digits, "quick", str(tmp_path))
    with pytest.raises(ValueError, match="mode: expected 'quick' or 'full', got 'fast'"):
        _harness.run_experiment(experiments.digits, "fast", str(tmp_path))


def test_the_report_opens_with_a_well_formed_summary(tmp_path, stand_ins):
    runner.main(["digits", "gradient_check", "--out", str(tmp_path)])
    text = (tmp_path / "REPORT.md").read_text()
    assert_tables_well_formed(text)
    lines = text.splitlines()
    start = lines.index(
        "| # | claim (section) | verdict | key number | mode | quick mode's verdict |"
    )
    table = lines[start : lines.index("", start)]
    assert table[0].startswith("| # | claim (section) | verdict | key number | mode |")
    assert len(table) == 2 + len(_report.ORDER) - len(_report.PERFORMANCE)  # header, rule, rows
    digits_row = next(r for r in table if "(#digits)" in r)
    assert "**holds**" in digits_row and "value 1 \\| quick" in digits_row
    n_claims = len(_report.ORDER) - len(_report.PERFORMANCE)
    assert f"The lecture's {n_claims} claims" in text
    assert f"2 holds; {n_claims - 2} not run yet." in text
    # fnnet's speed is its own table, after the lecture's, not a claim of the lecture
    perf = lines.index("## fnnet's own performance")
    assert lines[perf + 4].startswith("| # | target (section) | met |")
    assert "(#benchmark)" in lines[perf + 6] and "not run" in lines[perf + 6]
    # each section states its hypothesis and criterion, and its settings as a table
    digits = _section(text, "digits")
    assert "**Hypothesis.** The value is 1." in digits
    assert "**Criterion** (exact). holds if it is." in digits
    assert "| setting | value |\n|---|---|\n| tag | quick |" in digits
    # the glossary closes the report
    assert text.index("## Glossary") > text.index('<a id="benchmark">')


def test_table_check_finds_a_row_with_a_missing_cell():
    good = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert table_problems(good) == []
    bad = "| a | b | c | d |\n|---|---|---|---|---|\n| 1 | 2 | 3 | 4 |"
    (problem,) = table_problems(bad)
    assert problem.startswith("line 2: 5 cells, the header has 4")
    assert table_problems("| a | b |\n| 1 | 2 |")[0].startswith("line 1: a table without")


def test_standalone_module_updates_its_section(tmp_path, stand_ins, capsys):
    assert _harness.main(experiments.digits, ["--out", str(tmp_path)]) == 0
    assert (tmp_path / "digits" / "quick" / "result.json").exists()
    assert "Value 1." in _section((tmp_path / "REPORT.md").read_text(), "digits")
    assert "Value 1." in capsys.readouterr().out


def test_coinciding_groups_curves_that_hide_one_another():
    curves = {"a": [1.0, 2.0], "b": [1.01, 2.01], "c": [1.5, 2.0], "d": [1.04, 2.08]}
    assert _plots.coinciding(curves, 0.02) == [["a", "b"]]
    # relative: within a factor 1 + tol everywhere (d is 4% above a at every point)
    assert _plots.coinciding(curves, 0.05, relative=True) == [["a", "b", "d"]]
    assert _plots.coinciding(curves, 0.001) == []
