"""Loss functions L(a, t) of a network's output a and target t, each beside its derivative ∂L/∂a.

The lecture's loss for one output is (y - a)^2 with ∂L/∂a = -2(y - a); backprop starts from ∂L/∂a.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Loss", "mse", "half_sse", "softmax_cross_entropy", "get", "names"]


class Loss(NamedTuple):
    """A loss L(a, t) and its derivative ∂L/∂a, both functions of ``(a, t)``.

    ``a``: (batch, n_out) network outputs; ``t``: targets of the same shape (for
    :data:`softmax_cross_entropy` also integer class labels of shape (batch,)). The value is a
    scalar; the derivative has the shape of ``a``.

    ``classification`` says whether ``t`` may be integer labels. Calling a loss evaluates it.
    """

    name: str
    value: Callable[[jax.Array, jax.Array], jax.Array]
    grad: Callable[[jax.Array, jax.Array], jax.Array]
    classification: bool = False

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


mse = Loss("mse", _mse, _mse_grad)
"""Mean squared error as the lecture writes it: L = (1/B) Σ_b Σ_k (t_bk - a_bk)^2.

Summed over the outputs k, averaged over the batch b. ∂L/∂a = -2(t - a)/B.
"""


def _half_sse(a, t):
    # E = ½ Σ_b Σ_k (t_bk - a_bk)^2, the error of Rumelhart, Hinton and Williams (1986)
    return 0.5 * jnp.sum((t - a) ** 2)


half_sse = Loss("half_sse", _half_sse, lambda a, t: -(t - a))
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


softmax_cross_entropy = Loss("softmax_cross_entropy", _softmax_ce, _softmax_ce_grad, True)
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
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        try:
            return _BY_NAME[loss]
        except KeyError:
            raise ValueError(
                f"{argument}: expected one of {', '.join(map(repr, _BY_NAME))} "
                f"or an fnnet.losses.Loss, got {loss!r}"
            ) from None
    raise TypeError(
        f"{argument}: expected a loss name (str) or an fnnet.losses.Loss, got {type(loss).__name__}"
    )
