"""The linear classifier y = A x refined from its error E = t - y (ΔA = E / x), and why a learning
rate is needed (ΔA = L (E / x)): the two-insect example of Tariq Rashid's "Make Your Own Neural
Network", then the same refinement on a few hundred noisy insects."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _stats

CLAIM = (
    "Refining a linear classifier y = A x from each error with ΔA = E / x makes the line fit only "
    "the last example seen; moderating the update with a learning rate, ΔA = L (E / x), lets it "
    "settle between the classes and limits the effect of noisy examples."
)
QUICK = {"n_points": 400, "noise": 0.2, "data_seeds": 64, "last": 100, "lrs": [1.0, 0.5, 0.1, 0.01]}
FULL = {
    "n_points": 1000,
    "noise": 0.2,
    "data_seeds": 1024,
    "last": 200,
    "lrs": [1.0, 0.5, 0.1, 0.01],
}

# the book's two examples: (width, length), class 0 = ladybird, class 1 = caterpillar
BOOK_POINTS = np.array([[3.0, 1.0], [1.0, 3.0]])
BOOK_LABELS = np.array([0, 1])
BOOK_TARGETS = np.array([1.1, 2.9])  # just above the ladybird, just below the caterpillar
BOOK_A0 = 0.25
BOOK_VALUES = {"1.0": [0.3667, 2.9], "0.5": [0.3083, 1.6042]}  # the book's arithmetic, rounded


def _book(lr):
    A, history = fn.linear.fit(BOOK_A0, BOOK_POINTS[:, 0], BOOK_TARGETS, lr=lr)
    history = np.asarray(history, np.float64)
    pred = np.asarray(fn.linear.classify(A, BOOK_POINTS))
    return {
        "A_after_each_update": history.tolist(),
        "book_values": BOOK_VALUES[str(lr)],
        # the signed error t - A x of each example under the final line
        "final_errors": (BOOK_TARGETS - float(A) * BOOK_POINTS[:, 0]).tolist(),
        "both_classified_correctly": bool(np.all(pred == BOOK_LABELS)),
        # the final slope from another start: without a learning rate it is t/x of the last example
        "final_A_from_start_1.0": float(
            fn.linear.fit(1.0, BOOK_POINTS[:, 0], BOOK_TARGETS, lr=lr)[0]
        ),
    }


_STATS = ("final_accuracy", "mean_accuracy_last", "min_accuracy_last", "var_A_last")


def _noisy_one(key, lr, n_points, noise, last):
    """One data seed at one learning rate L: ``n_points`` noisy insects, the line refined one
    example at a time from A = 0.25; its accuracy as a classifier after every update, the
    variance of the slope A over the ``last`` updates, and the insects themselves."""
    points, labels = fn.data.insects(key, n_points, noise)
    t = fn.linear.targets(points, labels)
    _, history = fn.linear.fit(BOOK_A0, points[:, 0], t, lr=lr)
    acc = jax.vmap(lambda a: jnp.mean(fn.linear.classify(a, points) == labels))(history)
    return {
        "final_accuracy": acc[-1],
        "mean_accuracy_last": jnp.mean(acc[-last:]),
        "min_accuracy_last": jnp.min(acc[-last:]),
        "var_A_last": jnp.var(history[-last:]),
        "history": history,
        "points": points,
        "labels": labels,
    }


def _noisy(settings):
    """The noisy-insects study: for every data seed and learning rate L, the classifier refined
    one example at a time; per L, the mean and sd over data seeds of its accuracy and of the
    variance of the slope A over the last updates (how much the last examples push the line
    around). One compiled program, vmapped over the seeds, called once per L (compiled at XLA's
    backend optimisation level 1, which halves its compile time here)."""
    keys = jax.random.split(jax.random.key(0), settings["data_seeds"])
    sizes = (settings["n_points"], settings["noise"], settings["last"])
    over_seeds = jax.jit(
        jax.vmap(lambda k, lr: _noisy_one(k, lr, *sizes), in_axes=(0, None)),
        compiler_options=fn.xla.compiler_options({"xla_backend_optimization_level": 1}),
    )
    table, histories = {}, []
    for lr in _harness.progress(settings["lrs"], desc="linear_classifier: L", unit="L"):
        out = jax.tree.map(np.asarray, over_seeds(keys, jnp.float32(lr)))
        table[str(lr)] = {k: _stats.mean_std(out[k]) for k in _STATS}
        histories.append(out["history"][0])
    example = {
        "points": out["points"][0],  # the insects of data seed 0 (the same for every L)
        "labels": out["labels"][0],
        "histories": np.stack(histories),
    }
    return table, example


def run(settings, out):
    book = {"1.0": _book(1.0), "0.5": _book(0.5)}
    table, example = _noisy(settings)
    book_ok = all(
        np.allclose(b["A_after_each_update"], b["book_values"], atol=5e-5) for b in book.values()
    )
    lrs = [str(lr) for lr in settings["lrs"]]
    variances = [table[k]["var_A_last"]["mean"] for k in lrs]
    first, last = table[lrs[0]]["mean_accuracy_last"], table[lrs[-1]]["mean_accuracy_last"]
    holds = (
        book_ok
        and abs(book["1.0"]["final_errors"][1]) < 1e-6  # the last example is fitted exactly...
        and book["1.0"]["final_A_from_start_1.0"] == book["1.0"]["A_after_each_update"][-1]
        and book["0.5"]["both_classified_correctly"]
        and all(a > b for a, b in zip(variances, variances[1:]))  # smaller L, steadier line
        and last["mean"] > first["mean"]
    )
    n = settings["data_seeds"]
    return {
        "book": book,
        "book_arithmetic_reproduced": book_ok,
        "noisy": table,
        "figures": [_book_figure(book, out), _noisy_figure(example, table, settings, out)],
        "headline": (
            f"accuracy over the last {settings['last']} updates: L = {lrs[-1]} "
            f"{last['mean']:.3f} ± {last['std']:.3f}, L = {lrs[0]} {first['mean']:.3f} ± "
            f"{first['std']:.3f} ({n} data seeds)"
        ),
        "seeds": f"{n} data seeds (the two-insect example is deterministic)",
        "verdict": "holds" if holds else "fails",
    }


def _book_figure(book, out):
    """The book's two insects, their targets and the lines after each refinement, without a
    learning rate (left) and with L = 0.5 (right); the legends sit below the panels."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 5.2), sharey=True)
    xs = np.linspace(0, 4, 2)
    for ax, lr in zip(axes, ("1.0", "0.5")):
        ax.scatter(
            *BOOK_POINTS[0], marker="o", s=80, color="C3", zorder=3, label="ladybird (3.0, 1.0)"
        )
        ax.scatter(
            *BOOK_POINTS[1], marker="s", s=80, color="C2", zorder=3, label="caterpillar (1.0, 3.0)"
        )
        ax.scatter(
            BOOK_POINTS[:, 0],
            BOOK_TARGETS,
            marker="x",
            color="k",
            zorder=4,
            label="targets t = 1.1 and 2.9",
        )
        ax.plot(xs, BOOK_A0 * xs, "k:", label=f"start A = {BOOK_A0}")
        for i, A in enumerate(book[lr]["A_after_each_update"]):
            ax.plot(xs, A * xs, color=f"C{i}", label=f"after example {i + 1}: A = {A:.4f}")
        title = "no learning rate: ΔA = E / x" if lr == "1.0" else f"L = {lr}: ΔA = L (E / x)"
        ax.set(title=title, xlabel="width x", xlim=(0, 4), ylim=(0, 4), aspect="equal")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    axes[0].set_ylabel("length y")
    return _plots.save_figure(fig, out, "linear_book.png")


