import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn
from fnnet import train

XOR = fn.data.logic_gate("xor")
NET = fn.MLP((2, 2, 1))


def _uniform(scale):
    return lambda k: NET.init(k, "uniform", scale)


def test_sgd_update_is_one_step_of_optax_sgd(getkey):
    params = NET.init(getkey())
    grads = NET.init(getkey(), "normal", 1.0)
    opt = optax.sgd(0.3)
    updates, _ = opt.update(grads, opt.init(params), params)
    chex.assert_trees_all_close(
        train.sgd_update(params, grads, 0.3), optax.apply_updates(params, updates), rtol=1e-6
    )


def test_step_compiles_once_per_shape(getkey):
    opt = optax.sgd(0.5, momentum=0.9)
    step = jax.jit(chex.assert_max_traces(train.make_step(NET, opt, "half_sse"), n=1))
    state = train.init_state(opt, NET.init(getkey()))
    X, T = jnp.asarray(XOR[0]), jnp.asarray(XOR[1])
    for _ in range(5):
        state, metrics = step(state, X, T)
    assert int(state.step) == 5 and metrics["loss"].shape == ()


def test_make_step_takes_a_gradient_function(getkey):
    # one step with dropout through grads=: the update is -lr times the masked gradient
    net = fn.MLP((2, 8, 1))
    params = net.init(getkey(), dtype=jnp.float64)
    X, T = fn.data.logic_gate("xor", np.float64)
    key = getkey()
    step = train.make_step(net, optax.sgd(0.1), "mse", grads=fn.backprop.dropout(0.5))
    state, metrics = step(train.init_state(optax.sgd(0.1), params), X, T, key)
    v, g = fn.backprop.value_and_grad(net, params, X, T, "mse", dropout=0.5, key=key)
    np.testing.assert_allclose(metrics["loss"], v, rtol=1e-12)
    chex.assert_trees_all_close(state.params, train.sgd_update(params, g, 0.1), rtol=1e-12)


def test_backprop_and_autodiff_give_the_same_trajectory(getkey):
    (X, y), _ = fn.data.digits()
    net = fn.MLP((64, 16, 10), hidden="tanh", output="identity")
    key = getkey()
    kwargs = dict(epochs=3, batch_size=50, loss="softmax_cross_entropy")
    opt = optax.adam(1e-2)
    s1, h1 = train.fit(net, opt, key, (X, y), grads=fn.backprop.value_and_grad, **kwargs)
    s2, h2 = train.fit(net, opt, key, (X, y), grads=fn.backprop.autodiff, **kwargs)
    chex.assert_trees_all_close(s1.params, s2.params, rtol=1e-4, atol=1e-5)
    chex.assert_trees_all_close(h1, h2, rtol=1e-4, atol=1e-5)


def test_vmap_of_fit_over_256_keys_equals_one_fit_per_key():
    opt = optax.sgd(0.5, momentum=0.9)
    keys = jax.random.split(jax.random.key(7), 256)
    init = _uniform(0.5)

    def one(key):
        return train.fit(NET, opt, key, XOR, epochs=20, batch_size=2, loss="half_sse", init=init)

    states, hists = jax.vmap(one)(keys)
    for i, key in enumerate(keys):
        s, h = one(key)
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], states.params), s.params, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(hists["loss"][i], h["loss"], rtol=1e-5, atol=1e-7)


def test_vmap_over_learning_rate_and_init_scale():
    # the optimizer is built inside the vmapped function, its learning rate traced
    lrs = jnp.array([0.05, 0.5, 2.0], dtype=jnp.float32)
    scales = jnp.array([0.1, 0.5, 1.0], dtype=jnp.float32)

    def one(lr, scale):
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=0.9)
        return train.fit(
            NET,
            opt,
            jax.random.key(0),
            XOR,
            epochs=30,
            batch_size=4,
            loss="half_sse",
            init=lambda k: NET.init(k, "uniform", scale),
        )

    states, hists = jax.vmap(one)(lrs, scales)
    for i in range(3):
        s, h = one(float(lrs[i]), float(scales[i]))
        np.testing.assert_allclose(hists["loss"][i], h["loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(states.opt_state.hyperparams["learning_rate"], lrs)
    assert len(set(np.round(np.asarray(hists["loss"][:, -1]), 6))) == 3


def test_learning_rate_sweep_under_vmap_equals_a_loop_of_fits():
    # plain optax.sgd(lr, momentum=0.9) built inside the vmapped function, minibatches of 2
    lrs = jnp.array([0.1, 0.5, 1.0, 3.0], dtype=jnp.float32)
    init = _uniform(0.5)

    def one(lr):
        opt = optax.sgd(lr, momentum=0.9)
        return train.fit(
            NET, opt, jax.random.key(2), XOR, epochs=25, batch_size=2, loss="half_sse", init=init
        )

    states, hists = jax.vmap(one)(lrs)
    for i, lr in enumerate(lrs.tolist()):
        s, h = one(lr)
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], states), s, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(hists["loss"][i], h["loss"], rtol=1e-5, atol=1e-7)
    # the rates did act: four different trajectories
    assert len(set(np.round(np.asarray(hists["loss"][:, -1]), 6))) == 4


