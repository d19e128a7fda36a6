"""The classic XOR training run shared by the experiments: a sigmoid MLP on the four XOR points,
half sum-of-squares loss, full-batch gradient descent with momentum, weights and biases uniform in
±scale; solved when every output is within ``tol`` of its target (the set-up of Rumelhart, Hinton
and Williams 1986; the 0.4 criterion is the usual one of the later XOR studies)."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import optax

import fnnet as fn

X, T = fn.data.logic_gate("xor")


def _within(tol):
    return lambda a, T: jnp.all(jnp.abs(a - T) < tol)


_CRITERIA = {}


def criterion(tol: float):
    """``(a, T) -> bool``: every output within ``tol`` of its target (one function per tol, so
    that ``fit`` compiles once)."""
    return _CRITERIA.setdefault(tol, _within(tol))


@functools.lru_cache(maxsize=64)
def _same_sgd(lr, momentum):
    return optax.sgd(lr, momentum=momentum)


def _sgd(lr, momentum):
    """``optax.sgd(lr, momentum=momentum)``; one object per pair of Python numbers, so that
    repeated calls of :func:`train` reuse ``fit``'s compiled program (traced values get a new
    one: they are compiled into the caller's program anyway)."""
    try:
        return _same_sgd(lr, momentum)
    except TypeError:  # traced: unhashable
        return optax.sgd(lr, momentum=momentum)


def train(
    key,
    *,
    sizes=(2, 2, 1),
    lr=0.5,
    momentum=0.9,
    scale=0.5,
    epochs: int = 10_000,
    tol: float = 0.4,
    layout: str = "auto",
):
    """Trains one network on XOR with ``fnnet.train.fit``, one full-batch step per epoch.

    ``lr``, ``momentum`` and ``scale`` may be traced (``jax.vmap`` over them sweeps them): the
    optimizer is built here, from them.

    Returns a dict: ``epoch_solved`` (first epoch after which every output is within ``tol`` of
    its target, 1-based, or -1), ``solved`` (bool), ``loss`` and ``max_error`` after the last
    epoch, and the final ``params``.
    """
    net = fn.MLP(sizes, hidden="sigmoid", output="sigmoid")
    state, h = fn.train.fit(
        net,
        _sgd(lr, momentum),
        key,
        (X, T),
        epochs=epochs,
        batch_size=4,
        loss="half_sse",
        init=lambda k: net.init(k, "uniform", scale),
        record=fn.train.Record(history="final", solved=criterion(tol)),
        layout=layout,
    )
    a = net.apply(state.params, X)
    return {
        "epoch_solved": h["epoch_solved"],
        "solved": h["epoch_solved"] > 0,
        "loss": fn.losses.half_sse(a, T),
        "max_error": jnp.max(jnp.abs(a - T)),
        "params": state.params,
    }
