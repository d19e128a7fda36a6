import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
from fnnet import layout

CASES = [
    ((2, 2, 1), "sigmoid", "sigmoid", "half_sse"),
    ((3, 4, 2), "tanh", "sigmoid", "mse"),
    ((3, 4, 5, 3), "relu", "identity", "softmax_cross_entropy"),
]


def _batch(sizes, loss, key, dtype=jnp.float64):
    kx, kt = jax.random.split(key)
    X = jax.random.normal(kx, (5, sizes[0]), dtype)
    if loss == "softmax_cross_entropy":
        return X, jax.random.randint(kt, (5,), 0, sizes[-1])
    return X, jax.random.uniform(kt, (5, sizes[-1]), dtype)


def test_unstack_restack_round_trip(getkey):
    net = fn.MLP((3, 4, 2))
    p = net.init(getkey())
    sp = layout.unstack(p)
    assert len(jax.tree.leaves(sp)) == net.n_params
    assert all(leaf.shape == () for leaf in jax.tree.leaves(sp))
    chex.assert_trees_all_equal(layout.restack(sp), p)


GRADS = [
    pytest.param(fn.backprop.value_and_grad, id="backprop"),
    pytest.param(fn.backprop.autodiff, id="autodiff"),
]


@pytest.mark.parametrize("sizes, hidden, output, loss", CASES)
@pytest.mark.parametrize("grads", GRADS)
def test_scalar_gradients_equal_matrix_backprop_and_jax_grad(sizes, hidden, output, loss, grads):
    net = fn.MLP(sizes, hidden=hidden, output=output)
    p = net.init(jax.random.key(0), dtype=jnp.float64)
    X, T = _batch(sizes, loss, jax.random.key(1))
    vg = layout.scalar.value_and_grad(net, grads, fn.losses.get(loss))

    @jax.jit
    def both(p, X, T):
        ref = jax.value_and_grad(lambda q: fn.losses.get(loss)(net.apply(q, X), T))(p)
        v, g = vg(layout.unstack(p), X, T, None)
        return ref, (v, layout.restack(g))

    (v_ref, g_ref), (v, g) = both(p, X, T)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12)
    chex.assert_trees_all_close(g, g_ref, rtol=1e-10, atol=1e-14)


def test_scalar_apply_equals_net_apply(getkey):
    net = fn.MLP((3, 4, 2), hidden="tanh")
    p = net.init(getkey(), dtype=jnp.float64)
    X, _ = _batch((3, 4, 2), "mse", getkey())
    a = layout.scalar.apply(net, layout.unstack(p), X)
    assert a.shape == (5, 2)
    np.testing.assert_allclose(a, net.apply(p, X), rtol=1e-13)
    chex.assert_trees_all_equal(layout.matrix.apply(net, p, X), net.apply(p, X))


@pytest.mark.parametrize("grads", GRADS)
def test_fit_in_both_layouts_agrees_and_returns_matrix_state(grads):
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.adam(0.05)  # a state with two moment trees and a count

    @jax.jit
    def both(key):
        return [
            fn.train.fit(
                net, opt, key, (X, T), epochs=50, batch_size=4, loss="mse", grads=grads, layout=lay
            )
            for lay in ("matrix", "scalar")
        ]

    (s_m, h_m), (s_s, h_s) = both(jax.random.key(3))
    chex.assert_trees_all_equal_structs(s_m, s_s)
    chex.assert_trees_all_close(s_s, s_m, rtol=1e-9, atol=1e-12)
    chex.assert_trees_all_close(h_s, h_m, rtol=1e-9, atol=1e-12)


