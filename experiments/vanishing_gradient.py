"""The vanishing gradient and its remedy, ReLU: a 10-hidden-layer network on MNIST-1D measured at
initialisation (gradient norm per layer, activation histograms, saturation) and trained.

Backprop multiplies, per layer, by the weights and by the activation's derivative g'(z). Sigmoid's
g' = a(1 - a) is at most 1/4, so with weights that do not make up for it (Xavier, or small ones)
the gradient shrinks geometrically on its way back to the first layer; ReLU's g' is 1 on every
active unit, and He's init keeps the gradient's size from layer to layer. The activation
histograms follow Deep Learning from Scratch (``ch06/weight_init_activation_histogram.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _seeds

CLAIM = (
    "In a deep sigmoid network the gradient vanishes on its way back to the first layers and the "
    "network hardly trains; ReLU units (with He's initialisation) keep the gradient's size from "
    "layer to layer and the same network trains."
)
QUICK = {
    "depth": 10,
    "width": 100,
    "n_train": None,
    "init_seeds": 8,
    "grad_examples": 256,
    "hist_examples": 1000,
    "seeds": 4,
    "epochs": 30,
    "batch_size": 100,
    "optimizers": ["sgd"],
    "configs": None,  # names from CONFIGS (None: all); sigmoid-xavier and relu-he are needed
    "sgd_lr": 0.05,
    "momentum": 0.9,
    "adam_lr": 1e-3,
    "seed": 0,
}
FULL = {**QUICK, "init_seeds": 32, "seeds": 10, "epochs": 100, "optimizers": ["sgd", "adam"]}

# (name, hidden activation, init scheme, init scale, label)
CONFIGS = (
    ("sigmoid-normal1", "sigmoid", "normal", 1.0, "sigmoid, N(0, 1)"),
    ("sigmoid-normal0.01", "sigmoid", "normal", 0.01, "sigmoid, N(0, 0.01²)"),
    ("sigmoid-xavier", "sigmoid", "xavier", 1.0, "sigmoid, Xavier"),
    ("tanh-xavier", "tanh", "xavier", 1.0, "tanh, Xavier"),
    ("relu-he", "relu", "he", 1.0, "ReLU, He"),
)
# layer-1 / layer-10 hidden-weight gradient-norm ratios of a NumPy check given with the task
REFERENCE_RATIO = {"sigmoid-xavier": 4e-6, "relu-he": 1.0}
LOSS = "softmax_cross_entropy"
COLOR = {c[0]: f"C{i}" for i, c in enumerate(CONFIGS)}


def _summary(x):
    """Geometric mean, min and max over seeds of positive numbers spanning orders of magnitude."""
    x = np.asarray(x, np.float64)
    return {
        "geomean": float(np.exp(np.mean(np.log(x)))),
        "min": float(x.min()),
        "max": float(x.max()),
    }


def at_init(net: fn.MLP, scheme, scale, X, y, settings, key):
    """Per init seed, on its own random batch of ``grad_examples`` training examples: the weight
    gradient norm per layer of the batch loss and of single examples (averaged over the batch),
    the fraction of saturated units per layer and the standard deviation of each layer's
    activations. Returns four numpy arrays (init_seeds, n_layers)."""
    n = settings["grad_examples"]
    X, y = jnp.asarray(X), jnp.asarray(y)

    def one(k):
        k_init, k_batch = jax.random.split(k)
        p = net.init(k_init, scheme, scale)
        idx = jax.random.choice(k_batch, X.shape[0], (n,), replace=False)
        Xb, yb = X[idx], y[idx]
        batch = fn.diagnostics.gradient_norms(net, p, Xb, yb, LOSS)
        single = jax.vmap(
            lambda x, t: fn.diagnostics.gradient_norms(net, p, x[None, :], t[None], LOSS)
        )(Xb, yb)
        stats = fn.diagnostics.activation_stats(net, p, Xb)
        return batch, jnp.mean(single, axis=0), stats["saturated"], stats["std"]

    keys = jax.random.split(key, settings["init_seeds"])
    return tuple(np.asarray(a) for a in jax.jit(lambda ks: jax.lax.map(one, ks))(keys))


def _optimizer(name, settings):
    return _harness.sgd_or_adam(name, settings)[0]


def _optimizer_label(name, settings):
    return _harness.sgd_or_adam(name, settings)[1]


def train(net: fn.MLP, scheme, scale, optimizer, data, eval_data, settings, key):
    """``settings["seeds"]`` training runs at once (vmap over keys); the history as numpy."""

    train = _seeds.fit_seeds(
        net,
        optimizer,
        data,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        loss=LOSS,
        eval_data=eval_data,
        init=lambda k: net.init(k, scheme, scale),
    )
    return _seeds.numpy(train, jax.random.split(key, settings["seeds"]))


def run(settings, out):
    (X, y), (Xt, yt) = fn.data.mnist1d()
    if settings["n_train"]:
        X, y = X[: settings["n_train"]], y[: settings["n_train"]]
    depth, width = settings["depth"], settings["width"]
    sizes = (X.shape[1],) + (width,) * depth + (10,)
    root = jax.random.key(settings["seed"])
    k_init, k_train = jax.random.split(root)
    chosen = settings.get("configs") or [c[0] for c in CONFIGS]
    missing = sorted({"sigmoid-xavier", "relu-he"} - set(chosen))
    if missing or not set(chosen) <= {c[0] for c in CONFIGS}:
        raise ValueError(
            f"configs: expected names among {[c[0] for c in CONFIGS]} including "
            f"'sigmoid-xavier' and 'relu-he', got {chosen!r}"
        )
    configs, hists, curves = {}, {}, {}
    for name, hidden, scheme, scale, label in (c for c in CONFIGS if c[0] in chosen):
        net = fn.MLP(sizes, hidden=hidden, output="identity")
        batch, single, saturated, std = at_init(net, scheme, scale, X, y, settings, k_init)
        # layer l's hidden-weight gradient is index l - 1; index depth is the output layer
        c = {
            "label": label,
            "hidden": hidden,
            "init": scheme,
            "init_scale": scale,
            "grad_norm_batch_geomean": np.exp(np.mean(np.log(batch), axis=0)).tolist(),
            "grad_norm_batch_min": batch.min(axis=0).tolist(),
            "grad_norm_batch_max": batch.max(axis=0).tolist(),
            "grad_norm_single_geomean": np.exp(np.mean(np.log(single), axis=0)).tolist(),
            "ratio_first_last_batch": _summary(batch[:, 0] / batch[:, depth - 1]),
            "ratio_first_last_single": _summary(single[:, 0] / single[:, depth - 1]),
            "ratio_second_last_single": _summary(single[:, 1] / single[:, depth - 1]),
            "saturated_per_layer": saturated.mean(axis=0)[:depth].tolist(),
            "saturated_definition": fn.diagnostics.SATURATION[hidden],
            "activation_std_per_layer": std.mean(axis=0)[:depth].tolist(),
            "training": {},
        }
        # the activations of one initialisation (the first init seed's) for the histograms
        k0 = jax.random.split(jax.random.split(k_init, settings["init_seeds"])[0])[0]
        p0 = net.init(k0, scheme, scale)
        acts = fn.diagnostics.layer_activations(net, p0, X[: settings["hist_examples"]])
        hists[name] = [np.asarray(a).ravel() for a in acts[:depth]]
        for opt_name in settings["optimizers"]:
            h = train(
                net,
                scheme,
                scale,
                _optimizer(opt_name, settings),
                (X, y),
                (Xt, yt),
                settings,
                k_train,
            )
            curves[(name, opt_name)] = h
            test, tr = h["eval_accuracy"][:, -1], h["train_accuracy"][:, -1]
            c["training"][opt_name] = {
                "final_test_accuracy_mean": float(test.mean()),
                "final_test_accuracy_std": float(test.std()),
                "final_train_accuracy_mean": float(tr.mean()),
                "final_train_accuracy_std": float(tr.std()),
                "final_loss_mean": float(np.nanmean(h["loss"][:, -1])),
                "diverged": int(np.sum(~np.isfinite(h["loss"][:, -1]))),
            }
        configs[name] = c

    agreement = {}
    for name, ref in REFERENCE_RATIO.items():
        c = configs[name]
        agreement[name] = {
            "reference": ref,
            "measured_batch": c["ratio_first_last_batch"]["geomean"],
            "measured_single": c["ratio_first_last_single"]["geomean"],
        }
    first = settings["optimizers"][0]
    sig, relu = configs["sigmoid-xavier"], configs["relu-he"]
    trains = (
        relu["training"][first]["final_train_accuracy_mean"]
        - sig["training"][first]["final_train_accuracy_mean"]
    )
    # the claim holds if sigmoid+Xavier loses three orders of magnitude of gradient between the
    # last and the first hidden layer, ReLU+He stays within a factor 10, and ReLU trains clearly
    holds = (
        sig["ratio_first_last_single"]["geomean"] < 1e-3
        and 0.1 < relu["ratio_first_last_single"]["geomean"] < 10
        and trains > 0.2
    )
    return {
        "network": f"{depth + 1}-layer network ({depth}-hidden-layer network) "
        f"{'-'.join(map(str, sizes))}, output identity",
        "n_train": int(X.shape[0]),
        "n_test": int(Xt.shape[0]),
        "optimizer_labels": {o: _optimizer_label(o, settings) for o in settings["optimizers"]},
        "configs": configs,
        "reference_agreement": agreement,
        "relu_minus_sigmoid_xavier_train_accuracy": float(trains),
        "figures": [
            _gradient_figure(configs, depth, out),
            _histogram_figure(hists, configs, out),
            _training_figure(curves, settings, out),
        ],
        "verdict": "holds" if holds else "fails",
    }


def _gradient_figure(configs, depth, out):
    """Left: ‖∂L/∂W^(l)‖ per weight layer at initialisation (geometric mean over init seeds, with
    its min-max band) for every configuration; right: the fraction of saturated units per layer."""
    plt = _harness.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    layers = np.arange(1, depth + 2)
    for name, c in configs.items():
        a1.plot(layers, c["grad_norm_batch_geomean"], "o-", color=COLOR[name], label=c["label"])
        a1.fill_between(
            layers, c["grad_norm_batch_min"], c["grad_norm_batch_max"], color=COLOR[name], alpha=0.2
        )
        a2.plot(np.arange(1, depth + 1), c["saturated_per_layer"], "o-", color=COLOR[name])
    a1.set(
        yscale="log",
        xlabel="weight layer l (last = output layer)",
        ylabel="‖∂L/∂W^(l)‖ at init",
    )
    a1.set_title("gradient norm per layer (geometric mean, min-max over seeds)", fontsize=9)
    a1.legend(fontsize=8)
    a2.set(
        xlabel="hidden layer",
        ylabel="fraction saturated",
        ylim=(-0.02, 1.02),
    )
    a2.set_title("saturated: sigmoid a < 0.1 or a > 0.9; tanh |a| > 0.9; ReLU a = 0", fontsize=9)
    return _harness.save_figure(fig, out, "vanishing_gradient_norms.png")


def _histogram_figure(hists, configs, out):
    """Histograms of every hidden layer's activations at initialisation (columns), one row per
    configuration, on the activation's own range."""
    plt = _harness.pyplot()
    rows, cols = len(hists), len(next(iter(hists.values())))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.5 * rows), squeeze=False)
    for r, (name, layers) in enumerate(hists.items()):
        c = configs[name]
        if c["hidden"] == "sigmoid":
            lo, hi = 0.0, 1.0
        elif c["hidden"] == "tanh":
            lo, hi = -1.0, 1.0
        else:
            lo, hi = 0.0, max(float(np.percentile(np.concatenate(layers), 99)), 1e-6)
        for l, a in enumerate(layers):
            ax = axes[r, l]
            ax.hist(a, bins=30, range=(lo, hi), color=COLOR[name])
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.set_title(f"layer {l + 1}: sat {c['saturated_per_layer'][l]:.0%}", fontsize=7)
        axes[r, 0].set_ylabel(c["label"], fontsize=7)
    fig.suptitle(
        "activations per hidden layer at initialisation (one initialisation, MNIST-1D); "
        "sat: fraction saturated, mean over init seeds"
    )
    return _harness.save_figure(fig, out, "vanishing_gradient_histograms.png")


