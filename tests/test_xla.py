"""fnnet.xla: compiler options and process flags are kept only where the installed jaxlib accepts
them, so that no setting fnnet or its tests ask of XLA can abort the process."""

import doctest
import io
import os
import subprocess
import sys

import jax
import numpy as np
import optax
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


def test_fast_options_widen_vectors_for_programs_without_matrix_products_bitwise_equal():
    """On an AVX-512 CPU, fast_options gives a program without matrix products (the scalar
    layout's sweep of XOR, elementwise over seeds) 512-bit vectors, and its results are bitwise
    equal to XLA's defaults, at XLA's default optimisation level (the suite's own flag would keep
    LLVM from vectorising); a program with matrix products (the matrix layout) keeps the defaults,
    and so does any program within xla_defaults()."""
    X, T = fn.data.logic_gate("xor")
    net = fn.MLP((2, 3, 1), hidden="sigmoid", output="sigmoid")

    def sweep(layout, batch_size):
        def one(key):
            kw = dict(epochs=40, batch_size=batch_size, loss="half_sse", layout=layout)
            state, h = fn.train.fit(net, optax.sgd(0.9, momentum=0.9), key, (X, T), **kw)
            return state.params, h["loss"]

        return jax.vmap(one)

    keys = jax.random.split(jax.random.key(0), 37)  # not a multiple of any vector width
    scalar, matrix = sweep("scalar", 4), sweep("matrix", 2)
    jaxprs = {name: jax.make_jaxpr(f)(keys) for name, f in (("scalar", scalar), ("matrix", matrix))}
    assert "dot_general" in set(xla.primitives(jaxprs["matrix"]))
    assert xla.MATRIX_PRODUCTS.isdisjoint(xla.primitives(jaxprs["scalar"]))
    wide = {"xla_cpu_prefer_vector_width": 512}
    avx512 = "avx512f" in xla.cpu_features()
    assert xla.fast_options(jaxprs["scalar"], "cpu") == (wide if avx512 else {})
    assert xla.fast_options(jaxprs["matrix"], "cpu") == {}
    with xla.xla_defaults():
        assert xla.fast_options(jaxprs["scalar"], "cpu") == {}
    base = {"xla_backend_optimization_level": 3}
    results = [jax.jit(scalar, compiler_options={**base, **x})(keys) for x in ({}, wide)]
    for a, b in zip(*map(jax.tree.leaves, results), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cpu_info_reads_the_first_processor_by_exact_field(monkeypatch):
    text = "processor\t: 0\nvmx flags\t: ept\nflags\t\t: fpu avx2 avx512f\ncpu MHz\t\t: 2450.0\n"
    text += "processor\t: 1\nflags\t\t: fpu\n"
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(text))
    read = xla.cpu_info.__wrapped__  # uncached: this file, not the machine's
    assert read("flags") == "fpu avx2 avx512f"  # not "vmx flags", not the second processor
    assert read("cpu MHz") == "2450.0" and read("model name") == ""


def test_primitives_reach_into_loops_and_nested_jits():
    w = np.ones((3, 3))
    inner = jax.jit(lambda x: x @ w)

    def f(x):
        return jax.lax.scan(lambda c, _: (inner(c), None), x, None, length=2)[0]

    names = set(xla.primitives(jax.make_jaxpr(f)(np.ones(3))))
    assert "dot_general" in names and "scan" in names
    # the program, the scan's body, the inner jit's
    assert len(list(xla.nested_jaxprs(jax.make_jaxpr(f)(np.ones(3))))) >= 3
