"""How the compiled training loop holds a network's parameters: the :class:`Layout` values fnnet
has, and :func:`choose` / :func:`explain`, which resolve ``fit(layout=...)`` from what each declares.

A layout is a value (see :class:`fnnet.loop.Layout`): four functions (``enter``, ``leave``,
``value_and_grad``, ``apply``), what it runs as data (``supports``, a :class:`Supports`) and,
optionally, an engine of its own (``engine``); the training loop never asks its name, so a new
layout is a new value (add it to :data:`LAYOUTS` to name it in ``fit(layout=...)``). Parameters and
optimizer state enter the layout once before the loop and leave it once after; what a run returns
is in the usual matrix layout whichever ran.

- **matrix**: layer l is ``{"W": (n_in, n_out), "b": (n_out,)}`` and a batch goes forward as
  ``X @ W + b``. Under ``jax.vmap`` over seeds every matmul becomes a batched matmul of tiny
  blocks, which XLA on a CPU runs as a loop of small kernels. Runs everything.
- **scalar** (:mod:`fnnet.scalar_layout`): every weight θ_ij and bias θ_i0 its own 0-d leaf and
  the arithmetic written out per data point and unit: elementwise over seeds under ``vmap``, faster
  for small networks (``python -m experiments.benchmark --full``, its layout crossover table). It
  runs losses that carry a per-example form (the built-in ones) and gradient functions that
  declare a scalar form: :func:`fnnet.backprop.value_and_grad` and :func:`fnnet.backprop.autodiff`
  (not dropout), or your own::

      def my_grads(net, params, X, T, loss, *, key=None):
          return fn.backprop.value_and_grad(net, params, X, T, loss)

      my_grads.forms = {"scalar": fn.scalar_layout.backprop}  # its form in the scalar layout

- **fused** (:mod:`fnnet.fused`): the scalar layout's arithmetic with every epoch inside one
  Pallas kernel over blocks of seeds (full batch, final records; for GPUs). Never picked by
  ``"auto"``.

Results agree between layouts to float rounding (sums run in another order), not bitwise.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from fnnet import backprop, loop, losses, scalar_layout, xla
from fnnet.fused import fused
from fnnet.mlp import MLP

__all__ = [
    "Layout",
    "Supports",
    "matrix",
    "scalar",
    "LAYOUTS",
    "AUTO",
    "Choice",
    "explain",
    "choose",
    "unstack",
    "restack",
    "map_params",
    "MAX_SCALAR_WORK",
    "MAX_SCALAR_WORK_TANH_AMD",
    "max_scalar_work",
]

# one assignment per name, so that the API reference lists each of them here too
Layout = loop.Layout
Supports = loop.Supports
scalar = scalar_layout.scalar
unstack = scalar_layout.unstack
restack = scalar_layout.restack
map_params = scalar_layout.map_params

# the largest n_examples × n_params "auto" writes out as scalars: set by the layout crossover table
# of `python -m experiments.benchmark --full` (its rows 4-8-1 sigmoid, 392, and 2-8-8-1 sigmoid, 420)
MAX_SCALAR_WORK = 400
# the same for a network with a tanh layer on an AMD CPU: set by that table's tanh rows (2-4-1
# tanh, 68, and 2-8-1 tanh, 132) on AMD CPUs with and without AVX-512 (on an Intel CPU with
# AVX-512 the scalar tanh rows stayed faster up to 420)
MAX_SCALAR_WORK_TANH_AMD = 100


def _amd() -> bool:
    """True on an AMD CPU (Linux's /proc/cpuinfo), False elsewhere."""
    return xla.cpu_vendor() == "AuthenticAMD"


def max_scalar_work(net) -> int:
    """The largest ``n_examples × n_params`` for which ``"auto"`` takes the scalar layout:
    :data:`MAX_SCALAR_WORK`, or :data:`MAX_SCALAR_WORK_TANH_AMD` for a network with a tanh layer
    on a CPU backend of an AMD processor."""
    tanh = "tanh" in (net.hidden.name, net.output.name)
    if tanh and jax.default_backend() == "cpu" and _amd():
        return MAX_SCALAR_WORK_TANH_AMD
    return MAX_SCALAR_WORK


# -- matrix ---------------------------------------------------------------------------------


def _same(net, tree):
    return tree


def _matrix_value_and_grad(net, grads, loss):
    loss = losses.get(loss)
    return lambda params, X, T, key: grads(net, params, X, T, loss, key=key)


matrix = Layout(
    name="matrix",
    enter=_same,
    leave=_same,
    value_and_grad=_matrix_value_and_grad,
    apply=lambda net, params, X: net.apply(params, X),
)
"""fnnet's public layout, ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``: runs everything."""


LAYOUTS = (matrix, scalar, fused)
"""The layouts ``fit(layout=name)`` knows by name (a :class:`Layout` value needs no name)."""

AUTO = ((scalar, max_scalar_work), (matrix, None))
"""What ``"auto"`` tries, in order, each with the largest ``n_examples × net.n_params`` it is taken
for (a function of the network; None: any): the first that runs the training and is within it."""


class Choice(NamedTuple):
    """A resolved ``layout`` argument: the :class:`Layout` taken and, for ``"auto"``, each layout
    passed over with the reason, ``((name, reason), ...)``."""

    layout: Layout
    passed_over: tuple[tuple[str, str], ...] = ()

    def __str__(self):
        why = "; ".join(f"not {name!r}: {reason}" for name, reason in self.passed_over)
        return f"{self.layout.name}" + (f" ({why})" if why else "")


def _gradient_reason(form: str, grads) -> str:
    built_in = (backprop.value_and_grad, backprop.autodiff)  # named in the message, if they have it
    have = [f"fnnet.backprop.{g.__name__}" for g in built_in if loop.form(g, form) is not None]
    runs = f"{' and '.join(have)} without dropout, or " if have else ""
    return (
        f"runs {runs}a gradient function that declares a {form!r} form (its forms attribute, see "
        f"fnnet.layout), got grads={grads!r}"
    )


def _reason(layout: Layout, loss, grads, n_examples, batch_size, history, concrete) -> str | None:
    """Why ``layout`` cannot run this training, from what it declares (``layout.supports``), or
    None where it can. Arguments left None are not asked about."""
    s = layout.supports
    if not isinstance(s, Supports):
        raise TypeError(f"layout.supports: expected an fnnet.layout.Supports, got {s!r}")
    if s.per_example_loss and None in (loss.example, loss.example_grad, loss.weight):
        return f"needs a loss with a per-example form (a built-in one), got {loss!r}"
    if s.form is not None and loop.form(grads, s.form) is None:
        return _gradient_reason(s.form, grads)
    if not s.minibatches and batch_size is not None and batch_size != n_examples:
        return (
            f"runs full-batch training (batch_size = n = {n_examples}, one step per epoch), got "
            f"batch_size={batch_size}"
        )
    if history is not None and history not in s.histories:
        return (
            f"records {' or '.join(s.histories)} values only, expected "
            f"Record(history={s.histories[0]!r}), got history={history!r}"
        )
    if not (s.traced_data or concrete):
        return (
            "writes the data points into its program as constants; expected concrete data, got a "
            "traced value (close over the data in the function you vmap or jit instead of "
            "passing it as an argument)"
        )
    return None


def _auto(net, loss, grads, n_examples, *asked) -> Choice:
    passed = []
    for layout, bound in AUTO:
        reason = _reason(layout, loss, grads, n_examples, *asked)
        if reason is None and bound is not None and n_examples * net.n_params > bound(net):
            reason = (
                f"n_examples × n_params = {n_examples} × {net.n_params} is above "
                f"{bound.__name__}(net) = {bound(net)}"
            )
        if reason is None:
            return Choice(layout, tuple(passed))
        passed.append((layout.name, reason))
    raise ValueError(f"layout: 'auto' found no layout that runs this training: {passed}")


def explain(
    layout,
    net,
    loss,
    grads=backprop.value_and_grad,
    n_examples: int = 1,
    *,
    batch_size: int | None = None,
    history: str | None = None,
    concrete: bool = True,
) -> Choice:
    """Resolves ``fit``'s ``layout`` argument, saying why: a :class:`Choice`.

    ``layout``: a :class:`Layout`, a name in :data:`LAYOUTS` (``"matrix"``, ``"scalar"``,
    ``"fused"``) or ``"auto"``. ``"auto"`` takes the first of :data:`AUTO` that runs ``net``,
    ``loss``, ``grads`` (and ``batch_size``, ``history``, data that is ``concrete`` or not, where
    given) and whose bound ``n_examples × net.n_params`` is within: the scalar layout up to
    :func:`max_scalar_work`, else the matrix layout; the choice lists what it passed over, and
    why. A layout asked for by name or value is taken where it runs the training.

    Examples:
      >>> import fnnet as fn
      >>> print(explain("auto", fn.MLP((2, 2, 1)), "mse", fn.backprop.dropout(0.5), 4))
      ... # doctest: +ELLIPSIS
      matrix (not 'scalar': runs fnnet.backprop.value_and_grad and ... without dropout, ...)

    Raises:
      ValueError: for an unknown name, or a layout that cannot run the training, naming why.
    """
    MLP.check(net)
    loss = losses.get(loss)
    asked = (n_examples, batch_size, history, concrete)
    if isinstance(layout, str) and layout == "auto":
        return _auto(net, loss, grads, *asked)
    by_name = {known.name: known for known in LAYOUTS}
    if isinstance(layout, str) and layout in by_name:
        layout = by_name[layout]
    if not isinstance(layout, Layout):
        names = ", ".join(repr(n) for n in ("auto", *by_name))
        raise ValueError(f"layout: expected {names} or an fnnet.layout.Layout, got {layout!r}")
    reason = _reason(layout, loss, grads, *asked)
    if reason is not None:
        raise ValueError(f"layout: {layout.name!r} {reason}; use layout='matrix' or 'auto'")
    return Choice(layout)


def choose(
    layout, net, loss, grads=backprop.value_and_grad, n_examples: int = 1, **asked
) -> Layout:
    """The :class:`Layout` that ``fit(layout=layout)`` runs: :func:`explain`'s, whose keywords
    (``batch_size``, ``history``, ``concrete``) ``asked`` passes on."""
    return explain(layout, net, loss, grads, n_examples, **asked).layout
