"""The statistics the verdicts rest on: spreads and intervals over seeds, the decision rule that turns
an interval into a verdict, and numbers rounded to their spread.

Every interval here is a 95% interval. Over seeds: Student's t interval of a mean, or of the mean
paired difference where two arms share their seeds (the same initial weights and minibatch order),
which removes the seed-to-seed variation the arms have in common. For a fraction of seeds: the
Wilson score interval (Wilson 1927), which stays inside [0, 1] and is honest for fractions near 0
or 1 and for few seeds.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95


def mean_std(x) -> dict:
    """``{"mean", "std", "values"}`` of a per-seed measurement, as plain floats for result.json
    (``std`` with ``ddof=0``, the spread of the seeds themselves)."""
    x = np.asarray(x, np.float64)
    return {"mean": float(x.mean()), "std": float(x.std()), "values": x.tolist()}


def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


def mean_interval(x, level: float = LEVEL) -> dict:
    """The mean of the per-seed values ``x`` with its ``level`` t interval:
    ``{"mean", "ci", "n", "values"}``; with one seed the interval is (-inf, inf)."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    m = float(x.mean())
    if n < 2:
        lo, hi = -math.inf, math.inf
    else:
        half = t_quantile(n - 1, level) * float(x.std(ddof=1)) / math.sqrt(n)
        lo, hi = m - half, m + half
    return {"mean": m, "ci": [lo, hi], "n": int(n), "values": x.tolist()}


def paired_difference(a, b, level: float = LEVEL) -> dict:
    """``a - b`` seed by seed (two arms trained from the same seeds) as :func:`mean_interval`."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"paired_difference: expected as many values in a as in b, got {a.size} and {b.size}"
        )
    return mean_interval(a - b, level)


def decide(ci, *, smallest: float = 0.0, converged: bool = True) -> str:
    """The verdict of a claimed positive effect from its interval ``ci = (lo, hi)``.

    ``inconclusive`` where the runs have not ``converged``; else ``holds`` if ``lo > 0`` (the
    effect is there, in the claimed direction); else ``fails`` if ``hi < smallest`` (any effect is
    smaller than the smallest one that matters, or reversed); else ``inconclusive`` (the interval
    straddles the line). For a claimed negative effect, pass the negated difference.
    """
    lo, hi = ci
    if not converged:
        return "inconclusive"
    if lo > 0:
        return "holds"
    if hi < smallest:
        return "fails"
    return "inconclusive"


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval for a binomial proportion ``successes / n`` (Wilson 1927)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def median_interval(x) -> tuple[float, float] | None:
    """The 95% distribution-free interval of the median of the values ``x``: the order
    statistics x_(j) and x_(n-j+1), j the 2.5% quantile of Binomial(n, 1/2), which hold the
    median between them with probability >= 95%. None where ``x`` is empty."""
    from scipy import stats

    x = np.sort(np.asarray(x, np.float64))
    n = x.size
    if n == 0:
        return None
    j = max(1, int(stats.binom.ppf(0.025, n, 0.5)))
    return float(x[j - 1]), float(x[n - j])


def geometric(x) -> dict:
    """Geometric mean, min and max over seeds of positive numbers spanning orders of magnitude."""
    x = np.asarray(x, np.float64)
    return {
        "geomean": float(np.exp(np.mean(np.log(x)))),
        "min": float(x.min()),
        "max": float(x.max()),
    }


def decimals(spread: float, digits: int | None = None, most: int = 6) -> int:
    """Decimals that show ``spread`` to ``digits`` significant digits (at most ``most``): the
    precision a number with that spread deserves. By default two digits where the spread's first
    digit is 1 or 2 and one otherwise (the usual rule for quoting an uncertainty); a spread of 0
    (every seed the same) gets one decimal."""
    if not np.isfinite(spread) or spread <= 0:
        return min(1, most)
    exponent = math.floor(math.log10(spread))
    if digits is None:
        digits = 2 if spread / 10.0**exponent < 3 else 1
    return int(min(most, max(0, digits - 1 - exponent)))


def rounded(x: float, spread: float) -> str:
    """``x`` rounded to the precision of ``spread`` (see :func:`decimals`)."""
    return f"{x:.{decimals(spread)}f}"


def pm(stat: dict, scale: float = 1.0, unit: str = "") -> str:
    """A :func:`mean_std` as ``mean ± sd`` or a :func:`mean_interval` as ``mean [lo, hi]``, rounded
    to its spread, times ``scale`` (100 for percent) with ``unit`` after each number."""
    m = stat["mean"] * scale
    if "ci" in stat:
        lo, hi = (v * scale for v in stat["ci"])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return f"{m:.3g}{unit} (one seed)"
        d = decimals((hi - lo) / 2)
        return f"{m:.{d}f}{unit} [{lo:.{d}f}, {hi:.{d}f}]"
    s = stat["std"] * scale
    d = decimals(s)
    return f"{m:.{d}f}{unit} ± {s:.{d}f}{unit}"
