"""Two layouts of the same parameters, and why small networks train faster in the second.

The **matrix** layout is fnnet's public one: layer l is ``{"W": (n_in, n_out), "b": (n_out,)}`` and
a batch goes forward as ``X @ W + b``. Under ``jax.vmap`` over seeds every matmul becomes a batched
matmul of tiny (2, 2) blocks, which XLA on a CPU runs as a loop of small kernels.

The **scalar** layout holds every weight θ_ij and bias θ_i0 as its own 0-d leaf,
``{"W": [[W[0][0], W[0][1]], ...], "b": [b[0], ...]}``, and writes the arithmetic out per data point
and per unit, z_o = b_o + Σ_i a_i W_io. After ``vmap`` over seeds each leaf is a (seeds,) vector and
every operation is elementwise over the seed axis, which XLA fuses into long vector loops: for the
2-2-1 XOR network several times faster than the matrix layout (``python -m experiments.benchmark``
measures it). The program grows with batch size × parameters, so the layout suits small networks
and small batches; :func:`choose` picks it for them.

``fnnet.train.fit(..., layout="auto")`` converts to the scalar layout once before its compiled loop
and back once after it; parameters and optimizer state come back in the matrix layout. Results
agree with the matrix layout to float rounding (sums run in another order), not bitwise.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from fnnet import losses
from fnnet.mlp import MLP

__all__ = [
    "LAYOUTS",
    "unstack",
    "restack",
    "map_params",
    "supports",
    "choose",
    "value_and_grad",
    "apply",
]

LAYOUTS = ("auto", "matrix", "scalar")
# largest batch_size x n_params that "auto" writes out as scalars (the program grows with it)
MAX_SCALAR_WORK = 256


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


def map_params(fn, tree, params_like):
    """Applies ``fn`` to every subtree of ``tree`` shaped like ``params_like`` (same tree
    structure), leaving the rest. Converts an optimizer state, whose momentum or moment estimates
    are trees like the parameters, between layouts."""
    target = jax.tree.structure(params_like)
    is_params = lambda node: jax.tree.structure(node) == target  # noqa: E731
    return jax.tree.map(lambda n: fn(n) if is_params(n) else n, tree, is_leaf=is_params)


# per-data-point losses: (outputs, targets) as lists of 0-d arrays over output units; the batch
# mean (where the loss has one) is applied by the caller through ``scale``
def _sq(a, t):
    return sum((tk - ak) ** 2 for ak, tk in zip(a, t))


def _sq_grad(a, t, c):
    return [c * -(tk - ak) for ak, tk in zip(a, t)]


def _ce(z, t):
    m = functools.reduce(jnp.maximum, z)
    lse = m + jnp.log(sum(jnp.exp(zk - m) for zk in z))
    return lse - sum(tk * zk for zk, tk in zip(z, t))


def _ce_grad(z, t, c):
    m = functools.reduce(jnp.maximum, z)
    e = [jnp.exp(zk - m) for zk in z]
    s = sum(e)
    return [c * (ek / s - tk) for ek, tk in zip(e, t)]


# name -> (per-point value, per-point ∂L/∂a, weight of a point's value in the batch loss given B,
#          weight of its gradient)
_POINT_LOSSES = {
    "mse": (_sq, _sq_grad, lambda B: 1.0 / B, lambda B: 2.0 / B),
    "half_sse": (_sq, _sq_grad, lambda B: 0.5, lambda B: 1.0),
    "softmax_cross_entropy": (_ce, _ce_grad, lambda B: 1.0 / B, lambda B: 1.0 / B),
}


def supports(net: MLP, loss) -> bool:
    """Whether the scalar layout can run ``net`` with ``loss`` (one of fnnet's built-in losses)."""
    loss = losses.get(loss)
    return isinstance(net, MLP) and loss is losses._BY_NAME.get(loss.name)


def choose(layout: str, net: MLP, loss, batch_size: int, dropout=0.0) -> str:
    """Resolves ``layout`` ("auto", "matrix" or "scalar") to the one a run will use.

    "auto" takes the scalar layout when the loss is built in, there is no dropout, and
    batch_size × n_params is at most :data:`MAX_SCALAR_WORK`; else the matrix layout.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
    if layout == "matrix":
        return layout
    ok = supports(net, loss)
    if dropout != 0.0:
        if layout == "scalar":
            raise ValueError("layout: 'scalar' has no dropout; use layout='matrix' or 'auto'")
        return "matrix"
    if layout == "scalar":
        if not ok:
            raise ValueError(
                f"layout: 'scalar' needs one of the built-in losses {losses.names()}, got "
                f"{losses.get(loss)!r}; use layout='matrix'"
            )
        return layout
    return "scalar" if ok and batch_size * net.n_params <= MAX_SCALAR_WORK else "matrix"


def _points(X):
    return [[X[n, i] for i in range(X.shape[1])] for n in range(X.shape[0])]


def _targets(loss, T, n_out, dtype):
    if T.ndim == 1:  # integer labels, one-hot per point
        return [[(T[n] == k).astype(dtype) for k in range(n_out)] for n in range(T.shape[0])]
    return _points(T)


def _layer(p, a, g):
    z = [p["b"][o] + sum(a[i] * p["W"][i][o] for i in range(len(a))) for o in range(len(p["b"]))]
    return z, [g.fn(zk) for zk in z]


def apply(net: MLP, sparams, X):
    """The forward pass in the scalar layout: a list over data points of lists over outputs."""
    outs = []
    for x in _points(X):
        a = x
        for p, g in zip(sparams, net.layer_activations()):
            _, a = _layer(p, a, g)
        outs.append(a)
    return outs


def _value(net, loss, sparams, X, T):
    value, _, weight, _ = _POINT_LOSSES[loss.name]
    outs = apply(net, sparams, X)
    ts = _targets(loss, T, net.n_out, outs[0][0].dtype)
    return weight(X.shape[0]) * sum(value(a, t) for a, t in zip(outs, ts))


def value_and_grad(net: MLP, sparams, X, T, loss="mse", grads: str = "backprop"):
    """The loss and its gradient in the scalar layout, by the chain rule written out per data
    point and per unit (``"backprop"``) or by ``jax.value_and_grad`` of the scalar program
    (``"autodiff"``). ``X`` (batch, n_in) and ``T`` as for :func:`fnnet.backprop.value_and_grad`.

    Per point, with δ_o = ∂L/∂z_o = ∂L/∂a_o · g'(z_o, a_o): ∂L/∂W_io += a_i δ_o, ∂L/∂b_o += δ_o,
    and ∂L/∂a_i = Σ_o W_io δ_o for the layer below.
    """
    loss = losses.get(loss)
    if grads == "autodiff":
        return jax.value_and_grad(lambda sp: _value(net, loss, sp, X, T))(sparams)
    value, point_grad, weight, grad_weight = _POINT_LOSSES[loss.name]
    B = X.shape[0]
    acts = net.layer_activations()
    gW = [[[None] * len(p["b"]) for _ in p["W"]] for p in sparams]
    gb = [[None] * len(p["b"]) for p in sparams]
    total = 0.0

    def add(x, y):
        return y if x is None else x + y

    xs = _points(X)
    ts = _targets(loss, T, net.n_out, sparams[0]["b"][0].dtype)
    for x, t in zip(xs, ts):
        cache = [(None, x)]  # (z, a) per layer
        for p, g in zip(sparams, acts):
            cache.append(_layer(p, cache[-1][1], g))
        z, a = cache[-1]
        total = total + value(a, t)
        dA = point_grad(a, t, grad_weight(B))
        for l in range(len(sparams) - 1, -1, -1):
            z, a = cache[l + 1]
            a_in = cache[l][1]
            g = acts[l]
            d = [dA[o] * g.deriv(z[o], a[o]) for o in range(len(z))]
            for o in range(len(d)):
                gb[l][o] = add(gb[l][o], d[o])
                for i in range(len(a_in)):
                    gW[l][i][o] = add(gW[l][i][o], a_in[i] * d[o])
            if l:
                W = sparams[l]["W"]
                dA = [sum(W[i][o] * d[o] for o in range(len(d))) for i in range(len(a_in))]
    return weight(B) * total, [{"W": gW[l], "b": gb[l]} for l in range(len(sparams))]
