"""Training by gradient descent, θ := θ - α ∂J/∂θ, in the lecture's four steps of minibatch learning:
draw a minibatch, compute gradients, update the parameters, repeat. A whole run is one jit program."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fnnet import _checks, activations, backprop, data, losses, mlp
from fnnet import layout as _layout
from fnnet.mlp import MLP

__all__ = [
    "TrainState",
    "sgd_update",
    "init_state",
    "make_step",
    "fit",
    "accuracy",
    "GRADS",
]

GRADS = ("backprop", "autodiff")


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


def _check_optimizer(optimizer):
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            "optimizer: expected an optax GradientTransformation (with init and update), "
            f"got {type(optimizer).__name__}"
        )


def _grad_fn(net: MLP, loss: losses.Loss, grads: str, dropout=0.0) -> Callable:
    """``(params, X, T, key) -> (L, grads)``; ``key`` draws the dropout masks (unused without)."""
    if grads == "backprop":
        return lambda params, X, T, key=None: backprop.value_and_grad(
            net, params, X, T, loss, dropout=dropout, key=key
        )
    if grads == "autodiff":
        return lambda params, X, T, key=None: jax.value_and_grad(
            lambda p: loss.value(net.apply(p, X, dropout=dropout, key=key), T)
        )(params)
    raise ValueError(f"grads: expected one of {', '.join(map(repr, GRADS))}, got {grads!r}")


def init_state(optimizer, params, hyperparams=None) -> TrainState:
    """A fresh :class:`TrainState` for ``params``.

    ``hyperparams`` (a dict, for an optimizer made with ``optax.inject_hyperparams``) overrides
    hyperparameters held in the optimizer state, e.g. ``{"learning_rate": lr}`` with ``lr`` an
    array that ``jax.vmap`` maps over.
    """
    _check_optimizer(optimizer)
    opt_state = optimizer.init(params)
    held = getattr(opt_state, "hyperparams", None)
    if hyperparams:
        if not isinstance(held, dict):
            raise TypeError(
                "hyperparams: needs an optimizer made with optax.inject_hyperparams, e.g. "
                "optax.inject_hyperparams(optax.sgd)(learning_rate=0.1), whose state holds them; "
                f"got an optimizer whose state is {type(opt_state).__name__}"
            )
        unknown = sorted(set(hyperparams) - set(held))
        if unknown:
            raise ValueError(
                f"hyperparams: expected names among {sorted(held)}, got unknown {unknown}"
            )
        held = {
            **held,
            **{k: jnp.asarray(v, jnp.result_type(held[k])) for k, v in hyperparams.items()},
        }
        opt_state = opt_state._replace(hyperparams=held)
    if isinstance(held, dict) and "learning_rate" in held:
        _checks.positive(held["learning_rate"], "learning_rate")
    return TrainState(params, opt_state, jnp.zeros((), jnp.int32))


def make_step(net: MLP, optimizer, loss="mse", grads: str = "backprop", dropout=0.0):
    """A pure training step ``(state, X_batch, T_batch, key=None) -> (state, metrics)``.

    Steps 2 and 3 of the lecture's four: compute ∂L/∂θ on the minibatch (by hand-derived backprop
    or by ``jax.grad``) and update θ with the optax ``optimizer``. ``metrics`` is
    ``{"loss": L}``, the minibatch loss before the update. Wrap it in ``jax.jit``; it compiles
    once per batch shape. With ``dropout`` > 0, ``key`` draws the step's dropout masks.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net: expected an fnnet.MLP, got {type(net).__name__}")
    _check_optimizer(optimizer)
    loss = losses.get(loss)
    return _step(_grad_fn(net, loss, grads, mlp._check_rate(dropout)), optimizer)


def _step(value_and_grad, optimizer):
    def step(state: TrainState, X, T, key=None):
        value, g = value_and_grad(state.params, X, T, key)
        updates, opt_state = optimizer.update(g, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state, state.step + 1), {"loss": value}

    return step


def accuracy(net: MLP, loss, a, T):
    """Fraction of examples classified correctly, or ``None`` where the task is not classification.

    With ``softmax_cross_entropy`` the class is the argmax of the output; with a sigmoid or step
    output every output unit is read as 1 where a >= 0.5, and an example is correct when all match.
    """
    loss = losses.get(loss)
    if loss.classification:
        labels = T if jnp.issubdtype(T.dtype, jnp.integer) else jnp.argmax(T, axis=-1)
        return jnp.mean(jnp.argmax(a, axis=-1) == labels)
    if net.output in (activations.sigmoid, activations.step):
        return jnp.mean(jnp.all((a >= 0.5) == (T >= 0.5), axis=-1))
    return None


