"""The vanishing gradient and its remedy, ReLU: a 10-hidden-layer network on MNIST-1D measured at
initialisation (gradient norm per layer, activation histograms, saturation) and trained.

Backprop multiplies, per layer, by the weights and by the activation's derivative g'(z). Sigmoid's
g' = a(1 - a) is at most 1/4, so with weights that do not make up for it (Xavier, or small ones)
the gradient shrinks geometrically on its way back to the first layer; ReLU's g' is 1 on every
active unit, and He's init keeps the gradient's size from layer to layer. The activation
histograms follow Deep Learning from Scratch (``ch06/weight_init_activation_histogram.py``).

Configurations with the same hidden activation share their compiled programs: one for the
measurements at initialisation, which also draws the training runs' initial weights, and one per
optimizer for training (vmap over configurations and seeds).
"""

from __future__ import annotations

import concurrent.futures
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _seeds, _stats

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
    "seeds": 3,
    "epochs": 10,
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
# colour, line style and marker per configuration: lines that coincide stay visible
STYLE = {
    "sigmoid-normal1": {"color": "C0", "ls": "-", "marker": "o"},
    "sigmoid-normal0.01": {"color": "C1", "ls": "--", "marker": "s"},
    "sigmoid-xavier": {"color": "C2", "ls": ":", "marker": "^"},
    "tanh-xavier": {"color": "C3", "ls": "-.", "marker": "D"},
    "relu-he": {"color": "C4", "ls": "-", "marker": "v"},
}
# XLA's CPU backend optimisation level per program (its default is 3): at level 1 the training
# programs compile markedly faster (1.3 to 2.5 times in trials on two cores) and run as fast; the
# program at initialisation, which runs for a fraction of a second and draws every random initial
# weight (threefry random bits compile slowly at the higher levels), compiles faster at level 0.
COMPILER_OPTIONS = {
    "at_init": {"xla_backend_optimization_level": 0},
    "train": {"xla_backend_optimization_level": 1},
}


def _jit(fun, program: str):
    """``jax.jit(fun)`` with the :data:`COMPILER_OPTIONS` of ``program``."""
    return jax.jit(fun, compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS[program]))


def _chosen(settings) -> list[tuple]:
    """The rows of :data:`CONFIGS` that ``settings["configs"]`` names (None: all), checked."""
    names = [c[0] for c in CONFIGS]
    chosen = settings.get("configs") or names
    if not set(chosen) <= set(names) or not {"sigmoid-xavier", "relu-he"} <= set(chosen):
        raise ValueError(
            f"configs: expected names among {names} including 'sigmoid-xavier' and 'relu-he', "
            f"got {chosen!r}"
        )
    return [c for c in CONFIGS if c[0] in chosen]


def _groups(configs) -> dict[str, list[tuple]]:
    """The configurations by hidden activation (in :data:`CONFIGS` order)."""
    groups: dict[str, list[tuple]] = {}
    for c in configs:
        groups.setdefault(c[1], []).append(c)
    return groups


