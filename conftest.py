"""Test settings in the spirit of Equinox's: CPU only, float64 available, implicit rank promotion
raises (strict dtype promotion is left off: optax's own arithmetic mixes int counts and floats), warnings are errors (pyproject), and keys are never reused."""

import os
import zlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_platforms", "cpu")
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
