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


def _rows(x):
    # a (batch, n_out) array as the per-example form takes it: per row, a list over output units
    return [[x[n, k] for k in range(x.shape[1])] for n in range(x.shape[0])]


@pytest.mark.parametrize("name", ["mse", "half_sse", "softmax_cross_entropy"])
@pytest.mark.parametrize("batch", [1, 6])
def test_per_example_form_equals_the_batch_loss(name, batch, getkey):
    # L = weight(B) · Σ_n ℓ(a_n, t_n) and ∂L/∂a_nk = weight(B) · ∂ℓ/∂a_k(a_n, t_n)
    loss = losses.get(name)
    a, t = _pair(getkey(), batch=batch, n_out=4)
    a = 3.0 * a - 1.0  # outputs and logits of both signs
    if name == "softmax_cross_entropy":
        t = t / jnp.sum(t, axis=1, keepdims=True)
    w = loss.weight(batch)
    value = w * sum(loss.example(an, tn) for an, tn in zip(_rows(a), _rows(t)))
    np.testing.assert_allclose(value, loss.value(a, t), rtol=1e-13)
    grad = jnp.stack([jnp.stack(loss.example_grad(an, tn)) for an, tn in zip(_rows(a), _rows(t))])
    np.testing.assert_allclose(w * grad, loss.grad(a, t), rtol=1e-12, atol=1e-15)
    # "arrays of any one shape": the columns of the whole batch give every example at once
    cols = lambda x: [x[:, k] for k in range(x.shape[1])]  # noqa: E731
    per_example = loss.example(cols(a), cols(t))
    assert per_example.shape == (batch,)
    np.testing.assert_allclose(w * jnp.sum(per_example), loss.value(a, t), rtol=1e-13)
    np.testing.assert_allclose(
        w * jnp.stack(loss.example_grad(cols(a), cols(t)), axis=1), loss.grad(a, t), rtol=1e-12
    )


def test_per_example_weights_are_the_batch_averaging():
    for B in (1, 4, 100):
        assert losses.mse.weight(B) == 1.0 / B
        assert losses.softmax_cross_entropy.weight(B) == 1.0 / B
        assert losses.half_sse.weight(B) == 1.0


def test_per_example_cross_entropy_is_stable_for_large_logits():
    z = [jnp.float32(1000.0), jnp.float32(0.0), jnp.float32(-1000.0)]
    t = [jnp.float32(1.0), jnp.float32(0.0), jnp.float32(0.0)]
    assert float(losses.softmax_cross_entropy.example(z, t)) == 0.0
    np.testing.assert_allclose(losses.softmax_cross_entropy.example_grad(z, t), [0.0, 0.0, 0.0])


def test_a_user_loss_has_no_per_example_form(getkey):
    custom = losses.Loss("l1", lambda a, t: jnp.sum(jnp.abs(a - t)), lambda a, t: jnp.sign(a - t))
    assert losses.get(custom) is custom
    assert custom.example is None and custom.example_grad is None and custom.weight is None
    assert repr(custom) == "Loss('l1')"
    a, t = _pair(getkey())
    np.testing.assert_allclose(custom(a, t), np.sum(np.abs(np.asarray(a) - np.asarray(t))))
