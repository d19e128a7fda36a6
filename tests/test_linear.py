import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet as fn
from fnnet import linear

WIDTHS = np.array([3.0, 1.0])  # ladybird, caterpillar
TARGETS = np.array([1.1, 2.9])


@pytest.mark.parametrize(
    "lr, expected",
    [
        # the book: 0.25 + 0.35/3 = 0.3667, then 0.3667 + (2.9 - 0.3667)/1 = 2.9
        (1.0, [0.25 + 0.35 / 3, 2.9]),
        # with L = 0.5: 0.25 + 0.5 (0.35/3) = 0.3083, then 0.3083 + 0.5 (2.9 - 0.3083) = 1.6042
        (0.5, [0.25 + 0.5 * 0.35 / 3, (0.25 + 0.5 * 0.35 / 3 + 2.9) / 2]),
    ],
)
def test_book_arithmetic_for_the_two_insects(lr, expected):
    A, history = linear.fit(0.25, WIDTHS, TARGETS, lr=lr)
    np.testing.assert_allclose(np.asarray(history), expected, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(history), {1.0: [0.3667, 2.9], 0.5: [0.3083, 1.6042]}[lr], atol=5e-5
    )
    assert float(A) == float(history[-1])


def test_refine_without_learning_rate_fits_the_last_example_exactly():
    for A0 in (0.25, 1.0, -3.0):
        A = linear.refine(A0, 1.0, 2.9)
        np.testing.assert_allclose(linear.predict(A, 1.0), 2.9, rtol=1e-12)
    # whatever the first example did, the final slope is t/x of the last one
    finals = [float(linear.fit(a, WIDTHS, TARGETS)[0]) for a in (0.25, 1.0, 7.0)]
    np.testing.assert_allclose(finals, 2.9, rtol=1e-12)


def test_refine_is_a_fraction_of_the_error_over_x():
    A = linear.refine(0.5, 2.0, 3.0, lr=0.1)  # E = 3 - 1 = 2, ΔA = 0.1 * 2/2
    np.testing.assert_allclose(A, 0.6, rtol=1e-12)
    np.testing.assert_allclose(linear.error(0.5, 2.0, 3.0), 2.0)


def test_fit_vmapped_over_learning_rates_equals_one_at_a_time():
    points, labels = fn.data.insects(jax.random.key(3), 50, 0.2)
    t = linear.targets(points, labels)
    lrs = jnp.array([1.0, 0.5, 0.1, 0.01])
    A, hist = jax.jit(jax.vmap(lambda lr: linear.fit(0.25, points[:, 0], t, lr=lr)))(lrs)
    for i, lr in enumerate([1.0, 0.5, 0.1, 0.01]):
        a, h = linear.fit(0.25, points[:, 0], t, lr=lr)
        np.testing.assert_allclose(hist[i], h, rtol=1e-12)


def test_classify_and_targets_put_class_one_above_the_line():
    P = jnp.array([[3.0, 1.0], [1.0, 3.0]])
    np.testing.assert_array_equal(linear.classify(1.0, P), [0, 1])
    np.testing.assert_array_equal(linear.classify(0.2, P), [1, 1])
    np.testing.assert_allclose(linear.targets(P, jnp.array([0, 1])), [1.1, 2.9])


def test_insects_are_balanced_positive_and_centred():
    P, labels = fn.data.insects(jax.random.key(0), 1000, 0.2)
    assert P.shape == (1000, 2) and labels.shape == (1000,)
    assert int(labels.sum()) == 500
    assert float(P.min()) >= 0.1
    np.testing.assert_allclose(P[labels == 0].mean(0), [3.0, 1.0], atol=0.1)
    np.testing.assert_allclose(P[labels == 1].mean(0), [1.0, 3.0], atol=0.1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: linear.refine(0.25, 0.0, 1.0), "^x: expected inputs != 0"),
        (lambda: linear.refine(0.25, 1.0, 1.0, lr=0.0), "^lr:"),
        (lambda: linear.refine(jnp.ones(2), 1.0, 1.0), r"^A: expected a scalar"),
        (lambda: linear.fit(0.25, WIDTHS, TARGETS[:1]), r"^t: expected shape \(2,\)"),
        (lambda: linear.fit(0.25, WIDTHS[:, None], TARGETS), r"^x: expected shape \(n,\)"),
        (lambda: linear.classify(1.0, jnp.ones(3)), r"^points: expected shape \(n, 2\)"),
        (lambda: fn.data.insects(jax.random.key(0), 10, -1.0), "^noise:"),
        (lambda: fn.data.insects(jax.random.key(0), 1), "^n:"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_module_docstring_examples():
    import doctest

    for module in (linear, fn.data, fn.train):
        failed, attempted = doctest.testmod(module)
        assert attempted > 0 and failed == 0, module.__name__