HISTORIES = ("epoch", "final")


def _records(net, loss, metrics, params, X, T, eval_X, eval_T):
    """What the history holds besides the loss, for matrix-layout ``params``."""
    record = {}
    train_acc = accuracy(net, loss, net.apply(params, X), T)
    if train_acc is not None:
        record["train_accuracy"] = train_acc
    if eval_X is not None:
        a = net.apply(params, eval_X)
        record["eval_loss"] = loss.value(a, eval_T)
        eval_acc = accuracy(net, loss, a, eval_T)
        if eval_acc is not None:
            record["eval_accuracy"] = eval_acc
    if metrics is not None:
        extra = metrics(params)
        if not isinstance(extra, dict) or set(extra) & ({"loss", "epoch_solved"} | set(record)):
            raise ValueError(
                "metrics: expected a function returning a dict of new names (not "
                f"{sorted({'loss', 'epoch_solved'} | set(record))}), got {type(extra).__name__} "
                f"{sorted(extra) if isinstance(extra, dict) else ''}".rstrip()
            )
        record.update(extra)
    return record


@partial(
    jax.jit,
    static_argnames=(
        "net",
        "optimizer",
        "loss",
        "grads",
        "batch_size",
        "metrics",
        "layout",
        "history",
        "solved",
        "dropout",
    ),
)
def _run_epochs(
    state,
    solved_at,
    epoch0,
    epoch_keys,
    X,
    T,
    eval_X,
    eval_T,
    *,
    net,
    optimizer,
    loss,
    grads,
    batch_size,
    metrics,
    layout,
    history,
    solved,
    dropout,
):
    like = state.params
    if layout == "scalar":
        # every parameter its own leaf in the loop's carry: after vmap all arithmetic is elementwise
        # over seeds (see fnnet.layout); converted once here and once at the end
        state = TrainState(
            _layout.unstack(state.params),
            _layout.map_params(_layout.unstack, state.opt_state, like),
            state.step,
        )
        step = _step(
            lambda p, X, T, key=None: _layout.value_and_grad(net, p, X, T, loss, grads), optimizer
        )

        def outputs(params, X):
            return jnp.stack([jnp.stack(a) for a in _layout.apply(net, params, X)])

        matrix = _layout.restack
    else:
        step = _step(_grad_fn(net, loss, grads, dropout), optimizer)
        outputs, matrix = net.apply, lambda p: p
    full_batch = batch_size == X.shape[0]

    def epoch(carry, xs):
        state, solved_at, _ = carry
        key, e = xs
        k_order, k_drop = jax.random.split(key)
        if full_batch:  # one step on all the data: no order to draw
            state, m = step(state, X, T, k_drop)
            value = m["loss"]
        else:  # step 1: draw minibatches; steps 2-4: gradients, update, repeat
            idx = data.minibatch_indices(k_order, X.shape[0], batch_size)
            drop_keys = jax.random.split(k_drop, idx.shape[0])
            state, m = jax.lax.scan(
                lambda s, xs: step(s, X[xs[0]], T[xs[0]], xs[1]), state, (idx, drop_keys)
            )
            value = jnp.mean(m["loss"])
        if solved is not None:
            ok = solved(outputs(state.params, X), T)
            solved_at = jnp.where((solved_at < 0) & ok, e + 1, solved_at)
        record = {"loss": value}
        if history == "epoch":
            record.update(_records(net, loss, metrics, matrix(state.params), X, T, eval_X, eval_T))
            return (state, solved_at, value), record
        return (state, solved_at, value), None

    epochs = epoch0 + jnp.arange(epoch_keys.shape[0], dtype=jnp.int32)
    value0 = jnp.zeros((), jax.tree.leaves(like)[0].dtype)
    (state, solved_at, value), records = jax.lax.scan(
        epoch, (state, solved_at, value0), (epoch_keys, epochs)
    )
    if history == "final":
        params = matrix(state.params)
        records = {"loss": value, **_records(net, loss, metrics, params, X, T, eval_X, eval_T)}
    if layout == "scalar":
        state = TrainState(
            _layout.restack(state.params),
            _layout.map_params(_layout.restack, state.opt_state, state.params),
            state.step,
        )
    return state, solved_at, records


