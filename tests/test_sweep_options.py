"""fnnet.sweep.run's compiler_options: options that may change results are an explicit opt-in,
checked against the installed jaxlib, stored in the sweep's settings, and never allowed to hide
diverged seeds."""

import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
import fnnet.sweep as sweep

FAST = {"xla_cpu_enable_fast_math": True}
NET = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")


def xor(key):
    state, history = fn.train.fit(
        NET,
        optax.sgd(0.5),
        key,
        fn.data.logic_gate("xor"),
        epochs=200,
        batch_size=4,
        loss="half_sse",
        record=fn.train.Record(history="final"),
    )
    return {"loss": history["loss"]}


def nan_roots(key):
    """Square roots of negative numbers: every seed diverged."""
    return {"v": jnp.sqrt(jax.random.uniform(key, (4,)) - 2.0)}


def _run(train_one, n_seeds=64, **kwargs):
    return sweep.run(train_one, n_seeds, progress=False, **kwargs)


pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's options")


def test_fast_math_is_an_opt_in_that_trains_as_the_default_does_to_rounding(tmp_path):
    default = _run(xor)
    fast = _run(xor, compiler_options=FAST, out=tmp_path)
    np.testing.assert_allclose(fast.values["loss"], default.values["loss"], rtol=1e-3, atol=1e-5)
    assert sweep.status(tmp_path).settings["compiler_options"] == FAST
    said = subprocess.run(
        [sys.executable, "-m", "fnnet.sweep", "status", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "compiler options: xla_cpu_enable_fast_math=True" in said
    assert "compiler_options" not in _run(xor, out=tmp_path / "plain").settings
    # a folder computed with other options is refused, naming the difference
    message = 'compiler_options: stored {"xla_cpu_enable_fast_math": true}, given null'
    with pytest.raises(ValueError, match=re.escape(message)):
        _run(xor, out=tmp_path)
    # fast math keeps the NaN checks: every seed still reads as diverged
    assert _run(nan_roots, 8, compiler_options=FAST).diverged.all()


def test_bad_compiler_options_are_named():
    cases = [
        ([("a", 1)], TypeError, "compiler_options: expected a mapping of XLA compiler option"),
        ({1: True}, TypeError, "compiler_options: expected option names as strings, got 1"),
        (
            {"xla_cpu_enable_fast_math": [True]},
            TypeError,
            "compiler_options: expected a bool, number or string for "
            "'xla_cpu_enable_fast_math', got list",
        ),
        (
            {"xla_no_such_option": 1},
            ValueError,
            "compiler_options: expected options that jaxlib .* compiles with on cpu, got "
            "xla_no_such_option=1, which it refuses",
        ),
        (
            {**FAST, "xla_cpu_fast_math_honor_nans": False},
            ValueError,
            "compiler_options: expected xla_cpu_fast_math_honor_nans left on, got False",
        ),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            _run(nan_roots, 8, compiler_options=options)
