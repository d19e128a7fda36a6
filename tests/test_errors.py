"""Every bad input fails early with an error that names the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn

NET = fn.MLP((2, 2, 1))
X, T = fn.data.logic_gate("xor")
OPT = optax.sgd(0.1)


def _fit(**kw):
    args = dict(epochs=1, batch_size=4, loss="mse")
    args.update(kw)
    data = args.pop("data", (X, T))
    net = args.pop("net", NET)
    return fn.train.fit(net, args.pop("opt", OPT), jax.random.key(0), data, **args)


def _bad_params():
    params = NET.init(jax.random.key(0))
    params[1]["b"] = np.zeros(2, np.float32)
    return params


CASES = [
    ("X", ValueError, lambda: NET.apply(NET.init(jax.random.key(0)), np.zeros((4, 3), np.float32))),
    (
        "T",
        ValueError,
        lambda: fn.backprop.value_and_grad(
            NET, NET.init(jax.random.key(0)), X, np.zeros((4, 2), np.float32)
        ),
    ),
    ("data\\[1\\]", ValueError, lambda: _fit(data=(X, T[:3]))),
    ("data\\[0\\]", ValueError, lambda: _fit(data=(X[:, :1], T))),
    ("data", TypeError, lambda: _fit(data=X)),
    ("sizes", ValueError, lambda: fn.MLP((2,))),
    ("sizes\\[1\\]", ValueError, lambda: fn.MLP((2, 0, 1))),
    ("sizes\\[1\\]", ValueError, lambda: fn.MLP((2, -3, 1))),
    ("batch_size", ValueError, lambda: _fit(batch_size=0)),
    ("batch_size", ValueError, lambda: _fit(batch_size=5)),
    ("epochs", ValueError, lambda: _fit(epochs=0)),
    ("lr", ValueError, lambda: fn.train.sgd_update({"w": 1.0}, {"w": 1.0}, lr=-0.1)),
    (
        "learning_rate",
        ValueError,
        lambda: _fit(opt=optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)),
    ),
    (
        "learning_rate",
        ValueError,
        lambda: _fit(opt=optax.inject_hyperparams(optax.sgd)(learning_rate=-1.0)),
    ),
    (
        "learning_rate",
        ValueError,
        lambda: fn.train.init_state(
            optax.inject_hyperparams(optax.sgd)(learning_rate=-1.0), NET.init(jax.random.key(0))
        ),
    ),
    (
        "data\\[1\\]",
        ValueError,
        lambda: _fit(
            net=fn.MLP((2, 3), output="identity"),
            loss="softmax_cross_entropy",
            data=(X, np.array([0, 1, 2, 3])),
        ),
    ),
    (
        "data\\[1\\]",
        ValueError,
        lambda: _fit(
            net=fn.MLP((2, 3), output="identity"),
            loss="softmax_cross_entropy",
            data=(X, np.array([0, -1, 2, 1])),
        ),
    ),
    ("data\\[0\\]", ValueError, lambda: _fit(data=(np.where(X > 0, np.nan, X), T))),
    ("data\\[1\\]", ValueError, lambda: _fit(data=(X, np.where(T > 0, np.inf, T)))),
    ("scheme", ValueError, lambda: NET.init(jax.random.key(0), "orthogonal")),
    ("grads", TypeError, lambda: _fit(grads="finite")),
    ("net", ValueError, lambda: _fit(net=fn.MLP((2, 2, 1), hidden="step"))),
    (
        "net",
        ValueError,
        lambda: _fit(net=fn.MLP((2, 2, 1), hidden="step"), grads=fn.backprop.autodiff),
    ),
    ("net", TypeError, lambda: _fit(net=(2, 2, 1))),
    ("key", TypeError, lambda: fn.train.fit(NET, OPT, 0, (X, T), epochs=1, batch_size=4)),
    ("layout", ValueError, lambda: _fit(layout="rows")),
    ("layout", ValueError, lambda: _fit(layout="scalar", grads=fn.backprop.dropout(0.5))),
    ("init\\[1\\]\\['b'\\]", ValueError, lambda: _fit(init=_bad_params())),
    ("init\\(key\\)\\[1\\]\\['b'\\]", ValueError, lambda: _fit(init=lambda k: _bad_params())),
    ("init\\(key\\)", ValueError, lambda: _fit(init=lambda k: _bad_params()[:1])),
    ("record", TypeError, lambda: _fit(record={"history": "final"})),
    ("record.history", ValueError, lambda: _fit(record=fn.train.Record(history="weekly"))),
    ("record.metrics", TypeError, lambda: _fit(record=fn.train.Record(metrics="max_error"))),
    ("record.solved", TypeError, lambda: _fit(record=fn.train.Record(solved=0.4))),
    (
        "record.solved",
        TypeError,
        lambda: _fit(record=fn.train.Record(solved=lambda a, T: jnp.abs(a - T) < 0.4)),
    ),
    (
        "record.metrics",
        ValueError,
        lambda: _fit(record=fn.train.Record(metrics=lambda p: {"eval_loss": 0.0})),
    ),
    ("rate", TypeError, lambda: fn.backprop.dropout("0.5")),
    ("loss", ValueError, lambda: _fit(loss="hinge")),
    ("hidden", ValueError, lambda: fn.MLP((2, 2, 1), hidden="swish")),
    ("optimizer", TypeError, lambda: _fit(opt=0.1)),
    ("name", ValueError, lambda: fn.data.logic_gate("xnor")),
    (
        "record.eval_data\\[0\\]",
        ValueError,
        lambda: _fit(record=fn.train.Record(eval_data=(np.zeros((2, 5)), T[:2]))),
    ),
    (
        "record.eval_data\\[1\\]",
        ValueError,
        lambda: _fit(record=fn.train.Record(eval_data=(X, np.where(T > 0, np.nan, T)))),
    ),
    ("record.eval_data", TypeError, lambda: _fit(record=fn.train.Record(eval_data=X))),
]


@pytest.mark.parametrize(
    ("argument", "error", "call"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_names_the_argument(argument, error, call):
    with pytest.raises(error, match=f"^{argument}:"):
        call()


def test_message_gives_expected_and_received():
    with pytest.raises(ValueError, match=r"X: expected shape \(batch, 2\).*got shape \(4, 3\)"):
        NET.apply(NET.init(jax.random.key(0)), np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"batch_size: expected an integer in \[1, 4\], got 5"):
        _fit(batch_size=5)
    with pytest.raises(ValueError, match=r"data\[1\]: expected shape \(4, 1\).*got shape \(3, 1\)"):
        _fit(data=(X, T[:3]))


def test_integer_labels_with_mse_point_to_softmax_cross_entropy():
    net = fn.MLP((2, 4, 3))
    labels = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"data\[1\]: expected shape \(4, 3\)") as err:
        _fit(net=net, data=(X, labels))
    assert "loss='softmax_cross_entropy'" in str(err.value)
    # the same labels with that loss train
    fn.train.fit(
        net,
        OPT,
        jax.random.key(0),
        (X, labels),
        epochs=1,
        batch_size=4,
        loss="softmax_cross_entropy",
    )
