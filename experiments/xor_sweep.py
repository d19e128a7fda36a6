"""How often, and how fast, backprop solves XOR with a 2-2-1 sigmoid network, against the initial
weight range and the optimizer: thousands of seeds per cell with ``fnnet.sweep``.

Rumelhart, Hinton and Williams (1986) reported that the network rarely got stuck; Kolen and Pollack
(1990, "Back propagation is sensitive to initial conditions") showed how strongly the outcome
depends on the initial weights; Hamey (1998) proved that the 2-2-1 XOR error surface has no strict
local minima, so the failures are plateaus and very slow regions rather than traps.

Every cell trains the same seeds (``fnnet.sweep``'s keys) for the same number of full-batch
gradient steps. "How often" is the fraction of seeds solved within that budget; where that fraction
is still rising at the end of the budget (the plateau rule on the fraction of seeds not yet solved
after each epoch), a longer budget would raise it, and the cell cannot show that a factor leaves
it unchanged. "How fast" is the median number of epochs to solve among the seeds that solved.
"""

from __future__ import annotations

import hashlib
import json
import os

import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats, _xor

CLAIM = (
    "Backprop solves XOR with a 2-2-1 sigmoid network from most small random initial weights, but "
    "how often and how fast depends strongly on the initial weight range and on the optimizer."
)
STRONG_POINTS = 0.20  # a strong change of the solved fraction: 20 percentage points
STRONG_FACTOR = 2.0  # a strong change of speed: twice the median epochs to solve
CLASSIC = (0.5, 0)  # the classic cell: init ±0.5, OPTIMIZERS[0] (Rumelhart et al.'s set-up)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "With SGD lr 0.5 + momentum 0.9 from weights in ±0.5, more than half of the seeds solve "
        "XOR; and changing the initial range alone, or the optimizer alone, changes the solved "
        "fraction by 20 points or more and the median epochs to solve by a factor 2 or more."
    ),
    rule=(
        "Five parts, combined: holds if all hold, partly if some hold and some fail, fails if "
        "none holds and some fail, else inconclusive. Most starts (threshold): the "
        "classic cell's 95% Wilson interval lies above 1/2 (holds) or below it in a cell that has "
        "levelled off (fails), else inconclusive. For each factor (range, optimizer) and each "
        "measure (how often, how fast), at each level of the other factor: how often is strong "
        "where the best and worst cells that have levelled off differ by at least 20 points with "
        "disjoint Wilson intervals, and not strong where every cell has levelled off and even "
        "the far ends of their intervals differ by less; how fast is strong where the slowest "
        "and fastest median epochs (over solved seeds) differ by a factor 2 or more with "
        "disjoint 95% intervals, not strong where even the far ends of the intervals differ by "
        "less; else the level is undecided. A part holds if strong at every level, fails if not "
        "strong at every level, is partly if strong at some levels and not at others, and is "
        "inconclusive if it is strong at none and some level is undecided."
    ),
    kind="comparison",
    source=(
        "Rumelhart, Hinton and Williams 1986 (the set-up, and 'rarely stuck'); Kolen and Pollack "
        "1990 (sensitivity to the initial weights). The 20-point and factor-2 lines are this "
        "study's reading of 'strongly'"
    ),
)
OPTIMIZERS = (  # name, learning rate, momentum: full-batch gradient descent (optax.sgd)
    ("SGD lr 0.5, momentum 0.9", 0.5, 0.9),
    ("plain SGD lr 0.5 (no momentum)", 0.5, 0.0),
    ("plain SGD lr 2 (no momentum)", 2.0, 0.0),
)
QUICK = {
    "seeds": 1024,
    "epochs": 10_000,
    "ranges": [0.1, 0.5, 1.0, 2.0, 4.0, 8.0],
    "tol": 0.4,
    "chunk_size": None,
    "plateau": {"window": 0.2, "rtol": 0.01, "atol": 0.01},
}
FULL = {**QUICK, "seeds": 16_384}


def make_train_one(settings):
    """``train_one(key, scale, optimizer)`` for ``fnnet.sweep``: one XOR run of
    :func:`experiments._xor.train` from weights uniform in ±scale, with optimizer number
    ``optimizer`` of OPTIMIZERS (both traced); returns the epoch solved and the final loss."""
    lrs = jnp.asarray([o[1] for o in OPTIMIZERS], jnp.float32)
    momenta = jnp.asarray([o[2] for o in OPTIMIZERS], jnp.float32)

    def train_one(key, scale, optimizer):
        r = _xor.train(
            key,
            lr=lrs[optimizer],
            momentum=momenta[optimizer],
            scale=scale,
            epochs=settings["epochs"],
            tol=settings["tol"],
        )
        return {"epoch_solved": r["epoch_solved"], "loss": r["loss"]}

    return train_one