def test_fit_scalar_layout_with_minibatches_and_labels():
    net = fn.MLP((3, 4, 3), hidden="tanh", output="identity")
    X, T = _batch((3, 4, 3), "softmax_cross_entropy", jax.random.key(4))
    X = jnp.concatenate([X, X + 1.0])
    T = jnp.concatenate([T, T])
    opt = optax.sgd(0.1, momentum=0.9)

    @jax.jit
    def both(key):
        return [
            fn.train.fit(
                net,
                opt,
                key,
                (X, T),
                epochs=20,
                batch_size=3,
                loss="softmax_cross_entropy",
                layout=lay,
            )
            for lay in ("matrix", "scalar")
        ]

    (s_m, h_m), (s_s, h_s) = both(jax.random.key(5))
    chex.assert_trees_all_close(s_s.params, s_m.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h_s["loss"], h_m["loss"], rtol=1e-9)


def test_auto_bound_for_tanh_on_amd_cpus(monkeypatch):
    sigmoid = fn.MLP((2, 8, 1), hidden="sigmoid", output="sigmoid")  # 33 parameters
    tanh = fn.MLP((2, 8, 1), hidden="tanh", output="identity")
    vg = fn.backprop.value_and_grad
    assert layout._amd() == (fn.xla.cpu_vendor() == "AuthenticAMD")  # this machine's vendor
    for narrow in (False, True):
        monkeypatch.setattr(layout, "_amd", lambda narrow=narrow: narrow)
        assert layout.max_scalar_work(sigmoid) == layout.MAX_SCALAR_WORK
        expected = layout.MAX_SCALAR_WORK_TANH_AMD if narrow else layout.MAX_SCALAR_WORK
        assert layout.max_scalar_work(tanh) == expected
        # 2-8-1 at batch 4 (work 132): scalar for sigmoid, for tanh only on a CPU not AMD's
        assert layout.choose("auto", sigmoid, "mse", vg, 4) is layout.scalar
        want = layout.matrix if narrow else layout.scalar
        assert layout.choose("auto", tanh, "mse", vg, 4) is want
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert layout.max_scalar_work(tanh) == layout.MAX_SCALAR_WORK  # a CPU bound only


def test_choose():
    small, big = fn.MLP((2, 2, 1)), fn.MLP((64, 100, 10))
    vg = fn.backprop.value_and_grad
    assert layout.choose("auto", small, "mse", vg, 4) is layout.scalar
    assert layout.choose("auto", big, "mse", vg, 4) is layout.matrix
    assert layout.choose("auto", small, "mse", vg, 1000) is layout.matrix
    assert layout.choose("matrix", small, "mse", vg, 4) is layout.matrix
    assert layout.choose("scalar", small, "mse", vg, 1000) is layout.scalar  # asked for: granted
    assert layout.choose(layout.matrix, small, "mse", vg, 4) is layout.matrix
    # the bound is n_examples × n_params <= max_scalar_work (small has 9 parameters)
    n = layout.max_scalar_work(small) // small.n_params
    assert layout.choose("auto", small, "mse", vg, n) is layout.scalar
    assert layout.choose("auto", small, "mse", vg, n + 1) is layout.matrix
    custom = fn.losses.Loss("custom", fn.losses.mse.value, fn.losses.mse.grad)
    assert layout.choose("auto", small, custom, vg, 4) is layout.matrix
    ((name, why),) = layout.explain("auto", small, custom, vg, 4).passed_over
    assert name == "scalar" and why.startswith("needs a loss with a per-example")
    assert layout.explain("matrix", small, custom, vg, 4).passed_over == ()
    why = dict(layout.explain("auto", small, "mse", vg, n + 1).passed_over)["scalar"]
    bound = layout.max_scalar_work(small)
    assert why == f"n_examples × n_params = {n + 1} × 9 is above max_scalar_work(net) = {bound}"
    with pytest.raises(ValueError, match="^layout: 'scalar' needs a loss with a per-example form"):
        layout.choose("scalar", small, custom, vg, 4)
    with pytest.raises(
        ValueError, match="^layout: expected 'auto', 'matrix', 'scalar', 'fused' or an"
    ):
        layout.choose("rows", small, "mse", vg, 4)


