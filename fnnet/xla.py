"""XLA options that cannot abort the process: compiler options for one program, checked against
the installed jaxlib, and process-wide ``XLA_FLAGS`` proven accepted by a child process.

XLA reads two kinds of settings. A *compiler option* tunes one program
(``jax.jit(f, compiler_options={...})``); an option this jaxlib does not know raises a Python
error when the program compiles. A *process flag* (``XLA_FLAGS="--name=value"``) tunes every
program of the process; a flag this jaxlib does not know kills the process when XLA starts, with
no Python error to catch. Flags come and go between jaxlib releases (``xla_cpu_use_fusion_emitters``
is known to jaxlib 0.10 and refused by 0.12), so nothing asks XLA for one on trust:

- :func:`compiler_options` keeps the options this jaxlib compiles with, each tried once on a
  one-operation program, and drops the others;
- :func:`accepted_flags` keeps the flags a child Python process started with them survives
  (it imports JAX and compiles a one-operation program on the CPU), tried once per process.

fnnet's own programs take compiler options only; the test suite (``conftest.py``) asks for its
process flags through :func:`accepted_flags`.

Examples:
  >>> import jax
  >>> options = compiler_options({"xla_backend_optimization_level": 1, "xla_no_such_option": 1})
  >>> options
  {'xla_backend_optimization_level': 1}
  >>> float(jax.jit(lambda x: x + 1, compiler_options=options)(1.0))
  2.0
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping

import jax
import jax.extend as jex

__all__ = [
    "MATRIX_PRODUCTS",
    "accepted_flags",
    "compiler_options",
    "cpu_features",
    "cpu_info",
    "cpu_vendor",
    "fast_options",
    "nested_jaxprs",
    "primitives",
    "xla_defaults",
]

_PROBE = "import jax; jax.jit(lambda x: x + 1)(1.0).block_until_ready()"


@functools.cache
def _option_accepted(name: str, value, backend: str) -> bool:
    program = jax.jit(lambda x: x + 1, compiler_options={name: value})
    try:
        program.lower(jax.device_put(1.0, jax.local_devices(backend=backend)[0])).compile()
    except Exception:  # jaxlib raises its own runtime error type, which moved between releases
        return False
    return True


def compiler_options(options: Mapping[str, object], backend: str | None = None) -> dict:
    """The entries of ``options`` that this jaxlib compiles with on ``backend`` (default: JAX's
    default backend), in their order; an option it refuses is dropped.

    Each (name, value) is tried once per process on a one-operation program (a few milliseconds).
    Use it for options that only change speed or compile time; an option a result depends on should
    fail loudly instead, so pass it to ``jax.jit`` directly.
    """
    if not isinstance(options, Mapping):
        raise TypeError(
            f"options: expected a mapping of XLA option names to values, got "
            f"{type(options).__name__}"
        )
    backend = backend or jax.default_backend()
    return {k: v for k, v in options.items() if _option_accepted(str(k), v, backend)}


@functools.cache
def cpu_info(field: str) -> str:
    """The value of ``field`` (``model name``, ``vendor_id``, ``cpu MHz``, ``flags``, ...) for the
    first processor in Linux's ``/proc/cpuinfo``; empty where that file or field is not there."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return ""


def cpu_features() -> frozenset:
    """The instruction-set features of this machine's CPU, as Linux names them in
    ``/proc/cpuinfo`` (``avx2``, ``avx512f``, ...); empty where that file is not there."""
    return frozenset(cpu_info("flags").split())


_DEFAULTS_ONLY = contextvars.ContextVar("fnnet_xla_defaults_only", default=False)


@contextlib.contextmanager
def xla_defaults():
    """Within this context :func:`fast_options` is empty: programs that fnnet compiles then use
    XLA's own defaults (the benchmark's baseline rows; a check that an option changes nothing)."""
    token = _DEFAULTS_ONLY.set(True)
    try:
        yield
    finally:
        _DEFAULTS_ONLY.reset(token)


def nested_jaxprs(jaxpr) -> Iterator:
    """A (closed) jaxpr and every (closed) jaxpr in its equations' parameters, at every depth (the
    bodies of loops, conditionals and nested jits), depth first in equation order."""
    yield jaxpr
    inner = jaxpr.jaxpr if isinstance(jaxpr, jex.core.ClosedJaxpr) else jaxpr
    for eqn in inner.eqns:
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if isinstance(sub, (jex.core.ClosedJaxpr, jex.core.Jaxpr)):
                    yield from nested_jaxprs(sub)


