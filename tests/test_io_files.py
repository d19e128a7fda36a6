"""fnnet.io and fnnet.data.read_idx on real files: exact round trips, and every bad input or
damaged file refused with a message that starts with the argument's name and names the file."""

import collections
import gzip
import io
import json
import os
import struct
import typing
import zipfile

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

import fnnet as fn

NET = fn.MLP((3, 4, 2))


def _params():
    return NET.init(jax.random.key(0))


def _write_npz(path, structure, **arrays):
    """An .npz as fnnet.io.save lays it out, with ``structure`` (JSON text or data) as given."""
    text = structure if isinstance(structure, str) else json.dumps(structure)
    np.savez(path, __fnnet_structure__=np.array(text), **arrays)
    return path


def _crafted(tree, fmt=1, **arrays):
    """A call that loads a file whose structure is ``{"format": fmt, "tree": tree}``."""

    def call(d):
        arrays.setdefault("leaf_0", np.zeros(2, np.float32))
        fn.io.load(_write_npz(d / "c.npz", {"format": fmt, "tree": tree}, **arrays))

    return call


def _deep(n):
    node = {"leaf": 0}
    for _ in range(n):
        node = {"list": [node]}
    return node


def _saved(d, tree=None, name="p.npz"):
    return fn.io.save(d / name, _params() if tree is None else tree)


def _damage(d, change):
    """Saves params, applies ``change`` to the bytes, and loads the result."""
    path = _saved(d)
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(change(raw))
    fn.io.load(path)


def _flip_in_leaf(raw):
    """Flips a byte inside leaf_0's data, which only the member's CRC-32 can notice."""
    at = raw.find(np.asarray(_params()[0]["W"]).tobytes()) + 5
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]


def _foreign_zip(d):
    np.savez(d / "other.npz", a=np.zeros(2))
    fn.io.load(d / "other.npz")


def _write(d, name, data):
    (d / name).write_bytes(data)
    return d / name


