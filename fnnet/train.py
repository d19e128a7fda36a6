"""Training by gradient descent, θ := θ - α ∂J/∂θ, in the lecture's four steps of minibatch learning:
draw a minibatch, compute gradients, update the parameters, repeat.

``fit(net, optimizer, key, data, *, epochs, batch_size, loss, init, grads, record, layout)`` runs
a whole training as one jit program and is pure, so ``jax.vmap`` trains many seeds (and
hyperparameters, through an optimizer built inside the vmapped function) at once.
``fit_with_progress`` is the same run with a progress bar; ``make_step`` and ``init_state`` are
its pieces for loops of your own.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import _checks, backprop, losses
from fnnet import layout as _layout
from fnnet.mlp import MLP
from fnnet.record import Record, accuracy

__all__ = [
    "TrainState",
    "Record",
    "sgd_update",
    "minibatch_indices",
    "init_state",
    "make_step",
    "fit",
    "fit_with_progress",
    "accuracy",
]


class TrainState(NamedTuple):
    """What training carries from step to step: parameters, optimizer state, steps taken."""

    params: Any
    opt_state: Any
    step: jax.Array


def sgd_update(params, grads, lr):
    """The lecture's update θ := θ - α ∂J/∂θ, leaf by leaf; equal to one step of ``optax.sgd(lr)``.

    >>> sgd_update({"w": 1.0}, {"w": 0.5}, lr=0.1)["w"]
    0.95
    """
    _checks.positive(lr, "lr")
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def minibatch_indices(key, n: int, batch_size: int):
    """One epoch of minibatches: a random permutation of ``range(n)`` cut into rows.

    Step 1 of the lecture's four steps. The last ``n % batch_size`` indices of the permutation are
    left out of this epoch (every minibatch has the same shape, so one compiled step serves all);
    the next epoch's permutation includes them again at random.

    Returns:
      (n // batch_size, batch_size) int indices. Works under ``jit`` and ``vmap`` over ``key``.
    """
    _checks.key(key)
    n = _checks.integer(n, "n", minimum=1)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, maximum=n)
    n_batches = n // batch_size
    perm = jax.random.permutation(key, n)
    return perm[: n_batches * batch_size].reshape(n_batches, batch_size)


def init_state(optimizer, params) -> TrainState:
    """A fresh :class:`TrainState` for ``params``. To sweep a hyperparameter, build the optimizer
    inside the function you vmap, e.g. ``optax.sgd(lr)`` with ``lr`` traced."""
    _checks.optimizer(optimizer)
    opt_state = optimizer.init(params)
    held = getattr(opt_state, "hyperparams", None)  # optax.inject_hyperparams keeps them here
    if isinstance(held, dict) and "learning_rate" in held:
        _checks.positive(held["learning_rate"], "learning_rate")
    return TrainState(params, opt_state, jnp.zeros((), jnp.int32))


def make_step(net: MLP, optimizer, loss="mse", grads=backprop.value_and_grad):
    """A pure training step ``(state, X_batch, T_batch, key=None) -> (state, metrics)``.

    Steps 2 and 3 of the lecture's four: compute ∂L/∂θ on the minibatch with the gradient function
    ``grads`` (see :mod:`fnnet.backprop`) and update θ with the optax ``optimizer``. ``metrics`` is
    ``{"loss": L}``, the minibatch loss before the update. Wrap it in ``jax.jit``; it compiles
    once per batch shape. ``key`` draws dropout masks where ``grads`` has dropout.
    """
    _checks.derivatives(_checks.net(net))
    _checks.optimizer(optimizer)
    vg = _layout.matrix.value_and_grad(net, _gradient(grads), losses.get(loss))
    return _step(vg, optimizer)


def _gradient(grads):
    if not callable(grads):
        raise TypeError(
            "grads: expected a gradient function (net, params, X, T, loss, *, key) -> (L, grads) "
            f"such as fnnet.backprop.value_and_grad or fnnet.backprop.autodiff, got {grads!r}"
        )
    return grads


def _step(value_and_grad, optimizer):
    def step(state: TrainState, X, T, key=None):
        value, g = value_and_grad(state.params, X, T, key)
        updates, opt_state = optimizer.update(g, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state, state.step + 1), {"loss": value}

    return step


class _Plan(NamedTuple):
    """Everything static about a run (hashable: ``jit`` compiles one program per plan)."""

    net: MLP
    optimizer: Any
    loss: losses.Loss
    grads: Any
    batch_size: int
    layout: _layout.Layout
    record: Record


def _epoch(plan: _Plan, step, state, key, X, T):
    """One epoch: the lecture's four steps over every minibatch; returns the state and the mean
    minibatch loss. A full batch takes one step on the data in its given order (no order to
    draw); smaller batches draw a permutation (step 1) and scan over its minibatches."""
    k_order, k_drop = jax.random.split(key)
    if plan.batch_size == X.shape[0]:
        state, m = step(state, X, T, k_drop)
        return state, m["loss"]
    idx = minibatch_indices(k_order, X.shape[0], plan.batch_size)
    drop_keys = jax.random.split(k_drop, idx.shape[0])
    state, m = jax.lax.scan(
        lambda s, xs: step(s, X[xs[0]], T[xs[0]], xs[1]), state, (idx, drop_keys)
    )
    return state, jnp.mean(m["loss"])


def _epochs(plan: _Plan, state, solved_at, epoch0, keys, X, T, eval_data):
    """Epochs ``epoch0 .. epoch0 + len(keys) - 1`` (one key each) as one ``lax.scan``.

    The state enters ``plan.layout`` before the loop and leaves it after. Returns
    ``(state, solved_at, records)``: ``records`` the loss and measures of every epoch
    (``history="epoch"``) or of the last one (``"final"``); ``solved_at`` the first epoch
    (1-based) after which ``plan.record.solved`` held, or -1.
    """
    net, layout, record = plan.net, plan.layout, plan.record
    enter = lambda tree: layout.enter(net, tree)  # noqa: E731
    state = TrainState(enter(state.params), enter(state.opt_state), state.step)
    step = _step(layout.value_and_grad(net, plan.grads, plan.loss), plan.optimizer)

    def measure(params, value):
        measures = record.measure(net, plan.loss, layout, params, X, T, eval_data)
        return {"loss": value, **measures}

    def epoch(carry, xs):
        state, solved_at, _ = carry
        key, e = xs
        state, value = _epoch(plan, step, state, key, X, T)
        solved_at = record.first_solved(net, layout, state.params, X, T, e, solved_at)
        out = measure(state.params, value) if record.history == "epoch" else None
        return (state, solved_at, value), out

    epochs = epoch0 + jnp.arange(keys.shape[0], dtype=jnp.int32)
    value0 = jnp.zeros((), jax.tree.leaves(state.params)[0].dtype)
    (state, solved_at, value), records = jax.lax.scan(
        epoch, (state, solved_at, value0), (keys, epochs)
    )
    if record.history == "final":
        records = measure(state.params, value)
    leave = lambda tree: layout.leave(net, tree)  # noqa: E731
    return TrainState(leave(state.params), leave(state.opt_state), state.step), solved_at, records


_run_epochs = jax.jit(_epochs, static_argnums=0)


@partial(jax.jit, static_argnums=(0, 1))
def _run_epochs_known(plan: _Plan, data, state, solved_at, epoch0, keys, eval_data):
    """:func:`_epochs` with the data (a pair of :class:`fnnet.layout.Known`) compiled in."""
    X, T = (d.array() for d in data)
    return _epochs(plan, state, solved_at, epoch0, keys, X, T, eval_data)


# the most data values compiled into a program as constants (the scalar layout's programs are
# small: MAX_SCALAR_WORK bounds examples x parameters where "auto" picks it)
MAX_KNOWN_VALUES = 4096


def _runner(plan: _Plan, X, T):
    """How the epochs run: the layout's own engine where it has one; for the scalar layout on a
    full batch of concrete data, a program with the data points compiled in (products with
    inputs 0 and 1 folded: 1.1-1.3x faster for XOR on a 2-core AMD EPYC; one program per
    dataset); else one program for any data of these shapes."""
    if plan.layout.run is not None:
        return plan.layout.run
    known = (
        plan.layout is _layout.scalar
        and plan.batch_size == X.shape[0]
        and isinstance(X, np.ndarray)
        and isinstance(T, np.ndarray)
        and X.size + T.size <= MAX_KNOWN_VALUES
    )
    if not known:
        return _run_epochs
    data = (_layout.Known.of(X), _layout.Known.of(T))

    def run(plan, state, solved_at, epoch0, keys, X, T, eval_data):
        return _run_epochs_known(plan, data, state, solved_at, epoch0, keys, eval_data)

    return run


def _initial_params(net: MLP, init, key, dtype):
    """``init`` resolved to parameters: None draws ``net.init(key)`` in ``dtype``; a function is
    called on ``key``; anything else is taken as the parameters themselves (checked: structure,
    shapes, real floating values, finite where concrete)."""
    if init is None:
        return net.init(key, dtype=dtype)
    name = "init(key)" if callable(init) else "init"
    params = net.check_params(init(key) if callable(init) else init, name=name)
    return _checks.finite_leaves(_checks.floating_leaves(params, name), name)


def _check_descent(optimizer, state: TrainState):
    """Refuses an optimizer whose first update of an all-ones gradient points uphill (a positive
    inner product with the gradient, e.g. ``optax.sgd(-0.5)``) or is not finite (a NaN rate).

    A learning rate inside an optax closure cannot be read, but its effect can, on concrete
    values: one ``optimizer.update``, before training. Traced states or hyperparameters (under
    ``vmap``/``jit``) are not checked. Zero updates pass: a schedule may start at 0 (warm-up)."""
    if not _checks.is_concrete(state):
        return
    g = jax.tree.map(jnp.ones_like, state.params)
    updates, _ = optimizer.update(g, state.opt_state, state.params)
    if not _checks.is_concrete(updates):  # a traced hyperparameter in the optimizer's closure
        return
    slope = sum(float(jnp.sum(u)) for u in jax.tree.leaves(updates))
    if not math.isfinite(slope) or slope > 0:
        raise ValueError(
            "optimizer: expected updates that go downhill; one update of an all-ones gradient "
            f"sums to {slope:.4g} (> 0 is uphill: a negative learning rate?; NaN or infinite: "
            "a NaN or infinite hyperparameter?)"
        )


def _as_dtype(t, dtype):
    return t if jnp.issubdtype(t.dtype, jnp.integer) else t.astype(dtype)


def _prepare(
    net,
    optimizer,
    key,
    data,
    *,
    epochs,
    batch_size,
    loss="mse",
    init=None,
    grads=backprop.value_and_grad,
    record=None,
    layout="auto",
):
    """``fit``'s boundary: checks every argument once, draws the initial parameters and returns
    ``(plan, state, X, T, eval_data, epoch_keys)`` for :func:`_run_epochs`."""
    _checks.net(net)
    _checks.optimizer(optimizer)
    _checks.key(key)
    loss = losses.get(loss)
    X, T = _checks.batch(net, loss, *_checks.pair(data, "data"), name="data")
    _checks.finite(X, "data[0]")
    _checks.finite(T, "data[1]")
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, maximum=X.shape[0])
    grads = _gradient(grads)
    _checks.derivatives(net)
    record = Record() if record is None else record
    if not isinstance(record, Record):
        raise TypeError(f"record: expected an fnnet.train.Record, got {type(record).__name__}")
    record, eval_data = record.check(net, loss)
    layout = _layout.choose(layout, net, loss, grads, X.shape[0])

    k_init, k_shuffle = jax.random.split(key)
    dtype = X.dtype if jnp.issubdtype(X.dtype, jnp.floating) else jnp.float32
    params = _initial_params(net, init, k_init, dtype)
    dtype = jax.tree.leaves(params)[0].dtype
    if _checks.is_concrete((X, T)):  # stays concrete under an outer jit (the fused layout needs it)
        X, T = np.asarray(X), np.asarray(T)
    X, T = X.astype(dtype), _as_dtype(T, dtype)
    if eval_data is not None:
        eval_data = (eval_data[0].astype(dtype), _as_dtype(eval_data[1], dtype))
    plan = _Plan(net, optimizer, loss, grads, batch_size, layout, record)
    state = init_state(optimizer, params)
    _check_descent(optimizer, state)
    return plan, state, X, T, eval_data, jax.random.split(k_shuffle, epochs)


def _history(plan: _Plan, records, solved_at):
    if plan.record.solved is None:
        return records
    return {**records, "epoch_solved": solved_at}


def fit(
    net: MLP,
    optimizer,
    key,
    data,
    *,
    epochs: int,
    batch_size: int,
    loss="mse",
    init=None,
    grads=backprop.value_and_grad,
    record: Record | None = None,
    layout="auto",
):
    """Trains ``net`` by minibatch gradient descent: the lecture's four steps, ``epochs`` times over.

    Each epoch draws a fresh permutation of the training set from ``key`` (step 1), and for every
    minibatch computes the gradient (step 2, with ``grads``), updates the parameters with
    ``optimizer`` (step 3), and repeats (step 4). The whole run is one ``jax.jit`` program:
    ``lax.scan`` over epochs and, inside, over minibatches. A full batch (``batch_size`` = n)
    takes one step per epoch on the data in its given order.

    ``fit`` is pure: ``jax.vmap`` over ``key`` trains many seeds at once, and over values that
    ``init`` or ``optimizer`` close over sweeps hyperparameters, as one compiled program::

        def one(key, lr, scale):
            return fit(net, optax.sgd(lr, momentum=0.9), key, (X, T), epochs=100,
                       batch_size=4, init=lambda k: net.init(k, "uniform", scale))
        jax.vmap(one)(keys, lrs, scales)

    Args:
      net: the network spec.
      optimizer: an optax GradientTransformation, e.g. ``optax.sgd(0.5, momentum=0.9)``.
      key: a PRNG key; split into the initialisation key and the shuffling key.
      data: ``(X, T)``, X (n, n_in); T (n, n_out), or (n,) labels for softmax_cross_entropy.
      epochs: passes over the data, >= 1.
      batch_size: examples per minibatch, 1 <= batch_size <= n; each epoch uses
        ``n // batch_size`` minibatches.
      loss: a name in ``fnnet.losses.names()`` or a :class:`fnnet.losses.Loss`.
      init: the initial parameters: None draws ``net.init`` (its default scheme) from ``key``; a
        function ``key -> params`` (e.g. ``lambda k: net.init(k, "uniform", 0.5)``) is called
        on the initialisation key; else a parameter pytree, taken as it is.
      grads: the gradient function ``(net, params, X, T, loss, *, key) -> (L, grads)``:
        :func:`fnnet.backprop.value_and_grad` (the chain rule by hand, the default),
        :func:`fnnet.backprop.autodiff` (``jax.grad``), or either with dropout,
        ``fnnet.backprop.dropout(rate)``: every minibatch draws fresh masks.
      record: what the history holds besides the loss, a :class:`Record` (default
        ``Record()``: after every epoch): per epoch or final only, ``eval_data``, ``metrics``, a ``solved`` criterion.
      layout: how the compiled loop holds the parameters (see :mod:`fnnet.layout`): ``"auto"``
        (small networks written out per parameter, which ``vmap`` over seeds turns into fast
        elementwise code), ``"matrix"``, ``"scalar"``, ``"fused"`` (the scalar layout with every
        epoch inside one Pallas kernel, for sweeps on a GPU: full batch and
        ``Record(history="final")``; see :mod:`fnnet.fused`) or a :class:`fnnet.layout.Layout`.
        Parameters and state come back in the matrix layout either way.

    Returns:
      ``(state, history)``: the final :class:`TrainState` and a dict of per-epoch arrays (or, with
      ``Record(history="final")``, final values): ``"loss"`` (mean minibatch loss over the epoch,
      before each update), ``"train_accuracy"`` (after the epoch, for classification),
      ``"eval_loss"`` and ``"eval_accuracy"`` where ``record.eval_data`` is given, the names that
      ``record.metrics`` returns, and ``"epoch_solved"`` where ``record.solved`` is given.

    Arguments are checked before anything is traced, each error naming the argument: shapes and
    dtypes always; where they are concrete (not traced under ``vmap``/``jit``) also the values:
    data and initial parameters finite, and the optimizer's first update of an all-ones gradient
    downhill and finite (which catches a negative or NaN learning rate inside an optax closure;
    a zero one passes). Traced values cannot be inspected and are not. Called outside
    ``jit``, ``fit`` compiles one program per network, optimizer object, loss, gradient, batch
    size, layout and record: reuse one optimizer object (and one ``metrics``/``solved`` function)
    across calls, or a new one compiles a new program.
    """
    plan, state, X, T, eval_data, keys = _prepare(
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
    no_solve = jnp.array(-1, jnp.int32)
    run = _runner(plan, X, T)
    state, solved_at, records = run(plan, state, no_solve, 0, keys, X, T, eval_data)
    return state, _history(plan, records, solved_at)


def fit_with_progress(*args, **kwargs):
    """:func:`fit` with a tqdm progress bar: the same arguments and the same results, run as
    compiled chunks of about 1/100 of the epochs, the bar advancing between them (needs tqdm).

    Under ``jit``/``vmap`` there is no host to draw a bar between chunks: it runs as :func:`fit`.
    """
    plan, state, X, T, eval_data, keys = _prepare(*args, **kwargs)
    solved_at = jnp.array(-1, jnp.int32)
    epochs = keys.shape[0]
    run = _runner(plan, X, T)
    if not _checks.is_concrete((state, keys, X, T, eval_data)):
        state, solved_at, records = run(plan, state, solved_at, 0, keys, X, T, eval_data)
        return state, _history(plan, records, solved_at)
    tqdm = _checks.require("tqdm", "tqdm").tqdm
    chunk = max(1, math.ceil(epochs / 100))  # equal chunks and one remainder: two programs at most
    parts = []
    desc = f"fit {'-'.join(map(str, plan.net.sizes))}"
    with tqdm(total=epochs, desc=desc, unit="epoch") as bar:
        for start in range(0, epochs, chunk):
            part = keys[start : start + chunk]
            state, solved_at, rec = run(plan, state, solved_at, start, part, X, T, eval_data)
            parts.append(rec)
            last = rec["loss"] if plan.record.history == "final" else rec["loss"][-1]
            bar.set_postfix(loss=f"{float(last):.4g}", refresh=False)
            bar.update(part.shape[0])
    if plan.record.history == "final":
        return state, _history(plan, parts[-1], solved_at)
    return state, _history(plan, jax.tree.map(lambda *r: jnp.concatenate(r), *parts), solved_at)