def _as_dtype(t, dtype):
    return t if jnp.issubdtype(t.dtype, jnp.integer) else t.astype(dtype)


def fit(
    net: MLP,
    optimizer,
    key,
    data,
    *,
    epochs: int,
    batch_size: int,
    loss="mse",
    grads: str = "backprop",
    eval_data=None,
    params=None,
    init_scheme: str | None = None,
    init_scale=None,
    hyperparams: dict | None = None,
    metrics: Callable | None = None,
    solved: Callable | None = None,
    history: str = "epoch",
    layout: str = "auto",
    dropout: float = 0.0,
    progress: bool = False,
):
    """Trains ``net`` by minibatch gradient descent: the lecture's four steps, ``epochs`` times over.

    Each epoch draws a fresh permutation of the training set from ``key`` (step 1), and for every
    minibatch computes the gradient (step 2, by hand-derived ``"backprop"`` or ``"autodiff"``),
    updates the parameters with ``optimizer`` (step 3), and repeats (step 4). The whole run is one
    ``jax.jit`` program: ``lax.scan`` over epochs and, inside, over minibatches.

    ``fit`` is pure, so ``jax.vmap`` over ``key`` trains many seeds at once, and over
    ``init_scale`` or ``hyperparams`` values sweeps hyperparameters, as one compiled program.

    Args:
      net: the network spec.
      optimizer: an optax GradientTransformation, e.g. ``optax.sgd(0.5, momentum=0.9)``.
      key: a PRNG key; split into the initialisation key and the shuffling key.
      data: ``(X, T)``, X (n, n_in); T (n, n_out), or (n,) labels for softmax_cross_entropy.
      epochs: passes over the data, >= 1.
      batch_size: examples per minibatch, 1 <= batch_size <= n; ``n`` is full-batch learning.
        Each epoch uses ``n // batch_size`` minibatches.
      loss: a name in ``fnnet.losses.names()`` or a Loss.
      grads: ``"backprop"`` (the chain rule by hand) or ``"autodiff"`` (``jax.grad``).
      eval_data: optional ``(X_eval, T_eval)`` evaluated after every epoch.
      params: initial parameters; if None they are drawn by ``net.init`` from ``key``.
      init_scheme, init_scale: passed to ``net.init`` (``init_scale`` may be traced).
      hyperparams: overrides for an ``optax.inject_hyperparams`` optimizer, e.g.
        ``{"learning_rate": lr}``; the values may be traced.
      metrics: optional pure function ``params -> {name: array}`` evaluated after every epoch
        inside the compiled run; its values join the history under their names. E.g. the largest
        output error on the training set, ``lambda p: {"max_error": jnp.max(jnp.abs(
        net.apply(p, X) - T))}``. Reuse one function object: a new one compiles a new run.
      solved: optional criterion ``(a, T) -> bool`` on the outputs ``a`` for the training inputs,
        checked after every epoch; the history's ``"epoch_solved"`` is the first epoch (1-based)
        after which it held, or -1. E.g. XOR's classic "every output within 0.4 of its target":
        ``lambda a, T: jnp.all(jnp.abs(a - T) < 0.4)``. Training goes on for all ``epochs``.
      history: ``"epoch"`` records after every epoch (arrays of length ``epochs``); ``"final"``
        records once, after the last epoch (scalars): for sweeps of many seeds, where a record
        per epoch and seed costs memory and time.
      layout: ``"auto"``, ``"matrix"`` or ``"scalar"``, how the compiled loop holds the
        parameters (see :mod:`fnnet.layout`): ``"auto"`` writes small networks out per parameter,
        which ``jax.vmap`` over seeds turns into fast elementwise code. Parameters and state come
        back in the usual matrix layout either way; the numbers agree to float rounding.
      dropout: inverted dropout on every hidden layer during training (a rate in [0, 1), a
        Python number); every minibatch draws fresh masks. Evaluation (the history's accuracy,
        ``eval_data``, ``metrics``, ``solved``) uses the whole network.
      progress: show a tqdm bar, advanced between compiled chunks of epochs (ignored under
        ``vmap``/``jit``, where the run stays one program).

    Returns:
      ``(state, history)``: the final :class:`TrainState` and a dict of per-epoch arrays (or, with
      ``history="final"``, final values): ``"loss"`` (mean minibatch loss over the epoch, before
      each update), ``"train_accuracy"`` (after the epoch, for classification), ``"eval_loss"``
      and ``"eval_accuracy"`` where ``eval_data`` is given, the names that ``metrics`` returns,
      and ``"epoch_solved"`` where ``solved`` is given.

    A full batch (``batch_size`` = n) takes one step per epoch on the data in its given order;
    smaller batches draw a fresh permutation each epoch.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net: expected an fnnet.MLP, got {type(net).__name__}")
    _check_optimizer(optimizer)
    loss = losses.get(loss)
    _grad_fn(net, loss, grads)  # validates grads
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"data: expected a pair (X, T), got {type(data).__name__}")
    X, T = backprop.check_batch(net, loss, *data)
    _checks.finite(X, "X")
    _checks.finite(T, "T")
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, maximum=X.shape[0])
    if grads == "backprop":
        backprop._require_derivatives(net)
    if not isinstance(key, jax.Array):
        raise TypeError(f"key: expected a PRNG key from jax.random.key, got {type(key).__name__}")
    if metrics is not None and not callable(metrics):
        raise TypeError(
            f"metrics: expected a function params -> dict, got {type(metrics).__name__}"
        )
    if solved is not None and not callable(solved):
        raise TypeError(f"solved: expected a function (a, T) -> bool, got {type(solved).__name__}")
    if history not in HISTORIES:
        raise ValueError(
            f"history: expected one of {', '.join(map(repr, HISTORIES))}, got {history!r}"
        )
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool):
        raise TypeError(f"dropout: expected a Python number (a rate in [0, 1)), got {dropout!r}")
    dropout = float(mlp._check_rate(dropout))
    layout = _layout.choose(layout, net, loss, batch_size, dropout)

    k_init, k_shuffle = jax.random.split(key)
    if params is None:
        dtype = X.dtype if jnp.issubdtype(X.dtype, jnp.floating) else jnp.float32
        params = net.init(k_init, init_scheme, init_scale, dtype=dtype)
    else:
        if init_scheme is not None or init_scale is not None:
            raise ValueError("init_scheme/init_scale: not used when params are given; pass one")
        net.check_params(params)
    dtype = jax.tree.leaves(params)[0].dtype
    X, T = X.astype(dtype), _as_dtype(T, dtype)
    eval_X = eval_T = None
    if eval_data is not None:
        if not (isinstance(eval_data, (tuple, list)) and len(eval_data) == 2):
            raise TypeError(f"eval_data: expected a pair (X, T), got {type(eval_data).__name__}")
        eval_X = _checks.inputs(eval_data[0], net.n_in, "eval_data[0]")
        eval_T = _checks.targets(
            eval_data[1],
            eval_X.shape[0],
            net.n_out,
            labels_allowed=loss.classification,
            name="eval_data[1]",
        )
        eval_X, eval_T = eval_X.astype(dtype), _as_dtype(eval_T, dtype)

    state = init_state(optimizer, params, hyperparams)
    epoch_keys = jax.random.split(k_shuffle, epochs)
    run = partial(
        _run_epochs,
        net=net,
        optimizer=optimizer,
        loss=loss,
        grads=grads,
        batch_size=batch_size,
        metrics=metrics,
        layout=layout,
        history=history,
        solved=solved,
        dropout=dropout,
    )
    solved_at = jnp.array(-1, jnp.int32)
    traced = not _checks.is_concrete((state, epoch_keys, X, T, eval_X, eval_T))
    if not progress or traced:
        state, solved_at, records = run(state, solved_at, 0, epoch_keys, X, T, eval_X, eval_T)
    else:
        tqdm = _checks.require("tqdm", "tqdm").tqdm
        # chunks of equal length (plus one remainder) keep compilation to at most two programs
        chunk = max(1, math.ceil(epochs / 100))
        parts = []
        desc = f"fit {'-'.join(map(str, net.sizes))}"
        with tqdm(total=epochs, desc=desc, unit="epoch") as bar:
            for start in range(0, epochs, chunk):
                keys = epoch_keys[start : start + chunk]
                state, solved_at, rec = run(state, solved_at, start, keys, X, T, eval_X, eval_T)
                parts.append(rec)
                last = rec["loss"] if history == "final" else rec["loss"][-1]
                bar.set_postfix(loss=f"{float(last):.4g}", refresh=False)
                bar.update(keys.shape[0])
        if history == "final":
            records = parts[-1]
        else:
            records = jax.tree.map(lambda *r: jnp.concatenate(r), *parts)
    if solved is not None:
        records = {**records, "epoch_solved": solved_at}
    return state, records
