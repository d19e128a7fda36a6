"""Bad input to the public API fails early, with a message that starts with the argument's name and
a colon (docs/testing.md: "fails before any tracing with an error that names the argument, what was
expected and what came").

One row per case: ``pytest.param(call, exception type, message prefix, id=...)``. A row marked
``xfail(strict=True)`` is behaviour that should be and is not yet: its reason names the file and
the change; once made, the row passes, and strictness makes the stale mark fail until removed.
Results that were silently wrong (an accuracy of 0.5 from NaN outputs, a vector scale broadcast
into the parameters) have plain tests at the end, and so do inputs that must stay accepted.
fnnet.io and read_idx are covered in tests/test_io_files.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnnet as fn

K = jax.random.key(0)  # every row fails before a key is used: one key serves them all
KEYS3 = jax.random.split(K, 3)
LEGACY3 = jax.random.split(jax.random.PRNGKey(0), 3)  # uint32 (3, 2)
NET = fn.MLP((2, 2, 1))
DEEP = fn.MLP((2, 3, 1))
CLS = fn.MLP((2, 3), output="identity")  # logits for softmax_cross_entropy
STEP = fn.MLP((2, 2, 1), hidden="step")
X, T = fn.data.logic_gate("xor")  # float32 (4, 2), (4, 1)
LABELS = np.array([0, 1, 2, 1], np.int32)
P = NET.init(K)
OPT = optax.sgd(0.1)  # one object: fit compiles one program per optimizer object
PERC = fn.perceptron.init(K)
OR = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-0.5)}
AND = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-1.5)}
XS, TS = np.array([3.0, 1.0]), np.array([1.1, 2.9])  # the linear classifier's book example
POINTS, LAB = np.array([[3.0, 1.0], [1.0, 3.0]]), np.array([0, 1])
NONE_X = np.array([[None, 1.0]] * 4, dtype=object)


def nan_at(a, value=np.nan):
    """A float copy of ``a`` with its first entry set to ``value``."""
    a = np.array(a, dtype=np.float64)
    a.flat[0] = value
    return a


def tree_as(tree, dtype):
    return jax.tree.map(lambda a: np.asarray(a).astype(dtype), tree)


def with_leaf(params, l, leaf, value):
    params = [dict(layer) for layer in params]
    params[l][leaf] = value
    return params


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


def fit(**kw):
    """``fn.train.fit`` on XOR for one epoch, with ``kw`` replacing an argument."""
    args = dict(net=NET, optimizer=OPT, key=K, data=(X, T), epochs=1, batch_size=4)
    args.update(kw)
    net, opt, key, data = (args.pop(k) for k in ("net", "optimizer", "key", "data"))
    return fn.train.fit(net, opt, key, data, **args)


def record(**kw):
    return fit(record=fn.train.Record(**kw))


def vg(net=NET, params=P, X=X, T=T, loss="mse", **kw):
    return fn.backprop.value_and_grad(net, params, X, T, loss, **kw)


def ad(net=NET, params=P, X=X, T=T, loss="mse", **kw):
    return fn.backprop.autodiff(net, params, X, T, loss, **kw)


def pfit(p=PERC, X=X, T=T, **kw):
    return fn.perceptron.fit(p, X, T, **{"epochs": 1, **kw})


def sweep(train_one=None, n_seeds=4, **kw):
    train_one = (lambda key: {"loss": jax.random.normal(key)}) if train_one is None else train_one
    return fn.sweep.run(train_one, n_seeds, **{"progress": False, **kw})


def _train_lr(key, lr):
    return {"loss": lr * jax.random.normal(key)}


MLP_ROWS = [
    pytest.param(lambda: fn.MLP(3), TypeError, "sizes:", id="MLP-sizes-int"),
    pytest.param(lambda: fn.MLP(None), TypeError, "sizes:", id="MLP-sizes-None"),
    pytest.param(lambda: fn.MLP("221"), TypeError, "sizes:", id="MLP-sizes-str"),
    pytest.param(lambda: fn.MLP(()), ValueError, "sizes:", id="MLP-sizes-empty"),
    pytest.param(lambda: fn.MLP((2,)), ValueError, "sizes:", id="MLP-sizes-one-entry"),
    pytest.param(lambda: fn.MLP((2, 0, 1)), ValueError, "sizes[1]:", id="MLP-sizes-zero"),
    pytest.param(lambda: fn.MLP((2, -3, 1)), ValueError, "sizes[1]:", id="MLP-sizes-negative"),
    pytest.param(lambda: fn.MLP((2, 2, 0)), ValueError, "sizes[2]:", id="MLP-sizes-no-outputs"),
    pytest.param(lambda: fn.MLP((2, 2.5, 1)), TypeError, "sizes[1]:", id="MLP-sizes-float"),
    pytest.param(lambda: fn.MLP((2, 2.0, 1)), TypeError, "sizes[1]:", id="MLP-sizes-float-whole"),
    pytest.param(lambda: fn.MLP((2, True, 1)), TypeError, "sizes[1]:", id="MLP-sizes-bool"),
    pytest.param(lambda: fn.MLP((2, "2", 1)), TypeError, "sizes[1]:", id="MLP-sizes-str-entry"),
    pytest.param(lambda: fn.MLP((None, 1)), TypeError, "sizes[0]:", id="MLP-sizes-None-entry"),
    pytest.param(
        lambda: fn.MLP((2, np.array([2]), 1)), TypeError, "sizes[1]:", id="MLP-sizes-array-entry"
    ),
    pytest.param(lambda: fn.MLP((2, 2, 1), hidden="swish"), ValueError, "hidden:", id="MLP-hidden"),
    pytest.param(lambda: fn.MLP((2, 1), hidden="Sigmoid"), ValueError, "hidden:", id="MLP-case"),
    pytest.param(lambda: fn.MLP((2, 1), hidden=None), TypeError, "hidden:", id="MLP-hidden-None"),
    pytest.param(lambda: fn.MLP((2, 1), hidden=3), TypeError, "hidden:", id="MLP-hidden-int"),
    pytest.param(
        lambda: fn.MLP((2, 1), hidden=jax.nn.relu), TypeError, "hidden:", id="MLP-hidden-function"
    ),
    pytest.param(
        lambda: fn.MLP((2, 1), hidden=fn.losses.mse), TypeError, "hidden:", id="MLP-hidden-loss"
    ),
    pytest.param(lambda: fn.MLP((2, 1), output="softmax"), ValueError, "output:", id="MLP-output"),
    pytest.param(lambda: fn.MLP((2, 1), output=None), TypeError, "output:", id="MLP-output-None"),
    pytest.param(
        lambda: fn.MLP((2, 1), output=["sigmoid"]), TypeError, "output:", id="MLP-output-list"
    ),
]

INIT_ROWS = [
    pytest.param(lambda: NET.init(0), TypeError, "key:", id="init-key-int"),
    pytest.param(lambda: NET.init(None), TypeError, "key:", id="init-key-None"),
    pytest.param(lambda: NET.init("0"), TypeError, "key:", id="init-key-str"),
    pytest.param(lambda: NET.init([0, 1]), TypeError, "key:", id="init-key-list"),
    pytest.param(lambda: NET.init(KEYS3), ValueError, "key:", id="init-key-split-3"),
    pytest.param(lambda: NET.init(LEGACY3), TypeError, "key:", id="init-key-legacy-split-3"),
    pytest.param(lambda: NET.init(jnp.zeros(2)), TypeError, "key:", id="init-key-float-array"),
    pytest.param(
        lambda: NET.init(jnp.zeros(3, jnp.uint32)), TypeError, "key:", id="init-key-uint32x3"
    ),
    pytest.param(lambda: NET.init(K, "glorot"), ValueError, "scheme:", id="init-scheme-unknown"),
    pytest.param(lambda: NET.init(K, "Uniform"), ValueError, "scheme:", id="init-scheme-case"),
    pytest.param(lambda: NET.init(K, 3), TypeError, "scheme:", id="init-scheme-int"),
    pytest.param(lambda: NET.init(K, ["uniform"]), TypeError, "scheme:", id="init-scheme-list"),
    pytest.param(lambda: NET.init(K, scale=0), ValueError, "scale:", id="init-scale-zero"),
    pytest.param(lambda: NET.init(K, "uniform", -0.5), ValueError, "scale:", id="init-scale-neg"),
    pytest.param(lambda: NET.init(K, "normal", np.nan), ValueError, "scale:", id="init-scale-nan"),
    pytest.param(lambda: NET.init(K, "he", np.inf), ValueError, "scale:", id="init-scale-inf"),
    pytest.param(lambda: NET.init(K, "uniform", "0.5"), TypeError, "scale:", id="init-scale-str"),
    pytest.param(lambda: NET.init(K, "uniform", True), TypeError, "scale:", id="init-scale-bool"),
    pytest.param(lambda: NET.init(K, "uniform", [0.5]), TypeError, "scale:", id="init-scale-list"),
    pytest.param(
        lambda: NET.init(K, "uniform", 1 + 1j), TypeError, "scale:", id="init-scale-complex"
    ),
    pytest.param(
        lambda: NET.init(K, "uniform", np.array(0.5 + 0j)),
        TypeError,
        "scale:",
        id="init-scale-complex-array",
    ),
    pytest.param(  # silently wrong before: the last layer's W came out (2, 2)
        lambda: NET.init(K, "uniform", jnp.array([0.5, 1.0])),
        ValueError,
        "scale:",
        id="init-scale-vector",
    ),
    pytest.param(
        lambda: NET.init(K, "xavier", np.array([[0.5]])), ValueError, "scale:", id="init-scale-2d"
    ),
    pytest.param(
        lambda: NET.init(K, "normal", jnp.array(np.nan)),
        ValueError,
        "scale:",
        id="init-scale-nan-array",
    ),
    pytest.param(
        lambda: jax.jit(lambda s: NET.init(K, "uniform", s))(jnp.array([0.5, 1.0])),
        ValueError,
        "scale:",
        id="init-scale-vector-traced",
    ),
    pytest.param(lambda: NET.init(K, dtype=jnp.int32), TypeError, "dtype:", id="init-dtype-int"),
    pytest.param(lambda: NET.init(K, dtype=bool), TypeError, "dtype:", id="init-dtype-bool"),
    pytest.param(
        lambda: NET.init(K, dtype=jnp.complex64), TypeError, "dtype:", id="init-dtype-complex"
    ),
    pytest.param(lambda: NET.init(K, dtype="float99"), TypeError, "dtype:", id="init-dtype-name"),
    pytest.param(lambda: NET.init(K, dtype=None), TypeError, "dtype:", id="init-dtype-None"),
]

APPLY_ROWS = [
    # parameters
    pytest.param(lambda: NET.apply(None, X), ValueError, "params:", id="apply-params-None"),
    pytest.param(lambda: NET.apply(P[0], X), ValueError, "params:", id="apply-params-dict"),
    pytest.param(lambda: NET.apply(P[:1], X), ValueError, "params:", id="apply-params-short"),
    pytest.param(lambda: NET.apply(P + P[:1], X), ValueError, "params:", id="apply-params-long"),
    pytest.param(
        lambda: NET.apply([[p["W"], p["b"]] for p in P], X),
        ValueError,
        "params[0]:",
        id="apply-params-layer-list",
    ),
    pytest.param(
        lambda: NET.apply([without(P[0], "b"), P[1]], X),
        ValueError,
        "params[0]:",
        id="apply-params-no-b",
    ),
    pytest.param(
        lambda: NET.apply([P[0], P[1] | {"c": P[1]["b"]}], X),
        ValueError,
        "params[1]:",
        id="apply-params-extra-key",
    ),
    pytest.param(
        lambda: NET.apply(with_leaf(P, 0, "W", np.zeros((3, 2))), X),
        ValueError,
        "params[0]['W']:",
        id="apply-params-W-shape",
    ),
    pytest.param(
        lambda: NET.apply(with_leaf(P, 0, "b", np.zeros(1)), X),
        ValueError,
        "params[0]['b']:",
        id="apply-params-b-shape",
    ),
    pytest.param(
        lambda: NET.apply(with_leaf(P, 1, "b", np.zeros((1, 1))), X),
        ValueError,
        "params[1]['b']:",
        id="apply-params-b-2d",
    ),
    pytest.param(
        lambda: NET.apply(jax.tree.map(lambda a: a.tolist(), P), X),
        TypeError,
        "params[0]['W']:",
        id="apply-params-python-lists",
    ),
    pytest.param(
        lambda: NET.apply(with_leaf(P, 1, "b", 0.0), X),
        TypeError,
        "params[1]['b']:",
        id="apply-params-python-float",
    ),
    pytest.param(
        lambda: NET.apply(tree_as(P, np.int32), X),
        TypeError,
        "params[0]['W']:",
        id="apply-params-int",
    ),
    pytest.param(
        lambda: NET.apply(tree_as(P, bool), X), TypeError, "params[0]['W']:", id="apply-params-bool"
    ),
    pytest.param(
        lambda: NET.apply(tree_as(P, np.complex64), X),
        TypeError,
        "params[0]['W']:",
        id="apply-params-complex",
    ),
    pytest.param(
        lambda: NET.apply(with_leaf(P, 1, "b", np.zeros(1, np.complex64)), X),
        TypeError,
        "params[1]['b']:",
        id="apply-params-complex-bias",
    ),
    # inputs
    pytest.param(lambda: NET.apply(P, np.zeros((4, 3))), ValueError, "X:", id="apply-X-width"),
    pytest.param(lambda: NET.apply(P, np.zeros(2)), ValueError, "X:", id="apply-X-1d"),
    pytest.param(lambda: NET.apply(P, np.zeros((1, 4, 2))), ValueError, "X:", id="apply-X-3d"),
    pytest.param(lambda: NET.apply(P, 1.0), ValueError, "X:", id="apply-X-scalar"),
    pytest.param(lambda: NET.apply(P, np.zeros((0, 2))), ValueError, "X:", id="apply-X-empty"),
    pytest.param(lambda: NET.apply(P, None), TypeError, "X:", id="apply-X-None"),
    pytest.param(lambda: NET.apply(P, "0101"), TypeError, "X:", id="apply-X-str"),
    pytest.param(lambda: NET.apply(P, NONE_X), TypeError, "X:", id="apply-X-object-None"),
    pytest.param(
        lambda: NET.apply(P, X.astype(np.complex64)), TypeError, "X:", id="apply-X-complex"
    ),
    pytest.param(lambda: NET.apply(P, X.astype(bool)), TypeError, "X:", id="apply-X-bool"),
    pytest.param(lambda: NET.apply(P, [[0.0, 1.0], [0.0]]), TypeError, "X:", id="apply-X-ragged"),
    pytest.param(
        lambda: NET.apply(P, jax.random.split(K, (4, 2))), TypeError, "X:", id="apply-X-keys"
    ),
    pytest.param(
        lambda: jax.jit(NET.apply)(P, X.astype(np.complex64)),
        TypeError,
        "X:",
        id="apply-X-complex-traced",
    ),
    pytest.param(
        lambda: jax.jit(lambda p: NET.apply(p, X))(tree_as(P, np.int32)),
        TypeError,
        "params[0]['W']:",
        id="apply-params-int-traced",
    ),
    # dropout and its key
    pytest.param(
        lambda: NET.apply(P, X, dropout="0.5", key=K), TypeError, "dropout:", id="apply-drop-str"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=None, key=K), TypeError, "dropout:", id="apply-drop-None"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=True, key=K), TypeError, "dropout:", id="apply-drop-bool"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=0.5 + 0j, key=K),
        TypeError,
        "dropout:",
        id="apply-drop-complex",
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=1.0, key=K), ValueError, "dropout:", id="apply-drop-one"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=-0.1, key=K), ValueError, "dropout:", id="apply-drop-neg"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=np.nan, key=K), ValueError, "dropout:", id="apply-drop-nan"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=jnp.array([0.5, 0.5]), key=K),
        ValueError,
        "dropout:",
        id="apply-drop-vector",
    ),
    pytest.param(
        lambda: jax.vmap(lambda r: NET.apply(P, X, dropout=r, key=K))(jnp.full((3, 2), 0.5)),
        ValueError,
        "dropout:",
        id="apply-drop-vector-traced",
    ),
    pytest.param(lambda: NET.apply(P, X, dropout=0.5), ValueError, "key:", id="apply-key-missing"),
    pytest.param(
        lambda: jax.jit(lambda r: NET.apply(P, X, dropout=r))(0.5),
        ValueError,
        "key:",
        id="apply-key-missing-traced-rate",
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=0.5, key=0), TypeError, "key:", id="apply-key-int"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=0.5, key=KEYS3), ValueError, "key:", id="apply-key-split-3"
    ),
    pytest.param(
        lambda: NET.apply(P, X, dropout=0.5, key=jnp.zeros(2)),
        TypeError,
        "key:",
        id="apply-key-float",
    ),
    # forward: the same boundary
    pytest.param(lambda: NET.forward(None, X), ValueError, "params:", id="forward-params-None"),
    pytest.param(
        lambda: NET.forward(tree_as(P, np.int32), X),
        TypeError,
        "params[0]['W']:",
        id="forward-params-int",
    ),
    pytest.param(lambda: NET.forward(P, X + 1j), TypeError, "X:", id="forward-X-complex"),
    pytest.param(
        lambda: NET.forward(P, X, dropout="0.2", key=K), TypeError, "dropout:", id="forward-drop"
    ),
    pytest.param(
        lambda: NET.forward(P, X, dropout=0.2, key=0), TypeError, "key:", id="forward-key-int"
    ),
]

BACKPROP_ROWS = [
    pytest.param(lambda: vg(net=(2, 2, 1)), TypeError, "net:", id="vg-net-tuple"),
    pytest.param(lambda: vg(net=STEP), ValueError, "net:", id="vg-net-step"),
    pytest.param(lambda: vg(params=None), ValueError, "params:", id="vg-params-None"),
    pytest.param(
        lambda: vg(params=tree_as(P, np.int32)), TypeError, "params[0]['W']:", id="vg-params-int"
    ),
    pytest.param(
        lambda: vg(params=tree_as(P, np.complex64)),
        TypeError,
        "params[0]['W']:",
        id="vg-params-complex",
    ),
    pytest.param(
        lambda: vg(params=jax.tree.map(lambda a: a.tolist(), P)),
        TypeError,
        "params[0]['W']:",
        id="vg-params-python-lists",
    ),
    pytest.param(lambda: vg(X=nan_at(X)), ValueError, "X:", id="vg-X-nan"),
    pytest.param(lambda: vg(X=nan_at(X, np.inf)), ValueError, "X:", id="vg-X-inf"),
    pytest.param(lambda: vg(X=None), TypeError, "X:", id="vg-X-None"),
    pytest.param(lambda: vg(X="0101"), TypeError, "X:", id="vg-X-str"),
    pytest.param(lambda: vg(X=NONE_X), TypeError, "X:", id="vg-X-object-None"),
    pytest.param(lambda: vg(X=X + 1j * X), TypeError, "X:", id="vg-X-complex"),
    pytest.param(lambda: vg(X=X.astype(bool)), TypeError, "X:", id="vg-X-bool"),
    pytest.param(lambda: vg(X=X[:, :1]), ValueError, "X:", id="vg-X-width"),
    pytest.param(lambda: vg(T=nan_at(T, np.inf)), ValueError, "T:", id="vg-T-inf"),
    pytest.param(lambda: vg(T=nan_at(T)), ValueError, "T:", id="vg-T-nan"),
    pytest.param(lambda: vg(T=None), TypeError, "T:", id="vg-T-None"),
    pytest.param(lambda: vg(T="0110"), TypeError, "T:", id="vg-T-str"),
    pytest.param(lambda: vg(T=np.array([[None]] * 4)), TypeError, "T:", id="vg-T-object"),
    pytest.param(lambda: vg(T=T + 1j), TypeError, "T:", id="vg-T-complex"),
    pytest.param(lambda: vg(T=T.astype(bool)), TypeError, "T:", id="vg-T-bool"),
    pytest.param(lambda: vg(T=T.astype(np.int32)), TypeError, "T:", id="vg-T-int-for-mse"),
    pytest.param(lambda: vg(T=T[:3]), ValueError, "T:", id="vg-T-rows"),
    pytest.param(lambda: vg(T=np.zeros((4, 2))), ValueError, "T:", id="vg-T-columns"),
    pytest.param(
        lambda: vg(CLS, CLS.init(K), X, np.array([0, 1, 3, 1]), "softmax_cross_entropy"),
        ValueError,
        "T:",
        id="vg-labels-too-large",
    ),
    pytest.param(
        lambda: vg(CLS, CLS.init(K), X, np.array([0, -1, 2, 1]), "softmax_cross_entropy"),
        ValueError,
        "T:",
        id="vg-labels-negative",
    ),
    pytest.param(
        lambda: vg(CLS, CLS.init(K), X, LABELS[:, None], "softmax_cross_entropy"),
        ValueError,
        "T:",
        id="vg-labels-2d",
    ),
    pytest.param(lambda: vg(loss="hinge"), ValueError, "loss:", id="vg-loss-unknown"),
    pytest.param(lambda: vg(loss=None), TypeError, "loss:", id="vg-loss-None"),
    pytest.param(lambda: vg(dropout=0.5), ValueError, "key:", id="vg-dropout-no-key"),
    pytest.param(lambda: vg(dropout=0.5, key=0), TypeError, "key:", id="vg-dropout-key-int"),
    pytest.param(lambda: vg(dropout="0.5", key=K), TypeError, "dropout:", id="vg-dropout-str"),
    pytest.param(lambda: vg(dropout=1.0, key=K), ValueError, "dropout:", id="vg-dropout-one"),
    pytest.param(lambda: ad(X=nan_at(X)), ValueError, "X:", id="autodiff-X-nan"),
    pytest.param(lambda: ad(T=nan_at(T, np.inf)), ValueError, "T:", id="autodiff-T-inf"),
    pytest.param(lambda: ad(X=None), TypeError, "X:", id="autodiff-X-None"),
    pytest.param(lambda: ad(X=X + 1j), TypeError, "X:", id="autodiff-X-complex"),
    pytest.param(lambda: ad(T="0110"), TypeError, "T:", id="autodiff-T-str"),
    pytest.param(lambda: ad(params=None), ValueError, "params:", id="autodiff-params-None"),
    pytest.param(
        lambda: ad(params=tree_as(P, np.complex64)),
        TypeError,
        "params[0]['W']:",
        id="autodiff-params-complex",
    ),
    pytest.param(
        lambda: ad(params=tree_as(P, np.int32)),
        TypeError,
        "params[0]['W']:",
        id="autodiff-params-int",
    ),
    pytest.param(
        lambda: ad(params=jax.tree.map(lambda a: a.tolist(), P)),
        TypeError,
        "params[0]['W']:",
        id="autodiff-params-python-lists",
    ),
    pytest.param(lambda: ad(loss="hinge"), ValueError, "loss:", id="autodiff-loss-unknown"),
    pytest.param(lambda: ad(dropout=0.5), ValueError, "key:", id="autodiff-dropout-no-key"),
    pytest.param(lambda: fn.backprop.grad(NET, P, nan_at(X), T), ValueError, "X:", id="grad-X-nan"),
    pytest.param(lambda: fn.backprop.dropout("0.5"), TypeError, "rate:", id="dropout-rate-str"),
    pytest.param(lambda: fn.backprop.dropout(True), TypeError, "rate:", id="dropout-rate-bool"),
    pytest.param(
        lambda: fn.backprop.dropout(jnp.array(0.5)), TypeError, "rate:", id="dropout-rate-array"
    ),
    pytest.param(lambda: fn.backprop.dropout(1.0), ValueError, "rate:", id="dropout-rate-one"),
    pytest.param(lambda: fn.backprop.dropout(-0.2), ValueError, "rate:", id="dropout-rate-neg"),
    pytest.param(lambda: fn.backprop.dropout(np.nan), ValueError, "rate:", id="dropout-rate-nan"),
    pytest.param(
        lambda: fn.backprop.dropout(0.5, grads="x"), TypeError, "grads:", id="dropout-grads-str"
    ),
    pytest.param(
        lambda: fn.backprop.dropout(0.5, grads=lambda *a, **k: None),
        TypeError,
        "grads:",
        id="dropout-grads-other",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(lambda p: 0.0, P, 0.0),
        ValueError,
        "eps:",
        id="numgrad-eps-zero",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(lambda p: 0.0, P, -1e-6),
        ValueError,
        "eps:",
        id="numgrad-eps-neg",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(lambda p: 0.0, P, np.nan),
        ValueError,
        "eps:",
        id="numgrad-eps-nan",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(lambda p: 0.0, P, "1e-6"),
        TypeError,
        "eps:",
        id="numgrad-eps-str",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(lambda p: 0.0, P, None),
        TypeError,
        "eps:",
        id="numgrad-eps-None",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(lambda p: 0.0, P, 1e-6 + 0j),
        TypeError,
        "eps:",
        id="numgrad-eps-complex",
    ),
    pytest.param(
        lambda: fn.backprop.numerical_grad(3, P),
        TypeError,
        "fun:",
        id="numgrad-fun-not-callable",
    ),
]

FIT_ROWS = [
    pytest.param(lambda: fit(net=(2, 2, 1)), TypeError, "net:", id="fit-net-tuple"),
    pytest.param(lambda: fit(net=None), TypeError, "net:", id="fit-net-None"),
    pytest.param(lambda: fit(net=STEP), ValueError, "net:", id="fit-net-step"),
    pytest.param(
        lambda: fit(net=STEP, grads=fn.backprop.autodiff), ValueError, "net:", id="fit-step-ad"
    ),
    # the optimizer: its type, and its first update on concrete values
    pytest.param(lambda: fit(optimizer=0.1), TypeError, "optimizer:", id="fit-optimizer-float"),
    pytest.param(lambda: fit(optimizer=None), TypeError, "optimizer:", id="fit-optimizer-None"),
    pytest.param(
        lambda: fit(optimizer=optax.sgd), TypeError, "optimizer:", id="fit-optimizer-factory"
    ),
    pytest.param(
        lambda: fit(optimizer=optax.sgd(-0.5)), ValueError, "optimizer:", id="fit-sgd-negative"
    ),
    pytest.param(
        lambda: fit(optimizer=optax.sgd(-0.5, momentum=0.9)),
        ValueError,
        "optimizer:",
        id="fit-momentum-negative",
    ),
    pytest.param(
        lambda: fit(optimizer=optax.adam(-1e-3)), ValueError, "optimizer:", id="fit-adam-negative"
    ),
    pytest.param(
        lambda: fit(optimizer=optax.sgd(np.nan)), ValueError, "optimizer:", id="fit-sgd-nan"
    ),
    pytest.param(
        lambda: fit(optimizer=optax.sgd(np.inf)), ValueError, "optimizer:", id="fit-sgd-inf"
    ),
    pytest.param(
        lambda: fit(optimizer=optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)),
        ValueError,
        "learning_rate:",
        id="fit-injected-lr-zero",
    ),
    pytest.param(
        lambda: fit(optimizer=optax.inject_hyperparams(optax.sgd)(learning_rate=-1.0)),
        ValueError,
        "learning_rate:",
        id="fit-injected-lr-negative",
    ),
    pytest.param(
        lambda: fit(optimizer=optax.inject_hyperparams(optax.sgd)(learning_rate=np.nan)),
        ValueError,
        "learning_rate:",
        id="fit-injected-lr-nan",
    ),
    # the key
    pytest.param(lambda: fit(key=0), TypeError, "key:", id="fit-key-int"),
    pytest.param(lambda: fit(key=None), TypeError, "key:", id="fit-key-None"),
    pytest.param(lambda: fit(key="0"), TypeError, "key:", id="fit-key-str"),
    pytest.param(lambda: fit(key=KEYS3), ValueError, "key:", id="fit-key-split-3"),
    pytest.param(lambda: fit(key=LEGACY3), TypeError, "key:", id="fit-key-legacy-split-3"),
    pytest.param(lambda: fit(key=jnp.zeros(2)), TypeError, "key:", id="fit-key-float-array"),
    pytest.param(lambda: fit(key=jnp.zeros(3, jnp.uint32)), TypeError, "key:", id="fit-key-u32x3"),
    # data
    pytest.param(lambda: fit(data=X), TypeError, "data:", id="fit-data-array"),
    pytest.param(lambda: fit(data=None), TypeError, "data:", id="fit-data-None"),
    pytest.param(lambda: fit(data=(X, T, T)), TypeError, "data:", id="fit-data-triple"),
    pytest.param(lambda: fit(data={"X": X, "T": T}), TypeError, "data:", id="fit-data-dict"),
    pytest.param(lambda: fit(data=(None, T)), TypeError, "data[0]:", id="fit-X-None"),
    pytest.param(lambda: fit(data=("0101", T)), TypeError, "data[0]:", id="fit-X-str"),
    pytest.param(lambda: fit(data=(NONE_X, T)), TypeError, "data[0]:", id="fit-X-object-None"),
    pytest.param(lambda: fit(data=(X + 1j * X, T)), TypeError, "data[0]:", id="fit-X-complex"),
    pytest.param(lambda: fit(data=(X.astype(bool), T)), TypeError, "data[0]:", id="fit-X-bool"),
    pytest.param(lambda: fit(data=(X[:, :1], T)), ValueError, "data[0]:", id="fit-X-width"),
    pytest.param(lambda: fit(data=(X[0], T)), ValueError, "data[0]:", id="fit-X-1d"),
    pytest.param(lambda: fit(data=(X[:0], T[:0])), ValueError, "data[0]:", id="fit-X-empty"),
    pytest.param(lambda: fit(data=(nan_at(X), T)), ValueError, "data[0]:", id="fit-X-nan"),
    pytest.param(lambda: fit(data=(nan_at(X, np.inf), T)), ValueError, "data[0]:", id="fit-X-inf"),
    pytest.param(lambda: fit(data=(X, None)), TypeError, "data[1]:", id="fit-T-None"),
    pytest.param(lambda: fit(data=(X, "0110")), TypeError, "data[1]:", id="fit-T-str"),
    pytest.param(lambda: fit(data=(X, T + 1j)), TypeError, "data[1]:", id="fit-T-complex"),
    pytest.param(lambda: fit(data=(X, T.astype(bool))), TypeError, "data[1]:", id="fit-T-bool"),
    pytest.param(lambda: fit(data=(X, T.astype(int))), TypeError, "data[1]:", id="fit-T-int-mse"),
    pytest.param(lambda: fit(data=(X, T[:3])), ValueError, "data[1]:", id="fit-T-rows"),
    pytest.param(lambda: fit(data=(X, nan_at(T))), ValueError, "data[1]:", id="fit-T-nan"),
    pytest.param(lambda: fit(data=(X, nan_at(T, -np.inf))), ValueError, "data[1]:", id="fit-T-inf"),
    pytest.param(
        lambda: fit(net=CLS, loss="softmax_cross_entropy", data=(X, np.array([0, 1, 2, 3]))),
        ValueError,
        "data[1]:",
        id="fit-labels-too-large",
    ),
    pytest.param(
        lambda: fit(net=CLS, loss="softmax_cross_entropy", data=(X, np.array([0, -1, 2, 1]))),
        ValueError,
        "data[1]:",
        id="fit-labels-negative",
    ),
    # counts
    pytest.param(lambda: fit(epochs=0), ValueError, "epochs:", id="fit-epochs-zero"),
    pytest.param(lambda: fit(epochs=-1), ValueError, "epochs:", id="fit-epochs-negative"),
    pytest.param(lambda: fit(epochs=1.5), TypeError, "epochs:", id="fit-epochs-float"),
    pytest.param(lambda: fit(epochs=True), TypeError, "epochs:", id="fit-epochs-bool"),
    pytest.param(lambda: fit(epochs="1"), TypeError, "epochs:", id="fit-epochs-str"),
    pytest.param(lambda: fit(epochs=None), TypeError, "epochs:", id="fit-epochs-None"),
    pytest.param(lambda: fit(batch_size=0), ValueError, "batch_size:", id="fit-batch-zero"),
    pytest.param(lambda: fit(batch_size=5), ValueError, "batch_size:", id="fit-batch-over-n"),
    pytest.param(lambda: fit(batch_size=2.0), TypeError, "batch_size:", id="fit-batch-float"),
    pytest.param(lambda: fit(batch_size=None), TypeError, "batch_size:", id="fit-batch-None"),
    # loss, gradient, layout
    pytest.param(lambda: fit(loss="hinge"), ValueError, "loss:", id="fit-loss-unknown"),
    pytest.param(lambda: fit(loss="MSE"), ValueError, "loss:", id="fit-loss-case"),
    pytest.param(lambda: fit(loss=None), TypeError, "loss:", id="fit-loss-None"),
    pytest.param(lambda: fit(loss=fn.losses.mse.value), TypeError, "loss:", id="fit-loss-function"),
    pytest.param(lambda: fit(grads="finite"), TypeError, "grads:", id="fit-grads-str"),
    pytest.param(lambda: fit(grads=None), TypeError, "grads:", id="fit-grads-None"),
    pytest.param(lambda: fit(layout="rows"), ValueError, "layout:", id="fit-layout-unknown"),
    pytest.param(lambda: fit(layout=3), ValueError, "layout:", id="fit-layout-int"),
    pytest.param(lambda: fit(layout=None), ValueError, "layout:", id="fit-layout-None"),
    pytest.param(
        lambda: fit(layout="scalar", grads=fn.backprop.dropout(0.5)),
        ValueError,
        "layout:",
        id="fit-layout-scalar-dropout",
    ),
    # init: a pytree, or a function of the key
    pytest.param(
        lambda: fit(init=jax.tree.map(lambda a: a * np.nan, P)),
        ValueError,
        "init[0]['W']:",
        id="fit-init-nan",
    ),
    pytest.param(
        lambda: fit(init=with_leaf(P, 1, "b", np.array([np.inf], np.float32))),
        ValueError,
        "init[1]['b']:",
        id="fit-init-inf-bias",
    ),
    pytest.param(
        lambda: fit(init=tree_as(P, np.int32)), TypeError, "init[0]['W']:", id="fit-init-int"
    ),
    pytest.param(
        lambda: fit(init=tree_as(P, np.complex64)),
        TypeError,
        "init[0]['W']:",
        id="fit-init-complex",
    ),
    pytest.param(
        lambda: fit(init=jax.tree.map(lambda a: a.tolist(), P)),
        TypeError,
        "init[0]['W']:",
        id="fit-init-python-lists",
    ),
    pytest.param(lambda: fit(init=3), ValueError, "init:", id="fit-init-int-scalar"),
    pytest.param(lambda: fit(init=P[:1]), ValueError, "init:", id="fit-init-short"),
    pytest.param(
        lambda: fit(init=with_leaf(P, 1, "b", np.zeros(2, np.float32))),
        ValueError,
        "init[1]['b']:",
        id="fit-init-shape",
    ),
    pytest.param(
        lambda: fit(init=lambda k: jax.tree.map(lambda a: a * np.nan, NET.init(k))),
        ValueError,
        "init(key)[0]['W']:",
        id="fit-init-fn-nan",
    ),
    pytest.param(lambda: fit(init=lambda k: None), ValueError, "init(key):", id="fit-init-fn-None"),
    pytest.param(
        lambda: fit(init=lambda k: DEEP.init(k)),
        ValueError,
        "init(key)[0]['W']:",
        id="fit-init-fn-other-net",
    ),
    pytest.param(
        lambda: fit(init=lambda k: NET.init(k, "glorot")),
        ValueError,
        "scheme:",
        id="fit-init-fn-scheme",
    ),
    pytest.param(
        lambda: fit(init=lambda k: NET.init(k, scale=0)),
        ValueError,
        "scale:",
        id="fit-init-fn-scale",
    ),
    # record
    pytest.param(lambda: fit(record={"history": "final"}), TypeError, "record:", id="fit-record"),
    pytest.param(
        lambda: record(history="weekly"), ValueError, "record.history:", id="record-history"
    ),
    pytest.param(
        lambda: record(history=None), ValueError, "record.history:", id="record-history-None"
    ),
    pytest.param(
        lambda: record(metrics="max_error"), TypeError, "record.metrics:", id="record-metrics-str"
    ),
    pytest.param(lambda: record(solved=0.4), TypeError, "record.solved:", id="record-solved-num"),
    pytest.param(
        lambda: record(solved=lambda a, T: jnp.abs(a - T) < 0.4),
        TypeError,
        "record.solved:",
        id="record-solved-vector",
    ),
    pytest.param(
        lambda: record(solved=lambda a, T: jnp.max(jnp.abs(a - T))),
        TypeError,
        "record.solved:",
        id="record-solved-float",
    ),
    pytest.param(
        lambda: record(metrics=lambda p: {"eval_loss": 0.0}),
        ValueError,
        "record.metrics:",
        id="record-metrics-reserved",
    ),
    pytest.param(
        lambda: record(metrics=lambda p: [0.0]),
        ValueError,
        "record.metrics:",
        id="record-metrics-list",
    ),
    pytest.param(
        lambda: record(eval_data=X), TypeError, "record.eval_data:", id="record-eval-array"
    ),
    pytest.param(
        lambda: record(eval_data=(None, T)),
        TypeError,
        "record.eval_data[0]:",
        id="record-eval-X-None",
    ),
    pytest.param(
        lambda: record(eval_data=(X + 1j, T)),
        TypeError,
        "record.eval_data[0]:",
        id="record-eval-X-complex",
    ),
    pytest.param(
        lambda: record(eval_data=(nan_at(X), T)),
        ValueError,
        "record.eval_data[0]:",
        id="record-eval-X-nan",
    ),
    pytest.param(
        lambda: record(eval_data=(np.zeros((2, 5)), T[:2])),
        ValueError,
        "record.eval_data[0]:",
        id="record-eval-X-width",
    ),
    pytest.param(
        lambda: record(eval_data=(X, nan_at(T))),
        ValueError,
        "record.eval_data[1]:",
        id="record-eval-T-nan",
    ),
    pytest.param(
        lambda: record(eval_data=(X, nan_at(T, np.inf))),
        ValueError,
        "record.eval_data[1]:",
        id="record-eval-T-inf",
    ),
    pytest.param(
        lambda: record(eval_data=(X, T[:2])),
        ValueError,
        "record.eval_data[1]:",
        id="record-eval-T-rows",
    ),
    pytest.param(
        lambda: record(eval_data=(X, "0110")),
        TypeError,
        "record.eval_data[1]:",
        id="record-eval-T-str",
    ),
    pytest.param(
        lambda: fit(
            net=CLS,
            loss="softmax_cross_entropy",
            data=(X, LABELS),
            record=fn.train.Record(eval_data=(X, np.array([0, 1, 2, 5]))),
        ),
        ValueError,
        "record.eval_data[1]:",
        id="record-eval-labels",
    ),
]

TRAIN_PARTS_ROWS = [
    pytest.param(
        lambda: fn.train.fit_with_progress(NET, OPT, 0, (X, T), epochs=1, batch_size=4),
        TypeError,
        "key:",
        id="progress-key-int",
    ),
    pytest.param(
        lambda: fn.train.fit_with_progress(NET, OPT, K, X, epochs=1, batch_size=4),
        TypeError,
        "data:",
        id="progress-data",
    ),
    pytest.param(
        lambda: fn.train.fit_with_progress(NET, OPT, K, (X, T), epochs=0, batch_size=4),
        ValueError,
        "epochs:",
        id="progress-epochs",
    ),
    pytest.param(
        lambda: fn.train.fit_with_progress(NET, optax.sgd(-1.0), K, (X, T), epochs=1, batch_size=4),
        ValueError,
        "optimizer:",
        id="progress-sgd-negative",
    ),
    pytest.param(
        lambda: fn.train.fit_with_progress(
            NET, OPT, K, (X, T), epochs=1, batch_size=4, init=tree_as(P, np.int32)
        ),
        TypeError,
        "init[0]['W']:",
        id="progress-init-int",
    ),
    pytest.param(lambda: fn.train.make_step((2, 2, 1), OPT), TypeError, "net:", id="step-net"),
    pytest.param(lambda: fn.train.make_step(STEP, OPT), ValueError, "net:", id="step-net-step"),
    pytest.param(lambda: fn.train.make_step(NET, 0.1), TypeError, "optimizer:", id="step-opt"),
    pytest.param(
        lambda: fn.train.make_step(NET, OPT, "hinge"), ValueError, "loss:", id="step-loss"
    ),
    pytest.param(
        lambda: fn.train.make_step(NET, OPT, grads="x"), TypeError, "grads:", id="step-grads"
    ),
    pytest.param(
        lambda: fn.train.init_state(None, P), TypeError, "optimizer:", id="init-state-optimizer"
    ),
    pytest.param(
        lambda: fn.train.init_state(optax.inject_hyperparams(optax.sgd)(learning_rate=-1.0), P),
        ValueError,
        "learning_rate:",
        id="init-state-lr-negative",
    ),
    pytest.param(
        lambda: fn.train.minibatch_indices(K, 0, 1), ValueError, "n:", id="minibatch-n-zero"
    ),
    pytest.param(
        lambda: fn.train.minibatch_indices(K, 2.5, 1), TypeError, "n:", id="minibatch-n-float"
    ),
    pytest.param(
        lambda: fn.train.minibatch_indices(K, 4, 0),
        ValueError,
        "batch_size:",
        id="minibatch-batch-zero",
    ),
    pytest.param(
        lambda: fn.train.minibatch_indices(K, 4, 5),
        ValueError,
        "batch_size:",
        id="minibatch-batch-over-n",
    ),
    pytest.param(
        lambda: fn.train.minibatch_indices(K, 4, "2"),
        TypeError,
        "batch_size:",
        id="minibatch-batch-str",
    ),
    pytest.param(
        lambda: fn.train.minibatch_indices(0, 4, 2),
        TypeError,
        "key:",
        id="minibatch-key-int",
    ),
    pytest.param(
        lambda: fn.train.sgd_update({"w": 1.0}, {"w": 1.0}, lr=-0.1),
        ValueError,
        "lr:",
        id="sgd-neg",
    ),
    pytest.param(
        lambda: fn.train.sgd_update({"w": 1.0}, {"w": 1.0}, lr=0.0),
        ValueError,
        "lr:",
        id="sgd-zero",
    ),
    pytest.param(
        lambda: fn.train.sgd_update({"w": 1.0}, {"w": 1.0}, lr=np.nan),
        ValueError,
        "lr:",
        id="sgd-nan",
    ),
    pytest.param(
        lambda: fn.train.sgd_update({"w": 1.0}, {"w": 1.0}, lr="0.1"),
        TypeError,
        "lr:",
        id="sgd-str",
    ),
    pytest.param(
        lambda: fn.train.accuracy(NET, "hinge", jnp.zeros((4, 1)), T),
        ValueError,
        "loss:",
        id="accuracy-loss",
    ),
]

SWEEP_ROWS = [
    pytest.param(lambda: fn.sweep.run(3, 4), TypeError, "train_one:", id="sweep-train-one-int"),
    pytest.param(lambda: fn.sweep.run(None, 4), TypeError, "train_one:", id="sweep-train-one-None"),
    pytest.param(lambda: sweep(lambda: 0.0), TypeError, "train_one:", id="sweep-train-one-no-key"),
    pytest.param(lambda: sweep(n_seeds=0), ValueError, "n_seeds:", id="sweep-seeds-zero"),
    pytest.param(lambda: sweep(n_seeds=2.5), TypeError, "n_seeds:", id="sweep-seeds-float"),
    pytest.param(lambda: sweep(n_seeds="4"), TypeError, "n_seeds:", id="sweep-seeds-str"),
    pytest.param(lambda: sweep(n_seeds=2**31 + 1), ValueError, "n_seeds:", id="sweep-seeds-many"),
    pytest.param(lambda: sweep(grid=[0.1, 0.2]), TypeError, "grid:", id="sweep-grid-list"),
    pytest.param(
        lambda: sweep(_train_lr, grid={"learning rate": [0.1]}),
        TypeError,
        "grid:",
        id="sweep-grid-name",
    ),
    pytest.param(
        lambda: sweep(grid={"lr": np.array([0.1])}), ValueError, "grid:", id="sweep-grid-unknown"
    ),
    pytest.param(lambda: sweep(_train_lr), ValueError, "grid:", id="sweep-grid-missing"),
    pytest.param(
        lambda: sweep(_train_lr, grid={"lr": np.array([0.1, np.nan])}),
        ValueError,
        "grid['lr']:",
        id="sweep-grid-nan",
    ),
    pytest.param(
        lambda: sweep(_train_lr, grid={"lr": np.array([])}),
        ValueError,
        "grid['lr']:",
        id="sweep-grid-empty",
    ),
    pytest.param(
        lambda: sweep(_train_lr, grid={"lr": np.ones((2, 2))}),
        ValueError,
        "grid['lr']:",
        id="sweep-grid-2d",
    ),
    pytest.param(
        lambda: sweep(_train_lr, grid={"lr": ["fast", "slow"]}),
        TypeError,
        "grid['lr']:",
        id="sweep-grid-str",
    ),
    pytest.param(
        lambda: sweep(_train_lr, grid={"lr": np.array([0.1 + 1j])}),
        TypeError,
        "grid['lr']:",
        id="sweep-grid-complex",
    ),
    pytest.param(lambda: sweep(key=0), TypeError, "key:", id="sweep-key-int"),
    pytest.param(lambda: sweep(key=KEYS3), ValueError, "key:", id="sweep-key-split-3"),
    pytest.param(lambda: sweep(key=jnp.zeros(2)), TypeError, "key:", id="sweep-key-float"),
    pytest.param(lambda: sweep(chunk_size=0), ValueError, "chunk_size:", id="sweep-chunk-zero"),
    pytest.param(lambda: sweep(chunk_size=1.5), TypeError, "chunk_size:", id="sweep-chunk-float"),
    pytest.param(lambda: sweep(out=3), TypeError, "out:", id="sweep-out-int"),
    pytest.param(lambda: sweep(out=__file__), ValueError, "out:", id="sweep-out-file"),
    pytest.param(lambda: sweep(name=""), TypeError, "name:", id="sweep-name-empty"),
    pytest.param(lambda: sweep(name=3), TypeError, "name:", id="sweep-name-int"),
    pytest.param(lambda: sweep(progress="yes"), TypeError, "progress:", id="sweep-progress-str"),
    pytest.param(
        lambda: sweep(compiler_options=["xla_cpu_enable_fast_math"]),
        TypeError,
        "compiler_options:",
        id="sweep-compiler-options-list",
    ),
    pytest.param(
        lambda: sweep(compiler_options={"xla_no_such_option": 1}),
        ValueError,
        "compiler_options:",
        id="sweep-compiler-options-unknown",
    ),
    pytest.param(
        lambda: sweep(lambda key: "done"),
        TypeError,
        "train_one:",
        id="sweep-result-str",
    ),
    pytest.param(
        lambda: sweep(lambda key: None),
        TypeError,
        "train_one:",
        id="sweep-result-None",
    ),
    pytest.param(lambda: fn.sweep.status(3), TypeError, "out:", id="status-int"),
    pytest.param(lambda: fn.sweep.status(None), ValueError, "out:", id="status-None"),
    pytest.param(lambda: fn.sweep.status(__file__), ValueError, "out:", id="status-file"),
    pytest.param(
        lambda: fn.sweep.status("/nonexistent/fnnet-sweep"), ValueError, "out:", id="status-absent"
    ),
    pytest.param(lambda: fn.sweep.seed_key(0, 1), TypeError, "key:", id="seed-key-int"),
    pytest.param(lambda: fn.sweep.seed_key(KEYS3, 1), ValueError, "key:", id="seed-key-split-3"),
    pytest.param(lambda: fn.sweep.seed_key(K, "1"), TypeError, "i:", id="seed-key-i-str"),
    pytest.param(
        lambda: fn.sweep.seed_key(K, 1.5),
        TypeError,
        "i:",
        id="seed-key-i-float",
    ),
    pytest.param(lambda: fn.sweep.seed_key(K, -1), ValueError, "i:", id="seed-key-i-neg"),
]

DATA_ROWS = [
    pytest.param(lambda: fn.data.logic_gate("xnor"), ValueError, "name:", id="gate-unknown"),
    pytest.param(lambda: fn.data.logic_gate(""), ValueError, "name:", id="gate-empty"),
    pytest.param(lambda: fn.data.logic_gate(["xor"]), TypeError, "name:", id="gate-list"),
    pytest.param(lambda: fn.data.logic_gate(None), TypeError, "name:", id="gate-None"),
    pytest.param(lambda: fn.data.logic_gate(3), TypeError, "name:", id="gate-int"),
    pytest.param(
        lambda: fn.data.logic_gate("xor", dtype="float99"), TypeError, "dtype:", id="gate-dtype"
    ),
    pytest.param(
        lambda: fn.data.logic_gate("xor", dtype=np.complex64),
        TypeError,
        "dtype:",
        id="gate-dtype-complex",
    ),
    pytest.param(
        lambda: fn.data.logic_gate("xor", dtype=bool), TypeError, "dtype:", id="gate-dtype-bool"
    ),
    pytest.param(
        lambda: fn.data.logic_gate("xor", dtype=object), TypeError, "dtype:", id="gate-dtype-obj"
    ),
    pytest.param(
        lambda: fn.data.logic_gate("xor", dtype=str), TypeError, "dtype:", id="gate-dtype-str"
    ),
    pytest.param(
        lambda: fn.data.logic_gate("xor", dtype=None), TypeError, "dtype:", id="gate-dtype-None"
    ),
    pytest.param(lambda: fn.data.insects(0), TypeError, "key:", id="insects-key-int"),
    pytest.param(lambda: fn.data.insects(None), TypeError, "key:", id="insects-key-None"),
    pytest.param(lambda: fn.data.insects(KEYS3), ValueError, "key:", id="insects-key-split-3"),
    pytest.param(lambda: fn.data.insects(K, 1), ValueError, "n:", id="insects-n-one"),
    pytest.param(lambda: fn.data.insects(K, 2.5), TypeError, "n:", id="insects-n-float"),
    pytest.param(lambda: fn.data.insects(K, "300"), TypeError, "n:", id="insects-n-str"),
    pytest.param(
        lambda: fn.data.insects(K, 10, -1.0), ValueError, "noise:", id="insects-noise-neg"
    ),
    pytest.param(
        lambda: fn.data.insects(K, 10, np.nan), ValueError, "noise:", id="insects-noise-nan"
    ),
    pytest.param(
        lambda: fn.data.insects(K, 10, np.inf), ValueError, "noise:", id="insects-noise-inf"
    ),
    pytest.param(
        lambda: fn.data.insects(K, 10, "0.3"), TypeError, "noise:", id="insects-noise-str"
    ),
    pytest.param(
        lambda: fn.data.insects(K, 10, True), TypeError, "noise:", id="insects-noise-bool"
    ),
    pytest.param(
        lambda: fn.data.insects(K, 10, 0.3 + 0j), TypeError, "noise:", id="insects-noise-complex"
    ),
    pytest.param(
        lambda: fn.data.insects(K, 10, np.array([0.1, 0.3])),
        ValueError,
        "noise:",
        id="insects-noise-vector",
    ),
    pytest.param(
        lambda: fn.data.mnist1d(num_samples=10), ValueError, "num_samples:", id="mnist1d-few"
    ),
    pytest.param(
        lambda: fn.data.mnist1d(num_samples=100.0),
        TypeError,
        "num_samples:",
        id="mnist1d-samples-float",
    ),
    pytest.param(lambda: fn.data.mnist1d(seed=-1), ValueError, "seed:", id="mnist1d-seed-neg"),
    pytest.param(lambda: fn.data.mnist1d(seed=1.5), TypeError, "seed:", id="mnist1d-seed-float"),
    pytest.param(
        lambda: fn.data.mnist1d(train_split=0), ValueError, "train_split:", id="mnist1d-split-0"
    ),
    pytest.param(
        lambda: fn.data.mnist1d(train_split=1.0), ValueError, "train_split:", id="mnist1d-split-1"
    ),
    pytest.param(
        lambda: fn.data.mnist1d(train_split=np.nan),
        ValueError,
        "train_split:",
        id="mnist1d-split-nan",
    ),
    pytest.param(
        lambda: fn.data.mnist1d(train_split="0.8"),
        TypeError,
        "train_split:",
        id="mnist1d-split-str",
    ),
    pytest.param(
        lambda: fn.data.mnist1d(train_split=None),
        TypeError,
        "train_split:",
        id="mnist1d-split-None",
    ),
    pytest.param(
        lambda: fn.data.mnist1d(train_split=True),
        TypeError,
        "train_split:",
        id="mnist1d-split-bool",
    ),
    pytest.param(
        lambda: fn.data.digits(test_fraction=0), ValueError, "test_fraction:", id="digits-frac-0"
    ),
    pytest.param(
        lambda: fn.data.digits(test_fraction=1.5),
        ValueError,
        "test_fraction:",
        id="digits-frac-over-1",
    ),
    pytest.param(
        lambda: fn.data.digits(test_fraction="0.2"),
        TypeError,
        "test_fraction:",
        id="digits-frac-str",
    ),
    pytest.param(
        lambda: fn.data.digits(test_fraction=None),
        TypeError,
        "test_fraction:",
        id="digits-frac-None",
    ),
    pytest.param(lambda: fn.data.digits(seed=-1), ValueError, "seed:", id="digits-seed-neg"),
    pytest.param(lambda: fn.data.digits(seed=0.5), TypeError, "seed:", id="digits-seed-float"),
]

PERCEPTRON_ROWS = [
    # init
    pytest.param(lambda: fn.perceptron.init(0), TypeError, "key:", id="perc-init-key-int"),
    pytest.param(lambda: fn.perceptron.init(None), TypeError, "key:", id="perc-init-key-None"),
    pytest.param(lambda: fn.perceptron.init(KEYS3), ValueError, "key:", id="perc-init-key-split"),
    pytest.param(
        lambda: fn.perceptron.init(jnp.zeros(2)), TypeError, "key:", id="perc-init-key-float"
    ),
    pytest.param(lambda: fn.perceptron.init(K, 0), ValueError, "n_in:", id="perc-init-n-in-zero"),
    pytest.param(lambda: fn.perceptron.init(K, 2.5), TypeError, "n_in:", id="perc-init-n-in-float"),
    pytest.param(lambda: fn.perceptron.init(K, "2"), TypeError, "n_in:", id="perc-init-n-in-str"),
    pytest.param(lambda: fn.perceptron.init(K, 2, 0), ValueError, "scale:", id="perc-init-scale-0"),
    pytest.param(
        lambda: fn.perceptron.init(K, 2, -1.0), ValueError, "scale:", id="perc-init-scale-neg"
    ),
    pytest.param(
        lambda: fn.perceptron.init(K, 2, np.nan), ValueError, "scale:", id="perc-init-scale-nan"
    ),
    pytest.param(
        lambda: fn.perceptron.init(K, 2, "0.5"), TypeError, "scale:", id="perc-init-scale-str"
    ),
    pytest.param(
        lambda: fn.perceptron.init(K, 2, 0.5j), TypeError, "scale:", id="perc-init-scale-complex"
    ),
    pytest.param(
        lambda: fn.perceptron.init(K, 2, jnp.array([0.5, 1.0])),
        ValueError,
        "scale:",
        id="perc-init-scale-vector",
    ),
    pytest.param(
        lambda: fn.perceptron.init(K, dtype=jnp.int32), TypeError, "dtype:", id="perc-init-dtype"
    ),
    pytest.param(
        lambda: fn.perceptron.init(K, dtype="float99"),
        TypeError,
        "dtype:",
        id="perc-init-dtype-name",
    ),
    # predict
    pytest.param(lambda: fn.perceptron.predict(None, X), TypeError, "p:", id="perc-predict-p-None"),
    pytest.param(
        lambda: fn.perceptron.predict([OR["w"], OR["b"]], X),
        TypeError,
        "p:",
        id="perc-predict-p-list",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(without(OR, "b"), X),
        ValueError,
        "p:",
        id="perc-predict-p-no-b",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR | {"w": np.ones((2, 1))}, X),
        ValueError,
        "p['w']:",
        id="perc-predict-w-2d",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR | {"b": np.zeros(1)}, X),
        ValueError,
        "p['b']:",
        id="perc-predict-b-shape",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR | {"w": OR["w"] + 1j}, X),
        TypeError,
        "p['w']:",
        id="perc-predict-w-complex",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR | {"b": "0.5"}, X),
        TypeError,
        "p['b']:",
        id="perc-predict-b-str",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR | {"w": np.array([np.nan, 1.0])}, X),
        ValueError,
        "p['w']:",
        id="perc-predict-w-nan",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR, np.zeros((4, 3))), ValueError, "X:", id="perc-predict-X"
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR, np.zeros((1, 4, 2))),
        ValueError,
        "X:",
        id="perc-predict-X-3d",
    ),
    pytest.param(
        lambda: fn.perceptron.predict(OR, None), TypeError, "X:", id="perc-predict-X-None"
    ),
    pytest.param(lambda: fn.perceptron.predict(OR, "01"), TypeError, "X:", id="perc-predict-X-str"),
    pytest.param(
        lambda: fn.perceptron.predict(OR, X + 1j), TypeError, "X:", id="perc-predict-X-complex"
    ),
    pytest.param(  # step(NaN) would read as 0
        lambda: fn.perceptron.predict(OR, nan_at(X)), ValueError, "X:", id="perc-predict-X-nan"
    ),
    # update
    pytest.param(
        lambda: fn.perceptron.update(None, X[0], 1.0, 0.1), TypeError, "p:", id="perc-update-p"
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, X, 1.0, 0.1), ValueError, "x:", id="perc-update-x-batch"
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, nan_at(X[0]), 1.0, 0.1),
        ValueError,
        "x:",
        id="perc-update-x-nan",
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, X[0], 2.0, 0.1), ValueError, "t:", id="perc-update-t-2"
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, X[0], T[:2, 0], 0.1),
        ValueError,
        "t:",
        id="perc-update-t-vector",
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, X[0], None, 0.1), TypeError, "t:", id="perc-update-t-None"
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, X[0], 1.0, 0.0), ValueError, "lr:", id="perc-update-lr-0"
    ),
    pytest.param(
        lambda: fn.perceptron.update(OR, X[0], 1.0, "0.1"),
        TypeError,
        "lr:",
        id="perc-update-lr-str",
    ),
    # fit
    pytest.param(  # silently accepted before
        lambda: pfit(T=np.array([2.0, -1, 2, -1])), ValueError, "T:", id="perc-fit-T-not-binary"
    ),
    pytest.param(lambda: pfit(T=nan_at(T)), ValueError, "T:", id="perc-fit-T-nan"),
    pytest.param(lambda: pfit(T=T + 1j), TypeError, "T:", id="perc-fit-T-complex"),
    pytest.param(lambda: pfit(T=None), TypeError, "T:", id="perc-fit-T-None"),
    pytest.param(lambda: pfit(T="0110"), TypeError, "T:", id="perc-fit-T-str"),
    pytest.param(lambda: pfit(T=T.astype(bool)), TypeError, "T:", id="perc-fit-T-bool"),
    pytest.param(lambda: pfit(T=T[:3]), ValueError, "T:", id="perc-fit-T-rows"),
    pytest.param(lambda: pfit(T=np.zeros((4, 2))), ValueError, "T:", id="perc-fit-T-columns"),
    pytest.param(  # NaN weights and ordinary mistake counts before
        lambda: pfit(X=nan_at(X)), ValueError, "X:", id="perc-fit-X-nan"
    ),
    pytest.param(lambda: pfit(X=nan_at(X, np.inf)), ValueError, "X:", id="perc-fit-X-inf"),
    pytest.param(lambda: pfit(X=X + 1j), TypeError, "X:", id="perc-fit-X-complex"),
    pytest.param(lambda: pfit(X=None), TypeError, "X:", id="perc-fit-X-None"),
    pytest.param(lambda: pfit(X="0101"), TypeError, "X:", id="perc-fit-X-str"),
    pytest.param(lambda: pfit(X=NONE_X), TypeError, "X:", id="perc-fit-X-object-None"),
    pytest.param(lambda: pfit(X=X.astype(bool)), TypeError, "X:", id="perc-fit-X-bool"),
    pytest.param(lambda: pfit(X=X[:0], T=T[:0]), ValueError, "X:", id="perc-fit-X-empty"),
    pytest.param(lambda: pfit(X=X[0]), ValueError, "X:", id="perc-fit-X-1d"),
    pytest.param(lambda: pfit(p=None), TypeError, "p:", id="perc-fit-p-None"),
    pytest.param(lambda: pfit(p=without(PERC, "b")), ValueError, "p:", id="perc-fit-p-no-b"),
    pytest.param(
        lambda: pfit(p=fn.perceptron.init(K, 3)), ValueError, "p:", id="perc-fit-p-wrong-n-in"
    ),
    pytest.param(
        lambda: pfit(p=tree_as(PERC, np.int32)), TypeError, "p['w']:", id="perc-fit-p-int"
    ),
    pytest.param(
        lambda: pfit(p=tree_as(PERC, np.complex64)), TypeError, "p['w']:", id="perc-fit-p-complex"
    ),
    pytest.param(
        lambda: pfit(p=PERC | {"b": np.float32(np.nan)}), ValueError, "p['b']:", id="perc-fit-p-nan"
    ),
    pytest.param(
        lambda: pfit(p=PERC | {"b": PERC["b"][None]}), ValueError, "p['b']:", id="perc-fit-b-shape"
    ),
    pytest.param(lambda: pfit(key=0), TypeError, "key:", id="perc-fit-key-int"),
    pytest.param(lambda: pfit(key=KEYS3), ValueError, "key:", id="perc-fit-key-split-3"),
    pytest.param(lambda: pfit(key=jnp.zeros(2)), TypeError, "key:", id="perc-fit-key-float"),
    pytest.param(lambda: pfit(epochs=0), ValueError, "epochs:", id="perc-fit-epochs-zero"),
    pytest.param(lambda: pfit(epochs=1.5), TypeError, "epochs:", id="perc-fit-epochs-float"),
    pytest.param(lambda: pfit(lr=0.0), ValueError, "lr:", id="perc-fit-lr-zero"),
    pytest.param(lambda: pfit(lr=-1.0), ValueError, "lr:", id="perc-fit-lr-neg"),
    pytest.param(lambda: pfit(lr=np.nan), ValueError, "lr:", id="perc-fit-lr-nan"),
    pytest.param(lambda: pfit(lr="1"), TypeError, "lr:", id="perc-fit-lr-str"),
    pytest.param(lambda: pfit(lr=1 + 0j), TypeError, "lr:", id="perc-fit-lr-complex"),
    pytest.param(
        lambda: pfit(lr=jnp.array([0.1, 0.2])), ValueError, "lr:", id="perc-fit-lr-vector"
    ),
    # combine
    pytest.param(lambda: fn.perceptron.combine([], AND), TypeError, "hidden:", id="combine-empty"),
    pytest.param(lambda: fn.perceptron.combine(OR, AND), TypeError, "hidden:", id="combine-dict"),
    pytest.param(lambda: fn.perceptron.combine(None, AND), TypeError, "hidden:", id="combine-None"),
    pytest.param(
        lambda: fn.perceptron.combine([OR, fn.perceptron.init(K, 3)], AND),
        ValueError,
        "hidden:",
        id="combine-shapes",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR, None], AND),
        TypeError,
        "hidden[1]:",
        id="combine-hidden-None",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([without(OR, "w"), OR], AND),
        ValueError,
        "hidden[0]:",
        id="combine-hidden-no-w",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR | {"w": OR["w"] + 1j}, OR], AND),
        TypeError,
        "hidden[0]['w']:",
        id="combine-hidden-complex",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR | {"b": np.inf}, OR], AND),
        ValueError,
        "hidden[0]['b']:",
        id="combine-hidden-inf",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR, OR], None), TypeError, "output:", id="combine-out-None"
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR, OR], AND | {"w": jnp.ones(3)}),
        ValueError,
        "output:",
        id="combine-out-shape",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR, OR], AND | {"b": jnp.zeros(1)}),
        ValueError,
        "output['b']:",
        id="combine-out-bias-shape",
    ),
    pytest.param(
        lambda: fn.perceptron.combine([OR, OR], without(AND, "b")),
        ValueError,
        "output:",
        id="combine-out-no-b",
    ),
]

LINEAR_ROWS = [
    # predict, error
    pytest.param(lambda: fn.linear.predict(jnp.ones(2), 1.0), ValueError, "A:", id="lin-A-vector"),
    pytest.param(lambda: fn.linear.predict(None, 1.0), TypeError, "A:", id="lin-A-None"),
    pytest.param(lambda: fn.linear.predict("0.5", 1.0), TypeError, "A:", id="lin-A-str"),
    pytest.param(lambda: fn.linear.predict(0.5 + 1j, 1.0), TypeError, "A:", id="lin-A-complex"),
    pytest.param(lambda: fn.linear.predict(True, 1.0), TypeError, "A:", id="lin-A-bool"),
    pytest.param(lambda: fn.linear.predict(np.nan, 1.0), ValueError, "A:", id="lin-A-nan"),
    pytest.param(lambda: fn.linear.predict(0.5, 1.0 + 1j), TypeError, "x:", id="lin-x-complex"),
    pytest.param(lambda: fn.linear.predict(0.5, None), TypeError, "x:", id="lin-x-None"),
    pytest.param(lambda: fn.linear.error(0.5, XS, TS[:1]), ValueError, "t:", id="lin-error-t"),
    pytest.param(lambda: fn.linear.error(0.5, 1.0, 1j), TypeError, "t:", id="lin-error-t-complex"),
    pytest.param(lambda: fn.linear.error(0.5, 1.0, None), TypeError, "t:", id="lin-error-t-None"),
    # refine: one example
    pytest.param(lambda: fn.linear.refine(0.25, 0.0, 1.0), ValueError, "x:", id="refine-x-zero"),
    pytest.param(lambda: fn.linear.refine(0.25, np.nan, 1.0), ValueError, "x:", id="refine-x-nan"),
    pytest.param(lambda: fn.linear.refine(0.25, 1.0, np.inf), ValueError, "t:", id="refine-t-inf"),
    pytest.param(lambda: fn.linear.refine(np.nan, 1.0, 1.0), ValueError, "A:", id="refine-A-nan"),
    pytest.param(lambda: fn.linear.refine(jnp.ones(2), 1.0, 1.0), ValueError, "A:", id="refine-A"),
    pytest.param(lambda: fn.linear.refine(0.25, XS, TS), ValueError, "x:", id="refine-x-vector"),
    pytest.param(lambda: fn.linear.refine(0.25, 1.0, TS), ValueError, "t:", id="refine-t-vector"),
    pytest.param(lambda: fn.linear.refine(0.25, 1j, 1.0), TypeError, "x:", id="refine-x-complex"),
    pytest.param(lambda: fn.linear.refine(0.25, 1.0, 1.0, 0.0), ValueError, "lr:", id="refine-lr"),
    pytest.param(
        lambda: fn.linear.refine(0.25, 1.0, 1.0, "1"), TypeError, "lr:", id="refine-lr-str"
    ),
    pytest.param(
        lambda: fn.linear.refine(0.25, 1.0, 1.0, jnp.ones(2)),
        ValueError,
        "lr:",
        id="refine-lr-vector",
    ),
    # fit
    pytest.param(lambda: fn.linear.fit(0.25, [np.nan, 1.0], TS), ValueError, "x:", id="lfit-x-nan"),
    pytest.param(lambda: fn.linear.fit(0.25, XS, [np.inf, 2.9]), ValueError, "t:", id="lfit-t-inf"),
    pytest.param(lambda: fn.linear.fit(np.nan, XS, TS), ValueError, "A:", id="lfit-A-nan"),
    pytest.param(  # the imaginary part was dropped with a warning before
        lambda: fn.linear.fit(0.25, [3 + 1j, 1], TS), TypeError, "x:", id="lfit-x-complex"
    ),
    pytest.param(lambda: fn.linear.fit(0.25 + 1j, XS, TS), TypeError, "A:", id="lfit-A-complex"),
    pytest.param(lambda: fn.linear.fit(0.25, XS, TS + 1j), TypeError, "t:", id="lfit-t-complex"),
    pytest.param(lambda: fn.linear.fit(0.25, None, TS), TypeError, "x:", id="lfit-x-None"),
    pytest.param(lambda: fn.linear.fit(0.25, "31", TS), TypeError, "x:", id="lfit-x-str"),
    pytest.param(
        lambda: fn.linear.fit(0.25, np.array([None, 1.0]), TS), TypeError, "x:", id="lfit-x-obj"
    ),
    pytest.param(lambda: fn.linear.fit(0.25, [True, True], TS), TypeError, "x:", id="lfit-x-bool"),
    pytest.param(lambda: fn.linear.fit(0.25, XS, None), TypeError, "t:", id="lfit-t-None"),
    pytest.param(lambda: fn.linear.fit(0.25, [], []), ValueError, "x:", id="lfit-x-empty"),
    pytest.param(lambda: fn.linear.fit(0.25, XS[:, None], TS), ValueError, "x:", id="lfit-x-2d"),
    pytest.param(lambda: fn.linear.fit(0.25, XS, TS[:1]), ValueError, "t:", id="lfit-t-shape"),
    pytest.param(lambda: fn.linear.fit(0.25, [3.0, 0.0], TS), ValueError, "x:", id="lfit-x-zero"),
    pytest.param(lambda: fn.linear.fit(None, XS, TS), TypeError, "A:", id="lfit-A-None"),
    pytest.param(lambda: fn.linear.fit([0.25], XS, TS), ValueError, "A:", id="lfit-A-list"),
    pytest.param(lambda: fn.linear.fit(0.25, XS, TS, lr=-1.0), ValueError, "lr:", id="lfit-lr-neg"),
    pytest.param(
        lambda: fn.linear.fit(0.25, XS, TS, lr=np.nan), ValueError, "lr:", id="lfit-lr-nan"
    ),
    pytest.param(
        lambda: fn.linear.fit(0.25, XS, TS, lr=0.5j), TypeError, "lr:", id="lfit-lr-complex"
    ),
    pytest.param(
        lambda: fn.linear.fit(0.25, XS, TS, lr=np.array([0.5, 0.1])),
        ValueError,
        "lr:",
        id="lfit-lr-vector",
    ),
    # classify, targets
    pytest.param(
        lambda: fn.linear.classify(1.0, np.ones((2, 3))), ValueError, "points:", id="classify-3"
    ),
    pytest.param(
        lambda: fn.linear.classify(1.0, np.ones(3)), ValueError, "points:", id="classify-1d"
    ),
    pytest.param(
        lambda: fn.linear.classify(1.0, POINTS + 1j), TypeError, "points:", id="classify-complex"
    ),
    pytest.param(
        lambda: fn.linear.classify(1.0, None), TypeError, "points:", id="classify-points-None"
    ),
    pytest.param(
        lambda: fn.linear.classify(jnp.ones(2), POINTS), ValueError, "A:", id="classify-A"
    ),
    pytest.param(  # every point would be class 0
        lambda: fn.linear.classify(np.nan, POINTS), ValueError, "A:", id="classify-A-nan"
    ),
    pytest.param(
        lambda: fn.linear.targets(np.ones((2, 3)), LAB), ValueError, "points:", id="targets-points"
    ),
    pytest.param(
        lambda: fn.linear.targets(nan_at(POINTS), LAB),
        ValueError,
        "points:",
        id="targets-points-nan",
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, LAB[:1]), ValueError, "labels:", id="targets-labels-shape"
    ),
    pytest.param(  # a 2 was read as class 0 before
        lambda: fn.linear.targets(POINTS, np.array([0, 2])),
        ValueError,
        "labels:",
        id="targets-labels-2",
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, ["a", "b"]), TypeError, "labels:", id="targets-labels-str"
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, LAB + 0j),
        TypeError,
        "labels:",
        id="targets-labels-complex",
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, LAB, -0.1), ValueError, "margin:", id="targets-margin"
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, LAB, np.nan),
        ValueError,
        "margin:",
        id="targets-margin-nan",
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, LAB, "0.1"), TypeError, "margin:", id="targets-margin-str"
    ),
    pytest.param(
        lambda: fn.linear.targets(POINTS, LAB, np.array([0.1, 0.2])),
        ValueError,
        "margin:",
        id="targets-margin-vector",
    ),
]

NAMES_ROWS = [
    pytest.param(lambda: fn.losses.get("hinge"), ValueError, "loss:", id="losses-unknown"),
    pytest.param(lambda: fn.losses.get("MSE"), ValueError, "loss:", id="losses-case"),
    pytest.param(lambda: fn.losses.get(None), TypeError, "loss:", id="losses-None"),
    pytest.param(lambda: fn.losses.get(3), TypeError, "loss:", id="losses-int"),
    pytest.param(lambda: fn.losses.get(["mse"]), TypeError, "loss:", id="losses-list"),
    pytest.param(
        lambda: fn.losses.get(fn.activations.sigmoid), TypeError, "loss:", id="losses-activation"
    ),
    pytest.param(lambda: fn.losses.get(lambda a, t: 0.0), TypeError, "loss:", id="losses-function"),
    pytest.param(
        lambda: fn.losses.get("l1", argument="criterion"),
        ValueError,
        "criterion:",
        id="losses-argument-name",
    ),
    pytest.param(lambda: fn.activations.get("swish"), ValueError, "activation:", id="acts-unknown"),
    pytest.param(lambda: fn.activations.get("ReLU"), ValueError, "activation:", id="acts-case"),
    pytest.param(lambda: fn.activations.get("softmax"), ValueError, "activation:", id="acts-soft"),
    pytest.param(lambda: fn.activations.get(None), TypeError, "activation:", id="acts-None"),
    pytest.param(
        lambda: fn.activations.get(jax.nn.relu), TypeError, "activation:", id="acts-function"
    ),
    pytest.param(
        lambda: fn.activations.get(fn.losses.mse), TypeError, "activation:", id="acts-loss"
    ),
    pytest.param(
        lambda: fn.activations.get(0, argument="hidden"), TypeError, "hidden:", id="acts-argument"
    ),
]

DIAGNOSTICS_ROWS = [
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, P, nan_at(X), T),
        ValueError,
        "X:",
        id="gradnorms-X-nan",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, P, X[:, :1], T),
        ValueError,
        "X:",
        id="gradnorms-X-width",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, P, X, T[:2]),
        ValueError,
        "T:",
        id="gradnorms-T-rows",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, P, X, nan_at(T, np.inf)),
        ValueError,
        "T:",
        id="gradnorms-T-inf",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, P, X, T, grads="jax"),
        TypeError,
        "grads:",
        id="gradnorms-grads",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, P, X, T, loss="hinge"),
        ValueError,
        "loss:",
        id="gradnorms-loss",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(NET, None, X, T),
        ValueError,
        "params:",
        id="gradnorms-params-None",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms((2, 2, 1), P, X, T),
        TypeError,
        "net:",
        id="gradnorms-net",
    ),
    pytest.param(
        lambda: fn.diagnostics.gradient_norms(STEP, P, X, T),
        ValueError,
        "net:",
        id="gradnorms-net-step",
    ),
    pytest.param(
        lambda: fn.diagnostics.layer_activations(NET, P, X[:, :1]),
        ValueError,
        "X:",
        id="layer-acts-X-width",
    ),
    pytest.param(
        lambda: fn.diagnostics.layer_activations(NET, P, X + 1j),
        TypeError,
        "X:",
        id="layer-acts-X-complex",
    ),
    pytest.param(
        lambda: fn.diagnostics.layer_activations(NET, tree_as(P, np.int32), X),
        TypeError,
        "params[0]['W']:",
        id="layer-acts-params-int",
    ),
    pytest.param(
        lambda: fn.diagnostics.layer_activations((2, 2, 1), P, X),
        TypeError,
        "net:",
        id="layer-acts-net",
    ),
    pytest.param(
        lambda: fn.diagnostics.activation_stats(NET, P, None),
        TypeError,
        "X:",
        id="act-stats-X-None",
    ),
    pytest.param(
        lambda: fn.diagnostics.activation_stats(NET, None, X),
        ValueError,
        "params:",
        id="act-stats-params-None",
    ),
    pytest.param(
        lambda: fn.diagnostics.activation_stats(None, P, X),
        TypeError,
        "net:",
        id="act-stats-net",
    ),
]

PRETRAIN_ROWS = [
    pytest.param(
        lambda: fn.pretrain.autoencoders((2, 3, 1), K, X), TypeError, "net:", id="pre-net-tuple"
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(fn.MLP((2, 1)), K, X),
        ValueError,
        "net:",
        id="pre-net-no-hidden",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X[:, :1]), ValueError, "X:", id="pre-X-width"
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X + 1j), TypeError, "X:", id="pre-X-complex"
    ),
    pytest.param(lambda: fn.pretrain.autoencoders(DEEP, K, None), TypeError, "X:", id="pre-X-None"),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X, epochs=0), ValueError, "epochs:", id="pre-ep"
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X, epochs=1.5),
        TypeError,
        "epochs:",
        id="pre-epochs-float",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X, batch_size=0),
        ValueError,
        "batch_size:",
        id="pre-batch-zero",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X, optimizer=0.1),
        TypeError,
        "optimizer:",
        id="pre-optimizer",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X, optimizer=optax.sgd(-0.1)),
        ValueError,
        "optimizer:",
        id="pre-optimizer-uphill",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, 0, X),
        TypeError,
        "key:",
        id="pre-key-int",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, nan_at(X)),
        ValueError,
        "X:",
        id="pre-X-nan",
    ),
    pytest.param(
        lambda: fn.pretrain.autoencoders(DEEP, K, X, init_scheme="glorot"),
        ValueError,
        "init_scheme:",
        id="pre-init-scheme",
    ),
]

LAYOUT_ROWS = [
    pytest.param(
        lambda: fn.layout.choose("rows", NET, "mse"), ValueError, "layout:", id="lay-name"
    ),
    pytest.param(
        lambda: fn.layout.choose("Matrix", NET, "mse"), ValueError, "layout:", id="lay-case"
    ),
    pytest.param(lambda: fn.layout.choose(3, NET, "mse"), ValueError, "layout:", id="lay-int"),
    pytest.param(lambda: fn.layout.choose(None, NET, "mse"), ValueError, "layout:", id="lay-None"),
    pytest.param(
        lambda: fn.layout.choose("scalar", NET, "mse", fn.backprop.dropout(0.2)),
        ValueError,
        "layout:",
        id="lay-scalar-dropout",
    ),
    pytest.param(
        lambda: fn.layout.choose("auto", NET, "hinge"), ValueError, "loss:", id="lay-loss"
    ),
    pytest.param(
        lambda: fn.layout.choose("auto", None, "mse"),
        TypeError,
        "net:",
        id="lay-net-None",
    ),
]

ROWS = (
    MLP_ROWS
    + INIT_ROWS
    + APPLY_ROWS
    + BACKPROP_ROWS
    + FIT_ROWS
    + TRAIN_PARTS_ROWS
    + SWEEP_ROWS
    + DATA_ROWS
    + PERCEPTRON_ROWS
    + LINEAR_ROWS
    + NAMES_ROWS
    + DIAGNOSTICS_ROWS
    + PRETRAIN_ROWS
    + LAYOUT_ROWS
)


@pytest.mark.parametrize(("call", "error", "prefix"), ROWS)
def test_bad_input_fails_naming_the_argument(call, error, prefix):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith(prefix), message
    assert len(message) > len(prefix) + 10, message  # says more than the argument's name


def test_the_table_is_large_and_its_ids_unique():
    ids = [row.id for row in ROWS]
    assert len(ids) > 260
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)


# -- results that were silently wrong ---------------------------------------------------------


def test_accuracy_of_non_finite_outputs_is_nan_not_chance():
    # NaN >= 0.5 is False, which matched every 0 target: the accuracy read 0.5
    a = jnp.array([[0.0], [1.0], [np.nan], [0.0]])
    assert np.isnan(fn.train.accuracy(NET, "mse", a, jnp.asarray(T)))
    logits = jnp.array([[0.0, 1.0, 0.0]] * 3 + [[np.inf, 0.0, 0.0]])
    assert np.isnan(fn.train.accuracy(CLS, "softmax_cross_entropy", logits, jnp.asarray(LABELS)))
    # finite outputs keep their accuracy
    good = jnp.asarray(T) * 0.8 + 0.1
    assert float(fn.train.accuracy(NET, "mse", good, jnp.asarray(T))) == 1.0


def test_a_scale_is_a_scalar_and_vmaps_over_scales():
    # a vector scale broadcast into the last layer's W, (2, 1) -> (2, 2); vmap is the way to many
    params = jax.vmap(lambda s: NET.init(K, "uniform", s))(jnp.array([0.5, 1.0]))
    assert [(p["W"].shape, p["b"].shape) for p in params] == [
        ((2, 2, 2), (2, 2)),
        ((2, 2, 1), (2, 1)),
    ]
    for p, q in zip(params, NET.init(K, "uniform", 1.0)):
        np.testing.assert_allclose(p["W"][1], q["W"], rtol=1e-6)
        np.testing.assert_allclose(p["W"][0], q["W"] / 2, rtol=1e-6)


def test_traced_values_are_checked_for_shape_and_dtype_only():
    # under jit a NaN cannot be seen without a host sync: it passes through, honestly
    out = jax.jit(NET.apply)(P, jnp.asarray(nan_at(X), jnp.float32))
    assert np.isnan(out[0, 0]) and np.all(np.isfinite(out[1:]))
    # a traced learning rate and traced examples train; concrete checks do not break tracing
    A, history = jax.jit(lambda lr, x: fn.linear.fit(0.25, x, TS, lr=lr))(0.5, XS)
    np.testing.assert_allclose(history, [0.3083, 1.6042], atol=1e-4)
    p, mistakes, first = jax.vmap(lambda k: pfit(fn.perceptron.init(k), T=T[:, 0] * 0 + 1))(
        jax.random.split(K, 2)
    )
    assert mistakes.shape == (2, 1) and first.shape == (2,)


ACCEPTED = [
    pytest.param(lambda: NET.apply(P, X.astype(np.int32)), id="apply-X-int"),
    pytest.param(lambda: NET.apply(P, X.tolist()), id="apply-X-list"),
    pytest.param(lambda: NET.apply(tree_as(P, np.float64), X), id="apply-params-numpy"),
    pytest.param(lambda: NET.apply(P, X, dropout=0, key=None), id="apply-dropout-int-zero"),
    pytest.param(lambda: NET.apply(P, X, dropout=np.float32(0.2), key=K), id="apply-drop-np"),
    pytest.param(lambda: NET.init(jax.random.PRNGKey(0)), id="init-legacy-key"),
    pytest.param(lambda: NET.init(np.array([0, 1], np.uint32)), id="init-numpy-legacy-key"),
    pytest.param(lambda: NET.init(K, "uniform", np.float32(0.5)), id="init-scale-numpy"),
    pytest.param(lambda: NET.init(K, "normal", 1), id="init-scale-int"),
    pytest.param(lambda: NET.init(K, dtype="float64"), id="init-dtype-name"),
    pytest.param(lambda: fn.MLP((2, np.int64(2), 1)), id="MLP-numpy-int-size"),
    pytest.param(lambda: fn.data.logic_gate("XOR"), id="gate-upper-case"),
    pytest.param(lambda: fn.data.logic_gate("and", dtype=np.int32), id="gate-int-dtype"),
    pytest.param(lambda: fn.data.insects(K, 10, np.float32(0.3)), id="insects-noise-numpy"),
    pytest.param(lambda: fn.data.insects(K, 10, jnp.array(0.3)), id="insects-noise-array"),
    pytest.param(lambda: fn.data.insects(K, 10, 0), id="insects-noise-zero"),
    pytest.param(lambda: fn.data.insects(jax.random.PRNGKey(1), 10), id="insects-legacy-key"),
    pytest.param(lambda: fn.perceptron.predict({"w": [1, 1], "b": -1.5}, X), id="perc-python"),
    pytest.param(lambda: fn.perceptron.predict(OR, X[0]), id="perc-predict-one-example"),
    pytest.param(lambda: fn.perceptron.update(OR, X[0], 1, 0.1), id="perc-update-int-target"),
    pytest.param(lambda: fn.linear.fit(1, [3, 1], [1.1, 2.9], lr=1), id="linear-fit-ints"),
    pytest.param(lambda: fn.linear.refine(np.float32(0.25), 3.0, 1.1), id="linear-refine-numpy"),
    pytest.param(lambda: fn.linear.targets(POINTS, LAB.astype(float), 0), id="targets-float"),
    pytest.param(lambda: fn.sweep.seed_key(jax.random.PRNGKey(0), 3), id="seed-key-legacy"),
]


@pytest.mark.parametrize("call", ACCEPTED)
def test_good_input_is_accepted(call):
    call()


def test_combine_takes_integer_weights_and_computes_xor():
    OR_i = {"w": np.array([1, 1]), "b": -0.5}
    NAND_i = {"w": np.array([-1, -1]), "b": 1.5}
    AND_i = {"w": [1, 1], "b": -1.5}
    net, params = fn.perceptron.combine([OR_i, NAND_i], AND_i)
    assert all(jnp.issubdtype(a.dtype, jnp.floating) for a in jax.tree.leaves(params))
    np.testing.assert_array_equal(np.asarray(net.apply(params, X)), T)
