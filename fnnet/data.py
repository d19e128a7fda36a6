"""Data for the lecture's experiments, all made or read locally: logic-gate truth tables, MNIST-1D,
scikit-learn's 8x8 digits and MNIST IDX files."""

from __future__ import annotations

import functools
import gzip
import numbers
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks

__all__ = ["logic_gate", "GATES", "insects", "mnist1d", "digits", "read_idx"]

_X2 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {
    "and": np.array([0, 0, 0, 1], dtype=np.float32),
    "or": np.array([0, 1, 1, 1], dtype=np.float32),
    "nand": np.array([1, 1, 1, 0], dtype=np.float32),
    "xor": np.array([0, 1, 1, 0], dtype=np.float32),
}


def logic_gate(name: str, dtype=np.float32):
    """The truth table of a two-input gate, rows (x1, x2) = 00, 01, 10, 11.

    Examples:
      >>> X, T = logic_gate("xor")
      >>> T.ravel().tolist()
      [0.0, 1.0, 1.0, 0.0]

    Args:
      name: ``"and"``, ``"or"``, ``"nand"`` or ``"xor"`` (any case).
      dtype: a real dtype, floating (the default float32) or integer.

    Returns:
      ``(X, T)``: X (4, 2) and T (4, 1), as NumPy arrays of ``dtype``.
    """
    names = ", ".join(map(repr, GATES))
    if not isinstance(name, str):
        raise TypeError(f"name: expected a gate name (str), one of {names}, got {name!r}")
    if name.lower() not in GATES:
        raise ValueError(f"name: expected one of {names}, got {name!r}")
    try:
        parsed = None if dtype is None else np.dtype(dtype)
    except TypeError:
        parsed = None
    if parsed is None or parsed.kind not in "iuf":  # not bool, complex, str or object
        got = repr(dtype) if parsed is None else f"dtype {parsed}"
        raise TypeError(
            f"dtype: expected a real dtype (floating or integer) such as np.float32, got {got}"
        )
    return _X2.astype(parsed), GATES[name.lower()][:, None].astype(parsed)


def _fraction(value, name: str) -> float:
    """``value`` as a Python float strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a fraction in (0, 1), got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name}: expected a fraction in (0, 1), got {value!r}")
    return float(value)


def insects(key, n: int = 300, noise: float = 0.3):
    """Two noisy classes of the linear-classifier example: ladybirds (wide and short, around width
    3.0, length 1.0; label 0) and caterpillars (narrow and long, around width 1.0, length 3.0;
    label 1), half each, in random order.

    Width and length get Gaussian noise of standard deviation ``noise`` (relative to the class
    centre's size), clipped to at least 0.1 so that every width is a usable divisor.

    ``key`` is one PRNG key, ``n`` >= 2, ``noise`` one real number >= 0 and finite (it may be a
    traced 0-d array, checked then for shape and dtype only).

    Returns:
      ``(points, labels)``: points (n, 2) as (width, length), labels (n,) int32. Jax arrays.
    """
    _checks.key(key)
    n = _checks.integer(n, "n", minimum=2)
    _checks.real_scalar(noise, "noise")
    if _checks.is_concrete(noise) and not 0 <= float(noise) < float("inf"):
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}")
    k_label, k_noise = jax.random.split(key)
    labels = jax.random.permutation(k_label, jnp.arange(n) % 2).astype(jnp.int32)
    centre = jnp.where(labels[:, None] == 1, jnp.array([1.0, 3.0]), jnp.array([3.0, 1.0]))
    points = centre * (1.0 + noise * jax.random.normal(k_noise, (n, 2), centre.dtype))
    return jnp.maximum(points, 0.1), labels


@functools.lru_cache(maxsize=8)
def _mnist1d_cached(num_samples: int, seed: int, train_split: float):
    data = _checks.require("mnist1d.data", "mnist1d")
    args = data.get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_split
    # mnist1d seeds NumPy's global generator; leave the caller's generator as it was
    state = np.random.get_state()
    try:
        d = data.make_dataset(args)
    finally:
        np.random.set_state(state)
    return (
        (d["x"].astype(np.float32), d["y"].astype(np.int32)),
        (d["x_test"].astype(np.float32), d["y_test"].astype(np.int32)),
    )


def mnist1d(num_samples: int = 5000, seed: int = 42, train_split: float = 0.8):
    """MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package.

    The defaults give the standard data set: 5000 sequences of length 40 in 10 classes, 4000 for
    training and 1000 for testing, standardised to zero mean and unit variance.

    Returns:
      ``((X_train, y_train), (X_test, y_test))``: float32 (n, 40) and int32 (n,) NumPy arrays.
    """
    num_samples = _checks.integer(num_samples, "num_samples", minimum=20)
    seed = _checks.integer(seed, "seed", minimum=0)
    train_split = _fraction(train_split, "train_split")
    (xtr, ytr), (xte, yte) = _mnist1d_cached(num_samples, seed, train_split)
    return (xtr.copy(), ytr.copy()), (xte.copy(), yte.copy())


def digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images), pixels scaled to [0, 1].

    The split is stratified by class and drawn from ``seed``.

    Returns:
      ``((X_train, y_train), (X_test, y_test))``: float32 (n, 64) and int32 (n,) NumPy arrays.
    """
    test_fraction = _fraction(test_fraction, "test_fraction")
    seed = _checks.integer(seed, "seed", minimum=0)
    datasets = _checks.require("sklearn.datasets", "scikit-learn")
    selection = _checks.require("sklearn.model_selection", "scikit-learn")
    d = datasets.load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int32)
    xtr, xte, ytr, yte = selection.train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return (xtr, ytr), (xte, yte)


_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (the format of the MNIST distribution), raw or gzip-compressed.

    A user who has ``train-images-idx3-ubyte.gz`` reads it as a (60000, 28, 28) uint8 array.
    Nothing is downloaded. The header is 0x0000, a type code, the number of dimensions and each
    dimension as a big-endian uint32; the data must fill exactly the bytes they call for. Every
    failure names ``path``: a missing or unreadable file, damaged gzip, a wrong magic, a short
    header, or data of another length.
    """
    import zlib  # local: only read_idx needs zlib.error (what gzip raises for corrupt data)

    path = _checks.path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise type(e)(f"path: cannot read {path!r}: {e.strerror or e}") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:  # truncated, bad header or CRC, bad data
            raise ValueError(f"path: {path!r} is a damaged or truncated gzip file ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"path: expected an IDX file (magic 0x0000 then a type code in "
            f"{sorted(_IDX_DTYPES)}), got header {raw[:4].hex()} in {path!r}"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"path: truncated IDX header in {path!r}: {ndim} dimensions need {header} bytes, "
            f"the file has {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = dtype.itemsize
    for n in shape:  # Python ints: np.prod wraps around, (2**31, 2**31, 4) would give 0 bytes
        expected *= n
    if len(raw) - header != expected:
        raise ValueError(
            f"path: expected {expected} bytes of data for shape {shape} in {path!r}, "
            f"got {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))
