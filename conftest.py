"""Test settings in the spirit of Equinox's: CPU only (at XLA's fastest-compiling backend level),
float64 available, implicit rank promotion raises (strict dtype promotion is left off: optax's own
arithmetic mixes int counts and floats), warnings are errors (pyproject), and keys are never
reused."""

import os
import zlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # experiments.gpu_check sets "cuda" on a GPU
# The suite compiles hundreds of small programs and runs each briefly: LLVM's lowest optimisation
# level compiles them about twice as fast (the tests compare numbers within one process, where
# every program is compiled alike). Subprocesses inherit it. Set the flag yourself to override.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    os.environ["XLA_FLAGS"] = flags.strip()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_platforms", os.environ["JAX_PLATFORMS"])
jax.config.update("jax_enable_x64", True)
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
