"""The benchmark experiment: its NumPy baseline trains as fit does, and its worker runs on tiny
settings."""


def test_benchmark_numpy_baseline_trains_like_fit():
    import jax
    import numpy as np
    import optax

    import fnnet as fn
    from experiments import benchmark

    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor")
    keys = jax.random.split(jax.random.key(0), 3)
    p0 = jax.vmap(lambda k: net.init(k, "uniform", 0.5))(keys)

    def fit(p):
        s, h = fn.train.fit(
            net,
            optax.sgd(0.5),
            keys[0],
            (X, T),
            epochs=20,
            batch_size=4,
            loss="half_sse",
            init=p,
            record=fn.train.Record(history="final"),
        )
        return s.params, h["loss"]

    ref, ref_loss = jax.jit(jax.vmap(fit))(p0)
    got, loss = benchmark._numpy_xor(3, 20, params=jax.tree.map(np.asarray, p0))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)


def test_benchmark_worker_small():
    from experiments import benchmark

    small = {
        **benchmark.QUICK,
        "seeds": 64,
        "steps": 20,
        "chunk_size": 32,
        "loop_seeds": 2,
        "naive_steps": 5,
        "numpy_seeds": 64,
        "numpy_steps": 5,
        "big_seeds": 8,
        "big_steps": 3,
        "repeats": 1,
    }
    r = benchmark.worker(small)
    for method, _ in benchmark.METHODS:
        assert r[method]["seed_steps_per_s"] > 0, method
    assert r["big_auto"]["layout"] == "matrix"
    rows = benchmark.crossover(
        {**small, "crossover_seeds": 8, "crossover_steps": 3, "crossover_nets": [[[2, 2, 1], 4]]}
    )
    assert rows[0]["auto"] == "scalar" and rows[0]["scalar"]["seed_steps_per_s"] > 0