def at_init(net: fn.MLP, configs, X, y, settings, key):
    """Measurements at initialisation of every configuration in ``configs`` (all with ``net``'s
    hidden activation), as one compiled program; it also hands on the initial weights of the
    training runs: training seed i starts from init seed i's weights, the network measured here.

    Init seed i (of ``init_seeds``) has its own batch of ``grad_examples`` = n training examples,
    i·n .. i·n + n - 1 (cyclically; MNIST-1D's examples come in random order), the same for
    every configuration. On it: the weight gradient norm ‖∂L/∂W^(l)‖ per
    layer of the batch loss and of single examples (averaged over the batch), the fraction of
    saturated units per layer and the standard deviation of each layer's activations. Besides,
    the activations of every hidden layer for the first ``hist_examples`` training examples under
    init seed 0 (for the histograms).

    Returns:
      ``(measured, inits)``: per configuration name, numpy arrays ``batch``, ``single``,
      ``saturated``, ``std`` (init_seeds, n_layers) and ``hist`` (depth, hist_examples, width);
      and the initial weights of init seeds 0 .. ``seeds`` - 1 of every configuration, stacked
      (configs × seeds, ...), for :func:`train`.
    """
    n, depth = settings["grad_examples"], net.n_layers - 1
    X, y = jnp.asarray(X), jnp.asarray(y)
    Xh = X[: settings["hist_examples"]]

    def measure(p, i):  # init seed i's batch: training examples i·n .. i·n + n - 1, cyclically
        return _measure(net, p, X, y, (i * n + jnp.arange(n)) % X.shape[0])

    def program(keys):
        split = jax.vmap(jax.random.split)(keys)
        params = _stacked_inits(net, configs, split[:, 0])  # (configs × init_seeds, ...)
        batches = jnp.tile(jnp.arange(keys.shape[0]), len(configs))
        # one network after another: the single-example gradients of a batch are large
        out = jax.lax.map(lambda a: measure(*a), (params, batches))
        first = jax.tree.map(lambda a: a[:: keys.shape[0]], params)  # init seed 0 of each
        out["hist"] = jax.vmap(
            lambda p: jnp.stack(fn.diagnostics.layer_activations(net, p, Xh)[:depth])
        )(first)
        c, n_init = len(configs), keys.shape[0]
        first_seeds = jax.tree.map(
            lambda a: a.reshape(c, n_init, *a.shape[1:])[:, :train_seeds].reshape(-1, *a.shape[1:]),
            params,
        )
        return out, first_seeds

    seeds, train_seeds = settings["init_seeds"], settings["seeds"]
    if train_seeds > seeds:
        raise ValueError(f"seeds: expected at most init_seeds ({seeds}), got {train_seeds}")
    m, inits = _jit(program, "at_init")(jax.random.split(key, seeds))
    m = jax.tree.map(np.asarray, m)
    hist = m.pop("hist")
    measured = {
        c[0]: {**{k: v[i * seeds : (i + 1) * seeds] for k, v in m.items()}, "hist": hist[i]}
        for i, c in enumerate(configs)
    }
    return measured, inits


def _measure(net: fn.MLP, p, X, y, idx):
    """On the batch ``X[idx]``: the weight gradient norm per layer of the batch loss and of
    single examples (averaged over the batch), the fraction of saturated units and the standard
    deviation of the activations per layer, each (n_layers,)."""
    Xb, yb = X[idx], y[idx]
    single = jax.vmap(
        lambda x, t: fn.diagnostics.gradient_norms(net, p, x[None, :], t[None], LOSS)
    )(Xb, yb)
    stats = fn.diagnostics.activation_stats(net, p, Xb)
    return {
        "batch": fn.diagnostics.gradient_norms(net, p, Xb, yb, LOSS),
        "single": jnp.mean(single, axis=0),
        "saturated": stats["saturated"],
        "std": stats["std"],
    }


def _stacked_inits(net: fn.MLP, configs, keys):
    """Initial parameters for every configuration and key, each configuration's drawn by its
    scheme and scale from the same keys, stacked along one axis (configs × keys, ...)."""
    inits = [
        jax.vmap(lambda k, s=scheme, c=scale: net.init(k, s, c))(keys)
        for _, _, scheme, scale, _ in configs
    ]
    return jax.tree.map(lambda *a: jnp.concatenate(a), *inits)


