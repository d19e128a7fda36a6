"""Five update rules train the same MNIST-1D network from the same initial weights: plain SGD,
Momentum, AdaGrad, RMSProp and Adam (optax), the comparison of Deep Learning from Scratch 6.1.7.

Learning rates and constants are the defaults of that book's ``common/optimizer.py``, which its
``ch06/optimizer_compare_mnist.py`` uses (SGD 0.01; Momentum 0.01 with momentum 0.9; AdaGrad 0.01;
Adam 0.001 with β1 = 0.9, β2 = 0.999; RMSprop 0.01 with decay 0.99, a class in that file that the
script leaves commented out). The book trains a 784-100-100-100-100-10 ReLU network on MNIST for
2000 minibatches of 128; here a 40-100-100-10 ReLU network on MNIST-1D (4000 training sequences)
for 50 epochs of 40 minibatches of 100, i.e. 2000 steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _seeds

CLAIM = (
    "Plain SGD (θ := θ - α ∂J/∂θ) lowers the training loss slowest; Momentum, AdaGrad, RMSProp "
    "and Adam, which remember or rescale past gradients, train the same network from the same "
    "initial weights faster (Deep Learning from Scratch 6.1.7, here on MNIST-1D)."
)

# name -> (optax constructor, arguments): Deep Learning from Scratch's defaults, in optax's words.
# AdaGrad there starts its sum of squares at 0 (optax's default is 0.1); optax adds eps inside the
# square root, the book outside it (1e-7 either way). RMSprop there: h = 0.99 h + 0.01 g²,
# θ -= α g / (√h + 1e-7), which is optax.rmsprop with eps_in_sqrt=False.
OPTIMIZERS = {
    "SGD": (optax.sgd, {"learning_rate": 0.01}),
    "Momentum": (optax.sgd, {"learning_rate": 0.01, "momentum": 0.9}),
    "AdaGrad": (
        optax.adagrad,
        {"learning_rate": 0.01, "initial_accumulator_value": 0.0, "eps": 1e-7},
    ),
    "RMSProp": (
        optax.rmsprop,
        {"learning_rate": 0.01, "decay": 0.99, "eps": 1e-7, "eps_in_sqrt": False},
    ),
    "Adam": (optax.adam, {"learning_rate": 0.001, "b1": 0.9, "b2": 0.999}),
}

QUICK = {
    "optimizers": list(OPTIMIZERS),
    "sizes": [40, 100, 100, 10],
    "epochs": 50,
    "batch_size": 100,
    "seeds": 5,
    "lr_factors": [1.0],
    "data_seed": 42,
    "seed": 0,
}
# FULL also multiplies every learning rate by 0.1 and 10: does the ranking hinge on the book's rates?
FULL = {**QUICK, "epochs": 150, "seeds": 10, "lr_factors": [0.1, 1.0, 10.0]}


def make_optimizer(name: str, learning_rate=None):
    """The optimizer ``name`` of :data:`OPTIMIZERS` at ``learning_rate`` (default the book's; may
    be traced, so that a vmapped run sweeps it); returns ``(optimizer, learning_rate)``.

    Its hyperparameters are held in the optimizer state as float32 arrays
    (``optax.inject_hyperparams``), as the recorded results were computed."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {name!r}")
    factory, kwargs = OPTIMIZERS[name]
    lr = kwargs["learning_rate"] if learning_rate is None else learning_rate
    static = tuple(k for k, v in kwargs.items() if isinstance(v, bool))
    injected = optax.inject_hyperparams(factory, static_args=static)
    return injected(**{**kwargs, "learning_rate": lr}), lr


def train(name, settings, data, keys, lrs):
    """Every (learning rate, seed) of optimizer ``name`` as one vmapped program.

    Returns the per-epoch history, each leaf (len(lrs), len(keys), epochs), as NumPy arrays."""
    (X, y), (Xt, yt) = data
    net = fn.MLP(tuple(settings["sizes"]), hidden="relu", output="identity")

    def at(lr):  # every seed at learning rate lr (traced)
        train = _seeds.fit_seeds(
            net,
            make_optimizer(name, lr)[0],
            (X, y),
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            loss="softmax_cross_entropy",
            eval_data=(Xt, yt),
        )
        return train(keys)

    return _seeds.numpy(jax.vmap(at), jnp.asarray(lrs, jnp.float32))


def _stats(v):
    return {"mean": float(np.mean(v)), "std": float(np.std(v)), "per_seed": np.asarray(v).tolist()}


