"""Activation functions g(z), each beside its derivative in the form the chain rule uses.

The lecture's units compute a = g(z) with z = Σ_i θ_i x_i; backprop needs ∂a/∂z, which for the
logistic sigmoid is σ(z)(1 - σ(z)) = a(1 - a).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from fnnet import _checks

__all__ = ["Activation", "step", "identity", "sigmoid", "tanh", "relu", "get", "names"]


class Activation(NamedTuple):
    """An elementwise activation a = g(z) and its derivative ∂a/∂z.

    Attributes:
      name: the name it is looked up by.
      fn: ``z -> a``.
      deriv: ``(z, a) -> ∂a/∂z``, given both the pre-activation z and the activation a so that
        each derivative can take its cheapest form (sigmoid: ``a (1 - a)``), or ``None`` where the
        function has no useful derivative (the hard threshold).

    Calling an activation applies it: ``sigmoid(z)``. Activations are hashable, so a network spec
    that holds them stays static under ``jax.jit``.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    deriv: Callable[[jax.Array, jax.Array], jax.Array] | None

    def __call__(self, z):
        return self.fn(z)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _step(z):
    # the perceptron's hard threshold: 1 where w0 + w1 x1 + w2 x2 >= 0, else 0
    return jnp.where(z >= 0, jnp.ones_like(z), jnp.zeros_like(z))


step = Activation("step", _step, None)
"""Hard threshold: 1 where z >= 0, else 0. Its derivative is 0 almost everywhere, so it has none."""

identity = Activation("identity", lambda z: z, lambda z, a: jnp.ones_like(z))
"""a = z; ∂a/∂z = 1. The output of a regression network, or the logits before a softmax."""

sigmoid = Activation("sigmoid", jax.nn.sigmoid, lambda z, a: a * (1 - a))
"""Logistic sigmoid σ(z) = 1 / (1 + e^{-z}); ∂a/∂z = σ(z)(1 - σ(z)) = a(1 - a)."""

tanh = Activation("tanh", jnp.tanh, lambda z, a: 1 - a * a)
"""Hyperbolic tangent; ∂a/∂z = 1 - tanh(z)^2 = 1 - a^2."""

relu = Activation("relu", jax.nn.relu, lambda z, a: (z > 0).astype(z.dtype))
"""Rectified linear unit max(0, z); ∂a/∂z = 1 where z > 0, else 0 (0 at z = 0, as jax.grad)."""

_BY_NAME = {a.name: a for a in (step, identity, sigmoid, tanh, relu)}


def names() -> tuple[str, ...]:
    """The names :func:`get` accepts."""
    return tuple(_BY_NAME)


def get(activation: str | Activation, *, argument: str = "activation") -> Activation:
    """Looks an activation up by name, or returns an :class:`Activation` unchanged.

    Examples:
      >>> get("sigmoid").name
      'sigmoid'

    Raises:
      ValueError: for an unknown name, listing the valid ones.
      TypeError: for anything that is neither a name nor an Activation.
    """
    return _checks.named(activation, _BY_NAME, Activation, argument, "an activation name")
