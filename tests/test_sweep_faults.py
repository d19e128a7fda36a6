"""fnnet.sweep on a user's bad day: a directory where a chunk or the settings belong, a full disk
or a file-size limit while writing, clear beside a live writer or a running sweep, a damaged zip
signature, and the processes of one sweep under jax.distributed that disagree or fail. Each is
one clear error naming the file, folder or process; nothing finished is lost; a rerun resumes."""

import errno
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time

import jax
import numpy as np
import pytest
from _children import reaped, start

import fnnet.sweep as sweep
from fnnet import _atomic
from fnnet.sweep import _store

GRID = {"a": np.array([1.0, 2.0])}
UNIT = ((0,), 1)  # grid point 0, seeds 2 and 3: chunks/p0-c1.npz
CALLS = []


def draws(key, a):
    return {"k": jax.random.randint(key, (), 0, 1000), "u": a * jax.random.uniform(key, (2,))}


def watched(key, a):
    """draws, counting in CALLS each time its program runs."""
    jax.debug.callback(lambda: CALLS.append(1))
    return draws(key, a)


def wide(key, a):
    """A chunk of 2 seeds holds 4,800 bytes of data; its settings about 1,000."""
    return {"u": a * jax.random.uniform(key, (300,))}


def edited(key, a):
    """draws, edited: another program under the same name."""
    return draws(key, 2.0 * a)


def _sweep(out, train_one=draws, **kwargs):
    """6 seeds in chunks of 2 at 2 grid points: 6 units, 6 chunks."""
    kwargs = dict(grid=GRID, chunk_size=2, out=out, name="faults", progress=False) | kwargs
    return sweep.run(train_one, 6, **kwargs)


def _assert_equal(a, b):
    for x, y in zip(jax.tree.leaves(a.values), jax.tree.leaves(b.values), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.diverged, b.diverged)


def _temporary_files(folder):
    return [n for _, _, names in os.walk(folder) for n in names if n.endswith(_atomic.SUFFIX)]


# --- children: a file-size limit, and two processes under jax.distributed ---------------------


def _child(entry, *args, n_devices=1):
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return start(__file__, entry, *args, n_devices=n_devices, **pipes)


def _output(proc, timeout=120):
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, (stdout + stderr).decode()


def child_file_size_limit(partial, fresh, result):
    """Resumes ``partial`` and starts ``fresh`` under a file-size limit (as ``ulimit -f`` sets
    it): the chunk, then the settings, are too large to write."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that a write fails with EFBIG instead
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    report = {}
    for what, out, limit in (("chunk", partial, 3000), ("settings", fresh, 200)):
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            _sweep(out, train_one=wide)
        except OSError as e:
            report[what] = [e.errno, str(e)]
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    with open(result, "w") as f:
        json.dump(report, f)


class _FullFile:
    """A file opened for writing on a disk that fills up half-way through the first write."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _disk_full_after(n_writes, monkeypatch):
    """From the (n_writes + 1)-th chunk on, writing fails as on a full disk, half written."""
    real, count = _atomic.write, []

    def write(path, fill):
        if str(path).endswith(".npz"):
            if len(count) >= n_writes:
                return real(path, lambda f: _FullFile(f).write(b"PK\x03\x04 a chunk"))
            count.append(path)
        return real(path, fill)

    monkeypatch.setattr(_atomic, "write", write)


def child_process_of_two(port, process_id, out, variant, result):
    """Process ``process_id`` of a sweep over two: ``edited``, process 1 runs other code;
    ``full disk``, process 1's disk is full after its first chunk; ``fake gpu``, on an
    accelerator (faked) each process chooses another default chunk size; ``unshared``, process 1
    is given another folder."""
    process_id = int(process_id)
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id)
    train_one = edited if variant == "edited" and process_id == 1 else draws
    if variant == "full disk" and process_id == 1:
        _disk_full_after(1, pytest.MonkeyPatch())
    if variant == "fake gpu":  # each process chooses another default chunk size
        from fnnet.sweep import _chunks

        patch = pytest.MonkeyPatch()
        patch.setattr(_chunks, "accelerated", lambda devices: True)
        patch.setattr(_chunks, "choose_chunk_size", lambda *args: [4, 2][process_id])
    chunk_size = None if variant == "fake gpu" else 2
    out = out + "-elsewhere" if variant == "unshared" and process_id == 1 else out
    report, started = {}, time.monotonic()
    try:
        r = sweep.run(train_one, 10, grid={"a": np.array([1.0, 2.0, 3.0])}, chunk_size=chunk_size,
                      out=out, name="faults", progress=False)  # fmt: skip
        report["computed"] = len(r.computed)
    except Exception as e:
        report["error"] = f"{type(e).__name__}: {e}"
    report["seconds"] = time.monotonic() - started
    with open(result, "w") as f:
        json.dump(report, f)


