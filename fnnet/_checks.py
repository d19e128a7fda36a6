"""Checks of concrete inputs at the library's boundary, each failing with a message that names the
argument, what was expected and what was received. Traced values are never branched on."""

from __future__ import annotations

import importlib
import numbers
import os

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True where ``x`` holds values (not a tracer inside jit/vmap/grad)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def shape_of(x) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def integer(value, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """``value`` as a Python int in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name}: expected an integer {bound}, got {value}")
    return value


def positive(value, name: str):
    """Checks that a concrete scalar hyperparameter (a learning rate) is finite and > 0."""
    if is_concrete(value):
        v = np.asarray(value)
        if not np.issubdtype(v.dtype, np.number):
            raise TypeError(f"{name}: expected a positive number, got {value!r}")
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name}: expected a positive, finite number, got {value!r}")
    return value


def finite(x, name: str):
    """Checks that concrete floating data holds no NaN or infinity."""
    if is_concrete(x):
        v = np.asarray(x)
        if np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
            bad = int(np.size(v) - np.count_nonzero(np.isfinite(v)))
            raise ValueError(
                f"{name}: expected finite values, got {bad} NaN or infinite entr"
                f"{'y' if bad == 1 else 'ies'} out of {v.size}"
            )
    return x


def real(x, name: str):
    """``x`` as an array of real numbers (floating or integer): refuses None, str, bool, complex
    and object data, which NumPy and JAX would otherwise convert or truncate without a word. A
    list or number becomes a jax array."""
    if x is None:
        raise TypeError(f"{name}: expected an array of real numbers, got None")
    given = x
    if not isinstance(x, (jax.Array, np.ndarray)):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{name}: expected an array of real numbers, got {type(given).__name__} ({e})"
            ) from None
    is_key = jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    if is_key or not (
        jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
    ):
        raise TypeError(
            f"{name}: expected an array of real numbers (floating or integer), got dtype {x.dtype}"
        )
    return x if x is given else jnp.asarray(x)


def inputs(x, n_in: int, name: str = "X"):
    """``x`` as an array of real numbers of shape (batch, n_in)."""
    x = real(x, name)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(
            f"{name}: expected shape (batch, {n_in}) for a network with {n_in} inputs, "
            f"got shape {shape_of(x)}"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one example, got shape {shape_of(x)}")
    return x


def targets(t, batch: int, n_out: int, *, labels_allowed: bool, name: str = "T"):
    """``t`` as (batch, n_out) targets, or (batch,) integer labels in [0, n_out) where allowed."""
    t = real(t, name)
    if labels_allowed and jnp.issubdtype(t.dtype, jnp.integer):
        if t.shape != (batch,):
            raise ValueError(
                f"{name}: expected integer class labels of shape ({batch},), got shape "
                f"{shape_of(t)}"
            )
        if is_concrete(t):
            v = np.asarray(t)
            if v.size and (v.min() < 0 or v.max() >= n_out):
                raise ValueError(
                    f"{name}: expected class labels in [0, {n_out}) for a network with {n_out} "
                    f"outputs, got labels from {int(v.min())} to {int(v.max())}"
                )
        return t
    if t.shape != (batch, n_out):
        extra = f" or integer labels of shape ({batch},)" if labels_allowed else ""
        hint = ""
        if not labels_allowed and jnp.issubdtype(t.dtype, jnp.integer) and t.shape == (batch,):
            hint = (
                "; integer class labels need loss='softmax_cross_entropy' (or one-hot targets "
                f"of shape ({batch}, {n_out}))"
            )
        raise ValueError(
            f"{name}: expected shape ({batch}, {n_out}) to match the network's output{extra}, "
            f"got shape {shape_of(t)}{hint}"
        )
    if not jnp.issubdtype(t.dtype, jnp.floating):
        raise TypeError(f"{name}: expected floating targets, got dtype {t.dtype}")
    return t


def batch(network, loss, X, T, name: str | None = None):
    """``X`` (batch, n_in) and ``T`` for ``loss``: (batch, n_out) targets, or (batch,) integer
    labels where the loss is a classification loss, for the :class:`fnnet.MLP` ``network``
    (checked by :meth:`fnnet.MLP.check`). Messages name them ``X`` and ``T``, or, with ``name``
    (the pair's argument), ``name[0]`` and ``name[1]``."""
    x_name, t_name = ("X", "T") if name is None else (f"{name}[0]", f"{name}[1]")
    X = inputs(X, network.n_in, x_name)
    T = targets(T, X.shape[0], network.n_out, labels_allowed=loss.classification, name=t_name)
    return X, T


def pair(value, name: str):
    """``value`` as a pair ``(X, T)``."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f"{name}: expected a pair (X, T), got {type(value).__name__}")
    return tuple(value)


def rate(value, name: str = "dropout"):
    """A dropout rate in [0, 1) (checked where concrete)."""
    if is_concrete(value):
        r = float(value)
        if not 0.0 <= r < 1.0:
            raise ValueError(f"{name}: expected a rate in [0, 1), got {value!r}")
    return value


def derivatives(network, name: str = "net"):
    """Checks that every activation of ``network`` has a useful derivative (not ``step``)."""
    for g in network.layer_activations():
        if g.deriv is None:
            raise ValueError(
                f"{name}: gradient training needs a differentiable activation, got {g.name!r}, "
                "whose derivative is 0 almost everywhere (no gradient reaches the weights); use "
                "'sigmoid', 'tanh' or 'relu', or train a step unit with fnnet.perceptron"
            )
    return network


def optimizer(value, name: str = "optimizer"):
    """``value`` if it is an optax GradientTransformation (has ``init`` and ``update``)."""
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        raise TypeError(
            f"{name}: expected an optax GradientTransformation (with init and update), "
            f"got {type(value).__name__}"
        )
    return value


def key(value, name: str = "key"):
    """``value`` if it is one PRNG key (typed, from ``jax.random.key``, or a legacy uint32[2])."""
    typed = isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key)
    legacy = (
        isinstance(value, (jax.Array, np.ndarray))
        and value.dtype == np.uint32
        and value.shape == (2,)
    )
    if not (typed or legacy):
        got = type(value).__name__
        if hasattr(value, "dtype"):
            got = f"{value.dtype}{list(shape_of(value))}"
        raise TypeError(f"{name}: expected a PRNG key from jax.random.key, got {got}")
    if typed and value.shape != ():
        raise ValueError(f"{name}: expected one PRNG key of shape (), got shape {value.shape}")
    return value


def named(value, table: dict, kind: type, argument: str, what: str):
    """``value`` if it is a ``kind``, else ``table[value]`` for a name; errors list the names.

    ``what`` is the kind's public name (``"fnnet.losses.Loss"``) and what a name is of
    (``"a loss name"``), for messages."""
    if isinstance(value, kind):
        return value
    public = f"fnnet.{kind.__module__.rsplit('.', 1)[-1]}.{kind.__name__}"
    if isinstance(value, str):
        if value in table:
            return table[value]
        raise ValueError(
            f"{argument}: expected one of {', '.join(map(repr, table))} or an {public}, "
            f"got {value!r}"
        )
    raise TypeError(f"{argument}: expected {what} (str) or an {public}, got {type(value).__name__}")


def path(value, name: str = "path") -> str:
    """``value`` as a non-empty file path str (``os.PathLike`` accepted)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a file path (str or os.PathLike), got {value!r}")
    if not value:
        raise ValueError(f"{name}: expected a file path, got ''")
    return value


def require(module: str, package: str, extra: str = "experiments", needed_by: str = "here"):
    """Imports an optional module, or fails naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{package} is needed {needed_by} and is not installed; install fnnet's '{extra}' "
            f"extra: pip install 'fnnet[{extra}]' (or pip install {package})"
        ) from e


def real_scalar(value, name: str):
    """``value`` if it is one real number: a Python int or float, or a 0-d integer or floating
    array (a traced one included: its dtype and shape are known). None, str, bool, complex and
    arrays of another shape are refused, which NumPy and JAX would convert or broadcast."""
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        dtype = value.dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) or not (
            jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
        ):
            raise TypeError(f"{name}: expected a real number, got an array of dtype {dtype}")
        if value.shape != ():
            raise ValueError(
                f"{name}: expected a real number (shape ()), got an array of shape {value.shape}"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r} ({type(value).__name__})")
    return value


def finite_leaves(tree, name: str):
    """Checks that every concrete floating leaf of ``tree`` is finite; a message names the leaf by
    ``name`` and its path, e.g. ``p['w']``."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        finite(leaf, f"{name}{jax.tree_util.keystr(path)}")
    return tree


def binary(t, name: str):
    """Checks that concrete targets or labels ``t`` are all 0 or 1 (NaN is neither)."""
    if is_concrete(t):
        v = np.asarray(t)
        other = v[(v != 0) & (v != 1)]
        if other.size:
            raise ValueError(
                f"{name}: expected every entry 0 or 1, got {other.size} other value"
                f"{'' if other.size == 1 else 's'}, e.g. {other.flat[0].item()!r}"
            )
    return t


def floating_dtype(dtype, name: str = "dtype"):
    """``dtype`` as a floating ``numpy.dtype`` (``jnp.float32``, ``"float64"``, ...)."""
    try:
        parsed = None if dtype is None else jnp.dtype(dtype)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or not jnp.issubdtype(parsed, jnp.floating):
        got = repr(dtype) if parsed is None else f"dtype {parsed}"
        raise TypeError(f"{name}: expected a floating dtype such as jnp.float32, got {got}")
    return parsed


def floating_leaves(tree, name: str):
    """Checks that every leaf of ``tree`` has a floating dtype (traced leaves included); a message
    names the leaf by ``name`` and its path, e.g. ``params[0]['W']``. Parameters must be floating:
    integer ones reach functions that refuse them, complex or bool ones give meaningless outputs."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            got = f"dtype {dtype}" if dtype is not None else type(leaf).__name__
            raise TypeError(
                f"{name}{jax.tree_util.keystr(path)}: expected floating parameters, got {got}"
            )
    return tree