def _training_figure(curves, settings, out):
    plt = _harness.pyplot()
    opts = settings["optimizers"]
    fig, axes = plt.subplots(len(opts), 2, figsize=(11, 3.8 * len(opts)), squeeze=False)
    epochs = np.arange(1, settings["epochs"] + 1)
    for r, opt_name in enumerate(opts):
        for name, _, _, _, label in CONFIGS:
            if (name, opt_name) not in curves:
                continue
            h = curves[(name, opt_name)]
            _harness.band(axes[r, 0], epochs, h["loss"], color=COLOR[name], label=label)
            _harness.band(axes[r, 1], epochs, h["eval_accuracy"], color=COLOR[name], label=label)
        title = _optimizer_label(opt_name, settings)
        axes[r, 0].set(yscale="log", xlabel="epoch", ylabel="training loss")
        axes[r, 0].set_title(title, fontsize=9)
        axes[r, 1].set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1))
        axes[r, 1].set_title(f"{title}; mean ± std over {settings['seeds']} seeds", fontsize=9)
        axes[r, 1].legend(fontsize=8)
    return _harness.save_figure(fig, out, "vanishing_gradient_training.png")


def _agree(measured, reference):
    factor = max(measured / reference, reference / measured)
    if factor <= 10:
        return f"agrees to a factor {factor:.1f}"
    return f"does not agree: off by a factor {factor:.2g}"


