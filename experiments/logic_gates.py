"""The hard-threshold perceptron y = 1 if w0 + w1 x1 + w2 x2 >= 0 learns AND, OR and NAND and fails
XOR, which no line separates; two layers solve XOR, first as perceptrons combined by hand, then as
a 2-2-1 sigmoid network trained by backprop.

The perceptron convergence theorem (Novikoff 1962) sets the test for the separable gates. Write
x~ = (1, x1, x2) and w~ = (w0, w1, w2), let R² = max |x~|² = 3 and let u (|u| = 1) separate the
gate with margin γ = min_i s_i u·x~_i > 0 (s_i = +1 for output 1, -1 for output 0). Each mistake
adds s lr x~ to w~ where s w~·x~ <= 0 (the point was on the wrong side), so after k mistakes
from the start w~_0 (b = u·w~_0, c = |w~_0|²)

    u·w~_k >= b + k lr γ    and    |w~_k|² <= c + k lr² R²,

and since u·w~_k <= |w~_k|, k cannot exceed the larger root K of
(b + k lr γ)² = c + k lr² R² (K = (R/γ)² from w~ = 0). A run with at most K mistakes has at
most K epochs with a mistake, so its first epoch without one comes by epoch K + 1. The best γ is
the distance from 0 to the convex hull of the points s_i x~_i (:func:`margin`); for XOR that
distance is 0: no line separates it.

Every seed trains at once under ``jax.vmap``, in chunks of a fixed size (one compiled program
per kind of training, called chunk after chunk, so that a progress bar moves); the four gates'
perceptrons are one program, vmapped over the gates' targets. The small perceptron and grid
programs are compiled at XLA's lowest backend optimisation level: compiling is most of their cost.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats, _xor

CLAIM = (
    "A single perceptron learns the linearly separable gates AND, OR and NAND from every start, and "
    "XOR from none, because no line separates XOR's classes; two layers solve XOR, both as "
    "perceptrons combined by hand and as a sigmoid network trained by backprop."
)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "The perceptron rule converges on AND, OR and NAND from every start, within the mistakes "
        "the perceptron convergence theorem allows, and on XOR from none, since no line separates "
        "XOR; the step network AND(OR, NAND) with weights set by hand computes XOR; a 2-2-1 "
        "sigmoid network trained by backprop solves XOR from most starts."
    ),
    rule=(
        "Four parts, combined: holds if all hold, partly if some hold and some fail, fails "
        "if none holds and some fail, else inconclusive. Separable gates "
        "(threshold): every seed of AND, OR and NAND makes at most its Novikoff bound of mistakes "
        "and has an epoch without a mistake within the budget, which is set above the largest "
        "bound over the initial range, so the theorem predicts convergence on every seed; holds "
        "if all do, fails if one does not. XOR, one layer (exact): no seed has an epoch without a "
        "mistake, XOR's margin is 0 and the grid search finds no separating (w0, w1, w2) for XOR "
        "while it finds some for each other gate. XOR by hand (exact): the outputs are 0, 1, 1, "
        "0. XOR by backprop (threshold): the 95% Wilson interval of the fraction of 2-2-1 seeds "
        "solved within the budget lies above 1/2 (holds) or below it (fails), else inconclusive; "
        "a fraction below 1/2 that is still rising at the budget (plateau rule on the fraction "
        "unsolved after each epoch) is inconclusive too."
    ),
    kind="threshold",
    source=(
        "Novikoff 1962 (perceptron convergence theorem, at most (R/γ)² mistakes from w = 0; the "
        "bound from another start as in the module docstring); Minsky and Papert 1969 (XOR is "
        "not linearly separable); Rumelhart, Hinton and Williams 1986 (backprop on XOR rarely "
        "gets stuck)"
    ),
)
QUICK = {
    "seeds": 4096,
    "epochs": 125,
    "lr": 0.1,
    "scale": 0.5,
    "grid_points": 161,
    "grid_range": 2.0,
    "mlp_seeds": 1024,
    "mlp_epochs": 10_000,
    "mlp_sizes": [[2, 2, 1]],
    "plateau": {"window": 0.2, "rtol": 0.01, "atol": 0.01},
}
FULL = {
    **QUICK,
    "seeds": 100_000,
    "grid_points": 401,
    "mlp_seeds": 16_384,
    "mlp_sizes": [[2, 2, 1], [2, 2, 2, 1]],
}

GATES = ("and", "or", "nand", "xor")
SEPARABLE = ("and", "or", "nand")
JUDGED_NETWORK = "2-2-1"  # the backprop part of the criterion; deeper networks are reported only
PERCEPTRON_CHUNK = 4096  # seeds per call of the perceptron program
MLP_CHUNK = 1024  # seeds per call of a backprop program
SMALL_PROGRAM = {"xla_backend_optimization_level": 0}
XOR_LAST_EPOCHS = 20  # the XOR panel shows the lines a perceptron ends its last epochs on
PANEL = (-0.5, 1.5)  # every gate panel's range in x1 and x2
XOR_DERIVATION = [
    "A line w0 + w1 x1 + w2 x2 = 0 computes XOR only if",
    "(0, 0) -> 0: w0 < 0;  (0, 1) -> 1: w0 + w2 >= 0;  (1, 0) -> 1: w0 + w1 >= 0;  "
    "(1, 1) -> 0: w0 + w1 + w2 < 0.",
    "Adding the second and third: 2 w0 + w1 + w2 >= 0. Adding the first and fourth: "
    "2 w0 + w1 + w2 < 0. Both cannot hold, so no (w0, w1, w2) exists: XOR is not linearly separable.",
]
# XOR = AND(OR(x1, x2), NAND(x1, x2)), with hand-set weights
OR = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-0.5)}
NAND = {"w": jnp.array([-1.0, -1.0]), "b": jnp.array(1.5)}
AND = {"w": jnp.array([1.0, 1.0]), "b": jnp.array(-1.5)}


def margin(gate: str) -> tuple[float, np.ndarray]:
    """``(γ, u)``: the largest margin γ = min_i s_i u·x~_i of a unit vector u = (w0, w1, w2) on
    ``gate``'s four points x~ = (1, x1, x2), s = +1 for output 1 and -1 for output 0; γ = 0 (and u
    None) where no line separates the gate.

    γ is the distance from 0 to the convex hull of the points s_i x~_i, and u points to its
    nearest point: found exactly by trying every subset of the four points (the nearest point of
    each subset's affine hull, kept where it lies inside the subset's hull)."""
    X, T = fn.data.logic_gate(gate)
    P = np.where(T.ravel() == 1, 1.0, -1.0)[:, None] * np.column_stack([np.ones(len(X)), X])
    nearest = None
    for r in range(1, len(P) + 1):
        for subset in itertools.combinations(range(len(P)), r):
            Q = P[list(subset)]
            kkt = np.block([[Q @ Q.T, np.ones((r, 1))], [np.ones((1, r)), np.zeros((1, 1))]])
            try:
                weights = np.linalg.solve(kkt, np.r_[np.zeros(r), 1.0])[:r]
            except np.linalg.LinAlgError:
                continue
            if np.all(weights >= -1e-12):
                point = weights @ Q
                if nearest is None or point @ point < nearest @ nearest:
                    nearest = point
    gamma = float(np.linalg.norm(nearest))
    if gamma < 1e-9:
        return 0.0, None
    return gamma, nearest / gamma


def novikoff_bound(w0, u, gamma: float, lr: float, r2: float = 3.0) -> np.ndarray:
    """The most mistakes the perceptron rule can make from the augmented starts ``w0`` (..., 3)
    = (w0, w1, w2) with learning rate ``lr`` on a gate that ``u`` separates with margin
    ``gamma``, inputs of squared length at most ``r2``: the floor of the larger root K of
    (b + k lr γ)² = c + k lr² r2, b = u·w0, c = |w0|² (see the module docstring)."""
    w0 = np.asarray(w0, np.float64)
    a, d = lr * gamma, lr**2 * r2
    b, c = w0 @ np.asarray(u, np.float64), np.sum(w0**2, axis=-1)
    B = d - 2 * a * b
    return np.floor((B + np.sqrt(B**2 - 4 * a**2 * (b**2 - c))) / (2 * a**2) + 1e-9).astype(int)


def worst_bound(gamma: float, lr: float, scale: float, r2: float = 3.0) -> int:
    """:func:`novikoff_bound` at its largest over starts uniform in ±``scale``: |w0|² = 3 scale²
    and w0 pointing against u."""
    c = 3 * scale**2
    return int(
        novikoff_bound(-np.sqrt(c) * np.array([1.0, 0.0, 0.0]), [1.0, 0.0, 0.0], gamma, lr, r2)
    )


def hand_built_xor():
    """``(net, params)``: the step 2-2-1 MLP computing AND(OR(x1, x2), NAND(x1, x2))."""
    return fn.perceptron.combine([OR, NAND], AND)


def _apply(net, params, X) -> np.ndarray:
    """``net.apply(params, X)`` as one small compiled program (not op by op), as NumPy."""
    return np.asarray(
        jax.jit(net.apply, compiler_options=fn.xla.compiler_options(SMALL_PROGRAM))(params, X)
    )


def _chunked(program, keys, chunk: int, bar):
    """``program`` over ``keys`` (seeds,) in calls of ``chunk`` keys, the results (NumPy, seed
    axis first) concatenated. A short last chunk is padded with spare keys whose results are
    dropped, so that every call has one shape and reuses one compiled program; seeds are
    independent, so the result is what one call over all keys gives. ``bar`` advances by seeds."""
    n = len(keys)
    size = min(chunk, n)
    padded = -(-n // size) * size
    if padded > n:
        spare = jax.random.split(jax.random.key(2**31 - 1), padded - n)
        keys = jnp.concatenate([keys, spare])
    parts = []
    for start in range(0, padded, size):
        parts.append(jax.tree.map(np.asarray, program(keys[start : start + size])))
        bar.update(min(size, n - start))
    return jax.tree.map(lambda *a: np.concatenate(a)[:n], *parts)


def _train_perceptrons(s, bar):
    """Every gate's perceptrons from the same ``s["seeds"]`` starts (keys split from key 0):
    ``(start, params, mistakes, first)`` with a leading gate axis (in the order of GATES), then
    seeds; ``start`` the initial parameters, ``mistakes`` per epoch, ``first`` the first epoch
    without a mistake (1-based) or -1."""
    X = jnp.asarray(fn.data.logic_gate("and")[0])
    targets = jnp.asarray(np.stack([fn.data.GATES[g] for g in GATES]))  # (gates, 4)

    def one(key, T):
        k_init, k_order = jax.random.split(key)
        p = fn.perceptron.init(k_init, 2, s["scale"])
        return (p, *fn.perceptron.fit(p, X, T, lr=s["lr"], epochs=s["epochs"], key=k_order))

    # seeds outermost, so that chunks of seeds concatenate along axis 0
    per_seed = jax.vmap(one, in_axes=(None, 0))  # over gates
    program = jax.jit(
        jax.vmap(per_seed, in_axes=(0, None)),
        compiler_options=fn.xla.compiler_options(SMALL_PROGRAM),
    )
    keys = jax.random.split(jax.random.key(0), s["seeds"])
    out = _chunked(lambda k: program(k, targets), keys, PERCEPTRON_CHUNK, bar)
    return jax.tree.map(lambda a: np.moveaxis(a, 0, 1), out)


def _xor_lines(s, last: int = XOR_LAST_EPOCHS):
    """Seed 0's XOR perceptron (its initial weights and random orders, as in
    :func:`_train_perceptrons`), trained epoch by epoch: ``(w0, w1, w2)`` after each of its
    ``last`` epochs, as an array (last, 3)."""
    X, T = (jnp.asarray(a) for a in fn.data.logic_gate("xor"))
    k_init, k_order = jax.random.split(jax.random.split(jax.random.key(0), s["seeds"])[0])

    def run(k_init, k_order):
        def epoch(p, k):
            p, _, _ = fn.perceptron.fit(p, X, T, lr=s["lr"], epochs=1, key=k)
            return p, p

        keys = jax.random.split(k_order, s["epochs"])
        _, ps = jax.lax.scan(epoch, fn.perceptron.init(k_init, 2, s["scale"]), keys)
        return ps

    ps = jax.jit(run, compiler_options=fn.xla.compiler_options(SMALL_PROGRAM))(k_init, k_order)
    return np.column_stack([np.asarray(ps["b"]), np.asarray(ps["w"])])[-last:]


def brute_force_lines(n: int, r: float):
    """For each gate, how many (w0, w1, w2) on an n^3 grid over [-r, r]^3 separate its classes."""
    X, _ = fn.data.logic_gate("xor")
    targets = jnp.asarray(np.stack([fn.data.GATES[g] for g in GATES]))  # (gates, 4)
    w = jnp.linspace(-r, r, n)
    W1, W2 = jnp.meshgrid(w, w, indexing="ij")

    def per_w0(w0):
        z = w0 + W1[..., None] * X[None, None, :, 0] + W2[..., None] * X[None, None, :, 1]
        y = (z >= 0).astype(targets.dtype)
        ok = jnp.all(y[None] == targets[:, None, None, :], axis=-1)  # (gates, n, n)
        return jnp.sum(ok, axis=(1, 2))

    count = jax.jit(
        lambda w: jax.lax.map(per_w0, w).sum(0),
        compiler_options=fn.xla.compiler_options(SMALL_PROGRAM),
    )
    return {g: int(c) for g, c in zip(GATES, count(w))}


def _summary(e):
    """Count and fraction of seeds with e > 0, and the minimum, 25th percentile, median, 75th
    percentile and maximum of e over them (epochs: the nearest observed values; None where
    none)."""
    solved = e[e > 0]
    q = (
        np.percentile(solved, [0, 25, 50, 75, 100], method="nearest").tolist()
        if solved.size
        else [None] * 5
    )
    return {
        "count": int(solved.size),
        "of": int(e.size),
        "fraction": float(np.mean(e > 0)),
        **dict(zip(("min", "p25", "median", "p75", "max"), q)),
    }


def _perceptron_results(s, bar):
    """Per gate: convergence over the seeds, its histogram over epochs, each seed's mistakes
    against its Novikoff bound (separable gates), how many seeds end with the whole truth table
    right, and the mistakes per epoch (mean and min over seeds); also the line seed 0 learned per
    gate."""
    start, p, mistakes, first = _train_perceptrons(s, bar)
    X = np.asarray(fn.data.logic_gate("and")[0])
    w0 = np.column_stack([start["b"][0], start["w"][0]])  # (seeds, 3), the same for every gate
    perceptron, finals = {}, {}
    for i, gate in enumerate(GATES):
        T = fn.data.GATES[gate]
        # the perceptron's output step(b + X w), with step(0) = 1 as in fnnet.activations.step
        preds = (X @ p["w"][i].T + p["b"][i] >= 0).astype(T.dtype).T  # (seeds, 4)
        f = first[i]
        total = mistakes[i].sum(axis=1)
        gamma, u = margin(gate)
        r = {
            "converged": _summary(f),
            "margin": gamma,
            "mistakes_max": int(total.max()),
            "epochs_to_converge_histogram": np.bincount(f[f > 0], minlength=s["epochs"] + 1)[
                1:
            ].tolist(),
            "final_table_correct_fraction": float(np.mean(np.all(preds == T, axis=1))),
            "mistakes_last_epoch_min": int(mistakes[i][:, -1].min()),
            "mistakes_last_epoch_mean": float(mistakes[i][:, -1].mean()),
            "mistakes_per_epoch_mean": mistakes[i].mean(0).tolist(),
            "mistakes_per_epoch_std": mistakes[i].std(0).tolist(),
            "mistakes_per_epoch_min": mistakes[i].min(0).tolist(),
        }
        if gamma > 0:
            bound = novikoff_bound(w0, u, gamma, s["lr"])
            r |= {
                "bound_max": int(bound.max()),
                "bound_worst_start": worst_bound(gamma, s["lr"], s["scale"]),
                "within_bound": int(np.sum(total <= bound)),
                "slack_min": int((bound - total).min()),
            }
        perceptron[gate] = r
        finals[gate] = {"w": p["w"][i][0], "b": p["b"][i][0]}
    return perceptron, finals


def _backprop_results(s, bar):
    """Per architecture in ``s["mlp_sizes"]``: the XOR runs of :func:`experiments._xor.train`
    over seeds 0 .. ``s["mlp_seeds"]`` - 1 (the keys :func:`experiments._xor.seed_keys` gives,
    those of the XOR sweep): solved counts with their Wilson interval, epochs, the plateau record
    of the fraction unsolved after each epoch, and the parameters of the first seed that solved
    it."""
    mlp, trained = {}, {}
    keys = _xor.seed_keys(s["mlp_seeds"])
    for sizes in map(tuple, s["mlp_sizes"]):
        name = "-".join(map(str, sizes))
        program = jax.jit(
            jax.vmap(lambda k, sizes=sizes: _xor.train(k, sizes=sizes, epochs=s["mlp_epochs"]))
        )
        r = _chunked(program, keys, MLP_CHUNK, bar)
        e = r["epoch_solved"]
        unsolved = _xor.unsolved_curve(e, s["mlp_epochs"])
        first_solved = int(np.argmax(e > 0)) if np.any(e > 0) else 0
        mlp[name] = {
            "solved": _summary(e),
            "wilson95": list(_stats.wilson(int(np.sum(e > 0)), e.size)),
            "still_solved_at_end": float(np.mean(r["max_error"][e > 0] < 0.4)),
            "solved_fraction_plateau": _seeds.plateau_record(unsolved, **s["plateau"]),
            "first_solved_seed": first_solved,
            "epochs_solved": e,
        }
        trained[name] = jax.tree.map(lambda a, i=first_solved: a[i], r["params"])
    return mlp, trained


def _parts(perceptron, grid, table, mlp) -> dict:
    """Each part's verdict by the criterion (CRITERION.rule)."""
    separable = all(
        perceptron[g]["converged"]["count"] == perceptron[g]["converged"]["of"]
        and perceptron[g]["within_bound"] == perceptron[g]["converged"]["of"]
        for g in SEPARABLE
    )
    xor = perceptron["xor"]
    one_layer = (
        xor["converged"]["count"] == 0
        and xor["margin"] == 0.0
        and grid["xor"] == 0
        and min(grid[g] for g in SEPARABLE) > 0
    )
    b = mlp[JUDGED_NETWORK]
    lo, hi = b["wilson95"]
    # a longer budget can only add solved seeds: a fraction above 1/2 stands while still rising
    levelled = b["solved_fraction_plateau"]["converged"]
    backprop = "holds" if lo > 0.5 else "fails" if hi < 0.5 and levelled else "inconclusive"
    return {
        "separable gates": "holds" if separable else "fails",
        "XOR, one layer": "holds" if one_layer else "fails",
        "XOR by hand": "holds" if table == [0.0, 1.0, 1.0, 0.0] else "fails",
        "XOR by backprop": backprop,
    }


