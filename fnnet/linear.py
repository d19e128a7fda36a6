"""The linear classifier refined from its error, as in Tariq Rashid's "Make Your Own Neural Network".

The model is a line through the origin, y = A x, with one parameter A (the slope). Seen as a
classifier of points (x, y), it puts a point above the line (y > A x) in one class and below it
in the other. Training nudges A from one example at a time: for an input x with target t the
output is y = A x, the error is E = t - y, and the slope that would have given exactly t is
A + ΔA with

    E = t - y = (A + ΔA) x - A x = ΔA x,   so   ΔA = E / x.

Taking that whole step makes the line fit only the last example seen; everything learned from
the examples before it is forgotten. A learning rate L moderates the update,

    ΔA = L (E / x),

so each example pulls the line only part of the way and the line settles between the classes,
with noisy examples moving it less.

Examples:
  >>> import jax.numpy as jnp
  >>> A, history = fit(0.25, jnp.array([3.0, 1.0]), jnp.array([1.1, 2.9]), lr=0.5)
  >>> [round(float(a), 4) for a in history]
  [0.3083, 1.6042]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fnnet import _checks

__all__ = ["predict", "error", "refine", "fit", "classify", "targets"]


def _slope(A):
    """``A`` as one real slope, floating; finite where concrete (a NaN line classifies nothing)."""
    A = _checks.real(A, "A")
    if A.ndim != 0:
        raise ValueError(f"A: expected a scalar slope, got shape {A.shape}")
    A = jnp.asarray(A)
    if not jnp.issubdtype(A.dtype, jnp.floating):
        A = A.astype(jnp.float32)
    return _checks.finite(A, "A")


def _example(v, name: str):
    """``v`` as one example's real, finite (where concrete) input or target: a scalar."""
    v = _checks.real(v, name)
    if v.ndim != 0:
        raise ValueError(f"{name}: expected one example's value (a scalar), got shape {v.shape}")
    return jnp.asarray(_checks.finite(v, name))


def _rate(lr):
    return _checks.positive(_checks.real_scalar(lr, "lr"), "lr")


def predict(A, x):
    """The line's output y = A x, for a scalar or an array of real inputs ``x``."""
    return _slope(A) * jnp.asarray(_checks.real(x, "x"))


def error(A, x, t):
    """The error E = t - y of the line's output y = A x against the target ``t`` (shaped like
    ``x``)."""
    y, t = predict(A, x), _checks.real(t, "t")
    if t.shape != y.shape:
        raise ValueError(f"t: expected shape {y.shape} like x, got shape {t.shape}")
    return jnp.asarray(t) - y


def _nonzero_inputs(x, name="x"):
    if _checks.is_concrete(x) and bool(jnp.any(jnp.asarray(x) == 0)):
        raise ValueError(f"{name}: expected inputs != 0 (the update divides by x), got a zero")


def refine(A, x, t, lr=1.0):
    """One refinement from one example: A + L (E / x) with E = t - A x.

    With ``lr`` L = 1 the new line passes exactly through (x, t): y = (A + ΔA) x = t.

    Args:
      A: the current slope (a scalar; may be traced).
      x: the example's input, a real number != 0.
      t: the target output for ``x``, a real number.
      lr: the learning rate L, > 0 (1 means no moderation).

    Concrete values are checked (finite, x != 0, L > 0); traced ones for shape and dtype only.
    """
    A = _slope(A)
    x, t = _example(x, "x"), _example(t, "t")
    _nonzero_inputs(x)
    _rate(lr)
    return A + lr * error(A, x, t) / x


def fit(A, x, t, *, lr=1.0):
    """Refines ``A`` from the examples ``(x[i], t[i])`` one at a time, in order, in ``lax.scan``.

    Args:
      A: the initial slope, a real number.
      x: (n,) real inputs, n >= 1, none zero.
      t: (n,) real targets.
      lr: the learning rate L, > 0 (may be traced, e.g. under ``jax.vmap``).

    Concrete values are checked (finite, x != 0, L > 0); traced ones for shape and dtype only.

    Returns:
      ``(A, history)``: the final slope and the slope after every update, shape (n,).
    """
    A = _slope(A)
    x, t = _checks.real(x, "x"), _checks.real(t, "t")
    if x.ndim != 1 or x.shape[0] < 1:
        raise ValueError(f"x: expected shape (n,) with n >= 1, got shape {x.shape}")
    if t.shape != x.shape:
        raise ValueError(f"t: expected shape {x.shape} like x, got shape {t.shape}")
    _checks.finite(x, "x")
    _checks.finite(t, "t")
    _nonzero_inputs(x)
    _rate(lr)
    x, t = jnp.asarray(x, A.dtype), jnp.asarray(t, A.dtype)

    def step(A, xt):
        x_i, t_i = xt
        A = A + lr * (t_i - A * x_i) / x_i
        return A, A

    return jax.lax.scan(step, A, (x, t))


def _points(points):
    points = _checks.real(points, "points")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points: expected shape (n, 2), got shape {points.shape}")
    return jnp.asarray(points)


def classify(A, points):
    """The line as a classifier: 1 where a point (x, y) lies above the line (y > A x), else 0.

    ``points`` is (n, 2) real numbers, columns x and y (in the book: width and length of an
    insect).
    """
    points = _points(points)
    return (points[:, 1] > predict(A, points[:, 0])).astype(jnp.int32)


def targets(points, labels, margin=0.1):
    """The book's training targets: the line should pass just above a class-0 point (y + margin)
    and just below a class-1 point (y - margin), so that y > A x marks class 1.

    ``points`` (n, 2), ``labels`` (n,) each 0 or 1, ``margin`` a real number >= 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> [round(float(v), 4) for v in targets(jnp.array([[3.0, 1.0], [1.0, 3.0]]), jnp.array([0, 1]))]
      [1.1, 2.9]
    """
    points = _checks.finite(_points(points), "points")
    labels = _checks.real(labels, "labels")
    if labels.shape != (points.shape[0],):
        raise ValueError(f"labels: expected shape ({points.shape[0]},), got {labels.shape}")
    _checks.binary(labels, "labels")
    _checks.real_scalar(margin, "margin")
    if _checks.is_concrete(margin) and not 0 <= float(margin) < float("inf"):
        raise ValueError(f"margin: expected a finite number >= 0, got {margin!r}")
    return points[:, 1] + jnp.where(jnp.asarray(labels) == 1, -margin, margin)