def _init_entry(config, m, depth):
    """The result entry of one configuration from its measurements ``m`` at initialisation
    (see :func:`at_init`); layer l's hidden-weight gradient is index l - 1, index ``depth`` the
    output layer's."""
    name, hidden, scheme, scale, label = config
    batch, single, sat, std = m["batch"], m["single"], m["saturated"], m["std"]
    return {
        "label": label,
        "hidden": hidden,
        "init": scheme,
        "init_scale": scale,
        "grad_norm_batch_geomean": np.exp(np.mean(np.log(batch), axis=0)).tolist(),
        "grad_norm_batch_geo_sd": np.exp(np.std(np.log(batch), axis=0)).tolist(),
        "grad_norm_batch_min": batch.min(axis=0).tolist(),
        "grad_norm_batch_max": batch.max(axis=0).tolist(),
        "grad_norm_single_geomean": np.exp(np.mean(np.log(single), axis=0)).tolist(),
        "ratio_first_last_batch": _stats.geometric(batch[:, 0] / batch[:, depth - 1]),
        "ratio_first_last_single": _stats.geometric(single[:, 0] / single[:, depth - 1]),
        "ratio_second_last_single": _stats.geometric(single[:, 1] / single[:, depth - 1]),
        "saturated_per_layer": sat.mean(axis=0)[:depth].tolist(),
        "saturated_sd_per_layer": sat.std(axis=0)[:depth].tolist(),
        "saturated_definition": fn.diagnostics.SATURATION[hidden],
        "activation_std_per_layer": std.mean(axis=0)[:depth].tolist(),
        "activation_std_sd_per_layer": std.std(axis=0)[:depth].tolist(),
        "training": {},
    }


def train(net: fn.MLP, configs, optimizer, data, eval_data, settings, keys, inits):
    """The training runs of every configuration in ``configs`` (all with ``net``'s hidden
    activation), ``len(keys)`` seeds each, as one compiled program (vmap over configurations ×
    seeds). Seed i has key ``keys[i]`` in every configuration, the same minibatch order;
    ``inits`` holds the initial weights, stacked (configs × seeds, ...), from :func:`at_init`
    (seed i of every configuration drawn from one key).

    Returns:
      per configuration name, its history as numpy arrays, each leaf (seeds, epochs).
    """
    seeds = keys.shape[0]
    fit = _seeds.fit_seeds(
        net,
        optimizer,
        data,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        loss=LOSS,
        eval_data=eval_data,
    )
    tiled = jnp.concatenate([keys] * len(configs))
    h = jax.tree.map(np.asarray, _jit(fit, "train")(tiled, inits))
    return {
        c[0]: jax.tree.map(lambda a, i=i: a[i * seeds : (i + 1) * seeds], h)
        for i, c in enumerate(configs)
    }


def _training_entry(h):
    """The result entry of one configuration's training history ``h`` (seeds, epochs)."""
    test, tr = h["eval_accuracy"][:, -1], h["train_accuracy"][:, -1]
    return {
        "final_test_accuracy_mean": float(test.mean()),
        "final_test_accuracy_std": float(test.std()),
        "final_train_accuracy_mean": float(tr.mean()),
        "final_train_accuracy_std": float(tr.std()),
        "final_train_accuracy_values": tr.tolist(),
        "final_loss_mean": float(np.nanmean(h["loss"][:, -1])),
        "diverged": int(np.sum(~np.isfinite(h["loss"][:, -1]))),
    }


def _measure_and_train(groups, sizes, data, eval_data, settings, keys):
    """Every configuration measured at initialisation (key ``keys[0]``) and trained with every
    optimizer from the first ``seeds`` of those initialisations (minibatch order from key
    ``keys[1]``): per hidden activation one program at initialisation, then one per optimizer
    for training. The hidden activations' programs run on a pool of two threads, the biggest
    group first: XLA releases Python's lock while it compiles and runs, so two cores work at
    once. The bar counts the programs.

    Returns:
      ``(configs, hists, curves)``: the result entry per configuration name, its histogram
      activations, and the training histories by (configuration name, optimizer name).
    """
    depth, opts = len(sizes) - 2, settings["optimizers"]
    train_keys = jax.random.split(keys[1], settings["seeds"])

    def group(hidden, bar):
        net = fn.MLP(sizes, hidden=hidden, output="identity")
        measured, inits = at_init(net, groups[hidden], *data, settings, keys[0])
        bar.update(1)
        histories = {}
        for o in opts:
            optimizer = _harness.sgd_or_adam(o, settings)[0]
            h = train(net, groups[hidden], optimizer, data, eval_data, settings, train_keys, inits)
            histories[o] = h
            bar.update(1)
        return measured, histories

    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool,
        _harness.progress(
            desc="vanishing_gradient: programs", total=len(groups) * (1 + len(opts)), unit="program"
        ) as bar,
    ):
        # the biggest group first (sigmoid: three configurations)
        order = sorted(groups, key=lambda h: -len(groups[h]))
        done = dict(zip(order, pool.map(lambda h: group(h, bar), order)))
    configs, hists, curves = {}, {}, {}
    for hidden, (measured, histories) in done.items():
        for c in groups[hidden]:
            configs[c[0]] = _init_entry(c, measured[c[0]], depth)
            hists[c[0]] = [a.ravel() for a in measured[c[0]]["hist"]]
            for o, h in histories.items():
                curves[(c[0], o)] = h[c[0]]
                configs[c[0]]["training"][o] = _training_entry(h[c[0]])
    order = [c[0] for c in CONFIGS if c[0] in configs]
    return {k: configs[k] for k in order}, {k: hists[k] for k in order}, curves


