"""Backpropagation written by hand: the chain rule, layer by layer, as the lecture derives it.

For the lecture's unit with MSE loss, ∂L/∂θ = ∂L/∂a · ∂a/∂z · ∂z/∂θ = -2(y - a) σ(z)(1 - σ(z)) x.
Also a central-difference gradient, the numerical check of Deep Learning from Scratch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from fnnet import _checks, losses
from fnnet.mlp import MLP

__all__ = ["value_and_grad", "grad", "numerical_grad", "relative_error", "check_batch"]


def _require_derivatives(net: MLP):
    for g in net.layer_activations():
        if g.deriv is None:
            raise ValueError(
                f"net: backprop needs a differentiable activation, got {g.name!r}, whose derivative"
                " is 0 almost everywhere (no gradient reaches the weights); use 'sigmoid', "
                "'tanh' or 'relu', or train a step unit with fnnet.perceptron"
            )


def check_batch(net: MLP, loss: losses.Loss, X, T):
    """Checks and returns ``X`` (batch, n_in) and ``T`` for ``loss`` at the library's boundary."""
    if not isinstance(net, MLP):
        raise TypeError(f"net: expected an fnnet.MLP, got {type(net).__name__}")
    X = _checks.inputs(X, net.n_in)
    T = _checks.targets(T, X.shape[0], net.n_out, labels_allowed=loss.classification)
    return X, T


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
      dropout, key: dropout rate and the key of its masks, as in :meth:`fnnet.MLP.forward`.

    Returns:
      ``(L, grads)`` with ``grads`` in the structure of ``params``, equal to
      ``jax.value_and_grad(lambda p: loss(net.apply(p, X), T))(params)`` to float precision.
      Works under ``jit`` and ``vmap``.

    Raises:
      ValueError: for a ``step`` activation (no useful derivative) or mismatched shapes.
    """
    loss = losses.get(loss)
    X, T = check_batch(net, loss, X, T)
    _require_derivatives(net)
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
    if not eps > 0:
        raise ValueError(f"eps: expected a positive step, got {eps!r}")
    flat, unravel = ravel_pytree(params)
    eye = jnp.eye(flat.size, dtype=flat.dtype) * eps

    def partial_i(e):
        return (fun(unravel(flat + e)) - fun(unravel(flat - e))) / (2 * eps)

    return unravel(jax.lax.map(partial_i, eye, batch_size=256))


def relative_error(g_hand, g_ref):
    """Per leaf, ‖g_hand - g_ref‖ / ‖g_ref‖ (the difference norm itself where g_ref is 0)."""

    def leaf(a, b):
        diff = jnp.linalg.norm((a - b).ravel())
        ref = jnp.linalg.norm(b.ravel())
        return jnp.where(ref > 0, diff / jnp.where(ref > 0, ref, 1), diff)

    return jax.tree.map(leaf, g_hand, g_ref)