def test_dropout_runs_in_the_matrix_layout_only():
    small = fn.MLP((2, 2, 1))
    drop = fn.backprop.dropout(0.5)
    choice = layout.explain("auto", small, "mse", drop, 4)
    assert choice.layout is layout.matrix
    assert str(choice).startswith(
        "matrix (not 'scalar': runs fnnet.backprop.value_and_grad and fnnet.backprop.autodiff "
        "without dropout, or a gradient function that declares a 'scalar' form"
    )
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.1)
    with pytest.raises(ValueError, match="^layout: 'scalar' runs .* without dropout"):
        fn.train.fit(
            small,
            opt,
            jax.random.key(0),
            (X, T),
            epochs=1,
            batch_size=4,
            grads=drop,
            layout="scalar",
        )

    @jax.jit
    def both(key):
        return [
            fn.train.fit(small, opt, key, (X, T), epochs=10, batch_size=2, grads=drop, layout=lay)
            for lay in ("auto", "matrix")
        ]

    (s_a, h_a), (s_m, h_m) = both(jax.random.key(1))
    chex.assert_trees_all_equal(s_a, s_m)  # auto ran the matrix layout: the very same numbers
    chex.assert_trees_all_equal(h_a, h_m)


def test_a_loss_without_per_example_form_runs_in_the_matrix_layout():
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    custom = fn.losses.Loss("custom_mse", fn.losses.mse.value, fn.losses.mse.grad)
    with pytest.raises(ValueError, match="^layout: 'scalar' needs a loss with a per-example form"):
        fn.train.fit(
            net,
            opt,
            jax.random.key(0),
            (X, T),
            epochs=1,
            batch_size=4,
            loss=custom,
            layout="scalar",
        )

    @jax.jit
    def runs(key):
        kw = dict(epochs=30, batch_size=4)
        return [
            fn.train.fit(net, opt, key, (X, T), loss=custom, layout="auto", **kw),
            fn.train.fit(net, opt, key, (X, T), loss="mse", layout="matrix", **kw),
        ]

    (s_c, h_c), (s_m, h_m) = runs(jax.random.key(2))
    chex.assert_trees_all_equal(s_c, s_m)  # auto took matrix: bitwise the built-in mse's run
    chex.assert_trees_all_equal(h_c, h_m)


@pytest.mark.parametrize("lay", ["matrix", "scalar"])
def test_fit_autodiff_equals_backprop_in_each_layout(lay):
    net = fn.MLP((2, 3, 1), hidden="tanh")
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.adam(0.05)

    @jax.jit
    def both(key):
        return [
            fn.train.fit(net, opt, key, (X, T), epochs=30, batch_size=2, grads=g, layout=lay)
            for g in (fn.backprop.value_and_grad, fn.backprop.autodiff)
        ]

    (s_b, h_b), (s_a, h_a) = both(jax.random.key(6))
    chex.assert_trees_all_close(s_a, s_b, rtol=1e-10, atol=1e-12)
    chex.assert_trees_all_close(h_a, h_b, rtol=1e-10, atol=1e-12)
    assert not np.allclose(h_b["loss"][0], h_b["loss"][-1])  # it did train


# -- a third layout, built outside fnnet: the weights held transposed, W^T (n_out, n_in) ----------

_USED = []  # what the custom layout was asked to do, recorded at trace time


def _transposed(net, tree):
    like = [{"W": 0, "b": 0} for _ in net.layer_sizes()]
    flip = lambda p: [{"W": layer["W"].T, "b": layer["b"]} for layer in p]  # noqa: E731
    return layout.map_params(flip, tree, like)


def _enter(net, tree):
    _USED.append("enter")
    return _transposed(net, tree)


def _leave(net, tree):
    _USED.append("leave")
    return _transposed(net, tree)