def run(settings, out):
    s = settings
    for gate in SEPARABLE:
        need = worst_bound(margin(gate)[0], s["lr"], s["scale"]) + 1
        if s["epochs"] < need:
            raise ValueError(
                f"epochs: the perceptron convergence theorem lets {gate.upper()} converge as late "
                f"as epoch {need} at lr {s['lr']} from starts in ±{s['scale']}; expected epochs "
                f">= {need}, got {s['epochs']}"
            )
    n_seeds = s["seeds"] + s["mlp_seeds"] * len(s["mlp_sizes"])
    with _harness.progress(desc="logic_gates: seeds", total=n_seeds, unit="seed") as bar:
        perceptron, finals = _perceptron_results(s, bar)
        grid = brute_force_lines(s["grid_points"], s["grid_range"])
        mlp, trained = _backprop_results(s, bar)
    net, params = hand_built_xor()
    X, _ = fn.data.logic_gate("xor")
    table = _apply(net, params, X).ravel().tolist()
    b = mlp[JUDGED_NETWORK]
    figures = [
        _gates_figure(finals, _xor_lines(s), perceptron, out),
        _epochs_figure(perceptron, s, out),
        _two_layer_figure(params, trained[JUDGED_NETWORK], b["first_solved_seed"], out),
        _mlp_epochs_figure(mlp, s, out),
    ]
    for m in mlp.values():
        m.pop("epochs_solved")
    parts = _parts(perceptron, grid, table, mlp)
    return {
        "design": [
            "The four points of AND, OR, NAND and XOR; a hard-threshold perceptron, the step "
            "network AND(OR, NAND) set by hand, and a 2-2-1 sigmoid network.",
            f"Perceptron: {s['epochs']} online epochs at lr {s['lr']:g} from {s['seeds']} starts "
            f"uniform in ±{s['scale']:g}, the same for every gate; backprop: {s['mlp_seeds']} "
            f"seeds, full batch, at most {s['mlp_epochs']} epochs.",
            "Nothing tuned; judged against the convergence theorem's mistake bound, a proof and a "
            "grid search (XOR), the truth table, and the Wilson interval of the solved fraction.",
        ],
        "perceptron": perceptron,
        "xor_derivation": XOR_DERIVATION,
        "grid_separating_lines": grid,
        "hand_built_xor": {
            "network": net.describe(),
            "params": jax.tree.map(lambda a: np.asarray(a).tolist(), params),
            "truth_table": table,
        },
        "backprop_xor": mlp,
        "parts": parts,
        "figures": figures,
        "headline": _headline(perceptron, mlp),
        "seeds": (
            f"{s['seeds']} perceptron starts, the same for every gate; backprop seeds 0-"
            f"{s['mlp_seeds'] - 1} (the XOR sweep's)"
        ),
        "verdict": _protocol.combine(parts),
    }