def _noisy_figure(example, table, settings, out):
    """Left, one small panel per learning rate L: the slope A after every update for data seed
    0, with the variance over the last updates (mean ± sd over the data seeds); right, that
    seed's insects and the final lines."""
    plt = _plots.pyplot()
    lrs = settings["lrs"]
    fig, axd = plt.subplot_mosaic(
        [[i, "insects"] for i in range(len(lrs))], figsize=(12, 5.4), width_ratios=[1.1, 1]
    )
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(lrs)))
    top = max(float(h.max()) for h in example["histories"]) * 1.05
    last = settings["last"]
    n = len(example["histories"][0])
    for i, lr in enumerate(lrs):
        ax = axd[i]
        ax.plot(np.arange(1, n + 1), example["histories"][i], color=colors[i], lw=0.9)
        ax.axvspan(n - last + 0.5, n + 0.5, color="0.92", zorder=0)
        v = table[str(lr)]["var_A_last"]
        ax.text(
            0.01,
            0.93,
            f"L = {lr}: var(A) over the last {last} updates {v['mean']:.3g} ± {v['std']:.2g}",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )
        ax.set(xlim=(0, n + 1), ylim=(0, top))
        if i < len(lrs) - 1:
            ax.tick_params(labelbottom=False)
        if i == len(lrs) // 2:
            ax.set_ylabel("slope A (seed 0)")
    ax.set_xlabel(f"update (one example each; shaded: the last {last})")
    a2 = axd["insects"]
    P, labels = example["points"], example["labels"]
    a2.scatter(*P[labels == 0].T, s=6, color="C3", label="ladybirds")
    a2.scatter(*P[labels == 1].T, s=6, color="C2", label="caterpillars")
    xs = np.linspace(0, P[:, 0].max(), 2)
    for i, lr in enumerate(lrs):
        A = example["histories"][i][-1]
        a2.plot(xs, A * xs, color=colors[i], label=f"final line, L = {lr}: A = {A:.2f}")
    a2.set(xlabel="width", ylabel="length", ylim=(0, P[:, 1].max() * 1.05))
    a2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(
        f"{settings['n_points']} noisy insects (noise {settings['noise']}), data seed 0 of "
        f"{settings['data_seeds']}: smaller L, steadier slope"
    )
    return _plots.save_figure(fig, out, "linear_noisy.png")


