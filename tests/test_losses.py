import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import losses


def _pair(key, batch=5, n_out=3):
    ka, kt = jax.random.split(key)
    a = jax.random.uniform(ka, (batch, n_out), jnp.float64)
    t = jax.random.uniform(kt, (batch, n_out), jnp.float64)
    return a, t


def test_mse_is_the_lecture_square_error_summed_over_outputs_averaged_over_batch(getkey):
    a, t = _pair(getkey())
    expected = np.mean(np.sum((np.asarray(t) - np.asarray(a)) ** 2, axis=1))
    np.testing.assert_allclose(losses.mse(a, t), expected, rtol=1e-14)
    # one example, one output: (y - a)^2 with derivative -2(y - a)
    a1, t1 = jnp.array([[0.3]]), jnp.array([[1.0]])
    np.testing.assert_allclose(losses.mse(a1, t1), 0.49, rtol=1e-14)
    np.testing.assert_allclose(losses.mse.grad(a1, t1), [[-1.4]], rtol=1e-14)


def test_half_sse_is_half_the_sum_over_the_whole_batch(getkey):
    a, t = _pair(getkey())
    expected = 0.5 * np.sum((np.asarray(t) - np.asarray(a)) ** 2)
    np.testing.assert_allclose(losses.half_sse(a, t), expected, rtol=1e-14)


def test_softmax_cross_entropy_value(getkey):
    z, _ = _pair(getkey(), batch=4, n_out=5)
    labels = jnp.array([0, 4, 2, 2])
    p = np.exp(np.asarray(z)) / np.exp(np.asarray(z)).sum(1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(4), np.asarray(labels)]))
    np.testing.assert_allclose(losses.softmax_cross_entropy(z, labels), expected, rtol=1e-13)
    onehot = jax.nn.one_hot(labels, 5, dtype=jnp.float64)
    np.testing.assert_allclose(losses.softmax_cross_entropy(z, onehot), expected, rtol=1e-13)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy.grad(z, labels), (p - np.asarray(onehot)) / 4, rtol=1e-12
    )


@pytest.mark.parametrize("name", ["mse", "half_sse", "softmax_cross_entropy"])
def test_derivative_equals_jax_grad(name, getkey):
    loss = losses.get(name)
    a, t = _pair(getkey(), batch=7, n_out=4)
    if name == "softmax_cross_entropy":
        t = t / jnp.sum(t, axis=1, keepdims=True)  # soft targets sum to one
    chex.assert_trees_all_close(loss.grad(a, t), jax.grad(loss.value)(a, t), rtol=1e-12)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    z = jnp.array([[1000.0, 0.0, -1000.0]], dtype=jnp.float32)
    value = losses.softmax_cross_entropy(z, jnp.array([0]))
    chex.assert_tree_all_finite(value)
    assert float(value) == 0.0


def test_lookup_and_unknown_name():
    assert losses.get("mse") is losses.mse
    with pytest.raises(ValueError, match="loss.*'mse'.*got 'l1'"):
        losses.get("l1")
    with pytest.raises(TypeError, match="loss"):
        losses.get(None)
