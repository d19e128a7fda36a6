"""Hand-derived backprop against jax.grad and central differences: the lecture's chain rule
∂L/∂θ = ∂L/∂a · ∂a/∂z · ∂z/∂θ, checked on its 2-2-1 sigmoid/MSE network and deeper random ones.

Each network is checked on several independent draws of parameters, inputs and targets
(``draws``), in float32 and in float64.

- Against ``jax.grad``: per parameter array θ (every W and b) the relative error
  ‖g_hand - g_ref‖ / ‖g_ref‖ (the plain difference norm where g_ref = 0), and its maximum over
  the network's arrays.
- Against central differences (f(θ + ε e_i) - f(θ - ε e_i)) / 2ε, ε = 1e-6, in float64 only (in
  float32 they lose most of their digits) and not for ReLU networks (a kink within ε of a
  pre-activation makes the quotient wrong): the largest absolute difference over all entries
  (Deep Learning from Scratch's gradient check), divided by max(1, |L|) for the loss L. A
  difference quotient is itself only good to about u |L| / ε + ε² |f‴| / 6 ≈ 1e-10 |L| (u the
  float64 rounding unit), so a relative error against it blows up on arrays whose gradient is that
  small, as it is behind a saturated sigmoid; the scaled absolute difference does not.

The run is compile-bound, so: the random draws are NumPy's (no random-number programs), the
gradients of a few networks (all their draws, vmapped) are one program per method and dtype —
hand-derived, jax.grad and central differences stay separate programs, so that the compiler
cannot merge the computations being compared — and those programs are compiled at XLA's lowest
backend optimisation level, two at a time.
"""

from __future__ import annotations

import concurrent.futures

import jax
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _protocol

CLAIM = (
    "Backprop by the chain rule (∂L/∂a = -2(y - a), ∂a/∂z = σ(z)(1 - σ(z)), ∂z/∂θ = x) gives "
    "the exact gradient: equal to jax.grad to float precision and to central differences."
)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "fnnet's hand-derived chain-rule gradient equals jax.grad's for every network, loss, "
        "activation and data draw checked, to within float rounding, and agrees with central "
        "differences in float64."
    ),
    rule=(
        "holds if every check passes: relative error against jax.grad below 1e-10 in float64, "
        "and the central-difference check (the difference divided by the loss's size, see the "
        "glossary's 'scaled |Δ|') below 1e-7 in float64; in float32, relative error against "
        "jax.grad below 1e-5, or, where a draw's gradient nearly cancels and float32 rounding "
        "alone exceeds that, the hand-derived float32 gradient no further from float64's "
        "jax.grad than 10 times jax.grad's own float32 gradient is; fails if any one check does "
        "not. The tolerances are a few hundred units of the last place of each float type, far "
        "below any error a wrong derivative makes (a wrong factor is an error of order 1)."
    ),
    kind="exact",
)
QUICK = {"n_random": 4, "draws": 8, "seed": 0}
FULL = {"n_random": 200, "draws": 16, "seed": 0}