def _percent(fraction: float, interval) -> str:
    """A fraction as a percentage with its interval, rounded to the interval's width."""
    lo, hi = (100 * v for v in interval)
    d = _stats.decimals((hi - lo) / 2)
    return f"{100 * fraction:.{d}f}% [{lo:.{d}f}, {hi:.{d}f}]"


def _headline(perceptron, mlp) -> str:
    c = {
        g: f"{perceptron[g]['converged']['count']}/{perceptron[g]['converged']['of']}"
        for g in GATES
    }
    separable = (
        f"AND/OR/NAND {c['and']} each"
        if c["and"] == c["or"] == c["nand"]
        else f"AND {c['and']}, OR {c['or']}, NAND {c['nand']}"
    )
    b = mlp[JUDGED_NETWORK]
    return (
        f"perceptron converges: {separable}, XOR {c['xor']}; 2-2-1 backprop solves XOR "
        f"{b['solved']['count']}/{b['solved']['of']} = "
        f"{_percent(b['solved']['fraction'], b['wilson95'])}"
    )


def _line(ax, w0, w1, w2, **kw):
    xs = np.array([-3.0, 4.0])  # beyond any panel; the axes clip
    if abs(w2) > 1e-12:
        ax.plot(xs, -(w0 + w1 * xs) / w2, **kw)
    elif abs(w1) > 1e-12:
        ax.plot([-w0 / w1] * 2, xs, **kw)


