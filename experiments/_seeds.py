"""One way for the experiments to train a seed: :func:`fit_one` binds ``fnnet.train.fit``'s
settings and returns ``key -> history``; :func:`fit_seeds` vmaps it over keys, so that all seeds
of a setting are one compiled program."""

from __future__ import annotations

import jax
import numpy as np

import fnnet as fn


def fit_one(
    net,
    optimizer,
    data,
    *,
    epochs,
    batch_size,
    loss,
    eval_data=None,
    history="epoch",
    solved=None,
    init=None,
    grads=fn.backprop.value_and_grad,
    layout="auto",
):
    """``one(key, init=init) -> history``: ``fn.train.fit`` of ``net`` on ``data`` from ``key``,
    recording per epoch (or, with ``history="final"``, after the last), with ``eval_data`` and a
    ``solved`` criterion where given. The rest is passed to ``fit`` as it is."""
    record = fn.train.Record(history=history, eval_data=eval_data, solved=solved)

    def one(key, init=init):
        _, h = fn.train.fit(
            net,
            optimizer,
            key,
            data,
            epochs=epochs,
            batch_size=batch_size,
            loss=loss,
            init=init,
            grads=grads,
            record=record,
            layout=layout,
        )
        return h

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
