"""The training experiments (mnist1d, data_scaling, gpu) end to end on tiny settings, and the
numbers they rest on: logistic regression beats chance on MNIST-1D, the scaling experiment's
training sets are nested and its test set fixed."""

import jax
import numpy as np
import pytest
from _markdown import assert_tables_well_formed

import fnnet as fn
from experiments import _harness, _protocol, _stats


def test_mnist1d_small_logistic_regression_beats_chance(tmp_path, monkeypatch):
    import experiments.mnist1d as ex

    # 1000 sequences (800 training, 200 test), as the gpu test uses: generated once
    small = {**ex.QUICK, "hidden": [16], "epochs": 10, "seeds": 2, "num_samples": 1000}
    monkeypatch.setattr(ex, "QUICK", small)
    result = _harness.run_experiment(ex, "quick", str(tmp_path))
    lr, mlp = result["rows"]["logistic regression"], result["rows"]["MLP"]
    assert (result["n_train"], result["n_test"], result["steps"]) == (800, 200, 80)
    assert np.array(result["curves"]["MLP"]["eval_accuracy"]).shape == (10,)
    assert lr["sizes"] == [40, 10] and mlp["sizes"] == [40, 16, 10]
    assert lr["paper_test_accuracy"] == 0.32 and mlp["paper_test_accuracy"] == 0.68
    # ten balanced classes: chance is 10%; 80 steps of logistic regression reach well above it
    assert min(lr["test_accuracy"]["values"]) > 0.2
    assert 0.2 < mlp["test_accuracy"]["mean"] <= 1.0
    # every run's training loss checked by the plateau rule; the verdict follows the criterion
    for r in (lr, mlp):
        assert r["plateau"]["n_runs"] == 2 and len(r["plateau"]["epoch"]) == 2
    converged = all(r["plateau"]["n_converged"] == 2 for r in (lr, mlp))
    expected = _protocol.combine(result["parts"]) if converged else "inconclusive"
    assert result["verdict"] == expected
    assert result["parts"]["logistic regression"] == (
        "holds" if abs(lr["test_accuracy"]["mean"] - 0.32) <= 0.03 else "fails"
    )
    assert (tmp_path / "mnist1d_baselines.png").stat().st_size > 0
    for k in ("headline", "seeds"):
        assert isinstance(result[k], str) and result[k]
    assert "2 seeds" in result["headline"] and "(paper 32%)" in result["headline"]
    lines = ex.report(result)
    assert_tables_well_formed(lines)
    assert "paper" in "\n".join(lines)


DATA = {"sizes": [100, 200, 400], "n_test": 200, "data_seed": 7}


