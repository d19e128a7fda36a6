"""One way for the experiments to train a seed: :func:`fit_one` binds ``fnnet.train.fit``'s
settings and returns ``key -> history``; :func:`fit_seeds` vmaps it over keys, so that all seeds
of a setting are one compiled program."""

from __future__ import annotations

import functools

import jax
import numpy as np

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
