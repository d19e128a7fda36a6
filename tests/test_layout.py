import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
from fnnet import layout

CASES = [
    ((2, 2, 1), "sigmoid", "sigmoid", "half_sse"),
    ((3, 4, 2), "tanh", "sigmoid", "mse"),
    ((3, 4, 5, 3), "relu", "identity", "softmax_cross_entropy"),
]


def _batch(sizes, loss, key, dtype=jnp.float64):
    kx, kt = jax.random.split(key)
    X = jax.random.normal(kx, (5, sizes[0]), dtype)
    if loss == "softmax_cross_entropy":
        return X, jax.random.randint(kt, (5,), 0, sizes[-1])
    return X, jax.random.uniform(kt, (5, sizes[-1]), dtype)


def test_unstack_restack_round_trip(getkey):
    net = fn.MLP((3, 4, 2))
    p = net.init(getkey())
    sp = layout.unstack(p)
    assert len(jax.tree.leaves(sp)) == net.n_params
    assert all(leaf.shape == () for leaf in jax.tree.leaves(sp))
    chex.assert_trees_all_equal(layout.restack(sp), p)


@pytest.mark.parametrize("sizes, hidden, output, loss", CASES)
@pytest.mark.parametrize("grads", ["backprop", "autodiff"])
def test_scalar_gradients_equal_matrix_backprop_and_jax_grad(sizes, hidden, output, loss, grads):
    net = fn.MLP(sizes, hidden=hidden, output=output)
    p = net.init(jax.random.key(0), dtype=jnp.float64)
    X, T = _batch(sizes, loss, jax.random.key(1))

    @jax.jit
    def both(p, X, T):
        ref = jax.value_and_grad(lambda q: fn.losses.get(loss)(net.apply(q, X), T))(p)
        v, g = layout.value_and_grad(net, layout.unstack(p), X, T, loss, grads)
        return ref, (v, layout.restack(g))

    (v_ref, g_ref), (v, g) = both(p, X, T)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12)
    chex.assert_trees_all_close(g, g_ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("grads", ["backprop", "autodiff"])
def test_fit_in_both_layouts_agrees_and_returns_matrix_state(grads):
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.adam(0.05)  # a state with two moment trees and a count

    @jax.jit
    def both(key):
        return [
            fn.train.fit(
                net, opt, key, (X, T), epochs=50, batch_size=4, loss="mse", grads=grads, layout=lay
            )
            for lay in ("matrix", "scalar")
        ]

    (s_m, h_m), (s_s, h_s) = both(jax.random.key(3))
    chex.assert_trees_all_equal_structs(s_m, s_s)
    chex.assert_trees_all_close(s_s, s_m, rtol=1e-9, atol=1e-12)
    chex.assert_trees_all_close(h_s, h_m, rtol=1e-9, atol=1e-12)


def test_fit_scalar_layout_with_minibatches_and_labels():
    net = fn.MLP((3, 4, 3), hidden="tanh", output="identity")
    X, T = _batch((3, 4, 3), "softmax_cross_entropy", jax.random.key(4))
    X = jnp.concatenate([X, X + 1.0])
    T = jnp.concatenate([T, T])
    opt = optax.sgd(0.1, momentum=0.9)

    @jax.jit
    def both(key):
        return [
            fn.train.fit(
                net,
                opt,
                key,
                (X, T),
                epochs=20,
                batch_size=3,
                loss="softmax_cross_entropy",
                layout=lay,
            )
            for lay in ("matrix", "scalar")
        ]

    (s_m, h_m), (s_s, h_s) = both(jax.random.key(5))
    chex.assert_trees_all_close(s_s.params, s_m.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h_s["loss"], h_m["loss"], rtol=1e-9)


def test_choose():
    small, big = fn.MLP((2, 2, 1)), fn.MLP((64, 100, 10))
    assert layout.choose("auto", small, "mse", 4) == "scalar"
    assert layout.choose("auto", big, "mse", 4) == "matrix"
    assert layout.choose("auto", small, "mse", 1000) == "matrix"
    assert layout.choose("matrix", small, "mse", 4) == "matrix"
    custom = fn.losses.Loss("custom", fn.losses.mse.value, fn.losses.mse.grad)
    assert layout.choose("auto", small, custom, 4) == "matrix"
    with pytest.raises(ValueError, match="^layout: 'scalar' needs one of the built-in losses"):
        layout.choose("scalar", small, custom, 4)
    with pytest.raises(ValueError, match="^layout: expected one of"):
        layout.choose("rows", small, "mse", 4)


def test_history_final_equals_the_last_epoch_and_solved_is_the_first_epoch():
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    crit = lambda a, T: jnp.all(jnp.abs(a - T) < 0.4)  # noqa: E731
    err = lambda p: {"max_error": jnp.max(jnp.abs(net.apply(p, X) - T))}  # noqa: E731
    kw = dict(
        epochs=600,
        batch_size=4,
        loss="half_sse",
        init_scheme="uniform",
        init_scale=0.5,
        metrics=err,
        solved=crit,
    )

    @jax.jit
    def both(key):
        return [fn.train.fit(net, opt, key, (X, T), history=h, **kw) for h in ("epoch", "final")]

    (s_e, h_e), (s_f, h_f) = both(jax.random.key(1))
    chex.assert_trees_all_close(s_f, s_e)
    for name in ("loss", "train_accuracy", "max_error"):
        assert h_f[name].shape == ()
        np.testing.assert_allclose(h_f[name], h_e[name][-1])
    first = int(np.argmax(np.asarray(h_e["max_error"]) < 0.4)) + 1
    assert np.asarray(h_e["max_error"]).min() < 0.4  # this seed solves XOR in 600 epochs
    assert int(h_e["epoch_solved"]) == int(h_f["epoch_solved"]) == first


def test_fit_rejects_bad_layout_history_solved(getkey):
    X, T = fn.data.logic_gate("xor")
    net, opt = fn.MLP((2, 2, 1)), optax.sgd(0.1)
    for kw, err, match in [
        ({"layout": "rows"}, ValueError, "^layout:"),
        ({"history": "all"}, ValueError, "^history: expected one of 'epoch', 'final'"),
        ({"solved": 0.4}, TypeError, "^solved: expected a function"),
    ]:
        with pytest.raises(err, match=match):
            fn.train.fit(net, opt, getkey(), (X, T), epochs=1, batch_size=4, **kw)


def test_progress_chunks_carry_solved_and_final_history(capsys):
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    crit = lambda a, T: jnp.all(jnp.abs(a - T) < 0.4)  # noqa: E731
    kw = dict(
        epochs=450,
        batch_size=4,
        loss="half_sse",
        init_scheme="uniform",
        init_scale=0.5,
        solved=crit,
        history="final",
    )
    s1, h1 = fn.train.fit(net, opt, jax.random.key(1), (X, T), **kw)
    s2, h2 = fn.train.fit(net, opt, jax.random.key(1), (X, T), progress=True, **kw)
    assert int(h1["epoch_solved"]) > 0
    assert int(h2["epoch_solved"]) == int(h1["epoch_solved"])
    chex.assert_trees_all_close(s2.params, s1.params, rtol=1e-10)
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-10)
    assert "450/450" in capsys.readouterr().err
