"""Unsupervised pre-training, the lecture's remedy for "learning a deep network is hard": a deep
sigmoid network on MNIST-1D, pre-trained greedily layer by layer as autoencoders and fine-tuned,
against the same network fine-tuned from random initial weights with the same budget.

Random initialisations compared: Xavier (std √(1/n_in)), the standard init for sigmoid units and
the stronger baseline; and N(0, 0.01²), the small-weight init of the pre-2006 networks (and Deep
Learning from Scratch's default) that makes a deep sigmoid network hard to train: all units sit at
a ≈ 0.5 and the gradient shrinks by about √width · 0.01 · 1/4 per layer on its way back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _seeds

CLAIM = (
    "Greedy layer-wise unsupervised pre-training (autoencoders) makes a deep sigmoid network "
    "learn better than training it from random initial weights."
)
QUICK = {
    "hidden": [100, 100, 100, 100, 100],
    "n_train": None,
    "seeds": 8,
    "pretrain_epochs": 10,
    "pretrain_lr": 1e-3,
    "pretrain_batch_size": 100,
    "epochs": 30,
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


def _optimizer(name, settings):
    return _harness.sgd_or_adam(name, settings)[0]


def _optimizer_label(name, settings):
    return _harness.sgd_or_adam(name, settings)[1]


def pretrain(net: fn.MLP, X, keys, settings):
    """Autoencoder pre-training for each key, one seed after another.

    One seed after another (``fnnet.pretrain.autoencoders`` is also safe under ``jax.vmap`` over
    keys; this loop predates that and keeps the quick run's numbers). One optimizer object serves
    all calls, so each layer's training compiles once.

    Returns:
      ``(params, curves, variance)``: the parameters stacked over seeds; reconstruction loss per
      layer (seeds, epochs); and per layer the total variance of the inputs it reconstructs
      (seeds,), the loss of always answering their mean.
    """
    opt = optax.adam(settings["pretrain_lr"])
    params, curves, variance = [], [], []
    for k in keys:
        p, c = fn.pretrain.autoencoders(
            net,
            k,
            X,
            epochs=settings["pretrain_epochs"],
            batch_size=settings["pretrain_batch_size"],
            optimizer=opt,
        )
        params.append(p)
        curves.append([np.asarray(ci) for ci in c])
        h, v = jnp.asarray(X), []
        for layer in p[:-1]:
            v.append(float(jnp.sum(jnp.var(h, axis=0))))
            h = net.hidden(h @ layer["W"] + layer["b"][None, :])
        variance.append(v)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
    curves = [np.stack([c[l] for c in curves]) for l in range(net.n_layers - 1)]
    return stacked, curves, np.asarray(variance).T


def fine_tuner(net: fn.MLP, optimizer, data, eval_data, settings):
    """``(fit_keys, params) -> history``: supervised training of every seed at once (vmap) from
    the given initial parameters (stacked over seeds), compiled once for all arms."""

    train = _seeds.fit_seeds(
        net,
        optimizer,
        data,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        loss=LOSS,
        eval_data=eval_data,
    )
    run = jax.jit(train)
    return lambda fit_keys, params: jax.tree.map(np.asarray, run(fit_keys, params))


def run(settings, out):
    (X, y), (Xt, yt) = fn.data.mnist1d()
    if settings["n_train"]:
        X, y = X[: settings["n_train"]], y[: settings["n_train"]]
    sizes = (X.shape[1], *settings["hidden"], 10)
    net = fn.MLP(sizes, hidden="sigmoid", output="identity")
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    pre_keys, init_keys, fit_keys = (
        jnp.stack(ks) for ks in zip(*(jax.random.split(k, 3) for k in keys))
    )

    pre_params, recon, variance = pretrain(net, X, pre_keys, settings)
    reconstruction = []
    for l, (c, v) in enumerate(zip(recon, variance)):
        reconstruction.append(
            {
                "layer": l + 1,
                "autoencoder": f"{sizes[l]}-{sizes[l + 1]}-{sizes[l]}",
                "first_epoch": _harness.mean_std(c[:, 0]),
                "last_epoch": _harness.mean_std(c[:, -1]),
                "input_variance": _harness.mean_std(v),
                "unexplained_fraction": _harness.mean_std(c[:, -1] / v),
            }
        )

    # every arm starts from its own initial parameters and then trains the same way, with the
    # same minibatch order per seed: one compiled program per optimizer serves all arms
    start = {"pretrained": pre_params}
    for name, scheme, scale, _ in ARMS[1:]:
        start[name] = jax.vmap(lambda k, scheme=scheme, scale=scale: net.init(k, scheme, scale))(
            init_keys
        )
    results, curves = {}, {}
    for opt_name in settings["optimizers"]:
        tune = fine_tuner(net, _optimizer(opt_name, settings), (X, y), (Xt, yt), settings)
        results[opt_name] = {}
        for arm in ARMS:
            h = tune(fit_keys, start[arm[0]])
            curves[(opt_name, arm[0])] = h
            results[opt_name][arm[0]] = {
                "test_accuracy": _harness.mean_std(h["eval_accuracy"][:, -1]),
                "train_accuracy": _harness.mean_std(h["train_accuracy"][:, -1]),
                "best_epoch_test_accuracy": _harness.mean_std(h["eval_accuracy"].max(axis=1)),
                "diverged": int(np.sum(~np.isfinite(h["loss"][:, -1]))),
            }

    n = settings["seeds"]
    comparison = {}
    for opt_name, r in results.items():
        pre = r["pretrained"]["test_accuracy"]
        best = max(("xavier", "normal0.01"), key=lambda a: r[a]["test_accuracy"]["mean"])
        base = r[best]["test_accuracy"]
        diff = pre["mean"] - base["mean"]
        # two standard errors of the difference of two means over n seeds each
        se = float(np.sqrt((pre["std"] ** 2 + base["std"] ** 2) / max(n - 1, 1)))
        comparison[opt_name] = {
            "best_random_init": best,
            "difference": float(diff),
            "two_standard_errors": 2 * se,
            "helps": bool(diff > 2 * se),
            "hurts": bool(diff < -2 * se),
        }
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
        "optimizer_labels": {o: _optimizer_label(o, settings) for o in settings["optimizers"]},
        "reconstruction": reconstruction,
        "fine_tuning": results,
        "comparison": comparison,
        "pretraining_compute_relative_to_fine_tuning": float(compute),
        "figures": [_curves_figure(curves, settings, out), _recon_figure(recon, variance, out)],
        "verdict": verdict,
    }


def _curves_figure(curves, settings, out):
    """Per optimizer (rows): the training loss (left) and the test and training accuracy (right)
    of every arm, mean over seeds with a ± one standard deviation band."""
    plt = _harness.pyplot()
    opts = settings["optimizers"]
    fig, axes = plt.subplots(len(opts), 2, figsize=(11, 3.8 * len(opts)), squeeze=False)
    epochs = np.arange(1, settings["epochs"] + 1)
    for r, opt_name in enumerate(opts):
        for i, (name, _, _, label) in enumerate(ARMS):
            h = curves[(opt_name, name)]
            _harness.band(axes[r, 0], epochs, h["loss"], color=f"C{i}", label=label)
            _harness.band(
                axes[r, 1], epochs, h["eval_accuracy"], color=f"C{i}", label=f"{label}, test"
            )
            _harness.band(axes[r, 1], epochs, h["train_accuracy"], color=f"C{i}", ls=":")
        title = _optimizer_label(opt_name, settings)
        axes[r, 0].set(
            yscale="log", xlabel="epoch", ylabel="training loss", title=f"fine-tuning, {title}"
        )
        axes[r, 0].legend(fontsize=8)
        axes[r, 1].set(
            xlabel="epoch",
            ylabel="accuracy (test solid, train dotted)",
            ylim=(0, 1),
            title=f"mean ± std over {settings['seeds']} seeds",
        )
    return _harness.save_figure(fig, out, "pretraining_curves.png")


def _recon_figure(recon, variance, out):
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for l, (c, v) in enumerate(zip(recon, variance)):
        epochs = np.arange(1, c.shape[1] + 1)
        _harness.band(ax, epochs, c / v[:, None], color=f"C{l}", label=f"layer {l + 1}")
    ax.set(
        yscale="log",
        xlabel="pre-training epoch",
        ylabel="reconstruction MSE / input variance",
        title="greedy autoencoder pre-training, per layer",
    )
    ax.legend(fontsize=8)
    return _harness.save_figure(fig, out, "pretraining_reconstruction.png")


def report(result):
    s = result["settings"]
    lines = [
        f"{result['network']}; MNIST-1D, {result['n_train']} training / {result['n_test']} test "
        f"examples; {s['seeds']} seeds per arm (the same minibatch order in every arm).",
        f"Pre-training: one autoencoder per hidden layer, {s['pretrain_epochs']} epochs each, "
        f"Adam lr {s['pretrain_lr']:g}, minibatch {s['pretrain_batch_size']}, MSE (summed over "
        f"outputs); about {result['pretraining_compute_relative_to_fine_tuning']:.0%} of the "
        "fine-tuning compute on top (parameters × epochs). Fine-tuning: "
        f"{s['epochs']} epochs, minibatch {s['batch_size']}, softmax cross-entropy, for every arm.",
        "",
        "| layer | autoencoder | reconstruction MSE, first → last epoch | input variance | "
        "unexplained fraction |",
        "|---|---|---|---|---|",
    ]
    for r in result["reconstruction"]:
        lines.append(
            f"| {r['layer']} | {r['autoencoder']} | {r['first_epoch']['mean']:.3g} → "
            f"{r['last_epoch']['mean']:.3g} ± {r['last_epoch']['std']:.2g} | "
            f"{r['input_variance']['mean']:.3g} | {r['unexplained_fraction']['mean']:.3f} |"
        )
    lines += [
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
                f"{r['test_accuracy']['mean']:.3f} ± {r['test_accuracy']['std']:.3f}{div} | "
                f"{r['train_accuracy']['mean']:.3f} ± {r['train_accuracy']['std']:.3f} | "
                f"{r['best_epoch_test_accuracy']['mean']:.3f} ± "
                f"{r['best_epoch_test_accuracy']['std']:.3f} |"
            )
    lines.append("")
    for opt_name, c in result["comparison"].items():
        word = "helps" if c["helps"] else "hurts" if c["hurts"] else "makes no clear difference"
        lines.append(
            f"- {result['optimizer_labels'][opt_name]}: pre-training {word}: test accuracy "
            f"{c['difference']:+.3f} against the better random init ({labels[c['best_random_init']]}"
            f"; two standard errors {c['two_standard_errors']:.3f})."
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