DTYPES = ("float32", "float64")
HIDDEN = ("identity", "sigmoid", "tanh", "relu")
CASES_PER_PROGRAM = 8  # networks compiled together: bounds a program's size for FULL
# a check passes when the hand-derived gradient agrees with the reference within these
TOLERANCE = {"float32": 1e-5, "float64": 1e-10, "central": 1e-7}
# a float32 check whose relative error exceeds its tolerance still passes when the hand-derived
# float32 gradient is no further from the float64 one than this many times jax.grad's float32
# gradient is: float32 rounding, in a draw whose gradient nearly cancels, not a wrong derivative
AS_ACCURATE = 10.0
LECTURE = "the lecture's 2-2-1 sigmoid/MSE network"
# compiling is most of the run; the programs are tiny, so XLA's backend optimisations don't pay
_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def make_cases(n_random: int, seed: int) -> list[dict]:
    """Case 0 is the lecture's 2-2-1 sigmoid network with MSE on a batch of 4 (XOR-sized data);
    then ``n_random`` random networks: depth 1-5, widths 1-16, batch 1-64, the hidden activation
    and the loss taken in turn (so that any 4 consecutive cases use every hidden activation, any 3
    every loss); the output is sigmoid, identity for softmax cross-entropy."""
    rng = np.random.default_rng(seed)
    cases = [
        {"sizes": (2, 2, 1), "hidden": "sigmoid", "output": "sigmoid", "loss": "mse", "batch": 4}
    ]
    losses = fn.losses.names()
    for i in range(n_random):
        depth = int(rng.integers(1, 6))
        loss = losses[i % len(losses)]
        cases.append(
            {
                "sizes": tuple(int(s) for s in rng.integers(1, 17, size=depth + 1)),
                "hidden": HIDDEN[i % len(HIDDEN)],
                "output": "identity" if loss == "softmax_cross_entropy" else "sigmoid",
                "loss": loss,
                "batch": int(rng.integers(1, 65)),
            }
        )
    return cases


def _draw(case, draws: int, rng):
    """``draws`` independent (params, X, T) for ``case`` in float64, stacked on a leading axis:
    weights, biases and inputs normal(0, 1), targets uniform in [0, 1] (class labels for
    softmax cross-entropy)."""
    sizes, batch = case["sizes"], case["batch"]
    params = [
        {"W": rng.standard_normal((draws, n_in, n_out)), "b": rng.standard_normal((draws, n_out))}
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    X = rng.standard_normal((draws, batch, sizes[0]))
    if case["loss"] == "softmax_cross_entropy":
        T = rng.integers(0, sizes[-1], (draws, batch)).astype(np.int32)
    else:
        T = rng.uniform(size=(draws, batch, sizes[-1]))
    return params, X, T


def _in_dtype(data, dtype: str):
    """(params, X, T) with every floating array cast to ``dtype`` (labels stay integers)."""
    return jax.tree.map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, data)


def _gradient_function(case, method: str):
    """``(params, X, T) -> gradient`` of ``case``'s loss by ``method``: "hand" (the chain rule,
    ``fnnet.backprop.grad``), "jax_grad" or "central" (``fnnet.backprop.numerical_grad``, and
    the loss itself beside it)."""
    net = fn.MLP(case["sizes"], hidden=case["hidden"], output=case["output"])
    loss = fn.losses.get(case["loss"])
    if method == "hand":
        return lambda p, X, T: fn.backprop.grad(net, p, X, T, loss)

    def f(p, X, T):
        return loss(net.apply(p, X), T)

    if method == "jax_grad":
        return jax.grad(f)
    return lambda p, X, T: (fn.backprop.numerical_grad(lambda q: f(q, X, T), p), f(p, X, T))


def _programs(cases):
    """The compiled programs' recipes for ``cases``: ``(dtype, method) -> [case indices]``; each
    becomes one program over those cases, vmapped over their draws."""
    out = {}
    for dt in DTYPES:
        out[dt, "hand"] = list(range(len(cases)))
        out[dt, "jax_grad"] = list(range(len(cases)))
    central = [i for i, c in enumerate(cases) if c["hidden"] != "relu"]
    if central:
        out["float64", "central"] = central
    return out


def _gradients(cases, data, pool, bar) -> dict:
    """Every gradient of ``cases`` (``data``: one float64 (params, X, T) per case) as NumPy
    float64 arrays: ``{(dtype, method): {case index: gradient pytree}}``. The programs are
    lowered here and compiled in ``pool``; they run as they become ready."""
    lowered, futures = {}, {}
    for (dt, method), idx in _programs(cases).items():
        funs = [jax.vmap(_gradient_function(cases[i], method)) for i in idx]
        args = [_in_dtype(data[i], dt) for i in idx]
        program = jax.jit(lambda args, funs=funs: [f(*a) for f, a in zip(funs, args)])
        lowered[dt, method] = (idx, args)
        # compiling releases the interpreter: the next program is traced meanwhile
        futures[
            pool.submit(program.lower(args).compile, fn.xla.compiler_options(_COMPILER_OPTIONS))
        ] = (dt, method)
    grads = {}
    for fut in concurrent.futures.as_completed(futures):
        name = futures[fut]
        idx, args = lowered[name]
        got = jax.tree.map(lambda a: np.asarray(a, np.float64), fut.result()(args))
        grads[name] = dict(zip(idx, got))
        bar.update(1)
    return grads


