import gzip
import struct

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet as fn


@pytest.mark.parametrize(
    ("gate", "truth"),
    [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("nand", [1, 1, 1, 0]), ("xor", [0, 1, 1, 0])],
)
def test_logic_gates(gate, truth):
    X, T = fn.data.logic_gate(gate)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(T.ravel(), truth)
    assert T.shape == (4, 1)


def test_minibatch_indices_are_a_permutation_cut_in_rows(getkey):
    idx = fn.train.minibatch_indices(getkey(), 10, 3)
    assert idx.shape == (3, 3)
    assert len(set(np.asarray(idx).ravel().tolist())) == 9
    full = fn.train.minibatch_indices(getkey(), 8, 8)
    np.testing.assert_array_equal(np.sort(np.asarray(full).ravel()), np.arange(8))


def test_digits_split_and_scale():
    (X, y), (Xt, yt) = fn.data.digits()
    assert X.shape == (1437, 64) and Xt.shape == (360, 64)
    assert X.min() >= 0 and X.max() <= 1 and set(np.unique(y)) == set(range(10))


def test_mnist1d_standard_split_sizes():
    (X, y), (Xt, yt) = fn.data.mnist1d(num_samples=500)
    assert X.shape == (400, 40) and Xt.shape == (100, 40) and y.shape == (400,)
    assert X.dtype == np.float32 and y.dtype == np.int32


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2, 3, 4) + data.tobytes()
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    np.testing.assert_array_equal(fn.data.read_idx(path), data)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="path: expected an IDX file"):
        fn.data.read_idx(tmp_path / "bad")


def test_io_round_trip_and_mismatch(tmp_path, getkey):
    net = fn.MLP((3, 4, 2))
    params = net.init(getkey())
    path = tmp_path / "p.npz"
    fn.io.save(path, params)
    loaded = fn.io.load(path, like=net)
    chex.assert_trees_all_equal(loaded, jax.tree.map(np.asarray, params))
    with np.load(path, allow_pickle=False) as f:  # readable without pickle
        assert "__fnnet_structure__" in f.files
    with pytest.raises(ValueError, match=r"\[0\]\['W'\].*expected shape \(3, 5\)"):
        fn.io.load(path, like=fn.MLP((3, 5, 2)))
    with pytest.raises(ValueError, match="path: leaf"):
        fn.io.load(
            path,
            like=[
                {"W": jnp.zeros((3, 4)), "b": jnp.zeros(4)},
                {"W": jnp.zeros((4, 3)), "b": jnp.zeros(2)},
            ],
        )
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a parameter file"):
        fn.io.load(tmp_path / "other.npz")
