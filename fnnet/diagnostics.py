"""What happens inside a network, layer by layer: gradient norms (is the gradient vanishing on its
way back to the first layers?) and activation statistics (are the units saturated?).

For a sigmoid unit the derivative a(1 - a) is at most 1/4, and near 0 where the unit saturates
(a close to 0 or 1); backprop multiplies one such factor per layer, so in a deep sigmoid network the
gradient reaching the first layers can be many orders of magnitude smaller than at the last: the
vanishing gradient. ReLU's derivative is 1 for every active unit.
"""

from __future__ import annotations

import jax.numpy as jnp

from fnnet import backprop, losses
from fnnet.mlp import MLP

__all__ = ["gradient_norms", "layer_activations", "activation_stats", "SATURATION"]

SATURATION = {
    "sigmoid": "a < 0.1 or a > 0.9",
    "tanh": "|a| > 0.9",
    "relu": "a == 0 (inactive)",
    "identity": "never",
    "step": "always",
}


def gradient_norms(net: MLP, params, X, T, loss="mse", grads=backprop.value_and_grad):
    """Per layer, the Frobenius norm ‖∂L/∂W^(l)‖ of the weight gradient: shape (n_layers,).

    ``grads``: a gradient function (see :mod:`fnnet.backprop`): the hand-derived chain rule
    :func:`fnnet.backprop.value_and_grad` (the default) or :func:`fnnet.backprop.autodiff`.
    """
    if not callable(grads):
        raise TypeError(f"grads: expected a gradient function, got {grads!r}")
    _, g = grads(net, params, X, T, losses.get(loss))
    return jnp.stack([jnp.linalg.norm(layer["W"].ravel()) for layer in g])


def layer_activations(net: MLP, params, X):
    """Every layer's output a^(l) = g(z^(l)) for the batch ``X``: a list of (batch, width)."""
    _, cache = MLP.check(net).forward(params, X)
    return [a_out for _, _, a_out, _ in cache]


def _saturated(name, a):
    if name == "sigmoid":
        return (a < 0.1) | (a > 0.9)
    if name == "tanh":
        return jnp.abs(a) > 0.9
    if name == "relu":
        return a == 0
    if name == "step":
        return jnp.ones_like(a, bool)
    return jnp.zeros_like(a, bool)


def activation_stats(net: MLP, params, X):
    """Per layer: ``{"mean", "std", "saturated"}`` of its outputs over the batch and units, each of
    shape (n_layers,). ``saturated`` is the fraction of outputs where the activation's derivative
    is (nearly) zero: for sigmoid a < 0.1 or a > 0.9, for tanh |a| > 0.9, for ReLU a == 0
    (see :data:`SATURATION`)."""
    acts = layer_activations(MLP.check(net), params, X)
    names = [g.name for g in net.layer_activations()]
    return {
        "mean": jnp.stack([jnp.mean(a) for a in acts]),
        "std": jnp.stack([jnp.std(a) for a in acts]),
        "saturated": jnp.stack(
            [jnp.mean(_saturated(n, a).astype(a.dtype)) for n, a in zip(names, acts)]
        ),
    }
