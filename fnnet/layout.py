"""How the compiled training loop holds a network's parameters: a :class:`Layout` value, of which
fnnet has three, :data:`matrix`, :data:`scalar` and :data:`fnnet.fused.fused`, and :func:`choose`,
which resolves ``fit(layout=...)`` to one of them.

A layout is five functions (``enter``, ``leave``, ``value_and_grad``, ``apply``, ``supports``)
and, optionally, an engine of its own for the whole run (``run``);
``fnnet.train`` uses the one it is given and never asks its name, so a new layout is a new value.
Parameters and optimizer state enter the layout once before the loop and leave it once after; what
a run returns is in the usual matrix layout whichever ran.

- **matrix**: layer l is ``{"W": (n_in, n_out), "b": (n_out,)}`` and a batch goes forward as
  ``X @ W + b``. Under ``jax.vmap`` over seeds every matmul becomes a batched matmul of tiny
  blocks, which XLA on a CPU runs as a loop of small kernels.
- **scalar**: every weight θ_ij and bias θ_i0 is its own 0-d leaf,
  ``{"W": [[W[0][0], W[0][1]], ...], "b": [b[0], ...]}``, and the arithmetic is written out per
  data point and unit, z_o = b_o + Σ_i a_i W_io. After ``vmap`` over seeds each leaf is a (seeds,)
  vector and every operation is elementwise over seeds, which XLA fuses into long vector loops:
  several times faster for the 2-2-1 XOR network (``python -m experiments.benchmark`` measures
  it). The program grows with examples × parameters, so it suits small networks on few examples.
  It runs losses that carry a per-example form (the built-in ones) and the gradients
  :func:`fnnet.backprop.value_and_grad` and :func:`fnnet.backprop.autodiff` without dropout.

- **fused** (:mod:`fnnet.fused`): the scalar layout's arithmetic with every epoch inside one
  Pallas kernel over blocks of seeds (full batch, final records; for GPUs). Never picked by
  ``"auto"``.

Results agree between layouts to float rounding (sums run in another order), not bitwise.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, backprop, losses

__all__ = [
    "Layout",
    "matrix",
    "scalar",
    "choose",
    "unstack",
    "restack",
    "map_params",
    "MAX_SCALAR_WORK",
    "MAX_SCALAR_WORK_TANH_AVX2",
    "max_scalar_work",
]

# largest n_examples × n_params that "auto" writes out as scalars (the program grows with it), and
# the smaller bound for tanh networks on x86 CPUs without AVX-512. `python -m experiments.benchmark
# --full` on an AMD EPYC (AVX2), 2026-11-27, scalar / matrix layout seed-steps/s: sigmoid 2-8-1 at
# batch 4 (work 132) 3.0x, 2-16-1 at batch 4 (260) 2.7x, 4-8-1 at batch 8 (392) 1.6x, 2-8-8-1 at
# batch 4 (420) 0.68x; tanh 2-2-1 (36) 6.4x, 2-4-1 (68) 2.1x, 2-8-1 (132) 0.51x, 4-8-1 at batch 8
# 0.32x. On an Intel Xeon (AVX-512), 2026-11-26, tanh: 2-8-1 1.9x, 4-8-1 at batch 8 1.06x.
MAX_SCALAR_WORK = 400
MAX_SCALAR_WORK_TANH_AVX2 = 100


@functools.lru_cache(maxsize=1)
def _x86_without_avx512() -> bool:
    """True on an x86 CPU whose flags (Linux's /proc/cpuinfo) lack avx512f; False elsewhere."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool(flags) and "avx512f" not in flags.split()


def max_scalar_work(net) -> int:
    """The largest ``n_examples × n_params`` for which ``"auto"`` takes the scalar layout:
    :data:`MAX_SCALAR_WORK`, or :data:`MAX_SCALAR_WORK_TANH_AVX2` for a network with a tanh layer
    on a CPU backend of an x86 processor without AVX-512 (there the written-out tanh code ran
    2-5x slower than the matrix layout's from batch × parameters of 132 on)."""
    tanh = "tanh" in (net.hidden.name, net.output.name)
    if tanh and jax.default_backend() == "cpu" and _x86_without_avx512():
        return MAX_SCALAR_WORK_TANH_AVX2
    return MAX_SCALAR_WORK


class Layout(NamedTuple):
    """How parameters are held inside the compiled training loop.

    Attributes:
      name: a name for messages and reports.
      enter: ``(net, tree) -> tree``: every subtree of ``tree`` shaped like ``net``'s matrix-layout
        parameters (the parameters, an optimizer's momentum or moment estimates) into this layout.
      leave: ``(net, tree) -> tree``: the inverse of ``enter``.
      value_and_grad: ``(net, grads, loss) -> f`` with ``f(params, X, T, key) -> (L, g)`` in this
        layout, computing what the gradient function ``grads`` (see :mod:`fnnet.backprop`) does
        for ``loss`` (a name or a :class:`fnnet.losses.Loss`).
      apply: ``(net, params, X) -> a``: the outputs (batch, n_out) for parameters in this layout.
      supports: ``(net, loss, grads) -> reason``: None where the layout runs them, else a sentence
        saying what it cannot run.
      run: None (``fit`` runs its compiled ``lax.scan`` over epochs with the functions above), or
        an engine of the layout's own for the whole run, with the scan's arguments and results:
        ``(plan, state, solved_at, epoch0, keys, X, T, eval_data) -> (state, solved_at,
        records)`` (:data:`fnnet.fused.fused` runs every epoch inside one kernel).
    """

    name: str
    enter: Callable
    leave: Callable
    value_and_grad: Callable
    apply: Callable
    supports: Callable
    run: Callable | None = None

    def __repr__(self):
        return f"Layout({self.name!r})"


# -- matrix -----------------------------------------------------------------------------------


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
    supports=lambda net, loss, grads: None,
)
"""fnnet's public layout, ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``: runs everything."""


