"""fnnet.sweep's folder: every chunk verified against the sweep it belongs to, damage reported by
path and recomputed, settings that identify the program, exclusive settings, read-only folders,
leftovers of killed writers, and clear."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import pytest
from _children import reaped, start

import fnnet.sweep as sweep
from fnnet import _atomic

GRID = {"a": np.array([1.0, 2.0])}
UNIT = ((0,), 1)  # the unit the damage tests spoil: grid point 0, seeds 2 and 3


def draws(key, a):
    """Cheap: an integer and a float leaf from the seed's key."""
    return {"k": jax.random.randint(key, (), 0, 1000), "u": a * jax.random.uniform(key, (2,))}


def draws_slow_to_trace(key, a):
    """draws, but every trace takes half a second: a window in which two runs race."""
    time.sleep(0.5)
    return draws(key, a)


CALLS = []


def watched(key, a):
    """draws, counting in CALLS each time its program runs."""
    jax.debug.callback(lambda: CALLS.append(1))
    return draws(key, a)


def relu_softmax(key, a):
    x = jax.random.normal(key, (3,)) * a
    return {"p": jax.nn.softmax(jax.nn.relu(x))}


def _sweep(out, key=0, train_one=draws, **kwargs):
    """6 seeds in chunks of 2 at 2 grid points: 6 units, 6 chunks."""
    kwargs = (
        dict(grid=GRID, key=jax.random.key(key), chunk_size=2, out=out, progress=False) | kwargs
    )
    return sweep.run(train_one, 6, **kwargs)


def _assert_equal(a, b):
    for x, y in zip(jax.tree.leaves(a.values), jax.tree.leaves(b.values), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.diverged, b.diverged)


# --- subprocesses -----------------------------------------------------------------------------


def _child(entry, *args, without_root_powers=False):
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # root writes where permissions say no: drop that power
    prefix = ["capsh", "--drop=cap_dac_override", f"--shell={sys.executable}", "--"]
    return start(__file__, entry, *args, prefix=prefix if without_root_powers else (), **pipes)


def _output(proc, timeout=120):
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, (stdout + stderr).decode()


def child_race(out, key, ready, go, result):
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.002)
    try:
        r = _sweep(out, int(key), train_one=draws_slow_to_trace)
        np.save(result, r.values["u"])
    except ValueError as e:
        with open(result + ".error", "w") as f:
            f.write(str(e))


def child_relu_softmax(out):
    _sweep(out, train_one=relu_softmax)


def child_read_only(partial, complete, result):
    report = {}
    try:
        _sweep(partial, train_one=watched)
    except OSError as e:
        report["error"] = f"{type(e).__name__}: {e}"
    report["calls"] = len(CALLS)
    r = _sweep(complete)
    report["computed"] = len(r.computed)
    report["u"] = r.values["u"].tolist()
    with open(result, "w") as f:
        json.dump(report, f)


# --- settings ---------------------------------------------------------------------------------


def test_chunks_without_settings_are_refused_and_clear_starts_afresh(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out, key=0)
    os.remove(out / "settings.json")
    before = sorted(os.listdir(out / "chunks"))
    with pytest.raises(ValueError, match=r"out: .* holds 6 chunks but no settings\.json") as info:
        _sweep(out, key=1)
    assert "another folder" in str(info.value) and "fnnet.sweep.clear(" in str(info.value)
    assert sorted(os.listdir(out / "chunks")) == before
    removed = sweep.clear(out)
    assert sorted(map(os.path.basename, removed)) == before
    fresh = _sweep(out, key=1)
    assert len(fresh.computed) == 6
    _assert_equal(fresh, _sweep(None, key=1))