def _crosses_panel(w0, w1, w2) -> bool:
    """Whether the line w0 + w1 x1 + w2 x2 = 0 passes through the PANEL square."""
    lo, hi = PANEL
    corners = w0 + np.array([[lo, lo], [lo, hi], [hi, lo], [hi, hi]]) @ np.array([w1, w2])
    return bool(corners.min() < 0 <= corners.max())


def _points(ax, gate, labels: bool = True):
    X, T = fn.data.logic_gate(gate)
    one, zero = X[T.ravel() == 1], X[T.ravel() == 0]
    ax.scatter(*one.T, marker="o", s=90, color="k", zorder=3, label="output 1" if labels else None)
    ax.scatter(
        *zero.T, marker="^", s=90, color="C3", zorder=3, label="output 0" if labels else None
    )
    ax.set(xlim=PANEL, ylim=PANEL, xlabel="x1", ylabel="x2", aspect="equal")
    ax.set_xticks([-0.5, 0, 0.5, 1, 1.5])
    ax.set_yticks([-0.5, 0, 0.5, 1, 1.5])


def _xor_panel(ax, lines, perceptron):
    """XOR: the distinct lines seed 0's perceptron ends its last epochs on (it cycles among a
    few); those crossing the panel drawn and in the legend, each with how many of those epochs
    ended on it and how many of the four points it gets wrong."""
    X, T = fn.data.logic_gate("xor")
    distinct, counts = np.unique(lines.round(6), axis=0, return_counts=True)
    drawn = 0
    for (w0, w1, w2), k in zip(distinct, counts):
        if not _crosses_panel(w0, w1, w2):
            continue
        wrong = int(np.sum((w0 + X @ np.array([w1, w2]) >= 0) != (T.ravel() == 1)))
        _line(
            ax,
            w0,
            w1,
            w2,
            color=f"C{drawn % 10}",
            lw=1.5,
            ls=("-", "--", "-.", ":")[drawn % 4],
            label=f"{k} epoch{'s' if k > 1 else ''}: {wrong} wrong",
        )
        drawn += 1
    off = len(distinct) - drawn
    c = perceptron["xor"]["converged"]
    ax.set_title(
        f"XOR, seed 0: the {len(distinct)} lines of its last {len(lines)} epochs"
        + (f"\n({off} outside the panel)" if off else "")
        + f"; {c['count']}/{c['of']} seeds converge",
        fontsize=9,
    )


