"""fnnet.sweep.Results as labelled data: ``to_xarray`` (dimensions, coordinates, dtypes, the
diverged seeds, the settings as attributes, a netCDF round trip) and ``to_dataframe`` (one row
per grid point and seed), and the error that names the extra where xarray or pandas is missing."""

import importlib.util
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet as fn
import fnnet.sweep as sweep

GRID = {"lr": np.array([-1.0, 0.5, 2.0]), "width": np.array([2, 4], np.int32)}
N_SEEDS = 5


def draws(key, lr, width):
    """Four leaves of four kinds: a float loss (NaN where lr < 0), a (2, 3) matrix, an int and a
    bool; the seed's result depends on its key, lr and width."""
    W = jax.random.normal(key, (2, 3))
    loss = jnp.sqrt(lr) * jnp.sum(W * W) + width
    return {"loss": loss, "params": [{"W": lr * W}], "n": width * 3, "big": jnp.sum(W) > 0}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("labelled") / "sweep"
    key = jax.random.key(7)
    return sweep.run(draws, N_SEEDS, grid=GRID, key=key, chunk_size=2, out=out, progress=False)


def _engine():
    """A netCDF4 engine that is installed (netCDF3 has no 64-bit integers), or None."""
    if importlib.util.find_spec("h5netcdf") and importlib.util.find_spec("h5py"):
        return "h5netcdf"
    return "netcdf4" if importlib.util.find_spec("netCDF4") else None


def test_dataset_has_the_grid_then_the_seed_as_dimensions(results):
    xr = pytest.importorskip("xarray")
    ds = results.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert set(ds.data_vars) == {"loss", "params.0.W", "n", "big", "diverged"}
    for name in ("loss", "n", "big", "diverged"):
        assert ds[name].dims == ("lr", "width", "seed"), name
    assert ds["params.0.W"].dims == ("lr", "width", "seed", "params.0.W_dim0", "params.0.W_dim1")
    assert dict(ds.sizes) == {
        "lr": 3,
        "width": 2,
        "seed": 5,
        "params.0.W_dim0": 2,
        "params.0.W_dim1": 3,
    }
    np.testing.assert_array_equal(ds["lr"], GRID["lr"])
    np.testing.assert_array_equal(ds["width"], GRID["width"])
    np.testing.assert_array_equal(ds["seed"], np.arange(N_SEEDS))
    assert ds["lr"].dtype == np.float64 and ds["width"].dtype == np.int32
    assert ds["params.0.W"].attrs["path"] == "['params'][0]['W']"


def test_dataset_keeps_every_value_and_dtype(results):
    pytest.importorskip("xarray")
    ds = results.to_xarray()
    leaves = {
        "loss": results.values["loss"],
        "params.0.W": results.values["params"][0]["W"],
        "n": results.values["n"],
        "big": results.values["big"],
        "diverged": results.diverged,
    }
    for name, leaf in leaves.items():
        assert ds[name].dtype == leaf.dtype, name
        np.testing.assert_array_equal(ds[name].values, leaf)
    assert ds["big"].dtype == bool and ds["n"].dtype == results.values["n"].dtype
    # a label selects what the index did: lr 2.0, width 4, seed 3
    picked = ds["params.0.W"].sel(lr=2.0, width=4, seed=3).values
    np.testing.assert_array_equal(picked, results.values["params"][0]["W"][2, 1, 3])


def test_diverged_seeds_are_marked_where_their_loss_is_nan(results):
    pytest.importorskip("xarray")
    ds = results.to_xarray()
    assert bool(ds["diverged"].sel(lr=-1.0).all())  # sqrt(-1): every seed there
    assert not bool(ds["diverged"].sel(lr=[0.5, 2.0]).any())
    np.testing.assert_array_equal(ds["diverged"].values, np.isnan(ds["loss"].values))
    solved = (~ds["diverged"]).mean("seed")  # the analysis a reader does: a fraction per cell
    np.testing.assert_array_equal(solved.values, [[0, 0], [1, 1], [1, 1]])


def test_dataset_attributes_are_the_sweeps_settings(results):
    pytest.importorskip("xarray")
    attrs = results.to_xarray().attrs
    s = results.settings
    assert attrs["name"] == "test_sweep_labelled.draws" == s["name"]
    assert attrs["program"] == s["program"] and len(attrs["program"]) == 64
    assert attrs["n_seeds"] == N_SEEDS and attrs["chunk_size"] == 2
    assert attrs["key_impl"] == str(jax.random.key_impl(jax.random.key(7)))
    assert attrs["key_data"] == np.asarray(jax.random.key_data(jax.random.key(7))).tolist()
    assert attrs["fnnet_version"] == fn.__version__ and attrs["jax_version"] == jax.__version__
    assert set(attrs) == {
        "name",
        "program",
        "n_seeds",
        "chunk_size",
        "key_impl",
        "key_data",
        "fnnet_version",
        "jax_version",
        "jaxlib_version",
    }


