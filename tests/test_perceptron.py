import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet as fn
from fnnet import perceptron


def _fit_many(gate, n_seeds, shuffle):
    X, T = fn.data.logic_gate(gate)
    keys = jax.random.split(jax.random.key(11), n_seeds)

    def one(key):
        ki, ks = jax.random.split(key)
        return perceptron.fit(
            perceptron.init(ki), X, T, lr=0.1, epochs=100, key=ks if shuffle else None
        )

    return jax.jit(jax.vmap(one))(keys), X, T


@pytest.mark.parametrize("gate", ["and", "or", "nand"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_linearly_separable_gates_converge_for_every_seed(gate, shuffle):
    (p, mistakes, first), X, T = _fit_many(gate, 512, shuffle)
    assert np.all(np.asarray(first) >= 1)
    preds = jax.vmap(lambda q: perceptron.predict(q, jnp.asarray(X)))(p)
    np.testing.assert_array_equal(np.asarray(preds), np.broadcast_to(T.ravel(), (512, 4)))


def test_xor_converges_for_no_seed():
    (p, mistakes, first), _, _ = _fit_many("xor", 512, shuffle=True)
    assert np.all(np.asarray(first) == -1)
    assert np.all(np.asarray(mistakes)[:, -1] >= 1)


def test_vmapped_fit_equals_per_seed_fit():
    (p, mistakes, first), X, T = _fit_many("or", 16, shuffle=True)
    keys = jax.random.split(jax.random.key(11), 16)
    for i, key in enumerate(keys):
        ki, ks = jax.random.split(key)
        q, m, f = perceptron.fit(perceptron.init(ki), X, T, lr=0.1, epochs=100, key=ks)
        chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], p), q)
        np.testing.assert_array_equal(mistakes[i], m)
        assert int(first[i]) == int(f)


def test_update_is_the_perceptron_rule():
    p = {"w": jnp.array([0.5, -0.5]), "b": jnp.array(-0.2)}
    x = jnp.array([1.0, 1.0])
    q = perceptron.update(p, x, 1.0, lr=0.1)  # y = step(-0.2) = 0, t = 1: w += 0.1 x
    np.testing.assert_allclose(q["w"], [0.6, -0.4])
    np.testing.assert_allclose(q["b"], -0.1)
    chex.assert_trees_all_equal(perceptron.update(p, x, 0.0, lr=0.1), p)


def test_bad_inputs_name_the_argument():
    X, T = fn.data.logic_gate("and")
    p = perceptron.init(jax.random.key(0))
    with pytest.raises(ValueError, match="^epochs:"):
        perceptron.fit(p, X, T, epochs=0)
    with pytest.raises(ValueError, match="^T:"):
        perceptron.fit(p, X, T[:3])
    with pytest.raises(ValueError, match="^lr:"):
        perceptron.fit(p, X, T, lr=0.0)
    with pytest.raises(ValueError, match="^p:"):
        perceptron.fit(perceptron.init(jax.random.key(0), n_in=3), X, T)


def test_perceptrons_combined_into_two_layers_compute_xor():
    from experiments.logic_gates import AND, NAND, OR, hand_built_xor

    X, T = fn.data.logic_gate("xor")
    net, params = hand_built_xor()
    assert net.sizes == (2, 2, 1) and net.hidden.name == "step" and net.output.name == "step"
    np.testing.assert_array_equal(np.asarray(net.apply(params, X)), T)
    # each hidden unit is the gate it was built from
    h = np.asarray(fn.activations.step(X @ params[0]["W"] + params[0]["b"][None, :]))
    np.testing.assert_array_equal(h[:, 0], fn.data.GATES["or"])
    np.testing.assert_array_equal(h[:, 1], fn.data.GATES["nand"])
    for gate, p in (("or", OR), ("nand", NAND), ("and", AND)):
        np.testing.assert_array_equal(perceptron.predict(p, X), fn.data.GATES[gate])


def test_combine_checks_shapes():
    p2 = perceptron.init(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=r"^output: expected weights of shape \(2,\)"):
        perceptron.combine([p2, p2], p2 | {"w": jnp.ones(3)})
    with pytest.raises(ValueError, match="^hidden: expected perceptrons with weights of one shape"):
        perceptron.combine([p2, perceptron.init(jax.random.key(0), 3)], p2)
    with pytest.raises(TypeError, match="^hidden: expected a non-empty list"):
        perceptron.combine([], p2)
