"""Greedy layer-wise unsupervised pre-training with autoencoders (Bengio et al. 2007, "Greedy
layer-wise training of deep networks"; Hinton and Salakhutdinov 2006 used RBMs).

One of the lecture's remedies for "learning is hard": before supervised training, each hidden
layer in turn learns to reconstruct its own input. Layer 1 is the encoder of an autoencoder
x -> h = g(x W1 + b1) -> x' = d(h V + c), trained to make x' close to x (MSE); its codes h are the
input on which layer 2's autoencoder is trained, and so on. The encoders become the deep network's
initial hidden layers; the output layer starts from the usual random init; ``fit(..., init=)``
then fine-tunes the whole network on the labels.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnnet import _checks, train
from fnnet.mlp import INIT_SCHEMES, MLP

__all__ = ["autoencoders"]

_ADAM = optax.adam(1e-3)  # one object, so that repeated calls reuse fit's compiled program


def _init(ae: MLP, scheme: str, dtype, key):
    return ae.init(key, scheme, dtype=dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32)


def autoencoders(
    net: MLP,
    key,
    X,
    *,
    epochs: int = 10,
    batch_size: int = 100,
    optimizer=None,
    init_scheme: str | None = None,
):
    """Pre-trains ``net``'s hidden layers greedily as autoencoders on the unlabelled inputs ``X``.

    Each autoencoder is ``MLP((n_l, n_{l+1}, n_l), hidden=net.hidden, output=d)`` trained with MSE
    for ``epochs`` epochs; its decoder output ``d`` is ``"sigmoid"`` where the inputs it
    reconstructs lie in [0, 1] and ``"identity"`` otherwise: for the deeper layers that follows
    from ``net.hidden`` (a sigmoid layer's codes lie in [0, 1]), for the first from ``X`` (in
    [0, 1] when concrete and inside; standardised data gets ``"identity"``). The choice depends on
    nothing traced, so ``jax.vmap`` over ``key`` trains the same autoencoders.

    Args:
      net: the deep network to initialise (at least one hidden layer).
      key: PRNG key.
      X: (n, n_in) training inputs (no labels).
      epochs: of each autoencoder's training.
      batch_size: of each autoencoder's training.
      optimizer: optax optimizer (default ``optax.adam(1e-3)``, one shared object).
      init_scheme: for the autoencoders and the output layer (default: ``net.init``'s).

    Returns:
      ``(params, losses)``: parameters for ``net`` (pre-trained hidden layers, a freshly drawn
      output layer) and, per hidden layer, its reconstruction loss per epoch (epochs,).
    """
    MLP.check(net)
    if net.n_layers < 2:
        raise ValueError(f"net: expected at least one hidden layer, got sizes {net.sizes}")
    _checks.key(key)
    X = _checks.finite(_checks.inputs(X, net.n_in), "X")
    if init_scheme is not None and (
        not isinstance(init_scheme, str) or init_scheme not in INIT_SCHEMES
    ):
        raise (ValueError if isinstance(init_scheme, str) else TypeError)(
            f"init_scheme: expected None or one of {', '.join(map(repr, INIT_SCHEMES))}, "
            f"got {init_scheme!r}"
        )
    optimizer = _ADAM if optimizer is None else optimizer
    k_out, *k_layers = jax.random.split(key, net.n_layers)
    params, curves = [], []
    h = X
    for l, k in enumerate(k_layers):
        n_l, n_next = net.sizes[l], net.sizes[l + 1]
        if l == 0:
            # NumPy on concrete data: under jit, jnp would stage the test as a traced value
            inside = _checks.is_concrete(X) and bool(
                np.all((np.asarray(X) >= 0) & (np.asarray(X) <= 1))
            )
        else:
            inside = net.hidden.name == "sigmoid"
        ae = MLP((n_l, n_next, n_l), hidden=net.hidden, output="sigmoid" if inside else "identity")
        state, hist = train.fit(
            ae,
            optimizer,
            k,
            (h, h),
            epochs=epochs,
            batch_size=min(batch_size, h.shape[0]),
            loss="mse",
            init=None if init_scheme is None else partial(_init, ae, init_scheme, h.dtype),
        )
        params.append(state.params[0])
        curves.append(hist["loss"])
        h = ae.hidden(h @ state.params[0]["W"] + state.params[0]["b"][None, :])
    dtype = params[0]["W"].dtype
    params.append(net.init(k_out, init_scheme, dtype=dtype)[-1])
    return params, curves
