"""Figures: matplotlib on a file-only backend, mean-over-seeds bands, saving, and finding lines
that hide one another."""

from __future__ import annotations

import os


def coinciding(curves: dict, tol: float, *, relative: bool = False) -> list[list[str]]:
    """Groups (of two or more) of the labels in ``curves`` (label -> 1-d array) whose curves lie
    within ``tol`` of each other everywhere (with ``relative``, within a factor ``1 + tol``):
    lines that hide one another in a plot, for a figure to say so."""
    import numpy as np

    def close(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if relative:
            return np.nanmax(np.abs(np.log(a / b))) <= np.log1p(tol)
        return np.nanmax(np.abs(a - b)) <= tol

    groups: list[list[str]] = []
    for label, v in curves.items():
        for g in groups:
            if close(curves[g[0]], v):
                g.append(label)
                break
        else:
            groups.append([label])
    return [g for g in groups if len(g) > 1]


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def band(ax, x, Y, **kw):
    """The mean over seeds (rows of ``Y``) as a line, with ± one standard deviation shaded."""
    import numpy as np

    m, s = np.nanmean(Y, axis=0), np.nanstd(Y, axis=0)
    ax.plot(x, m, **kw)
    ax.fill_between(x, m - s, m + s, color=kw.get("color"), alpha=0.2)


def save_figure(fig, out: str, filename: str) -> str:
    """Saves ``fig`` as ``out/filename``, closes it, and returns the file name for the report."""
    fig.tight_layout()
    fig.savefig(os.path.join(out, filename), dpi=100)
    pyplot().close(fig)
    return filename
