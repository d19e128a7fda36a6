"""The multi-layer network as a hashable spec and two pure functions over a parameter pytree.

The lecture's forward pass: z^(l+1) = Θ^(l) a^(l) with a bias input a_0 = 1, then a^(l+1) = g(z^(l+1)).
fnnet stores ``W[j, i] = θ_ij`` (inputs by outputs) and ``b[i] = θ_i0``, so a batch is ``X @ W + b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, activations
from fnnet.activations import Activation

__all__ = ["MLP", "INIT_SCHEMES"]

INIT_SCHEMES = ("uniform", "normal", "xavier", "he")
_DEFAULT_SCALE = {"uniform": 0.5, "normal": 0.01, "xavier": 1.0, "he": 1.0}


@dataclass(frozen=True, init=False)
class MLP:
    """A fully connected feed-forward network: its layer sizes and activations, nothing else.

    ``MLP((2, 2, 1))`` is the lecture's "2-layer network" or "1-hidden-layer network": 2 inputs,
    one hidden layer of 2 units, 1 output. Layer l maps a^(l) to a^(l+1) = g(a^(l) W + b).

    The spec is immutable and hashable, so it is a static argument under ``jax.jit``; parameters
    are a plain list with one ``{"W": (n_in, n_out), "b": (n_out,)}`` dict per layer.

    Args:
      sizes: widths (n_in, n_hidden..., n_out), at least two entries, each >= 1.
      hidden: activation of the hidden layers: a name in ``fnnet.activations.names()`` or an
        :class:`~fnnet.activations.Activation`.
      output: activation of the output layer (``"identity"`` for logits or regression).

    Examples:
      >>> import jax, fnnet as fn
      >>> net = fn.MLP((2, 2, 1))
      >>> params = net.init(jax.random.key(0))
      >>> [p["W"].shape for p in params]
      [(2, 2), (2, 1)]
      >>> net.apply(params, jax.numpy.zeros((4, 2))).shape
      (4, 1)
    """

    sizes: tuple[int, ...]
    hidden: Activation
    output: Activation

    def __init__(self, sizes, hidden="sigmoid", output="sigmoid"):
        try:
            if isinstance(sizes, (str, bytes)):  # iterable, but of characters
                raise TypeError
            sizes = tuple(sizes)
        except TypeError:
            raise TypeError(
                f"sizes: expected a sequence of layer widths such as (2, 2, 1), got {sizes!r}"
            ) from None
        if len(sizes) < 2:
            raise ValueError(
                f"sizes: expected at least two entries (inputs and outputs), got {sizes!r}"
            )
        for i, s in enumerate(sizes):
            _checks.integer(s, f"sizes[{i}]", minimum=1)
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))
        object.__setattr__(self, "hidden", activations.get(hidden, argument="hidden"))
        object.__setattr__(self, "output", activations.get(output, argument="output"))

    def __repr__(self):
        return f"MLP({self.sizes}, hidden={self.hidden.name!r}, output={self.output.name!r})"

    @classmethod
    def check(cls, value, name: str = "net") -> MLP:
        """``value`` if it is an :class:`MLP` spec, else a TypeError naming ``name``."""
        if not isinstance(value, cls):
            raise TypeError(f"{name}: expected an fnnet.MLP, got {type(value).__name__}")
        return value

    # -- structure -----------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (the lecture's "n-layer network")."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return sum((a + 1) * b for a, b in self.layer_sizes())

    def layer_activations(self) -> tuple[Activation, ...]:
        """The activation of each weight layer, hidden ones first, the output last."""
        return (self.hidden,) * (self.n_layers - 1) + (self.output,)

    def param_shapes(self) -> list[dict[str, tuple[int, ...]]]:
        return [{"W": (a, b), "b": (b,)} for a, b in self.layer_sizes()]

    def describe(self) -> str:
        """The network in the lecture's words, with its parameter count.

        Examples:
          >>> import fnnet as fn
          >>> fn.MLP((2, 2, 1)).describe()
          '2-layer network (1-hidden-layer network) 2-2-1, hidden sigmoid, output sigmoid, 9 parameters'
        """
        n_hidden = self.n_layers - 1
        acts = f"hidden {self.hidden.name}, " if n_hidden else ""
        return (
            f"{self.n_layers}-layer network ({n_hidden}-hidden-layer network) "
            f"{'-'.join(map(str, self.sizes))}, {acts}output {self.output.name}, "
            f"{self.n_params} parameters"
        )

    # -- parameters ----------------------------------------------------------------------------
    def init(self, key, scheme: str | None = None, scale=None, dtype=jnp.float32):
        """Draws initial parameters from ``key``.

        Schemes (``scale`` defaults in brackets):
          - ``"uniform"`` [0.5]: weights and biases uniform in [-scale, scale], the classic choice
            of the early backprop experiments.
          - ``"normal"`` [0.01]: weights normal with std = scale, biases 0.
          - ``"xavier"`` [1.0]: weights normal with std = scale * sqrt(1 / n_in), biases 0
            (Glorot and Bengio 2010, in the form of Deep Learning from Scratch); for sigmoid/tanh.
          - ``"he"`` [1.0]: weights normal with std = scale * sqrt(2 / n_in), biases 0
            (He et al. 2015); for ReLU.
        ``scheme=None`` picks ``"he"`` for ReLU hidden units and ``"xavier"`` otherwise.
        ``scale`` is one real number, > 0 and finite; it may be a traced 0-d array, so the initial
        range can be vmapped over (a traced scale is checked for shape and dtype only).

        Args:
          key: one PRNG key (``jax.random.key``, or a legacy ``uint32[2]`` key).
          scheme: a name in :data:`INIT_SCHEMES`, or None.
          scale: the scheme's scale (a scalar), or None for the default.
          dtype: a floating dtype.

        Returns:
          ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``, one dict per layer.
        """
        if scheme is None:
            scheme = "he" if self.hidden.name == "relu" else "xavier"
        if not isinstance(scheme, str) or scheme not in INIT_SCHEMES:
            error = ValueError if isinstance(scheme, str) else TypeError
            raise error(
                f"scheme: expected one of {', '.join(map(repr, INIT_SCHEMES))}, got {scheme!r}"
            )
        if scale is None:
            scale = _DEFAULT_SCALE[scheme]
        else:
            # a vector scale would broadcast into the parameters' shapes without a word
            _checks.positive(_checks.real_scalar(scale, "scale"), "scale")
        dtype = _checks.floating_dtype(dtype)
        _checks.key(key)
        return _draw(self, scheme, dtype, key, jnp.asarray(scale, dtype))

    def layer_sizes(self) -> list[tuple[int, int]]:
        """(n_in, n_out) of each weight layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    def check_params(self, params, name: str = "params"):
        """Raises a ValueError naming the first leaf whose structure or shape does not fit, or a
        TypeError for a leaf that is not an array (a Python list, say). Returns ``params``.
        Dtypes and values are not checked here (:meth:`forward` refuses non-floating ones:
        ``fnnet._checks.floating_leaves``)."""
        if not isinstance(params, (list, tuple)) or len(params) != self.n_layers:
            got = (
                f"{type(params).__name__} of length {len(params)}"
                if hasattr(params, "__len__")
                else type(params).__name__
            )
            raise ValueError(
                f"{name}: expected a list of {self.n_layers} layer dicts for {self!r}, got {got}"
            )
        for l, (layer, want) in enumerate(zip(params, self.param_shapes())):
            if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
                got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
                raise ValueError(f"{name}[{l}]: expected a dict with keys 'W' and 'b', got {got}")
            for leaf, shape in want.items():
                if not isinstance(layer[leaf], (jax.Array, np.ndarray)):
                    raise TypeError(
                        f"{name}[{l}][{leaf!r}]: expected an array of shape {shape} (jax or "
                        f"NumPy), got {type(layer[leaf]).__name__}"
                    )
                got = _checks.shape_of(layer[leaf])
                if got != shape:
                    raise ValueError(
                        f"{name}[{l}][{leaf!r}]: expected shape {shape} for {self!r}, got {got}"
                    )
        return params

    # -- forward pass --------------------------------------------------------------------------
    def dropout_keep(self, key, batch: int, rate, dtype=jnp.float32):
        """Inverted-dropout scales for the hidden layers: per hidden layer a (batch, width) array
        that is 1 / (1 - rate) where a unit is kept (probability 1 - rate) and 0 where dropped,
        so that the expected activation is unchanged and evaluation needs no rescaling."""
        _checks.rate(rate)
        keys = jax.random.split(key, max(1, self.n_layers - 1))
        return [
            jax.random.bernoulli(k, 1 - rate, (batch, width)).astype(dtype) / (1 - rate)
            for k, width in zip(keys, self.sizes[1:-1])
        ]

    def forward(self, params, X, *, dropout=0.0, key=None):
        """The forward pass, keeping what backprop needs.

        Args:
          params: the parameter list of :meth:`init`.
          X: (batch, n_in) inputs.
          dropout: the rate of (inverted) dropout on every hidden layer's output, a real number
            in [0, 1); 0 (the default) is the plain forward pass. Training only: evaluate with 0.
            A traced rate is checked for shape and dtype only.
          key: one PRNG key that draws the dropout masks; needed when ``dropout`` is not 0.

        Returns:
          ``(a, cache)``: the output (batch, n_out) and, per layer, ``(a_in, z, a_out, keep)``
          with z = a_in W + b, a_out = g(z), and ``keep`` the layer's dropout scale (see
          :meth:`dropout_keep`) or None; the next layer's input is a_out * keep.
        """
        _checks.floating_leaves(self.check_params(params), "params")
        X = _checks.inputs(X, self.n_in)
        _checks.real_scalar(dropout, "dropout")
        keeps = [None] * self.n_layers
        if not (_checks.is_concrete(dropout) and float(dropout) == 0.0):
            if key is None:
                raise ValueError(f"key: dropout {dropout!r} needs a PRNG key to draw its masks")
            _checks.key(key)
            keeps[:-1] = self.dropout_keep(key, X.shape[0], dropout, X.dtype)
        a, cache = X, []
        for layer, g, keep in zip(params, self.layer_activations(), keeps):
            z = a @ layer["W"] + layer["b"][None, :]
            a_out = g(z)
            cache.append((a, z, a_out, keep))
            a = a_out if keep is None else a_out * keep
        return a, cache

    def apply(self, params, X, *, dropout=0.0, key=None):
        """The network's output a^(L) for inputs ``X`` of shape (batch, n_in): (batch, n_out).

        With ``dropout`` > 0 and a ``key``, hidden units are dropped as in training (see
        :meth:`forward`); the default evaluates the whole network."""
        return self.forward(params, X, dropout=dropout, key=key)[0]


@partial(jax.jit, static_argnums=(0, 1, 2))
def _draw(net, scheme, dtype, key, scale):
    """:meth:`MLP.init`'s draws as one compiled program per network, scheme and dtype (drawn op
    by op, a 5-layer network compiled a dozen small programs on its first call: seconds)."""
    params = []
    for k, (n_in, n_out) in zip(jax.random.split(key, net.n_layers), net.layer_sizes()):
        kw, kb = jax.random.split(k)
        if scheme == "uniform":
            W = jax.random.uniform(kw, (n_in, n_out), dtype, -1, 1) * scale
            b = jax.random.uniform(kb, (n_out,), dtype, -1, 1) * scale
        else:
            std = {"normal": 1.0, "xavier": math.sqrt(1 / n_in), "he": math.sqrt(2 / n_in)}
            W = jax.random.normal(kw, (n_in, n_out), dtype) * (scale * std[scheme])
            b = jnp.zeros((n_out,), dtype)
        params.append({"W": W, "b": b})
    return params
