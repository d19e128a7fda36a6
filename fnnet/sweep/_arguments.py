"""The arguments of a sweep, checked once at :func:`fnnet.sweep.run`'s boundary: the key and each
seed's key, the grid, ``train_one``'s signature, the sweep's name, its folder and its compiler
options."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

from fnnet import _checks
from fnnet.xla import compiler_options as accepted_options

__all__ = [
    "as_key",
    "check_compiler_options",
    "check_grid",
    "check_out",
    "check_train_one",
    "default_name",
    "seed_key",
]

_PASS_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def as_key(key, name: str = "key"):
    """``key`` as a typed scalar PRNG key; a legacy ``jax.random.PRNGKey`` is wrapped."""
    if isinstance(key, jax.Array) and not _checks.is_concrete(key):
        raise TypeError(
            f"{name}: expected a concrete PRNG key (call run outside jit), got a tracer"
        )
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name}: expected one PRNG key of shape (), got shape {key.shape}")
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"{name}: expected a PRNG key from jax.random.key, got {type(key).__name__} "
        f"{getattr(key, 'dtype', '')}{_checks.shape_of(key) if hasattr(key, 'shape') else ''}"
    )


def seed_key(key, i):
    """Seed i's key, ``jax.random.fold_in(key, i)``: the key :func:`run` hands ``train_one``.

    It depends on ``(key, i)`` only, so one seed of a sweep is reproduced alone by
    ``train_one(seed_key(key, i), **hparams)``.

    Examples:
      >>> import jax
      >>> k = seed_key(jax.random.key(0), 3)
      >>> bool(jax.random.key_data(k).tolist() == jax.random.key_data(
      ...     jax.random.fold_in(jax.random.key(0), 3)).tolist())
      True
    """
    if isinstance(i, (jax.Array, np.ndarray, np.generic)):
        if not jnp.issubdtype(i.dtype, jnp.integer) or i.shape != ():
            raise TypeError(f"i: expected one integer seed index, got {i.dtype}{list(i.shape)}")
    else:
        i = _checks.integer(i, "i", minimum=0, maximum=2**32 - 1)
    return jax.random.fold_in(as_key(key), i)


def check_grid(grid) -> dict:
    """``grid`` as a dict name -> non-empty 1-D NumPy array of finite numbers (``{}`` for None).

    Names must be Python identifiers, since they reach ``train_one`` as keyword arguments; values
    must be bool, integer or floating, since they reach it as traced 0-d arrays.
    """
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise TypeError(
            f"grid: expected a dict name -> 1-D array of values, got {type(grid).__name__}"
        )
    checked = {}
    for name, values in grid.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise TypeError(
                f"grid: expected names that are Python identifiers (keyword arguments of "
                f"train_one), got {name!r}"
            )
        checked[name] = _grid_values(name, values)
    return checked


def _grid_values(name: str, values) -> np.ndarray:
    """``grid[name]`` as a non-empty 1-D NumPy array of finite numbers."""
    try:
        v = np.asarray(jax.device_get(values))
    except Exception as e:
        raise TypeError(
            f"grid[{name!r}]: expected a 1-D array of numbers, got {type(values).__name__}"
        ) from e
    if not (
        v.dtype == bool or np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)
    ):
        raise TypeError(
            f"grid[{name!r}]: expected numbers (bool, integer or floating; a choice among "
            f"things that are not numbers can be an integer index), got dtype {v.dtype}"
        )
    if v.ndim != 1 or v.size == 0:
        raise ValueError(
            f"grid[{name!r}]: expected a non-empty 1-D array of values, got shape {v.shape}"
        )
    if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
        raise ValueError(f"grid[{name!r}]: expected finite values, got {v.tolist()}")
    return v


def check_train_one(train_one, names) -> None:
    """Checks that ``train_one`` is a function ``train_one(key, **hparams)`` whose keyword
    arguments are exactly covered by the grid's ``names`` (those with defaults may be left out;
    ``**kwargs`` takes any). Builtins, whose signature Python cannot read, pass unchecked.
    """
    if not callable(train_one):
        raise TypeError(
            f"train_one: expected a function train_one(key, **hparams) -> results, got "
            f"{type(train_one).__name__}"
        )
    try:
        sig = inspect.signature(train_one)
    except (TypeError, ValueError):  # a builtin or C function: nothing to check
        return
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in _POSITIONAL]
    if not positional and not any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        raise TypeError(
            f"train_one: expected a function train_one(key, **hparams) that takes the key as "
            f"its first positional argument, got signature {sig}"
        )
    first = positional[0] if positional else None
    _check_hparams(sig, [p for p in params if p is not first], names)


def _check_hparams(sig: inspect.Signature, rest: list, names) -> None:
    """Checks that the grid's ``names`` cover the parameters ``rest`` of ``train_one`` (all but
    the key) that have no default, and name none that it does not take."""
    by_name = {p.name for p in rest if p.kind in _PASS_BY_NAME}
    if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(
                f"grid: expected names of train_one's keyword arguments {sorted(by_name)}, got "
                f"{unknown} that train_one{sig} does not take"
            )
    missing = [
        p.name
        for p in rest
        if p.default is inspect.Parameter.empty and p.kind not in _VARIADIC and p.name not in names
    ]
    if missing:
        raise ValueError(
            f"grid: train_one{sig} requires {missing}, which grid does not give; expected them "
            f"in grid, or given a default (e.g. with functools.partial)"
        )


def default_name(train_one) -> str:
    """The name a sweep gets where none is given: ``train_one``'s module and qualified name."""
    target = train_one.func if isinstance(train_one, functools.partial) else train_one
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def check_out(out, n_processes: int) -> str | None:
    """``out`` as a path string, or None; several processes need a folder that they share."""
    if out is None:
        if n_processes > 1:
            raise ValueError(
                f"out: a sweep over {n_processes} processes needs a folder that all of them "
                "share, got None"
            )
        return None
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a folder path (str or os.PathLike), got {out!r}")
    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out: expected a folder, got the file {out!r}")
    return out


# fast-math options under which XLA may fold away the sweep's isfinite checks (measured on CPU:
# with both off, every seed of a sweep that returns NaN read as not diverged)
_NAN_CHECKS = ("xla_cpu_fast_math_honor_nans", "xla_cpu_fast_math_honor_infs")


def check_compiler_options(options) -> dict:
    """``options`` (None or a mapping of XLA compiler option names to values) as a dict sorted by
    name, each option one that the installed jaxlib compiles with on JAX's default backend."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"compiler_options: expected a mapping of XLA compiler option names to values (such "
            f"as {{'xla_cpu_enable_fast_math': True}}), got {type(options).__name__}"
        )
    for name, value in options.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"compiler_options: expected option names as strings, got {name!r}")
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(
                f"compiler_options: expected a bool, number or string for {name!r}, got "
                f"{type(value).__name__}"
            )
    for name in _NAN_CHECKS:
        if name in options and not options[name]:
            raise ValueError(
                f"compiler_options: expected {name} left on, got {options[name]!r}: without it "
                f"XLA may assume no NaN or infinity occurs and drop the sweep's own check of "
                f"each seed for them (Results.diverged)"
            )
    kept = accepted_options(options)
    refused = [f"{k}={v!r}" for k, v in options.items() if k not in kept]
    if refused:
        raise ValueError(
            f"compiler_options: expected options that jaxlib {jaxlib.__version__} compiles with "
            f"on {jax.default_backend()}, got {', '.join(refused)}, which it refuses (an unknown "
            f"name or a value of the wrong kind)"
        )
    return dict(sorted(options.items()))
