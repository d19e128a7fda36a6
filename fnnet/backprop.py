"""Gradients of a network's loss: by hand-derived backprop, the chain rule layer by layer as the
lecture derives it, and by ``jax.grad`` beside it.

A gradient is a function ``(net, params, X, T, loss, *, key=None) -> (L, grads)``:
:func:`value_and_grad` (by hand), :func:`autodiff` (``jax.value_and_grad``), either with dropout
(:func:`dropout`). :func:`fnnet.train.fit` takes any of them as ``grads``. For the lecture's unit
with MSE loss, ∂L/∂θ = ∂L/∂a · ∂a/∂z · ∂z/∂θ = -2(y - a) σ(z)(1 - σ(z)) x. Also a central-difference
gradient, the numerical check of Deep Learning from Scratch.
"""

from __future__ import annotations

import functools
from types import MappingProxyType

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from fnnet import _checks, losses, scalar_layout
from fnnet.mlp import MLP

__all__ = ["value_and_grad", "autodiff", "dropout", "grad", "numerical_grad", "relative_error"]


def _finite_batch(net, loss, X, T):
    X, T = _checks.batch(MLP.check(net), loss, X, T)
    return _checks.finite(X, "X"), _checks.finite(T, "T")


def value_and_grad(net: MLP, params, X, T, loss="mse", *, dropout=0.0, key=None):
    """The loss and its gradient with respect to ``params``, by the chain rule written out.

    Forward: z^(l+1) = a^(l) W^(l) + b^(l), a^(l+1) = g(z^(l+1)), a^(0) = X.
    Backward, from δ^(L) = ∂L/∂z^(L) = ∂L/∂a^(L) ⊙ g'(z^(L)):

      ∂L/∂W^(l) = a^(l)ᵀ δ^(l+1)            (∂z/∂θ = x: the unit's input)
      ∂L/∂b^(l) = Σ_batch δ^(l+1)           (the bias input x0 = 1)
      δ^(l)     = (δ^(l+1) W^(l)ᵀ) ⊙ g'(z^(l))

    where g' is the activation's derivative in the chain rule's form (sigmoid: a(1 - a)).

    With dropout, a hidden layer passes on a^(l) ⊙ m^(l), m the kept-unit scale (1/(1 - rate)
    or 0), and the mask enters the chain rule: δ^(l) = (δ^(l+1) W^(l)ᵀ) ⊙ m^(l) ⊙ g'(z^(l)).

    Args:
      net: the network spec.
      params: its parameters (``net.init``).
      X: (batch, n_in) inputs.
      T: (batch, n_out) targets, or (batch,) integer labels for ``softmax_cross_entropy``.
      loss: a name in ``fnnet.losses.names()`` or an :class:`fnnet.losses.Loss`.
      dropout: the dropout rate, as in :meth:`fnnet.MLP.forward`.
      key: the PRNG key of the dropout masks, as in :meth:`fnnet.MLP.forward`.

    Returns:
      ``(L, grads)`` with ``grads`` in the structure of ``params``, equal to
      :func:`autodiff`'s (``jax.value_and_grad``) to float precision. Works under ``jit`` and
      ``vmap``.

    Raises:
      ValueError: for a ``step`` activation (no useful derivative) or mismatched shapes.
    """
    loss = losses.get(loss)
    X, T = _finite_batch(net, loss, X, T)
    _checks.derivatives(net)
    a, cache = net.forward(params, X, dropout=dropout, key=key)
    value = loss.value(a, T)

    grads = [None] * net.n_layers
    acts = net.layer_activations()
    # δ = ∂L/∂z at the output: ∂L/∂a · ∂a/∂z
    delta = loss.grad(a, T) * acts[-1].deriv(cache[-1][1], cache[-1][2])
    for l in reversed(range(net.n_layers)):
        a_in = cache[l][0]
        grads[l] = {"W": a_in.T @ delta, "b": jnp.sum(delta, axis=0)}
        if l > 0:
            _, z_in, a_prev, keep = cache[l - 1]
            delta = delta @ params[l]["W"].T
            if keep is not None:
                delta = delta * keep
            delta = delta * acts[l - 1].deriv(z_in, a_prev)
    return value, grads


