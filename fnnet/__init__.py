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
    fused,
    io,
    layout,
    linear,
    loop,
    losses,
    perceptron,
    pretrain,
    record,
    scalar_layout,
    sweep,
    train,
    xla,
)
from fnnet._version import __version__
from fnnet.mlp import MLP

__all__ = [
    "MLP",
    "__version__",
    "activations",
    "backprop",
    "data",
    "diagnostics",
    "fused",
    "io",
    "layout",
    "linear",
    "loop",
    "losses",
    "perceptron",
    "pretrain",
    "record",
    "scalar_layout",
    "sweep",
    "train",
    "xla",
]
