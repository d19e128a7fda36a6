"""fnnet: feed-forward neural networks as pure functions over parameter pytrees, in JAX.

The fundamentals of deep learning as an introductory lecture teaches them, made exact and fast:
``MLP`` specs, hand-derived backprop checked against ``jax.grad``, and jit-compiled minibatch
training that ``jax.vmap`` runs over many seeds at once.
"""

from fnnet import (
    activations,
    backprop,
    data,
    diagnostics,
    io,
    layout,
    linear,
    losses,
    perceptron,
    pretrain,
    sweep,
    train,
)
from fnnet.mlp import MLP

__all__ = [
    "MLP",
    "activations",
    "backprop",
    "data",
    "diagnostics",
    "io",
    "layout",
    "linear",
    "losses",
    "perceptron",
    "pretrain",
    "sweep",
    "train",
]
__version__ = "0.1.0"