def relative_errors(g_hand, g_ref) -> np.ndarray:
    """Per draw (leading axis), the largest over the arrays of the pytrees of
    ‖g_hand - g_ref‖ / ‖g_ref‖, the plain difference norm where ‖g_ref‖ = 0 (the measure of
    ``fnnet.backprop.relative_error``), computed in float64."""
    per_leaf = []
    for a, b in zip(jax.tree.leaves(g_hand), jax.tree.leaves(g_ref)):
        a, b = (np.asarray(x, np.float64).reshape(len(x), -1) for x in (a, b))
        diff, ref = np.linalg.norm(a - b, axis=1), np.linalg.norm(b, axis=1)
        per_leaf.append(np.where(ref > 0, diff / np.where(ref > 0, ref, 1.0), diff))
    return np.max(per_leaf, axis=0)


def scaled_differences(g_hand, g_ref, loss) -> np.ndarray:
    """Per draw (leading axis), max |g_hand - g_ref| over every entry of the pytrees, divided by
    max(1, |L|): a difference quotient's rounding error grows with the loss it differences."""
    leaves = zip(jax.tree.leaves(g_hand), jax.tree.leaves(g_ref))
    diff = np.max([np.abs(a - b).reshape(len(a), -1).max(axis=1) for a, b in leaves], axis=0)
    return diff / np.maximum(1.0, np.abs(loss))


def _rows(chunk, start: int, g) -> list[dict]:
    """One row per case of ``chunk`` and dtype with its per-draw errors, from the gradients
    ``g`` of :func:`_gradients`."""
    rows = []
    for i, case in enumerate(chunk):
        for dt in DTYPES:
            hand = g[dt, "hand"][i]
            row = {"case": start + i, **case, "dtype": dt}
            row["vs_jax_grad"] = relative_errors(hand, g[dt, "jax_grad"][i]).tolist()
            if dt != "float64":  # both float32 gradients against float64's jax.grad
                truth = g["float64", "jax_grad"][i]
                row["hand_vs_float64"] = relative_errors(hand, truth).tolist()
                row["jax_grad_vs_float64"] = relative_errors(g[dt, "jax_grad"][i], truth).tolist()
            if i in g.get((dt, "central"), {}):
                central, loss = g[dt, "central"][i]
                row["vs_central_diff"] = scaled_differences(hand, central, loss).tolist()
            rows.append(row)
    return rows


def _measure(cases, settings) -> list[dict]:
    """Runs every check, a few cases at a time; one row per case and dtype with the per-draw
    errors against jax.grad (and, in float64, central differences)."""
    data = [
        _draw(c, settings["draws"], np.random.default_rng([settings["seed"], i]))
        for i, c in enumerate(cases)
    ]
    starts = range(0, len(cases), CASES_PER_PROGRAM)
    n_programs = sum(len(_programs(cases[s : s + CASES_PER_PROGRAM])) for s in starts)
    bar = _harness.progress(desc="gradient_check: programs", total=n_programs, unit="program")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    rows = []
    with bar, pool, jax.enable_x64(True):
        for start in starts:
            chunk = cases[start : start + CASES_PER_PROGRAM]
            grads = _gradients(chunk, data[start : start + len(chunk)], pool, bar)
            rows += _rows(chunk, start, grads)
    return rows


