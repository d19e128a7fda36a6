"""Dropout against over-fitting (Srivastava et al. 2014): a network that memorises a small training
set, trained to convergence with and without dropout on its hidden units, each arm tuned alike.

Set-up. 300 MNIST-1D training examples (Greydanus 2020; 30 per class on average), 1000 validation
examples carved from MNIST-1D's other training examples, and its 1000 test examples. A 40-256-10
ReLU network: one wide hidden layer rather than the book's six layers of 100 units, where dropout at
0.5 leaves too few units per layer to fit at all. At p = 0.5 a step keeps about 128 of the 256
units, enough to fit the 300 examples; Srivastava et al. (2014, appendix A.1) advise n/p units
where n suffice without dropout. p is the probability of dropping a unit (Srivastava et al. write
p for keeping one; at 0.5 the two agree); inverted dropout scales the kept units by 1/(1 - p) so
that the full network is used unchanged at evaluation.

Fairness. Every arm (p = 0, 0.2, 0.5) takes the same number of Adam steps, from the same initial
weights and minibatch order per seed; its peak learning rate is chosen from one grid on validation
accuracy, and each run's epoch too (early stopping). The test set only measures.

Convergence. Adam's learning rate decays along a half cosine from its peak α to 0 over the budget,
α_t = α (1 + cos(π t / T)) / 2 for step t of T (Loshchilov and Hutter 2017, SGDR), so that every
run settles: at a constant rate the noisy steps of dropout keep its loss creeping down for
thousands of epochs at the rates validation prefers. The recorded
training loss is the epoch's mean minibatch loss *with* dropout, the objective being minimised,
and dropout makes it noisy; the plateau rule (``experiments._seeds.plateau``) judges its trailing
mean over a stated fraction of the epochs, with an absolute tolerance of about a hundredth of the
initial loss ln 10.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats

CLAIM = (
    "Dropout reduces over-fitting: on a small training set it narrows the gap between train and "
    "test accuracy and raises test accuracy."
)
SMALLEST = 0.01
"""The smallest change of accuracy that counts (one point): below the test set's own resolution,
a binomial standard error of about 1.4 points at 30% accuracy on 1000 examples."""
CRITERION = _protocol.Criterion(
    hypothesis=(
        "Trained to convergence on 300 MNIST-1D examples, a 40-256-10 ReLU network with dropout "
        "p = 0.5 on its hidden units has, against the same network without dropout (each with its "
        "own tuned learning rate, the same seeds and steps), (a) a narrower train − test accuracy "
        "gap at the end of training and (b) a higher test accuracy at its validation-chosen epoch."
    ),
    rule=(
        "For each part, the 95% t interval over seeds of the paired difference (gap: p = 0 minus "
        "p = 0.5; test accuracy: p = 0.5 minus p = 0): the part holds if the interval lies above "
        f"0, fails if it lies below +{SMALLEST * 100:g} point, else is inconclusive; both parts "
        "are inconclusive if any compared run has not levelled off under the plateau rule. The "
        "verdict combines the parts: holds if all hold, partly if some hold and some fail, fails "
        "if none holds and some fail, else inconclusive. p = 0.2 is reported beside, not judged."
    ),
    kind="effect",
    source=(
        "Srivastava et al. 2014, Dropout: a simple way to prevent neural networks from "
        "overfitting, JMLR 15 (p = 0.5 on hidden units, trained to convergence)"
    ),
)
QUICK = {
    "n_train": 300,
    "n_val": 1000,
    "hidden": [256],
    "rates": [0.0, 0.2, 0.5],
    "judged_rate": 0.5,
    "lrs": [1e-2, 3e-2, 1e-1],
    "seeds": 6,
    "epochs": 600,
    "batch_size": 25,
    "plateau": {"smooth": 0.05, "window": 0.2, "rtol": 0.01, "atol": 0.02},
    "seed": 0,
}
FULL = {**QUICK, "lrs": [1e-2, 3e-2, 1e-1, 3e-1], "seeds": 12}
LOSS = "softmax_cross_entropy"
# XLA's CPU backend at optimisation level 1 (its default is 3): the program compiles markedly
# faster and runs as fast; the drawing of the initial weights (threefry random bits), which runs
# in no time, compiles faster still at level 0
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def check_settings(s: dict) -> None:
    """Raises ``ValueError`` naming the first setting that cannot give a fair test."""
    rates, lrs = s["rates"], s["lrs"]
    if not rates or rates[0] != 0 or any(not 0 < r < 1 for r in rates[1:]):
        raise ValueError(f"rates: expected 0 first, then rates in (0, 1), got {rates!r}")
    if s["judged_rate"] not in rates[1:]:
        raise ValueError(f"judged_rate: expected one of {rates[1:]}, got {s['judged_rate']!r}")
    if not lrs or any(not (isinstance(x, (int, float)) and x > 0) for x in lrs):
        raise ValueError(f"lrs: expected positive learning rates, got {lrs!r}")
    if s["n_train"] + s["n_val"] > 4000:
        raise ValueError(
            "n_train + n_val: expected at most MNIST-1D's 4000 training examples, got "
            f"{s['n_train']} + {s['n_val']}"
        )
    if s["seeds"] < 2:
        raise ValueError(f"seeds: expected at least 2 for an interval, got {s['seeds']}")
    if not 1 <= s["batch_size"] <= s["n_train"]:
        raise ValueError(f"batch_size: expected 1..n_train, got {s['batch_size']}")
    if not 0 < s["plateau"]["smooth"] < s["plateau"]["window"]:
        raise ValueError(
            "plateau.smooth: expected a fraction of the epochs below plateau.window, got "
            f"{s['plateau']['smooth']!r}"
        )


def splits(settings):
    """``(train, validation, test)`` as ``(X, y)`` pairs: the first ``n_train`` of MNIST-1D's
    4000 training examples, its last ``n_val`` (disjoint from them), and its 1000 test examples."""
    (X, y), (Xt, yt) = fn.data.mnist1d()
    n, v = settings["n_train"], settings["n_val"]
    return (X[:n], y[:n]), (X[-v:], y[-v:]), (Xt, yt)


def train(net: fn.MLP, arms, data, val_data, test_data, settings, keys):
    """Every arm (dropout rate, learning rate) × seed: one compiled program, its seeds split over
    the CPU cores.

    The rate and the peak learning rate are traced values (``jax.vmap`` over arms; Adam with its
    cosine schedule built inside, ``fnnet.backprop.value_and_grad`` with ``dropout=rate``), so
    every arm shares the program; rate 0 draws masks of ones, the plain network. Seed i has the
    same key in every arm: the same initial weights and minibatch order.

    Returns:
      the history as numpy arrays, each leaf (arms, seeds, epochs): ``loss`` (the epoch's mean
      minibatch loss, with dropout), ``train_accuracy``, ``eval_accuracy`` (validation) and
      ``test_accuracy``, each after the epoch, of the full network.
    """
    Xt, yt = jnp.asarray(test_data[0]), jnp.asarray(test_data[1])

    def test_accuracy(params):  # measured only; nothing is chosen on it
        return {"test_accuracy": fn.train.accuracy(net, LOSS, net.apply(params, Xt), yt)}

    record = fn.train.Record(eval_data=val_data, metrics=test_accuracy)
    steps = settings["epochs"] * (data[0].shape[0] // settings["batch_size"])

    def one(key, init, rate, lr):
        grads = functools.partial(fn.backprop.value_and_grad, dropout=rate)
        return fn.train.fit(
            net,
            optax.adam(optax.cosine_decay_schedule(lr, steps)),
            key,
            data,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            loss=LOSS,
            init=init,
            grads=grads,
            record=record,
        )[1]

    def program(keys, inits, rates, lrs):
        seeds = jax.vmap(one, in_axes=(0, 0, None, None))
        return jax.vmap(seeds, in_axes=(None, None, 0, 0))(keys, inits, rates, lrs)

    # the initial weights fit would draw from each key (the first half of it), by a program of
    # their own: threefry random bits compile fast at optimisation level 0
    draw = jax.vmap(lambda k: net.init(jax.random.split(k)[0]))
    inits = jax.jit(draw, compiler_options=fn.xla.compiler_options(INIT_COMPILER_OPTIONS))(keys)
    sharded = jax.device_put((keys, inits), _seeds.seed_sharding(keys.shape[0]))
    rates = jnp.asarray([a[0] for a in arms], jnp.float32)
    lrs = jnp.asarray([a[1] for a in arms], jnp.float32)
    with _harness.progress(desc="dropout: compile, train", total=2, unit="step") as bar:
        compiled = jax.jit(program, compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS))
        compiled = compiled.lower(*sharded, rates, lrs).compile()
        bar.update(1)
        h = jax.tree.map(np.asarray, compiled(*sharded, rates, lrs))
        bar.update(1)
    return h


def smoothed(loss, k: int):
    """The trailing mean over ``k`` epochs, L̄_e = mean(L_{e-k+1}, ..., L_e) (fewer at the
    start), of per-epoch losses ``loss`` (..., epochs)."""
    L = np.asarray(loss, np.float64)
    c = np.cumsum(np.concatenate([np.zeros(L.shape[:-1] + (1,)), L], axis=-1), axis=-1)
    e = np.arange(1, L.shape[-1] + 1)
    start = np.maximum(e - k, 0)
    return (c[..., e] - c[..., start]) / (e - start)


def convergence(loss, settings):
    """The plateau record of every run, judged on the smoothed training loss (see module
    docstring): :func:`experiments._seeds.plateau_record` with the settings' rule, its ``rule``
    saying what was smoothed, and ``converged`` as a bool array for the code."""
    p = settings["plateau"]
    k = max(1, math.ceil(p["smooth"] * settings["epochs"]))
    rule = {key: p[key] for key in ("window", "rtol", "atol")}
    loss = smoothed(loss, k)
    record = _seeds.plateau_record(loss, **rule)
    record["rule"] = (
        f"on the trailing mean over {k} epochs of the training loss (the epoch's mean minibatch "
        f"loss with dropout): {record['rule']}"
    )
    return record, _seeds.plateau(loss, **rule)["converged"]


def best_epochs(val_accuracy):
    """Each run's validation-chosen epoch (0-based index): the first epoch of highest validation
    accuracy, of ``val_accuracy`` (..., epochs); a run with no finite value gets the last."""
    v = np.where(np.isfinite(val_accuracy), val_accuracy, -np.inf)
    return np.argmax(v, axis=-1)


def choose_lrs(val_accuracy, converged):
    """Each rate's learning rate, from validation accuracy and the plateau record alone.

    ``val_accuracy`` (rates, lrs, seeds, epochs); ``converged`` (rates, lrs, seeds). A learning
    rate's score is the mean over seeds of the validation accuracy at each seed's chosen epoch;
    the chosen one is the best-scoring among those whose runs all levelled off (where none did,
    the best-scoring: the comparison is then inconclusive).

    Returns:
      ``(index (rates,), score (rates, lrs))``.
    """
    val_accuracy = np.asarray(val_accuracy, np.float64)
    best = best_epochs(val_accuracy)
    at_best = np.take_along_axis(val_accuracy, best[..., None], axis=-1)[..., 0]
    score = np.where(np.isfinite(at_best), at_best, -np.inf).mean(axis=-1)
    eligible = np.asarray(converged).all(axis=-1)
    ranked = np.where(eligible, score, -np.inf)
    index = np.where(eligible.any(axis=-1), ranked.argmax(axis=-1), score.argmax(axis=-1))
    return index, score


def _arm(h, best, record, converged, lr, steps_per_epoch):
    """One rate at its chosen learning rate: ``h`` its history (seeds, epochs), ``best`` its
    chosen epochs (seeds,)."""
    s = np.arange(best.shape[0])
    tr, va, te = h["train_accuracy"], h["eval_accuracy"], h["test_accuracy"]
    return {
        "lr": lr,
        "steps": int(h["loss"].shape[-1]) * steps_per_epoch,
        "best_epoch": (best + 1).tolist(),
        "validation_accuracy_at_best": _stats.mean_std(va[s, best]),
        "test_accuracy_at_best": _stats.mean_std(te[s, best]),
        "train_accuracy_at_best": _stats.mean_std(tr[s, best]),
        "gap_at_best": _stats.mean_std(tr[s, best] - te[s, best]),
        "final_train_accuracy": _stats.mean_std(tr[:, -1]),
        "final_test_accuracy": _stats.mean_std(te[:, -1]),
        "final_gap": _stats.mean_std(tr[:, -1] - te[:, -1]),
        "plateau": record,
        "converged": bool(np.all(converged)),
    }


def _effect(arm, base):
    """``arm`` against no dropout, paired over seeds: test accuracy gains and gap narrowings."""

    def v(a, k):
        return a[k]["values"]

    return {
        "test_accuracy_at_best": _stats.paired_difference(
            v(arm, "test_accuracy_at_best"), v(base, "test_accuracy_at_best")
        ),
        "final_test_accuracy": _stats.paired_difference(
            v(arm, "final_test_accuracy"), v(base, "final_test_accuracy")
        ),
        "final_gap_narrowing": _stats.paired_difference(v(base, "final_gap"), v(arm, "final_gap")),
        "gap_narrowing_at_best": _stats.paired_difference(
            v(base, "gap_at_best"), v(arm, "gap_at_best")
        ),
    }


def run(settings, out):
    check_settings(settings)
    data, val_data, test_data = splits(settings)
    net = fn.MLP((data[0].shape[1], *settings["hidden"], 10), hidden="relu", output="identity")
    rates, lrs = settings["rates"], settings["lrs"]
    arms = [(r, lr) for r in rates for lr in lrs]
    # the same keys, so the same initial weights and minibatch order, in every arm
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    h = train(net, arms, data, val_data, test_data, settings, keys)
    h = {k: v.reshape(len(rates), len(lrs), *v.shape[1:]) for k, v in h.items()}

    record, converged = convergence(h["loss"], settings)
    index, score = choose_lrs(h["eval_accuracy"], converged)
    best = best_epochs(h["eval_accuracy"])
    per_epoch = data[0].shape[0] // settings["batch_size"]

    def plateau_of(i, j):  # one (rate, learning rate)'s plateau record, one entry per seed
        c = converged[i, j]
        return {
            "rule": record["rule"],
            "epoch": np.asarray(record["epoch"])[i, j].tolist(),
            "converged": c.tolist(),
            "n_converged": int(c.sum()),
            "n_runs": int(c.size),
        }

    grid, chosen, curves = {}, {}, {}
    for i, rate in enumerate(rates):
        grid[str(rate)] = {
            str(lr): {"validation_score": float(score[i, j]), "plateau": plateau_of(i, j)}
            for j, lr in enumerate(lrs)
        }
        j = int(index[i])
        curves[rate] = {k: v[i, j] for k, v in h.items()}
        chosen[str(rate)] = _arm(
            curves[rate], best[i, j], plateau_of(i, j), converged[i, j], lrs[j], per_epoch
        )

    base = chosen[str(rates[0])]
    effects = {str(r): _effect(chosen[str(r)], base) for r in rates[1:]}
    judged = str(settings["judged_rate"])
    both_converged = base["converged"] and chosen[judged]["converged"]
    e = effects[judged]
    parts = {
        "gap narrows": _stats.decide(
            e["final_gap_narrowing"]["ci"], smallest=SMALLEST, converged=both_converged
        ),
        "test accuracy rises": _stats.decide(
            e["test_accuracy_at_best"]["ci"], smallest=SMALLEST, converged=both_converged
        ),
    }
    steps = settings["epochs"] * per_epoch
    return {
        "design": _design(net, settings, steps),
        "network": _sizes(net),
        "n_train": int(data[0].shape[0]),
        "n_validation": int(val_data[0].shape[0]),
        "n_test": int(test_data[0].shape[0]),
        "steps_per_arm": steps,
        "plateau_rule": record["rule"],
        "grid": grid,
        "arms": chosen,
        "effects_against_no_dropout": effects,
        "parts": parts,
        "verdict": _protocol.combine(parts),
        "headline": _headline(e, settings),
        "seeds": f"{settings['seeds']} seeds, the same for every arm and learning rate",
        "figures": [_figure(curves, chosen, settings, out)],
    }


def _design(net, settings, steps):
    s = settings
    rates = ", ".join(f"{r:g}" for r in s["rates"])
    lrs = ", ".join(f"{x:g}" for x in s["lrs"])
    return [
        f"{s['n_train']} MNIST-1D training examples, {s['n_val']} validation examples from its "
        f"other training examples, its 1000 test examples; a {_sizes(net)} ReLU network "
        "(one hidden layer per middle number), dropout on its hidden units.",
        f"Dropout p = {rates}, each trained {s['epochs']} epochs of minibatch {s['batch_size']} "
        f"({steps} Adam steps, the learning rate decayed to 0 along a cosine; the same for every "
        f"arm) from the same {s['seeds']} seeds.",
        f"Each arm's peak learning rate from {{{lrs}}} and each run's epoch chosen on validation "
        f"accuracy; p = {s['judged_rate']:g} judged against p = 0, paired over seeds, on test "
        "accuracy at the chosen epoch and on the train − test gap at the end.",
    ]


def _sizes(net):
    return "-".join(str(n) for n in net.sizes)


def _points(stat):
    """A :func:`_stats.mean_interval` in accuracy points."""
    return _stats.pm(stat, 100)


def _headline(e, settings):
    return (
        f"p={settings['judged_rate']:g} minus p=0: test acc. {_points(e['test_accuracy_at_best'])}"
        f" points, gap narrowed {_points(e['final_gap_narrowing'])} points; "
        f"{settings['seeds']} seeds"
    )


def _figure(curves, chosen, settings, out):
    """Training loss (smoothed, as the plateau rule reads it; one thin line per seed, on a log
    scale), train accuracy, test accuracy and the train − test gap per epoch, each rate at its
    tuned learning rate: mean over seeds with a ± one standard deviation band; on the test panel
    each arm's test accuracy at its validation-chosen epochs (mean ± sd, at their median)."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 7.6), sharex=True)
    n = settings["epochs"]
    epochs = np.arange(1, n + 1)
    k = max(1, math.ceil(settings["plateau"]["smooth"] * n))
    last = n - max(1, math.ceil(settings["plateau"]["window"] * n))
    later = epochs > max(k, n // 20)  # the accuracy panels' limits leave out the first epochs
    limits = {"test": [], "gap": []}
    for i, (rate, h) in enumerate(curves.items()):
        arm = chosen[str(rate)]
        color = f"C{i}"
        loss = smoothed(h["loss"], k)
        axes[0, 0].plot(epochs, loss.T, color=color, lw=0.7, alpha=0.6)
        axes[0, 0].plot([], [], color=color, label=f"p = {rate:g} (peak lr {arm['lr']:g})")
        _plots.band(axes[0, 1], epochs, h["train_accuracy"], color=color, lw=1.4)
        test, gap = h["test_accuracy"], h["train_accuracy"] - h["test_accuracy"]
        _plots.band(axes[1, 0], epochs, test, color=color, lw=1.4)
        _plots.band(axes[1, 1], epochs, gap, color=color, lw=1.4)
        at = arm["test_accuracy_at_best"]
        axes[1, 0].errorbar(
            np.median(arm["best_epoch"]),
            at["mean"],
            yerr=at["std"],
            color=color,
            marker="D",
            ms=6,
            mec="k",
            capsize=3,
            zorder=5,
        )
        for name, y in (("test", test), ("gap", gap)):
            m, sd = y.mean(axis=0)[later], y.std(axis=0)[later]
            limits[name] += [float(np.min(m - sd)), float(np.max(m + sd))]
    axes[0, 0].axvline(last, color="k", ls=":", lw=1)
    axes[0, 0].set(yscale="log", ylabel="training loss (with dropout)")
    # the plain network's loss falls to rounding level; the axis shows the dropout arms' floor
    floor = min(float(np.nanmin(smoothed(h["loss"], k))) for r, h in curves.items() if r > 0)
    axes[0, 0].set_ylim(bottom=max(floor / 3, 1e-12))
    axes[0, 0].set_title(
        f"training loss, trailing mean over {k} epochs; level after the dotted line", fontsize=10
    )
    axes[0, 1].set(ylabel="train accuracy", ylim=(0, 1.02))
    axes[0, 1].set_title("train accuracy (full network)", fontsize=10)
    for ax, name in ((axes[1, 0], "test"), (axes[1, 1], "gap")):
        lo, hi = min(limits[name]), max(limits[name])
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
    axes[1, 0].set(xlabel="epoch", ylabel="test accuracy")
    axes[1, 0].set_title("test accuracy; ◆ at the validation-chosen epochs", fontsize=10)
    axes[1, 1].set(xlabel="epoch", ylabel="train − test accuracy")
    axes[1, 1].set_title("over-fitting gap", fontsize=10)
    axes[0, 0].legend(fontsize=9, loc="upper right")
    steps = settings["n_train"] // settings["batch_size"]
    fig.suptitle(
        f"Dropout on {settings['n_train']} MNIST-1D examples, 40-{settings['hidden'][0]}-10 ReLU "
        f"({steps} steps per epoch), {settings['seeds']} seeds: loss one line per seed, "
        "accuracies mean ± sd",
        fontsize=11,
    )
    return _plots.save_figure(fig, out, "dropout_curves.png")


def _report_grid(result):
    """The learning-rate grid: each rate's validation score and levelled-off runs per peak
    learning rate, and which arms took a rate at the grid's edge."""
    s = result["settings"]
    lrs = s["lrs"]
    lines = [
        "",
        "Learning-rate grid: mean validation accuracy at each run's chosen epoch, and (in "
        "brackets) the runs that levelled off; only a rate whose runs all levelled off can be "
        "chosen; **bold**: the rate each arm got.",
        "",
        "| dropout | " + " | ".join(f"lr {x:g}" for x in lrs) + " |",
        "|---|" + "---|" * len(lrs),
    ]
    edge = []
    for rate, row in result["grid"].items():
        tuned = result["arms"][rate]["lr"]
        cells = []
        for x in lrs:
            c = row[str(x)]
            text = f"{c['validation_score']:.3f} ({c['plateau']['n_converged']}/{s['seeds']})"
            cells.append(f"**{text}**" if x == tuned else text)
        lines.append(f"| {float(rate):g} | " + " | ".join(cells) + " |")
        if len(lrs) > 1 and tuned in (min(lrs), max(lrs)):
            edge.append(f"p = {float(rate):g} ({tuned:g})")
    if edge:
        lines += ["", f"Chosen at the edge of the grid: {', '.join(edge)}."]
    return lines


def _report_arms(result):
    """One row per rate at its tuned learning rate."""
    lines = [
        "",
        "Each arm at its tuned learning rate, mean ± sd over seeds:",
        "",
        "| dropout | lr | chosen epoch (median) | validation acc. | test acc. at chosen epoch "
        "| final train acc. | final test acc. | final gap | levelled off |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate, a in result["arms"].items():
        p = a["plateau"]
        lines.append(
            f"| {float(rate):g} | {a['lr']:g} | {np.median(a['best_epoch']):.0f} | "
            f"{_stats.pm(a['validation_accuracy_at_best'])} | "
            f"{_stats.pm(a['test_accuracy_at_best'])} | {_stats.pm(a['final_train_accuracy'])} | "
            f"{_stats.pm(a['final_test_accuracy'])} | {_stats.pm(a['final_gap'])} | "
            f"{p['n_converged']}/{p['n_runs']} |"
        )
    return lines


def _report_effects(result):
    """Each rate against no dropout: paired differences with their 95% intervals, in points."""
    lines = [
        "",
        "Against no dropout, paired over seeds, mean [95% interval] in accuracy points:",
        "",
        "| dropout | test acc. gain, chosen epoch | test acc. gain, final | gap narrowing, final "
        "| gap narrowing, chosen epoch |",
        "|---|---|---|---|---|",
    ]
    for rate, e in result["effects_against_no_dropout"].items():
        judged = " (judged)" if float(rate) == result["settings"]["judged_rate"] else ""
        lines.append(
            f"| {float(rate):g}{judged} | {_points(e['test_accuracy_at_best'])} | "
            f"{_points(e['final_test_accuracy'])} | {_points(e['final_gap_narrowing'])} | "
            f"{_points(e['gap_narrowing_at_best'])} |"
        )
    return lines


def _reasoning(result):
    """One or two sentences: the parts' verdicts from the intervals, and what the train accuracy
    says about how the gap moved."""
    s = result["settings"]
    judged = str(s["judged_rate"])
    e = result["effects_against_no_dropout"][judged]
    a, base = result["arms"][judged], result["arms"][str(s["rates"][0])]
    parts = result["parts"]
    if not (a["converged"] and base["converged"]):
        why = "some compared runs had not levelled off, so both parts are inconclusive."
    else:
        why = (
            f"the gap narrowing {_points(e['final_gap_narrowing'])} gives '{parts['gap narrows']}'"
            f", the test accuracy gain {_points(e['test_accuracy_at_best'])} gives "
            f"'{parts['test accuracy rises']}' (holds above 0, fails below "
            f"+{SMALLEST * 100:g} point)."
        )
    lines = ["", f"**Verdict: {result['verdict']}.** At p = {s['judged_rate']:g} " + why]
    low = min(base["final_train_accuracy"]["mean"], a["final_train_accuracy"]["mean"])
    if low >= 0.99:
        reached = "1.0" if low == 1.0 else f"at least {low:.2f}"
        lines[-1] += (
            f" Both arms end at train accuracy {reached}: dropout does not stop the network from "
            "memorising its training set here, so the gap narrows only as far as test accuracy "
            "rises."
        )
    return lines


def report(result):
    lines = [f"- {d}" for d in result["design"]]
    lines += _report_arms(result) + _report_effects(result) + _report_grid(result)
    lines += ["", f"Convergence: {result['plateau_rule']}."]
    return lines + _reasoning(result)


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
