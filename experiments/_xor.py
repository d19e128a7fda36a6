"""The classic XOR training run shared by the experiments: a sigmoid MLP on the four XOR points,
half sum-of-squares loss, full-batch gradient descent with momentum, weights and biases uniform in
±scale; solved when every output is within ``tol`` of its target (Rumelhart, Hinton and Williams
1986 used this set-up; the 0.4 criterion is the usual one of the later XOR studies)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import fnnet as fn

SGD = optax.inject_hyperparams(optax.sgd)(learning_rate=0.5, momentum=0.9)


def train(
    key,
    *,
    sizes=(2, 2, 1),
    lr=0.5,
    momentum=0.9,
    scale=0.5,
    epochs: int = 10_000,
    grads: str = "backprop",
    tol: float = 0.4,
):
    """Trains one network on XOR, one full-batch step per epoch, in ``lax.scan``.

    ``lr``, ``momentum`` and ``scale`` may be traced (``jax.vmap`` over them sweeps them).

    Returns a dict: ``epoch_solved`` (first epoch after which every output is within ``tol`` of
    its target, 1-based, or -1), ``solved`` (bool), ``loss`` and ``max_error`` after the last epoch,
    and the final ``params``.
    """
    net = fn.MLP(sizes, hidden="sigmoid", output="sigmoid")
    X, T = (jnp.asarray(a) for a in fn.data.logic_gate("xor"))
    params = net.init(key, "uniform", scale)
    state = fn.train.init_state(SGD, params, {"learning_rate": lr, "momentum": momentum})
    step = fn.train.make_step(net, SGD, "half_sse", grads)

    def epoch(carry, i):
        state, solved_at = carry
        state, _ = step(state, X, T)
        err = jnp.max(jnp.abs(net.apply(state.params, X) - T))
        solved_at = jnp.where((solved_at < 0) & (err < tol), i + 1, solved_at)
        return (state, solved_at), None

    (state, solved_at), _ = jax.lax.scan(
        epoch, (state, jnp.array(-1, jnp.int32)), jnp.arange(epochs, dtype=jnp.int32)
    )
    a = net.apply(state.params, X)
    return {
        "epoch_solved": solved_at,
        "solved": solved_at > 0,
        "loss": fn.losses.half_sse(a, T),
        "max_error": jnp.max(jnp.abs(a - T)),
        "params": state.params,
    }
