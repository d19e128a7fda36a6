import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn

CASES = [
    ((5, 7, 6, 3), "sigmoid", "sigmoid", "mse"),
    ((4, 8, 8, 8, 3), "relu", "identity", "softmax_cross_entropy"),
    ((3, 6, 2), "tanh", "identity", "half_sse"),
]


def _data(sizes, loss, key):
    kx, kt = jax.random.split(key)
    X = jax.random.normal(kx, (16, sizes[0]), jnp.float64)
    if loss == "softmax_cross_entropy":
        return X, jax.random.randint(kt, (16,), 0, sizes[-1])
    return X, jax.random.uniform(kt, (16, sizes[-1]), jnp.float64)


@pytest.mark.parametrize("sizes, hidden, output, loss", CASES)
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_backprop_equals_jax_grad_with_the_same_mask(sizes, hidden, output, loss, rate):
    net = fn.MLP(sizes, hidden=hidden, output=output)
    params = net.init(jax.random.key(0), dtype=jnp.float64)
    X, T = _data(sizes, loss, jax.random.key(1))
    key = jax.random.key(2)

    @jax.jit
    def both(params, X, T):
        hand = fn.backprop.value_and_grad(net, params, X, T, loss, dropout=rate, key=key)
        ref = jax.value_and_grad(
            lambda p: fn.losses.get(loss)(net.apply(p, X, dropout=rate, key=key), T)
        )(params)
        plain = fn.backprop.value_and_grad(net, params, X, T, loss)
        return hand, ref, plain

    (v, g), (v_ref, g_ref), (v0, g0) = both(params, X, T)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12)
    chex.assert_trees_all_close(g, g_ref, rtol=1e-10, atol=1e-14)
    assert not np.allclose(v, v0)  # the masks did change the loss


def test_dropout_masks_keep_one_minus_rate_and_preserve_the_mean():
    net = fn.MLP((3, 400, 300, 1))
    keeps = net.dropout_keep(jax.random.key(0), 500, 0.3, jnp.float64)
    assert [k.shape for k in keeps] == [(500, 400), (500, 300)]
    for k in keeps:
        kept = np.asarray(k > 0)
        assert abs(kept.mean() - 0.7) < 0.01
        np.testing.assert_allclose(np.asarray(k)[kept], 1 / 0.7)
        assert abs(float(k.mean()) - 1.0) < 0.02