def _sweep(settings, out):
    """The sweep over (initial range, optimizer) cells with ``fnnet.sweep``; its finished chunks
    are kept under ``out``, so that a rerun with these settings (and this fnnet, whose sweep
    folders an older one may not read) resumes from them."""
    grid = {
        "scale": np.asarray(settings["ranges"], np.float32),
        "optimizer": np.arange(len(OPTIMIZERS), dtype=np.int32),
    }
    keep = ("seeds", "epochs", "ranges", "tol", "chunk_size")  # what the sweep's runs depend on
    ident = json.dumps(
        {"settings": {k: settings[k] for k in keep}, "fnnet": fn.__version__}, sort_keys=True
    )
    tag = hashlib.sha1(ident.encode()).hexdigest()[:10]
    return fn.sweep.run(
        make_train_one(settings),
        settings["seeds"],
        grid=grid,
        chunk_size=settings["chunk_size"],
        out=os.path.join(out, f"sweep-{tag}"),
        name=f"xor_sweep epochs={settings['epochs']} tol={settings['tol']}",
    )


def _cell(e, diverged, epochs: int, rule: dict) -> dict:
    """One cell's summary from its seeds' first solved epochs ``e`` (-1: never)."""
    solved = e[e > 0]
    plateau = _seeds.plateau_record(_xor.unsolved_curve(e, epochs), **rule)
    if solved.size:
        p25, median, p75 = np.percentile(solved, [25, 50, 75], method="nearest").tolist()
    else:
        p25 = median = p75 = None
    return {
        "plateau_rule": plateau["rule"],
        "solved": int(solved.size),
        "of": int(e.size),
        "solved_fraction": float(solved.size / e.size),
        "wilson95": list(_stats.wilson(int(solved.size), e.size)),
        "levelled": bool(plateau["converged"]),
        "levelled_by_epoch": int(plateau["epoch"]),
        "epochs_p25": p25,
        "epochs_median": median,
        "epochs_median95": _stats.median_interval(solved),
        "epochs_p75": p75,
        "diverged": int(diverged.sum()),
    }


def _cells(settings, results) -> tuple[list[dict], str]:
    """One summary per cell, ranges outer and optimizers inner: the solved fraction with its 95%
    Wilson interval and whether it has levelled off by the end of the budget, the 25th
    percentile, median (with its 95% interval) and 75th percentile of the epochs to solve over
    the solved seeds, and how many seeds diverged; and the plateau rule's text."""
    e = results.values["epoch_solved"]  # (ranges, optimizers, seeds)
    cells = []
    for i, rho in enumerate(settings["ranges"]):
        for j, (name, lr, mom) in enumerate(OPTIMIZERS):
            cell = _cell(e[i, j], results.diverged[i, j], settings["epochs"], settings["plateau"])
            rule = cell.pop("plateau_rule")
            cells.append({"range": rho, "optimizer": name, "lr": lr, "momentum": mom, **cell})
    return cells, rule


def _often(cells, label) -> dict:
    """Whether the solved fraction changes strongly across ``cells`` (one level of the other
    factor): "strong", "not strong" or "undecided" (see CRITERION), with the two cells compared
    (named by ``label(cell)``)."""
    levelled = [c for c in cells if c["levelled"]]
    if len(levelled) < 2:
        return {"call": "undecided", "why": "fewer than two cells levelled off"}
    best = max(levelled, key=lambda c: c["solved_fraction"])
    worst = min(levelled, key=lambda c: c["solved_fraction"])
    out = {"best": label(best), "worst": label(worst)}
    out["difference"] = best["solved_fraction"] - worst["solved_fraction"]
    if out["difference"] >= STRONG_POINTS and best["wilson95"][0] > worst["wilson95"][1]:
        return out | {"call": "strong"}
    if len(levelled) == len(cells) and best["wilson95"][1] - worst["wilson95"][0] < STRONG_POINTS:
        return out | {"call": "not strong"}
    rising = len(cells) - len(levelled)
    cells_rising = "1 cell" if rising == 1 else f"{rising} cells"
    why = f"{cells_rising} still rising at the budget" if rising else "intervals too wide"
    return out | {"call": "undecided", "why": why}


