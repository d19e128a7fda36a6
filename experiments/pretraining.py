"""Unsupervised pre-training, the lecture's remedy for "learning a deep network is hard": a deep
sigmoid network on MNIST-1D, pre-trained greedily layer by layer as autoencoders and fine-tuned,
against the same network fine-tuned from random initial weights with the same budget.

Random initialisations compared: Xavier (std √(1/n_in)), the standard init for sigmoid units and
the stronger baseline; and N(0, 0.01²), the small-weight init of the pre-2006 networks (and Deep
Learning from Scratch's default) that makes a deep sigmoid network hard to train: all units sit at
a ≈ 0.5 and the gradient shrinks by about √width · 0.01 · 1/4 per layer on its way back.

How it runs: the autoencoders of every seed train at once (one compiled program, ``jax.vmap``
over keys); the fine-tuning is one compiled program for every optimizer and arm (optimizers and
seeds vmapped), compiled while the pre-training runs, and the random arms fine-tune meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _seeds, _stats

CLAIM = (
    "Greedy layer-wise unsupervised pre-training (autoencoders) makes a deep sigmoid network "
    "learn better than training it from random initial weights."
)
QUICK = {
    "hidden": [100, 100, 100, 100, 100],
    "n_train": None,
    "seeds": 4,
    "pretrain_epochs": 5,
    "pretrain_lr": 1e-3,
    "pretrain_batch_size": 100,
    "epochs": 15,
    "batch_size": 100,
    "optimizers": ["sgd", "adam"],
    "sgd_lr": 0.05,
    "momentum": 0.9,
    "adam_lr": 1e-3,
    "seed": 0,
}
FULL = {**QUICK, "seeds": 16, "pretrain_epochs": 20, "epochs": 100}

# (name, init scheme, init scale, label); "pretrained" starts from fnnet.pretrain.autoencoders
ARMS = (
    ("pretrained", None, None, "pre-trained (autoencoders)"),
    ("xavier", "xavier", 1.0, "random, Xavier"),
    ("normal0.01", "normal", 0.01, "random, N(0, 0.01²)"),
)
LOSS = "softmax_cross_entropy"
# colour, line style and marker per arm: lines that coincide stay visible (dotted lines are the
# training accuracy in the figure)
STYLE = {
    "pretrained": {"color": "C0", "ls": "-", "marker": "o"},
    "xavier": {"color": "C1", "ls": "--", "marker": "s"},
    "normal0.01": {"color": "C2", "ls": "-.", "marker": "^"},
}
# XLA's CPU backend optimisation level (its default is 3): at level 1 the training programs
# compile markedly faster and run as fast; the drawing of the random initial weights (threefry
# random bits) compiles several times faster still at level 0, and runs in no time either way
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def pretrain(net: fn.MLP, X, keys, settings):
    """Autoencoder pre-training (``fnnet.pretrain.autoencoders``) for every key at once, as one
    compiled program (``jax.vmap`` over keys).

    ``X`` enters the program as an argument, not a constant: ``autoencoders`` then gives the
    first autoencoder a linear decoder (``"identity"``), the choice it makes for standardised
    data such as MNIST-1D's anyway.

    Returns:
      ``(params, curves, variance)``: the parameters stacked over seeds; reconstruction loss per
      layer (seeds, epochs); and per layer the total variance of the inputs it reconstructs
      (seeds,), the loss of always answering their mean.
    """
    opt = optax.adam(settings["pretrain_lr"])

    def one(k, X):
        params, curves = fn.pretrain.autoencoders(
            net,
            k,
            X,
            epochs=settings["pretrain_epochs"],
            batch_size=settings["pretrain_batch_size"],
            optimizer=opt,
        )
        h, variance = X, []  # per hidden layer, Σ_j var(h_j) of the inputs it reconstructs
        for layer in params[:-1]:
            variance.append(jnp.sum(jnp.var(h, axis=0)))
            h = net.hidden(h @ layer["W"] + layer["b"][None, :])
        return params, curves, jnp.stack(variance)

    program = jax.jit(
        jax.vmap(one, in_axes=(0, None)), compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS)
    )
    params, curves, variance = program(keys, jnp.asarray(X))
    return params, [np.asarray(c) for c in curves], np.asarray(variance).T


def fine_tuner(net: fn.MLP, data, eval_data, settings, fit_keys, like):
    """The compiled fine-tuning of one arm's seeds with every optimizer of the settings: a
    function ``start -> histories`` (one history per optimizer, each leaf (seeds, epochs), as
    numpy arrays), compiled here for the shapes of ``like`` (initial parameters stacked over
    seeds; their values are not used), so it can compile before the pre-trained parameters
    exist. One program serves every optimizer: the optimizer is a traced index
    (``experiments._seeds.switch``), vmapped with the seeds. Seed i has fit key
    ``fit_keys[i]`` in every arm and with every optimizer: the same minibatch order.
    """
    optimizers = [_harness.sgd_or_adam(o, settings)[0] for o in settings["optimizers"]]

    def program(which, fit_keys, start):
        def one(i):
            fit = _seeds.fit_seeds(
                net,
                _seeds.switch(i, optimizers),
                data,
                epochs=settings["epochs"],
                batch_size=settings["batch_size"],
                loss=LOSS,
                eval_data=eval_data,
            )
            return fit(fit_keys, start)

        return jax.vmap(one)(which)

    which = jnp.arange(len(optimizers))
    compiled = (
        jax.jit(program, compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS))
        .lower(which, fit_keys, like)
        .compile()
    )

    def tune(start):
        h = jax.tree.map(np.asarray, compiled(which, fit_keys, start))
        return [jax.tree.map(lambda a, i=i: a[i], h) for i in range(len(optimizers))]

    return tune


def _reconstruction(recon, variance, sizes):
    """The result rows of the autoencoders: per layer its reconstruction loss at the first and
    last epoch, the variance of its inputs and the unexplained fraction, each over seeds."""
    return [
        {
            "layer": l + 1,
            "autoencoder": f"{sizes[l]}-{sizes[l + 1]}-{sizes[l]}",
            "first_epoch": _stats.mean_std(c[:, 0]),
            "last_epoch": _stats.mean_std(c[:, -1]),
            "input_variance": _stats.mean_std(v),
            "unexplained_fraction": _stats.mean_std(c[:, -1] / v),
        }
        for l, (c, v) in enumerate(zip(recon, variance))
    ]


def _arm_result(h):
    """One arm's final and best-epoch accuracies over seeds from its history ``h``."""
    return {
        "test_accuracy": _stats.mean_std(h["eval_accuracy"][:, -1]),
        "train_accuracy": _stats.mean_std(h["train_accuracy"][:, -1]),
        "best_epoch_test_accuracy": _stats.mean_std(h["eval_accuracy"].max(axis=1)),
        "diverged": int(np.sum(~np.isfinite(h["loss"][:, -1]))),
    }