def test_init_takes_a_pytree_a_function_or_none():
    key = jax.random.key(3)
    k_init, _ = jax.random.split(key)  # fit hands the function the first half of its key
    kw = dict(epochs=5, batch_size=4, loss="half_sse", layout="matrix")
    opt = optax.sgd(0.5, momentum=0.9)
    run = lambda init: train.fit(NET, opt, key, XOR, init=init, **kw)  # noqa: E731

    s_fun, h_fun = run(_uniform(0.5))
    s_tree, h_tree = run(NET.init(k_init, "uniform", 0.5))
    chex.assert_trees_all_equal(s_tree, s_fun)
    chex.assert_trees_all_equal(h_tree, h_fun)
    # None draws net.init (its default scheme) from the same key: for float32 data the same
    # parameters as init=lambda k: net.init(k)
    s_none, h_none = run(None)
    s_default, h_default = run(lambda k: NET.init(k))
    chex.assert_trees_all_equal(s_none, s_default)
    chex.assert_trees_all_equal(h_none, h_default)
    assert not np.allclose(h_none["loss"], h_fun["loss"])  # a different scheme, another run
    # a pytree is taken as it is: float64 parameters train in float64 on float32 data
    p64 = jax.tree.map(lambda x: x.astype(jnp.float64), NET.init(k_init, "uniform", 0.5))
    s64, h64 = run(p64)
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(s64.params))
    assert h64["loss"].dtype == jnp.float64
    np.testing.assert_allclose(h64["loss"], h_fun["loss"], rtol=1e-5)
    # and None follows the data's dtype
    X64, T64 = fn.data.logic_gate("xor", np.float64)
    s_none64, _ = train.fit(NET, opt, key, (X64, T64), **kw)
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(s_none64.params))


def test_init_errors_name_init():
    bad = [{"W": jnp.zeros((3, 2)), "b": jnp.zeros(2)}, {"W": jnp.zeros((2, 1)), "b": jnp.zeros(1)}]
    kw = dict(epochs=1, batch_size=4)
    with pytest.raises(ValueError, match=r"^init\[0\]\['W'\]: expected shape \(2, 2\)"):
        train.fit(NET, optax.sgd(0.1), jax.random.key(0), XOR, init=bad, **kw)
    with pytest.raises(ValueError, match=r"^init\(key\): expected a list of 2 layer dicts"):
        train.fit(NET, optax.sgd(0.1), jax.random.key(0), XOR, init=lambda k: bad[:1], **kw)


def _autodiff_by_hand(net, params, X, T, loss, *, key=None):
    """A user's own gradient function: jax.value_and_grad of the loss."""
    return jax.value_and_grad(lambda p: loss.value(net.apply(p, X), T))(params)


def test_a_user_gradient_function_runs_in_the_matrix_layout():
    X, T = fn.data.logic_gate("xor", np.float64)
    opt = optax.sgd(0.5, momentum=0.9)
    kw = dict(epochs=40, batch_size=2, loss="half_sse")
    key = jax.random.key(4)
    s_ref, h_ref = train.fit(NET, opt, key, (X, T), layout="matrix", **kw)
    s_user, h_user = train.fit(NET, opt, key, (X, T), grads=_autodiff_by_hand, **kw)
    chex.assert_trees_all_close(s_user, s_ref, rtol=1e-10, atol=1e-12)
    chex.assert_trees_all_close(h_user, h_ref, rtol=1e-10, atol=1e-12)
    # "auto" falls back to the matrix layout for it; "scalar" has no written-out form of it
    assert fn.layout.choose("auto", NET, "half_sse", _autodiff_by_hand, 4) is fn.layout.matrix
    assert fn.layout.choose("auto", NET, "half_sse", fn.backprop.autodiff, 4) is fn.layout.scalar
    with pytest.raises(ValueError, match="^layout: 'scalar' runs fnnet.backprop.value_and_grad"):
        train.fit(NET, opt, key, (X, T), grads=_autodiff_by_hand, layout="scalar", **kw)