def _fast(cells, label) -> dict:
    """Whether the median epochs to solve change strongly across ``cells``: "strong", "not
    strong" or "undecided" (see CRITERION), with the two cells compared (named by
    ``label(cell)``)."""
    timed = [c for c in cells if c["epochs_median"] is not None]
    if len(timed) < 2:
        return {"call": "undecided", "why": "fewer than two cells with a solved seed"}
    slow = max(timed, key=lambda c: c["epochs_median"])
    fast = min(timed, key=lambda c: c["epochs_median"])
    out = {"slowest": label(slow), "fastest": label(fast)}
    out["factor"] = slow["epochs_median"] / fast["epochs_median"]
    (fast_lo, fast_hi), (slow_lo, slow_hi) = fast["epochs_median95"], slow["epochs_median95"]
    if out["factor"] >= STRONG_FACTOR and slow_lo > fast_hi:
        return out | {"call": "strong"}
    if len(timed) == len(cells) and slow_hi < STRONG_FACTOR * fast_lo:
        return out | {"call": "not strong"}
    return out | {"call": "undecided", "why": "intervals too wide"}


def _range(cell) -> str:
    return f"init ±{cell['range']:g}"


def _name(cell) -> str:
    return f"{_range(cell)}, {_short(cell)}"


def _part(calls) -> str:
    """A factor's verdict from its calls at each level of the other factor (see CRITERION)."""
    if all(c == "strong" for c in calls):
        return "holds"
    if all(c == "not strong" for c in calls):
        return "fails"
    if any(c == "strong" for c in calls):
        return "partly"
    return "inconclusive"


def _effects(settings, cells) -> dict:
    """Per factor and measure: the call at each level of the other factor and the part's
    verdict."""
    k = len(OPTIMIZERS)
    by_range = [cells[i * k : (i + 1) * k] for i in range(len(settings["ranges"]))]
    by_optimizer = [cells[j::k] for j in range(k)]
    out = {}
    for factor, groups, levels, label in (
        ("initial range", by_optimizer, [_short(g[0]) for g in by_optimizer], _range),
        ("optimizer", by_range, [_range(g[0]) for g in by_range], _short),
    ):
        for measure, judge in (("how often", _often), ("how fast", _fast)):
            at = {level: judge(g, label) for level, g in zip(levels, groups)}
            out[f"{measure}: {factor}"] = {
                "at": at,
                "verdict": _part([a["call"] for a in at.values()]),
            }
    return out


def _most(cells) -> str:
    """The classic cell against one half (see CRITERION)."""
    c = _classic(cells)
    lo, hi = c["wilson95"]
    return "holds" if lo > 0.5 else "fails" if hi < 0.5 and c["levelled"] else "inconclusive"


def _classic(cells) -> dict:
    rho, j = CLASSIC
    return next(c for c in cells if c["range"] == rho and c["optimizer"] == OPTIMIZERS[j][0])


def run(settings, out):
    if CLASSIC[0] not in settings["ranges"]:
        raise ValueError(
            f"ranges: expected the classic range {CLASSIC[0]} among them, got {settings['ranges']}"
        )
    results = _sweep(settings, out)
    e = results.values["epoch_solved"]  # (ranges, optimizers, seeds)
    cells, rule = _cells(settings, results)
    effects = _effects(settings, cells)
    parts = {"most starts": _most(cells), **{k: v["verdict"] for k, v in effects.items()}}
    n = settings["seeds"]
    return {
        "design": [
            "XOR's four points; a 2-2-1 sigmoid network, half_sse loss, full-batch gradient "
            "descent; solved when every output is within "
            f"{settings['tol']} of its target.",
            f"Cells: initial range (weights and biases uniform in ±ρ, ρ in {settings['ranges']}) "
            f"× {len(OPTIMIZERS)} optimizers, each on the same {n} seeds for "
            f"{settings['epochs']} epochs (one gradient step each).",
            "Nothing tuned (the cells are the factors studied); judged by the solved fraction's "
            "Wilson interval and the median epochs to solve, compared across one factor at each "
            "level of the other.",
        ],
        "cells": cells,
        "plateau_rule": rule,
        "effects": effects,
        "parts": parts,
        "seeds_per_cell": n,
        "figures": [
            _heatmap(cells, settings, out),
            _curves(e, cells, settings, out),
            _epochs_figure(cells, settings, out),
        ],
        "headline": _headline(cells, settings),
        "seeds": f"{n} seeds per cell, the same seeds in every cell ({len(cells)} cells)",
        "verdict": _protocol.combine(parts),
    }