def _transposed_value_and_grad(net, grads, loss):
    matrix_vg = layout.matrix.value_and_grad(net, grads, loss)

    def f(params_t, X, T, key):
        _USED.append("value_and_grad")
        value, g = matrix_vg(_transposed(net, params_t), X, T, key)
        return value, _transposed(net, g)

    return f


TRANSPOSED = layout.Layout(
    name="transposed",
    enter=_enter,
    leave=_leave,
    value_and_grad=_transposed_value_and_grad,
    apply=lambda net, params_t, X: net.apply(_transposed(net, params_t), X),
)


def test_a_new_layout_is_a_new_value():
    net = fn.MLP((3, 4, 2), hidden="tanh")
    X, T = _batch((3, 4, 2), "mse", jax.random.key(7))
    X, T = jnp.concatenate([X, X - 1.0]), jnp.concatenate([T, T])
    opt = optax.adam(0.05)  # moment trees shaped like the parameters enter the layout too
    record = fn.train.Record(eval_data=(X[:3], T[:3]))
    assert layout.choose(TRANSPOSED, net, "mse") is TRANSPOSED
    _USED.clear()

    @jax.jit
    def both(key):
        return [
            fn.train.fit(net, opt, key, (X, T), epochs=15, batch_size=5, record=record, layout=lay)
            for lay in (TRANSPOSED, "matrix")
        ]

    (s_t, h_t), (s_m, h_m) = both(jax.random.key(8))
    assert {"enter", "leave", "value_and_grad"} <= set(_USED)  # fit ran the custom layout
    chex.assert_trees_all_equal_shapes(s_t, s_m)  # state comes back in the matrix layout
    chex.assert_trees_all_close(s_t, s_m, rtol=1e-12, atol=1e-14)
    chex.assert_trees_all_close(h_t, h_m, rtol=1e-12, atol=1e-14)
    assert not np.allclose(h_m["loss"][0], h_m["loss"][-1])
    # what a layout declares it cannot run is refused by its name, saying why
    picky = TRANSPOSED._replace(name="picky", supports=layout.Supports(minibatches=False))
    one = dict(epochs=1, batch_size=5)
    with pytest.raises(ValueError, match="^layout: 'picky' runs full-batch training .*=5"):
        fn.train.fit(net, opt, jax.random.key(0), (X, T), layout=picky, **one)
    old_style = picky._replace(supports=lambda net, loss, grads: None)  # a function: not data
    with pytest.raises(TypeError, match="^layout.supports: expected an fnnet.layout.Supports"):
        fn.train.fit(net, opt, jax.random.key(0), (X, T), layout=old_style, **one)


def test_history_final_equals_the_last_epoch_and_solved_is_the_first_epoch():
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    crit = lambda a, T: jnp.all(jnp.abs(a - T) < 0.4)  # noqa: E731
    err = lambda p: {"max_error": jnp.max(jnp.abs(net.apply(p, X) - T))}  # noqa: E731
    init = lambda k: net.init(k, "uniform", 0.5, dtype=jnp.float64)  # noqa: E731
    kw = dict(epochs=600, batch_size=4, loss="half_sse", init=init)

    @jax.jit
    def both(key):
        return [
            fn.train.fit(
                net, opt, key, (X, T), record=fn.train.Record(h, metrics=err, solved=crit), **kw
            )
            for h in ("epoch", "final")
        ]

    (s_e, h_e), (s_f, h_f) = both(jax.random.key(1))
    chex.assert_trees_all_close(s_f, s_e)
    for name in ("loss", "train_accuracy", "max_error"):
        assert h_f[name].shape == ()
        np.testing.assert_allclose(h_f[name], h_e[name][-1])
    first = int(np.argmax(np.asarray(h_e["max_error"]) < 0.4)) + 1
    assert np.asarray(h_e["max_error"]).min() < 0.4  # this seed solves XOR in 600 epochs
    assert int(h_e["epoch_solved"]) == int(h_f["epoch_solved"]) == first