def _huge_npy_header(d):
    """A leaf whose .npy header claims 2**40 float64 values in 8 bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        member, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)}
    )
    member.write(b"\0" * 8)
    text = json.dumps({"format": 1, "tree": {"leaf": 0}})
    structure = io.BytesIO()
    np.lib.format.write_array(structure, np.array(text))
    with zipfile.ZipFile(d / "h.npz", "w") as z:
        z.writestr("__fnnet_structure__.npy", structure.getvalue())
        z.writestr("leaf_0.npy", member.getvalue())
    fn.io.load(d / "h.npz")


def _idx(d, raw, name="x.idx"):
    fn.data.read_idx(_write(d, name, raw))


_IDX_OK = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2, 3) + bytes(range(6))


class _Local(typing.NamedTuple):
    a: int


def _save_local_namedtuple(d):
    class Point(typing.NamedTuple):
        x: float

    fn.io.save(d / "p", {"p": Point(1.0)})


# (id, call(d) with d a fresh folder, exception type, message prefix, substring; "{d}" in the
# substring stands for the folder)
CASES = [
    # save: bad params, bad paths
    (
        "save-none",
        lambda d: fn.io.save(d / "p", None),
        TypeError,
        "params:",
        "written to '{d}/p.npz'",
    ),
    (
        "save-missing-folder",
        lambda d: fn.io.save(d / "missing" / "p.npz", _params()),
        FileNotFoundError,
        "path:",
        "{d}/missing/p.npz",
    ),
    (
        "save-str",
        lambda d: fn.io.save(d / "p", {"a": "text"}),
        TypeError,
        "params:",
        "got str ('text'); nothing was written to '{d}/p.npz'",
    ),
    ("save-object", lambda d: fn.io.save(d / "p", [object()]), TypeError, "params:", "object"),
    (
        "save-int-keys",
        lambda d: fn.io.save(d / "p", {1: np.zeros(2)}),
        TypeError,
        "params:",
        "keys must be strings",
    ),
    ("save-path-none", lambda d: fn.io.save(None, _params()), TypeError, "path:", "None"),
    (
        "save-ordered-dict",
        lambda d: fn.io.save(d / "p", collections.OrderedDict(a=np.zeros(2))),
        TypeError,
        "params:",
        "OrderedDict",
    ),
    (
        "save-local-namedtuple",
        _save_local_namedtuple,
        TypeError,
        "params:",
        "inside a function",
    ),
    (
        "save-too-deep",
        lambda d: fn.io.save(d / "p", _deep(150)["list"]),
        ValueError,
        "params:",
        "deeper than 100",
    ),
    (
        "save-prng-key",
        lambda d: fn.io.save(d / "p", {"k": jax.random.key(0)}),
        TypeError,
        "params:",
        "key_data",
    ),
    (
        "save-over-folder",
        lambda d: (os.mkdir(d / "x.npz"), fn.io.save(d / "x.npz", _params())),
        IsADirectoryError,
        "path:",
        "{d}/x.npz",
    ),
    # load: files that are not fnnet parameter files
    (
        "load-text",
        lambda d: fn.io.load(_write(d, "t.txt", b"W = [1, 2]\n")),
        ValueError,
        "path:",
        "{d}/t.txt' is not a parameter file saved by fnnet.io.save: it looks like text",
    ),
    (
        "load-empty",
        lambda d: fn.io.load(_write(d, "e.npz", b"")),
        ValueError,
        "path:",
        "{d}/e.npz' is not a parameter file saved by fnnet.io.save: the file is empty",
    ),
    (
        "load-npy",
        lambda d: (np.save(d / "a.npy", np.zeros(3)), fn.io.load(d / "a.npy")),
        ValueError,
        "path:",
        "{d}/a.npy' is not a parameter file saved by fnnet.io.save: it is a single .npy",
    ),
    (
        "load-truncated",
        lambda d: _damage(d, lambda raw: raw[: len(raw) // 2]),
        ValueError,
        "path:",
        "{d}/p.npz' is damaged (truncated or altered)",
    ),
    ("load-crc", lambda d: _damage(d, _flip_in_leaf), ValueError, "path:", "Bad CRC-32"),
    ("load-foreign-zip", _foreign_zip, ValueError, "path:", "{d}/other.npz' is not a parameter"),
    (
        "load-nonexistent",
        lambda d: fn.io.load(d / "none"),
        FileNotFoundError,
        "path:",
        "no file '{d}/none' or '{d}/none.npz'",
    ),
    ("load-folder", lambda d: fn.io.load(d), IsADirectoryError, "path:", "'{d}' is a folder"),
    ("load-path-none", lambda d: fn.io.load(None), TypeError, "path:", "got None"),
    (
        "load-huge-npy-header",
        _huge_npy_header,
        ValueError,
        "path:",
        "claims shape (1099511627776,)",
    ),
    # load: crafted structure JSON in an otherwise valid file
    ("missing-leaf", _crafted({"leaf": 7}), ValueError, "path:", "leaf_7, which the file"),
    (
        "two-keys",
        _crafted({"leaf": 0, "none": None}),
        ValueError,
        "path:",
        "keys ['leaf', 'none']",
    ),
    ("unknown-kind", _crafted({"set": [{"leaf": 0}]}), ValueError, "path:", "unknown kind 'set'"),
    ("tree-is-list", _crafted([{"leaf": 0}]), ValueError, "path:", "structure at the root"),
    (
        "5000-deep",  # written as text: json.dumps itself cannot nest that deep
        lambda d: fn.io.load(
            _write_npz(
                d / "c.npz",
                '{"format": 1, "tree": ' + '{"list": [' * 5000 + '{"leaf": 0}' + "]}" * 5001,
                leaf_0=np.ones(1),
            )
        ),
        ValueError,
        "path:",
        "deeper than 100 levels",
    ),
    ("leaf-index-str", _crafted({"leaf": "0"}), ValueError, "path:", "index '0'"),
    ("leaf-index-bool", _crafted({"leaf": True}), ValueError, "path:", "index True"),
    ("format-2", _crafted({"leaf": 0}, fmt=2), ValueError, "path:", "format 2"),
    (
        "json-does-not-parse",
        lambda d: fn.io.load(_write_npz(d / "c.npz", '{"format": 1, "tree": {', leaf_0=np.ones(1))),
        ValueError,
        "path:",
        "does not parse",
    ),
    (
        "unreferenced-array",
        _crafted({"leaf": 0}, leaf_1=np.ones(1)),
        ValueError,
        "path:",
        "does not refer to: ['leaf_1']",
    ),
    (
        "leaf-used-twice",
        _crafted({"tuple": [{"leaf": 0}, {"leaf": 0}]}),
        ValueError,
        "path:",
        "another leaf uses",
    ),
    (
        "namedtuple-module-not-imported",
        _crafted({"namedtuple": {"type": "no_such_module:T", "fields": {"a": {"leaf": 0}}}}),
        ValueError,
        "path:",
        "'no_such_module' is not imported",
    ),
    (
        "namedtuple-not-a-type",
        _crafted({"namedtuple": {"type": "os:getcwd", "fields": {"a": {"leaf": 0}}}}),
        ValueError,
        "path:",
        "not a NamedTuple type",
    ),
    (
        "namedtuple-fields-differ",
        _crafted({"namedtuple": {"type": f"{__name__}:_Local", "fields": {"b": {"leaf": 0}}}}),
        ValueError,
        "path:",
        "has fields ('b',), but",
    ),
    (
        "leaf-of-strings",
        _crafted({"leaf": 0}, leaf_0=np.array(["a"])),
        ValueError,
        "path:",
        "expected numbers",
    ),
    (
        "unknown-dtype-name",
        lambda d: fn.io.load(
            _write_npz(
                d / "c.npz",
                {"format": 1, "tree": {"leaf": 0}, "dtypes": {"0": "finfo"}},
                leaf_0=np.zeros(2, np.uint16),
            )
        ),
        ValueError,
        "path:",
        "dtype name 'finfo'",
    ),
    # load(like=...)
    (
        "like-other-dtype",
        lambda d: fn.io.load(
            _saved(d), like=jax.tree.map(lambda a: jnp.zeros(a.shape, jnp.float64), _params())
        ),
        ValueError,
        "path:",
        "leaf [0]['W'] in '{d}/p.npz' has dtype float32, expected float64",
    ),
    (
        "like-mlp-int-leaves",
        lambda d: fn.io.load(
            _saved(d, jax.tree.map(lambda a: np.zeros(a.shape, np.int32), _params())), like=NET
        ),
        ValueError,
        "path:",
        "leaf [0]['W'] in '{d}/p.npz' has dtype int32, expected a floating dtype",
    ),
    (
        "like-mlp-mixed-dtypes",
        lambda d: fn.io.load(
            _saved(d, [_params()[0], jax.tree.map(lambda a: a.astype(jnp.float64), _params()[1])]),
            like=NET,
        ),
        ValueError,
        "path:",
        "leaf [1]['W'] in '{d}/p.npz' has dtype float64, expected float32",
    ),
    (
        "like-mlp-shape",
        lambda d: fn.io.load(_saved(d), like=fn.MLP((3, 5, 2))),
        ValueError,
        "path:",
        "the parameters in '{d}/p.npz' do not fit",
    ),
    (
        "like-not-arrays",
        lambda d: fn.io.load(_saved(d), like={"W": "abc"}),
        TypeError,
        "like:",
        "got str",
    ),
    # read_idx
    ("idx-none", lambda d: fn.data.read_idx(None), TypeError, "path:", "got None"),
    (
        "idx-truncated-gz",
        lambda d: _idx(d, gzip.compress(_IDX_OK)[:-12], "x.idx.gz"),
        ValueError,
        "path:",
        "{d}/x.idx.gz",
    ),
    (
        "idx-overflowing-dims",
        lambda d: _idx(d, bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**31, 2**31, 4)),
        ValueError,
        "path:",
        "expected 18446744073709551616 bytes of data for shape (2147483648, 2147483648, 4) in "
        "'{d}/x.idx'",
    ),
    (
        "idx-nonexistent",
        lambda d: fn.data.read_idx(d / "none.idx"),
        FileNotFoundError,
        "path:",
        "{d}/none.idx",
    ),
    ("idx-folder", lambda d: fn.data.read_idx(d), IsADirectoryError, "path:", "'{d}'"),
    (
        "idx-wrong-magic",
        lambda d: _idx(d, b"\x01\x02" + _IDX_OK[2:]),
        ValueError,
        "path:",
        "got header 01020802 in '{d}/x.idx'",
    ),
    (
        "idx-truncated-header",
        lambda d: _idx(d, _IDX_OK[:7]),
        ValueError,
        "path:",
        "truncated IDX header in '{d}/x.idx'",
    ),
    (
        "idx-length-mismatch",
        lambda d: _idx(d, _IDX_OK[:-1]),
        ValueError,
        "path:",
        "expected 6 bytes of data for shape (2, 3) in '{d}/x.idx', got 5",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "prefix", "contains"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_with_a_message_naming_the_argument(
    tmp_path, call, error, prefix, contains
):
    with pytest.raises(error) as info:
        call(tmp_path)
    message = str(info.value)
    assert type(info.value) is error
    assert message.startswith(prefix), message
    assert contains.format(d=tmp_path) in message, message
    assert ".fnnet-tmp" not in message  # the path given, never the temporary file


REQUIRED = {  # the failure cases fnnet.io and read_idx must keep refusing; the rows add more
    "save-none", "save-missing-folder", "save-str", "save-object", "save-int-keys",
    "load-text", "load-empty", "load-npy", "load-truncated", "load-crc", "load-foreign-zip",
    "load-nonexistent", "load-folder", "load-path-none", "missing-leaf", "two-keys",
    "unknown-kind", "tree-is-list", "5000-deep", "leaf-index-str", "format-2",
    "json-does-not-parse", "unreferenced-array", "like-other-dtype", "idx-none",
    "idx-truncated-gz", "idx-overflowing-dims", "idx-nonexistent", "idx-wrong-magic",
    "idx-truncated-header", "idx-length-mismatch",
}  # fmt: skip


def test_the_table_has_a_row_for_every_required_case():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert REQUIRED <= set(ids), REQUIRED - set(ids)


def _assert_same(loaded, original):
    """``loaded`` equals ``original`` exactly: container types (NamedTuple classes included), dict
    keys, Nones, and each leaf as a NumPy array of the same dtype, shape and bytes."""
    assert jax.tree.structure(loaded) == jax.tree.structure(original)
    for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(original)):
        want = np.asarray(want)
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()


def _train_state():
    params = _params()
    return fn.train.TrainState(params, optax.adam(1e-3).init(params), jnp.asarray(3, jnp.int32))


ROUND_TRIPS = {
    "mlp-params": _params,
    "train-state-adam": _train_state,
    "dtypes": lambda: {
        "bfloat16": jnp.linspace(-2, 2, 7, dtype=jnp.bfloat16),
        "float16": np.array([1.5, -0.0, np.inf], np.float16),
        "float64": np.array([np.pi, np.nan, -1e300]),
        "int8": np.array([-128, 127], np.int8),
        "int64": np.array([2**62], np.int64),
        "uint32": np.arange(4, dtype=np.uint32).reshape(2, 2),
        "bool": np.array([True, False]),
        "complex64": np.array([1 + 2j], np.complex64),
        "float8": np.array([0.5, -3], ml_dtypes.float8_e4m3fn),
        "big-endian": np.array([1.0, 2.0], ">f4"),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.float32(2.5),
    },
    "nones-and-nested-tuples": lambda: (None, (np.ones(2), (None, [None, {"a": ()}]), []), {}),
    "bfloat16-mlp": lambda: jax.tree.map(lambda a: a.astype(jnp.bfloat16), _params()),
}


@pytest.mark.parametrize("make", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_load_of_save_is_the_tree_again(tmp_path, make):
    tree = make()
    _assert_same(fn.io.load(fn.io.save(tmp_path / "t", tree)), jax.device_get(tree))


def test_namedtuples_come_back_as_their_types(tmp_path):
    loaded = fn.io.load(fn.io.save(tmp_path / "s", _train_state()))
    assert type(loaded) is fn.train.TrainState
    assert type(loaded.opt_state[0]) is optax.ScaleByAdamState
    assert type(loaded.opt_state[1]) is optax.EmptyState
    assert int(loaded.opt_state[0].count) == 0 and int(loaded.step) == 3


def test_bfloat16_params_load_as_bfloat16_and_apply(tmp_path):
    params = jax.tree.map(lambda a: a.astype(jnp.bfloat16), _params())
    loaded = fn.io.load(fn.io.save(tmp_path / "b", params), like=NET)
    assert loaded[0]["W"].dtype == jnp.bfloat16
    X = jnp.ones((2, 3), jnp.bfloat16)
    np.testing.assert_array_equal(NET.apply(loaded, X), NET.apply(params, X))


def test_load_checks_dtypes_against_like_and_accepts_a_match(tmp_path):
    path = fn.io.save(tmp_path / "p", _params())
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), _params())
    _assert_same(fn.io.load(path, like=shapes), _params())
    _assert_same(fn.io.load(path, like=NET), _params())


@pytest.mark.parametrize(
    ("saved", "loaded"), [("digits_params", "digits_params.npz"), ("p.npz", "p")]
)
def test_save_and_load_agree_on_the_npz_suffix(tmp_path, monkeypatch, saved, loaded):
    monkeypatch.chdir(tmp_path)
    assert fn.io.save(saved, _params()) == (saved if saved.endswith(".npz") else saved + ".npz")
    assert os.listdir(tmp_path) == [saved if saved.endswith(".npz") else saved + ".npz"]
    _assert_same(fn.io.load(loaded, like=NET), _params())


def test_saved_files_get_the_mode_of_the_umask(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = fn.io.save(tmp_path / "p", _params())
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_files_without_the_optional_dtypes_entry_still_load(tmp_path):
    path = _write_npz(
        tmp_path / "old.npz",
        {"format": 1, "tree": {"list": [{"dict": {"W": {"leaf": 0}}}, {"none": None}]}},
        leaf_0=np.eye(2, dtype=np.float32),
    )
    _assert_same(fn.io.load(path), [{"W": np.eye(2, dtype=np.float32)}, None])


def _variants(raw, n=20):
    """``n`` truncations and ``n`` single-byte flips of ``raw``, at offsets spread over the file
    (its zip headers, .npy headers, data and central directory)."""
    offsets = np.linspace(0, len(raw) - 1, n).astype(int).tolist()
    cuts = [(f"cut@{i}", raw[:i]) for i in offsets]
    flips = [(f"flip@{i}", raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :]) for i in offsets]
    return cuts + flips


def test_damaged_files_load_exactly_or_raise_value_error_naming_the_path(tmp_path):
    tree = {"params": _params(), "bf": jnp.ones(3, jnp.bfloat16), "none": None, "t": (1, (2.0,))}
    path = fn.io.save(tmp_path / "good", tree)
    with open(path, "rb") as f:
        raw = f.read()
    outcomes = collections.Counter()
    variants = _variants(raw)
    assert len(variants) == 40
    for name, data in variants:
        damaged = str(tmp_path / f"{name}.npz")
        with open(damaged, "wb") as f:
            f.write(data)
        try:
            loaded = fn.io.load(damaged)
        except ValueError as e:
            assert str(e).startswith("path:") and damaged in str(e), (name, str(e))
            outcomes["refused"] += 1
        else:
            _assert_same(loaded, jax.device_get(tree))
            outcomes["intact"] += 1
    # every truncation is refused; some flips land in fields no reader checks (a timestamp)
    assert outcomes["refused"] >= 20 + 10, outcomes


def test_docstring_example_runs():
    import doctest

    failed, attempted = doctest.testmod(fn.io)
    assert attempted > 0 and failed == 0


def _bomb(path, inflated: int, directory_size=None):
    """An fnnet file whose leaf header declares 4 float64 values but whose deflated member holds
    ``inflated`` bytes (zeros, a few hundred KB on disk); ``directory_size``, where given, is the
    member's uncompressed size as the zip directory records it (a forged, smaller one)."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        member, {"descr": "<f8", "fortran_order": False, "shape": (4,)}
    )
    text = json.dumps({"format": 1, "tree": {"leaf": 0}})
    structure = io.BytesIO()
    np.lib.format.write_array(structure, np.array(text))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("__fnnet_structure__.npy", structure.getvalue())
        with z.open("leaf_0.npy", "w", force_zip64=True) as f:
            f.write(member.getvalue())
            for _ in range(inflated // 2**20):
                f.write(bytes(2**20))
    if directory_size is not None:  # the central directory's uncompressed size of leaf_0
        raw = bytearray(path.read_bytes())
        at = raw.rfind(b"PK\x01\x02")
        while raw[at + 46 : at + 46 + 10] != b"leaf_0.npy":
            at = raw.rfind(b"PK\x01\x02", 0, at)
        struct.pack_into("<I", raw, at + 24, directory_size)
        path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("forged", [False, True])
def test_a_member_that_inflates_beyond_its_header_is_refused_without_inflating(tmp_path, forged):
    """A zip bomb (64 MiB of zeros behind a header of 4 floats): refused naming the member, and
    never inflated past what the header and the zip directory declare (peak traced memory well
    below the member's inflated size). With the directory forged to the header's size, the
    reading stops there and the member's CRC refuses it."""
    import tracemalloc

    size = 64 * 2**20
    path = _bomb(tmp_path / "bomb.npz", size, directory_size=128 + 32 if forged else None)
    assert path.stat().st_size < size // 100
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"path: .*bomb\.npz") as info:
            fn.io.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak
    message = str(info.value)
    if forged:
        assert "damaged" in message and "Bad CRC-32 for file 'leaf_0.npy'" in message
    else:
        assert "member 'leaf_0.npy' claims shape (4,) of float64 (32 bytes) but holds" in message
