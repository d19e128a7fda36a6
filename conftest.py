"""Test settings in the spirit of Equinox's: CPU only (with XLA's fastest-compiling settings),
float64 available (unless JAX_ENABLE_X64=0), implicit rank promotion raises (strict dtype
promotion is left off: optax's own arithmetic mixes int counts and floats), warnings are errors
(pyproject), and keys are never reused."""

import os
import zlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # experiments.gpu_check sets "cuda" on a GPU
# float64 available; experiments.gpu_check sets JAX_ENABLE_X64=0 (float32 throughout, as on a GPU)
os.environ.setdefault("JAX_ENABLE_X64", "1")


def _xla_knows(flag):
    """Whether the installed jaxlib has ``flag`` (an unknown flag in XLA_FLAGS aborts the process):
    looks for its name in jaxlib's shared libraries."""
    import importlib.util
    import mmap
    from pathlib import Path

    spec = importlib.util.find_spec("jaxlib")
    if spec is None or spec.origin is None:
        return False
    for lib in Path(spec.origin).parent.glob("*.so"):
        with open(lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(flag.encode()) >= 0:
                return True
    return False


# The suite compiles hundreds of small programs and runs each briefly. LLVM's lowest optimisation
# level compiles them about twice as fast, and XLA:CPU's older loop emitters (instead of its
# fusion emitters) compile small programs about twice as fast again (tests/test_backprop.py:
# 121 s -> 70 s, one process). The tests compare numbers within one process, where every program
# is compiled alike. Subprocesses inherit the flags. Set a flag yourself to override it.
for _flag, _value in [
    ("xla_backend_optimization_level", "0"),
    ("xla_cpu_use_fusion_emitters", "false"),
]:
    if _flag not in os.environ.get("XLA_FLAGS", "") and _xla_knows(_flag):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --{_flag}={_value}".strip()

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