def test_fit_rejects_bad_layout_history_solved(getkey):
    X, T = fn.data.logic_gate("xor")
    net, opt = fn.MLP((2, 2, 1)), optax.sgd(0.1)
    Record = fn.train.Record
    for kw, err, match in [
        ({"layout": "rows"}, ValueError, "^layout:"),
        ({"layout": 3}, ValueError, "^layout:"),
        (
            {"record": Record(history="all")},
            ValueError,
            "^record.history: expected one of 'epoch', 'final'",
        ),
        ({"record": Record(solved=0.4)}, TypeError, "^record.solved: expected a function"),
    ]:
        with pytest.raises(err, match=match):
            fn.train.fit(net, opt, getkey(), (X, T), epochs=1, batch_size=4, **kw)


def test_progress_chunks_carry_solved_and_final_history(capsys):
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    crit = lambda a, T: jnp.all(jnp.abs(a - T) < 0.4)  # noqa: E731
    kw = dict(
        epochs=450,
        batch_size=4,
        loss="half_sse",
        init=lambda k: net.init(k, "uniform", 0.5, dtype=jnp.float64),
        record=fn.train.Record(history="final", solved=crit),
    )
    s1, h1 = fn.train.fit(net, opt, jax.random.key(1), (X, T), **kw)
    s2, h2 = fn.train.fit_with_progress(net, opt, jax.random.key(1), (X, T), **kw)
    assert int(h1["epoch_solved"]) > 0
    assert int(h2["epoch_solved"]) == int(h1["epoch_solved"])
    chex.assert_trees_all_close(s2.params, s1.params, rtol=1e-10)
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-10)
    assert set(h2) == set(h1) and h2["loss"].shape == ()
    chex.assert_trees_all_close(h2, h1, rtol=1e-10)
    err = capsys.readouterr().err
    assert "450/450" in err and "fit 2-2-1" in err


def test_progress_under_jit_runs_as_fit():
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    kw = dict(epochs=20, batch_size=2, loss="half_sse")
    s1, h1 = jax.jit(lambda k: fn.train.fit_with_progress(net, opt, k, (X, T), **kw))(
        jax.random.key(3)
    )
    s2, h2 = fn.train.fit(net, opt, jax.random.key(3), (X, T), **kw)
    chex.assert_trees_all_close(s1, s2, rtol=1e-10)
    chex.assert_trees_all_close(h1, h2, rtol=1e-10)


def test_known_data_is_compiled_in_with_inputs_0_and_1_folded():
    """On a full batch of concrete data the scalar layout compiles the data points in and drops
    the products with inputs 0 and 1 (XOR's are all 0 or 1): fewer multiplications, and the same
    training as with the data passed as a traced argument."""
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, T = fn.data.logic_gate("xor")
    loss = fn.losses.get("half_sse")
    sp = layout.unstack(net.init(jax.random.key(0), "uniform", 0.5))

    def muls(X):
        jaxpr = jax.make_jaxpr(lambda sp, X: fn.scalar_layout.backprop(net, sp, X, T, loss))
        return str(jaxpr(sp, X)).count(" mul ")

    folded = jax.make_jaxpr(lambda sp: fn.scalar_layout.backprop(net, sp, np.asarray(X), T, loss))
    assert str(folded(sp)).count(" mul ") < muls(jnp.asarray(X))
    kw = dict(
        epochs=60,
        batch_size=4,
        loss="half_sse",
        layout="scalar",
        record=fn.train.Record(history="final"),
        init=lambda k: net.init(k, "uniform", 1.0),
    )
    key = jax.random.key(1)
    known = fn.train.fit(net, optax.sgd(2.0), key, (X, T), **kw)
    traced = jax.jit(lambda X, T: fn.train.fit(net, optax.sgd(2.0), key, (X, T), **kw))(X, T)
    chex.assert_trees_all_close(known, traced, rtol=1e-5, atol=1e-6)
    # the scalar layout's engine compiles a full batch of concrete data in, not minibatches
    assert layout.scalar.engine is fn.loop.scan_known
    setup = fn.loop.Setup(
        net, optax.sgd(2.0), loss, fn.backprop.value_and_grad, 4, layout.scalar, fn.train.Record()
    )
    assert fn.loop.known_data(setup, np.asarray(X), np.asarray(T)) is not None
    assert fn.loop.known_data(setup._replace(batch_size=2), np.asarray(X), np.asarray(T)) is None
    assert fn.loop.known_data(setup, jnp.asarray(X), jnp.asarray(T)) is None


