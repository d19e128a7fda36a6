"""The scalar layout: every weight θ_ij and bias θ_i0 its own 0-d value, and the forward pass and
the chain rule written out over them per data point and unit, z_o = b_o + Σ_i a_i W_io."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import loop, losses

__all__ = ["scalar", "unstack", "restack", "map_params", "outputs", "backprop", "autodiff"]


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
    :class:`fnnet.loop.Known`): None (no term) for 0, w for 1. Equal to the product for finite w; for an
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


def outputs(net, sparams, X):
    """The forward pass per data point: a list over points of lists over output units."""
    outs = []
    for x in _points(X):
        a = x
        for p, g in zip(sparams, net.layer_activations()):
            _, a = _layer(p, a, g)
        outs.append(a)
    return outs


def autodiff(net, sparams, X, T, loss, *, key=None):
    """``jax.value_and_grad`` of the forward pass written out per data point and unit: the form
    of :func:`fnnet.backprop.autodiff` in the scalar layout (``loss`` a Loss; ``key`` unused)."""

    def value(sp):
        outs = outputs(net, sp, X)
        ts = _targets(T, net.n_out, outs[0][0].dtype)
        return loss.weight(X.shape[0]) * sum(loss.example(a, t) for a, t in zip(outs, ts))

    return jax.value_and_grad(value)(sparams)


def backprop(net, sparams, X, T, loss, *, key=None):
    """The chain rule written out per data point and unit. Per point, with
    δ_o = ∂L/∂z_o = ∂L/∂a_o · g'(z_o, a_o): ∂L/∂W_io += a_i δ_o, ∂L/∂b_o += δ_o, and
    ∂L/∂a_i = Σ_o W_io δ_o for the layer below; L = weight(B) · Σ_n ℓ_n (see
    :class:`fnnet.losses.Loss`). The form of :func:`fnnet.backprop.value_and_grad` in the scalar
    layout (``loss`` a Loss; ``key`` unused: no dropout)."""
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


def _value_and_grad(net, grads, loss):
    loss, written_out = losses.get(loss), loop.form(grads, "scalar")
    return lambda sparams, X, T, key: written_out(net, sparams, X, T, loss, key=key)


scalar = loop.Layout(
    name="scalar",
    enter=lambda net, tree: map_params(unstack, tree, _matrix_like(net)),
    leave=lambda net, tree: map_params(restack, tree, _scalar_like(net)),
    value_and_grad=_value_and_grad,
    apply=lambda net, sparams, X: jnp.stack([jnp.stack(a) for a in outputs(net, sparams, X)]),
    supports=loop.Supports(form="scalar", per_example_loss=True),
    engine=loop.scan_known,
)
"""Every parameter its own 0-d leaf, ``{"W": [[W[0][0], W[0][1]], ...], "b": [b[0], ...]}`` per
layer. After ``jax.vmap`` over seeds each leaf is a (seeds,) vector and every operation elementwise
over seeds, which XLA fuses into long vector loops: faster than the matrix layout's batched tiny
matmuls for small networks (the layout crossover table of ``python -m experiments.benchmark
--full``); the program grows with examples × parameters. It runs a gradient function through its
declared scalar form, ``grads.forms["scalar"]`` (:func:`backprop` for
:func:`fnnet.backprop.value_and_grad`, :func:`autodiff` for :func:`fnnet.backprop.autodiff`), and
its engine compiles a full batch of concrete data in (:func:`fnnet.loop.scan_known`)."""