def test_a_sweep_resumes_only_under_the_jax_that_computed_it(tmp_path):
    """A folder whose settings name another jax or jaxlib is refused, naming the versions to
    install; a folder written before jaxlib was stored (jax alone) still loads, chunks and all."""
    out = tmp_path / "sweep"
    first = _sweep(out)
    path = out / "settings.json"
    settings = json.loads(path.read_text())
    assert (settings["jax"], settings["jaxlib"]) == (jax.__version__, jaxlib.__version__)
    chunks = sorted(os.listdir(out / "chunks"))

    def edited(**versions):  # None: not stored
        new = {**settings, **versions}
        path.write_text(json.dumps({k: v for k, v in new.items() if v is not None}))

    edited(jaxlib="0.0.1")
    with pytest.raises(ValueError, match="other settings") as info:
        _sweep(out)
    message = str(info.value)
    assert f'jaxlib: stored "0.0.1", given "{jaxlib.__version__}"' in message
    assert f"install jax=={jax.__version__}, jaxlib==0.0.1" in message
    assert "jax: stored" not in message
    edited(jax="0.0.2", jaxlib=None)  # written before jaxlib was stored, under another jax
    with pytest.raises(ValueError, match=r'jax: stored "0\.0\.2".*install jax==0\.0\.2\)$'):
        _sweep(out)
    assert sorted(os.listdir(out / "chunks")) == chunks  # nothing removed or rewritten
    edited(jaxlib=None)  # the same jax, no jaxlib: every chunk verifies and loads
    again = _sweep(out)
    assert again.computed == ()
    _assert_equal(again, first)


@pytest.mark.parametrize(
    "text", [b"[]", b"{", b'"settings"', b'{"format": 2}', b"\xff\xfe", b'{"n_seeds": "6"}']
)
def test_settings_that_are_not_a_sweeps_are_refused_by_run_and_status(tmp_path, text):
    out = tmp_path / "sweep"
    _sweep(out)
    (out / "settings.json").write_bytes(text)
    pattern = r"out: '.*settings\.json' is not a sweep's settings .*fnnet\.sweep\.clear\("
    with pytest.raises(ValueError, match=pattern):
        _sweep(out)
    with pytest.raises(ValueError, match=pattern):
        sweep.status(out)
    sweep.clear(out)
    assert len(_sweep(out).computed) == 6


def test_two_runs_with_other_keys_started_together_cannot_both_write(tmp_path):
    out, go = tmp_path / "sweep", tmp_path / "go"
    ready = [tmp_path / f"ready{k}" for k in (0, 1)]
    results = [str(tmp_path / f"u{k}.npy") for k in (0, 1)]
    children = [_child("child_race", out, k, ready[k], go, results[k]) for k in (0, 1)]
    with reaped(*children):
        deadline = time.monotonic() + 90
        while not all(r.exists() for r in ready):
            assert all(c.poll() is None for c in children), "a child ended before the start"
            assert time.monotonic() < deadline, "the children did not start in 90 s"
            time.sleep(0.01)
        go.touch()
        for child in children:
            code, output = _output(child)
            assert code == 0, output
    errors = [os.path.exists(r + ".error") for r in results]
    assert sorted(errors) == [False, True], "expected exactly one run refused, got " + str(errors)
    winner, loser = errors.index(False), errors.index(True)
    with open(results[loser] + ".error") as f:
        message = f.read()
    assert "other settings" in message and "key: stored" in message, message
    assert "train_one computes" not in message  # one program: equal fingerprints in both
    r = _sweep(out, winner, train_one=draws_slow_to_trace)
    assert r.computed == ()
    np.testing.assert_array_equal(r.values["u"], np.load(results[winner]))
    np.testing.assert_array_equal(r.values["u"], _sweep(None, winner).values["u"])
    assert sweep.status(out).damaged == ()