# -- a gradient function of the user's own: the layouts it runs in are what it declares ----------


def _own_grads(net, params, X, T, loss, *, key=None):
    return fn.backprop.value_and_grad(net, params, X, T, loss, key=key)


def _declared(net, params, X, T, loss, *, key=None):
    return fn.backprop.value_and_grad(net, params, X, T, loss, key=key)


_declared.forms = {"scalar": fn.scalar_layout.backprop}


@functools.wraps(fn.backprop.value_and_grad)
def _clipped(net, params, X, T, loss, *, key=None):  # another gradient, in value_and_grad's coat
    value, g = fn.backprop.value_and_grad(net, params, X, T, loss, key=key)
    return value, jax.tree.map(lambda x: jnp.clip(x, -0.01, 0.01), g)


def test_a_gradient_of_ones_own_runs_in_the_layouts_it_declares():
    net = fn.MLP((2, 2, 1))
    X, T = fn.data.logic_gate("xor")
    # undeclared: "auto" takes the matrix layout and says why
    choice = layout.explain("auto", net, "mse", _own_grads, 4)
    assert choice.layout is layout.matrix
    assert "declares a 'scalar' form" in dict(choice.passed_over)["scalar"]
    assert "_own_grads" in str(choice)
    # declared: the scalar layout, running the declared form: the built-in gradient's very numbers
    assert layout.choose("auto", net, "mse", _declared, 4) is layout.scalar
    # copied by functools.wraps from the function it wraps: not a declaration
    assert fn.loop.form(_clipped, "scalar") is None
    assert layout.choose("auto", net, "mse", _clipped, 4) is layout.matrix
    kw = dict(epochs=40, batch_size=4, loss="half_sse", record=fn.train.Record("final"))
    runs = {
        grads: fn.train.fit(net, optax.sgd(2.0), jax.random.key(2), (X, T), grads=grads, **kw)
        for grads in (fn.backprop.value_and_grad, _declared, _clipped)
    }
    chex.assert_trees_all_equal(runs[_declared], runs[fn.backprop.value_and_grad])
    clipped = np.asarray(runs[_clipped][1]["loss"])
    assert clipped != np.asarray(runs[fn.backprop.value_and_grad][1]["loss"])  # it clipped


def test_layouts_by_name_and_what_they_declare():
    net = fn.MLP((2, 2, 1))
    assert [known.name for known in layout.LAYOUTS] == ["matrix", "scalar", "fused"]
    for known in layout.LAYOUTS:
        assert layout.choose(known.name, net, "mse") is known
    assert layout.matrix.supports == layout.Supports()  # runs everything
    assert layout.scalar.supports.form == "scalar" and layout.scalar.supports.minibatches
    fused = layout.LAYOUTS[2]
    assert not fused.supports.minibatches and fused.supports.histories == ("final",)
    assert [known.name for known, _ in layout.AUTO] == ["scalar", "matrix"]
    for grads in (fn.backprop.value_and_grad, fn.backprop.autodiff, fn.backprop.dropout(0.0)):
        assert fn.loop.form(grads, "scalar") is not None
    assert fn.loop.form(fn.backprop.dropout(0.5), "scalar") is None


def test_layout_docstring_examples():
    import doctest

    failed, attempted = doctest.testmod(layout)
    assert attempted > 0 and failed == 0