def _verdict(configs, settings):
    """The claim holds if sigmoid+Xavier loses three orders of magnitude of gradient between the
    last and the first hidden layer, ReLU+He stays within a factor 10, and ReLU trains clearly
    (train accuracy 0.2 above sigmoid+Xavier's, first optimizer)."""
    first = settings["optimizers"][0]
    sig, relu = configs["sigmoid-xavier"], configs["relu-he"]
    trains = (
        relu["training"][first]["final_train_accuracy_mean"]
        - sig["training"][first]["final_train_accuracy_mean"]
    )
    holds = (
        sig["ratio_first_last_single"]["geomean"] < 1e-3
        and 0.1 < relu["ratio_first_last_single"]["geomean"] < 10
        and trains > 0.2
    )
    return float(trains), "holds" if holds else "fails"


def _headline(configs, settings):
    """The key numbers in one line: the layer-1/last gradient ratios and the train accuracies."""
    sig, relu = configs["sigmoid-xavier"], configs["relu-he"]
    t = {k: c["training"][settings["optimizers"][0]] for k, c in (("s", sig), ("r", relu))}
    depth = settings["depth"]
    rs, rr = sig["ratio_first_last_single"], relu["ratio_first_last_single"]
    return (
        f"grad. ratio layer 1/{depth}: sigmoid {rs['geomean']:.0e} [{rs['min']:.0e}–{rs['max']:.0e}], "
        f"ReLU {rr['geomean']:.2f} [{rr['min']:.2f}–{rr['max']:.2f}]; train acc. "
        f"{t['s']['final_train_accuracy_mean']:.2f} ± {t['s']['final_train_accuracy_std']:.2f} vs "
        f"{t['r']['final_train_accuracy_mean']:.2f} ± {t['r']['final_train_accuracy_std']:.2f}"
    )


def run(settings, out):
    (X, y), (Xt, yt) = fn.data.mnist1d()
    if settings["n_train"]:
        X, y = X[: settings["n_train"]], y[: settings["n_train"]]
    depth, width = settings["depth"], settings["width"]
    sizes = (X.shape[1],) + (width,) * depth + (10,)
    groups = _groups(_chosen(settings))
    keys = jax.random.split(jax.random.key(settings["seed"]))  # at init, training
    configs, hists, curves = _measure_and_train(groups, sizes, (X, y), (Xt, yt), settings, keys)
    agreement = {
        name: {
            "reference": ref,
            "measured_batch": configs[name]["ratio_first_last_batch"]["geomean"],
            "measured_single": configs[name]["ratio_first_last_single"]["geomean"],
        }
        for name, ref in REFERENCE_RATIO.items()
    }
    trains, verdict = _verdict(configs, settings)
    return {
        "network": f"{depth + 1}-layer network ({depth}-hidden-layer network) "
        f"{'-'.join(map(str, sizes))}, output identity",
        "n_train": int(X.shape[0]),
        "n_test": int(Xt.shape[0]),
        "optimizer_labels": {
            o: _harness.sgd_or_adam(o, settings)[1] for o in settings["optimizers"]
        },
        "configs": configs,
        "reference_agreement": agreement,
        "relu_minus_sigmoid_xavier_train_accuracy": trains,
        "figures": [
            _gradient_figure(configs, settings, out),
            _histogram_figure(hists, configs, settings, out),
            _training_figure(curves, configs, settings, out),
        ],
        "verdict": verdict,
        "headline": _headline(configs, settings),
        "seeds": f"{settings['init_seeds']} init seeds, {settings['seeds']} training seeds",
    }