def test_without_hard_links_settings_are_still_created_once(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise PermissionError(1, "Operation not permitted", src)

    monkeypatch.setattr(os, "link", no_link)
    first = _sweep(tmp_path, key=0)
    assert len(first.computed) == 6 and sweep.status(tmp_path).missing == ()
    assert sorted(os.listdir(tmp_path)) == ["chunks", "settings.json"]  # no temporary file left
    assert _sweep(tmp_path, key=0).computed == ()
    with pytest.raises(ValueError, match="other settings.* key: stored"):
        _sweep(tmp_path, key=1)


# --- the program's fingerprint ----------------------------------------------------------------


def _looping(n_steps):
    def train_one(key, a):
        x = jax.lax.fori_loop(0, n_steps, lambda i, x: 0.5 * x + a, jax.random.uniform(key))
        return {"x": x}

    return train_one


def _closing_over(w):
    def train_one(key, a):
        return {"x": jnp.sum(w * jax.random.uniform(key, w.shape)) + a}

    return train_one


def _jit_closing_over(w):
    inner = jax.jit(lambda x: x * w)  # the constant lives in the inner jaxpr

    def train_one(key, a):
        return {"x": jnp.sum(inner(jax.random.uniform(key, w.shape))) + a}

    return train_one


@pytest.mark.parametrize(
    "make, before, same, edited",
    [
        (_looping, 20, 20, 5),
        (_closing_over, lambda: jnp.array([1.0, 2.0]), lambda: jnp.array([1.0, 2.0]),
         lambda: jnp.array([1.0, 3.0])),
        (_closing_over, np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([1.0, 2.5])),
        (_jit_closing_over, lambda: jnp.ones(3), lambda: jnp.ones(3),
         lambda: jnp.ones(3).at[1].set(7.0)),
    ],
)  # fmt: skip
def test_an_edited_train_one_is_refused_as_such(tmp_path, make, before, same, edited):
    def build(arg):
        return make(arg() if callable(arg) else arg)

    _sweep(tmp_path, train_one=build(before))
    assert _sweep(tmp_path, train_one=build(same)).computed == ()  # equal program, accepted
    with pytest.raises(ValueError, match="other settings") as info:
        _sweep(tmp_path, train_one=build(edited))
    assert "train_one computes something other than the stored sweep" in str(info.value)
    assert "name:" not in str(info.value)  # the same name: only the program tells them apart


def test_the_fingerprint_is_equal_in_fresh_processes(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    children = [_child("child_relu_softmax", out) for out in outs]
    with reaped(*children):
        for child in children:
            code, output = _output(child)
            assert code == 0, output
    programs = [json.loads((out / "settings.json").read_text())["program"] for out in outs]
    assert re.fullmatch("[0-9a-f]{64}", programs[0]) and programs[0] == programs[1]
    assert _sweep(outs[0], train_one=relu_softmax).computed == ()  # and in this one


# --- chunks, verified -------------------------------------------------------------------------


def _rewrite(path, change):
    with np.load(path) as f:
        arrays = dict(f)
    change(arrays)
    np.savez(path, **arrays)


def _flip_a_data_byte(path):
    with np.load(path) as f:
        data = f["leaf_1"].tobytes()
    raw = bytearray(path.read_bytes())
    at = raw.index(data)
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def _copy_from_another_sweep(path):
    other = path.parent.parent.parent / "other"
    _sweep(other, key=7)
    shutil.copy(other / "chunks" / path.name, path)


DAMAGE = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "byte flipped": _flip_a_data_byte,
    "missing a leaf": lambda p: _rewrite(p, lambda a: a.pop("leaf_1")),
    "diverged of another shape": lambda p: _rewrite(p, lambda a: a.update(diverged=np.ones(3, bool))),
    "a pickled leaf": lambda p: _rewrite(p, lambda a: a.update(leaf_1=a["leaf_1"].astype(object))),
    "other values": lambda p: _rewrite(p, lambda a: a.update(leaf_1=a["leaf_1"] + 1.0)),
    "another dtype": lambda p: _rewrite(p, lambda a: a.update(leaf_1=a["leaf_1"].astype(np.float32))),
    "another unit's": lambda p: shutil.copy(p.with_name("p0-c0.npz"), p),
    "another sweep's": _copy_from_another_sweep,
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_chunk_is_reported_by_path_and_computed_again(tmp_path, damage):
    out = tmp_path / "sweep"
    whole = _sweep(out)
    path = out / "chunks" / "p0-c1.npz"
    DAMAGE[damage](path)

    st = sweep.status(out)
    assert UNIT not in st.finished and len(st.finished) == 5
    assert st.missing == (UNIT,)
    (unit, damaged_path, reason), *rest = st.damaged
    assert unit == UNIT and damaged_path == str(path) and reason and not rest

    with pytest.warns(UserWarning, match=re.escape(str(path))) as caught:
        again = _sweep(out)
    assert [type(w.message).__name__ for w in caught] == ["DamagedChunkWarning"]
    assert again.computed == (UNIT,)
    _assert_equal(again, whole)
    assert sweep.status(out).damaged == ()
    assert _sweep(out).computed == ()  # rewritten whole: loads without a warning


def test_status_counts_what_run_computes(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out)
    os.remove(out / "chunks" / "p1-c0.npz")
    (out / "chunks" / "p0-c2.npz").write_bytes(b"not a chunk")
    st = sweep.status(out)
    assert st.missing == (((0,), 2), ((1,), 0))
    assert [d[0] for d in st.damaged] == [((0,), 2)]
    with pytest.warns(sweep.DamagedChunkWarning, match="p0-c2.npz.* cannot be read"):
        assert _sweep(out).computed == st.missing


# --- the folder -------------------------------------------------------------------------------


def _read_only(folder):
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
    for root, _, _ in sorted(os.walk(folder), reverse=True):
        os.chmod(root, 0o555)


def _writable(folder):
    for root, _, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def test_a_read_only_folder_is_refused_before_training_and_loads_when_complete(tmp_path):
    as_root = os.geteuid() == 0
    if as_root and shutil.which("capsh") is None:
        pytest.skip("root writes into read-only folders, and capsh, to drop that, is missing")
    partial, complete = tmp_path / "partial", tmp_path / "complete"
    _sweep(partial, train_one=watched)
    os.remove(partial / "chunks" / "p1-c2.npz")
    whole = _sweep(complete)
    result = tmp_path / "result.json"
    _read_only(partial)
    _read_only(complete)
    try:
        with reaped(_child("child_read_only", partial, complete, result, without_root_powers=as_root)) as (child,):  # fmt: skip
            code, output = _output(child)
        assert code == 0, output
    finally:
        _writable(partial)
        _writable(complete)
    report = json.loads(result.read_text())
    assert report["error"].startswith("PermissionError: out: expected a folder this process can")
    assert str(partial) in report["error"] and "1 unit(s)" in report["error"]
    assert report["calls"] == 0  # refused before any training
    assert report["computed"] == 0
    np.testing.assert_array_equal(report["u"], whole.values["u"])


def _dead_pid():
    """The pid of a process of this host that ran and ended."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_a_leftover_of_a_dead_writer_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out)
    host, pid = _atomic._host(), _dead_pid()
    leftovers = [
        out / "chunks" / f".p0-c0.npz.{host}.{pid}.k2j4x9{_atomic.SUFFIX}",
        out / f".settings.json.{host}.{pid}.a8b7c6{_atomic.SUFFIX}",
    ]
    for path in leftovers:
        path.write_bytes(b"half a file")
    assert _sweep(out).computed == ()
    assert not any(path.exists() for path in leftovers)
    assert sorted(os.listdir(out)) == ["chunks", "settings.json"]


def test_clear_removes_only_a_sweeps_own_files_and_refuses_other_folders(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out)
    (out / "notes.txt").write_text("mine")
    leftover = out / "chunks" / f".p0-c0.npz.{_atomic._host()}.{_dead_pid()}.abc{_atomic.SUFFIX}"
    leftover.write_bytes(b"")
    removed = sweep.clear(out)
    assert len(removed) == 8 and str(leftover) in removed
    assert sorted(os.listdir(out)) == ["notes.txt"]  # the emptied chunks folder is gone too
    assert sweep.clear(tmp_path / "nowhere") == ()

    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"out: expected a sweep folder .* holds neither"):
        sweep.clear(other)
    (other / "settings.json").write_text('{"theme": "dark"}')  # another program's settings
    with pytest.raises(ValueError, match=r"out: expected a sweep folder .* not a sweep's"):
        sweep.clear(other)
    with pytest.raises(ValueError, match="out: expected a folder, got the file"):
        sweep.clear(other / "data.csv")
    assert sorted(os.listdir(other)) == ["data.csv", "settings.json"]
    assert stat.S_ISREG(os.stat(other / "settings.json").st_mode)