def _summarise(rows) -> dict:
    """Per dtype: the number of checks and how many pass, the median and maximum error against
    jax.grad (and central differences), and the lecture network's maximum over its draws."""
    summary = {}
    for dt in DTYPES:
        sel = [r for r in rows if r["dtype"] == dt]
        errs = np.concatenate([r["vs_jax_grad"] for r in sel])
        ok = errs < TOLERANCE[dt]
        if dt != "float64":
            hand = np.concatenate([r["hand_vs_float64"] for r in sel])
            ref = np.concatenate([r["jax_grad_vs_float64"] for r in sel])
            as_accurate = hand <= AS_ACCURATE * ref
            ok |= as_accurate
        s = {
            "checks": int(errs.size),
            "passed": int(np.sum(ok)),
            "passed_by_tolerance": int(np.sum(errs < TOLERANCE[dt])),
            "exact_zeros": int(np.sum(errs == 0)),
            "median_rel_vs_jax_grad": float(np.median(errs)),
            "max_rel_vs_jax_grad": float(errs.max()),
            "lecture_2_2_1_vs_jax_grad": float(max(sel[0]["vs_jax_grad"])),
        }
        cd = [r["vs_central_diff"] for r in sel if "vs_central_diff" in r]
        if cd:
            cd = np.concatenate(cd)
            s["central_checks"] = int(cd.size)
            s["central_passed"] = int(np.sum(cd < TOLERANCE["central"]))
            s["median_vs_central_diff"] = float(np.median(cd))
            s["max_vs_central_diff"] = float(cd.max())
            s["lecture_2_2_1_vs_central_diff"] = float(max(sel[0]["vs_central_diff"]))
        summary[dt] = s
    return summary


def run(settings, out):
    cases = make_cases(settings["n_random"], settings["seed"])
    rows = _measure(cases, settings)
    summary = _summarise(rows)
    f32, f64 = summary["float32"], summary["float64"]
    holds = (
        f32["passed"] == f32["checks"]
        and f64["passed"] == f64["checks"]
        and f64["central_passed"] == f64["central_checks"]
    )
    n = len(cases)
    return {
        "design": [
            f"{n} networks: the lecture's 2-2-1 sigmoid/MSE network and {n - 1} random ones "
            f"(every hidden activation and loss), each at {settings['draws']} random data and "
            "weight draws, in float32 and float64.",
            "The hand-derived backprop gradient against jax.grad (relative error) and, in "
            "float64, against central differences.",
            "No training and nothing tuned; every check must pass.",
        ],
        "summary": summary,
        "tolerance": TOLERANCE,
        "cases": rows,
        "figures": [_figure(rows, settings, out)],
        "headline": (
            f"max rel. error vs jax.grad {f64['max_rel_vs_jax_grad']:.0e} (float64), "
            f"{f32['max_rel_vs_jax_grad']:.0e} (float32); vs central diff. (scaled |Δ|) "
            f"{f64['max_vs_central_diff']:.0e}"
        ),
        "seeds": f"{n} networks × {settings['draws']} draws (seed {settings['seed']})",
        "verdict": "holds" if holds else "fails",
    }


_SERIES = (  # panel, dtype, field, marker, colour, x offset, label
    (0, "float32", "vs_jax_grad", "o", "C0", -0.15, "float32"),
    (0, "float64", "vs_jax_grad", "s", "C1", 0.15, "float64"),
    (1, "float64", "vs_central_diff", "^", "C2", 0.0, "float64"),
)


def _case_label(r) -> str:
    loss = {"softmax_cross_entropy": "softmax CE", "half_sse": "½ SSE"}.get(r["loss"], r["loss"])
    return f"{r['case']}: {'-'.join(map(str, r['sizes']))}\n{r['hidden']}\n{loss}"