def _short(cell) -> str:
    """An optimizer's short name: "SGD lr 0.5 + momentum 0.9" or "plain SGD lr 2"."""
    if cell["momentum"]:
        return f"SGD lr {cell['lr']:g} + momentum {cell['momentum']:g}"
    return f"plain SGD lr {cell['lr']:g}"


def _percent(cell, brackets: bool = True) -> str:
    """A cell's solved fraction as a percentage with its Wilson interval, rounded to its width."""
    lo, hi = (100 * v for v in cell["wilson95"])
    d = _stats.decimals((hi - lo) / 2)
    text = f"{100 * cell['solved_fraction']:.{d}f}%"
    return f"{text} [{lo:.{d}f}, {hi:.{d}f}]" if brackets else text


def _headline(cells, settings) -> str:
    """The classic optimizer's best and worst range, and the optimizers' speeds at the classic
    range."""
    k = len(OPTIMIZERS)
    classic = [c for c in cells[CLASSIC[1] :: k] if c["levelled"]] or cells[CLASSIC[1] :: k]
    best = max(classic, key=lambda c: c["solved_fraction"])
    worst = min(classic, key=lambda c: c["solved_fraction"])
    at = [c for c in cells if c["range"] == CLASSIC[0] and c["epochs_median"] is not None]
    fast = min(at, key=lambda c: c["epochs_median"])
    slow = max(at, key=lambda c: c["epochs_median"])
    return (
        f"SGD + momentum solves {_percent(best)} of seeds at init ±{best['range']:g}, "
        f"{_percent(worst)} at ±{worst['range']:g}; at ±{CLASSIC[0]:g} the optimizers take "
        f"{fast['epochs_median']:.0f}-{slow['epochs_median']:.0f} median epochs; "
        f"{settings['seeds']} seeds/cell"
    )


def _heatmap(cells, settings, out):
    """The fraction of seeds solved per (initial range, optimizer) cell as a heat map, each cell
    labelled with its percentage and Wilson interval; cells still rising at the budget marked."""
    plt = _plots.pyplot()
    k = len(OPTIMIZERS)
    frac = np.array([c["solved_fraction"] for c in cells]).reshape(-1, k)
    fig, ax = plt.subplots(figsize=(8, 5.6))
    im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    labels = [o[0].replace(", ", ",\n").replace(" (", "\n(") for o in OPTIMIZERS]
    ax.set_xticks(range(k), labels, fontsize=8)
    ax.set_yticks(range(len(settings["ranges"])), [f"±{r:g}" for r in settings["ranges"]])
    for idx, c in enumerate(cells):
        i, j = divmod(idx, k)
        rising = "" if c["levelled"] else "\nstill rising"
        ax.text(
            j,
            i,
            f"{_percent(c, brackets=False)}\n[{_percent(c).split('[')[1]}{rising}",
            ha="center",
            va="center",
            color="w" if frac[i, j] < 0.6 else "k",
            fontsize=8,
        )
    ax.set(
        xlabel="optimizer (full-batch gradient descent)",
        ylabel="initial range ρ (weights and biases uniform in ±ρ)",
    )
    ax.set_title(
        f"2-2-1 sigmoid net on XOR: fraction solved within {settings['epochs']} epochs\n"
        f"[95% Wilson interval], {settings['seeds']} seeds per cell (the same in every cell)",
        fontsize=10,
    )
    fig.colorbar(im, ax=ax, label="fraction solved")
    return _plots.save_figure(fig, out, "xor_sweep_solved.png")