def test_data_scaling_data_is_cached_nested_and_one_test_set(tmp_path):
    from experiments.data_scaling import load_data, nested_training_sets

    (X, y), (Xt, yt) = load_data(DATA, str(tmp_path))
    assert X.shape == (400, 40) and Xt.shape == (200, 40) and yt.shape == (200,)
    (cached,) = tmp_path.glob("*.npz")
    # a second call reads the cache and returns the same arrays, equal to a fresh generation
    (X2, y2), (Xt2, yt2) = load_data(DATA, str(tmp_path))
    (X3, y3), (Xt3, yt3) = fn.data.mnist1d(600, seed=7, train_split=400.5 / 600)
    for a, b, c in ((X, X2, X3), (y, y2, y3), (Xt, Xt2, Xt3), (yt, yt2, yt3)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert cached.exists()

    Xs, ys = nested_training_sets(X, y, DATA["sizes"])
    assert Xs.shape == (3, 400, 40) and ys.shape == (3, 400)
    for k, n in enumerate(DATA["sizes"]):
        # size n holds exactly the first n sequences, each 400 / n times, labels alongside
        rows, counts = np.unique(Xs[k], axis=0, return_counts=True)
        np.testing.assert_array_equal(rows, np.unique(X[:n], axis=0))
        assert set(counts.tolist()) == {400 // n}
        np.testing.assert_array_equal(Xs[k][:n], X[:n])
        np.testing.assert_array_equal(ys[k][:n], y[:n])
        if k:  # nested: the smaller training set lies inside this one
            prev = {r.tobytes() for r in Xs[k - 1]}
            assert prev <= {r.tobytes() for r in Xs[k]}
    with pytest.raises(ValueError, match="divisors"):
        nested_training_sets(X, y, [300, 400])


def test_data_scaling_small(tmp_path, monkeypatch):
    import experiments.data_scaling as ex

    small = {
        **ex.QUICK,
        **DATA,
        "passes": 4,
        "seeds": 2,
        "models": {
            "logistic regression": {"sizes": [40, 10], "learning_rate": 0.01},
            "small MLP": {"sizes": [40, 16, 10], "learning_rate": 0.01},
        },
    }
    monkeypatch.setattr(ex, "QUICK", small)
    result = _harness.run_experiment(ex, "quick", str(tmp_path))
    assert result["sizes"] == [100, 200, 400] and result["steps"] == 16
    for m in result["models"].values():
        assert len(m["test_accuracy_mean"]) == 3
        assert all(0.0 <= a <= 1.0 for a in m["test_accuracy_mean"])
        assert np.array(m["test_accuracy_per_seed"]).shape == (3, 2)
    assert [r["n"] for r in result["sklearn"]] == [100, 200, 400]
    assert all(r["converged"] and r["test_accuracy"] > 0.15 for r in result["sklearn"])
    (_, _), (Xt, _) = ex.load_data(small, str(tmp_path))
    assert result["test_set_sha1"] == ex._sha1(Xt)
    assert result["largest_model"] == "small MLP"
    assert result["linear_model"] == "logistic regression" and result["gain_from_size"] == 100
    for name, m in result["models"].items():
        per_seed = np.array(m["test_accuracy_per_seed"])
        gain = per_seed[-1] - per_seed[0]  # from 100 to 400 sequences, per seed
        assert result["gain_last_two_doublings"][name] == pytest.approx(gain.mean())
        assert result["gain_std_over_seeds"][name] == pytest.approx(gain.std())
    # the claim's parts from the per-seed gains, paired by seed, and the plateau record
    gains = {n: np.array(g) for n, g in result["gains_per_seed"].items()}
    expected = _stats.paired_difference(gains["small MLP"], gains["logistic regression"])
    assert result["tests"]["small MLP gains more than logistic regression"] == expected
    assert set(result["parts"]) == {
        "small MLP keeps improving",
        "small MLP gains more than logistic regression",
    }
    for m in result["models"].values():
        assert m["plateau"]["n_runs"] == 3 * 2 and np.array(m["plateau"]["epoch"]).shape == (3, 2)
    converged = all(m["plateau"]["n_converged"] == 6 for m in result["models"].values())
    assert result["verdict"] == (
        _protocol.combine(result["parts"]) if converged else "inconclusive"
    )
    assert (tmp_path / "data_scaling.png").stat().st_size > 0
    for k in ("headline", "seeds"):
        assert isinstance(result[k], str) and result[k]
    lines = ex.report(result)
    assert_tables_well_formed(lines)
    assert "scikit-learn" in "\n".join(lines)


def test_gpu_without_a_gpu_says_so_and_times_nothing(tmp_path, monkeypatch):
    import experiments.gpu as ex

    def no_worker(*args):
        raise AssertionError("a worker was started on a machine without a GPU")

    monkeypatch.setattr(ex, "_run_worker", no_worker)
    # the tests run with JAX_PLATFORMS=cpu: JAX sees no GPU
    assert jax.default_backend() == "cpu" and ex.gpus() == []
    result = _harness.run_experiment(ex, "quick", str(tmp_path))
    assert result["gpu_available"] is False and result["ratios_gpu_over_cpu"] is None
    assert result["verdict"] == "not tested: no GPU" and result["figures"] == []
    assert result["note"].startswith("No GPU is visible to JAX on this machine (its backends: cpu")
    assert "JAX_PLATFORMS=cpu" in result["note"] and "not tested" in result["note"]
    assert ex.report(result) == [result["note"]]
    assert_tables_well_formed(ex.report(result))
    for k in ("headline", "seeds"):
        assert isinstance(result[k], str) and result[k]


def test_gpu_worker_small_and_the_two_backend_report(tmp_path):
    import copy

    import experiments.gpu as ex

    small = {
        "mnist1d_samples": 1000,
        "mlp_sizes": [40, 8, 10],
        "mlp_epochs": 1,
        "mlp_seeds": 4,
        "xor_seeds": 64,
        "xor_epochs": 20,
        "repeats": 1,
    }
    cpu = ex.worker(small)
    assert cpu["backend"] == "cpu"
    for w, _ in ex.WORKLOADS:
        assert cpu[w]["seconds"] > 0 and cpu[w]["seed_steps_per_s"] > 0
    assert (cpu["fit_one_seed"]["steps"], cpu["fit_vmap_seeds"]["seeds"]) == (8, 4)
    assert cpu["xor_sweep"]["seeds"] == 64 and 0 <= cpu["xor_sweep"]["solved_fraction"] <= 1
    # the comparison and its report, on a stand-in GPU result four times as fast (a test double:
    # no GPU here), and one where the GPU is slower for the sweep
    gpu = copy.deepcopy(cpu)
    gpu["backend"], gpu["device_kind"] = "gpu", "stand-in GPU"
    for w, _ in ex.WORKLOADS:
        gpu[w]["seconds"] = cpu[w]["seconds"] / 4
    runs = {"cpu": cpu, "gpu": gpu}
    summary = ex.compare(runs, small)
    assert summary["verdict"] == "holds"
    assert summary["ratios_gpu_over_cpu"] == pytest.approx({w: 0.25 for w, _ in ex.WORKLOADS})
    gpu["xor_sweep"]["seconds"] = cpu["xor_sweep"]["seconds"] * 2
    assert ex.compare(runs, small)["verdict"] == "partly"
    result = {
        "settings": small,
        "machine": {"cpu": "test CPU", "cores": 2},
        "gpu_available": True,
        "gpus": ["stand-in GPU"],
        "backends": runs,
        **summary,
    }
    lines = ex.report(result)
    assert_tables_well_formed(lines)
    assert sum(line.startswith("| ") for line in lines) == 1 + len(ex.WORKLOADS)
    assert "4x |" in "\n".join(lines)
    assert ex._figure(runs, small, result["machine"], str(tmp_path)) == "gpu_timings.png"
    assert (tmp_path / "gpu_timings.png").stat().st_size > 0
