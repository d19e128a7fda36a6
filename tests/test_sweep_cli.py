"""``python -m fnnet.sweep status OUT`` and ``clear OUT``: the report of a sweep folder (settings,
finished, missing and damaged chunks), the question before clearing, and clear errors for a
missing folder, a folder that is not a sweep's and a sweep that runs."""

import io
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from _children import child_env

import fnnet.sweep as sweep
from fnnet.sweep._cli import SHOWN, main
from fnnet.sweep._folder import holding

GRID = {"lr": np.array([0.5, 2.0])}


def draws(key, lr):
    return {"u": lr * jax.random.uniform(key, (2,)), "k": jax.random.randint(key, (), 0, 9)}


def _sweep(out, n_seeds=6):
    """6 seeds in chunks of 4 at 2 grid points: 4 units (two of 4 seeds, two of 2)."""
    key = jax.random.key(3)
    return sweep.run(
        draws, n_seeds, grid=GRID, key=key, chunk_size=4, out=out, name="cli", progress=False
    )


class _NoInput(io.StringIO):
    def readline(self, *args):
        raise AssertionError("the command read its standard input")


def _run(argv, capsys, monkeypatch, stdin=None):
    monkeypatch.setattr(sys, "stdin", _NoInput() if stdin is None else io.StringIO(stdin))
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_reports_the_settings_and_the_progress(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    _sweep(out)
    code, text, err = _run(["status", out], capsys, monkeypatch)
    assert code == 0 and err == ""
    settings = sweep.status(out).settings
    lines = text.splitlines()
    assert lines[:4] == [
        f"sweep folder {out}",
        "name: cli",
        f"program: {settings['program']}",
        "seeds: 6 per grid point, in 2 chunks of 4",
    ]
    assert "grid: lr (float64): 0.5, 2.0" in lines
    assert f"key: {settings['key']['impl']} {settings['key']['data']}" in lines
    assert any(line.startswith("results: ['k'] int") and "['u'] float" in line for line in lines)
    assert f"versions: fnnet {settings['fnnet']}, jax {jax.__version__}" in text
    assert "finished: 4 of 4 units (12 of 12 seeds)" in lines
    assert "missing: 0 units (a rerun computes them)" in lines
    assert lines[-1] == "damaged: 0 chunks (among the missing)"


def test_status_lists_missing_and_damaged_chunks(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    _sweep(out)
    chunks = out / "chunks"
    os.remove(chunks / "p1-c1.npz")  # lr 2.0, seeds 4 and 5: missing
    shutil.copy(chunks / "p1-c0.npz", chunks / "p0-c0.npz")  # another grid point's chunk
    code, text, _ = _run(["status", out], capsys, monkeypatch)
    assert code == 0
    lines = text.splitlines()
    assert "finished: 2 of 4 units (6 of 12 seeds)" in lines
    at = lines.index("missing: 2 units (a rerun computes them)")
    assert lines[at + 1 : at + 3] == [
        "  lr=0.5, chunk 0 (seeds 0-3)",
        "  lr=2.0, chunk 1 (seeds 4-5)",
    ]
    assert lines[at + 3] == "damaged: 1 chunks (among the missing)"
    assert lines[at + 4].startswith(f"  {chunks / 'p0-c0.npz'}: it holds unit [1, 0], expected")


def test_status_lists_at_most_shown_units_and_counts_the_rest(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    sweep.run(draws, SHOWN + 3, grid=GRID, chunk_size=1, out=out, progress=False)
    shutil.rmtree(out / "chunks")
    code, text, _ = _run(["status", out], capsys, monkeypatch)
    lines = text.splitlines()
    at = lines.index(f"missing: {2 * (SHOWN + 3)} units (a rerun computes them)")
    assert lines[at + SHOWN] == f"  lr=0.5, chunk {SHOWN - 1} (seeds {SHOWN - 1}-{SHOWN - 1})"
    assert lines[at + SHOWN + 1] == f"  ... and {2 * (SHOWN + 3) - SHOWN} more"
    assert code == 0 and lines[at + SHOWN + 2].startswith("damaged: 0 chunks")


@pytest.mark.parametrize("command", ["status", "clear"])
def test_a_missing_folder_a_file_and_a_folder_that_is_not_a_sweep(
    command, tmp_path, capsys, monkeypatch
):
    code, text, err = _run([command, tmp_path / "nowhere"], capsys, monkeypatch)
    assert (code, text) == (1, "")
    assert (
        err == f"python -m fnnet.sweep {command}: error: '{tmp_path / 'nowhere'}': no such folder\n"
    )
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = _run([command, tmp_path / "notes.txt"], capsys, monkeypatch)
    assert code == 1 and err.endswith("notes.txt': a file, not a folder\n")
    code, text, err = _run([command, tmp_path], capsys, monkeypatch)  # refused before asking
    assert (code, text) == (1, "")
    assert err.startswith(f"python -m fnnet.sweep {command}: error: out: expected a sweep folder")
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_clear_asks_first_and_removes_nothing_without_a_yes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    _sweep(out)
    (out / "notes.txt").write_text("mine")
    before = sorted(os.listdir(out / "chunks"))
    for answer in ["n\n", "", "\n", "yes please\n"]:  # no, end of input, Enter, not a yes
        code, text, err = _run(["clear", out], capsys, monkeypatch, stdin=answer)
        assert code == 1 and err == ""
        lines = text.splitlines()
        assert lines[0] == (
            f"{out} holds sweep 'cli' (4 units finished); clear removes settings.json, "
            "4 chunk files"
        )
        assert lines[1].startswith("remove them? [y/N] ")
        assert lines[-1].endswith("nothing removed (pass --yes to clear without asking)")
        assert sorted(os.listdir(out / "chunks")) == before and (out / "settings.json").exists()
    code, text, _ = _run(["clear", out], capsys, monkeypatch, stdin="y\n")
    assert code == 0 and text.splitlines()[-1].endswith(f"removed 5 files from {out}")
    assert os.listdir(out) == ["notes.txt"]
    code, text, err = _run(["clear", out], capsys, monkeypatch)  # no longer a sweep's folder
    assert (code, text) == (1, "") and "it holds neither chunks/ nor settings.json" in err
    (out / "chunks").mkdir()  # a sweep's folder that holds nothing yet
    code, text, _ = _run(["clear", out], capsys, monkeypatch)
    assert (code, text) == (0, f"{out}: nothing to remove\n")


def test_clear_yes_does_not_ask_and_a_running_sweep_is_refused(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    _sweep(out)
    with holding(str(out)):  # as run holds it while a sweep runs in out
        code, text, err = _run(["clear", out, "--yes"], capsys, monkeypatch)
    assert (code, text) == (1, "")
    assert err.startswith(f"python -m fnnet.sweep clear: error: out: a sweep runs in '{out}'")
    assert len(os.listdir(out / "chunks")) == 4
    code, text, _ = _run(["clear", out, "--yes"], capsys, monkeypatch)  # stdin is never read
    assert code == 0 and text.splitlines() == [
        f"{out} holds sweep 'cli' (4 units finished); clear removes settings.json, 4 chunk files",
        f"removed 5 files from {out}",
    ]
    assert not out.joinpath("settings.json").exists()


def test_clear_counts_chunks_whose_settings_are_gone(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    _sweep(out)
    os.remove(out / "settings.json")
    code, text, _ = _run(["clear", out, "-y"], capsys, monkeypatch)
    assert code == 0 and text.splitlines() == [
        f"{out} holds a sweep whose settings cannot be read; clear removes 4 chunk files",
        f"removed 4 files from {out}",
    ]


def test_clear_dry_run_removes_nothing_and_returns_what_clear_removes(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out)
    would = sweep.clear(out, dry_run=True)
    assert len(would) == 5 and all(os.path.exists(p) for p in would)
    assert sweep.clear(out) == would
    with pytest.raises(TypeError, match="dry_run: expected True or False, got 1"):
        sweep.clear(out, dry_run=1)


def test_python_dash_m_runs_the_command_line(tmp_path, capsys):
    out = tmp_path / "sweep"
    _sweep(out, n_seeds=2)
    command = [sys.executable, "-m", "fnnet.sweep", "status", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "finished: 2 of 2 units (4 of 4 seeds)" in done.stdout.splitlines()
    with pytest.raises(SystemExit) as exit_:  # argparse's usage error: no command
        main([])
    assert exit_.value.code == 2 and "usage: python -m fnnet.sweep" in capsys.readouterr().err