def test_xor_solved_by_2_2_1_sigmoid_network_from_seed_1():
    # the lecture's "2-layer network" with lr 0.5, momentum 0.9, half_sse, full batch
    state, hist = train.fit(
        NET,
        optax.sgd(0.5, momentum=0.9),
        jax.random.key(1),
        XOR,
        epochs=2000,
        batch_size=4,
        loss="half_sse",
        init=_uniform(0.5),
    )
    out = NET.apply(state.params, jnp.asarray(XOR[0]))
    assert float(jnp.max(jnp.abs(out - XOR[1]))) < 0.4
    assert float(hist["train_accuracy"][-1]) == 1.0
    assert float(hist["loss"][-1]) < float(hist["loss"][0])


def _within_04(a, T):
    return jnp.all(jnp.abs(a - T) < 0.4)


def test_progress_bar_run_equals_single_program(getkey, capsys):
    key = getkey()
    record = train.Record(solved=_within_04)
    kwargs = dict(epochs=250, batch_size=4, loss="half_sse", init=_uniform(0.5), record=record)
    opt = optax.sgd(0.5, momentum=0.9)
    s1, h1 = train.fit_with_progress(NET, opt, key, XOR, **kwargs)
    s2, h2 = train.fit(NET, opt, key, XOR, **kwargs)
    chex.assert_trees_all_close(s1.params, s2.params, rtol=1e-6)
    assert h1["loss"].shape == (250,) and set(h1) == set(h2)
    chex.assert_trees_all_close(h1, h2, rtol=1e-6)
    err = capsys.readouterr().err
    assert "fit 2-2-1" in err and "250/250" in err


def test_digits_mlp_reaches_97_percent():
    (X, y), (Xt, yt) = fn.data.digits()
    net = fn.MLP((64, 100, 10), hidden="relu", output="identity")
    state, hist = train.fit(
        net,
        optax.adam(1e-3),
        jax.random.key(0),
        (X, y),
        epochs=100,
        batch_size=100,
        loss="softmax_cross_entropy",
        record=train.Record(eval_data=(Xt, yt)),
    )
    assert float(hist["eval_accuracy"][-1]) >= 0.97


@pytest.mark.parametrize(
    "removed",
    [
        {"params": None},
        {"init_scheme": "uniform"},
        {"init_scale": 0.5},
        {"hyperparams": {"learning_rate": 0.1}},
        {"dropout": 0.5},
        {"metrics": None},
        {"solved": None},
        {"history": "final"},
        {"eval_data": None},
        {"progress": True},
    ],
    ids=lambda kw: next(iter(kw)),
)
def test_removed_arguments_are_refused_by_name(removed, getkey):
    # hyperparameters now live in the optimizer (built inside a vmapped function), dropout in
    # grads=, the rest in init= and record=: the old keywords are not silently ignored
    name = next(iter(removed))
    for fit in (train.fit, train.fit_with_progress):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'"):
            fit(NET, optax.sgd(0.1), getkey(), XOR, epochs=1, batch_size=4, **removed)


def test_fit_with_progress_shows_fits_signature():
    import inspect

    assert inspect.signature(train.fit_with_progress) == inspect.signature(train.fit)
    assert "batch_size" in str(inspect.signature(train.fit_with_progress))
    with pytest.raises(TypeError, match="missing a required (keyword-only )?argument: 'epochs'"):
        train.fit_with_progress(NET, optax.sgd(0.1), jax.random.key(0), XOR, batch_size=4)


def test_init_state_takes_no_hyperparams(getkey):
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    with pytest.raises(TypeError, match="positional argument"):
        train.init_state(opt, NET.init(getkey()), {"learning_rate": 0.2})
    state = train.init_state(opt, NET.init(getkey()))
    np.testing.assert_allclose(state.opt_state.hyperparams["learning_rate"], 0.1)