# -- scalar -----------------------------------------------------------------------------------


def unstack(params):
    """Matrix layout -> scalar layout: every W[i, o] and b[o] its own 0-d array."""
    return [
        {
            "W": [[p["W"][i, o] for o in range(p["W"].shape[1])] for i in range(p["W"].shape[0])],
            "b": [p["b"][o] for o in range(p["b"].shape[0])],
        }
        for p in params
    ]


def restack(sparams):
    """Scalar layout -> matrix layout (the inverse of :func:`unstack`)."""
    return [
        {"W": jnp.stack([jnp.stack(row) for row in p["W"]]), "b": jnp.stack(p["b"])}
        for p in sparams
    ]


class Known(NamedTuple):
    """Concrete data as a hashable value (compared by its bytes), so that it can be a static
    argument of ``jax.jit``: its values are then constants of the compiled program, and the
    scalar layout folds the products with inputs that are exactly 0 or 1 (see :func:`_times`)."""

    shape: tuple
    dtype: str
    raw: bytes

    @classmethod
    def of(cls, x) -> Known:
        x = np.ascontiguousarray(x)
        return cls(x.shape, x.dtype.str, x.tobytes())

    def array(self) -> np.ndarray:
        return np.frombuffer(self.raw, np.dtype(self.dtype)).reshape(self.shape)


def map_params(fn, tree, params_like):
    """Applies ``fn`` to every subtree of ``tree`` shaped like ``params_like`` (same tree
    structure), leaving the rest. Converts an optimizer state, whose momentum or moment estimates
    are trees like the parameters, between layouts."""
    target = jax.tree.structure(params_like)
    is_params = lambda node: jax.tree.structure(node) == target  # noqa: E731
    return jax.tree.map(lambda n: fn(n) if is_params(n) else n, tree, is_leaf=is_params)


def _matrix_like(net):
    return [{"W": 0, "b": 0} for _ in net.layer_sizes()]


def _scalar_like(net):
    return [{"W": [[0] * n_out] * n_in, "b": [0] * n_out} for n_in, n_out in net.layer_sizes()]


def _points(X):
    return [[X[n, i] for i in range(X.shape[1])] for n in range(X.shape[0])]


def _targets(T, n_out, dtype):
    if T.ndim == 1:  # integer labels, one-hot per point
        return [[(T[n] == k).astype(dtype) for k in range(n_out)] for n in range(T.shape[0])]
    return _points(T)


def _times(x, w):
    """x * w, folded where x is a known value (a NumPy scalar of concrete data, see
    :class:`Known`): None (no term) for 0, w for 1. Equal to the product for finite w; for an
    infinite or NaN w a folded 0 leaves it out where the product would be NaN."""
    if isinstance(x, (np.generic, float, int)):
        if x == 0:
            return None
        if x == 1:
            return w
    return x * w


def _sum(first, terms):
    for t in terms:
        if t is not None:
            first = first + t
    return first


def _layer(p, a, g):
    z = [
        _sum(p["b"][o], (_times(a[i], p["W"][i][o]) for i in range(len(a))))
        for o in range(len(p["b"]))
    ]
    return z, [g.fn(zk) for zk in z]


def _outputs(net, sparams, X):
    """The forward pass per data point: a list over points of lists over output units."""
    outs = []
    for x in _points(X):
        a = x
        for p, g in zip(sparams, net.layer_activations()):
            _, a = _layer(p, a, g)
        outs.append(a)
    return outs


def _scalar_autodiff(net, sparams, X, T, loss):
    def value(sp):
        outs = _outputs(net, sp, X)
        ts = _targets(T, net.n_out, outs[0][0].dtype)
        return loss.weight(X.shape[0]) * sum(loss.example(a, t) for a, t in zip(outs, ts))

    return jax.value_and_grad(value)(sparams)


