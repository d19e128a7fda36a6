"""fnnet.sweep's chunks: the chunk size never changes results, the default on a CPU follows the
program's loop state and the L2 cache, the default on an accelerator fits the free memory (a fake
GPU here, on CPU), a resumed sweep keeps its stored chunk size, a chunk split over CPU threads
equals the unsplit one, bad chunk sizes are named."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
import fnnet.sweep as sweep
from fnnet.sweep import _chunks, _program

NET = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
XOR = fn.data.logic_gate("xor")
CLOSE = dict(rtol=1e-5, atol=1e-6)


def _xor(key, lr, layout):
    state, history = fn.train.fit(
        NET,
        optax.sgd(lr),
        key,
        XOR,
        epochs=20,
        batch_size=4,
        loss="half_sse",
        record=fn.train.Record(history="final"),
        layout=layout,
    )
    return {"loss": history["loss"], "params": state.params}


def xor_scalar(key, lr):
    """XOR 2-2-1, plain SGD, full batch, the scalar layout: elementwise over seeds."""
    return _xor(key, lr, "scalar")


def xor_matrix(key, lr):
    """The same in the matrix layout, whose code for a batch of seeds may round otherwise."""
    return _xor(key, lr, "matrix")


def draws(key, k=1):
    """Cheap: a few of the seed's random numbers."""
    return {"u": jax.random.uniform(key, (3,)) * k}


def wide(key):
    """Like draws, with a result of 1000 floats per seed."""
    return {"u": jax.random.uniform(key, (1000,))}


LR = {"lr": np.array([0.5, 2.0], np.float32)}


def _run(train_one, n_seeds, **kwargs):
    return sweep.run(train_one, n_seeds, progress=False, **kwargs)


def _assert_equal(a, b):
    for x, y in zip(jax.tree.leaves(a.values), jax.tree.leaves(b.values), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.diverged, b.diverged)


# --- the chunk size never changes results ----------------------------------------------------


def test_chunk_size_does_not_change_scalar_layout_results():
    # From 2 seeds per chunk up; XLA's code for a batch of one seed may round a last bit
    # otherwise (measured: chunk_size=1 moved 9 of these 48 losses by one float32 ulp).
    whole = _run(xor_scalar, 24, grid=LR)
    assert whole.values["loss"].shape == (2, 24) and np.all(np.isfinite(whole.values["loss"]))
    for chunk_size in (3, 12):  # test_threads_split_equals_unsplit reuses these programs
        _assert_equal(_run(xor_scalar, 24, grid=LR, chunk_size=chunk_size), whole)


def test_chunk_size_does_not_change_random_draws():
    grid = {"k": np.array([1.0, -2.0])}
    whole = _run(draws, 30, grid=grid)
    for chunk_size in (1, 7, 64):
        _assert_equal(_run(draws, 30, grid=grid, chunk_size=chunk_size), whole)


def test_chunk_size_changes_matrix_layout_results_by_rounding_at_most():
    whole = _run(xor_matrix, 24, grid=LR)
    part = _run(xor_matrix, 24, grid=LR, chunk_size=7)
    for x, y in zip(jax.tree.leaves(part.values), jax.tree.leaves(whole.values), strict=True):
        np.testing.assert_allclose(x, y, **CLOSE)


# --- the default on a CPU: the loop state against the L2 cache ---------------------------------


def test_loop_state_bytes_is_the_largest_carry_at_any_depth():
    def two_loops(x):
        small = jax.lax.fori_loop(0, 3, lambda i, c: c + 1.0, jnp.zeros(5))  # 20 bytes
        inner = lambda c, _: (c * 2.0, None)  # noqa: E731
        big = jax.lax.scan(
            lambda c, _: (jax.lax.scan(inner, c, None, length=2)[0], None), x, None, 4
        )
        return small.sum() + big[0].sum()

    jaxpr = jax.make_jaxpr(two_loops)(jnp.zeros((7, 3), jnp.float32))  # 84 bytes
    assert sweep.loop_state_bytes(jaxpr) == 84
    assert sweep.loop_state_bytes(jax.make_jaxpr(lambda x: x + 1)(1.0)) == 0
    # fit's state for one seed of a 2-2-1 network and plain SGD: the 9 parameters, the loss and
    # an int32 counter, 4 bytes each
    one = jax.make_jaxpr(lambda k: xor_scalar(k, 0.5))(jax.random.key(0))
    assert sweep.loop_state_bytes(one) == 11 * 4