def _gates_figure(finals, xor_lines, perceptron, out):
    """One panel per gate in the lecture's style, all on the same axes: the four points and, for
    AND/OR/NAND, the line seed 0 learned; for XOR the lines seed 0 cycles among in its last
    epochs, none separating."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(15, 5.6))
    for ax, gate in zip(axes, GATES):
        _points(ax, gate)
        if gate != "xor":
            p = finals[gate]
            _line(ax, p["b"], *p["w"], color="C0", label="seed 0's learned line")
            c = perceptron[gate]["converged"]
            ax.set_title(
                f"{gate.upper()}: seed 0's learned line;\n{c['count']}/{c['of']} seeds converge",
                fontsize=9,
            )
        else:
            _xor_panel(ax, xor_lines, perceptron)
        ax.legend(
            fontsize=8,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2 if gate == "xor" else 1,
        )
    fig.suptitle("The perceptron on the four gates, seed 0 (the same start for every gate)")
    return _plots.save_figure(fig, out, "logic_gates_lines.png")


def _epochs_figure(perceptron, s, out):
    """Left: how many seeds first finish an epoch without a mistake at each epoch (AND, OR,
    NAND side by side). Right: mistakes per epoch, the mean over the seeds for every gate with
    ± one sd shaded (AND thick beneath NAND, dashed: the two nearly coincide) and XOR's minimum,
    which never reaches 0."""
    from matplotlib.ticker import MaxNLocator

    plt = _plots.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    hists = {g: np.asarray(perceptron[g]["epochs_to_converge_histogram"]) for g in GATES[:3]}
    last = max(int(np.nonzero(h)[0].max()) + 1 for h in hists.values())
    x = np.arange(1, last + 1)
    for k, (gate, h) in enumerate(hists.items()):
        a1.bar(x + (k - 1) * 0.28, h[:last], width=0.28, label=gate.upper(), color=f"C{k}")
    a1.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.set(xlabel="first epoch with no mistake", ylabel="seeds", xlim=(0.4, last + 0.6))
    a1.set_title(f"Perceptron: epochs to converge ({s['seeds']} seeds per gate)", fontsize=10)
    a1.legend()
    epochs = np.arange(1, s["epochs"] + 1)
    for k, gate in enumerate(GATES):
        style = {"ls": ("-", "-", "--", "-")[k], "lw": (3.0, 1.5, 1.5, 1.5)[k]}
        mean = np.asarray(perceptron[gate]["mistakes_per_epoch_mean"])
        sd = np.asarray(perceptron[gate]["mistakes_per_epoch_std"])
        a2.plot(epochs, mean, color=f"C{k}", label=f"{gate.upper()}: mean ± sd", **style)
        a2.fill_between(epochs, mean - sd, mean + sd, color=f"C{k}", alpha=0.12, lw=0)
    a2.plot(
        epochs,
        perceptron["xor"]["mistakes_per_epoch_min"],
        color="C3",
        ls=":",
        lw=2,
        label="XOR: fewest of any seed",
    )
    _log_ticks(a2, 1, s["epochs"])
    a2.set(
        xlabel="epoch",
        ylabel="mistakes in the epoch (of 4)",
        ylim=(-0.1, 4.1),
        xlim=(1, s["epochs"]),
    )
    a2.set_title(f"Mistakes per epoch, {s['seeds']} seeds per gate", fontsize=10)
    a2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _plots.save_figure(fig, out, "logic_gates_epochs.png")


def _regions(ax, net, params, title):
    """The network's output over the input square as shading, its 0.5 contour, the hidden units'
    lines and the four XOR points; returns the shading (for a colour bar)."""
    g = np.linspace(-0.5, 1.5, 201)
    G1, G2 = np.meshgrid(g, g)
    a = _apply(net, params, np.stack([G1.ravel(), G2.ravel()], 1)).reshape(G1.shape)
    shading = ax.contourf(G1, G2, a, levels=np.linspace(0, 1, 11), cmap="coolwarm_r", alpha=0.6)
    ax.contour(G1, G2, a, levels=[0.5], colors="k", linewidths=1.5)
    ax.plot([], [], color="k", lw=1.5, label="output = 0.5")
    W, b = np.asarray(params[0]["W"]), np.asarray(params[0]["b"])
    for j in range(W.shape[1]):
        _line(ax, b[j], *W[:, j], color=f"C{j + 2}", ls="--", label=f"hidden unit {j + 1}: z = 0")
    _points(ax, "xor")
    ax.set_xticks([-0.5, 0, 0.5, 1, 1.5])
    ax.set_yticks([-0.5, 0, 0.5, 1, 1.5])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
    return shading


def _two_layer_figure(hand_params, trained_params, seed: int, out):
    """XOR solved by two layers: the hand-set step network and a trained sigmoid network (seed
    ``seed``), their output as shading with a colour bar."""
    plt = _plots.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 5.2))
    net_step, _ = hand_built_xor()
    _regions(
        a1,
        net_step,
        hand_params,
        "step units set by hand: AND(OR, NAND)\n(hidden lines = the 0.5 edge)",
    )
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    shading = _regions(
        a2,
        net,
        trained_params,
        f"2-2-1 sigmoid trained by backprop\n(seed {seed}, the first solved)",
    )
    fig.colorbar(
        shading, cax=a2.inset_axes([1.05, 0.0, 0.05, 1.0]), label="network output (blue 1, red 0)"
    )
    return _plots.save_figure(fig, out, "logic_gates_two_layers.png")


def _log_ticks(ax, lo, hi):
    """A log x axis from ``lo`` to ``hi`` labelled at 1, 2, 5 times powers of ten (at powers of
    ten alone where it spans more than three decades)."""
    steps = (1,) if hi / lo > 1000 else (1, 2, 5)
    ticks = [m * 10**k for k in range(7) for m in steps if lo <= m * 10**k <= hi]
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()


def _mlp_epochs_figure(mlp, s, out):
    """Left: histogram of the epoch at which each seed first solved XOR, per architecture, on log
    bins that start at the fastest seed. Right: the fraction of seeds solved by each epoch, the
    last part of the budget (where the plateau rule asks it to be level) shaded."""
    plt = _plots.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    epochs = s["mlp_epochs"]
    fastest = min(int(m["epochs_solved"][m["epochs_solved"] > 0].min()) for m in mlp.values())
    bins = np.logspace(np.log10(fastest), np.log10(epochs), 40)
    x = np.arange(1, epochs + 1)
    for k, (name, m) in enumerate(mlp.items()):
        e = m["epochs_solved"]
        c = m["solved"]
        label = f"{name}: {c['count']}/{c['of']} = {_percent(c['fraction'], m['wilson95'])}"
        a1.hist(e[e > 0], bins=bins, histtype="step", lw=1.5, color=f"C{k}", label=label)
        a2.plot(x, 1 - _xor.unsolved_curve(e, epochs), color=f"C{k}", lw=1.5, label=name)
    _log_ticks(a1, bins[0], bins[-1])
    a1.set(
        xlabel=f"epochs to solve (every output within 0.4; at most {epochs})",
        ylabel="seeds",
        xlim=(bins[0], bins[-1]),
    )
    a1.set_title(
        f"XOR by backprop: seeds 0-{s['mlp_seeds'] - 1} (lr 0.5, momentum 0.9, init ±0.5)",
        fontsize=10,
    )
    a1.legend(fontsize=8, title="solved, 95% Wilson interval", title_fontsize=8)
    window = s["plateau"]["window"]
    a2.axvspan(epochs * (1 - window), epochs, color="0.9", zorder=0)
    a2.set(xlim=(0, epochs), ylim=(0, 1), xlabel="epoch", ylabel="fraction of seeds solved")
    a2.set_title(f"Solved by each epoch (shaded: the last {window:.0%} of the budget)", fontsize=10)
    a2.legend(fontsize=8, loc="lower right")
    return _plots.save_figure(fig, out, "logic_gates_backprop_epochs.png")


def _g(v):
    return "-" if v is None else f"{v:g}"


def _perceptron_table(result) -> list[str]:
    lines = [
        "| gate | margin γ | seeds converged | epochs to converge: min / 25th percentile / "
        "median / 75th percentile / max | mistakes per seed: most | Novikoff bound: largest "
        "over these starts (over any start) | seeds within their bound "
        "| mistakes in the last epoch: mean (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for gate, r in result["perceptron"].items():
        c = r["converged"]
        spread = " / ".join(_g(c[k]) for k in ("min", "p25", "median", "p75", "max"))
        if r["margin"] > 0:
            bound = f"{r['bound_max']} ({r['bound_worst_start']})"
            within = f"{r['within_bound']}/{c['of']}"
        else:
            bound = within = "- (no line separates it)"
        lines.append(
            f"| {gate.upper()} | {r['margin']:.4g} | {c['count']}/{c['of']} | {spread} | "
            f"{r['mistakes_max']} | {bound} | {within} | "
            f"{r['mistakes_last_epoch_mean']:.2f} ({r['mistakes_last_epoch_min']}) |"
        )
    return lines


def _backprop_table(result) -> list[str]:
    lines = [
        "| network | seeds solved | solved, 95% Wilson interval | epochs to solve: 25th "
        "percentile / median / 75th percentile | solved fraction levelled off |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["backprop_xor"].items():
        c = m["solved"]
        p = m["solved_fraction_plateau"]
        level = f"yes, by epoch {p['epoch']}" if p["converged"] else "no, still rising"
        lines.append(
            f"| {name}{'' if name == JUDGED_NETWORK else ' (reported, not judged)'} | "
            f"{c['count']}/{c['of']} | {_percent(c['fraction'], m['wilson95'])} | "
            f"{_g(c['p25'])} / {_g(c['median'])} / {_g(c['p75'])} | {level} |"
        )
    return lines


def _reasoning(result) -> str:
    """The verdict's reasons in two sentences, from the measured numbers."""
    p = result["perceptron"]
    b = result["backprop_xor"][JUDGED_NETWORK]
    parts = "; ".join(f"{k} {v}" for k, v in result["parts"].items())
    within = ", ".join(
        f"{g.upper()} {p[g]['within_bound']}/{p[g]['converged']['of']} within their bound"
        for g in SEPARABLE
    )
    return (
        f"Verdict parts: {parts}. Separable gates: {within}, most mistakes "
        f"{max(p[g]['mistakes_max'] for g in SEPARABLE)}, latest first clean epoch "
        f"{max(p[g]['converged']['max'] or 0 for g in SEPARABLE)} of {result['settings']['epochs']}; "
        f"XOR: {p['xor']['converged']['count']} of {p['xor']['converged']['of']} starts converge; "
        f"backprop solves XOR from {_percent(b['solved']['fraction'], b['wilson95'])} of the "
        "seeds, against the criterion's 50%."
    )