def _curves(e, cells, settings, out):
    """The fraction of seeds solved by each epoch, one panel per optimizer, one line per initial
    range; the last part of the budget, where the plateau rule asks the fraction to be level,
    shaded, and the cells still rising there dashed."""
    plt = _plots.pyplot()
    k = len(OPTIMIZERS)
    epochs = settings["epochs"]
    fig, axes = plt.subplots(1, k, figsize=(5 * k + 1.5, 4.4), sharey=True)
    x = np.arange(1, epochs + 1)
    window = settings["plateau"]["window"]
    for j, (ax, (name, _, _)) in enumerate(zip(axes, OPTIMIZERS)):
        for i in range(len(settings["ranges"])):
            c = cells[i * k + j]
            ax.plot(
                x,
                1 - _xor.unsolved_curve(e[i, j], epochs),
                color=f"C{i % 10}",
                ls="-" if c["levelled"] else "--",
                lw=1.5,
            )
        ax.axvspan(epochs * (1 - window), epochs, color="0.9", zorder=0)
        ax.set(xlim=(0, epochs), ylim=(0, 1), xlabel="epoch", title=name)
    axes[0].set_ylabel("fraction of seeds solved")
    handles = [
        plt.Line2D([], [], color=f"C{i % 10}", lw=1.5, label=f"±{rho:g}")
        for i, rho in enumerate(settings["ranges"])
    ]
    handles.append(
        plt.Line2D([], [], color="k", ls="--", lw=1.5, label="still rising\nat the budget")
    )
    axes[-1].legend(
        handles=handles,
        title="initial range",
        loc="upper left",
        bbox_to_anchor=(1.03, 1.0),
        fontsize=9,
        title_fontsize=9,
    )
    fig.suptitle(
        f"Solved by each epoch, {settings['seeds']} seeds per cell (shaded: the last "
        f"{window:.0%} of the budget, where a levelled-off fraction stays level)",
        fontsize=11,
    )
    return _plots.save_figure(fig, out, "xor_sweep_curves.png")