def _pm(stat, digits: int = 3) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _noisy_lines(result) -> list[str]:
    """The noisy-insects table (mean ± sd over data seeds) and the sentence drawn from it."""
    s, table = result["settings"], result["noisy"]
    lrs = list(table)
    first, last = table[lrs[0]], table[lrs[-1]]
    lines = [
        f"Noisy insects ({s['n_points']} per data seed, noise {s['noise']}), mean ± sd over "
        f"{s['data_seeds']} data seeds: the accuracy of the line as a classifier, and the "
        f"variance of A over the last {s['last']} updates:",
        "",
        "| L | final accuracy | mean accuracy, last updates | worst accuracy, last updates "
        "| var(A), last updates |",
        "|---|---|---|---|---|",
    ]
    for lr, r in table.items():
        lines.append(
            f"| {lr} | {_pm(r['final_accuracy'])} | {_pm(r['mean_accuracy_last'])} | "
            f"{_pm(r['min_accuracy_last'])} | {r['var_A_last']['mean']:.3g} ± "
            f"{r['var_A_last']['std']:.2g} |"
        )
    lines += [
        "",
        f"From L = {lrs[0]} to L = {lrs[-1]} the variance of A over the last updates falls from "
        f"{first['var_A_last']['mean']:.3g} to {last['var_A_last']['mean']:.3g} and the mean "
        f"accuracy over them rises from {first['mean_accuracy_last']['mean']:.3f} to "
        f"{last['mean_accuracy_last']['mean']:.3f}.",
    ]
    return lines


def report(result):
    lines = ["Two insects, A from 0.25 (the book's arithmetic, rounded, in brackets):", ""]
    for lr, b in result["book"].items():
        got = ", ".join(f"{a:.4f}" for a in b["A_after_each_update"])
        ref = ", ".join(f"{a}" for a in b["book_values"])
        name = "no learning rate" if lr == "1.0" else f"L = {lr}"
        lines.append(
            f"- {name}: A = {got} [{ref}]; final errors t - y: ladybird "
            f"{b['final_errors'][0]:+.4f}, caterpillar {b['final_errors'][1]:+.4f}; "
            f"final A from a start of 1.0 instead: {b['final_A_from_start_1.0']:.4f}."
        )
    lines += [
        "",
        "Without a learning rate the final line passes exactly through the last target (error 0) "
        "whatever came before: the ladybird's update is forgotten. With L = 0.5 the line lies "
        "between the two targets.",
        "",
        *_noisy_lines(result),
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
