import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet as fn


def test_init_returns_the_documented_pytree(getkey):
    net = fn.MLP((2, 2, 1))
    params = net.init(getkey())
    assert isinstance(params, list) and len(params) == 2
    chex.assert_shape([params[0]["W"], params[0]["b"]], [(2, 2), (2,)])
    chex.assert_shape([params[1]["W"], params[1]["b"]], [(2, 1), (1,)])
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))


def test_forward_pass_is_the_lecture_linear_combination_with_bias_input(getkey):
    # z_1^(2) = θ_10 x0 + θ_11 x1 + θ_12 x2 with x0 = 1; W[j, i] = θ_ij, b[i] = θ_i0
    net = fn.MLP((2, 2, 1))
    params = net.init(getkey(), "uniform", 1.0, dtype=jnp.float64)
    x = np.array([0.3, -0.7])
    Theta1 = np.vstack([np.asarray(params[0]["b"]), np.asarray(params[0]["W"])]).T  # (2, 3)
    Theta2 = np.vstack([np.asarray(params[1]["b"]), np.asarray(params[1]["W"])]).T  # (1, 3)
    sigma = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    a2 = sigma(Theta1 @ np.concatenate([[1.0], x]))
    a3 = sigma(Theta2 @ np.concatenate([[1.0], a2]))
    out = net.apply(params, jnp.asarray(x[None, :]))
    np.testing.assert_allclose(out, a3[None, :], rtol=1e-14)


@pytest.mark.parametrize(
    ("scheme", "std"),
    [("normal", 0.01), ("xavier", np.sqrt(1 / 400)), ("he", np.sqrt(2 / 400))],
)
def test_gaussian_schemes_have_their_standard_deviation(scheme, std, getkey):
    params = fn.MLP((400, 300, 1)).init(getkey(), scheme, dtype=jnp.float64)
    W = np.asarray(params[0]["W"])
    assert abs(W.std() / std - 1) < 0.02
    assert np.all(np.asarray(params[0]["b"]) == 0)


def test_uniform_scheme_draws_weights_and_biases_within_scale(getkey):
    params = fn.MLP((50, 200, 3)).init(getkey(), "uniform", scale=2.0)
    for leaf in jax.tree.leaves(params):
        assert float(jnp.max(jnp.abs(leaf))) <= 2.0
    W = np.asarray(params[0]["W"])
    assert abs(W.std() - 2.0 / np.sqrt(3)) < 0.05  # uniform on [-s, s] has std s/sqrt(3)
    assert float(jnp.max(jnp.abs(params[0]["b"]))) > 1.0


def test_default_scheme_is_he_for_relu_and_xavier_otherwise():
    key = jax.random.key(0)
    relu = fn.MLP((100, 10), output="relu")
    chex.assert_trees_all_equal(
        relu.init(key), fn.MLP((100, 10), output="relu").init(key, "xavier")
    )
    relu_hidden = fn.MLP((100, 20, 10), hidden="relu")
    chex.assert_trees_all_equal(relu_hidden.init(key), relu_hidden.init(key, "he"))


def test_init_scale_can_be_vmapped():
    net = fn.MLP((2, 2, 1))
    scales = jnp.array([0.1, 1.0, 4.0], dtype=jnp.float32)
    batched = jax.vmap(lambda s: net.init(jax.random.key(3), "uniform", s))(scales)
    for i, s in enumerate(scales):
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], batched),
            net.init(jax.random.key(3), "uniform", float(s)),
            rtol=1e-6,
        )


def test_spec_is_hashable_and_static_under_jit(getkey):
    a, b = fn.MLP([2, 2, 1]), fn.MLP((2, 2, 1), "sigmoid", fn.activations.sigmoid)
    assert a == b and hash(a) == hash(b)
    assert a != fn.MLP((2, 2, 1), hidden="tanh")

    @jax.jit
    def apply(params, X):
        return a.apply(params, X)

    params = a.init(getkey())
    chex.assert_shape(apply(params, jnp.ones((3, 2), jnp.float32)), (3, 1))


def test_describe_uses_the_lecture_names_and_counts_parameters():
    assert fn.MLP((2, 2, 1)).describe().startswith("2-layer network (1-hidden-layer network)")
    deep = fn.MLP((2, 3, 3, 1), hidden="relu", output="identity")
    assert deep.describe().startswith("3-layer network (2-hidden-layer network)")
    assert deep.n_params == (2 + 1) * 3 + (3 + 1) * 3 + (3 + 1) * 1
    assert "25 parameters" in deep.describe()


def test_check_params_names_the_bad_leaf(getkey):
    net = fn.MLP((2, 2, 1))
    params = net.init(getkey())
    params[1]["W"] = jnp.zeros((3, 1))
    with pytest.raises(ValueError, match=r"params\[1\]\['W'\].*\(2, 1\).*\(3, 1\)"):
        net.apply(params, jnp.zeros((4, 2), jnp.float32))
    with pytest.raises(ValueError, match="params: expected a list of 2"):
        net.apply(params[:1], jnp.zeros((4, 2), jnp.float32))