def run(settings, out):
    data = fn.data.mnist1d(seed=settings["data_seed"])
    # common random numbers: every optimizer starts from the same initial weights, seed by seed,
    # and sees the same minibatch order
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    factors = [float(f) for f in settings["lr_factors"]]
    if 1.0 not in factors:
        raise ValueError(f"lr_factors: expected a list that holds 1.0, got {factors!r}")
    base = factors.index(1.0)
    curves, rows, sensitivity = {}, {}, {}
    for name in settings["optimizers"]:
        _, lr = make_optimizer(name)
        hist = train(name, settings, data, keys, [lr * f for f in factors])
        h = jax.tree.map(lambda a: a[base], hist)  # (seeds, epochs)
        curves[name] = {
            "train_loss_mean": h["loss"].mean(0).tolist(),
            "train_loss_min": h["loss"].min(0).tolist(),
            "train_loss_max": h["loss"].max(0).tolist(),
            "test_accuracy_mean": h["eval_accuracy"].mean(0).tolist(),
            "test_accuracy_min": h["eval_accuracy"].min(0).tolist(),
            "test_accuracy_max": h["eval_accuracy"].max(0).tolist(),
        }
        rows[name] = {
            "learning_rate": lr,
            "final_train_loss": _stats(h["loss"][:, -1]),
            "mean_train_loss_over_epochs": _stats(h["loss"].mean(1)),
            "final_train_accuracy": _stats(h["train_accuracy"][:, -1]),
            "final_test_accuracy": _stats(h["eval_accuracy"][:, -1]),
            "best_test_accuracy": _stats(h["eval_accuracy"].max(1)),
            "diverged_seeds": int(np.sum(~np.isfinite(h["loss"][:, -1]))),
        }
        sensitivity[name] = [
            {
                "lr_factor": f,
                "learning_rate": lr * f,
                "final_train_loss": _stats(hist["loss"][i, :, -1]),
                "final_test_accuracy": _stats(hist["eval_accuracy"][i, :, -1]),
            }
            for i, f in enumerate(factors)
        ]

    # the claim: every other rule ends below SGD on every seed, and its whole curve lies lower
    # on average (mean training loss over the epochs)
    faster, slower = [], []
    if "SGD" in rows:
        sgd_final = min(rows["SGD"]["final_train_loss"]["per_seed"])
        sgd_area = rows["SGD"]["mean_train_loss_over_epochs"]["mean"]
        for name, r in rows.items():
            if name == "SGD":
                continue
            ok = (
                max(r["final_train_loss"]["per_seed"]) < sgd_final
                and r["mean_train_loss_over_epochs"]["mean"] < sgd_area
            )
            (faster if ok else slower).append(name)
        verdict = "holds" if faster and not slower else ("fails" if not faster else "partly")
    else:
        verdict = "not tested (no SGD)"
    (X, _), (Xt, _) = data
    return {
        "network": fn.MLP(tuple(settings["sizes"]), hidden="relu", output="identity").describe(),
        "n_train": int(X.shape[0]),
        "n_test": int(Xt.shape[0]),
        "steps": settings["epochs"] * (X.shape[0] // settings["batch_size"]),
        "optimizers": {n: OPTIMIZERS[n][1] for n in settings["optimizers"]},
        "rows": rows,
        "curves": curves,
        "lr_sensitivity": sensitivity,
        "faster_than_sgd": faster,
        "not_faster_than_sgd": slower,
        "figures": [_figure(curves, settings, out)],
        "verdict": verdict,
    }


def _figure(curves, settings, out):
    plt = _harness.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (name, c) in enumerate(curves.items()):
        e = np.arange(1, len(c["train_loss_mean"]) + 1)
        a1.plot(e, c["train_loss_mean"], color=f"C{i}", label=name)
        a1.fill_between(e, c["train_loss_min"], c["train_loss_max"], color=f"C{i}", alpha=0.25)
        a2.plot(e, c["test_accuracy_mean"], color=f"C{i}", label=name)
        a2.fill_between(
            e, c["test_accuracy_min"], c["test_accuracy_max"], color=f"C{i}", alpha=0.25
        )
    a1.set(yscale="log", xlabel="epoch", ylabel="training loss (mean minibatch cross-entropy)")
    a2.set(xlabel="epoch", ylabel="test accuracy")
    a1.legend()
    fig.suptitle(
        f"{'-'.join(map(str, settings['sizes']))} ReLU MLP on MNIST-1D, batch "
        f"{settings['batch_size']}: mean over {settings['seeds']} seeds, band = min to max"
    )
    return _harness.save_figure(fig, out, "optimizers_curves.png")


def _pm(s, pct=False):
    if pct:
        return f"{100 * s['mean']:.1f}% ± {100 * s['std']:.1f}"
    return f"{s['mean']:.4f} ± {s['std']:.4f}"


def report(result):
    s = result["settings"]
    lines = [
        f"{result['network']}; MNIST-1D, {result['n_train']} training / {result['n_test']} test "
        f"sequences; batch {s['batch_size']}, {s['epochs']} epochs ({result['steps']} steps); "
        f"{s['seeds']} seeds, every optimizer from the same initial weights. Learning rates: "
        "Deep Learning from Scratch's defaults. Mean ± std over seeds.",
        "",
        "| optimizer | learning rate | final train loss | mean train loss over epochs | "
        "final train acc | final test acc | best test acc |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["rows"].items():
        lines.append(
            f"| {name} | {r['learning_rate']:g} | {_pm(r['final_train_loss'])} | "
            f"{_pm(r['mean_train_loss_over_epochs'])} | {_pm(r['final_train_accuracy'], True)} | "
            f"{_pm(r['final_test_accuracy'], True)} | {_pm(r['best_test_accuracy'], True)} |"
        )
    if len(s["lr_factors"]) > 1:
        lines += [
            "",
            "Learning rate times " + ", ".join(f"{f:g}" for f in s["lr_factors"]) + ":",
            "",
            "| optimizer | "
            + " | ".join(f"×{f:g}: final train loss / test acc" for f in s["lr_factors"])
            + " |",
            "|---|" + "---|" * len(s["lr_factors"]),
        ]
        for name, rows in result["lr_sensitivity"].items():
            cells = [
                f"{r['final_train_loss']['mean']:.4g} / {100 * r['final_test_accuracy']['mean']:.1f}%"
                for r in rows
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    order = sorted(
        result["rows"], key=lambda n: result["rows"][n]["mean_train_loss_over_epochs"]["mean"]
    )
    lines += [
        "",
        "Ranked by mean training loss over the epochs (lower trains faster): "
        + " < ".join(order)
        + ".",
        f"Faster than SGD on every seed (final loss) and on average (mean loss over epochs): "
        f"{', '.join(result['faster_than_sgd']) or 'none'}; not: "
        f"{', '.join(result['not_faster_than_sgd']) or 'none'}.",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
