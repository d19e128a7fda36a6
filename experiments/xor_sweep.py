"""How often, and how fast, backprop solves XOR with a 2-2-1 sigmoid network, against the initial
weight range and the optimizer: thousands of seeds per cell with ``fnnet.sweep``.

Rumelhart, Hinton and Williams (1986) reported that the network rarely got stuck; Kolen and Pollack
(1990, "Back propagation is sensitive to initial conditions") showed how strongly the outcome
depends on the initial weights; Hamey (1998) proved that the 2-2-1 XOR error surface has no strict
local minima, so the failures are plateaus and very slow regions rather than traps.
"""

from __future__ import annotations

import hashlib
import json
import os

import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _stats, _xor

CLAIM = (
    "Backprop solves XOR with a 2-2-1 sigmoid network from most small random initial weights, but "
    "how often and how fast depends strongly on the initial weight range and on the optimizer."
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
}
FULL = {**QUICK, "seeds": 100_000}


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
    ident = json.dumps({"settings": settings, "fnnet": fn.__version__}, sort_keys=True)
    tag = hashlib.sha1(ident.encode()).hexdigest()[:10]
    return fn.sweep.run(
        make_train_one(settings),
        settings["seeds"],
        grid=grid,
        chunk_size=settings["chunk_size"],
        out=os.path.join(out, f"sweep-{tag}"),
        name=f"xor_sweep epochs={settings['epochs']} tol={settings['tol']}",
    )


def _cells(settings, results) -> list[dict]:
    """One summary per cell, ranges outer and optimizers inner: the solved fraction with its 95%
    Wilson interval, the quartiles of the epochs to solve over the solved seeds, and how many
    seeds diverged."""
    e = results.values["epoch_solved"]  # (ranges, optimizers, seeds)
    cells = []
    for i, rho in enumerate(settings["ranges"]):
        for j, (name, lr, mom) in enumerate(OPTIMIZERS):
            ej = e[i, j]
            solved = ej[ej > 0]
            q = np.percentile(solved, [25, 50, 75]).tolist() if solved.size else [None] * 3
            lo, hi = _stats.wilson(int(solved.size), ej.size)
            cells.append(
                {
                    "range": rho,
                    "optimizer": name,
                    "lr": lr,
                    "momentum": mom,
                    "solved_fraction": float(solved.size / ej.size),
                    "wilson95": [lo, hi],
                    "epochs_q25": q[0],
                    "epochs_median": q[1],
                    "epochs_q75": q[2],
                    "diverged": int(results.diverged[i, j].sum()),
                }
            )
    return cells


def run(settings, out):
    results = _sweep(settings, out)
    e = results.values["epoch_solved"]  # (ranges, optimizers, seeds)
    cells = _cells(settings, results)
    best = max(cells, key=lambda c: (c["solved_fraction"], -(c["epochs_median"] or 1e9)))
    worst = min(cells, key=lambda c: c["solved_fraction"])
    frac = np.array(
        [
            [c["solved_fraction"] for c in cells[k : k + len(OPTIMIZERS)]]
            for k in range(0, len(cells), len(OPTIMIZERS))
        ]
    )
    n = settings["seeds"]
    return {
        "cells": cells,
        "best_cell": best,
        "worst_cell": worst,
        "seeds_per_cell": n,
        "figures": [_heatmap(frac, settings, out), _epochs_figure(e, settings, out)],
        "headline": (
            f"solved {worst['solved_fraction']:.1%} (±{worst['range']:g}, {_short(worst)}) to "
            f"{best['solved_fraction']:.1%} (±{best['range']:g}, {_short(best)}), "
            f"{n} seeds per cell"
        ),
        "seeds": f"{n} seeds per cell, the same seeds in every cell ({len(cells)} cells)",
        # the study's claim: strong dependence on the initial range, and mostly solved somewhere
        "verdict": "holds" if frac.max() > 0.9 and frac.max() - frac.min() > 0.2 else "fails",
    }


def _short(cell) -> str:
    """An optimizer's short name: "SGD+momentum" or "plain SGD lr 2"."""
    if cell["momentum"]:
        return f"SGD lr {cell['lr']:g} + momentum {cell['momentum']:g}"
    return f"plain SGD lr {cell['lr']:g}"