def _coincide_note(groups) -> str:
    """``"\n"`` and the groups of ``_plots.coinciding`` in words, wrapped, or ``""`` for none."""
    if not groups:
        return ""
    text = "; ".join(" and ".join(g) + " coincide" for g in groups)
    return "\n" + textwrap.fill(text, 70)


def _near_zero_note(configs) -> str:
    """Which saturation curves lie on top of each other at 0 (below 1%) from some layer on:
    ``"\n"`` and a sentence, or ``""`` where fewer than two do."""
    since = {}
    for c in configs.values():
        sat = np.asarray(c["saturated_per_layer"])
        above = np.nonzero(sat >= 0.01)[0]
        first = 1 if above.size == 0 else above[-1] + 2  # 1-based layer after the last >= 1%
        if first <= sat.size:
            since[c["label"]] = first
    if len(since) < 2:
        return ""
    text = f"{'; '.join(since)}: on top of each other below 1% from layer {max(since.values())} on"
    return "\n" + textwrap.fill(text, 70)


def _gradient_figure(configs, settings, out):
    """Left: ‖∂L/∂W^(l)‖ per weight layer at initialisation (geometric mean over init seeds, with
    its min-max band) for every configuration; right: the fraction of saturated units per layer."""
    plt = _plots.pyplot()
    depth = settings["depth"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8))
    layers = np.arange(1, depth + 2)
    for name, c in configs.items():
        st = STYLE[name]
        a1.plot(layers, c["grad_norm_batch_geomean"], **st, label=c["label"])
        a1.fill_between(
            layers, c["grad_norm_batch_min"], c["grad_norm_batch_max"], color=st["color"], alpha=0.2
        )
        a2.plot(np.arange(1, depth + 1), c["saturated_per_layer"], **st, mfc="none", ms=8)
    a1.set(
        yscale="log",
        xlabel=f"weight layer $l$ (1 to {depth}: hidden layers; {depth + 1}: output layer)",
        ylabel=r"$\|\partial L / \partial W^{(l)}\|$ at initialisation",
        xticks=layers,
    )
    a1.set_title("gradient norm per layer: geometric mean, band min to max", fontsize=10)
    a2.set(xlabel="hidden layer", ylabel="fraction of units saturated", ylim=(-0.03, 1.03))
    a2.set_xticks(np.arange(1, depth + 1))
    same = _plots.coinciding({c["label"]: c["saturated_per_layer"] for c in configs.values()}, 0.02)
    a2.set_title(
        "saturated: sigmoid a < 0.1 or a > 0.9; tanh |a| > 0.9; ReLU a = 0"
        + (_coincide_note(same) or _near_zero_note(configs)),
        fontsize=10,
    )
    fig.suptitle(
        f"{'-'.join(['40'] + [str(settings['width'])] * depth + ['10'])} network on MNIST-1D at "
        f"initialisation: {settings['init_seeds']} init seeds, each on a batch of "
        f"{settings['grad_examples']} examples",
        fontsize=11,
    )
    a2.legend(*a1.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.02, 1))
    return _plots.save_figure(fig, out, "vanishing_gradient_norms.png")


def _hist_layers(depth: int) -> list[int]:
    """At most five hidden layers (1-based) for the histograms: the first, the last, and evenly
    spaced ones between."""
    return sorted({int(round(v)) for v in np.linspace(1, depth, min(depth, 5))})


