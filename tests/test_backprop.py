from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
from fnnet import activations, backprop, losses

HIDDEN = ["identity", "sigmoid", "tanh", "relu"]
LOSSES = ["mse", "half_sse", "softmax_cross_entropy"]


def _problem(key, sizes, hidden, output, loss, batch, dtype):
    """A network and a problem for it: parameters N(0, 1), inputs N(0, 1), targets uniform in
    [0, 1) or class labels; drawn with NumPy from a seed taken from ``key`` (drawn with
    jax.random, each case would compile its own random programs: seconds per case)."""
    net = fn.MLP(sizes, hidden=hidden, output=output)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
    params = [
        {"W": rng.normal(size=(n_in, n_out)), "b": rng.normal(size=n_out)}
        for n_in, n_out in net.layer_sizes()
    ]
    X = rng.normal(size=(batch, sizes[0]))
    if loss == "softmax_cross_entropy":
        T = jnp.asarray(rng.integers(0, sizes[-1], size=batch))
    else:
        T = jnp.asarray(rng.uniform(size=(batch, sizes[-1])), dtype)
    return net, jax.tree.map(lambda x: jnp.asarray(x, dtype), params), jnp.asarray(X, dtype), T


def _reference(net, params, X, T, loss):
    return jax.value_and_grad(lambda p: losses.get(loss)(net.apply(p, X), T))(params)


@jax.jit
def _max_error(grads, ref):
    return jnp.max(jnp.stack(jax.tree.leaves(backprop.relative_error(grads, ref))))


# one compiled program per case: hand-derived and jax.grad side by side
@partial(jax.jit, static_argnums=0)
def _compare(net_and_loss, params, X, T):
    net, loss = net_and_loss
    return backprop.value_and_grad(net, params, X, T, loss), _reference(net, params, X, T, loss)


def _random_architectures(n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        depth = int(rng.integers(1, 6))  # weight layers: 1 to 5
        sizes = tuple(int(s) for s in rng.integers(1, 17, size=depth + 1))
        yield (
            sizes,
            str(rng.choice(HIDDEN)),
            str(rng.choice(["identity", "sigmoid", "tanh", "relu"])),
            str(rng.choice(LOSSES)),
            int(rng.integers(1, 65)),
        )


@pytest.mark.parametrize("dtype,tol", [(jnp.float64, 1e-10), (jnp.float32, 1e-5)])
@pytest.mark.parametrize("case", list(_random_architectures(16, seed=0)), ids=str)
def test_hand_gradients_equal_jax_grad(case, dtype, tol, getkey):
    """Float64: hand-derived = jax.grad within 1e-10 per leaf (relative). Float32: both are
    compared with the float64 gradient of the same problem, and the hand-derived one is within
    1e-5 of it per leaf, or at most 4x as far off as jax.grad's own float32 gradient (a leaf
    that is a sum of terms cancelling to 1e-4 of their size, a bias under a saturated softmax,
    say, is off by ~3e-5 in float32 whichever way it is computed)."""
    sizes, hidden, output, loss, batch = case
    if loss == "softmax_cross_entropy":
        output = "identity"
    net, params, X, T = _problem(getkey(), sizes, hidden, output, loss, batch, dtype)
    (value, grads), (ref_value, ref_grads) = _compare((net, loss), params, X, T)
    chex.assert_trees_all_equal_structs(grads, ref_grads)
    np.testing.assert_allclose(value, ref_value, rtol=tol)
    if dtype == jnp.float64:
        for err in jax.tree.leaves(backprop.relative_error(grads, ref_grads)):
            assert float(err) < tol
        return
    up = partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
    T64 = T if loss == "softmax_cross_entropy" else up(T)
    _, truth = jax.jit(_reference, static_argnums=(0, 4))(net, up(params), up(X), T64, loss)
    hand = jax.tree.leaves(backprop.relative_error(up(grads), truth))
    auto = jax.tree.leaves(backprop.relative_error(up(ref_grads), truth))
    for h, a in zip(hand, auto):
        assert float(h) < max(tol, 4 * float(a))


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_activation_and_loss_in_float64(hidden, loss, getkey):
    output = "identity" if loss == "softmax_cross_entropy" else "sigmoid"
    net, params, X, T = _problem(getkey(), (5, 7, 6, 3), hidden, output, loss, 16, jnp.float64)
    (_, grads), (_, ref) = _compare((net, loss), params, X, T)
    assert float(_max_error(grads, ref)) < 1e-10


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "identity", "relu"])
def test_every_output_activation_in_float64(output, getkey):
    net, params, X, T = _problem(getkey(), (4, 5, 2), "tanh", output, "mse", 9, jnp.float64)
    (_, grads), (_, ref) = _compare((net, "mse"), params, X, T)
    assert float(_max_error(grads, ref)) < 1e-10


