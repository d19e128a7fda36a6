"""The hard-threshold perceptron: y = 1 if w0 + w1 x1 + w2 x2 >= 0 else 0, trained online by the
perceptron rule w += lr (t - y) x, b += lr (t - y). It learns AND and OR; XOR it cannot."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fnnet import _checks, activations
from fnnet.mlp import MLP

__all__ = ["init", "predict", "update", "fit", "combine"]


def _params(p, name: str = "p", *, floating: bool = False):
    """``p`` as ``{"w": (n_in,), "b": ()}`` arrays of real numbers (lists and Python numbers
    become arrays; ``floating``: integer ones are refused too, for training)."""
    if not isinstance(p, dict) or set(p) != {"w", "b"}:
        got = f"a dict with keys {sorted(p)}" if isinstance(p, dict) else type(p).__name__
        raise (ValueError if isinstance(p, dict) else TypeError)(
            f"{name}: expected a perceptron, a dict with keys 'w' (n_in,) and 'b' (), got {got}"
        )
    w, b = _checks.real(p["w"], f"{name}['w']"), _checks.real(p["b"], f"{name}['b']")
    if w.ndim != 1 or w.shape[0] < 1:
        raise ValueError(f"{name}['w']: expected weights of shape (n_in,), got shape {w.shape}")
    if b.shape != ():
        raise ValueError(f"{name}['b']: expected a scalar bias of shape (), got shape {b.shape}")
    for leaf, v in (("w", w), ("b", b)):
        if floating and not jnp.issubdtype(v.dtype, jnp.floating):
            raise TypeError(f"{name}[{leaf!r}]: expected floating parameters, got dtype {v.dtype}")
    return _checks.finite_leaves({"w": w, "b": b}, name)


def _inputs(X, n_in: int, name: str, ndims: tuple[int, ...]):
    """``X`` as real, finite (where concrete) inputs of ``n_in`` features and a rank in ``ndims``."""
    X = _checks.real(X, name)
    if X.ndim not in ndims or X.shape[-1] != n_in:
        want = " or ".join({1: f"({n_in},)", 2: f"(batch, {n_in})"}[d] for d in ndims)
        raise ValueError(
            f"{name}: expected shape {want} for weights of shape ({n_in},), got shape {X.shape}"
        )
    return jnp.asarray(_checks.finite(X, name))


def _rate(lr):
    return _checks.positive(_checks.real_scalar(lr, "lr"), "lr")


def init(key, n_in: int = 2, scale=0.5, dtype=jnp.float32):
    """Weights and bias uniform in [-scale, scale]: ``{"w": (n_in,), "b": ()}`` (b is w0).

    ``key`` is one PRNG key, ``scale`` one real number > 0 (it may be traced), ``dtype`` a
    floating dtype."""
    _checks.key(key)
    n_in = _checks.integer(n_in, "n_in", minimum=1)
    _checks.positive(_checks.real_scalar(scale, "scale"), "scale")
    dtype = _checks.floating_dtype(dtype)
    kw, kb = jax.random.split(key)
    return {
        "w": jax.random.uniform(kw, (n_in,), dtype, -1, 1) * scale,
        "b": jax.random.uniform(kb, (), dtype, -1, 1) * scale,
    }


def predict(p, X):
    """The hard threshold y = step(b + X w): X (batch, n_in) -> (batch,), or (n_in,) -> ().

    ``p`` and ``X`` hold real numbers, finite where concrete: step(NaN) would read as 0."""
    p = _params(p)
    X = _inputs(X, p["w"].shape[0], "X", (1, 2))
    return activations.step(X @ p["w"] + p["b"])


def update(p, x, t, lr):
    """One example's perceptron rule: w += lr (t - y) x, b += lr (t - y); no change when y = t.

    ``x`` (n_in,) one example, ``t`` its target 0 or 1 (a scalar), ``lr`` > 0."""
    p = _params(p)
    x = _inputs(x, p["w"].shape[0], "x", (1,))
    t = _checks.real_scalar(_checks.real(t, "t"), "t")
    _checks.binary(t, "t")
    _rate(lr)
    err = t - predict(p, x)
    return {"w": p["w"] + lr * err * x, "b": p["b"] + lr * err}


def fit(p, X, T, *, lr=1.0, epochs: int = 100, key=None):
    """Online epochs of the perceptron rule, one example at a time, inside ``lax.scan``.

    Args:
      p: initial parameters (:func:`init`), floating.
      X: (n, n_in) inputs, n >= 1, real numbers; T: (n,) or (n, 1) targets 0 or 1.
      lr: the learning rate, > 0 (may be traced).
      epochs: number of passes, >= 1.
      key: one PRNG key: each epoch visits the examples in a fresh random order; None: in order.

    Concrete ``p``, ``X``, ``T`` and ``lr`` are checked for their values too (finite; targets 0
    or 1; lr > 0); traced ones (under ``vmap``/``jit``) for shape and dtype only.

    Returns:
      ``(p, mistakes, first_clean)``: final parameters, mistakes per epoch (epochs,), and the
      first epoch (1-based) with no mistake, or -1. Works under ``jax.vmap`` over ``p``/``key``.
    """
    X = _checks.real(X, "X")
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X: expected shape (n, n_in) with n >= 1, got shape {X.shape}")
    T = _checks.real(T, "T")
    T = T.reshape(-1) if T.ndim == 2 and T.shape[1] == 1 else T
    if T.shape != (X.shape[0],):
        raise ValueError(f"T: expected shape ({X.shape[0]},) or ({X.shape[0]}, 1), got {T.shape}")
    p = _params(p, floating=True)
    if p["w"].shape != (X.shape[1],):
        raise ValueError(f"p: expected weights of shape ({X.shape[1]},) for X, got {p['w'].shape}")
    _checks.finite(X, "X")
    _checks.binary(T, "T")
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    _rate(lr)
    if key is not None:
        _checks.key(key)
    n = X.shape[0]
    dtype = p["w"].dtype
    X, T = jnp.asarray(X, dtype), jnp.asarray(T, dtype)
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

    Examples:
      >>> import jax.numpy as jnp
      >>> OR = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-0.5)}
      >>> NAND = {"w": jnp.array([-1.0, -1.0]), "b": jnp.array(1.5)}
      >>> AND = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-1.5)}
      >>> net, params = combine([OR, NAND], AND)
      >>> net.apply(params, jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])).ravel().tolist()
      [0.0, 1.0, 1.0, 0.0]
    """
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise TypeError(f"hidden: expected a non-empty list of perceptrons, got {hidden!r}")
    hidden = [_params(p, f"hidden[{i}]") for i, p in enumerate(hidden)]
    output = _params(output, "output")
    shapes = {p["w"].shape for p in hidden}
    if len(shapes) != 1:
        raise ValueError(
            f"hidden: expected perceptrons with weights of one shape (n_in,), got {shapes}"
        )
    if output["w"].shape != (len(hidden),):
        raise ValueError(
            f"output: expected weights of shape ({len(hidden)},) for {len(hidden)} hidden "
            f"perceptrons, got {output['w'].shape}"
        )
    (n_in,) = next(iter(shapes))
    net = MLP((n_in, len(hidden), 1), hidden="step", output="step")
    # one floating dtype for the network (integer weights such as w = (1, 1) are welcome)
    leaves = jax.tree.leaves((hidden, output))
    dtype = jnp.result_type(*(v.dtype for v in leaves))
    dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32
    params = [
        {
            "W": jnp.stack([p["w"] for p in hidden], axis=1).astype(dtype),
            "b": jnp.stack([p["b"] for p in hidden]).astype(dtype),
        },
        {"W": output["w"][:, None].astype(dtype), "b": output["b"][None].astype(dtype)},
    ]
    return net, params
