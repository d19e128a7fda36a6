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
from experiments import _harness, _xor

CLAIM = (
    "Backprop solves XOR with a 2-2-1 sigmoid network from most small random initial weights, but "
    "how often and how fast depends strongly on the initial weight range and on the optimizer."
)
OPTIMIZERS = (
    ("lr 0.5, momentum 0.9", 0.5, 0.9),
    ("lr 0.5", 0.5, 0.0),
    ("lr 2.0", 2.0, 0.0),
)
QUICK = {
    "seeds": 2048,
    "epochs": 10_000,
    "ranges": [0.1, 0.5, 1.0, 2.0, 4.0, 8.0],
    "tol": 0.4,
    "chunk_size": None,
}
FULL = {**QUICK, "seeds": 100_000}


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval for a binomial proportion (Wilson 1927)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def make_train_one(settings):
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


def run(settings, out):
    grid = {
        "scale": np.asarray(settings["ranges"], np.float32),
        "optimizer": np.arange(len(OPTIMIZERS), dtype=np.int32),
    }
    # finished chunks survive an interruption: a rerun with these settings (and this fnnet, whose
    # sweep folders an older one may not read) resumes from them
    ident = json.dumps({"settings": settings, "fnnet": fn.__version__}, sort_keys=True)
    tag = hashlib.sha1(ident.encode()).hexdigest()[:10]
    results = fn.sweep.run(
        make_train_one(settings),
        settings["seeds"],
        grid=grid,
        chunk_size=settings["chunk_size"],
        out=os.path.join(out, f"sweep-{tag}"),
        name=f"xor_sweep epochs={settings['epochs']} tol={settings['tol']}",
    )
    e = results.values["epoch_solved"]  # (ranges, optimizers, seeds)
    cells = []
    for i, rho in enumerate(settings["ranges"]):
        for j, (name, lr, mom) in enumerate(OPTIMIZERS):
            ej = e[i, j]
            solved = ej[ej > 0]
            q = np.percentile(solved, [25, 50, 75]).tolist() if solved.size else [None] * 3
            lo, hi = wilson(int(solved.size), ej.size)
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
    best = max(cells, key=lambda c: (c["solved_fraction"], -(c["epochs_median"] or 1e9)))
    bi = settings["ranges"].index(best["range"])
    bj = [o[0] for o in OPTIMIZERS].index(best["optimizer"])
    frac = np.array(
        [[c["solved_fraction"] for c in cells[k : k + 3]] for k in range(0, len(cells), 3)]
    )
    return {
        "cells": cells,
        "best_cell": best,
        "seeds_per_cell": settings["seeds"],
        "figures": [
            _heatmap(frac, settings, out),
            _histogram(e[bi, bj], best, settings, out),
        ],
        # the study's claim: strong dependence on the initial range, and mostly solved somewhere
        "verdict": "holds" if frac.max() > 0.9 and frac.max() - frac.min() > 0.2 else "fails",
    }


def _heatmap(frac, settings, out):
    """The fraction of seeds solved per (initial range, optimizer) cell as a heat map, each cell
    labelled with its percentage."""
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(OPTIMIZERS)), [o[0] for o in OPTIMIZERS])
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
        xlabel="optimizer",
        ylabel="initial range ρ (weights and biases uniform in ±ρ)",
        title=f"2-2-1 XOR solved within {settings['epochs']} epochs, {settings['seeds']} seeds/cell",
    )
    fig.colorbar(im, ax=ax, label="fraction solved")
    return _harness.save_figure(fig, out, "xor_sweep_solved.png")


def _histogram(e, best, settings, out):
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    solved = e[e > 0]
    ax.hist(solved, bins=np.logspace(0, np.log10(settings["epochs"]), 50), color="C0")
    ax.set(
        xscale="log",
        xlabel="epochs to solve (every output within 0.4)",
        ylabel="seeds",
        title=f"best cell: ±{best['range']:g}, {best['optimizer']}: {best['solved_fraction']:.1%} solved",
    )
    return _harness.save_figure(fig, out, "xor_sweep_epochs.png")


def _g(v):
    return "-" if v is None else f"{v:g}"


def report(result):
    lines = [
        f"{result['seeds_per_cell']} seeds per cell; half_sse, full batch, solved = every output "
        "within 0.4 of its target; epochs over solved seeds.",
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
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