def _epochs_figure(cells, settings, out):
    """Epochs to solve over the solved seeds of every cell: the median, with the 25th and 75th
    percentiles as a bar, against the initial range, one series per optimizer (offset sideways
    so that none hides another; open markers where the solved fraction is still rising at the
    budget, so that the median is over the early solvers only); the axes span the data."""
    plt = _plots.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    k = len(OPTIMIZERS)
    spans = []
    for j, (name, _, _) in enumerate(OPTIMIZERS):
        timed = [c for c in cells[j::k] if c["epochs_median"] is not None]
        q = np.array(
            [(c["range"], c["epochs_p25"], c["epochs_median"], c["epochs_p75"]) for c in timed],
            float,
        ).reshape(-1, 4)
        spans.append(q)
        marker = ("o", "s", "^")[j % 3]
        x = q[:, 0] * 1.12 ** (j - 1)
        ax.errorbar(
            x,
            q[:, 2],
            yerr=[q[:, 2] - q[:, 1], q[:, 3] - q[:, 2]],
            fmt=marker + "-",
            color=f"C{j}",
            capsize=3,
            ms=6,
            lw=1,
            label=name,
        )
        rising = np.array([not c["levelled"] for c in timed], bool)
        ax.plot(
            x[rising],
            q[rising, 2],
            ls="none",
            marker=marker,
            ms=6,
            markerfacecolor="white",
            markeredgecolor=f"C{j}",
            zorder=4,
        )
    ax.plot(
        [],
        [],
        ls="none",
        marker="o",
        markerfacecolor="white",
        markeredgecolor="0.3",
        label="open marker: solved fraction still rising",
    )
    ranges = np.asarray(settings["ranges"], float)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ranges, [f"±{r:g}" for r in ranges])
    low = min(q[:, 1].min() for q in spans if len(q)) / 1.5
    high = max(q[:, 3].max() for q in spans if len(q)) * 1.5
    ticks = [m * 10**p for p in range(7) for m in (1, 2, 5) if low <= m * 10**p <= high]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="initial range ρ", ylabel="epochs to solve (solved seeds)", ylim=(low, high))
    ax.set_title(
        f"2-2-1 sigmoid net on XOR: epochs to solve (every output within {settings['tol']}),\n"
        f"median with 25th-75th percentiles over the solved of {settings['seeds']} seeds per "
        f"cell (at most {settings['epochs']})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return _plots.save_figure(fig, out, "xor_sweep_epochs.png")


def _g(v):
    return "-" if v is None else f"{v:g}"


def _cell_table(result) -> list[str]:
    lines = [
        "| initial range ρ | optimizer | solved | solved, 95% Wilson interval | levelled off "
        "| epochs to solve: median [95% interval] | 25th / 75th percentile | diverged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in result["cells"]:
        level = f"by epoch {c['levelled_by_epoch']}" if c["levelled"] else "no, still rising"
        if c["epochs_median"] is None:
            median = "-"
        else:
            lo, hi = c["epochs_median95"]
            median = f"{c['epochs_median']:.0f} [{lo:.0f}, {hi:.0f}]"
        lines.append(
            f"| ±{c['range']:g} | {c['optimizer']} | {c['solved']}/{c['of']} | {_percent(c)} | "
            f"{level} | {median} | {_g(c['epochs_p25'])} / {_g(c['epochs_p75'])} | "
            f"{c['diverged']} |"
        )
    return lines


def _effect_table(result) -> list[str]:
    lines = [
        "| effect of | held fixed | how often: best − worst levelled cell (points) | call "
        "| how fast: slowest / fastest median | call |",
        "|---|---|---|---|---|---|",
    ]
    effects = result["effects"]
    for factor in ("initial range", "optimizer"):
        often, fast = effects[f"how often: {factor}"]["at"], effects[f"how fast: {factor}"]["at"]
        for level in often:
            o, f = often[level], fast[level]
            o_text = (
                f"{100 * o['difference']:.0f} ({o['best']} vs {o['worst']})"
                if "difference" in o
                else "-"
            )
            f_text = (
                f"{f['factor']:.1f}× ({f['slowest']} vs {f['fastest']})" if "factor" in f else "-"
            )
            o_call = o["call"] + (f" ({o['why']})" if "why" in o else "")
            f_call = f["call"] + (f" ({f['why']})" if "why" in f else "")
            lines.append(f"| {factor} | {level} | {o_text} | {o_call} | {f_text} | {f_call} |")
    return lines


def _calls(effect) -> str:
    """One part's calls grouped: "strong at A, B; not strong at C (at most 7 points); ..."."""
    groups = {}
    for level, at in effect["at"].items():
        groups.setdefault(at["call"], []).append((level, at))
    out = []
    for call, items in groups.items():
        text = f"{call} at {'; '.join(level for level, _ in items)}"
        if call == "not strong" and "difference" in items[0][1]:
            text += f" (at most {100 * max(a['difference'] for _, a in items):.0f} points)"
        if call == "not strong" and "factor" in items[0][1]:
            text += f" (at most {max(a['factor'] for _, a in items):.1f}×)"
        if call == "undecided":
            text += f" ({'; '.join(sorted({a['why'] for _, a in items}))})"
        out.append(text)
    return "; ".join(out)


def _reasoning(result) -> list[str]:
    """The verdict's parts, each with the calls it rests on, and the cells still rising."""
    c = _classic(result["cells"])
    lines = [
        f"- most starts: **{result['parts']['most starts']}**: {_name(c)} solves {_percent(c)}."
    ]
    for name, effect in result["effects"].items():
        lines.append(f"- {name}: **{effect['verdict']}**: {_calls(effect)}.")
    rising = [_name(c) for c in result["cells"] if not c["levelled"]]
    if rising:
        lines += [
            "",
            f"Still rising at {result['settings']['epochs']} epochs (a longer budget would solve "
            f"more seeds there, so their solved fractions measure speed as much as success): "
            f"{'; '.join(rising)}.",
        ]
    return lines


def report(result):
    return [
        *(f"- {line}" for line in result["design"]),
        "",
        f"{result['seeds_per_cell']} seeds per cell, the same seeds in every cell; half_sse, full "
        f"batch, solved = every output within {result['settings']['tol']} of its target; epochs "
        "over the solved seeds. Plain SGD has no momentum. The cell 'init ±0.5, SGD lr 0.5 + "
        "momentum 0.9' is the logic-gates section's 2-2-1 backprop run, with the same seed keys: "
        "with as many seeds the two count the same solved seeds, with different numbers they "
        "differ only by sampling.",
        "",
        *_cell_table(result),
        "",
        "Each factor changed alone, at each level of the other (strong: at least "
        f"{100 * STRONG_POINTS:.0f} points with disjoint Wilson intervals, or a factor "
        f"{STRONG_FACTOR:g} in median epochs with disjoint intervals):",
        "",
        *_effect_table(result),
        "",
        "Convergence of the solved fraction, per cell: "
        + result["plateau_rule"].replace(
            "the training loss", "the fraction of seeds not yet solved"
        )
        + ".",
        "",
        "Verdict parts:",
        "",
        *_reasoning(result),
    ]


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
