"""fnnet.xla: compiler options and process flags are kept only where the installed jaxlib accepts
them, so that no setting fnnet or its tests ask of XLA can abort the process."""

import doctest
import os
import subprocess
import sys

import jax
import pytest

import fnnet as fn
from fnnet import xla


def test_compiler_options_keep_what_compiles_and_drop_the_rest():
    kept = xla.compiler_options({"xla_no_such_option": 1, "xla_backend_optimization_level": 0})
    assert kept == {"xla_backend_optimization_level": 0}
    # what was kept compiles; what was dropped would have raised at compile time
    assert float(jax.jit(lambda x: x * 2, compiler_options=kept)(2.0)) == 4.0
    with pytest.raises(Exception, match="xla_no_such_option"):
        jax.jit(lambda x: x * 3, compiler_options={"xla_no_such_option": 1}).lower(1.0).compile()
    assert xla.compiler_options({}) == {}
    with pytest.raises(TypeError, match=r"options: expected a mapping .*got list"):
        xla.compiler_options(["xla_backend_optimization_level"])


def test_an_unknown_flag_kills_a_process_and_accepted_flags_drops_it():
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_no_such_flag=1")
    child = subprocess.run([sys.executable, "-c", xla._PROBE], env=env, capture_output=True)
    assert child.returncode != 0 and b"xla_no_such_flag" in child.stderr
    wanted = {"xla_no_such_flag": 1, "xla_backend_optimization_level": 0, "xla_dump_to": "/x"}
    kept = xla.accepted_flags(wanted)
    assert kept == {"xla_backend_optimization_level": 0, "xla_dump_to": "/x"}
    assert list(kept) == ["xla_backend_optimization_level", "xla_dump_to"]  # in the given order
    assert xla.accepted_flags({"xla_backend_optimization_level": 1}) == {
        "xla_backend_optimization_level": 1
    }


@pytest.mark.parametrize("name", ["--xla_dump_to", "xla_dump_to=/x", "", 3])
def test_accepted_flags_refuse_what_is_not_a_flag_name(name):
    with pytest.raises(ValueError, match=r"flags: expected flag names .*got"):
        xla.accepted_flags({name: 1})
    with pytest.raises(TypeError, match=r"flags: expected a mapping .*got str"):
        xla.accepted_flags("--xla_dump_to=/x")


def test_module_example_runs():
    failed, attempted = doctest.testmod(fn.xla)
    assert attempted > 0 and failed == 0
