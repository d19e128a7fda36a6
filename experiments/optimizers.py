"""Five update rules train the same MNIST-1D network from the same initial weights: plain SGD,
Momentum, AdaGrad, RMSProp and Adam (optax), the comparison of Deep Learning from Scratch 6.1.7.

Learning rates and constants are the defaults of that book's ``common/optimizer.py``, which its
``ch06/optimizer_compare_mnist.py`` uses (SGD 0.01; Momentum 0.01 with momentum 0.9; AdaGrad 0.01;
Adam 0.001 with β1 = 0.9, β2 = 0.999; RMSprop 0.01 with decay 0.99, a class in that file that the
script leaves commented out). The book trains a 784-100-100-100-100-10 ReLU network on MNIST for
2000 minibatches of 128; here a 40-100-100-10 ReLU network on MNIST-1D (4000 training sequences)
for 20 epochs of 40 minibatches of 100 (800 steps; the full run: 150 epochs, 6000 steps).

All update rules train in one compiled program (:func:`switch`: the rule is a traced index,
vmapped with the seeds and learning rates), its seeds split over the CPU cores.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _seeds

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
    "epochs": 20,
    "batch_size": 100,
    "seeds": 6,
    "lr_factors": [1.0],
    "data_seed": 42,
    "seed": 0,
}
# FULL also multiplies every learning rate by 0.1 and 10: does the ranking hinge on the book's
# rates?
FULL = {**QUICK, "epochs": 150, "seeds": 10, "lr_factors": [0.1, 1.0, 10.0]}
# XLA's CPU backend at optimisation level 1 (its default is 3): the program compiles markedly
# faster (1.3 to 2.5 times in trials on two cores) and runs as fast; the drawing of the initial
# weights (threefry random bits), which runs in no time, compiles faster still at level 0
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


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


def initial_weights(settings, keys):
    """The initial weights of every seed, stacked: what ``fit`` would draw from each key (the
    network's default init, He's for ReLU, from the first half of the key). Drawn once, by a
    program of their own that compiles fast at XLA's optimisation level 0, and shared by every
    optimizer."""
    net = fn.MLP(tuple(settings["sizes"]), hidden="relu", output="identity")
    draw = jax.vmap(lambda k: net.init(jax.random.split(k)[0]))
    return jax.jit(draw, compiler_options=fn.xla.compiler_options(INIT_COMPILER_OPTIONS))(keys)


def train(names, settings, data, keys, inits, factors, which):
    """Training runs of the optimizers ``names[i]`` for ``i`` in ``which``, at every learning
    rate factor (times the book's rate), from the initial weights ``inits`` (stacked over
    seeds) with keys ``keys``: one compiled program (vmap over optimizers, factors and seeds,
    the seeds split over the CPU cores), compiled for the length of ``which``.

    Returns a function ``which -> history`` for any ``which`` of that length, each leaf
    (len(which), len(factors), seeds, epochs), as NumPy arrays.
    """
    (X, y), (Xt, yt) = data
    net = fn.MLP(tuple(settings["sizes"]), hidden="relu", output="identity")

    def at(i, factor, keys, inits):  # every seed with optimizer names[i], rate times factor
        optimizers = [make_optimizer(n, factor * make_optimizer(n)[1])[0] for n in names]
        fit = _seeds.fit_seeds(
            net,
            _seeds.switch(i, optimizers),
            (X, y),
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            loss="softmax_cross_entropy",
            eval_data=(Xt, yt),
        )
        return fit(keys, inits)

    over_factors = jax.vmap(at, in_axes=(None, 0, None, None))
    program = jax.jit(
        jax.vmap(over_factors, in_axes=(0, None, None, None)),
        compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS),
    )
    f = jnp.asarray(factors, jnp.float32)
    sharded = jax.device_put((keys, inits), _seeds.seed_sharding(keys.shape[0]))
    compiled = program.lower(jnp.asarray(which, jnp.int32), f, *sharded).compile()

    def run(which):
        return jax.tree.map(np.asarray, compiled(jnp.asarray(which, jnp.int32), f, *sharded))

    return run


def _stats(v):
    return {"mean": float(np.mean(v)), "std": float(np.std(v)), "per_seed": np.asarray(v).tolist()}


def _train_all(settings, data, keys, factors):
    """Every optimizer at every learning-rate factor, as one compiled program (see :func:`train`).
    Returns the histories by optimizer name, each leaf (factors, seeds, epochs)."""
    names = settings["optimizers"]
    which = list(range(len(names)))
    with _harness.progress(desc="optimizers: compile, train", total=2, unit="step") as bar:
        run = train(names, settings, data, keys, initial_weights(settings, keys), factors, which)
        bar.update(1)
        h = run(which)
        bar.update(1)
    return {name: jax.tree.map(lambda a, i=i: a[i], h) for i, name in enumerate(names)}


def _summaries(name, hist, base, factors):
    """One optimizer's curves (mean, min and max over seeds per epoch), its result row, and its
    learning-rate sensitivity, from its history ``hist`` (lrs, seeds, epochs); ``base`` indexes
    the book's learning rate in ``factors``."""
    lr = make_optimizer(name)[1]
    h = jax.tree.map(lambda a: a[base], hist)  # (seeds, epochs)
    curves = {
        "train_loss_mean": h["loss"].mean(0).tolist(),
        "train_loss_min": h["loss"].min(0).tolist(),
        "train_loss_max": h["loss"].max(0).tolist(),
        "test_accuracy_mean": h["eval_accuracy"].mean(0).tolist(),
        "test_accuracy_min": h["eval_accuracy"].min(0).tolist(),
        "test_accuracy_max": h["eval_accuracy"].max(0).tolist(),
    }
    row = {
        "learning_rate": lr,
        "final_train_loss": _stats(h["loss"][:, -1]),
        "mean_train_loss_over_epochs": _stats(h["loss"].mean(1)),
        "final_train_accuracy": _stats(h["train_accuracy"][:, -1]),
        "final_test_accuracy": _stats(h["eval_accuracy"][:, -1]),
        "best_test_accuracy": _stats(h["eval_accuracy"].max(1)),
        "diverged_seeds": int(np.sum(~np.isfinite(h["loss"][:, -1]))),
    }
    sensitivity = [
        {
            "lr_factor": f,
            "learning_rate": lr * f,
            "final_train_loss": _stats(hist["loss"][i, :, -1]),
            "final_test_accuracy": _stats(hist["eval_accuracy"][i, :, -1]),
        }
        for i, f in enumerate(factors)
    ]
    return curves, row, sensitivity


