"""The optimizers experiment end to end on tiny settings, and its optimizers are the book's update
rules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _markdown import assert_tables_well_formed

import fnnet as fn
from experiments import _harness, _seeds

# tiny programs compile several times faster at XLA's lowest optimisation level
LEVEL0 = {"xla_backend_optimization_level": 0}


def test_optimizers_small(tmp_path, monkeypatch):
    import experiments.optimizers as ex

    small = {
        **ex.QUICK,
        "optimizers": ["SGD", "RMSProp"],
        "sizes": [40, 8, 10],
        "epochs": 3,
        "seeds": 2,
        "lr_factors": [0.5, 1.0],
    }
    monkeypatch.setattr(ex, "QUICK", small)
    monkeypatch.setattr(ex, "COMPILER_OPTIONS", LEVEL0)
    result = _harness.run_experiment(ex, "quick", str(tmp_path))
    assert list(result["rows"]) == ["SGD", "RMSProp"]
    for name, r in result["rows"].items():
        assert len(r["final_train_loss"]["per_seed"]) == 2
        assert np.isfinite(r["final_train_loss"]["mean"])
        assert 0.0 <= r["final_test_accuracy"]["mean"] <= 1.0
        assert len(result["curves"][name]["train_loss_mean"]) == 3
        # the injected learning rate reaches the optimizer: half the rate, another run
        half, full = result["lr_sensitivity"][name]
        assert half["learning_rate"] == pytest.approx(0.5 * full["learning_rate"])
        assert half["final_train_loss"]["per_seed"] != full["final_train_loss"]["per_seed"]
    assert result["verdict"] in ("holds", "partly", "fails")
    assert (tmp_path / "optimizers_curves.png").stat().st_size > 0
    # every rule trains in one program (a traced index picks the rule): SGD's numbers are those
    # of SGD trained alone, up to float rounding, and RMSProp's are another rule's
    keys = jax.random.split(jax.random.key(small["seed"]), small["seeds"])
    alone = _seeds.fit_seeds(
        fn.MLP((40, 8, 10), hidden="relu", output="identity"),
        ex.make_optimizer("SGD")[0],
        fn.data.mnist1d(seed=small["data_seed"])[0],
        epochs=3,
        batch_size=small["batch_size"],
        loss="softmax_cross_entropy",
    )
    h = jax.jit(alone, compiler_options=fn.xla.compiler_options(LEVEL0))(
        keys, ex.initial_weights(small, keys)
    )
    sgd = result["rows"]["SGD"]["final_train_loss"]["per_seed"]
    np.testing.assert_allclose(sgd, h["loss"][:, -1], rtol=1e-4)
    assert not np.allclose(sgd, result["rows"]["RMSProp"]["final_train_loss"]["per_seed"])
    for key in ("headline", "seeds"):
        assert isinstance(result[key], str) and result[key].strip()
    lines = ex.report(result)
    assert_tables_well_formed(lines)
    text = "\n".join(lines)
    assert "RMSProp" in text and "×0.5: final train loss / test acc" in text


def _book_updates(name, grads, lr):
    """Deep Learning from Scratch's common/optimizer.py, on one array, as written there."""
    p, state = np.zeros(3), {}
    for t, g in enumerate(grads, start=1):
        if name == "SGD":
            p = p - lr * g
        elif name == "Momentum":
            state["v"] = 0.9 * state.get("v", 0) - lr * g
            p = p + state["v"]
        elif name == "AdaGrad":
            state["h"] = state.get("h", 0) + g * g
            p = p - lr * g / (np.sqrt(state["h"]) + 1e-7)
        elif name == "RMSProp":
            state["h"] = 0.99 * state.get("h", 0) + 0.01 * g * g
            p = p - lr * g / (np.sqrt(state["h"]) + 1e-7)
        elif name == "Adam":
            lr_t = lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            state["m"] = state.get("m", 0) + 0.1 * (g - state.get("m", 0))
            state["v"] = state.get("v", 0) + 0.001 * (g**2 - state.get("v", 0))
            p = p - lr_t * state["m"] / (np.sqrt(state["v"]) + 1e-7)
    return p


@pytest.mark.parametrize("name", ["SGD", "Momentum", "AdaGrad", "RMSProp", "Adam"])
def test_optimizers_are_the_books_update_rules(name):
    from experiments.optimizers import make_optimizer

    opt, lr = make_optimizer(name)
    grads = np.array([[0.5, -2.0, 0.05], [0.4, 1.0, -0.05], [-0.3, 0.5, 0.1], [0.2, 0.1, 0.02]])
    params = jnp.zeros(3)
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    # optax's AdaGrad adds eps inside the square root, and its Adam adds eps after the bias
    # correction: differences of order eps / |g| from the book, far below the tolerance here
    np.testing.assert_allclose(np.asarray(params), _book_updates(name, grads, lr), rtol=1e-4)