def _random_starts(net: fn.MLP, keys):
    """The initial weights of the random arms, by arm name, stacked over ``keys``: one program
    (threefry random bits compile fast at optimisation level 0)."""

    def draw(keys):
        return {
            name: jax.vmap(lambda k, s=scheme, c=scale: net.init(k, s, c))(keys)
            for name, scheme, scale, _ in ARMS[1:]
        }

    return jax.jit(draw, compiler_options=fn.xla.compiler_options(INIT_COMPILER_OPTIONS))(keys)


def _train_everything(net: fn.MLP, data, eval_data, settings):
    """Pre-training and the fine-tuning of every arm with every optimizer, on two threads.

    Thread A pre-trains, then fine-tunes the pre-trained arm; thread B meanwhile compiles the
    fine-tuning program (one for every optimizer and arm) and fine-tunes the random arms.
    Returns ``(recon, variance, histories)`` with ``histories[(optimizer, arm)]``.
    """
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)  # (seeds, 3)
    pre_keys, init_keys, fit_keys = split[:, 0], split[:, 1], split[:, 2]
    starts = _random_starts(net, init_keys)
    opts = settings["optimizers"]
    tuner = concurrent.futures.Future()
    histories = {}

    def tune(arm, start, bar):
        for o, h in zip(opts, tuner.result()(start), strict=True):
            histories[(o, arm)] = h
        bar.update(1)

    def lane_a(bar):
        pretrained, recon, variance = pretrain(net, data[0], pre_keys, settings)
        bar.update(1)
        tune("pretrained", pretrained, bar)
        return recon, variance

    def lane_b(bar):
        try:
            tuner.set_result(fine_tuner(net, data, eval_data, settings, fit_keys, starts["xavier"]))
        except BaseException as e:  # lane A waits on the tuner: hand it the error
            tuner.set_exception(e)
            raise
        bar.update(1)
        for name, *_ in ARMS[1:]:
            tune(name, starts[name], bar)

    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool,
        _harness.progress(
            desc="pretraining: pre-train, compile, fine-tune", total=2 + len(ARMS), unit="step"
        ) as bar,
    ):
        a, b = pool.submit(lane_a, bar), pool.submit(lane_b, bar)
        b.result()
        recon, variance = a.result()
    return recon, variance, histories