def _verdict(rows):
    """The claim: every other rule ends below SGD on every seed, and its whole curve lies lower
    on average (mean training loss over the epochs). Returns ``(faster, slower, verdict)``."""
    if "SGD" not in rows:
        return [], [], "not tested (no SGD)"
    faster, slower = [], []
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
    return faster, slower, verdict


def _headline(rows, faster, n_seeds):
    """SGD's final training loss against the slowest of the faster rules'."""
    if "SGD" not in rows:
        return "no SGD to compare with"
    sgd = rows["SGD"]["final_train_loss"]
    others = [n for n in rows if n != "SGD"]
    if not others:
        return f"final train loss SGD {sgd['mean']:.3f} ± {sgd['std']:.3f} ({n_seeds} seeds)"
    worst = max(others, key=lambda n: rows[n]["final_train_loss"]["mean"])
    w = rows[worst]["final_train_loss"]
    return (
        f"{len(faster)}/{len(others)} rules beat SGD on every seed; final train loss SGD "
        f"{sgd['mean']:.2f} ± {sgd['std']:.2f}, slowest other ({worst}) {w['mean']:.2f} ± "
        f"{w['std']:.2f}"
    )


def run(settings, out):
    data = fn.data.mnist1d(seed=settings["data_seed"])
    # common random numbers: every optimizer starts from the same initial weights, seed by seed,
    # and sees the same minibatch order
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    factors = [float(f) for f in settings["lr_factors"]]
    if 1.0 not in factors:
        raise ValueError(f"lr_factors: expected a list that holds 1.0, got {factors!r}")
    histories = _train_all(settings, data, keys, factors)
    curves, rows, sensitivity = {}, {}, {}
    for name, hist in histories.items():
        curves[name], rows[name], sensitivity[name] = _summaries(
            name, hist, factors.index(1.0), factors
        )
    faster, slower, verdict = _verdict(rows)
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
        "headline": _headline(rows, faster, settings["seeds"]),
        "seeds": f"{settings['seeds']} seeds, the same for every optimizer",
    }