def report(result):
    s = result["settings"]
    grid = result["grid_separating_lines"]
    b = result["backprop_xor"][JUDGED_NETWORK]
    return [
        *(f"- {line}" for line in result["design"]),
        "",
        f"Perceptron (hard threshold, perceptron rule, lr {s['lr']:g}, init uniform "
        f"±{s['scale']:g}, {s['epochs']} online epochs in random order), per gate, over the same "
        f"{s['seeds']} starts; the Novikoff bound is each start's largest possible number of "
        "mistakes (module docstring):",
        "",
        *_perceptron_table(result),
        "",
        *XOR_DERIVATION,
        "",
        f"Brute check over a {s['grid_points']}^3 grid of (w0, w1, w2) in "
        f"[-{s['grid_range']}, {s['grid_range']}]^3: separating lines found per gate: "
        + ", ".join(f"{g.upper()} {n}" for g, n in grid.items())
        + ".",
        "",
        f"Two layers by hand ({result['hand_built_xor']['network']}), AND(OR, NAND): outputs for "
        f"00, 01, 10, 11 = {result['hand_built_xor']['truth_table']}.",
        "",
        "Trained by backprop (half_sse, full batch, lr 0.5, momentum 0.9, init uniform ±0.5, at "
        f"most {s['mlp_epochs']} epochs; solved = every output within 0.4), seeds 0-"
        f"{s['mlp_seeds'] - 1}:",
        "",
        *_backprop_table(result),
        "",
        "The 2-2-1 runs are the XOR sweep's cell 'init ±0.5, SGD lr 0.5 + momentum 0.9': the "
        "same configuration, budget, tolerance and seed keys (seed i's key is fold_in(key(0), "
        "i)), so with as many seeds both sections count the same solved seeds, and with "
        "different numbers of seeds they differ only by sampling.",
        "",
        "Convergence of the solved fraction: "
        + b["solved_fraction_plateau"]["rule"].replace(
            "the training loss", "the fraction of seeds not yet solved"
        )
        + ".",
        "",
        _reasoning(result),
    ]


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