def test_results_without_a_folder_or_made_by_hand(tmp_path):
    pytest.importorskip("xarray")
    r = sweep.run(lambda key: jax.random.uniform(key), 3, name="bare", progress=False)
    ds = r.to_xarray()
    assert ds["result"].dims == ("seed",) and ds["diverged"].dims == ("seed",)
    assert ds.attrs["name"] == "bare" and "program" not in ds.attrs  # no folder, no fingerprint
    np.testing.assert_array_equal(ds["result"].values, r.values)
    # a Results made by hand, as before settings existed: the attributes it knows
    values = (np.arange(6.0).reshape(3, 2), np.zeros(3, np.int32))
    by_hand = sweep.Results(values, np.zeros(3, bool), {}, 3, ())
    ds = by_hand.to_xarray()
    assert by_hand.settings is None and ds.attrs == {"n_seeds": 3}
    assert ds["result.0"].dims == ("seed", "result.0_dim0") and ds["result.1"].dims == ("seed",)


@pytest.mark.parametrize(
    "grid, values, clash",
    [
        ({"seed": np.array([1.0])}, {"loss": np.zeros((1, 2))}, "'seed'"),
        ({"lr": np.array([1.0])}, {"lr": np.zeros((1, 2))}, "'lr'"),
        ({}, {"diverged": np.zeros(2)}, "'diverged'"),
        ({}, {"W": np.zeros((2, 3)), "W_dim0": np.zeros(2)}, "'W_dim0'"),
    ],
    ids=["grid-named-seed", "leaf-named-like-the-grid", "leaf-named-diverged", "trailing-dim"],
)
def test_names_that_coincide_are_refused_naming_them(grid, values, clash):
    pytest.importorskip("pandas")
    shape = (*(len(v) for v in grid.values()), 2)
    r = sweep.Results(values, np.zeros(shape, bool), grid, 2, ())
    with pytest.raises(ValueError, match=rf"results: expected distinct names .*\[{clash}\]"):
        r.to_dataframe()
    if importlib.util.find_spec("xarray"):
        with pytest.raises(ValueError, match=rf"\[{clash}\] more than once"):
            r.to_xarray()


def test_dataframe_has_one_row_per_grid_point_and_seed(results):
    pd = pytest.importorskip("pandas")
    df = results.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 3 * 2 * N_SEEDS
    W = [f"params.0.W[{i},{j}]" for i in range(2) for j in range(3)]
    assert list(df.columns) == ["lr", "width", "seed", "big", "loss", "n", *W, "diverged"]
    assert df["lr"].dtype == np.float64 and df["width"].dtype == np.int32
    assert df["seed"].dtype == np.int64 and df["big"].dtype == bool
    assert df["loss"].dtype == results.values["loss"].dtype and df["diverged"].dtype == bool
    # C order, the seed fastest: row (lr index 1, width index 0, seed 3)
    row = df.iloc[(1 * 2 + 0) * N_SEEDS + 3]
    assert (row["lr"], row["width"], row["seed"]) == (0.5, 2, 3)
    assert row["loss"] == results.values["loss"][1, 0, 3]
    assert row["params.0.W[1,2]"] == results.values["params"][0]["W"][1, 0, 3, 1, 2]
    assert df["diverged"].sum() == 2 * N_SEEDS and df[df["diverged"]]["lr"].eq(-1.0).all()
    assert df.attrs["name"] == results.settings["name"] and df.attrs["n_seeds"] == N_SEEDS
    # the long form a reader groups: the fraction of diverged seeds per learning rate
    assert df.groupby("lr")["diverged"].mean().tolist() == [1.0, 0.0, 0.0]


def test_netcdf_round_trip_keeps_every_value(results, tmp_path):
    xr = pytest.importorskip("xarray")
    engine = _engine()
    if engine is None:
        pytest.skip("no netCDF4 engine installed (h5netcdf with h5py, or netCDF4)")
    ds = results.to_xarray()
    path = tmp_path / "sweep.nc"
    ds.to_netcdf(path, engine=engine)
    with xr.open_dataset(path, engine=engine) as opened:
        back = opened.load()
    assert back.identical(ds)  # values (NaN where NaN), dims, coordinates and attributes
    for name in [*ds.data_vars, *ds.coords]:
        assert back[name].dtype == ds[name].dtype, name
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    assert np.isnan(back["loss"].sel(lr=-1.0).values).all()
    assert back.attrs["program"] == results.settings["program"]
    np.testing.assert_array_equal(back.attrs["key_data"], results.settings["key"]["data"])


@pytest.mark.parametrize(
    "module, method", [("xarray", "to_xarray"), ("pandas", "to_dataframe")], ids=lambda x: x
)
def test_without_the_extra_the_error_names_it(module, method, monkeypatch):
    r = sweep.Results({"loss": np.zeros(2)}, np.zeros(2, bool), {}, 2, ())
    monkeypatch.setitem(sys.modules, module, None)  # import fails as where it is not installed
    with pytest.raises(ImportError, match=rf"{module} is needed by Results\.{method} .*"):
        getattr(r, method)()
    with pytest.raises(ImportError, match=r"pip install 'fnnet\[analysis\]'"):
        getattr(r, method)()