# colour, line style and marker per optimizer: curves that coincide stay visible
STYLE = {
    "SGD": {"color": "C0", "ls": "-", "marker": "o"},
    "Momentum": {"color": "C1", "ls": "--", "marker": "s"},
    "AdaGrad": {"color": "C2", "ls": "-.", "marker": "D"},
    "RMSProp": {"color": "C3", "ls": "-", "marker": "v"},
    "Adam": {"color": "C4", "ls": ":", "marker": "^"},
}


def _figure(curves, settings, out):
    """Training loss (log scale) and test accuracy per epoch of every optimizer: mean over seeds,
    band min to max; curves that coincide are named in the title."""
    plt = _plots.pyplot()
    from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12.5, 4.5))
    every = max(1, settings["epochs"] // 10)
    for i, (name, c) in enumerate(curves.items()):
        st = {**STYLE.get(name, {"color": f"C{i}"}), "markevery": (i % every, every), "ms": 5}
        e = np.arange(1, len(c["train_loss_mean"]) + 1)
        a1.plot(e, c["train_loss_mean"], **st, label=name)
        a1.fill_between(e, c["train_loss_min"], c["train_loss_max"], color=st["color"], alpha=0.2)
        a2.plot(e, c["test_accuracy_mean"], **st, label=name)
        a2.fill_between(
            e, c["test_accuracy_min"], c["test_accuracy_max"], color=st["color"], alpha=0.2
        )
    a1.set(yscale="log", xlabel="epoch", ylabel="training loss (mean minibatch cross-entropy)")
    # plain numbers at 1, 2 and 5 times the powers of ten, not 10^k labels alone
    a1.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    a1.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    a1.yaxis.set_minor_formatter(NullFormatter())
    a2.set(xlabel="epoch", ylabel="test accuracy")
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    same = _plots.coinciding(
        {n: c["train_loss_mean"] for n, c in curves.items()}, 0.1, relative=True
    )
    note = "; ".join(" and ".join(g) for g in same)
    a1.set_title(
        "training loss" + (f"\n({note}: within 10% of each other at every epoch)" if same else ""),
        fontsize=10,
    )
    a2.set_title("test accuracy", fontsize=10)
    a2.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(
        f"{'-'.join(map(str, settings['sizes']))} ReLU MLP on MNIST-1D, batch "
        f"{settings['batch_size']}, the book's learning rates: mean over {settings['seeds']} "
        "seeds, band = min to max",
        fontsize=11,
    )
    return _plots.save_figure(fig, out, "optimizers_curves.png")


def _pm(s, pct=False):
    if pct:
        return f"{100 * s['mean']:.1f}% ± {100 * s['std']:.1f}"
    return f"{s['mean']:.4f} ± {s['std']:.4f}"


def _report_sensitivity(result):
    """The table of final training loss and test accuracy at every learning-rate factor (only
    where the settings hold more than one factor)."""
    factors = result["settings"]["lr_factors"]
    if len(factors) <= 1:
        return []
    lines = [
        "",
        "Learning rate times " + ", ".join(f"{f:g}" for f in factors) + ":",
        "",
        "| optimizer | "
        + " | ".join(f"×{f:g}: final train loss / test acc" for f in factors)
        + " |",
        "|---|" + "---|" * len(factors),
    ]
    for name, rows in result["lr_sensitivity"].items():
        cells = [
            f"{_pm(r['final_train_loss'])} / {_pm(r['final_test_accuracy'], True)}" for r in rows
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


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
    lines += _report_sensitivity(result)
    order = sorted(
        result["rows"], key=lambda n: result["rows"][n]["mean_train_loss_over_epochs"]["mean"]
    )
    lines += [
        "",
        "Ranked by mean training loss over the epochs (lower trains faster; means over "
        f"{s['seeds']} seeds): " + " < ".join(order) + ".",
        f"Faster than SGD on every one of the {s['seeds']} seeds (final loss) and on average "
        f"(mean loss over epochs): {', '.join(result['faster_than_sgd']) or 'none'}; not: "
        f"{', '.join(result['not_faster_than_sgd']) or 'none'}.",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
