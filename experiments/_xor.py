"""The classic XOR training run shared by the experiments: a sigmoid MLP on the four XOR points,
half sum-of-squares loss, full-batch gradient descent with momentum, weights and biases uniform in
±scale; solved when every output is within ``tol`` of its target (the set-up of Rumelhart, Hinton
and Williams 1986; the 0.4 criterion is the usual one of the later XOR studies).

Seed i of every XOR study is trained from the key ``fnnet.sweep`` hands seed i
(:func:`seed_keys`), so that the same configuration gives the same runs in every experiment.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
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


def seed_keys(n: int):
    """The keys of seeds 0 .. n - 1 as ``fnnet.sweep.run`` hands them to ``train_one`` with its
    default key: ``fold_in(key(0), i)``. (n,) keys."""
    return jax.vmap(lambda i: fn.sweep.seed_key(jax.random.key(0), i))(jnp.arange(n))


def unsolved_curve(epoch_solved, epochs: int) -> np.ndarray:
    """The fraction of runs not yet solved after each epoch 1 .. ``epochs``: ``epoch_solved``
    (..., seeds) holds each run's first solved epoch or -1 (never); returns (..., epochs). It
    falls as runs solve the task; where it has levelled off under the plateau rule
    (``experiments._seeds.plateau``), a longer budget would hardly change the solved fraction."""
    e = np.asarray(epoch_solved)
    never = np.where(e > 0, e, epochs + 1)
    counts = np.apply_along_axis(lambda r: np.bincount(r, minlength=epochs + 2), -1, never)
    solved_by = np.cumsum(counts[..., 1 : epochs + 1], axis=-1)  # solved at epochs 1 .. e
    return 1.0 - solved_by / e.shape[-1]