def test_l2_bytes_reads_linux_cache_folders(tmp_path):
    def index(name, level, kind, size):
        folder = tmp_path / name
        folder.mkdir()
        for field, text in (("level", level), ("type", kind), ("size", size)):
            (folder / field).write_text(text + "\n")

    index("index0", "1", "Data", "48K")
    index("index1", "1", "Instruction", "32K")
    index("index2", "2", "Unified", "2048K")
    index("index3", "3", "Unified", "32768K")
    assert _chunks._l2_bytes(str(tmp_path)) == 2 * 2**20
    assert _chunks._l2_bytes(str(tmp_path / "absent")) is None
    (tmp_path / "index2" / "size").write_text("lots\n")
    assert _chunks._l2_bytes(str(tmp_path)) is None
    assert sweep.cache_bytes() >= 1  # this machine's, or the assumed 1 MiB


def test_cpu_chunk_size_keeps_each_cores_working_set_near_its_cache(monkeypatch):
    monkeypatch.setattr(_chunks, "cache_bytes", lambda: 2**20)
    monkeypatch.setattr(_chunks, "host_cores", lambda: 2)
    cpu = jax.local_devices(backend="cpu")[:1]
    chunk = lambda state, n_seeds=10**6, devices=cpu: sweep.cpu_chunk_size(  # noqa: E731
        n_seeds, devices, state
    )
    # 1 MiB / (4 x 40 bytes) = 6,554 seeds a core: 8,192, the nearest power of two, on 2 cores
    assert chunk(40) == 2 * 8192
    # XOR with momentum: 9 parameters, 9 velocities, the loss and a counter, 80 bytes: 3,277 -> 4,096
    assert chunk(80) == 2 * 4096
    assert chunk(424) == sweep.CHUNK_SEEDS  # larger networks keep the smallest default
    assert chunk(4) == 2 * sweep.MAX_PART_SEEDS  # a tiny state: at most MAX_PART_SEEDS a core
    assert chunk(0) == 2 * sweep.MAX_PART_SEEDS  # no loop at all
    assert chunk(None) == sweep.default_chunk_size(10**6, 1) == sweep.CHUNK_SEEDS  # unknown
    assert chunk(40, n_seeds=1000) == 1000  # all seeds in one chunk
    monkeypatch.setattr(_chunks, "host_cores", lambda: 8)
    assert chunk(40) == 8 * 8192
    # three host devices: one core each, and a multiple of the device count
    three = [FakeCPU()] * 3
    assert chunk(40, devices=three) == 3 * 8192
    assert chunk(40, n_seeds=1000, devices=three) == 1002
    assert sweep.choose_chunk_size(10**6, cpu, state_bytes=lambda: 40) == 8 * 8192


class FakeCPU:
    platform = "cpu"


def test_default_cpu_chunk_follows_train_ones_state_and_keeps_results(monkeypatch, tmp_path):
    # a cache of 2,560 bytes against 4 x 44 bytes a seed (xor_scalar's state): 14.5 seeds, 16
    # the nearest power of two, a core; 2 cores
    monkeypatch.setattr(_chunks, "cache_bytes", lambda: 16 * 4 * 40)
    monkeypatch.setattr(_chunks, "host_cores", lambda: 2)
    monkeypatch.setattr(_chunks, "CHUNK_SEEDS", 8)
    r = _run(xor_scalar, 80, grid=LR, out=tmp_path)
    assert sweep.status(tmp_path).settings["chunk_size"] == 32
    _assert_equal(r, _run(xor_scalar, 80, grid=LR, chunk_size=8))  # bitwise: elementwise
    # a train_one that cannot be traced for one seed here: the unknown-state rule, and its own
    # trace names the problem
    with pytest.raises(TypeError, match="train_one: expected results that are numeric arrays"):
        _run(lambda key: {"s": "text"}, 80)


# --- the default on an accelerator: a fake GPU -----------------------------------------------


class FakeGPU:
    platform = "gpu"

    def __init__(self, free, in_use=0):
        self.stats = (
            None if free is None else {"bytes_limit": free + in_use, "bytes_in_use": in_use}
        )

    def memory_stats(self):
        return self.stats


