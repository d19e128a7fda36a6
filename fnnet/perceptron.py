"""The hard-threshold perceptron: y = 1 if w0 + w1 x1 + w2 x2 >= 0 else 0, trained online by the
perceptron rule w += lr (t - y) x, b += lr (t - y). It learns AND and OR; XOR it cannot."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fnnet import _checks, activations

__all__ = ["init", "predict", "update", "fit", "combine"]


def init(key, n_in: int = 2, scale=0.5, dtype=jnp.float32):
    """Weights and bias uniform in [-scale, scale]: ``{"w": (n_in,), "b": ()}`` (b is w0)."""
    n_in = _checks.integer(n_in, "n_in", minimum=1)
    _checks.positive(scale, "scale")
    kw, kb = jax.random.split(key)
    return {
        "w": jax.random.uniform(kw, (n_in,), dtype, -1, 1) * scale,
        "b": jax.random.uniform(kb, (), dtype, -1, 1) * scale,
    }


def predict(p, X):
    """The hard threshold y = step(b + X w): X (batch, n_in) -> (batch,), or (n_in,) -> ()."""
    return activations.step(X @ p["w"] + p["b"])


def update(p, x, t, lr):
    """One example's perceptron rule: w += lr (t - y) x, b += lr (t - y); no change when y = t."""
    err = t - predict(p, x)
    return {"w": p["w"] + lr * err * x, "b": p["b"] + lr * err}


def fit(p, X, T, *, lr=1.0, epochs: int = 100, key=None):
    """Online epochs of the perceptron rule, one example at a time, inside ``lax.scan``.

    Args:
      p: initial parameters (:func:`init`).
      X: (n, n_in) inputs; T: (n,) or (n, 1) targets in {0, 1}.
      lr: the learning rate (may be traced).
      epochs: number of passes, >= 1.
      key: if given, each epoch visits the examples in a fresh random order; else in order.

    Returns:
      ``(p, mistakes, first_clean)``: final parameters, mistakes per epoch (epochs,), and the
      first epoch (1-based) with no mistake, or -1. Works under ``jax.vmap`` over ``p``/``key``.
    """
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X: expected shape (n, n_in), got shape {_checks.shape_of(X)}")
    T = jnp.asarray(T).reshape(-1) if jnp.ndim(T) == 2 else jnp.asarray(T)
    if T.shape != (X.shape[0],):
        raise ValueError(f"T: expected shape ({X.shape[0]},) or ({X.shape[0]}, 1), got {T.shape}")
    if _checks.shape_of(p["w"]) != (X.shape[1],):
        raise ValueError(
            f"p: expected weights of shape ({X.shape[1]},) for X, got {_checks.shape_of(p['w'])}"
        )
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    _checks.positive(lr, "lr")
    n = X.shape[0]
    dtype = p["w"].dtype
    X, T = X.astype(dtype), T.astype(dtype)
    keys = jax.random.split(key, epochs) if key is not None else jnp.zeros((epochs,), jnp.int32)

    def one_example(p, i):
        wrong = predict(p, X[i]) != T[i]
        return update(p, X[i], T[i], lr), wrong

    def epoch(p, k):
        order = jax.random.permutation(k, n) if key is not None else jnp.arange(n)
        p, wrong = jax.lax.scan(one_example, p, order)
        return p, jnp.sum(wrong.astype(jnp.int32))

    p, mistakes = jax.lax.scan(epoch, p, keys)
    clean = mistakes == 0
    first = jnp.where(jnp.any(clean), jnp.argmax(clean) + 1, -1)
    return p, mistakes, first


def combine(hidden, output):
    """Perceptrons combined into two layers: the ``hidden`` perceptrons all read the inputs, and the
    ``output`` perceptron reads their outputs. Returns ``(net, params)`` with ``net`` an
    ``fnnet.MLP((n_in, len(hidden), 1), hidden="step", output="step")``.

    XOR = AND(OR(x1, x2), NAND(x1, x2)), the lecture's "2 single layer perceptrons":

    >>> import jax.numpy as jnp
    >>> OR = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-0.5)}
    >>> NAND = {"w": jnp.array([-1.0, -1.0]), "b": jnp.array(1.5)}
    >>> AND = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-1.5)}
    >>> net, params = combine([OR, NAND], AND)
    >>> net.apply(params, jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])).ravel().tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    from fnnet.mlp import MLP

    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise TypeError(f"hidden: expected a non-empty list of perceptrons, got {hidden!r}")
    shapes = {_checks.shape_of(p["w"]) for p in hidden}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(
            f"hidden: expected perceptrons with weights of one shape (n_in,), got {shapes}"
        )
    if _checks.shape_of(output["w"]) != (len(hidden),):
        raise ValueError(
            f"output: expected weights of shape ({len(hidden)},) for {len(hidden)} hidden "
            f"perceptrons, got {_checks.shape_of(output['w'])}"
        )
    (n_in,) = next(iter(shapes))
    net = MLP((n_in, len(hidden), 1), hidden="step", output="step")
    params = [
        {
            "W": jnp.stack([p["w"] for p in hidden], axis=1),
            "b": jnp.stack([p["b"] for p in hidden]),
        },
        {"W": jnp.asarray(output["w"])[:, None], "b": jnp.asarray(output["b"])[None]},
    ]
    return net, params
