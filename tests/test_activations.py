import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import activations

DIFFERENTIABLE = ["identity", "sigmoid", "tanh", "relu"]


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_derivative_in_chain_rule_form_equals_jax_grad(name):
    g = activations.get(name)
    # avoid z = 0 exactly, where relu's derivative is a convention
    z = jnp.linspace(-6.0, 6.0, 1001, dtype=jnp.float64) + 1e-3
    expected = jax.vmap(jax.grad(g.fn))(z)
    chex.assert_trees_all_close(g.deriv(z, g(z)), expected, rtol=1e-12, atol=1e-14)


def test_sigmoid_is_the_logistic_function_with_derivative_a_times_one_minus_a():
    z = jnp.array([-2.0, 0.0, 3.0], dtype=jnp.float64)
    a = activations.sigmoid(z)
    np.testing.assert_allclose(a, 1 / (1 + np.exp(-np.asarray(z))), rtol=1e-14)
    np.testing.assert_allclose(activations.sigmoid.deriv(z, a), a * (1 - a), rtol=1e-14)
    assert float(activations.sigmoid.deriv(jnp.zeros(()), jnp.full((), 0.5))) == 0.25


def test_step_is_the_hard_threshold_one_where_z_is_at_least_zero():
    z = jnp.array([-1.0, -1e-7, 0.0, 1e-7, 2.0])
    np.testing.assert_array_equal(activations.step(z), [0, 0, 1, 1, 1])
    assert activations.step.deriv is None


def test_relu_derivative_is_zero_at_zero_like_jax():
    z = jnp.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(activations.relu.deriv(z, activations.relu(z)), [0, 0, 1])
    assert float(jax.grad(jax.nn.relu)(0.0)) == 0.0


def test_lookup_by_name_or_object_and_unknown_name_lists_valid_ones():
    assert activations.get("tanh") is activations.tanh
    assert activations.get(activations.relu) is activations.relu
    with pytest.raises(ValueError, match="hidden.*'sigmoid'.*'relu'.*got 'softplus'"):
        activations.get("softplus", argument="hidden")
    with pytest.raises(TypeError, match="activation"):
        activations.get(3)
    assert set(activations.names()) == {"step", "identity", "sigmoid", "tanh", "relu"}


def test_activations_are_hashable_for_static_specs():
    assert hash(activations.sigmoid) == hash(activations.get("sigmoid"))
    assert len({activations.get(n) for n in activations.names()}) == 5