def _within_budget(chunk, n_devices, need, free):
    return need.fixed + need.per_seed * (chunk // n_devices) <= sweep.MEMORY_FRACTION * free


def test_gpu_chunk_size_scales_with_free_memory_and_per_seed_bytes():
    def chunk(free, per_seed, n_devices=1, n_seeds=10**9):
        need = sweep.MemoryNeed(fixed=10_000, per_seed=per_seed)
        return sweep.choose_chunk_size(n_seeds, [FakeGPU(free)] * n_devices, need)

    most = (10**8 - 10_000) // 1_000  # seeds in half of the free memory, less the fixed part
    assert chunk(2 * 10**8, 1_000, n_seeds=10 * most) == most
    assert chunk(2 * 10**8, 1_000, n_devices=3, n_seeds=30 * most) == 3 * most
    assert chunk(2 * 10**8, 1_000, n_seeds=10 * most + 1) == -(
        -(10 * most + 1) // 11
    )  # 11 equal chunks
    assert chunk(2 * 10**8, 1_000) == pytest.approx(most, rel=1e-3)
    assert chunk(4 * 10**8, 1_000) == pytest.approx(2 * most, rel=1e-3)
    assert chunk(8 * 10**8, 1_000) == pytest.approx(4 * most, rel=1e-3)
    assert chunk(2 * 10**8, 2_000) == pytest.approx(most / 2, rel=1e-3)
    assert chunk(2 * 10**8, 4_000) == pytest.approx(most / 4, rel=1e-3)
    # memory in use counts, and the device with the least free memory decides
    need = sweep.MemoryNeed(fixed=10_000, per_seed=1_000)
    devices = [FakeGPU(4 * 10**8), FakeGPU(2 * 10**8, in_use=10**9)]
    assert sweep.choose_chunk_size(20 * most, devices, need) == 2 * most


def test_gpu_chunk_size_stays_under_budget_and_respects_seeds_and_devices():
    rng = np.random.default_rng(0)
    for _ in range(500):
        n_devices = int(rng.integers(1, 9))
        n_seeds = int(rng.integers(1, 10**7))
        need = sweep.MemoryNeed(int(rng.integers(0, 10**6)), int(rng.integers(1, 10**6)))
        free = int(rng.integers(2 * need.fixed + 2 * need.per_seed, 10**11))
        chunk = sweep.choose_chunk_size(n_seeds, [FakeGPU(free)] * n_devices, need)
        assert chunk % n_devices == 0 and chunk >= n_devices
        assert chunk <= -(-n_seeds // n_devices) * n_devices  # no chunk longer than the seeds
        assert chunk // n_devices <= sweep.MAX_SEEDS_PER_DEVICE
        assert _within_budget(chunk, n_devices, need, free), (n_seeds, n_devices, need, free)
        # the fewest chunks that fit, the padding of the last one under one seed per device each
        n_chunks = -(-n_seeds // chunk)
        assert n_chunks * chunk - n_seeds < n_chunks * n_devices


def test_gpu_chunk_size_edges():
    need = sweep.MemoryNeed(0, 100)
    assert sweep.choose_chunk_size(10, [FakeGPU(10**12)] * 4, need) == 12  # all seeds, x4
    most = sweep.MAX_SEEDS_PER_DEVICE
    assert sweep.choose_chunk_size(4 * most, [FakeGPU(10**15)] * 2, need) == 2 * most
    assert sweep.choose_chunk_size(100, [FakeGPU(10)] * 2, need) == 2  # too little: 1 per device
    big = sweep.MemoryNeed(0, 10_000)
    assumed = int(sweep.ASSUMED_FREE_MEMORY * sweep.MEMORY_FRACTION // 10_000)
    assert sweep.choose_chunk_size(3 * assumed, [FakeGPU(None)], big) == assumed
    # an unknown memory need: the CPU rule; a callable need is called on an accelerator only
    assert sweep.choose_chunk_size(10**6, [FakeGPU(10**12)], None) == sweep.CHUNK_SEEDS
    assert sweep.choose_chunk_size(10**6, [FakeGPU(10**12)], lambda: None) == sweep.CHUNK_SEEDS
    on_cpu = sweep.choose_chunk_size(10**6, jax.local_devices(backend="cpu"), lambda: 1 / 0)
    assert on_cpu == sweep.default_chunk_size(10**6, 1) == sweep.CHUNK_SEEDS
    with pytest.raises(ValueError, match="n_seeds: expected an integer >= 1, got 0"):
        sweep.choose_chunk_size(0, [FakeGPU(10**9)], need)
    with pytest.raises(ValueError, match="devices: expected at least one device, got none"):
        sweep.choose_chunk_size(10, [], need)


def test_free_memory_reads_stats_or_none():
    assert sweep.free_memory(FakeGPU(1000, in_use=300)) == 1000
    assert sweep.free_memory(FakeGPU(None)) is None
    assert sweep.free_memory(jax.local_devices(backend="cpu")[0]) is None  # the CPU: none


def _fake_gpu(monkeypatch, free):
    monkeypatch.setattr(_chunks, "accelerated", lambda devices: True)
    monkeypatch.setattr(_chunks, "free_memory", lambda device: free)


def test_run_on_fake_gpu_measures_memory_and_fits_the_budget(monkeypatch, tmp_path):
    lower = _program.jit_program(wide).lower
    need = _chunks.measure_need(lambda s: lower(jax.random.key(0), s, {}), jax.local_devices()[0])
    # each seed: 1000 float32 out, twice (a chunk computed while the last is fetched), at least
    assert need.per_seed >= 8000 and need.fixed >= 0
    free = 2 * (need.fixed + 700 * need.per_seed)  # room for 700 seeds
    _fake_gpu(monkeypatch, free)
    r = _run(wide, 2000, out=tmp_path)
    chunk = sweep.status(tmp_path).settings["chunk_size"]
    assert chunk == 667  # 2000 seeds in 3 chunks of at most 700
    assert _within_budget(chunk, 1, need, free)
    _assert_equal(r, _run(wide, 2000, chunk_size=1000))
    # more free memory, larger chunks, same results
    _fake_gpu(monkeypatch, 2 * free)
    assert sweep.run(wide, 2000, out=tmp_path / "b", progress=False).values["u"].shape == (
        2000,
        1000,
    )
    assert sweep.status(tmp_path / "b").settings["chunk_size"] == 1000


def test_resume_keeps_the_stored_chunk_size(monkeypatch, tmp_path):
    grid = {"k": np.array([1.0, 2.0])}
    first = _run(draws, 12, grid=grid, chunk_size=4, out=tmp_path)
    os.unlink(os.path.join(tmp_path, "chunks", "p1-c2.npz"))

    def measure(*args):
        raise AssertionError("a resumed sweep measured memory for a default chunk size")

    _fake_gpu(monkeypatch, 10**12)  # the default would be one chunk of all 12 seeds
    monkeypatch.setattr(_chunks, "measure_need", measure)
    resumed = _run(draws, 12, grid=grid, out=tmp_path)
    assert resumed.computed == (((1,), 2),)
    assert sweep.status(tmp_path).settings["chunk_size"] == 4
    _assert_equal(resumed, first)


# --- chunks split over CPU threads -----------------------------------------------------------


def test_cpu_parts():
    cpu = jax.local_devices(backend="cpu")[:1]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_chunks, "host_cores", lambda: 4)
        m.setattr(_chunks, "MIN_PART_SEEDS", 10)
        assert sweep.cpu_parts(4096, cpu) == 4
        assert sweep.cpu_parts(30, cpu) == 3  # parts of 10 seeds at least
        assert sweep.cpu_parts(4098, cpu) == 3  # the largest divisor up to the cores
        assert sweep.cpu_parts(4099, cpu) == 1  # a prime: not split
        assert sweep.cpu_parts(19, cpu) == 1
        assert sweep.cpu_parts(4096, cpu * 2) == 1  # several devices shard the chunk instead
        assert sweep.cpu_parts(4096, [FakeGPU(10**9)]) == 1
        m.setattr(_chunks, "host_cores", lambda: 1)
        assert sweep.cpu_parts(4096, cpu) == 1


# sweeps that split their chunks over CPU threads: on the CPU backend only (experiments.gpu_check
# runs this file with a GPU as the default backend, where chunks are never split)
on_cpu = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU's thread split")


@on_cpu
@pytest.mark.parametrize("train_one", [xor_scalar, draws], ids=["xor-scalar", "draws"])
def test_threads_split_equals_unsplit(monkeypatch, train_one):
    grid = LR if train_one is xor_scalar else None
    monkeypatch.setattr(_chunks, "MIN_PART_SEEDS", 2)
    monkeypatch.setattr(_chunks, "host_cores", lambda: 1)
    plain = _run(train_one, 30, grid=grid, chunk_size=12)
    monkeypatch.setattr(_chunks, "host_cores", lambda: 4)
    assert sweep.cpu_parts(12, jax.local_devices()) == 4  # 4 threads, 3 seeds each
    _assert_equal(_run(train_one, 30, grid=grid, chunk_size=12), plain)


@on_cpu
def test_threads_split_reports_errors():
    def broken(key):
        return {"x": jax.pure_callback(lambda: 1 / 0, jax.ShapeDtypeStruct((), jnp.float32))}

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_chunks, "MIN_PART_SEEDS", 2)
        m.setattr(_chunks, "host_cores", lambda: 2)
        assert sweep.cpu_parts(8, jax.local_devices()) == 2
        with pytest.raises(Exception, match="division by zero"):
            _run(broken, 8, chunk_size=8)


# --- bad chunk sizes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunk_size, error, message",
    [
        (0, ValueError, "chunk_size: expected an integer >= 1, got 0"),
        (-4, ValueError, "chunk_size: expected an integer >= 1, got -4"),
        (1.5, TypeError, r"chunk_size: expected an integer, got 1.5 \(float\)"),
        ("4", TypeError, r"chunk_size: expected an integer, got '4' \(str\)"),
        (True, TypeError, r"chunk_size: expected an integer, got True \(bool\)"),
    ],
)
def test_bad_chunk_size(chunk_size, error, message):
    with pytest.raises(error, match=message):
        _run(draws, 8, chunk_size=chunk_size)