def test_hand_gradients_equal_central_differences_in_float64(getkey):
    # smooth activations: central differences are exact to O(eps^2) only away from ReLU's kink
    for hidden, loss in [
        ("sigmoid", "mse"),
        ("tanh", "half_sse"),
        ("sigmoid", "softmax_cross_entropy"),
    ]:
        output = "identity" if loss == "softmax_cross_entropy" else "sigmoid"
        net, params, X, T = _problem(getkey(), (3, 4, 4, 2), hidden, output, loss, 8, jnp.float64)
        _, grads = backprop.value_and_grad(net, params, X, T, loss)
        numeric = backprop.numerical_grad(
            lambda p, net=net, X=X, T=T, loss=loss: losses.get(loss)(net.apply(p, X), T), params
        )
        # absolute slack for entries that are exactly 0 by hand (dead ReLUs) and ~1e-11 numerically

        chex.assert_trees_all_close(grads, numeric, rtol=1e-6, atol=1e-8)


def test_lecture_single_unit_formula(getkey):
    # ∂L/∂θ_10 = -2(y - a) σ(z)(1 - σ(z)) x0 for one sigmoid unit with MSE loss, x0 = 1
    net = fn.MLP((2, 1))
    params = net.init(getkey(), "uniform", 1.0, dtype=jnp.float64)
    x, y = jnp.array([[0.5, -1.5]]), jnp.array([[1.0]])
    z = float((x @ params[0]["W"])[0, 0] + params[0]["b"][0])
    a = 1 / (1 + np.exp(-z))
    _, grads = backprop.value_and_grad(net, params, x, y, "mse")
    np.testing.assert_allclose(grads[0]["b"], [-2 * (1 - a) * a * (1 - a)], rtol=1e-13)
    np.testing.assert_allclose(
        grads[0]["W"][:, 0], -2 * (1 - a) * a * (1 - a) * np.array([0.5, -1.5]), rtol=1e-13
    )


def test_backprop_is_jit_and_vmap_compatible(getkey):
    net, params, X, T = _problem(getkey(), (3, 5, 2), "sigmoid", "sigmoid", "mse", 8, jnp.float32)
    jitted = jax.jit(backprop.value_and_grad, static_argnums=(0, 4))
    chex.assert_trees_all_close(
        jitted(net, params, X, T, "mse"),
        backprop.value_and_grad(net, params, X, T, "mse"),
        rtol=1e-5,
        atol=1e-7,
    )
    # per-example gradients with vmap over the batch, each example a batch of one
    per_example = jax.vmap(
        lambda x, t: backprop.value_and_grad(net, params, x[None], t[None], "half_sse")[1]
    )(X, T)
    summed = jax.tree.map(lambda g: jnp.sum(g, axis=0), per_example)
    full = backprop.value_and_grad(net, params, X, T, "half_sse")[1]
    chex.assert_trees_all_close(summed, full, rtol=1e-5, atol=1e-6)


def test_step_activation_has_no_gradient_and_says_so(getkey):
    net = fn.MLP((2, 2, 1), hidden="step")
    params = net.init(getkey())
    X, T = fn.data.logic_gate("xor")
    with pytest.raises(ValueError, match="^net: gradient training needs a differentiable.*'step'"):
        backprop.value_and_grad(net, params, X, T)
    assert activations.step.deriv is None
    # fit refuses a step network whichever gradient it is given: jax.grad too is 0 almost everywhere
    for grads in (backprop.value_and_grad, backprop.autodiff, backprop.dropout(0.5)):
        with pytest.raises(ValueError, match="^net: gradient training needs a differentiable"):
            fn.train.fit(net, optax.sgd(0.1), getkey(), (X, T), epochs=1, batch_size=4, grads=grads)
    # what the check spares: autodiff itself returns the zero gradient a step unit has
    _, g = backprop.autodiff(net, params, X, T)
    assert float(jnp.max(jnp.abs(g[0]["W"]))) == 0.0


def test_numerical_grad_of_a_quadratic():
    g = backprop.numerical_grad(lambda p: jnp.sum(p["x"] ** 2), {"x": jnp.arange(3.0)})
    np.testing.assert_allclose(g["x"], [0.0, 2.0, 4.0], atol=1e-8)


def test_autodiff_has_value_and_grads_signature_and_equals_it(getkey):
    net, params, X, T = _problem(getkey(), (3, 5, 4), "tanh", "identity", "mse", 6, jnp.float64)
    for loss in ("mse", losses.half_sse):
        v, g = backprop.autodiff(net, params, X, T, loss, key=None)
        v_ref, g_ref = backprop.value_and_grad(net, params, X, T, loss, key=None)
        np.testing.assert_allclose(v, v_ref, rtol=1e-13)
        chex.assert_trees_all_close(g, g_ref, rtol=1e-10, atol=1e-14)
