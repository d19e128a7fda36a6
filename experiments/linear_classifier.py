"""The linear classifier y = A x refined from its error E = t - y (ΔA = E / x), and why a learning
rate is needed (ΔA = L (E / x)): the two-insect example of Tariq Rashid's "Make Your Own Neural
Network", then the same refinement on a few hundred noisy insects."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness

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


def _noisy(settings):
    """The noisy-insects study: for every data seed and learning rate L, the classifier refined
    one example at a time (vmapped over both); per L, its accuracy and the variance of the slope A
    over the last updates, the measure of how much the last examples push the line around."""
    lrs = jnp.asarray(settings["lrs"])
    keys = jax.random.split(jax.random.key(0), settings["data_seeds"])
    last = settings["last"]

    def one(key, lr):
        points, labels = fn.data.insects(key, settings["n_points"], settings["noise"])
        t = fn.linear.targets(points, labels)
        A, history = fn.linear.fit(BOOK_A0, points[:, 0], t, lr=lr)
        acc = jax.vmap(lambda a: jnp.mean(fn.linear.classify(a, points) == labels))(history)
        return {
            "final_accuracy": acc[-1],
            "mean_accuracy_last": jnp.mean(acc[-last:]),
            "min_accuracy_last": jnp.min(acc[-last:]),
            "var_A_last": jnp.var(history[-last:]),
            "history": history,
        }

    over_seeds = jax.vmap(one, in_axes=(0, None))
    out = jax.jit(jax.vmap(over_seeds, in_axes=(None, 0)))(keys, lrs)  # (lrs, seeds, ...)
    out = jax.tree.map(np.asarray, out)
    table = {
        str(lr): {
            k: float(out[k][i].mean())
            for k in ("final_accuracy", "mean_accuracy_last", "min_accuracy_last", "var_A_last")
        }
        for i, lr in enumerate(settings["lrs"])
    }
    points, labels = fn.data.insects(keys[0], settings["n_points"], settings["noise"])
    example = {
        "points": np.asarray(points),
        "labels": np.asarray(labels),
        "histories": out["history"][:, 0],
    }
    return table, example


def run(settings, out):
    book = {"1.0": _book(1.0), "0.5": _book(0.5)}
    table, example = _noisy(settings)
    book_ok = all(
        np.allclose(b["A_after_each_update"], b["book_values"], atol=5e-5) for b in book.values()
    )
    lrs = [str(lr) for lr in settings["lrs"]]
    variances = [table[k]["var_A_last"] for k in lrs]
    holds = (
        book_ok
        and abs(book["1.0"]["final_errors"][1]) < 1e-6  # the last example is fitted exactly...
        and book["1.0"]["final_A_from_start_1.0"] == book["1.0"]["A_after_each_update"][-1]
        and book["0.5"]["both_classified_correctly"]
        and all(a > b for a, b in zip(variances, variances[1:]))  # smaller L, steadier line
        and table[lrs[-1]]["mean_accuracy_last"] > table[lrs[0]]["mean_accuracy_last"]
    )
    return {
        "book": book,
        "book_arithmetic_reproduced": book_ok,
        "noisy": table,
        "figures": [_book_figure(book, out), _noisy_figure(example, settings, out)],
        "verdict": "holds" if holds else "fails",
    }


def _book_figure(book, out):
    """The book's two insects, their targets and the lines after each refinement, without a
    learning rate (left) and with L = 0.5 (right)."""
    plt = _harness.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    xs = np.linspace(0, 4, 2)
    for ax, lr in zip(axes, ("1.0", "0.5")):
        ax.scatter(
            *BOOK_POINTS[0], marker="o", s=80, color="C3", zorder=3, label="ladybird (3.0, 1.0)"
        )
        ax.scatter(
            *BOOK_POINTS[1], marker="s", s=80, color="C2", zorder=3, label="caterpillar (1.0, 3.0)"
        )
        ax.scatter(
            BOOK_POINTS[:, 0], BOOK_TARGETS, marker="x", color="k", zorder=4, label="targets t"
        )
        ax.plot(xs, BOOK_A0 * xs, "k:", label=f"start A = {BOOK_A0}")
        for i, A in enumerate(book[lr]["A_after_each_update"]):
            ax.plot(xs, A * xs, color=f"C{i}", label=f"after example {i + 1}: A = {A:.4f}")
        title = "no learning rate: ΔA = E / x" if lr == "1.0" else f"L = {lr}: ΔA = L (E / x)"
        ax.set(title=title, xlabel="width x", xlim=(0, 4), ylim=(0, 4))
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("length y")
    return _harness.save_figure(fig, out, "linear_book.png")


def _noisy_figure(example, settings, out):
    plt = _harness.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(settings["lrs"])))
    for i, lr in enumerate(settings["lrs"]):
        a1.plot(example["histories"][i], color=colors[i], lw=0.8, label=f"L = {lr}")
    a1.set(xlabel="update (one example each)", ylabel="slope A", yscale="log")
    a1.legend(fontsize=8)
    P, labels = example["points"], example["labels"]
    a2.scatter(*P[labels == 0].T, s=6, color="C3", label="ladybirds")
    a2.scatter(*P[labels == 1].T, s=6, color="C2", label="caterpillars")
    xs = np.linspace(0, P[:, 0].max(), 2)
    for i, lr in enumerate(settings["lrs"]):
        a2.plot(
            xs, example["histories"][i][-1] * xs, color=colors[i], label=f"final line, L = {lr}"
        )
    a2.set(xlabel="width", ylabel="length", ylim=(0, P[:, 1].max() * 1.05))
    a2.legend(fontsize=7)
    fig.suptitle(f"{settings['n_points']} noisy insects (noise {settings['noise']}), one data seed")
    return _harness.save_figure(fig, out, "linear_noisy.png")


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
        "Noisy insects, means over data seeds (accuracy of the line as a classifier; the variance "
        "of A over the last updates):",
        "",
        "| L | final accuracy | mean accuracy, last updates | worst, last updates | var(A), last updates |",
        "|---|---|---|---|---|",
    ]
    for lr, r in result["noisy"].items():
        lines.append(
            f"| {lr} | {r['final_accuracy']:.4f} | {r['mean_accuracy_last']:.4f} | "
            f"{r['min_accuracy_last']:.4f} | {r['var_A_last']:.3g} |"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
