"""Training by gradient descent, θ := θ - α ∂J/∂θ, in the lecture's four steps of minibatch learning:
draw a minibatch, compute gradients, update the parameters, repeat.

``fit(net, optimizer, key, data, *, epochs, batch_size, loss, init, grads, record, layout)`` runs
a whole training as one jit program and is pure, so ``jax.vmap`` trains many seeds (and
hyperparameters, through an optimizer built inside the vmapped function) at once.
``fit_with_progress`` is the same run with a progress bar; ``make_step`` and ``init_state`` are
its pieces for loops of your own.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, backprop, loop, losses
from fnnet import layout as _layout
from fnnet.loop import TrainState, minibatch_indices
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


def sgd_update(params, grads, lr):
    """The lecture's update θ := θ - α ∂J/∂θ, leaf by leaf; equal to one step of ``optax.sgd(lr)``.

    Examples:
      >>> sgd_update({"w": 1.0}, {"w": 0.5}, lr=0.1)["w"]
      0.95
    """
    _checks.positive(lr, "lr")
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


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
    _checks.derivatives(MLP.check(net))
    _checks.optimizer(optimizer)
    vg = _layout.matrix.value_and_grad(net, _gradient(grads), losses.get(loss))
    return loop.training_step(vg, optimizer)


def _gradient(grads):
    if not callable(grads):
        raise TypeError(
            "grads: expected a gradient function (net, params, X, T, loss, *, key) -> (L, grads) "
            f"such as fnnet.backprop.value_and_grad or fnnet.backprop.autodiff, got {grads!r}"
        )
    return grads


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
    leaves = [np.asarray(u) for u in jax.tree.leaves(updates)]
    with np.errstate(over="ignore"):  # an overflow is what the message below names
        slope = sum(float(np.sum(u)) for u in leaves)  # in the updates' dtype
    if math.isfinite(slope) and slope <= 0:
        return
    if any(np.isnan(u).any() for u in leaves):
        why = "holds NaN: a NaN hyperparameter?"
    elif not all(np.isfinite(u).all() for u in leaves):
        why = "overflows to infinity: an infinite or huge hyperparameter?"
    elif not math.isfinite(slope):
        dtype = leaves[0].dtype
        why = f"overflows {dtype}: finite entries whose sum is not, a hyperparameter too large?"
    else:
        why = "is uphill: a negative learning rate?"
    raise ValueError(
        "optimizer: expected updates that go downhill; one update of an all-ones gradient "
        f"sums to {slope:.4g}, which {why}"
    )


def _as_dtype(t, dtype):
    return t if jnp.issubdtype(t.dtype, jnp.integer) else t.astype(dtype)


def _record(record):
    record = Record() if record is None else record
    if not isinstance(record, Record):
        raise TypeError(f"record: expected an fnnet.train.Record, got {type(record).__name__}")
    return record


def _prepare(a):
    """``fit``'s boundary for its arguments ``a`` (one value, :data:`_Arguments`): checks every
    argument once, draws the initial parameters and returns ``(setup, state, X, T, eval_data,
    epoch_keys)`` for an engine (:func:`fnnet.loop.scan` or the layout's own)."""
    net = MLP.check(a.net)
    _checks.optimizer(a.optimizer)
    _checks.key(a.key)
    loss = losses.get(a.loss)
    X, T = _checks.batch(net, loss, *_checks.pair(a.data, "data"), name="data")
    _checks.finite(X, "data[0]")
    _checks.finite(T, "data[1]")
    epochs = _checks.integer(a.epochs, "epochs", minimum=1)
    batch_size = _checks.integer(a.batch_size, "batch_size", minimum=1, maximum=X.shape[0])
    grads = _gradient(a.grads)
    _checks.derivatives(net)
    record, eval_data = _record(a.record).check(net, loss)
    concrete = _checks.is_concrete((X, T))  # stays concrete under an outer jit
    asked = dict(batch_size=batch_size, history=record.history, concrete=concrete)
    layout = _layout.choose(a.layout, net, loss, grads, X.shape[0], **asked)

    k_init, k_shuffle = jax.random.split(a.key)
    dtype = X.dtype if jnp.issubdtype(X.dtype, jnp.floating) else jnp.float32
    params = _initial_params(net, a.init, k_init, dtype)
    dtype = jax.tree.leaves(params)[0].dtype
    if concrete:  # NumPy arrays: the scalar and fused layouts compile them in
        X, T = np.asarray(X), np.asarray(T)
    X, T = X.astype(dtype), _as_dtype(T, dtype)
    if eval_data is not None:
        eval_data = (eval_data[0].astype(dtype), _as_dtype(eval_data[1], dtype))
    setup = loop.Setup(net, a.optimizer, loss, grads, batch_size, layout, record)
    state = init_state(a.optimizer, params)
    _check_descent(a.optimizer, state)
    return setup, state, X, T, eval_data, jax.random.split(k_shuffle, epochs)


def _run(setup: loop.Setup, state, X, T, eval_data, keys, epoch0=0, solved_at=None):
    """Epochs ``epoch0 ..`` (one per key) by the layout's engine, or :func:`fnnet.loop.scan`."""
    solved_at = jnp.array(-1, jnp.int32) if solved_at is None else solved_at
    engine = setup.layout.engine or loop.scan
    return engine(setup, state, solved_at, epoch0, keys, X, T, eval_data)


def _history(setup: loop.Setup, records, solved_at):
    if setup.record.solved is None:
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
        ``fnnet.layout.explain(layout, net, loss, grads, n)`` says which ``"auto"`` takes and why.
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
    setup, state, X, T, eval_data, keys = _prepare(_Arguments(**locals()))
    state, solved_at, records = _run(setup, state, X, T, eval_data, keys)
    return state, _history(setup, records, solved_at)


_Arguments = NamedTuple("_Arguments", [(p, Any) for p in inspect.signature(fit).parameters])
"""``fit``'s arguments as one value: its fields are ``fit``'s parameters, read from its signature."""

_P, _R = ParamSpec("_P"), TypeVar("_R")


def _signature_of(f: Callable[_P, Any]) -> Callable[[Callable[..., _R]], Callable[_P, _R]]:
    """Gives the decorated function ``f``'s signature, for ``help()`` (``__signature__``) and for
    editors and type checkers (the ``ParamSpec``)."""

    def decorate(g):
        g.__signature__ = inspect.signature(f)
        return g

    return decorate


@_signature_of(fit)
def fit_with_progress(*args, **kwargs):
    """:func:`fit` with a tqdm progress bar: the same arguments and the same results, run as
    compiled chunks of about 1/100 of the epochs, the bar advancing between them (needs tqdm).

    Under ``jit``/``vmap`` there is no host to draw a bar between chunks: it runs as :func:`fit`.
    """
    bound = inspect.signature(fit).bind(*args, **kwargs)
    bound.apply_defaults()
    setup, state, X, T, eval_data, keys = _prepare(_Arguments(**bound.arguments))
    if not _checks.is_concrete((state, keys, X, T, eval_data)):
        state, solved_at, records = _run(setup, state, X, T, eval_data, keys)
        return state, _history(setup, records, solved_at)
    tqdm = _checks.require("tqdm", "tqdm").tqdm
    epochs, solved_at = keys.shape[0], jnp.array(-1, jnp.int32)
    chunk = max(1, math.ceil(epochs / 100))  # equal chunks and one remainder: two programs at most
    parts = []
    final = setup.record.history == "final"
    with tqdm(total=epochs, desc=f"fit {'-'.join(map(str, setup.net.sizes))}", unit="epoch") as bar:
        for start in range(0, epochs, chunk):
            part = keys[start : start + chunk]
            state, solved_at, rec = _run(setup, state, X, T, eval_data, part, start, solved_at)
            parts.append(rec)
            last = rec["loss"] if final else rec["loss"][-1]
            bar.set_postfix(loss=f"{float(last):.4g}", refresh=False)
            bar.update(part.shape[0])
    if final:
        return state, _history(setup, parts[-1], solved_at)
    return state, _history(setup, jax.tree.map(lambda *r: jnp.concatenate(r), *parts), solved_at)