def _two_processes(tmp_path, variant, n_devices=(1, 1)):
    """Runs a sweep over two processes; returns their reports."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    out, results = tmp_path / "shared", [tmp_path / f"p{p}.json" for p in (0, 1)]
    children = [
        _child("child_process_of_two", port, p, out, variant, results[p], n_devices=n_devices[p])
        for p in (0, 1)
    ]
    with reaped(*children):
        for child in children:
            code, output = _output(child)
            assert code == 0, output
    return [json.loads(r.read_text()) for r in results]


# --- a directory where a file belongs --------------------------------------------------------


def test_a_directory_where_a_chunk_belongs_is_named_before_training(tmp_path):
    out = tmp_path / "sweep"
    whole = _sweep(out, train_one=watched)
    path = out / "chunks" / "p0-c1.npz"
    path.unlink()
    path.mkdir()  # a user's mkdir, or a sync tool's copy
    (path / "conflict.txt").write_text("theirs")
    reason = "it is a directory, not a chunk file: remove it"
    assert sweep.status(out).damaged == ((UNIT, str(path), reason),)
    message = re.escape(f"out: {str(path)!r} is a directory, not a chunk file: remove it")
    CALLS.clear()
    with pytest.raises(IsADirectoryError, match=message):
        _sweep(out, train_one=watched)
    assert CALLS == []  # refused before any training
    with pytest.raises(IsADirectoryError, match=message):
        sweep.clear(out)
    assert len(os.listdir(out / "chunks")) == 6  # clear removed nothing
    shutil.rmtree(path)
    again = _sweep(out, train_one=watched)
    assert again.computed == (UNIT,)
    _assert_equal(again, whole)


def test_a_directory_where_the_settings_belong_is_named(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out)
    (out / "settings.json").unlink()
    (out / "settings.json").mkdir()
    message = re.escape(f"out: {str(out / 'settings.json')!r} is a directory, not a sweep's")
    for call in (_sweep, sweep.status, sweep.clear):
        with pytest.raises(IsADirectoryError, match=message + " settings file: remove it"):
            call(out)


# --- a full disk, a file-size limit -----------------------------------------------------------


def test_a_full_disk_names_the_chunk_and_what_is_finished_and_a_rerun_resumes(
    tmp_path, monkeypatch
):
    out = tmp_path / "sweep"
    _disk_full_after(3, monkeypatch)
    with pytest.raises(OSError) as info:
        _sweep(out)
    assert info.value.errno == errno.ENOSPC
    path = out / "chunks" / "p1-c0.npz"  # the 4th unit
    assert str(info.value) == (
        f"[Errno 28] out: could not write chunk {str(path)!r} (No space left on device); 3 of 6 "
        f"units are finished and kept in {str(out)!r} (3 of them computed by this run); free "
        "space on its filesystem, then rerun with the same arguments to resume"
    )
    assert _temporary_files(out) == [] and not path.exists()
    assert len(sweep.status(out).finished) == 3
    monkeypatch.undo()
    resumed = _sweep(out)
    assert resumed.computed == (((1,), 0), ((1,), 1), ((1,), 2))
    _assert_equal(resumed, _sweep(None))


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_full_disk_while_creating_the_settings_leaves_no_file(tmp_path, monkeypatch, hard_links):
    out = tmp_path / "sweep"
    real_write, real_open = _atomic.write, open

    def full_write(path, fill):
        if "settings.json" in str(path):
            return real_write(path, lambda f: _FullFile(f).write(b'{"format": 2, ...}'))
        return real_write(path, fill)

    def no_link(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted", src)

    def full_open(path, mode="r", *args, **kwargs):  # the fallback writes the file in place
        file = real_open(path, mode, *args, **kwargs)
        return _FullFile(file) if mode == "xb" else file

    if hard_links:
        monkeypatch.setattr(_atomic, "write", full_write)
    else:
        monkeypatch.setattr(os, "link", no_link)
        monkeypatch.setattr(_store, "open", full_open, raising=False)
    with pytest.raises(OSError) as info:
        _sweep(out)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert str(info.value).startswith(
        f"[Errno 28] out: could not write {str(out / 'settings.json')!r} (No space left on "
        "device); no unit of the sweep is finished yet; free space on its filesystem"
    )
    assert os.listdir(out) == ["chunks"] and os.listdir(out / "chunks") == []
    assert len(_sweep(out).computed) == 6


def test_a_file_size_limit_names_the_file_for_real_and_a_rerun_resumes(tmp_path):
    partial, fresh, result = tmp_path / "partial", tmp_path / "fresh", tmp_path / "result.json"
    whole = _sweep(partial, train_one=wide)
    for name in ("p0-c1.npz", "p1-c2.npz"):
        (partial / "chunks" / name).unlink()
    with reaped(_child("child_file_size_limit", partial, fresh, result)) as (child,):
        code, output = _output(child)
    assert code == 0, output
    report = json.loads(result.read_text())
    assert report["chunk"] == [
        errno.EFBIG,
        f"[Errno 27] out: could not write chunk {str(partial / 'chunks' / 'p0-c1.npz')!r} (File "
        f"too large); 4 of 6 units are finished and kept in {str(partial)!r} (0 of them computed "
        "by this run); raise the file-size limit (ulimit -f) or use a filesystem that takes "
        "larger files, then rerun with the same arguments to resume",
    ]
    assert report["settings"][0] == errno.EFBIG
    assert report["settings"][1].startswith(
        f"[Errno 27] out: could not write {str(fresh / 'settings.json')!r} (File too large); "
        "no unit of the sweep is finished yet; raise the file-size limit"
    )
    assert _temporary_files(tmp_path) == [] and not (fresh / "settings.json").exists()
    resumed = _sweep(partial, train_one=wide)
    assert resumed.computed == (UNIT, ((1,), 2))
    _assert_equal(resumed, whole)


# --- a damaged zip signature ------------------------------------------------------------------


def test_a_damaged_zip_header_is_named_as_such_not_as_pickled_data(tmp_path):
    out = tmp_path / "sweep"
    whole = _sweep(out)
    path = out / "chunks" / "p0-c1.npz"
    good = path.read_bytes()
    path.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])  # the first byte of "PK\x03\x04"
    reason = sweep.status(out).damaged[0][2]
    assert reason == (
        "it cannot be read as an .npz archive (it is not a valid zip file: it starts with "
        "b'\\xafK\\x03\\x04', a zip with b'PK\\x03\\x04')"
    )
    path.write_bytes(good[:26] + bytes([good[26] ^ 0xFF]) + good[27:])  # a member's name length
    reason = sweep.status(out).damaged[0][2]
    assert "BadZipFile" in reason and "pickled" not in reason and len(reason) <= 350, reason
    with pytest.warns(sweep.DamagedChunkWarning, match="BadZipFile"):
        again = _sweep(out)
    assert again.computed == (UNIT,)
    _assert_equal(again, whole)


# --- clear beside a live writer ---------------------------------------------------------------


def test_clear_refuses_while_a_writer_may_still_write_and_removes_stale_leftovers(tmp_path):
    out = tmp_path / "sweep"
    _sweep(out)
    before = sorted(os.listdir(out / "chunks"))
    mine = out / "chunks" / f".p0-c0.npz.{_atomic._host()}.{os.getpid()}.k2j4x9{_atomic.SUFFIX}"
    mine.write_bytes(b"half a chunk")
    with pytest.raises(RuntimeError, match=re.escape(f"its temporary file {str(mine)!r}")) as info:
        sweep.clear(out)
    assert f"(process {os.getpid()} of this host still runs)" in str(info.value)
    mine.unlink()
    theirs = out / f".settings.json.elsewhere.4242.a8b7c6{_atomic.SUFFIX}"
    theirs.write_bytes(b"half the settings")
    with pytest.raises(RuntimeError, match="a process of host 'elsewhere' wrote it 0 s ago"):
        sweep.clear(out)
    assert sorted(os.listdir(out / "chunks")) == before and (out / "settings.json").exists()
    hours_ago = time.time() - 2 * _atomic.STALE_SECONDS
    os.utime(theirs, (hours_ago, hours_ago))  # now no writer of any host can still run
    removed = sweep.clear(out)
    assert str(theirs) in removed and len(removed) == 8
    assert os.listdir(out) == []


def test_clear_refuses_while_a_sweep_runs_in_the_folder(tmp_path):
    out = tmp_path / "sweep"
    tries = []

    def try_clear():
        try:
            tries.append(sweep.clear(out))
        except RuntimeError as e:
            tries.append(str(e))

    def clearing(key, a):  # calls clear while its sweep runs, from inside the program
        jax.debug.callback(try_clear)
        return draws(key, a)

    r = _sweep(out, train_one=clearing)
    assert tries and all(isinstance(t, str) and "out: a sweep runs in" in t for t in tries), tries
    assert len(r.computed) == 6 and sweep.status(out).missing == ()
    assert len(sweep.clear(out)) == 7  # once it ended: the settings and 6 chunks


# --- two processes under jax.distributed ------------------------------------------------------


def test_processes_that_run_different_code_fail_together_before_training(tmp_path):
    reports = _two_processes(tmp_path, "edited")
    for report in reports:
        error = report["error"]
        assert error.startswith("ValueError: out: the 2 processes of this sweep disagree on its")
        assert "none trains" in error and "Differences from process 0: train_one computes " in error
        assert "something other than process 0's train_one" in error
        assert 'program: process 0 has "' in error and ', process 1 has "' in error
    assert reports[0]["error"] == reports[1]["error"]
    assert not (tmp_path / "shared" / "settings.json").exists()


def test_processes_with_unequal_device_counts_fail_together(tmp_path):
    reports = _two_processes(tmp_path, "same", n_devices=(2, 1))
    for report in reports:
        assert report["error"] == (
            "ValueError: jax.local_devices(): expected the same number of local devices on every "
            "process of a sweep (each spreads a chunk's seeds evenly over its devices, and "
            "results are bitwise equal at one device count only), got process 0: 2 devices, "
            "process 1: 1 device"
        )


def test_a_failed_process_stops_its_peer_and_a_rerun_resumes(tmp_path):
    reports = _two_processes(tmp_path, "full disk")
    assert reports[1]["error"].startswith("OSError: [Errno 28] out: could not write chunk")
    assert "1 of 7 units of this process's share are finished" in reports[1]["error"]
    assert reports[0]["error"].startswith(
        f"PeerFailed: process 1 of the 2 processes of this sweep failed ({reports[1]['error']}), "
        "so this one stops too. No finished chunk is lost: remove the cause, then rerun every "
        "process with the same arguments to resume"
    )
    out = tmp_path / "shared"
    grid = {"a": np.array([1.0, 2.0, 3.0])}
    before = sweep.status(out)
    resumed = sweep.run(draws, 10, grid=grid, chunk_size=2, out=out, name="faults", progress=False)
    assert resumed.computed == before.missing and len(before.finished) >= 2
    whole = sweep.run(draws, 10, grid=grid, chunk_size=2, progress=False)
    _assert_equal(resumed, whole)


def test_processes_on_accelerators_take_the_smallest_default_chunk_size(tmp_path):
    reports = _two_processes(tmp_path, "fake gpu")  # process 0 chooses 4 seeds, process 1 two
    assert [r.get("error") for r in reports] == [None, None]
    assert sorted(r["computed"] for r in reports) == [7, 8]  # 15 units of 2 seeds
    assert sweep.status(tmp_path / "shared").settings["chunk_size"] == 2


def test_processes_that_find_other_sweeps_in_out_share_no_folder(tmp_path):
    grid = {"a": np.array([1.0, 2.0, 3.0])}
    out = tmp_path / "shared"
    sweep.run(draws, 10, grid=grid, chunk_size=2, out=out, name="faults", progress=False)
    reports = _two_processes(tmp_path, "unshared")  # process 1 looks into an empty folder
    for report, folder in zip(reports, [out, f"{out}-elsewhere"]):
        assert report["error"] == (
            f"ValueError: out: expected a folder that all processes of the sweep share, got "
            f"{str(folder)!r}, in which process 0 finds sweep {_digest(out)}, "
            "process 1 finds no sweep; give every process the path of one shared folder"
        )
    assert not os.path.exists(f"{out}-elsewhere/settings.json")


def _digest(out):
    """The first 16 hex digits of the digest that the chunks of the sweep in ``out`` name."""
    with np.load(out / "chunks" / "p0-c0.npz") as chunk:
        return str(chunk["sweep"])[:16]