def primitives(jaxpr) -> Iterator[str]:
    """The names of the primitives of a (closed) jaxpr, at every depth (:func:`nested_jaxprs`)."""
    for j in nested_jaxprs(jaxpr):
        inner = j.jaxpr if isinstance(j, jex.core.ClosedJaxpr) else j
        yield from (eqn.primitive.name for eqn in inner.eqns)


# XLA:CPU tiles matrix products by the vector width: results may change in the last bits
MATRIX_PRODUCTS = frozenset({"dot_general", "conv_general_dilated"})


def cpu_vendor() -> str:
    """The CPU's vendor as Linux names it in ``/proc/cpuinfo`` (``AuthenticAMD``,
    ``GenuineIntel``, ...); empty where that file is not there."""
    return cpu_info("vendor_id")


def fast_options(jaxpr, backend: str | None = None) -> dict:
    """The per-program compiler options fnnet's compiled program ``jaxpr`` (a closed jaxpr: what
    it computes) gets on ``backend`` (default: JAX's default backend): options that change its
    speed, never its results.

    On a CPU with AVX-512, for a program without matrix products (no ``dot_general`` or
    convolution at any depth, as in the scalar layout's sweeps of small networks),
    ``xla_cpu_prefer_vector_width=512``: XLA:CPU prefers 256-bit vectors by default and so leaves
    half of each AVX-512 register unused in elementwise arithmetic (``python -m
    experiments.benchmark``, rows ``sweep_plain`` against ``sweep_plain_xla_defaults``). There the
    results are bitwise equal to XLA's defaults (``tests/test_xla.py``); programs with matrix
    products keep XLA's defaults, since the option changed the last bits of some of them (an
    Adagrad MLP, an autoencoder, float64 central differences). Elsewhere none. Options this
    jaxlib does not know are dropped (:func:`compiler_options`); none within
    :func:`xla_defaults`.
    """
    backend = backend or jax.default_backend()
    wanted = {}
    avx512 = backend == "cpu" and "avx512f" in cpu_features()
    if avx512 and not _DEFAULTS_ONLY.get() and MATRIX_PRODUCTS.isdisjoint(primitives(jaxpr)):
        wanted["xla_cpu_prefer_vector_width"] = 512
    return compiler_options(wanted, backend)


def _flag(name: str, value: str) -> str:
    return f"--{name}={value}"


def _survives(flags: list[str]) -> bool:
    """Whether a child Python process with ``flags`` added to ``XLA_FLAGS`` starts XLA and
    compiles a one-operation program on the CPU."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = " ".join([env.get("XLA_FLAGS", ""), *flags]).strip()
    child = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=300, check=False
    )
    return child.returncode == 0


@functools.cache
def _accepted(flags: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if _survives([_flag(*f) for f in flags]):  # the usual case: one child for all
        return flags
    return tuple(f for f in flags if _survives([_flag(*f)]))


def accepted_flags(flags: Mapping[str, object]) -> dict:
    """The entries of ``flags`` (XLA flag names without ``--``, and values) that the installed
    jaxlib accepts in ``XLA_FLAGS``, in their order.

    Proven, not guessed: a child Python process starts with the flags added to this process's
    ``XLA_FLAGS`` and compiles a one-operation program on the CPU; where it dies, each flag is
    tried alone. Once per process for the same flags (about a second a child). Call it before
    JAX starts its backends, then set ``os.environ["XLA_FLAGS"]`` from the result: a flag set
    after that does not apply to this process.
    """
    if not isinstance(flags, Mapping):
        raise TypeError(
            f"flags: expected a mapping of XLA flag names to values, got {type(flags).__name__}"
        )
    for name in flags:
        if not isinstance(name, str) or not name or name.startswith("-") or "=" in name:
            raise ValueError(
                f"flags: expected flag names without leading '--' or '=', such as "
                f"'xla_backend_optimization_level', got {name!r}"
            )
    given = tuple((k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in flags.items())
    kept = set(_accepted(given))
    return {k: flags[k] for k, text in given if (k, text) in kept}