def autodiff(net: MLP, params, X, T, loss="mse", *, dropout=0.0, key=None):
    """The loss and its gradient by ``jax.value_and_grad`` of ``loss(net.apply(params, X), T)``:
    the reference that :func:`value_and_grad` is checked against, with the same signature, so
    either can be handed to :func:`fnnet.train.fit` as ``grads``.

    Examples:
      >>> import jax, fnnet as fn
      >>> net = fn.MLP((2, 2, 1)); X, T = fn.data.logic_gate("xor")
      >>> p = net.init(jax.random.key(0))
      >>> a, b = autodiff(net, p, X, T)[1], value_and_grad(net, p, X, T)[1]
      >>> all(bool(jax.numpy.allclose(x, y, atol=1e-6)) for x, y in zip(jax.tree.leaves(a),
      ...                                                                 jax.tree.leaves(b)))
      True
    """
    loss = losses.get(loss)
    X, T = _finite_batch(net, loss, X, T)
    _checks.floating_leaves(net.check_params(params), "params")
    return jax.value_and_grad(lambda p: loss.value(net.apply(p, X, dropout=dropout, key=key), T))(
        params
    )


# each gradient's form in the scalar layout (fnnet.scalar_layout), which fit runs it through there
value_and_grad.forms = MappingProxyType({"scalar": scalar_layout.backprop})
autodiff.forms = MappingProxyType({"scalar": scalar_layout.autodiff})


def dropout(rate: float, grads=value_and_grad):
    """``grads`` (:func:`value_and_grad` or :func:`autodiff`) with inverted dropout at ``rate`` on
    every hidden layer: each call draws fresh masks from its ``key``. Hand it to
    :func:`fnnet.train.fit` as ``grads=dropout(0.2)``; training then drops units, and evaluation
    (the history, ``net.apply``) uses the whole network.

    ``rate`` is a Python number in [0, 1); ``dropout(0)`` is ``grads`` itself.
    """
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        raise TypeError(f"rate: expected a Python number in [0, 1), got {rate!r}")
    _checks.rate(rate, "rate")
    if grads not in (value_and_grad, autodiff):
        raise TypeError(
            "grads: expected fnnet.backprop.value_and_grad or fnnet.backprop.autodiff, "
            f"got {grads!r}"
        )
    return grads if rate == 0 else functools.partial(grads, dropout=float(rate))


def grad(net: MLP, params, X, T, loss="mse", *, dropout=0.0, key=None):
    """The gradient alone; see :func:`value_and_grad`."""
    return value_and_grad(net, params, X, T, loss, dropout=dropout, key=key)[1]


def numerical_grad(fun, params, eps: float = 1e-6):
    """Central differences (f(θ + ε e_i) - f(θ - ε e_i)) / 2ε for every entry θ_i of ``params``.

    ``fun`` maps the parameter pytree to a scalar. Use float64 parameters (``jax.enable_x64``) for
    a meaningful check: in float32 the difference loses most of its digits. Evaluated with
    ``lax.map`` in batches, so large networks do not hold n^2 perturbed copies at once.

    Returns a pytree shaped like ``params``.
    """
    if not callable(fun):
        raise TypeError(f"fun: expected a function params -> scalar, got {type(fun).__name__}")
    if not _checks.real_scalar(eps, "eps") > 0:
        raise ValueError(f"eps: expected a positive step, got {eps!r}")
    flat, unravel = ravel_pytree(params)
    eye = jnp.eye(flat.size, dtype=flat.dtype) * eps

    def partial_i(e):
        return (fun(unravel(flat + e)) - fun(unravel(flat - e))) / (2 * eps)

    return unravel(jax.lax.map(partial_i, eye, batch_size=256))


@jax.jit
def relative_error(g_hand, g_ref):
    """Per leaf, ‖g_hand - g_ref‖ / ‖g_ref‖ (the difference norm itself where g_ref is 0)."""

    def leaf(a, b):
        diff = jnp.linalg.norm((a - b).ravel())
        ref = jnp.linalg.norm(b.ravel())
        return jnp.where(ref > 0, diff / jnp.where(ref > 0, ref, 1), diff)

    return jax.tree.map(leaf, g_hand, g_ref)