def _comparison(results, n):
    """Per optimizer: pre-trained against the better random init, test accuracy difference and
    two standard errors of the difference of two means over ``n`` seeds each."""
    comparison = {}
    for opt_name, r in results.items():
        pre = r["pretrained"]["test_accuracy"]
        best = max(("xavier", "normal0.01"), key=lambda a: r[a]["test_accuracy"]["mean"])
        base = r[best]["test_accuracy"]
        diff = pre["mean"] - base["mean"]
        se = float(np.sqrt((pre["std"] ** 2 + base["std"] ** 2) / max(n - 1, 1)))
        comparison[opt_name] = {
            "best_random_init": best,
            "difference": float(diff),
            "two_standard_errors": 2 * se,
            "helps": bool(diff > 2 * se),
            "hurts": bool(diff < -2 * se),
        }
    return comparison


def _headline(results, comparison):
    """Pre-trained against the better random init's test accuracy, per optimizer."""
    parts = []
    for o, c in comparison.items():
        pre, base = results[o]["pretrained"], results[o][c["best_random_init"]]
        parts.append(
            f"{'SGD' if o == 'sgd' else 'Adam' if o == 'adam' else o} "
            f"{pre['test_accuracy']['mean']:.2f} ± {pre['test_accuracy']['std']:.2f} vs "
            f"{base['test_accuracy']['mean']:.2f} ± {base['test_accuracy']['std']:.2f}"
        )
    return f"test acc. pre-trained vs best random init: {'; '.join(parts)}"


def run(settings, out):
    (X, y), (Xt, yt) = fn.data.mnist1d()
    if settings["n_train"]:
        X, y = X[: settings["n_train"]], y[: settings["n_train"]]
    sizes = (X.shape[1], *settings["hidden"], 10)
    net = fn.MLP(sizes, hidden="sigmoid", output="identity")
    recon, variance, curves = _train_everything(net, (X, y), (Xt, yt), settings)
    results = {
        o: {a[0]: _arm_result(curves[(o, a[0])]) for a in ARMS} for o in settings["optimizers"]
    }
    comparison = _comparison(results, settings["seeds"])
    helped = [c["helps"] for c in comparison.values()]
    verdict = "holds" if all(helped) else "does not help here" if not any(helped) else "mixed"

    # compute: multiply-adds per example ~ parameters; pre-training trains one autoencoder per layer
    ae_params = sum(
        fn.MLP((sizes[l], sizes[l + 1], sizes[l])).n_params for l in range(net.n_layers - 1)
    )
    compute = settings["pretrain_epochs"] * ae_params / (settings["epochs"] * net.n_params)
    return {
        "network": net.describe(),
        "n_train": int(X.shape[0]),
        "n_test": int(Xt.shape[0]),
        "optimizer_labels": {
            o: _harness.sgd_or_adam(o, settings)[1] for o in settings["optimizers"]
        },
        "reconstruction": _reconstruction(recon, variance, sizes),
        "fine_tuning": results,
        "comparison": comparison,
        "pretraining_compute_relative_to_fine_tuning": float(compute),
        "figures": [
            _curves_figure(curves, settings, out),
            _recon_figure(recon, variance, settings, out),
        ],
        "verdict": verdict,
        "headline": _headline(results, comparison),
        "seeds": f"{settings['seeds']} seeds per arm",
    }


def _title(text: str, groups) -> str:
    """``text`` and, wrapped below it, which lines coincide (from ``_plots.coinciding``)."""
    if not groups:
        return text
    note = "; ".join(" and ".join(g) + " coincide" for g in groups)
    return text + "\n" + textwrap.fill(note, 60)