def test_dropout_is_off_at_evaluation_and_in_the_history(getkey):
    net = fn.MLP((2, 16, 16, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    p = net.init(getkey(), dtype=jnp.float64)
    chex.assert_trees_all_equal(net.apply(p, X), net.forward(p, X)[0])
    assert not np.allclose(net.apply(p, X, dropout=0.5, key=getkey()), net.apply(p, X))
    state, hist = fn.train.fit(
        net,
        optax.adam(0.01),
        getkey(),
        (X, T),
        epochs=30,
        batch_size=4,
        grads=fn.backprop.dropout(0.5),
        record=fn.train.Record(eval_data=(X, T)),
    )
    # the recorded evaluation is the whole network's, not a dropped-out one
    a = net.apply(state.params, X)
    np.testing.assert_allclose(hist["eval_loss"][-1], fn.losses.mse(a, T), rtol=1e-12)
    np.testing.assert_allclose(
        hist["train_accuracy"][-1], fn.train.accuracy(net, "mse", a, T), rtol=1e-12
    )


def test_fit_with_dropout_changes_training_and_is_reproducible(getkey):
    net = fn.MLP((2, 16, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    key = getkey()
    opt = optax.sgd(0.1)
    run = jax.jit(
        lambda k, rate: (
            fn.train.fit(
                net, opt, k, (X, T), epochs=20, batch_size=2, grads=fn.backprop.dropout(rate)
            )[0].params
        ),
        static_argnums=1,
    )
    chex.assert_trees_all_equal(run(key, 0.5), run(key, 0.5))
    with pytest.raises(AssertionError):
        chex.assert_trees_all_close(run(key, 0.5), run(key, 0.0))


def test_dropout_wraps_a_gradient_function(getkey):
    net = fn.MLP((3, 6, 5, 2), hidden="tanh")
    params = net.init(getkey(), dtype=jnp.float64)
    X, T = _data((3, 6, 5, 2), "mse", getkey())
    key = getkey()
    assert fn.backprop.dropout(0) is fn.backprop.value_and_grad
    assert fn.backprop.dropout(0.0, fn.backprop.autodiff) is fn.backprop.autodiff
    for grads in (fn.backprop.value_and_grad, fn.backprop.autodiff):
        v, g = fn.backprop.dropout(0.3, grads)(net, params, X, T, fn.losses.mse, key=key)
        v_ref, g_ref = grads(net, params, X, T, "mse", dropout=0.3, key=key)
        np.testing.assert_allclose(v, v_ref, rtol=1e-12)
        chex.assert_trees_all_close(g, g_ref, rtol=1e-12, atol=1e-15)
        assert not np.allclose(v, grads(net, params, X, T, "mse")[0])


@pytest.mark.parametrize(
    "call, err, match",
    [
        (
            lambda n, p, X: n.apply(p, X, dropout=1.0, key=jax.random.key(0)),
            ValueError,
            r"^dropout: expected a rate in \[0, 1\)",
        ),
        (
            lambda n, p, X: n.apply(p, X, dropout=-0.1, key=jax.random.key(0)),
            ValueError,
            "^dropout:",
        ),
        (lambda n, p, X: n.apply(p, X, dropout=0.5), ValueError, "^key: dropout 0.5 needs"),
        (
            lambda n, p, X: fn.train.fit(
                n,
                optax.sgd(0.1),
                jax.random.key(0),
                (X, X[:, :1]),
                epochs=1,
                batch_size=4,
                grads=fn.backprop.dropout(jnp.array(0.5)),
            ),
            TypeError,
            "^rate: expected a Python number",
        ),
        (
            lambda n, p, X: fn.backprop.dropout(1.0),
            ValueError,
            r"^rate: expected a rate in \[0, 1\)",
        ),
        (
            lambda n, p, X: fn.backprop.dropout(0.5, grads=lambda *a, **k: None),
            TypeError,
            "^grads: expected fnnet.backprop.value_and_grad or fnnet.backprop.autodiff",
        ),
        (
            lambda n, p, X: fn.train.fit(
                n,
                optax.sgd(0.1),
                jax.random.key(0),
                (X, X[:, :1]),
                epochs=1,
                batch_size=4,
                grads=fn.backprop.dropout(0.5),
                layout="scalar",
            ),
            ValueError,
            "^layout: 'scalar' runs .* without dropout",
        ),
    ],
)
def test_dropout_bad_inputs(call, err, match):
    net = fn.MLP((2, 4, 1))
    X, _ = fn.data.logic_gate("xor")
    with pytest.raises(err, match=match):
        call(net, net.init(jax.random.key(0)), X)


def test_diagnostics_equal_a_direct_computation():
    net = fn.MLP((3, 5, 4, 2), hidden="sigmoid", output="identity")
    p = net.init(jax.random.key(0), "normal", 1.0, dtype=jnp.float64)
    X, T = _data((3, 5, 4, 2), "mse", jax.random.key(1))
    # direct: the forward pass by hand and jax.grad
    h1 = jax.nn.sigmoid(X @ p[0]["W"] + p[0]["b"][None, :])
    h2 = jax.nn.sigmoid(h1 @ p[1]["W"] + p[1]["b"][None, :])
    out = h2 @ p[2]["W"] + p[2]["b"][None, :]
    g = jax.grad(lambda q: fn.losses.mse(net.apply(q, X), T))(p)
    norms = fn.diagnostics.gradient_norms(net, p, X, T, "mse")
    np.testing.assert_allclose(norms, [np.linalg.norm(layer["W"]) for layer in g], rtol=1e-10)
    np.testing.assert_allclose(
        fn.diagnostics.gradient_norms(net, p, X, T, "mse", grads=fn.backprop.autodiff),
        norms,
        rtol=1e-10,
    )
    stats = fn.diagnostics.activation_stats(net, p, X)
    for i, a in enumerate([h1, h2, out]):
        np.testing.assert_allclose(stats["mean"][i], np.mean(a), rtol=1e-12)
        np.testing.assert_allclose(stats["std"][i], np.std(a), rtol=1e-12)
    for i, a in enumerate([h1, h2]):
        sat = np.mean((np.asarray(a) < 0.1) | (np.asarray(a) > 0.9))
        np.testing.assert_allclose(stats["saturated"][i], sat)
    assert stats["saturated"][2] == 0.0  # identity output never saturates
    relu = fn.MLP((3, 50, 2), hidden="relu")
    pr = relu.init(jax.random.key(2), dtype=jnp.float64)
    a = fn.diagnostics.layer_activations(relu, pr, X)[0]
    np.testing.assert_allclose(
        fn.diagnostics.activation_stats(relu, pr, X)["saturated"][0], np.mean(np.asarray(a) == 0)
    )


def test_pretraining_lowers_reconstruction_loss_and_initialises_the_net():
    net = fn.MLP((8, 6, 4, 3), hidden="sigmoid", output="identity")
    X = jax.random.normal(jax.random.key(0), (200, 8))
    params, curves = fn.pretrain.autoencoders(
        net, jax.random.key(1), X, epochs=15, batch_size=20, optimizer=optax.adam(0.01)
    )
    net.check_params(params)
    assert len(curves) == 2 and curves[0].shape == (15,)
    for c in curves:
        assert float(c[-1]) < 0.9 * float(c[0])
    # the second autoencoder reconstructs the first layer's sigmoid codes, which lie in [0, 1]
    h1 = jax.nn.sigmoid(X @ params[0]["W"] + params[0]["b"][None, :])
    assert float(jnp.min(h1)) >= 0.0 and float(jnp.max(h1)) <= 1.0
    with pytest.raises(ValueError, match="^net: expected at least one hidden layer"):
        fn.pretrain.autoencoders(fn.MLP((8, 3)), jax.random.key(0), X)


def test_pretraining_under_vmap_equals_one_key_at_a_time():
    net = fn.MLP((6, 5, 4, 2), hidden="sigmoid", output="identity")
    X = jax.random.normal(jax.random.key(0), (40, 6))
    keys = jax.random.split(jax.random.key(1), 2)
    run = lambda k: fn.pretrain.autoencoders(net, k, X, epochs=3, batch_size=20)  # noqa: E731
    many = jax.vmap(run)(keys)
    one = run(keys[1])
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[1], many), one, rtol=1e-6, atol=1e-9)
    # under jit, with the data a closed-over constant in [0, 1] (its range is read from the
    # concrete array, not staged): the same numbers as outside jit
    X01 = np.asarray(jax.nn.sigmoid(X))
    run01 = lambda k: fn.pretrain.autoencoders(net, k, X01, epochs=3, batch_size=20)  # noqa: E731
    chex.assert_trees_all_close(jax.jit(run01)(keys[0]), run01(keys[0]), rtol=1e-5, atol=1e-7)
