"""The linear classifier y = A x refined from its error E = t - y (ΔA = E / x), and why a learning
rate is needed (ΔA = L (E / x)): the two-insect example of Tariq Rashid's "Make Your Own Neural
Network", then the same refinement on a few hundred noisy insects.

Each refinement is a stochastic gradient step on one example's loss ½ (t/x - A)²: its gradient in
A is -(t/x - A) = -E/x, so ΔA = L (E / x) = -L ∂/∂A ½ (t/x - A)². With L = 1 the step lands on
A = t/x, the last example's own slope; with L < 1 the slope is an exponentially weighted average
of the examples' slopes t/x over about the last 1/L of them. The training loss whose plateau is
checked is therefore J(A) = ½ mean_i (t_i/x_i - A)² over the insects of a data seed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats

CLAIM = (
    "Refining a linear classifier y = A x from each error with ΔA = E / x makes the line fit only "
    "the last example seen; moderating the update with a learning rate, ΔA = L (E / x), lets it "
    "settle between the classes and limits the effect of noisy examples."
)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "On the book's two insects, ΔA = E / x ends on the line through the last target whatever "
        "the start, while L = 0.5 ends between the two insects; on noisy insects, every L < 1 of "
        "the grid classifies better over the last updates of a pass than L = 1 (no learning "
        "rate) and moves the slope A less."
    ),
    rule=(
        "Three parts, combined: holds if all hold, partly if some hold and some fail, fails "
        "if none holds and some fail, else inconclusive. Book (exact): the book's "
        "slopes are reproduced to 5e-5, the final error on the last example is 0 (below 1e-6) and "
        "the final A is the same from a start of 1.0, and L = 0.5 classifies both insects "
        "correctly. Accuracy (effect): for each L < 1, the paired difference over data seeds of "
        "the mean accuracy over the last updates, L minus L = 1, with its 95% t interval: holds "
        "if it lies above 0, fails if it lies below 0.01 (one point of accuracy), else "
        "inconclusive. Steadiness (effect): the same for log10 of the variance of A over the "
        "last updates, L = 1 minus L: holds above 0, fails below log10 2 (less than a halving). "
        "An L whose runs (or L = 1's) have not all levelled off under the plateau rule is "
        "inconclusive. Each of these two parts combines its L < 1 the same way."
    ),
    kind="effect",
    source='T. Rashid, "Make Your Own Neural Network" (2016), part 1, the refined linear classifier',
)
PLATEAU = {"window": 0.2, "rtol": 0.01, "atol": 0.01}
QUICK = {
    "n_points": 400,
    "noise": 0.2,
    "data_seeds": 64,
    "last": 100,
    "lrs": [1.0, 0.5, 0.1, 0.01],
    "plateau": PLATEAU,
}
FULL = {**QUICK, "n_points": 1000, "data_seeds": 1024, "last": 200}

# the smallest effects that matter (the "fails" lines of the criterion)
SMALLEST_ACCURACY = 0.01
SMALLEST_LOG10_VAR = float(np.log10(2.0))

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


def _book_verdict(book) -> str:
    ok = (
        all(
            np.allclose(b["A_after_each_update"], b["book_values"], atol=5e-5)
            for b in book.values()
        )
        and abs(book["1.0"]["final_errors"][1]) < 1e-6  # the last example is fitted exactly...
        and book["1.0"]["final_A_from_start_1.0"] == book["1.0"]["A_after_each_update"][-1]
        and book["0.5"]["both_classified_correctly"]
    )
    return "holds" if ok else "fails"


def accuracy_curve(slopes, points, labels):
    """The accuracy of the line y = A x as a classifier of ``points`` (n, 2), x > 0, with
    ``labels`` (n,), for every slope in ``slopes`` (k,): (k,).

    A point is put in class 1 when it lies above the line, y > A x, that is when its own slope
    y/x exceeds A (x > 0), as ``fnnet.linear.classify`` does (up to rounding, for an A within a
    rounding unit of some point's y/x). So the accuracy at A counts the
    class-1 points with y/x > A and the class-0 points with y/x <= A: two sorted lists and a
    binary search per slope, O((n + k) log n) instead of the O(n k) of classifying every point
    for every slope."""
    ratio = points[:, 1] / points[:, 0]
    ones = jnp.sort(jnp.where(labels == 1, ratio, jnp.inf))  # the class-1 slopes, then padding
    zeros = jnp.sort(jnp.where(labels == 0, ratio, jnp.inf))
    n_ones = jnp.sum(labels == 1)
    right_ones = n_ones - jnp.searchsorted(ones, slopes, side="right")  # y/x > A
    right_zeros = jnp.searchsorted(zeros, slopes, side="right")  # y/x <= A (padding never)
    return (right_ones + right_zeros) / labels.shape[0]


def _noisy_one(key, lr, n_points, noise):
    """One data seed at one learning rate L: ``n_points`` noisy insects, the line refined one
    example at a time from A = 0.25. After every update: the slope A and the accuracy of the line
    as a classifier of the insects; and the mean and mean square of the examples' slopes t/x,
    from which :func:`_loss` computes the training loss after every update."""
    points, labels = fn.data.insects(key, n_points, noise)
    t = fn.linear.targets(points, labels)
    _, slope = fn.linear.fit(BOOK_A0, points[:, 0], t, lr=lr)
    ratio = t / points[:, 0]
    return {
        "slope": slope,
        "accuracy": accuracy_curve(slope, points, labels),
        "ratio_moments": jnp.stack([jnp.mean(ratio), jnp.mean(ratio**2)]),
        "points": points,
        "labels": labels,
    }


def _loss(runs) -> np.ndarray:
    """The training loss J(A) = ½ mean_i (t_i/x_i - A)² = ½ (m2 - 2 A m1 + A²) after every update,
    (L, seeds, updates), from the moments m1, m2 of the slopes t/x (in float64)."""
    A = runs["slope"].astype(np.float64)
    m1, m2 = (runs["ratio_moments"][..., k, None].astype(np.float64) for k in (0, 1))
    return 0.5 * (m2 - 2 * A * m1 + A**2)


def _noisy(settings):
    """Every learning rate L and data seed in one compiled program (vmapped over L, then seeds;
    the seeds' keys split from key 0, the same for every L): arrays (L, seeds, updates), the
    training loss among them; and data seed 0's insects, for the figure."""
    keys = jax.random.split(jax.random.key(0), settings["data_seeds"])
    lrs = jnp.asarray(settings["lrs"], jnp.float32)
    size = (settings["n_points"], settings["noise"])
    over_seeds = jax.vmap(lambda k, lr: _noisy_one(k, lr, *size), in_axes=(0, None))
    program = jax.jit(
        jax.vmap(over_seeds, in_axes=(None, 0)),
        compiler_options=fn.xla.compiler_options({"xla_backend_optimization_level": 1}),
    )
    runs = jax.tree.map(np.asarray, program(keys, lrs))
    example = {"points": runs.pop("points")[0, 0], "labels": runs.pop("labels")[0, 0]}
    runs["loss"] = _loss(runs)
    return runs, example


def _measures(runs, last: int) -> dict:
    """Per-seed measures of every run (arrays (L, seeds)) over the last ``last`` updates."""
    acc, slope = runs["accuracy"], runs["slope"]
    return {
        "final_accuracy": acc[..., -1],
        "mean_accuracy_last": acc[..., -last:].mean(-1),
        "min_accuracy_last": acc[..., -last:].min(-1),
        "var_A_last": slope[..., -last:].var(-1),
    }


def _compare(measures, plateau, lrs) -> dict:
    """Each L < 1 against L = 1 on the same data seeds: the paired differences with their 95%
    intervals and the verdict of each part (see CRITERION). ``plateau["converged"]`` is a bool
    array (L, seeds)."""
    base = lrs.index(1.0)
    log_var = np.log10(np.maximum(measures["var_A_last"], np.finfo(np.float64).tiny))
    out = {}
    for i, lr in enumerate(lrs):
        if i == base:
            continue
        converged = bool(plateau["converged"][i].all() and plateau["converged"][base].all())
        accuracy = _stats.paired_difference(
            measures["mean_accuracy_last"][i], measures["mean_accuracy_last"][base]
        )
        steadier = _stats.paired_difference(log_var[base], log_var[i])
        out[str(lr)] = {
            "accuracy_minus_L1": accuracy,
            "log10_var_L1_minus_L": steadier,
            "both_converged": converged,
            "accuracy_verdict": _stats.decide(
                accuracy["ci"], smallest=SMALLEST_ACCURACY, converged=converged
            ),
            "steadiness_verdict": _stats.decide(
                steadier["ci"], smallest=SMALLEST_LOG10_VAR, converged=converged
            ),
        }
    return out


def run(settings, out):
    lrs = [float(lr) for lr in settings["lrs"]]
    if 1.0 not in lrs or len(lrs) < 2 or min(lrs) <= 0:
        raise ValueError(f"lrs: expected L = 1.0 and at least one other L > 0, got {lrs}")
    if not 1 <= settings["last"] <= settings["n_points"]:
        raise ValueError(
            f"last: expected 1 <= last <= n_points = {settings['n_points']}, got {settings['last']}"
        )
    book = {"1.0": _book(1.0), "0.5": _book(0.5)}
    runs, example = _noisy(settings)
    measures = _measures(runs, settings["last"])
    record = _seeds.plateau_record(runs["loss"], **settings["plateau"])
    compared = _compare(measures, {"converged": np.asarray(record["converged"])}, lrs)
    table = {}
    for i, lr in enumerate(lrs):
        table[str(lr)] = {k: _stats.mean_std(v[i]) for k, v in measures.items()}
        table[str(lr)]["plateau"] = {
            "epoch": record["epoch"][i],
            "converged": record["converged"][i],
            "n_converged": int(np.sum(record["converged"][i])),
            "n_runs": len(record["converged"][i]),
        }
    parts = {
        "book": _book_verdict(book),
        "accuracy": _protocol.combine({k: c["accuracy_verdict"] for k, c in compared.items()}),
        "steadiness": _protocol.combine({k: c["steadiness_verdict"] for k, c in compared.items()}),
    }
    n, small = settings["data_seeds"], str(min(lrs))
    d = compared[small]["accuracy_minus_L1"]
    acc = {k: table[k]["mean_accuracy_last"]["mean"] for k in ("1.0", small)}
    return {
        "design": [
            f"The book's two insects, then {settings['n_points']} noisy insects (noise "
            f"{settings['noise']}) per data seed; the classifier is the line y = A x from "
            f"A = {BOOK_A0}, refined once per insect (one pass).",
            f"Arms: L in {lrs} (L = 1 is the update without a learning rate), each on the same "
            f"insects of the same {n} data seeds, {settings['n_points']} updates each.",
            "Nothing tuned (L is the factor studied); judged by each L < 1 minus L = 1, paired "
            f"over data seeds: the accuracy on the insects and the variance of A over the last "
            f"{settings['last']} updates.",
        ],
        "book": book,
        "noisy": table,
        "compared": compared,
        "plateau_rule": record["rule"],
        "parts": parts,
        "figures": [
            _book_figure(book, out),
            _noisy_figure(runs, measures, example, compared, settings, out),
        ],
        "headline": (
            f"accuracy over the last {settings['last']} updates, L = {small} minus no learning "
            f"rate (L = 1): {_stats.pm(d)} ({acc[small]:.3f} vs {acc['1.0']:.3f}; paired, "
            f"{n} data seeds)"
        ),
        "seeds": f"{n} data seeds, the same for every L (the two-insect example is deterministic)",
        "verdict": _protocol.combine(parts),
    }


def _book_figure(book, out):
    """The book's two insects, their targets and the lines after each refinement, without a
    learning rate (left) and with L = 0.5 (right); the legends sit below the panels."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 5.8), sharey=True)
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
    fig.suptitle("The book's two insects, A refined from 0.25 (deterministic: no seed)")
    return _plots.save_figure(fig, out, "linear_book.png")


def _per_seed(ax, values, names, colors, *, log=False):
    """Each data seed's value per L as dots (grey lines join one seed's values across L), with
    the mean over seeds and its 95% t interval in black (of log10 values where ``log``)."""
    pos = np.arange(len(names))
    ax.plot(pos, values, color="0.6", lw=0.4, alpha=0.4, zorder=1)
    for i in range(len(names)):
        ax.scatter(np.full(values.shape[1], pos[i]), values[i], s=8, color=colors[i], zorder=2)
        m = _stats.mean_interval(np.log10(values[i]) if log else values[i])
        mean, lo, hi = (10**v if log else v for v in (m["mean"], *m["ci"]))
        ax.errorbar(
            pos[i] + 0.2,
            mean,
            yerr=[[mean - lo], [hi - mean]],
            fmt="D",
            color="k",
            ms=5,
            capsize=4,
            zorder=3,
        )
    ax.set_xticks(pos, names)
    ax.set_xlim(-0.5, len(names) - 0.3)
    if log:
        ax.set_yscale("log")


def _noisy_figure(runs, measures, example, compared, settings, out):
    """Top, over the data seeds: the accuracy after every update (mean ± sd per L); each seed's
    mean accuracy over the last updates per L (the headline); each seed's variance of the slope A
    over the last updates per L. Bottom, data seed 0 alone, for illustration: its slope A after
    every update, and its insects with the final line of each L."""
    plt = _plots.pyplot()
    lrs = [float(lr) for lr in settings["lrs"]]
    n, last, seeds = settings["n_points"], settings["last"], settings["data_seeds"]
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(lrs)))
    names = [f"L = {lr:g}" + (" (none)" if lr == 1.0 else "") for lr in lrs]
    k = len(lrs)
    traces = [f"trace{i}" for i in range(k)]
    fig = plt.figure(figsize=(16, 10))
    grid = fig.add_gridspec(2, 3)
    axd = {name: fig.add_subplot(grid[0, j]) for j, name in enumerate(("acc", "head", "var"))}
    rows = grid[1, :2].subgridspec(k, 1, hspace=0.08)
    axd.update({t: fig.add_subplot(rows[i]) for i, t in enumerate(traces)})
    axd["insects"] = fig.add_subplot(grid[1, 2])
    x = np.arange(1, n + 1)
    top = float(runs["slope"][:, 0].max()) * 1.05
    for i in range(k):
        _plots.band(axd["acc"], x, runs["accuracy"][i], color=colors[i], lw=1, label=names[i])
        ax = axd[traces[i]]
        ax.plot(x, runs["slope"][i, 0], color=colors[i], lw=0.9)
        ax.axvspan(n - last + 0.5, n + 0.5, color="0.9", zorder=0)
        ax.text(0.005, 0.92, names[i], transform=ax.transAxes, va="top", fontsize=9)
        ax.set(xlim=(0, n + 1), ylim=(0, top))
        if i < k - 1:
            ax.tick_params(labelbottom=False)
    axd["acc"].axvspan(n - last + 0.5, n + 0.5, color="0.9", zorder=0)
    axd["acc"].set(xlim=(0, n + 1), xlabel=f"update (one insect each; shaded: the last {last})")
    axd[traces[-1]].set_xlabel(f"update (one insect each; shaded: the last {last})")
    axd[traces[k // 2]].set_ylabel("slope A")
    axd[traces[0]].set_title("Data seed 0 alone, for illustration: the slope A after each update")
    axd["acc"].set(ylim=(0.4, 1.01), ylabel="accuracy on the insects")
    axd["acc"].legend(fontsize=8, loc="lower right")
    axd["acc"].set_title(f"Accuracy after each update,\nmean ± sd over {seeds} data seeds")

    small = str(min(lrs))
    _per_seed(axd["head"], measures["mean_accuracy_last"], names, colors)
    axd["head"].set_ylabel(f"mean accuracy over the last {last} updates")
    axd["head"].set_title(
        f"Accuracy over the last {last} updates, per data seed\n"
        f"L = {small} minus L = 1: {_stats.pm(compared[small]['accuracy_minus_L1'])}"
    )
    _per_seed(axd["var"], measures["var_A_last"], names, colors, log=True)
    axd["var"].set_ylabel(f"variance of A over the last {last} updates")
    axd["var"].set_title("Variance of the slope A, per data seed\n(black: geometric mean, 95%)")

    P, labels = example["points"], example["labels"]
    a_ex = axd["insects"]
    a_ex.scatter(*P[labels == 0].T, s=6, color="C3", label="ladybirds")
    a_ex.scatter(*P[labels == 1].T, s=6, color="C2", label="caterpillars")
    xs = np.linspace(0, P[:, 0].max(), 2)
    for i, name in enumerate(names):
        A = runs["slope"][i, 0, -1]
        a_ex.plot(xs, A * xs, color=colors[i], label=f"{name}: A = {A:.2f}")
    a_ex.set(xlabel="width", ylabel="length", ylim=(0, P[:, 1].max() * 1.05))
    a_ex.set_title("Data seed 0: its insects and final lines")
    a_ex.legend(fontsize=8, loc="center right")
    fig.suptitle(
        f"{n} noisy insects per data seed (noise {settings['noise']}), one pass of updates; "
        f"each dot one of {seeds} data seeds, black: mean and 95% interval"
    )
    return _plots.save_figure(fig, out, "linear_noisy.png")


def _ratio(log10_difference: dict) -> str:
    """A paired difference of log10 values as the factor it means: ``10^mean [10^lo, 10^hi]``,
    rounded to its interval."""
    m, lo, hi = (10**v for v in (log10_difference["mean"], *log10_difference["ci"]))
    d = _stats.decimals((hi - lo) / 2)
    return f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def _noisy_lines(result) -> list[str]:
    """The noisy-insects tables (per L, then each L < 1 against L = 1) and the plateau record."""
    s, table = result["settings"], result["noisy"]
    lines = [
        f"Noisy insects ({s['n_points']} per data seed, noise {s['noise']}), mean ± sd over "
        f"{s['data_seeds']} data seeds: the accuracy of the line on the insects, and the "
        f"variance of A over the last {s['last']} updates:",
        "",
        "| L | final accuracy | mean accuracy, last updates | worst accuracy, last updates "
        "| var(A), last updates | runs levelled off |",
        "|---|---|---|---|---|---|",
    ]
    for lr, r in table.items():
        p = r["plateau"]
        lines.append(
            f"| {lr} | {_stats.pm(r['final_accuracy'])} | {_stats.pm(r['mean_accuracy_last'])} | "
            f"{_stats.pm(r['min_accuracy_last'])} | {_stats.pm(r['var_A_last'])} | "
            f"{p['n_converged']}/{p['n_runs']} |"
        )
    lines += [
        "",
        "Each L < 1 against L = 1 on the same data seeds (paired; mean and 95% t interval): the "
        "difference in mean accuracy over the last updates, and the factor by which the variance "
        "of A over them is smaller (geometric mean over seeds):",
        "",
        "| L | accuracy, L minus L = 1 | accuracy verdict | var(A) with L = 1 / var(A) with L "
        "| steadiness verdict |",
        "|---|---|---|---|---|",
    ]
    for lr, c in result["compared"].items():
        lines.append(
            f"| {lr} | {_stats.pm(c['accuracy_minus_L1'])} | {c['accuracy_verdict']} | "
            f"{_ratio(c['log10_var_L1_minus_L'])} | {c['steadiness_verdict']} |"
        )
    lines += [
        "",
        f"Convergence: the training loss J(A) = ½ mean (t/x - A)² after every update, plateau "
        f"rule: {result['plateau_rule']} (an epoch here is one update).",
    ]
    return lines


def _reasoning(result) -> str:
    parts = result["parts"]
    small = min(result["compared"], key=float)
    c = result["compared"][small]
    return (
        f"Verdict parts: book {parts['book']}, accuracy {parts['accuracy']}, steadiness "
        f"{parts['steadiness']}. Without a learning rate the slope is the last insect's own t/x, "
        f"so it jumps with every example; with L = {small} it averages about the last "
        f"{1 / float(small):.0f} insects: {_stats.pm(c['accuracy_minus_L1'])} more accuracy and "
        f"a variance of A {_ratio(c['log10_var_L1_minus_L'])} times smaller than with L = 1 "
        "(mean [95% interval], paired over data seeds)."
    )


def report(result):
    lines = [*(f"- {line}" for line in result["design"]), ""]
    lines += ["Two insects, A from 0.25 (the book's arithmetic, rounded, in brackets):", ""]
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
        "",
        _reasoning(result),
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