def _curves_figure(curves, settings, out):
    """Per optimizer (rows): the training loss (left) and the test accuracy (right, with the
    training accuracy dotted) of every arm, mean over seeds with a ± one standard deviation
    band; lines that coincide are named in the panel's title."""
    plt = _plots.pyplot()
    from matplotlib.ticker import MaxNLocator

    opts = settings["optimizers"]
    fig, axes = plt.subplots(len(opts), 2, figsize=(13, 4.3 * len(opts)), squeeze=False)
    epochs = np.arange(1, settings["epochs"] + 1)
    every = max(1, settings["epochs"] // 10)
    for r, opt_name in enumerate(opts):
        loss, acc = {}, {}
        for name, _, _, label in ARMS:
            h, st = curves[(opt_name, name)], {**STYLE[name], "markevery": every, "ms": 5}
            _plots.band(axes[r, 0], epochs, h["loss"], **st, label=label)
            _plots.band(axes[r, 1], epochs, h["eval_accuracy"], **st, label=f"{label}, test")
            axes[r, 1].plot(
                epochs,
                h["train_accuracy"].mean(axis=0),
                color=STYLE[name]["color"],
                ls=":",
                lw=1,
                label=f"{label}, train",
            )
            loss[label] = np.nanmean(h["loss"], axis=0)
            acc[label] = np.nanmean(h["eval_accuracy"], axis=0)
        title = f"fine-tuning, {_harness.sgd_or_adam(opt_name, settings)[1]}"
        axes[r, 0].set(xlabel="epoch", ylabel="training loss (cross-entropy)")
        axes[r, 0].set_title(_title(title, _plots.coinciding(loss, 0.02)), fontsize=10)
        axes[r, 1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
        axes[r, 1].set_title(_title(title, _plots.coinciding(acc, 0.02)), fontsize=10)
        if r == 0:
            axes[r, 1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
        for ax in axes[r]:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(
        f"{'-'.join(['40', *map(str, settings['hidden']), '10'])} sigmoid network on MNIST-1D, "
        f"minibatch {settings['batch_size']}: mean ± std over {settings['seeds']} seeds "
        "(train accuracy: mean only)",
        fontsize=11,
    )
    return _plots.save_figure(fig, out, "pretraining_curves.png")


def _recon_figure(recon, variance, settings, out):
    """The reconstruction loss of every layer's autoencoder over its pre-training epochs, as a
    fraction of the variance of its inputs; mean over seeds with a ± one std band."""
    plt = _plots.pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    for l, (c, v) in enumerate(zip(recon, variance)):
        epochs = np.arange(1, c.shape[1] + 1)
        _plots.band(ax, epochs, c / v[:, None], color=f"C{l}", label=f"layer {l + 1}")
    ax.set(
        yscale="log",
        xlabel="pre-training epoch",
        ylabel="reconstruction MSE / input variance",
    )
    ax.set_title(
        f"greedy autoencoder pre-training, per layer: mean ± std over {settings['seeds']} seeds",
        fontsize=10,
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return _plots.save_figure(fig, out, "pretraining_reconstruction.png")


def _pm(s, fmt=".3f"):
    """A :func:`_stats.mean_std` as ``mean ± std``."""
    return f"{s['mean']:{fmt}} ± {s['std']:{fmt}}"


def _report_setup(result):
    """The first lines: network, data, seeds, pre-training and fine-tuning settings."""
    s = result["settings"]
    return [
        f"{result['network']}; MNIST-1D, {result['n_train']} training / {result['n_test']} test "
        f"examples; {s['seeds']} seeds per arm (the same minibatch order in every arm); every "
        "number below is mean ± sd over the seeds.",
        f"Pre-training: one autoencoder per hidden layer, {s['pretrain_epochs']} epochs each, "
        f"Adam lr {s['pretrain_lr']:g}, minibatch {s['pretrain_batch_size']}, MSE (summed over "
        f"outputs); about {result['pretraining_compute_relative_to_fine_tuning']:.0%} of the "
        "fine-tuning compute on top (parameters × epochs). Fine-tuning: "
        f"{s['epochs']} epochs, minibatch {s['batch_size']}, softmax cross-entropy, for every arm.",
    ]


def _report_reconstruction(result):
    """The autoencoders' table."""
    lines = [
        "",
        "| layer | autoencoder | reconstruction MSE, first epoch | last epoch | input variance | "
        "unexplained fraction |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["reconstruction"]:
        lines.append(
            f"| {r['layer']} | {r['autoencoder']} | {_pm(r['first_epoch'], '.3g')} | "
            f"{_pm(r['last_epoch'], '.3g')} | {_pm(r['input_variance'], '.3g')} | "
            f"{_pm(r['unexplained_fraction'])} |"
        )
    return lines


def _report_fine_tuning(result):
    """The fine-tuning table (one row per optimizer and arm) and one sentence per optimizer."""
    lines = [
        "",
        "| optimizer | start | final test acc. | final train acc. | best-epoch test acc. |",
        "|---|---|---|---|---|",
    ]
    labels = {a[0]: a[3] for a in ARMS}
    for opt_name, arms in result["fine_tuning"].items():
        for name, r in arms.items():
            div = f" ({r['diverged']} diverged)" if r["diverged"] else ""
            lines.append(
                f"| {result['optimizer_labels'][opt_name]} | {labels[name]} | "
                f"{_pm(r['test_accuracy'])}{div} | {_pm(r['train_accuracy'])} | "
                f"{_pm(r['best_epoch_test_accuracy'])} |"
            )
    lines.append("")
    n = result["settings"]["seeds"]
    for opt_name, c in result["comparison"].items():
        word = "helps" if c["helps"] else "hurts" if c["hurts"] else "makes no clear difference"
        lines.append(
            f"- {result['optimizer_labels'][opt_name]}: pre-training {word}: test accuracy "
            f"{c['difference']:+.3f} against the better random init "
            f"({labels[c['best_random_init']]}"
            f"; two standard errors of the difference over {n} seeds per arm: "
            f"{c['two_standard_errors']:.3f})."
        )
    return lines


def report(result):
    return _report_setup(result) + _report_reconstruction(result) + _report_fine_tuning(result)


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
