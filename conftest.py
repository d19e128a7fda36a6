"""Test settings in the spirit of Equinox's: CPU only (with XLA's fastest-compiling settings),
float64 available (unless JAX_ENABLE_X64=0), implicit rank promotion raises (strict dtype
promotion is left off: optax's own arithmetic mixes int counts and floats), warnings are errors
(pyproject), and keys are never reused."""

import os
import zlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # experiments.gpu_check sets "cuda" on a GPU
# float64 available; experiments.gpu_check sets JAX_ENABLE_X64=0 (float32 throughout, as on a GPU)
os.environ.setdefault("JAX_ENABLE_X64", "1")


# The suite compiles hundreds of small programs and runs each briefly. LLVM's lowest optimisation
# level compiles them about twice as fast, and XLA:CPU's older loop emitters (instead of its
# fusion emitters; jaxlib 0.12 has only the latter) compile small programs about twice as fast
# again. The tests compare numbers within one process, where every program is compiled alike.
# An unknown flag in XLA_FLAGS kills the process, so each is proven accepted by a child process
# first (fnnet.xla.accepted_flags); pytest-xdist's workers inherit the result. Set a flag
# yourself to override it.
_WANTED = {"xla_backend_optimization_level": "0", "xla_cpu_use_fusion_emitters": "false"}
_WANTED = {k: v for k, v in _WANTED.items() if k not in os.environ.get("XLA_FLAGS", "")}
if _WANTED and "PYTEST_XDIST_WORKER" not in os.environ:
    from fnnet import xla as _xla  # imports JAX; XLA reads XLA_FLAGS later, when it starts

    _flags = [f"--{k}={v}" for k, v in _xla.accepted_flags(_WANTED).items()]
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *_flags]).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_platforms", os.environ["JAX_PLATFORMS"])
jax.config.update("jax_enable_x64", os.environ["JAX_ENABLE_X64"].lower() in ("1", "true"))
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey(request):
    """Hands out a fresh PRNG key on every call, seeded from the test's name (reproducible)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    state = {"key": jax.random.key(seed)}

    def next_key():
        state["key"], key = jax.random.split(state["key"])
        return key

    return next_key