def _max_error(params):
    return {"max_error": jnp.max(jnp.abs(NET.apply(params, XOR[0]) - XOR[1]))}


def test_metrics_join_the_history_after_every_epoch(getkey):
    opt = optax.sgd(0.5, momentum=0.9)
    key = getkey()
    record = train.Record(metrics=_max_error)
    state, hist = train.fit(
        NET, opt, key, XOR, epochs=30, batch_size=4, loss="half_sse", record=record
    )
    assert hist["max_error"].shape == (30,)
    np.testing.assert_allclose(hist["max_error"][-1], _max_error(state.params)["max_error"])
    s10, h10 = train.fit(
        NET, opt, key, XOR, epochs=10, batch_size=4, loss="half_sse", record=record
    )
    np.testing.assert_allclose(h10["max_error"][-1], _max_error(s10.params)["max_error"])
    assert not np.allclose(hist["max_error"][0], hist["max_error"][-1])


def test_metrics_must_return_new_names(getkey):
    opt = optax.sgd(0.5)
    for reserved in ("loss", "train_accuracy", "epoch_solved"):
        record = train.Record(metrics=lambda p, r=reserved: {r: 0.0})
        with pytest.raises(
            ValueError, match="^record.metrics: expected a function returning a dict"
        ):
            train.fit(NET, opt, getkey(), XOR, epochs=1, batch_size=4, record=record)
    with pytest.raises(TypeError, match="^record.metrics: expected a function"):
        train.fit(
            NET, opt, getkey(), XOR, epochs=1, batch_size=4, record=train.Record(metrics={"a": 1})
        )


def test_record_errors_name_the_field(getkey):
    opt = optax.sgd(0.5)
    cases = [
        (train.Record(history="weekly"), ValueError, "^record.history: expected one of 'epoch'"),
        (train.Record(metrics=3), TypeError, "^record.metrics: expected a function params"),
        (train.Record(solved="yes"), TypeError, r"^record.solved: expected a function \(a, T\)"),
        (
            train.Record(solved=lambda a, T: jnp.abs(a - T) < 0.4),
            TypeError,
            r"^record.solved: expected a function \(a, T\) -> one bool, got a result of shape "
            r"\(4, 1\)",
        ),
        (
            train.Record(solved=lambda a, T: jnp.max(jnp.abs(a - T))),
            TypeError,
            r"^record.solved: .* shape \(\) and dtype float32",
        ),
        ({"history": "final"}, TypeError, "^record: expected an fnnet.train.Record, got dict"),
    ]
    for record, err, match in cases:
        with pytest.raises(err, match=match):
            train.fit(NET, opt, getkey(), XOR, epochs=2, batch_size=4, record=record)


def test_the_names_that_stored_sweeps_fingerprint_are_kept():
    """fnnet.sweep fingerprints ``train_one`` by the text of its jaxpr, which names the jitted
    engines: renamed, every sweep stored before would refuse to resume."""

    def text(batch_size):
        run = lambda k: train.fit(NET, optax.sgd(0.5), k, XOR, epochs=2, batch_size=batch_size)  # noqa: E731
        return str(jax.make_jaxpr(run)(jax.random.key(0)))

    assert "name=_run_epochs_known" in text(4)  # the scalar layout, known data
    assert "name=_epochs" in text(2)


@pytest.mark.parametrize(
    "rate, why",
    [
        (-0.5, "which is uphill: a negative learning rate?"),
        (float("nan"), "which holds NaN: a NaN hyperparameter?"),
        (float("inf"), "which overflows to infinity: an infinite or huge hyperparameter?"),
        # finite entries (-1e38 each) whose float32 sum is -inf: the rate is finite
        (1e38, "which overflows float32: finite entries whose sum is not"),
    ],
)
def test_an_optimizer_that_does_not_go_downhill_is_refused_with_its_reason(rate, why):
    X, T = fn.data.logic_gate("xor")
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    with pytest.raises(ValueError, match=r"^optimizer: expected updates that go downhill") as e:
        fn.train.fit(net, optax.sgd(rate), jax.random.key(0), (X, T), epochs=1, batch_size=4)
    assert why in str(e.value)
