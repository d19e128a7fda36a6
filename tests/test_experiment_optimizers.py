"""The optimizers experiment end to end on tiny settings; its tuning, speed measure and verdict rule
on numbers made to order; and its optimizers are the book's update rules."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _experiment_checks import files_written

import fnnet as fn
from experiments import _harness, _protocol, _seeds, _stats

# tiny programs compile several times faster at XLA's lowest optimisation level
LEVEL0 = {"xla_backend_optimization_level": 0}
TINY = {
    "optimizers": ["SGD", "Adam"],
    "grids": {"SGD": [0.3, 1.0, 3.0], "Adam": [0.03, 0.1, 0.3]},
    "sizes": [40, 16, 10],
    "epochs": 6,
    "tuning_seeds": 2,
    "seeds": 3,
}
TINY_TARGET = 1.6  # a loss the tiny network passes within its 6 epochs, at its better rates


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import experiments.optimizers as ex

    out = tmp_path_factory.mktemp("optimizers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ex, "QUICK", {**ex.QUICK, **TINY})
        mp.setattr(ex, "COMPILER_OPTIONS", LEVEL0)
        mp.setattr(ex, "TARGET_LOSS", TINY_TARGET)
        result = _harness.run_experiment(ex, "quick", str(out))
        saved = files_written(ex, result, out)
    return ex, result, saved


def test_runs_end_to_end_with_equal_budgets(tiny):
    ex, result, saved = tiny
    assert saved["verdict"] in _protocol.VERDICTS
    assert result["steps_per_epoch"] == 3000 // 100 and result["n_validation"] == 1000
    assert result["steps"] == TINY["epochs"] * result["steps_per_epoch"]
    for kind in ("tuned", "book"):
        assert list(result["arms"][kind]) == TINY["optimizers"]
        for arm in result["arms"][kind].values():
            # every arm: the same number of epochs, one plateau entry per evaluation seed
            assert len(arm["curve"]["log10_loss_mean"]) == TINY["epochs"]
            assert len(arm["plateau"]["epoch"]) == TINY["seeds"] == arm["plateau"]["n_runs"]
            assert len(arm["final_train_loss"]["values"]) == TINY["seeds"]
    for name, t in result["tuning"].items():
        assert t["plateau"]["n_runs"] == len(TINY["grids"][name]) * TINY["tuning_seeds"]
        assert np.shape(t["steps_to_target"]) == (3, TINY["tuning_seeds"])
    assert len(result["headline"]) < 160
    text = "\n".join(ex.report(result))
    assert "0.03, 0.1, 0.3" in text and result["verdict"] in text


def test_tuned_rates_follow_from_the_tuning_runs(tiny):
    ex, result, _ = tiny
    for name, t in result["tuning"].items():
        assert t["chosen"] in TINY["grids"][name]
        assert result["arms"]["tuned"][name]["learning_rate"] == pytest.approx(t["chosen"])
        assert result["arms"]["book"][name]["learning_rate"] == ex.make_optimizer(name)[1]
        # the fewest mean steps over the tuning seeds among rates that reach the target on every
        # tuning seed, ties to the lower final training loss: numbers of the tuning runs only
        steps = [None if None in s else np.mean(s) for s in t["steps_to_target"]]
        final = np.mean(t["final_train_loss"], axis=1)
        k = min(range(3), key=lambda i: (math.inf if steps[i] is None else steps[i], final[i]))
        assert t["chosen"] == TINY["grids"][name][k]
        assert t["at_edge"] == (k in (0, 2))
    # the tiny settings reach the branches that matter: a rate that misses the target, and one
    # that reaches it
    assert any(None in s for t in result["tuning"].values() for s in t["steps_to_target"])
    assert result["arms"]["tuned"]["SGD"]["steps_to_target"]["reached"] == TINY["seeds"]


def test_speedup_is_sgd_steps_over_the_rules_steps(tiny):
    _, result, _ = tiny
    p = result["parts"]["Adam"]
    sgd = result["arms"]["tuned"]["SGD"]["steps_to_target"]["values"]
    adam = result["arms"]["tuned"]["Adam"]["steps_to_target"]["values"]
    # the tiny settings measure it: both reach the target on every seed at inside rates
    assert None not in sgd + adam and not result["tuning"]["Adam"]["at_edge"]
    np.testing.assert_allclose(p["speedup"]["values"], np.divide(sgd, adam))
    lo, hi = p["speedup"]["ci"]
    assert lo <= p["speedup"]["mean"] <= hi
    assert p["verdict"] == _stats.decide([math.log(lo), math.log(hi)], smallest=math.log(1.1))


def test_every_rule_trains_as_if_alone(tiny):
    """The rules share one program (a traced index picks the rule): SGD's and Adam's final losses
    at the book's rates are those of each trained alone from the same evaluation seeds, up to
    float rounding (at the book's small rates rounding differences do not grow)."""
    ex, result, _ = tiny
    settings = {**ex.QUICK, **TINY}
    train, _, _ = ex.split(settings)
    keys = jax.random.split(jax.random.fold_in(jax.random.key(settings["seed"]), 2), 3)
    inits = ex.initial_weights(settings, keys)
    for name in ("SGD", "Adam"):
        alone = _seeds.fit_seeds(
            ex.network(settings),
            ex.make_optimizer(name)[0],
            train,
            epochs=TINY["epochs"],
            batch_size=settings["batch_size"],
            loss="softmax_cross_entropy",
        )
        h = jax.jit(alone, compiler_options=fn.xla.compiler_options(LEVEL0))(keys, inits)
        got = result["arms"]["book"][name]["final_train_loss"]["values"]
        np.testing.assert_allclose(got, np.asarray(h["loss"])[:, -1], rtol=1e-4)


def test_epochs_to_target():
    from experiments.optimizers import epochs_to_target

    loss = np.array(
        [[2.0, 1.0, 0.1, 0.05], [2.0, np.nan, np.nan, np.nan], [2.0, 1.0, 0.5, 0.2]], np.float32
    )
    assert epochs_to_target(loss, 0.1).tolist() == [3, -1, -1]  # at the target counts
    assert epochs_to_target(loss, 1.0).tolist() == [2, -1, 2]


def _curves(first_epochs, finals, epochs=6):
    """Losses (rates, seeds, epochs) that fall to 0.01 at the given epochs (0: never) and end at
    ``finals``."""
    out = np.full(np.shape(first_epochs) + (epochs,), 1.0)
    for idx, e in np.ndenumerate(np.asarray(first_epochs)):
        if e:
            out[idx][e - 1 :] = 0.01
    out[..., -1] = finals
    return out


def test_choose_rates_fewest_steps_on_every_tuning_seed():
    from experiments.optimizers import choose_rates

    grids = {"A": [0.1, 0.2, 0.3]}
    # rate 0.2 is fastest on one seed but misses on the other; 0.3 is fastest on both
    loss = _curves([[4, 4], [2, 0], [3, 3]], [[0.01, 0.01], [0.01, 1.0], [0.01, 0.01]])
    got = choose_rates(["A"], grids, {"A": loss})["A"]
    assert (got["index"], got["learning_rate"], got["at_edge"]) == (2, 0.3, True)
    assert got["mean_epochs"] == [4.0, None, 3.0]
    # a tie in steps goes to the lower final training loss, here an inside rate
    loss = _curves([[3, 3], [3, 3], [4, 4]], [[0.01, 0.01], [0.005, 0.005], [0.01, 0.01]])
    got = choose_rates(["A"], grids, {"A": loss})["A"]
    assert (got["index"], got["at_edge"]) == (1, False)
    # no rate reaches the target: the lowest final loss
    loss = _curves([[0, 0], [0, 0], [0, 0]], [[0.9, 0.9], [0.5, 0.7], [np.nan, 0.1]])
    assert choose_rates(["A"], grids, {"A": loss})["A"]["index"] == 1


def test_speed_part_follows_the_criterion():
    from experiments.optimizers import SMALLEST_SPEEDUP, speed_part

    def arm(values):
        return {"steps_to_target": {"values": values}}

    sgd = arm([300, 360, 330, 390])
    fast = speed_part("A", sgd, arm([150, 190, 160, 200]), False, False)
    assert fast["verdict"] == "holds" and fast["speedup"]["ci"][0] > 1
    assert fast["speedup"]["mean"] == pytest.approx(
        math.exp(np.mean(np.log([300 / 150, 360 / 190, 330 / 160, 390 / 200])))
    )
    same = speed_part("A", sgd, arm([300, 366, 324, 390]), False, False)
    assert same["verdict"] == "fails" and same["speedup"]["ci"][1] < SMALLEST_SPEEDUP
    noisy = speed_part("A", sgd, arm([200, 400, 250, 420]), False, False)
    assert noisy["verdict"] == "inconclusive" and noisy["speedup"] is not None
    missed = speed_part("A", sgd, arm([150, None, 160, 200]), False, False)
    assert missed["verdict"] == "inconclusive" and "missed" in missed["why"]
    edge = speed_part("A", sgd, arm([150, 190, 160, 200]), True, False)
    assert edge["verdict"] == "inconclusive" and "SGD" in edge["why"] and "edge" in edge["why"]


def test_best_epoch_is_chosen_on_validation_not_test():
    from experiments.optimizers import arm_summary

    loss = np.array([[2.0, 1.0, 0.5, 0.2]])
    h = {
        "loss": loss,
        "eval_loss": np.array([[2.0, 1.5, 1.2, 1.4]]),
        "eval_accuracy": np.array([[0.2, 0.6, 0.5, 0.55]]),
        "test_accuracy": np.array([[0.1, 0.4, 0.3, 0.9]]),
    }
    s = arm_summary(h, 0.1, 30, _seeds.PLATEAU)
    assert s["best_validation_step"] == [60]
    assert s["test_accuracy_at_best"]["values"] == [0.4]
    assert s["steps_to_target"]["values"] == [None]  # 0.2 never reaches 0.105


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimizers": ["Adam", "RMSProp"]}, "expected SGD"),
        ({"grids": {**TINY["grids"], "Adam": [0.01, 0.03]}}, "same length"),
        ({"grids": {**TINY["grids"], "Adam": [0.0, 0.01, 0.03]}}, "positive"),
        ({"seeds": 1}, "seeds"),
    ],
)
def test_bad_settings_are_refused(change, message):
    from experiments.optimizers import QUICK, check_settings

    with pytest.raises(ValueError, match=message):
        check_settings({**QUICK, **TINY, **change})


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
@pytest.mark.parametrize("lr", [None, 0.3])
def test_optimizers_are_the_books_update_rules(name, lr):
    from experiments.optimizers import make_optimizer

    opt, lr = make_optimizer(name, lr)
    grads = np.array([[0.5, -2.0, 0.05], [0.4, 1.0, -0.05], [-0.3, 0.5, 0.1], [0.2, 0.1, 0.02]])
    params = jnp.zeros(3)
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    # optax's AdaGrad adds eps inside the square root, and its Adam adds eps after the bias
    # correction: differences of order eps / |g| from the book, far below the tolerance here
    np.testing.assert_allclose(np.asarray(params), _book_updates(name, grads, lr), rtol=1e-4)