def _histogram_figure(hists, configs, settings, out):
    """Histograms of the activations of a few hidden layers at initialisation (columns), one row
    per configuration, on the activation's own range; the y axis is the share of activations in
    each bin."""
    plt = _plots.pyplot()
    shown = _hist_layers(settings["depth"])
    rows, cols = len(hists), len(shown)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.0 * rows + 0.8), squeeze=False)
    for r, (name, layers) in enumerate(hists.items()):
        c = configs[name]
        if c["hidden"] == "sigmoid":
            lo, hi = 0.0, 1.0
        elif c["hidden"] == "tanh":
            lo, hi = -1.0, 1.0
        else:
            lo, hi = 0.0, max(float(np.percentile(np.concatenate(layers), 99)), 1e-6)
        for j, l in enumerate(shown):
            ax = axes[r, j]
            counts, edges = np.histogram(layers[l - 1], bins=30, range=(lo, hi))
            ax.stairs(
                100 * counts / layers[l - 1].size, edges, fill=True, color=STYLE[name]["color"]
            )
            ax.set_ylim(0, 100)
            ax.tick_params(labelsize=8)
            sat = c["saturated_per_layer"][l - 1]
            ax.set_title(f"layer {l}: {sat:.0%} saturated", fontsize=9)
            if j:
                ax.set_yticklabels([])
        axes[r, 0].set_ylabel(f"{c['label']}\n% of activations", fontsize=9)
    fig.suptitle(
        f"activations per hidden layer at initialisation: {settings['hist_examples']} MNIST-1D "
        "examples, init seed 0; saturated: mean over "
        f"{settings['init_seeds']} init seeds; 30 bins",
        fontsize=11,
    )
    return _plots.save_figure(fig, out, "vanishing_gradient_histograms.png")


def _training_figure(curves, configs, settings, out):
    """Per optimizer (rows): training loss and test accuracy per epoch of every configuration,
    mean over seeds with a ± one standard deviation band; lines that coincide are named."""
    plt = _plots.pyplot()
    from matplotlib.ticker import MaxNLocator

    opts = settings["optimizers"]
    fig, axes = plt.subplots(len(opts), 2, figsize=(13, 4.2 * len(opts)), squeeze=False)
    epochs = np.arange(1, settings["epochs"] + 1)
    every = max(1, settings["epochs"] // 10)
    for r, opt_name in enumerate(opts):
        acc = {}
        for name, c in configs.items():
            h, st = curves[(name, opt_name)], {**STYLE[name], "markevery": every, "ms": 5}
            _plots.band(axes[r, 0], epochs, h["loss"], **st, label=c["label"])
            _plots.band(axes[r, 1], epochs, h["eval_accuracy"], **st, label=c["label"])
            acc[c["label"]] = np.nanmean(h["eval_accuracy"], axis=0)
        title = _harness.sgd_or_adam(opt_name, settings)[1]
        same = _plots.coinciding(acc, 0.02)
        axes[r, 0].set(xlabel="epoch", ylabel="training loss (cross-entropy)")
        for ax in axes[r]:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[r, 0].set_title(title, fontsize=10)
        axes[r, 1].set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1))
        axes[r, 1].set_title(title + _coincide_note(same), fontsize=10)
    fig.suptitle(
        f"training the {settings['depth']}-hidden-layer network on MNIST-1D, minibatch "
        f"{settings['batch_size']}: mean ± std over {settings['seeds']} seeds",
        fontsize=11,
    )
    axes[0, 1].legend(
        *axes[0, 0].get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.02, 1)
    )
    return _plots.save_figure(fig, out, "vanishing_gradient_training.png")


def _agree(measured, reference):
    factor = max(measured / reference, reference / measured)
    if factor <= 10:
        return f"agrees to a factor {factor:.1f}"
    return f"does not agree: off by a factor {factor:.2g}"


def _range(s, fmt=".2g"):
    """A :func:`_summary` as ``geomean [min, max]``."""
    return f"{s['geomean']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}]"


def _pct(c, key, l):
    """Saturation of hidden layer ``l`` (0-based) as ``mean ± sd%``, in percent."""
    return f"{100 * c[key][l]:.0f} ± {100 * c[key.replace('_per', '_sd_per')][l]:.0f}%"