def _series(rows, dt, field):
    """The x positions (case numbers) and values of every draw's error in one series."""
    xs, ys = [], []
    for r in rows:
        if r["dtype"] == dt and field in r:
            xs += [r["case"]] * len(r[field])
            ys += r[field]
    return np.asarray(xs, float), np.asarray(ys, float)


def _floor(values) -> float:
    """Where exact zeros are drawn on a log axis: three decades below the smallest nonzero value,
    and no higher than 1e-20, so that no nonzero value is mistaken for a zero."""
    nonzero = values[values > 0]
    low = np.floor(np.log10(nonzero.min())) - 3 if nonzero.size else -20
    return 10.0 ** min(-20, low)


def _log_axis_with_zero(ax, floor: float, top: float) -> None:
    """A log y axis from a shaded band at ``floor``, labelled "0 exactly", to ``top``, with at
    most six decade labels 1e-k."""
    ax.set_yscale("log")
    ax.set_ylim(floor / 4, top)
    ax.axhspan(floor / 4, floor * 4, color="0.9", zorder=0)
    lo, hi = int(np.log10(floor)) + 2, int(round(np.log10(top)))
    step = max(1, int(np.ceil((hi - lo) / 5)))
    decades = list(range(hi, lo - 1, -step))[::-1]
    ax.set_yticks([floor, *(10.0**k for k in decades)], ["0 exactly", *(f"1e{k}" for k in decades)])
    ax.minorticks_off()


def _panel(ax, rows, series, top: float) -> None:
    """One panel's series (every draw a point, offset per series; exact zeros on the floor)."""
    data = [(_series(rows, dt, field), rest) for dt, field, *rest in series]
    floor = _floor(np.concatenate([ys for (_, ys), _ in data]))
    for (xs, ys), (marker, color, dx, label) in data:
        ax.scatter(
            xs + dx,
            np.where(ys > 0, ys, floor),
            marker=marker,
            s=24,
            color=color,
            alpha=0.6,
            label=f"{label}: {int(np.sum(ys == 0))} of {ys.size} exactly 0",
        )
    _log_axis_with_zero(ax, floor, top)


def _figure(rows, settings, out):
    """Per network, every draw's error: top, the relative error against jax.grad in float32 and
    float64 (machine ε and the tolerances marked); bottom, the scaled absolute difference from
    central differences in float64. Exact zeros sit on a shaded floor."""
    plt = _plots.pyplot()
    n = max(r["case"] for r in rows) + 1
    named = n <= 16
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(max(8.0, 1.3 * n + 3) if named else 11, 6.6),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2]},
    )
    for panel, ax, top_value in ((0, top, 1e-2), (1, bottom, 1e-4)):
        _panel(ax, rows, [x[1:] for x in _SERIES if x[0] == panel], top_value)
    for value, text, ax in (
        (np.finfo(np.float32).eps, "float32 machine ε", top),
        (np.finfo(np.float64).eps, "float64 machine ε", top),
        (TOLERANCE["float32"], "float32 tolerance", top),
        (TOLERANCE["float64"], "float64 tolerance", top),
        (TOLERANCE["central"], "tolerance", bottom),
    ):
        ax.axhline(value, color="0.5", ls=":" if "ε" in text else "--", lw=1)
        ax.text(n - 0.45, value * 1.3, f" {text}", va="bottom", fontsize=7, color="0.3")
    top.set_ylabel("rel. error vs jax.grad\n(largest over W, b)", fontsize=9)
    bottom.set_ylabel("max |hand - central diff.|\n/ max(1, |L|) (float64, not ReLU)", fontsize=9)
    for ax in (top, bottom):
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    bottom.set_xlim(-0.5, n + (1.5 if named else 0.15 * n))
    if named:
        labels = [_case_label(r) for r in rows if r["dtype"] == "float32"]
        bottom.set_xticks(range(n), labels, fontsize=7)
        bottom.set_xlabel("network: widths, hidden activation, loss (0: the lecture's network)")
    else:
        bottom.set_xlabel("network (0 = the lecture's 2-2-1 sigmoid/MSE network)")
    top.set_title(
        f"Hand-derived backprop, {n} networks × {settings['draws']} draws of parameters and data "
        f"(seed {settings['seed']})",
        fontsize=10,
    )
    return _plots.save_figure(fig, out, "gradient_check.png")


