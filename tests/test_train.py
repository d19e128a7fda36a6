import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
from fnnet import train

XOR = fn.data.logic_gate("xor")
NET = fn.MLP((2, 2, 1))


def test_sgd_update_is_one_step_of_optax_sgd(getkey):
    params = NET.init(getkey())
    grads = NET.init(getkey(), "normal", 1.0)
    opt = optax.sgd(0.3)
    updates, _ = opt.update(grads, opt.init(params), params)
    chex.assert_trees_all_close(
        train.sgd_update(params, grads, 0.3), optax.apply_updates(params, updates), rtol=1e-6
    )


def test_step_compiles_once_per_shape(getkey):
    opt = optax.sgd(0.5, momentum=0.9)
    step = jax.jit(chex.assert_max_traces(train.make_step(NET, opt, "half_sse"), n=1))
    state = train.init_state(opt, NET.init(getkey()))
    X, T = jnp.asarray(XOR[0]), jnp.asarray(XOR[1])
    for _ in range(5):
        state, metrics = step(state, X, T)
    assert int(state.step) == 5 and metrics["loss"].shape == ()


def test_backprop_and_autodiff_give_the_same_trajectory(getkey):
    (X, y), _ = fn.data.digits()
    net = fn.MLP((64, 16, 10), hidden="tanh", output="identity")
    key = getkey()
    kwargs = dict(epochs=3, batch_size=50, loss="softmax_cross_entropy")
    s1, h1 = train.fit(net, optax.adam(1e-2), key, (X, y), grads="backprop", **kwargs)
    s2, h2 = train.fit(net, optax.adam(1e-2), key, (X, y), grads="autodiff", **kwargs)
    chex.assert_trees_all_close(s1.params, s2.params, rtol=1e-4, atol=1e-5)
    chex.assert_trees_all_close(h1, h2, rtol=1e-4, atol=1e-5)


def test_vmap_of_fit_over_256_keys_equals_one_fit_per_key():
    opt = optax.sgd(0.5, momentum=0.9)
    keys = jax.random.split(jax.random.key(7), 256)

    def one(key):
        return train.fit(
            NET,
            opt,
            key,
            XOR,
            epochs=20,
            batch_size=2,
            loss="half_sse",
            init_scheme="uniform",
            init_scale=0.5,
        )

    states, hists = jax.vmap(one)(keys)
    for i, key in enumerate(keys):
        s, h = one(key)
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], states.params), s.params, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(hists["loss"][i], h["loss"], rtol=1e-5, atol=1e-7)


def test_vmap_over_learning_rate_and_init_scale():
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    lrs = jnp.array([0.05, 0.5, 2.0], dtype=jnp.float32)
    scales = jnp.array([0.1, 0.5, 1.0], dtype=jnp.float32)

    def one(lr, scale):
        return train.fit(
            NET,
            opt,
            jax.random.key(0),
            XOR,
            epochs=30,
            batch_size=4,
            loss="half_sse",
            init_scheme="uniform",
            init_scale=scale,
            hyperparams={"learning_rate": lr},
        )

    states, hists = jax.vmap(one)(lrs, scales)
    for i in range(3):
        s, h = one(float(lrs[i]), float(scales[i]))
        np.testing.assert_allclose(hists["loss"][i], h["loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(states.opt_state.hyperparams["learning_rate"], lrs)
    assert len(set(np.round(np.asarray(hists["loss"][:, -1]), 6))) == 3


def test_xor_solved_by_2_2_1_sigmoid_network_from_seed_1():
    # the lecture's "2-layer network" with lr 0.5, momentum 0.9, half_sse, full batch
    state, hist = train.fit(
        NET,
        optax.sgd(0.5, momentum=0.9),
        jax.random.key(1),
        XOR,
        epochs=2000,
        batch_size=4,
        loss="half_sse",
        init_scheme="uniform",
        init_scale=0.5,
    )
    out = NET.apply(state.params, jnp.asarray(XOR[0]))
    assert float(jnp.max(jnp.abs(out - XOR[1]))) < 0.4
    assert float(hist["train_accuracy"][-1]) == 1.0
    assert float(hist["loss"][-1]) < float(hist["loss"][0])


def test_progress_bar_run_equals_single_program(getkey):
    key = getkey()
    kwargs = dict(epochs=250, batch_size=4, loss="half_sse")
    opt = optax.sgd(0.5, momentum=0.9)
    s1, h1 = train.fit(NET, opt, key, XOR, progress=True, **kwargs)
    s2, h2 = train.fit(NET, opt, key, XOR, **kwargs)
    chex.assert_trees_all_close(s1.params, s2.params, rtol=1e-6)
    assert h1["loss"].shape == (250,)


def test_digits_mlp_reaches_97_percent():
    (X, y), (Xt, yt) = fn.data.digits()
    net = fn.MLP((64, 100, 10), hidden="relu", output="identity")
    state, hist = train.fit(
        net,
        optax.adam(1e-3),
        jax.random.key(0),
        (X, y),
        epochs=100,
        batch_size=100,
        loss="softmax_cross_entropy",
        eval_data=(Xt, yt),
    )
    assert float(hist["eval_accuracy"][-1]) >= 0.97


def test_hyperparams_need_inject_hyperparams(getkey):
    with pytest.raises(TypeError, match="hyperparams: needs an optimizer made with"):
        train.fit(
            NET,
            optax.sgd(0.1),
            getkey(),
            XOR,
            epochs=1,
            batch_size=4,
            hyperparams={"learning_rate": 0.1},
        )


def _max_error(params):
    return {"max_error": jnp.max(jnp.abs(NET.apply(params, XOR[0]) - XOR[1]))}


def test_metrics_join_the_history_after_every_epoch(getkey):
    opt = optax.sgd(0.5, momentum=0.9)
    key = getkey()
    state, hist = train.fit(
        NET, opt, key, XOR, epochs=30, batch_size=4, loss="half_sse", metrics=_max_error
    )
    assert hist["max_error"].shape == (30,)
    np.testing.assert_allclose(hist["max_error"][-1], _max_error(state.params)["max_error"])
    s10, h10 = train.fit(
        NET, opt, key, XOR, epochs=10, batch_size=4, loss="half_sse", metrics=_max_error
    )
    np.testing.assert_allclose(h10["max_error"][-1], _max_error(s10.params)["max_error"])
    assert not np.allclose(hist["max_error"][0], hist["max_error"][-1])


def test_metrics_must_return_new_names(getkey):
    opt = optax.sgd(0.5)
    with pytest.raises(ValueError, match="^metrics: expected a function returning a dict"):
        train.fit(NET, opt, getkey(), XOR, epochs=1, batch_size=4, metrics=lambda p: {"loss": 0.0})
    with pytest.raises(TypeError, match="^metrics: expected a function"):
        train.fit(NET, opt, getkey(), XOR, epochs=1, batch_size=4, metrics={"a": 1})