def _observations(result):
    """Sentences that read the measured numbers; each is written only where the numbers say so."""
    c = result["configs"]
    opt = next(iter(result["optimizer_labels"]))
    lines = [""]
    n1 = c.get("sigmoid-normal1")
    if n1 and n1["ratio_first_last_single"]["geomean"] > 0.1:
        lines.append(
            f"Sigmoid with N(0, 1) weights: {np.mean(n1['saturated_per_layer']):.0%} of the hidden "
            "units are saturated, yet the gradient does not vanish with depth (single-example "
            f"ratio {n1['ratio_first_last_single']['geomean']:.2g}): weights of std 1 multiply the "
            "backward signal by about √width · 1 per layer, which makes up for the small a(1 − a) "
            "of saturated units. What slows its training is more likely the saturation than a "
            f"vanishing gradient; it trains to "
            f"{n1['training'][opt]['final_train_accuracy_mean']:.3f} train accuracy ({opt})."
        )
    small = c.get("sigmoid-normal0.01")
    if small and max(small["saturated_per_layer"]) < 0.01:
        lines.append(
            "Sigmoid with N(0, 0.01²) weights: no unit saturates, but every activation sits near "
            f"0.5 (std {small['activation_std_per_layer'][-1]:.2g} at the last hidden layer): "
            "the backward signal shrinks by about √width · 0.01 · 1/4 per layer, ratio "
            f"{small['ratio_first_last_single']['geomean']:.2g}."
        )
    for name in c:
        t = c[name]["training"][opt]
        if t["final_train_accuracy_mean"] < 0.15:
            lines.append(
                f"{c[name]['label']}: does not train within the budget ({opt}): final train "
                f"accuracy {t['final_train_accuracy_mean']:.3f}, chance is 0.1."
            )
    return lines


