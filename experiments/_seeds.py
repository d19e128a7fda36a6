"""One way for the experiments to train a seed: :func:`fit_one` binds ``fnnet.train.fit``'s
settings and returns ``key -> history``; :func:`fit_seeds` vmaps it over keys, so that all seeds
of a setting are one compiled program."""

from __future__ import annotations

import functools

import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import fnnet as fn


def fit_one(net, optimizer, data, *, eval_data=None, history="epoch", solved=None, **settings):
    """``one(key, init=init) -> history``: ``fn.train.fit`` of ``net`` on ``data`` from ``key``,
    recording per epoch (or, with ``history="final"``, after the last), with ``eval_data`` and a
    ``solved`` criterion where given. ``settings`` are the rest of fit's keywords (``epochs``,
    ``batch_size``, ``loss``, ``init``, ``grads``, ``layout``), passed to it as they are."""
    record = fn.train.Record(history=history, eval_data=eval_data, solved=solved)
    init = settings.pop("init", None)  # a default that ``one`` may override per call
    fit = functools.partial(fn.train.fit, net, optimizer, data=data, record=record, **settings)

    def one(key, init=init):
        return fit(key, init=init)[1]

    return one


def fit_seeds(*args, **kwargs):
    """``train(keys, inits=None) -> history``: :func:`fit_one` (same arguments) vmapped over
    ``keys`` (seeds,); ``inits``, where given, holds one initial parameter pytree per seed (a
    leading seed axis). ``train`` is traceable: ``jax.jit`` it (:func:`numpy` does), or ``vmap``
    it further over data or hyperparameters."""
    one = fit_one(*args, **kwargs)

    def train(keys, inits=None):
        if inits is None:
            return jax.vmap(one)(keys)
        return jax.vmap(one)(keys, inits)

    return train


def numpy(fun, *args):
    """``jax.jit(fun)(*args)`` with every leaf of the result as a NumPy array."""
    return jax.tree.map(np.asarray, jax.jit(fun)(*args))


def seed_sharding(n_seeds: int):
    """A sharding that splits a leading seed axis over the most local devices (CPU cores, see
    ``experiments/__init__.py``) that divide ``n_seeds``, so one program runs on every core, as
    ``fnnet.sweep`` does."""
    devices = jax.local_devices()
    n = max(d for d in range(1, len(devices) + 1) if n_seeds % d == 0)
    return NamedSharding(Mesh(np.array(devices[:n]), ("seeds",)), PartitionSpec("seeds"))


def switch(index, optimizers):
    """One optax transformation that updates with ``optimizers[index]``, its state holding the
    state of every optimizer (only the chosen one advances).

    ``index`` may be traced: under ``jax.vmap`` over it, ``lax.switch`` computes every branch
    and keeps the chosen one's, so every optimizer trains in one compiled program (one compile
    instead of one per optimizer), each run's numbers those of its optimizer alone up to float
    rounding (XLA fuses the bigger program differently; the test checks the agreement).
    """

    def init(params):
        return tuple(o.init(params) for o in optimizers)

    def branch(k):
        def update(operands):
            g, state, params = operands
            u, s = optimizers[k].update(g, state[k], params)
            return u, (*state[:k], s, *state[k + 1 :])

        return update

    def update(updates, state, params=None):
        branches = [branch(k) for k in range(len(optimizers))]
        return jax.lax.switch(index, branches, (updates, state, params))

    return optax.GradientTransformation(init, update)


# ---------------------------------------------------------------- the plateau rule

PLATEAU = {"window": 0.2, "rtol": 0.01, "atol": 0.01}
"""The default plateau rule: see :func:`plateau`."""


def plateau(loss, *, window: float = 0.2, rtol: float = 0.01, atol: float = 0.01) -> dict:
    """Where each run's training loss levelled off, by one stated rule.

    ``loss`` holds per-epoch training losses with epochs last (e.g. (arms, seeds, epochs)). The
    run has *levelled off at epoch e* (1-based) when no later epoch improves on the best loss so
    far by more than ``rtol`` of it plus ``atol``: ``min(L[e:]) >= min(L[:e]) * (1 - rtol) - atol``.
    ``e`` is the first such epoch; the run *converged* when ``e`` leaves at least a ``window``
    fraction of the epochs after it (the loss stayed level for the last ``window`` of the budget).
    A run with a non-finite loss neither levels off nor converges.

    Returns:
      ``{"epoch": int array (e, or -1), "converged": bool array, "rule": str}``, arrays shaped
      like ``loss`` without its last axis.
    """
    L = np.asarray(loss, np.float64)
    if L.ndim < 1 or L.shape[-1] < 2:
        raise ValueError(f"loss: expected per-epoch losses (..., epochs >= 2), got shape {L.shape}")
    n = L.shape[-1]
    best = np.minimum.accumulate(L, axis=-1)  # min(L[:e]) at index e - 1
    later = np.flip(np.minimum.accumulate(np.flip(L, -1), axis=-1), -1)  # min(L[e:]) at index e
    later = np.concatenate([later[..., 1:], np.full(L.shape[:-1] + (1,), np.inf)], axis=-1)
    level = later >= best * (1 - rtol) - atol  # after epoch e (index e - 1) nothing better
    finite = np.isfinite(L).all(axis=-1)
    epoch = np.where(level.any(axis=-1) & finite, np.argmax(level, axis=-1) + 1, -1)
    last = n - max(1, int(np.ceil(window * n)))
    converged = finite & (epoch > 0) & (epoch <= last)
    rule = (
        f"levelled off at the first epoch e after which the training loss never falls below "
        f"(1 - {rtol:g}) × its best so far − {atol:g}; converged if e <= {last} of {n} epochs "
        f"(level for the last {window:.0%} of the budget)"
    )
    return {"epoch": epoch, "converged": converged, "rule": rule}


def plateau_record(loss, **rule) -> dict:
    """:func:`plateau` as plain lists for result.json, with the count of converged runs."""
    p = plateau(loss, **rule)
    return {
        "rule": p["rule"],
        "epoch": p["epoch"].tolist(),
        "converged": p["converged"].tolist(),
        "n_converged": int(p["converged"].sum()),
        "n_runs": int(p["converged"].size),
    }
