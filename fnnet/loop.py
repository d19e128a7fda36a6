"""The training loop, written once (the lecture's four steps, epoch after epoch): a run's
:class:`Setup`, the epoch body every engine runs, its ``lax.scan`` engines, and a :class:`Layout`'s
contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import _checks

__all__ = [
    "TrainState",
    "Supports",
    "Layout",
    "Setup",
    "form",
    "minibatch_indices",
    "training_step",
    "epoch_body",
    "enter",
    "leave",
    "first_carry",
    "finish",
    "scan",
    "scan_known",
    "Known",
    "known_data",
    "MAX_KNOWN_VALUES",
]


class TrainState(NamedTuple):
    """What training carries from step to step: parameters, optimizer state, steps taken."""

    params: Any
    opt_state: Any
    step: jax.Array


class Supports(NamedTuple):
    """What a layout runs, as data: ``fit`` refuses the rest naming the reason, and ``"auto"``
    passes over a layout that cannot run a training (see :func:`fnnet.layout.explain`).

    Attributes:
      form: None: runs any gradient function as it is; a name such as ``"scalar"``: runs a
        gradient function through the form of it in this layout that the function declares in
        its ``forms`` attribute, ``grads.forms[form]`` (see :func:`form`).
      per_example_loss: needs a loss with a per-example form (``example``, ``example_grad``,
        ``weight``: the built-in losses).
      minibatches: runs ``batch_size`` < n (else full batch only).
      histories: the ``Record.history`` values it records.
      traced_data: runs traced data (else the data must be concrete: it is compiled in).
    """

    form: str | None = None
    per_example_loss: bool = False
    minibatches: bool = True
    histories: tuple[str, ...] = ("epoch", "final")
    traced_data: bool = True


class Layout(NamedTuple):
    """How parameters are held inside the compiled training loop.

    Attributes:
      name: a name for messages, reports and ``fit(layout=name)``.
      enter: ``(net, tree) -> tree``: every subtree of ``tree`` shaped like ``net``'s matrix-layout
        parameters (the parameters, an optimizer's momentum or moment estimates) into this layout.
      leave: ``(net, tree) -> tree``: the inverse of ``enter``.
      value_and_grad: ``(net, grads, loss) -> f`` with ``f(params, X, T, key) -> (L, g)`` in this
        layout, computing what the gradient function ``grads`` (see :mod:`fnnet.backprop`) does
        for ``loss`` (a name or a :class:`fnnet.losses.Loss`).
      apply: ``(net, params, X) -> a``: the outputs (batch, n_out) for parameters in this layout.
      supports: what it runs, a :class:`Supports` (default: everything).
      engine: None (:func:`scan`), or an engine of the layout's own for the whole run,
        ``(setup, state, solved_at, epoch0, keys, X, T, eval_data) -> (state, solved_at,
        records)`` (:data:`fnnet.fused.fused` runs every epoch inside one kernel).
    """

    name: str
    enter: Callable
    leave: Callable
    value_and_grad: Callable
    apply: Callable
    supports: Supports = Supports()
    engine: Callable | None = None

    def __repr__(self):
        return f"Layout({self.name!r})"


class Setup(NamedTuple):
    """Everything static about a training run (hashable: ``jit`` compiles one program per setup):
    the network, the optax optimizer, the :class:`fnnet.losses.Loss`, the gradient function, the
    minibatch size, the :class:`Layout` and the :class:`fnnet.record.Record` (without its
    ``eval_data``, which is traced)."""

    net: Any
    optimizer: Any
    loss: Any
    grads: Callable
    batch_size: int
    layout: Layout
    record: Any


def form(grads, name: str) -> Callable | None:
    """The form of the gradient function ``grads`` in the layout form ``name`` that ``grads``
    declares, ``grads.forms[name]``, or None.

    A form is a gradient function over parameters in that layout, ``(net, params, X, T, loss, *,
    key=None) -> (L, grads)``. A declaration copied from the function that ``grads`` wraps (as
    ``functools.wraps`` copies attributes) does not count: a wrapper may compute another gradient.
    """
    forms = getattr(grads, "forms", None)
    if not isinstance(forms, Mapping) or forms is getattr(
        getattr(grads, "__wrapped__", None), "forms", None
    ):
        return None
    return forms.get(name)


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


def training_step(value_and_grad, optimizer):
    """Steps 2 and 3 of the lecture's four, ``(state, X, T, key) -> (state, metrics)``: ``(L, g) =
    value_and_grad(θ, X, T, key)`` with g = ∂L/∂θ, then ``(u, s) = optimizer.update(g, s, θ)`` and
    θ := θ + u (``optax.sgd(α)``: u = -α g). ``metrics`` is ``{"loss": L}``, the minibatch loss
    before the update; every engine records each metric, the mean over an epoch's minibatches."""

    def step(state: TrainState, X, T, key=None):
        value, g = value_and_grad(state.params, X, T, key)
        updates, opt_state = optimizer.update(g, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state, state.step + 1), {"loss": value}

    return step


def _epoch(setup: Setup, step, state, key, X, T):
    """One epoch: the lecture's four steps over every minibatch; returns the state and the mean
    of each minibatch metric. A full batch takes one step on the data in its given order (no
    order to draw); smaller batches draw a permutation (step 1) and scan over its minibatches.
    Without a key (an engine that draws none, such as the fused kernel) a full batch steps with
    ``key=None``."""
    if key is None:
        return step(state, X, T, None)
    k_order, k_drop = jax.random.split(key)
    if setup.batch_size == X.shape[0]:
        return step(state, X, T, k_drop)
    idx = minibatch_indices(k_order, X.shape[0], setup.batch_size)
    drop_keys = jax.random.split(k_drop, idx.shape[0])
    state, m = jax.lax.scan(
        lambda s, xs: step(s, X[xs[0]], T[xs[0]], xs[1]), state, (idx, drop_keys)
    )
    return state, jax.tree.map(jnp.mean, m)


def _measure(setup: Setup, layout: Layout, params, metrics, X, T, eval_data) -> dict:
    measures = setup.record.measure(setup.net, setup.loss, layout, params, X, T, eval_data)
    return {**metrics, **measures}


def epoch_body(setup: Setup, X, T, eval_data, layout: Layout | None = None):
    """The one epoch body, ``(carry, key, e) -> (carry, out)`` with ``carry = (state, solved_at,
    metrics)`` in the layout: step over the epoch's minibatches (``key`` None: one full-batch
    step without a key), ``solved_at`` updated after epoch ``e`` (0-based; or a function that
    returns it, called after the step) by the record's criterion, and ``out`` the epoch's metrics
    and measures (``history="epoch"``) or None.

    ``layout`` (default ``setup.layout``) is how the body computes in it; an engine may pass an
    equal one whose ``apply`` suits its compiler (the fused kernel builds outputs by selects).
    """
    net, record = setup.net, setup.record
    layout = setup.layout if layout is None else layout
    step = training_step(layout.value_and_grad(net, setup.grads, setup.loss), setup.optimizer)

    def body(carry, key, e):
        state, solved_at, _ = carry
        state, metrics = _epoch(setup, step, state, key, X, T)
        e = e() if callable(e) else e
        solved_at = record.first_solved(net, layout, state.params, X, T, e, solved_at)
        if record.history != "epoch":
            return (state, solved_at, metrics), None
        return (state, solved_at, metrics), _measure(
            setup, layout, state.params, metrics, X, T, eval_data
        )

    return body


def enter(setup: Setup, state: TrainState) -> TrainState:
    """``state`` (parameters and optimizer state) into ``setup.layout``."""
    into = lambda tree: setup.layout.enter(setup.net, tree)  # noqa: E731
    return TrainState(into(state.params), into(state.opt_state), state.step)


def leave(setup: Setup, state: TrainState) -> TrainState:
    """``state`` back from ``setup.layout`` into the matrix layout."""
    out = lambda tree: setup.layout.leave(setup.net, tree)  # noqa: E731
    return TrainState(out(state.params), out(state.opt_state), state.step)


def first_carry(setup: Setup, state: TrainState, solved_at, X, T, key=None):
    """The carry before the first epoch, for ``state`` already in the layout: ``(state,
    solved_at, metrics)`` with every metric of :func:`training_step` 0 (its shape and dtype)."""
    vg = setup.layout.value_and_grad(setup.net, setup.grads, setup.loss)
    shapes = jax.eval_shape(training_step(vg, setup.optimizer), state, X, T, key)[1]
    return state, solved_at, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def finish(setup: Setup, carry, records, X, T, eval_data):
    """``(state, solved_at, records)`` after the last epoch: with ``history="final"`` the records
    are the last epoch's metrics and the measures of the final parameters; the state leaves the
    layout."""
    state, solved_at, metrics = carry
    if setup.record.history == "final":
        records = _measure(setup, setup.layout, state.params, metrics, X, T, eval_data)
    return leave(setup, state), solved_at, records


def _epochs(setup: Setup, state, solved_at, epoch0, keys, X, T, eval_data):
    """Epochs ``epoch0 .. epoch0 + len(keys) - 1`` (one key each) as one ``lax.scan`` of
    :func:`epoch_body`, between :func:`enter` and :func:`finish`. ``records`` holds every
    epoch's (``history="epoch"``) or the last one's; ``solved_at`` is the first epoch (1-based)
    after which ``setup.record.solved`` held, or -1."""
    state = enter(setup, state)
    body = epoch_body(setup, X, T, eval_data)
    epochs = epoch0 + jnp.arange(keys.shape[0], dtype=jnp.int32)
    key = jax.ShapeDtypeStruct(keys.shape[1:], keys.dtype)  # a shape only: no program
    carry = first_carry(setup, state, solved_at, X, T, key)
    carry, records = jax.lax.scan(lambda c, xs: body(c, *xs), carry, (keys, epochs))
    return finish(setup, carry, records, X, T, eval_data)


# the names _epochs and _run_epochs_known are in the jaxpr that fnnet.sweep fingerprints: renamed,
# a sweep stored before would refuse to resume
scan = jax.jit(_epochs, static_argnums=0)
"""The ``lax.scan`` engine, one program for any data of these shapes (the default engine)."""


class Known(NamedTuple):
    """Concrete data as a hashable value (compared by its bytes), so that it can be a static
    argument of ``jax.jit``: its values are then constants of the compiled program (the scalar
    layout folds the products with inputs that are exactly 0 or 1)."""

    shape: tuple
    dtype: str
    raw: bytes

    @classmethod
    def of(cls, x) -> Known:
        x = np.ascontiguousarray(x)
        return cls(x.shape, x.dtype.str, x.tobytes())

    def array(self) -> np.ndarray:
        return np.frombuffer(self.raw, np.dtype(self.dtype)).reshape(self.shape)


# the most data values compiled into a program as constants: a bound on the program's size, not
# tuned (the row "fnnet.sweep, plain script (1 host device)" of `python -m experiments.benchmark`
# times the known-data program, on XOR's 12 values)
MAX_KNOWN_VALUES = 4096


def known_data(setup: Setup, X, T) -> tuple[Known, Known] | None:
    """``(X, T)`` as :class:`Known` values where :func:`scan_known` compiles them in: a full
    batch of concrete NumPy arrays of at most :data:`MAX_KNOWN_VALUES` values; else None."""
    if not (setup.batch_size == X.shape[0] and isinstance(X, np.ndarray)):
        return None
    if not isinstance(T, np.ndarray) or X.size + T.size > MAX_KNOWN_VALUES:
        return None
    return Known.of(X), Known.of(T)


@partial(jax.jit, static_argnums=(0, 1))
def _run_epochs_known(setup: Setup, data, state, solved_at, epoch0, keys, eval_data):
    X, T = (d.array() for d in data)
    return _epochs(setup, state, solved_at, epoch0, keys, X, T, eval_data)


def scan_known(setup: Setup, state, solved_at, epoch0, keys, X, T, eval_data):
    """:func:`scan` with the data compiled in where :func:`known_data` allows (one program per
    dataset), else :func:`scan`: the scalar layout's engine."""
    data = known_data(setup, X, T)
    if data is None:
        return scan(setup, state, solved_at, epoch0, keys, X, T, eval_data)
    return _run_epochs_known(setup, data, state, solved_at, epoch0, keys, eval_data)