def _report_setup(result):
    """The first lines: the network, the data and what was measured how."""
    s = result["settings"]
    depth = s["depth"]
    return [
        f"{result['network']}; MNIST-1D, {result['n_train']} training / {result['n_test']} test "
        f"examples; softmax cross-entropy.",
        f"At initialisation, over {s['init_seeds']} init seeds, each with its own batch of "
        f"{s['grad_examples']} training examples: the ratio ‖∂L/∂W^(1)‖ / ‖∂L/∂W^({depth})‖ of "
        "the first to the last hidden layer's weight gradient, for the gradient of the batch loss "
        "and for single examples (norms averaged over the batch), geometric mean [min, max] over "
        "init seeds; saturation and activation std as mean ± sd over init seeds. "
        f"Training: {s['seeds']} seeds (seed i from init seed i's weights), {s['epochs']} epochs, "
        f"minibatch {s['batch_size']}, "
        + "; ".join(result["optimizer_labels"].values())
        + f"; accuracies mean ± sd over the {s['seeds']} seeds.",
    ]


def _report_table(result):
    """One row per configuration: gradient ratios, saturation, activation std and accuracies."""
    depth = result["settings"]["depth"]
    opts = list(result["optimizer_labels"])
    lines = [
        "",
        f"| configuration | ratio 1/{depth}, batch | ratio 1/{depth}, single example | "
        f"saturated, layer 1 / {depth} | activation std, layer 1 / {depth} | "
        + " | ".join(f"test acc. ({o}) | train acc. ({o})" for o in opts)
        + " |",
        "|---|---|---|---|---|" + "---|---|" * len(opts),
    ]
    for c in result["configs"].values():
        std, sd = c["activation_std_per_layer"], c["activation_std_sd_per_layer"]
        cells = []
        for o in opts:
            t = c["training"][o]
            div = f" ({t['diverged']} diverged)" if t["diverged"] else ""
            cells.append(
                f"{t['final_test_accuracy_mean']:.3f} ± {t['final_test_accuracy_std']:.3f}{div} | "
                f"{t['final_train_accuracy_mean']:.3f} ± {t['final_train_accuracy_std']:.3f}"
            )
        lines.append(
            f"| {c['label']} | {_range(c['ratio_first_last_batch'])} | "
            f"{_range(c['ratio_first_last_single'])} | "
            f"{_pct(c, 'saturated_per_layer', 0)} / {_pct(c, 'saturated_per_layer', -1)} | "
            f"{std[0]:.2g} ± {sd[0]:.1g} / {std[-1]:.2g} ± {sd[-1]:.1g} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _report_profile(result):
    """The gradient norm per weight layer as a table: layers as rows, configurations as columns,
    each cell the geometric mean over init seeds ×/÷ the geometric standard deviation."""
    s, configs = result["settings"], list(result["configs"].values())
    depth = s["depth"]
    lines = [
        "",
        f"Gradient norm ‖∂L/∂W^(l)‖ of the batch loss per weight layer: geometric mean over the "
        f"{s['init_seeds']} init seeds ×/÷ their geometric standard deviation (layer {depth + 1} "
        "is the output layer):",
        "",
        "| layer | " + " | ".join(c["label"] for c in configs) + " |",
        "|---|" + "---|" * len(configs),
    ]
    for l in range(depth + 1):
        cells = [
            f"{c['grad_norm_batch_geomean'][l]:.1e} ×/÷ {c['grad_norm_batch_geo_sd'][l]:.2f}"
            for c in configs
        ]
        lines.append(f"| {l + 1} | " + " | ".join(cells) + " |")
    return lines


def _report_reference(result):
    """The measured layer-1/last ratios against the reference ratios of a NumPy check."""
    s = result["settings"]
    depth, width = s["depth"], s["width"]
    if (depth, width) != (10, 100):
        return ["", "The reference ratios are for 10 hidden layers of 100 units: not compared."]
    lines = [
        "",
        f"Against the reference ratios of a NumPy check (10 hidden layers of 100), geometric "
        f"means over the {s['init_seeds']} init seeds (ranges in the table above):",
        "",
    ]
    for name, a in result["reference_agreement"].items():
        label = result["configs"][name]["label"]
        second = result["configs"][name]["ratio_second_last_single"]
        lines.append(
            f"- {label}: reference {a['reference']:.2g}; measured {a['measured_batch']:.2g} "
            f"(batch, {_agree(a['measured_batch'], a['reference'])}), "
            f"{a['measured_single']:.2g} (single example, "
            f"{_agree(a['measured_single'], a['reference'])}); layer 2/{depth}, single example: "
            f"{_range(second)}."
        )
    return lines


def _report_relu_note(result):
    """Why ReLU's layer-1/last ratio departs from 1 (the input layer's fan-in)."""
    s = result["settings"]
    depth, width = s["depth"], s["width"]
    relu = result["configs"]["relu-he"]
    return [
        "",
        "Where ReLU's ratio departs from 1: layer 1 sees the 40 standardised MNIST-1D inputs "
        f"(zero mean, ‖x‖² ≈ 40), the later layers {width} hidden activations, so for one example "
        f"layer 1's weight gradient is about √(40/{width}) = {np.sqrt(40 / width):.2f} times that "
        f"of a layer of fan-in {width}; the layer 2/{depth} single-example ratio, "
        f"{_range(relu['ratio_second_last_single'])}, has no such factor. In the batch gradient "
        "the per-example terms x δᵀ of the zero-mean inputs partly cancel, while those of the "
        "non-negative ReLU activations add up: batch ratio "
        f"{_range(relu['ratio_first_last_batch'])} against "
        f"{_range(relu['ratio_first_last_single'])} for single examples.",
    ]


def _observations(result):
    """Sentences that read the measured numbers (the same ones as the tables); each is written
    only where the numbers say so."""
    c = result["configs"]
    s = result["settings"]
    depth, n = s["depth"], s["seeds"]
    opt = next(iter(result["optimizer_labels"]))
    lines = [""]
    n1 = c.get("sigmoid-normal1")
    if n1 and n1["ratio_first_last_single"]["geomean"] > 0.1:
        t = n1["training"][opt]
        lines.append(
            f"Sigmoid with N(0, 1) weights: {_pct(n1, 'saturated_per_layer', 0)} of the units of "
            f"hidden layer 1 and {_pct(n1, 'saturated_per_layer', -1)} of layer {depth} are "
            "saturated (mean ± sd over init seeds), yet the gradient does not vanish with depth "
            f"(single-example ratio {_range(n1['ratio_first_last_single'])}): weights of std 1 "
            "multiply the backward signal by about √width · 1 per layer, which makes up for the "
            "small a(1 − a) of saturated units. What slows its training is more likely the "
            "saturation than a vanishing gradient; it trains to "
            f"{t['final_train_accuracy_mean']:.3f} ± {t['final_train_accuracy_std']:.3f} train "
            f"accuracy ({opt}, {n} seeds)."
        )
    small = c.get("sigmoid-normal0.01")
    if small and max(small["saturated_per_layer"]) < 0.01:
        lines.append(
            "Sigmoid with N(0, 0.01²) weights: no unit saturates, but every activation sits near "
            f"0.5 (std {small['activation_std_per_layer'][-1]:.2g} at hidden layer {depth}, "
            "mean over init seeds): the backward signal shrinks by about √width · 0.01 · 1/4 per "
            f"layer, single-example ratio {_range(small['ratio_first_last_single'])}."
        )
    for v in c.values():
        t = v["training"][opt]
        if t["final_train_accuracy_mean"] < 0.15:
            lines.append(
                f"{v['label']}: does not train within the budget ({opt}): final train accuracy "
                f"{t['final_train_accuracy_mean']:.3f} ± {t['final_train_accuracy_std']:.3f} "
                f"({n} seeds), chance is 0.1."
            )
    return lines


def report(result):
    return (
        _report_setup(result)
        + _report_table(result)
        + _report_profile(result)
        + _report_reference(result)
        + _report_relu_note(result)
        + _observations(result)
    )


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