def _heatmap(frac, settings, out):
    """The fraction of seeds solved per (initial range, optimizer) cell as a heat map, each cell
    labelled with its percentage."""
    plt = _plots.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    labels = [o[0].replace(", ", ",\n").replace(" (", "\n(") for o in OPTIMIZERS]
    ax.set_xticks(range(len(OPTIMIZERS)), labels, fontsize=8)
    ax.set_yticks(range(len(settings["ranges"])), [f"±{r:g}" for r in settings["ranges"]])
    for i in range(frac.shape[0]):
        for j in range(frac.shape[1]):
            ax.text(
                j,
                i,
                f"{frac[i, j]:.1%}",
                ha="center",
                va="center",
                color="w" if frac[i, j] < 0.6 else "k",
                fontsize=9,
            )
    ax.set(
        xlabel="optimizer (full-batch gradient descent)",
        ylabel="initial range ρ (weights and biases uniform in ±ρ)",
    )
    ax.set_title(
        f"2-2-1 sigmoid net on XOR: fraction solved within {settings['epochs']} epochs,\n"
        f"{settings['seeds']} seeds per cell (the same seeds in every cell)",
        fontsize=10,
    )
    fig.colorbar(im, ax=ax, label="fraction solved")
    return _plots.save_figure(fig, out, "xor_sweep_solved.png")


def _quartiles(e, settings):
    """Per optimizer, the (range, q25, median, q75) of the epochs to solve over the solved seeds
    of each range's cell (cells without a solved seed left out)."""
    out = []
    for j in range(len(OPTIMIZERS)):
        rows = []
        for i, rho in enumerate(settings["ranges"]):
            solved = e[i, j][e[i, j] > 0]
            if solved.size:
                rows.append((rho, *np.percentile(solved, [25, 50, 75])))
        out.append(np.array(rows).reshape(-1, 4))
    return out


def _epochs_figure(e, settings, out):
    """Epochs to solve over the solved seeds of every cell: the median, with the quartiles as a
    bar, against the initial range, one series per optimizer (offset sideways so that none hides
    another); the axes span the data."""
    plt = _plots.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    quartiles = _quartiles(e, settings)
    for j, ((name, _, _), q) in enumerate(zip(OPTIMIZERS, quartiles)):
        ax.errorbar(
            q[:, 0] * 1.12 ** (j - 1),
            q[:, 2],
            yerr=[q[:, 2] - q[:, 1], q[:, 3] - q[:, 2]],
            fmt=("o", "s", "^")[j] + "-",
            capsize=3,
            ms=6,
            lw=1,
            label=name,
        )
    ranges = np.asarray(settings["ranges"], float)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ranges, [f"±{r:g}" for r in ranges])
    low = min(q[:, 1].min() for q in quartiles if len(q)) / 1.5
    high = max(q[:, 3].max() for q in quartiles if len(q)) * 1.5
    ticks = [
        t
        for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
        if low <= t <= high
    ]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="initial range ρ", ylabel="epochs to solve (solved seeds)", ylim=(low, high))
    ax.set_title(
        f"2-2-1 sigmoid net on XOR: epochs to solve (every output within {settings['tol']}),\n"
        f"median and quartiles over the solved of {settings['seeds']} seeds per cell "
        f"(at most {settings['epochs']})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return _plots.save_figure(fig, out, "xor_sweep_epochs.png")


def _g(v):
    return "-" if v is None else f"{v:g}"


def report(result):
    best, worst = result["best_cell"], result["worst_cell"]
    lines = [
        f"{result['seeds_per_cell']} seeds per cell, the same seeds in every cell; half_sse, full "
        "batch, solved = every output within 0.4 of its target; epochs over the solved seeds. "
        "Plain SGD has no momentum.",
        "",
        "| initial range ρ | optimizer | solved | 95% Wilson | epochs q25 / median / q75 |",
        "|---|---|---|---|---|",
    ]
    for c in result["cells"]:
        lo, hi = c["wilson95"]
        lines.append(
            f"| ±{c['range']:g} | {c['optimizer']} | {c['solved_fraction']:.2%} | "
            f"[{lo:.2%}, {hi:.2%}] | {_g(c['epochs_q25'])} / {_g(c['epochs_median'])} / "
            f"{_g(c['epochs_q75'])} |"
        )
    lines += [
        "",
        f"The solved fraction ranges from {worst['solved_fraction']:.2%} (±{worst['range']:g}, "
        f"{worst['optimizer']}) to {best['solved_fraction']:.2%} (±{best['range']:g}, "
        f"{best['optimizer']}, median {_g(best['epochs_median'])} epochs).",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