def report(result):
    s = result["settings"]
    depth = s["depth"]
    opts = list(result["optimizer_labels"])
    lines = [
        f"{result['network']}; MNIST-1D, {result['n_train']} training / {result['n_test']} test "
        f"examples; softmax cross-entropy.",
        f"At initialisation, over {s['init_seeds']} init seeds, each with its own batch of "
        f"{s['grad_examples']} training examples: the ratio ‖∂L/∂W^(1)‖ / ‖∂L/∂W^({depth})‖ of "
        "the first to the last hidden layer's weight gradient, for the gradient of the batch loss "
        "and for single examples (norms averaged over the batch), geometric mean [min, max]. "
        f"Training: {s['seeds']} seeds, {s['epochs']} epochs, minibatch {s['batch_size']}, "
        + "; ".join(result["optimizer_labels"].values())
        + ".",
        "",
        f"| configuration | ratio 1/{depth}, batch | ratio 1/{depth}, single example | "
        f"saturated, layer 1 / {depth} | activation std, layer 1 / {depth} | "
        + " | ".join(f"test acc. ({o}) | train acc. ({o})" for o in opts)
        + " |",
        "|---|---|---|---|---|" + "---|---|" * len(opts),
    ]
    for c in result["configs"].values():
        rb, rs = c["ratio_first_last_batch"], c["ratio_first_last_single"]
        sat, std = c["saturated_per_layer"], c["activation_std_per_layer"]
        cells = []
        for o in opts:
            t = c["training"][o]
            div = f" ({t['diverged']} diverged)" if t["diverged"] else ""
            cells.append(
                f"{t['final_test_accuracy_mean']:.3f} ± {t['final_test_accuracy_std']:.3f}{div} | "
                f"{t['final_train_accuracy_mean']:.3f} ± {t['final_train_accuracy_std']:.3f}"
            )
        lines.append(
            f"| {c['label']} | {rb['geomean']:.2g} [{rb['min']:.2g}, {rb['max']:.2g}] | "
            f"{rs['geomean']:.2g} [{rs['min']:.2g}, {rs['max']:.2g}] | "
            f"{sat[0]:.0%} / {sat[-1]:.0%} | {std[0]:.2g} / {std[-1]:.2g} | "
            + " | ".join(cells)
            + " |"
        )
    lines += ["", "Gradient norm per weight layer (batch loss, geometric mean over seeds):", ""]
    for c in result["configs"].values():
        profile = " ".join(f"{v:.1e}" for v in c["grad_norm_batch_geomean"])
        lines.append(f"- {c['label']}: {profile} (last: output layer)")
    relu = result["configs"]["relu-he"]
    width = s["width"]
    if (depth, width) != (10, 100):
        lines += ["", "The reference ratios are for 10 hidden layers of 100 units: not compared."]
    else:
        lines += [
            "",
            "Against the reference ratios of a NumPy check (10 hidden layers of 100):",
            "",
        ]
    for name, a in result["reference_agreement"].items():
        if (depth, width) != (10, 100):
            break
        label = result["configs"][name]["label"]
        second = result["configs"][name]["ratio_second_last_single"]["geomean"]
        lines.append(
            f"- {label}: reference {a['reference']:.2g}; measured {a['measured_batch']:.2g} "
            f"(batch, {_agree(a['measured_batch'], a['reference'])}), "
            f"{a['measured_single']:.2g} (single example, "
            f"{_agree(a['measured_single'], a['reference'])}); layer 2/{depth}, single example: "
            f"{second:.2g}."
        )
    lines += [
        "",
        f"Where ReLU's ratio departs from 1: layer 1 sees the 40 standardised MNIST-1D inputs (zero mean, "
        f"‖x‖² ≈ 40), the later layers {width} hidden activations, so for one example layer 1's "
        f"weight gradient is about √(40/{width}) = {np.sqrt(40 / width):.2f} times that of a layer "
        f"of fan-in {width}; the layer 2/{depth} single-example ratio, "
        f"{relu['ratio_second_last_single']['geomean']:.2g}, has no such factor. In the batch "
        "gradient the per-example terms x δᵀ of the zero-mean inputs partly cancel, while those of "
        "the non-negative ReLU activations add up: batch ratio "
        f"{relu['ratio_first_last_batch']['geomean']:.2g} against "
        f"{relu['ratio_first_last_single']['geomean']:.2g} for single examples.",
    ]
    lines += _observations(result)
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
