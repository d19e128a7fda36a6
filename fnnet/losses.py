"""Loss functions L(a, t) of a network's output a and target t, each beside its derivative ∂L/∂a.

The lecture's loss for one output is (y - a)^2 with ∂L/∂a = -2(y - a); backprop starts from ∂L/∂a.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from fnnet import _checks

__all__ = ["Loss", "mse", "half_sse", "softmax_cross_entropy", "get", "names"]


class Loss(NamedTuple):
    """A loss L(a, t) and its derivative ∂L/∂a, for a batch and per example.

    ``value(a, t)`` and ``grad(a, t)``: ``a`` the (batch, n_out) network outputs, ``t`` targets of
    the same shape (for :data:`softmax_cross_entropy` also integer class labels of shape
    (batch,)); the value is a scalar, the derivative has the shape of ``a``.

    The per-example form, for layouts that write the arithmetic out per data point
    (:mod:`fnnet.layout`): the batch loss is L = weight(B) · Σ_n ℓ(a_n, t_n), where
    ``example(a, t)`` is ℓ for one example and ``example_grad(a, t)`` its ∂ℓ/∂a_k, with ``a`` and
    ``t`` sequences over the output units k (of arrays of any one shape), and ``weight(B)`` a
    number for a batch of B examples. A loss without them (None) runs in the matrix layout only.

    ``classification`` says whether ``t`` may be integer labels. Calling a loss evaluates it.
    """

    name: str
    value: Callable[[jax.Array, jax.Array], jax.Array]
    grad: Callable[[jax.Array, jax.Array], jax.Array]
    classification: bool = False
    example: Callable[[Sequence, Sequence], jax.Array] | None = None
    example_grad: Callable[[Sequence, Sequence], list] | None = None
    weight: Callable[[int], float] | None = None

    def __call__(self, a, t):
        return self.value(a, t)

    def __repr__(self):
        return f"Loss({self.name!r})"


def _mse(a, t):
    # L = (1/B) Σ_b Σ_k (t_bk - a_bk)^2: the lecture's (y - a)^2, summed over outputs
    return jnp.sum((t - a) ** 2) / a.shape[0]


def _mse_grad(a, t):
    # ∂L/∂a = -2(t - a) / B
    return -2 * (t - a) / a.shape[0]


def _sq(a, t):
    # one example's Σ_k (t_k - a_k)^2
    return sum((tk - ak) ** 2 for ak, tk in zip(a, t))


def _sq_grad(a, t):
    # ∂/∂a_k of Σ_k (t_k - a_k)^2 = -2(t_k - a_k)
    return [-2 * (tk - ak) for ak, tk in zip(a, t)]


mse = Loss("mse", _mse, _mse_grad, False, _sq, _sq_grad, lambda B: 1.0 / B)
"""Mean squared error as the lecture writes it: L = (1/B) Σ_b Σ_k (t_bk - a_bk)^2.

Summed over the outputs k, averaged over the batch b. ∂L/∂a = -2(t - a)/B.
"""


def _half_sse(a, t):
    # E = ½ Σ_b Σ_k (t_bk - a_bk)^2, the error of Rumelhart, Hinton and Williams (1986)
    return 0.5 * jnp.sum((t - a) ** 2)


def _half_sq(a, t):
    return 0.5 * _sq(a, t)


def _half_sq_grad(a, t):
    return [-(tk - ak) for ak, tk in zip(a, t)]


half_sse = Loss(
    "half_sse", _half_sse, lambda a, t: -(t - a), False, _half_sq, _half_sq_grad, lambda B: 1.0
)
"""Half the sum of squared errors over the whole batch: E = ½ Σ_b Σ_k (t_bk - a_bk)^2.

The error of the classic backprop papers; ∂E/∂a = -(t - a). Not averaged over the batch.
"""


def _one_hot_like(t, a):
    if jnp.issubdtype(t.dtype, jnp.integer):
        return jax.nn.one_hot(t, a.shape[-1], dtype=a.dtype)
    return t


def _softmax_ce(z, t):
    # L = -(1/B) Σ_b Σ_k t_bk log softmax(z_b)_k, with log-softmax computed stably
    t = _one_hot_like(t, z)
    return -jnp.sum(t * jax.nn.log_softmax(z, axis=-1)) / z.shape[0]


def _softmax_ce_grad(z, t):
    # ∂L/∂z = (softmax(z) - t) / B: the softmax and the log cancel to this simple form
    t = _one_hot_like(t, z)
    return (jax.nn.softmax(z, axis=-1) - t) / z.shape[0]


def _ce_example(z, t):
    # ℓ = log Σ_k e^{z_k} - Σ_k t_k z_k, the log-sum-exp shifted by max_k z_k for stability
    m = functools.reduce(jnp.maximum, z)
    lse = m + jnp.log(sum(jnp.exp(zk - m) for zk in z))
    return lse - sum(tk * zk for zk, tk in zip(z, t))


def _ce_example_grad(z, t):
    # ∂ℓ/∂z_k = softmax(z)_k - t_k
    m = functools.reduce(jnp.maximum, z)
    e = [jnp.exp(zk - m) for zk in z]
    s = sum(e)
    return [ek / s - tk for ek, tk in zip(e, t)]


softmax_cross_entropy = Loss(
    "softmax_cross_entropy",
    _softmax_ce,
    _softmax_ce_grad,
    True,
    _ce_example,
    _ce_example_grad,
    lambda B: 1.0 / B,
)
"""Softmax fused with cross-entropy: L = -(1/B) Σ_b Σ_k t_bk log softmax(z_b)_k.

Takes logits z (use ``output="identity"``) and integer labels (batch,) or one-hot targets
(batch, n_out). Fusing the two gives ∂L/∂z = (softmax(z) - t)/B.
"""

_BY_NAME = {loss.name: loss for loss in (mse, half_sse, softmax_cross_entropy)}


def names() -> tuple[str, ...]:
    """The names :func:`get` accepts."""
    return tuple(_BY_NAME)


def get(loss: str | Loss, *, argument: str = "loss") -> Loss:
    """Looks a loss up by name, or returns a :class:`Loss` unchanged.

    Raises:
      ValueError: for an unknown name, listing the valid ones.
      TypeError: for anything that is neither a name nor a Loss.
    """
    return _checks.named(loss, _BY_NAME, Loss, argument, "a loss name")