def _scalar_backprop(net, sparams, X, T, loss):
    """The chain rule written out per data point and unit. Per point, with
    δ_o = ∂L/∂z_o = ∂L/∂a_o · g'(z_o, a_o): ∂L/∂W_io += a_i δ_o, ∂L/∂b_o += δ_o, and
    ∂L/∂a_i = Σ_o W_io δ_o for the layer below; L = weight(B) · Σ_n ℓ_n (see
    :class:`fnnet.losses.Loss`)."""
    acts, w = net.layer_activations(), loss.weight(X.shape[0])
    gW = [[[None] * len(p["b"]) for _ in p["W"]] for p in sparams]
    gb = [[None] * len(p["b"]) for p in sparams]
    total = 0.0

    def add(x, y):
        return y if x is None else x + y

    for x, t in zip(_points(X), _targets(T, net.n_out, sparams[0]["b"][0].dtype)):
        cache = [(None, x)]  # (z, a) per layer
        for p, g in zip(sparams, acts):
            cache.append(_layer(p, cache[-1][1], g))
        total = total + loss.example(cache[-1][1], t)
        dA = [w * d for d in loss.example_grad(cache[-1][1], t)]
        for l in range(len(sparams) - 1, -1, -1):
            (z, a), a_in = cache[l + 1], cache[l][1]
            d = [dA[o] * acts[l].deriv(z[o], a[o]) for o in range(len(z))]
            for o in range(len(d)):
                gb[l][o] = add(gb[l][o], d[o])
                for i in range(len(a_in)):
                    term = _times(a_in[i], d[o])
                    if term is not None:
                        gW[l][i][o] = add(gW[l][i][o], term)
            if l:
                W = sparams[l]["W"]
                dA = [sum(W[i][o] * d[o] for o in range(len(d))) for i in range(len(a_in))]
    zero = lambda g, b: jnp.zeros_like(b) if g is None else g  # noqa: E731 - every input was 0
    gW = [[[zero(g, b) for g, b in zip(row, gb[l])] for row in gW[l]] for l in range(len(gW))]
    return w * total, [{"W": gW[l], "b": gb[l]} for l in range(len(sparams))]


# the gradient functions the scalar layout has a written-out form of
_SCALAR_GRADS = {backprop.value_and_grad: _scalar_backprop, backprop.autodiff: _scalar_autodiff}


def _scalar_value_and_grad(net, grads, loss):
    loss, written_out = losses.get(loss), _SCALAR_GRADS[grads]
    return lambda sparams, X, T, key: written_out(net, sparams, X, T, loss)


def _scalar_supports(net, loss, grads):
    if loss.example is None or loss.example_grad is None or loss.weight is None:
        return f"needs a loss with a per-example form (a built-in one), got {loss!r}"
    if grads not in _SCALAR_GRADS:
        return (
            "runs fnnet.backprop.value_and_grad and fnnet.backprop.autodiff without dropout, "
            f"got grads={grads!r}"
        )
    return None


scalar = Layout(
    name="scalar",
    enter=lambda net, tree: map_params(unstack, tree, _matrix_like(net)),
    leave=lambda net, tree: map_params(restack, tree, _scalar_like(net)),
    value_and_grad=_scalar_value_and_grad,
    apply=lambda net, sparams, X: jnp.stack([jnp.stack(a) for a in _outputs(net, sparams, X)]),
    supports=_scalar_supports,
)
"""Every parameter its own 0-d leaf: elementwise code over seeds under ``vmap``; small networks."""

_BY_NAME = {"matrix": matrix, "scalar": scalar}


def choose(layout, net, loss, grads=backprop.value_and_grad, n_examples: int = 1) -> Layout:
    """Resolves ``fit``'s ``layout`` argument to the :class:`Layout` a run uses.

    ``layout``: a :class:`Layout`, ``"matrix"``, ``"scalar"``, ``"fused"`` or ``"auto"``.
    ``"auto"`` takes the scalar layout where it supports ``net``, ``loss`` and ``grads`` and
    ``n_examples × net.n_params`` is at most :func:`max_scalar_work` (:data:`MAX_SCALAR_WORK`,
    less for tanh networks on x86 CPUs without AVX-512), else the matrix layout; it never takes
    the fused layout.

    Raises:
      ValueError: for an unknown name, or a layout that cannot run ``loss`` or ``grads``.
    """
    _checks.net(net)
    loss = losses.get(loss)
    if isinstance(layout, str) and layout == "auto":
        small = n_examples * net.n_params <= max_scalar_work(net)
        return scalar if small and scalar.supports(net, loss, grads) is None else matrix
    if isinstance(layout, str) and layout == "fused":
        from fnnet.fused import fused as layout  # it builds on this module
    if isinstance(layout, str) and layout in _BY_NAME:
        layout = _BY_NAME[layout]
    if not isinstance(layout, Layout):
        raise ValueError(
            "layout: expected 'auto', 'matrix', 'scalar', 'fused' or an fnnet.layout.Layout, got "
            f"{layout!r}"
        )
    reason = layout.supports(net, loss, grads)
    if reason is not None:
        raise ValueError(f"layout: {layout.name!r} {reason}; use layout='matrix' or 'auto'")
    return layout
