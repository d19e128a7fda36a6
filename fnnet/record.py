"""What a training run records, as one value: :class:`Record`, handed to
:func:`fnnet.train.fit` as ``record=``.

Every run records the loss (the mean minibatch loss of an epoch, before each update). A Record adds,
after every epoch (``history="epoch"``) or once after the last (``history="final"``): the training
accuracy (for classification), the loss and accuracy on ``eval_data``, the measures a ``metrics``
function returns; and, checked after every epoch either way, the first epoch a ``solved``
criterion held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from fnnet import _checks, activations, losses
from fnnet.mlp import MLP

__all__ = ["Record", "accuracy", "HISTORIES"]

HISTORIES = ("epoch", "final")
_RESERVED = {"loss", "epoch_solved", "train_accuracy", "eval_loss", "eval_accuracy"}


class Record(NamedTuple):
    """What :func:`fnnet.train.fit` records besides the loss.

    Attributes:
      history: ``"epoch"`` records after every epoch (arrays of length ``epochs``); ``"final"``
        once, after the last epoch (scalars): for sweeps of many seeds, where a record per epoch
        and seed costs memory and time.
      eval_data: optional ``(X_eval, T_eval)``: its loss ``"eval_loss"`` and, for classification,
        ``"eval_accuracy"`` are recorded.
      metrics: optional pure function ``params -> {name: array}`` of the (matrix-layout)
        parameters, evaluated inside the compiled run; its values join the history under their
        names. E.g. the largest output error on the training set,
        ``lambda p: {"max_error": jnp.max(jnp.abs(net.apply(p, X) - T))}``. Reuse one function
        object: a new one compiles a new run.
      solved: optional criterion ``(a, T) -> bool`` on the outputs ``a`` for the training inputs,
        checked after every epoch; the history's ``"epoch_solved"`` is the first epoch (1-based)
        after which it held, or -1. E.g. XOR's "every output within 0.4 of its target":
        ``lambda a, T: jnp.all(jnp.abs(a - T) < 0.4)``. Training goes on for all epochs.

    Examples:
      >>> Record(history="final").history
      'final'
    """

    history: str = "epoch"
    eval_data: Any = None
    metrics: Callable | None = None
    solved: Callable | None = None

    def check(self, net, loss) -> tuple[Record, Any]:
        """Validates this record for ``net`` and ``loss`` at ``fit``'s boundary; returns it
        without ``eval_data`` (a static value for ``jit``) and the checked ``eval_data``."""
        if self.history not in HISTORIES:
            raise ValueError(
                f"record.history: expected one of {', '.join(map(repr, HISTORIES))}, got "
                f"{self.history!r}"
            )
        if self.metrics is not None and not callable(self.metrics):
            raise TypeError(
                "record.metrics: expected a function params -> dict, got "
                f"{type(self.metrics).__name__}"
            )
        if self.solved is not None and not callable(self.solved):
            raise TypeError(
                "record.solved: expected a function (a, T) -> bool, got "
                f"{type(self.solved).__name__}"
            )
        eval_data = self.eval_data
        if eval_data is not None:
            name = "record.eval_data"
            eval_data = _checks.batch(
                MLP.check(net), loss, *_checks.pair(eval_data, name), name=name
            )
            _checks.finite(eval_data[0], f"{name}[0]")
            _checks.finite(eval_data[1], f"{name}[1]")
        return self._replace(eval_data=None), eval_data

    def measure(self, net, loss, layout, params, X, T, eval_data) -> dict:
        """The measures besides the loss, for ``params`` held in ``layout``: training accuracy
        (outputs by the layout itself), eval loss and accuracy, and ``metrics``."""
        out = {}
        train_acc = accuracy(net, loss, layout.apply(net, params, X), T)
        if train_acc is not None:
            out["train_accuracy"] = train_acc
        if eval_data is not None or self.metrics is not None:
            params = layout.leave(net, params)
        if eval_data is not None:
            a = net.apply(params, eval_data[0])
            out["eval_loss"] = loss.value(a, eval_data[1])
            eval_acc = accuracy(net, loss, a, eval_data[1])
            if eval_acc is not None:
                out["eval_accuracy"] = eval_acc
        if self.metrics is not None:
            extra = self.metrics(params)
            if not isinstance(extra, dict) or set(extra) & _RESERVED:
                got = sorted(extra) if isinstance(extra, dict) else type(extra).__name__
                raise ValueError(
                    "record.metrics: expected a function returning a dict of new names (not "
                    f"{sorted(_RESERVED)}), got {got}"
                )
            out.update(extra)
        return out

    def first_solved(self, net, layout, params, X, T, epoch, solved_at):
        """``solved_at`` updated after ``epoch`` (0-based): ``epoch + 1`` where the criterion
        holds for the first time, else unchanged. Unchanged too without a criterion."""
        if self.solved is None:
            return solved_at
        ok = self.solved(layout.apply(net, params, X), T)
        if jnp.shape(ok) != () or not jnp.issubdtype(jnp.result_type(ok), jnp.bool_):
            raise TypeError(
                "record.solved: expected a function (a, T) -> one bool, got a result of shape "
                f"{jnp.shape(ok)} and dtype {jnp.result_type(ok)}; reduce it, e.g. with jnp.all"
            )
        return jnp.where((solved_at < 0) & ok, epoch + 1, solved_at)


def accuracy(net, loss, outputs, T):
    """Fraction of examples classified correctly from the network's ``outputs`` (batch, n_out),
    that is ``net.apply(params, X)`` (not the parameters: apply the network first), or
    ``None`` where the task is not classification; NaN where any output is NaN or infinite (a
    diverged network classifies nothing, whatever ``a >= 0.5`` happens to say).

    With ``softmax_cross_entropy`` the class is the argmax of the output; with a sigmoid or step
    output every output unit is read as 1 where a >= 0.5, and an example is correct when all match.
    """
    loss = losses.get(loss)
    a = outputs
    if loss.classification:
        labels = T if jnp.issubdtype(T.dtype, jnp.integer) else jnp.argmax(T, axis=-1)
        acc = jnp.mean(jnp.argmax(a, axis=-1) == labels)
    elif net.output in (activations.sigmoid, activations.step):
        acc = jnp.mean(jnp.all((a >= 0.5) == (T >= 0.5), axis=-1))
    else:
        return None
    return jnp.where(jnp.all(jnp.isfinite(a)), acc, jnp.nan)