def _summary_table(result) -> list[str]:
    s = result["summary"]
    lines = [
        "| dtype | vs jax.grad: checks within tolerance | rel. error median / max "
        "| rel. error, the lecture's 2-2-1 network (max over draws) "
        "| vs central differences: max abs. difference / max(1, \\|L\\|), median / max "
        "(checks within tolerance) |",
        "|---|---|---|---|---|",
    ]
    for dt in DTYPES:
        r = s[dt]
        cd = (
            f"{r['median_vs_central_diff']:.1e} / {r['max_vs_central_diff']:.1e} "
            f"({r['central_passed']}/{r['central_checks']} below {TOLERANCE['central']:g})"
            if "max_vs_central_diff" in r
            else "not taken (float32)"
        )
        by_tol = r.get("passed_by_tolerance", r["passed"])
        extra = (
            f"; {r['passed'] - by_tol} more as accurate as jax.grad's own float32 gradient"
            if r["passed"] > by_tol
            else ""
        )
        lines.append(
            f"| {dt} | {r['passed']}/{r['checks']} ({by_tol} below {TOLERANCE[dt]:g}{extra}; "
            f"{r['exact_zeros']} exactly 0) "
            f"| {r['median_rel_vs_jax_grad']:.1e} / {r['max_rel_vs_jax_grad']:.1e} "
            f"| {r['lecture_2_2_1_vs_jax_grad']:.1e} | {cd} |"
        )
    return lines


def _case_table(result) -> list[str]:
    """Per network, the largest error over its draws."""
    lines = [
        "| network | widths, hidden/output | loss | batch | float32: rel. error vs jax.grad "
        "| float64: rel. error vs jax.grad "
        "| float64: max abs. difference / max(1, \\|L\\|) vs central diff. |",
        "|---|---|---|---|---|---|---|",
    ]
    by_case = {}
    for r in result["cases"]:
        by_case.setdefault(r["case"], {})[r["dtype"]] = r
    for i, d in sorted(by_case.items()):
        a, b = d["float32"], d["float64"]
        cd = f"{max(b['vs_central_diff']):.1e}" if "vs_central_diff" in b else "not taken (ReLU)"
        lines.append(
            f"| {i} | {'-'.join(map(str, a['sizes']))} {a['hidden']}/{a['output']} | {a['loss']} "
            f"| {a['batch']} | {max(a['vs_jax_grad']):.1e} | {max(b['vs_jax_grad']):.1e} | {cd} |"
        )
    return lines


def report(result):
    s = result["settings"]
    n = len({r["case"] for r in result["cases"]})
    lines = [
        f"{n} networks (0: {LECTURE} on a batch of 4; then depth 1-5, widths 1-16, the hidden "
        "activations and losses in turn, batch 1-64), each on "
        f"{s['draws']} draws of parameters and data (seed {s['seed']}), in float32 and float64. "
        "Against jax.grad, one check's error is the largest relative error "
        "‖g_hand - g_ref‖ / ‖g_ref‖ over the network's weight and bias arrays; against central "
        "differences (ε = 1e-6, float64, not for ReLU) it is the largest absolute difference over "
        "all entries, divided by max(1, |L|) for the loss L: a difference quotient is itself only "
        "good to about 1e-10 |L|, so a relative error against it means nothing where the gradient "
        "is that small (behind a saturated sigmoid).",
        "",
        *_summary_table(result),
        "",
        "An error of exactly 0 means that the hand-derived backprop and jax.grad performed the "
        "same floating-point operations in the same order.",
    ]
    if n <= 20:
        lines += ["", "Per network, the largest error over its draws:", "", *_case_table(result)]
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
