"""The hard-threshold perceptron y = 1 if w0 + w1 x1 + w2 x2 >= 0 learns AND, OR and NAND and fails
XOR, which no line separates; two layers solve XOR, first as perceptrons combined by hand, then as
a 2-2-1 sigmoid network trained by backprop.

Every seed trains at once under ``jax.vmap``, in chunks of a fixed size (one compiled program
per kind of training, called chunk after chunk, so that a progress bar moves); the four gates'
perceptrons are one program, vmapped over the gates' targets. The small perceptron and grid
programs are compiled at XLA's lowest backend optimisation level: compiling is most of their cost.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _plots, _stats, _xor

CLAIM = (
    "A single perceptron learns the linearly separable gates AND, OR and NAND from every start, and "
    "XOR from none, because no line separates XOR's classes; two layers solve XOR, both as "
    "perceptrons combined by hand and as a sigmoid network trained by backprop."
)
QUICK = {
    "seeds": 4096,
    "epochs": 100,
    "lr": 0.1,
    "scale": 0.5,
    "grid_points": 161,
    "grid_range": 2.0,
    "mlp_seeds": 1024,
    "mlp_epochs": 10_000,
    "mlp_sizes": [[2, 2, 1]],
}
FULL = {
    **QUICK,
    "seeds": 100_000,
    "grid_points": 401,
    "mlp_seeds": 16_384,
    "mlp_sizes": [[2, 2, 1], [2, 2, 2, 1]],
}

GATES = ("and", "or", "nand", "xor")
PERCEPTRON_CHUNK = 4096  # seeds per call of the perceptron program
MLP_CHUNK = 1024  # seeds per call of a backprop program
SMALL_PROGRAM = {"xla_backend_optimization_level": 0}
XOR_LAST_EPOCHS = 20  # the XOR panel shows the lines a perceptron ends its last epochs on
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
    ``(params, mistakes, first)`` with a leading gate axis (in the order of GATES), then seeds;
    ``mistakes`` per epoch, ``first`` the first epoch without a mistake (1-based) or -1."""
    X = jnp.asarray(fn.data.logic_gate("and")[0])
    targets = jnp.asarray(np.stack([fn.data.GATES[g] for g in GATES]))  # (gates, 4)

    def one(key, T):
        k_init, k_order = jax.random.split(key)
        p = fn.perceptron.init(k_init, 2, s["scale"])
        return fn.perceptron.fit(p, X, T, lr=s["lr"], epochs=s["epochs"], key=k_order)

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
    """One XOR perceptron (from seed 0's initial weights), trained epoch by epoch with its own
    random orders: ``(w0, w1, w2)`` after each of its ``last`` epochs, as an array (last, 3)."""
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
    """Count and fraction of seeds with e > 0 and the quantiles of e over them (None where
    none)."""
    solved = e[e > 0]
    q = np.percentile(solved, [0, 25, 50, 75, 100]).tolist() if solved.size else [None] * 5
    return {
        "count": int(solved.size),
        "of": int(e.size),
        "fraction": float(np.mean(e > 0)),
        **dict(zip(("min", "q25", "median", "q75", "max"), q)),
    }


def _perceptron_results(s, bar):
    """Per gate: convergence over the seeds, its histogram over epochs, how many seeds end with
    the whole truth table right, and the mistakes per epoch (mean and min over seeds); also the
    line seed 0 learned per gate."""
    p, mistakes, first = _train_perceptrons(s, bar)
    X = np.asarray(fn.data.logic_gate("and")[0])
    perceptron, finals = {}, {}
    for i, gate in enumerate(GATES):
        T = fn.data.GATES[gate]
        # the perceptron's output step(b + X w), with step(0) = 1 as in fnnet.activations.step
        preds = (X @ p["w"][i].T + p["b"][i] >= 0).astype(T.dtype).T  # (seeds, 4)
        f = first[i]
        perceptron[gate] = {
            "converged": _summary(f),
            "epochs_to_converge_histogram": np.bincount(f[f > 0], minlength=s["epochs"] + 1)[
                1:
            ].tolist(),
            "final_table_correct_fraction": float(np.mean(np.all(preds == T, axis=1))),
            "mistakes_last_epoch_min": int(mistakes[i][:, -1].min()),
            "mistakes_last_epoch_mean": float(mistakes[i][:, -1].mean()),
            "mistakes_per_epoch_mean": mistakes[i].mean(0).tolist(),
            "mistakes_per_epoch_min": mistakes[i].min(0).tolist(),
        }
        finals[gate] = {"w": p["w"][i][0], "b": p["b"][i][0]}
    return perceptron, finals


def _backprop_results(s, bar):
    """Per architecture in ``s["mlp_sizes"]``: the XOR runs of :func:`experiments._xor.train`
    over ``s["mlp_seeds"]`` seeds (keys split from key 1): solved counts and epochs, and the
    parameters of the first seed that solved it."""
    mlp, trained = {}, {}
    keys = jax.random.split(jax.random.key(1), s["mlp_seeds"])
    for sizes in map(tuple, s["mlp_sizes"]):
        name = "-".join(map(str, sizes))
        program = jax.jit(
            jax.vmap(lambda k, sizes=sizes: _xor.train(k, sizes=sizes, epochs=s["mlp_epochs"]))
        )
        r = _chunked(program, keys, MLP_CHUNK, bar)
        e = r["epoch_solved"]
        mlp[name] = {
            "solved": _summary(e),
            "wilson95": list(_stats.wilson(int(np.sum(e > 0)), e.size)),
            "still_solved_at_end": float(np.mean(r["max_error"][e > 0] < 0.4)),
            "epochs_solved": e,
        }
        first_solved = int(np.argmax(e > 0))
        trained[name] = jax.tree.map(lambda a, i=first_solved: a[i], r["params"])
    return mlp, trained


def run(settings, out):
    s = settings
    n_seeds = s["seeds"] + s["mlp_seeds"] * len(s["mlp_sizes"])
    with _harness.progress(desc="logic_gates: seeds", total=n_seeds, unit="seed") as bar:
        perceptron, finals = _perceptron_results(s, bar)
        grid = brute_force_lines(s["grid_points"], s["grid_range"])
        mlp, trained = _backprop_results(s, bar)
    net, params = hand_built_xor()
    X, _ = fn.data.logic_gate("xor")
    table = _apply(net, params, X).ravel()
    figures = [
        _gates_figure(finals, _xor_lines(s), perceptron, out),
        _epochs_figure(perceptron, s, out),
        _two_layer_figure(params, trained["2-2-1"], out),
        _mlp_epochs_figure(mlp, s, out),
    ]
    for m in mlp.values():
        m.pop("epochs_solved")
    separable = ("and", "or", "nand")
    holds = (
        all(perceptron[g]["converged"]["fraction"] == 1.0 for g in separable)
        and perceptron["xor"]["converged"]["fraction"] == 0.0
        and grid["xor"] == 0
        and min(grid[g] for g in separable) > 0
        and table.tolist() == [0.0, 1.0, 1.0, 0.0]
        and mlp["2-2-1"]["solved"]["fraction"] > 0.5
    )
    return {
        "perceptron": perceptron,
        "xor_derivation": XOR_DERIVATION,
        "grid_separating_lines": grid,
        "hand_built_xor": {
            "network": net.describe(),
            "params": jax.tree.map(lambda a: np.asarray(a).tolist(), params),
            "truth_table": table.tolist(),
        },
        "backprop_xor": mlp,
        "figures": figures,
        "headline": _headline(perceptron, mlp),
        "seeds": f"{s['seeds']} perceptron seeds per gate, {s['mlp_seeds']} backprop seeds",
        "verdict": "holds" if holds else "fails",
    }


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
    b = mlp["2-2-1"]["solved"]
    return (
        f"perceptron converges: {separable}, XOR {c['xor']}; "
        f"2-2-1 backprop solves XOR {b['count']}/{b['of']}"
    )


def _line(ax, w0, w1, w2, **kw):
    xs = np.array([-3.0, 4.0])  # beyond any panel; the axes clip
    if abs(w2) > 1e-12:
        ax.plot(xs, -(w0 + w1 * xs) / w2, **kw)
    elif abs(w1) > 1e-12:
        ax.plot([-w0 / w1] * 2, xs, **kw)


def _points(ax, gate):
    X, T = fn.data.logic_gate(gate)
    one, zero = X[T.ravel() == 1], X[T.ravel() == 0]
    ax.scatter(*one.T, marker="o", s=90, color="k", zorder=3, label="output 1")
    ax.scatter(*zero.T, marker="^", s=90, color="C3", zorder=3, label="output 0")
    ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xlabel="x1", ylabel="x2", aspect="equal")


def _xor_panel(ax, lines, perceptron):
    """XOR: the distinct lines one perceptron ends its last epochs on (it cycles among a few),
    each labelled with how many of those epochs ended on it and how many of the four points it
    gets wrong."""
    X, T = fn.data.logic_gate("xor")
    lo, hi = -1.0, 2.0  # the panel's range in x1 and x2
    distinct, counts = np.unique(lines.round(6), axis=0, return_counts=True)
    for j, ((w0, w1, w2), k) in enumerate(zip(distinct, counts)):
        wrong = int(np.sum((w0 + X @ np.array([w1, w2]) >= 0) != (T.ravel() == 1)))
        corners = w0 + np.array([[lo, lo], [lo, hi], [hi, lo], [hi, hi]]) @ np.array([w1, w2])
        off = bool(np.all(corners >= 0) or np.all(corners < 0))
        _line(
            ax,
            w0,
            w1,
            w2,
            color=f"C{j % 10}",
            lw=1.5,
            ls=("-", "--", "-.", ":")[j % 4],
            label=f"{k} epoch{'s' if k > 1 else ''}: {wrong} wrong"
            + (" (off the panel)" if off else ""),
        )
    ax.set(xlim=(lo, hi), ylim=(lo, hi))
    c = perceptron["xor"]["converged"]
    ax.set_title(
        f"XOR: the {len(distinct)} lines one perceptron ends\nits last {len(lines)} epochs on; "
        f"{c['count']}/{c['of']} seeds converge",
        fontsize=10,
    )


def _gates_figure(finals, xor_lines, perceptron, out):
    """One panel per gate in the lecture's style: the four points and, for AND/OR/NAND, the
    line learned by seed 0; for XOR the lines one perceptron cycles among in its last epochs,
    none separating."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.2))
    for ax, gate in zip(axes, GATES):
        _points(ax, gate)
        if gate != "xor":
            p = finals[gate]
            _line(ax, p["b"], *p["w"], color="C0", label="learned line")
            ax.set_title(f"{gate.upper()}: learned, seed 0")
            ax.legend(fontsize=7, loc="upper right")
        else:
            _xor_panel(ax, xor_lines, perceptron)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _plots.save_figure(fig, out, "logic_gates_lines.png")


def _epochs_figure(perceptron, s, out):
    """Left: how many seeds first finish an epoch without a mistake at each epoch (AND, OR,
    NAND side by side). Right: mistakes per epoch, the mean over the seeds for every gate (AND
    thick beneath NAND, dashed: the two nearly coincide) and XOR's minimum, which never reaches
    0."""
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
        mean = perceptron[gate]["mistakes_per_epoch_mean"]
        a2.plot(epochs, mean, color=f"C{k}", label=f"{gate.upper()}: mean", **style)
    a2.plot(
        epochs,
        perceptron["xor"]["mistakes_per_epoch_min"],
        color="C3",
        ls=":",
        lw=2,
        label="XOR: fewest of any seed",
    )
    a2.set_xscale("log")
    a2.set_xticks([1, 2, 5, 10, 20, 50, 100], ["1", "2", "5", "10", "20", "50", "100"])
    a2.minorticks_off()
    a2.set(xlabel="epoch", ylabel="mistakes in the epoch (of 4)", ylim=(-0.1, 4.1))
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


def _two_layer_figure(hand_params, trained_params, out):
    """XOR solved by two layers: the hand-set step network and a trained sigmoid network, their
    output as shading with a colour bar."""
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
    shading = _regions(a2, net, trained_params, "2-2-1 sigmoid trained by backprop")
    fig.colorbar(
        shading, cax=a2.inset_axes([1.05, 0.0, 0.05, 1.0]), label="network output (blue 1, red 0)"
    )
    return _plots.save_figure(fig, out, "logic_gates_two_layers.png")


def _mlp_epochs_figure(mlp, s, out):
    """Histogram of the epoch at which each seed first solved XOR, per architecture, on log bins
    that start at the fastest seed."""
    plt = _plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    fastest = min(int(m["epochs_solved"][m["epochs_solved"] > 0].min()) for m in mlp.values())
    bins = np.logspace(np.log10(fastest), np.log10(s["mlp_epochs"]), 40)
    for name, m in mlp.items():
        e = m["epochs_solved"]
        c = m["solved"]
        ax.hist(
            e[e > 0],
            bins=bins,
            histtype="step",
            lw=1.5,
            label=f"{name}: {c['count']}/{c['of']} solved ({c['fraction']:.1%})",
        )
    ticks = [
        t
        for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
        if bins[0] <= t <= bins[-1]
    ]
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set(
        xlabel=f"epochs to solve (every output within 0.4; at most {s['mlp_epochs']})",
        ylabel="seeds",
        xlim=(bins[0], bins[-1]),
    )
    ax.set_title(
        f"XOR by backprop, {s['mlp_seeds']} seeds (lr 0.5, momentum 0.9, init ±0.5)", fontsize=10
    )
    ax.legend()
    return _plots.save_figure(fig, out, "logic_gates_backprop_epochs.png")


def _g(v):
    return "-" if v is None else f"{v:g}"


def _perceptron_table(result) -> list[str]:
    lines = [
        "| gate | seeds converged | epochs to converge: min / q25 / median / q75 / max "
        "| mistakes in the last epoch: mean (min) |",
        "|---|---|---|---|",
    ]
    for gate, r in result["perceptron"].items():
        c = r["converged"]
        spread = " / ".join(_g(c[k]) for k in ("min", "q25", "median", "q75", "max"))
        lines.append(
            f"| {gate.upper()} | {c['count']}/{c['of']} | {spread} | "
            f"{r['mistakes_last_epoch_mean']:.2f} ({r['mistakes_last_epoch_min']}) |"
        )
    return lines


def _backprop_table(result) -> list[str]:
    lines = [
        "| network | seeds solved | 95% Wilson interval | epochs to solve: q25 / median / q75 |",
        "|---|---|---|---|",
    ]
    for name, m in result["backprop_xor"].items():
        c = m["solved"]
        lo, hi = m["wilson95"]
        lines.append(
            f"| {name} | {c['count']}/{c['of']} ({c['fraction']:.1%}) | [{lo:.1%}, {hi:.1%}] | "
            f"{_g(c['q25'])} / {_g(c['median'])} / {_g(c['q75'])} |"
        )
    return lines


def report(result):
    s = result["settings"]
    grid = result["grid_separating_lines"]
    return [
        f"Perceptron (hard threshold, perceptron rule, lr {s['lr']:g}, init uniform "
        f"±{s['scale']:g}, {s['epochs']} online epochs in random order), per gate, over the same "
        f"{s['seeds']} seeds:",
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
        f"most {s['mlp_epochs']} epochs; solved = every output within 0.4), "
        f"{s['mlp_seeds']} seeds:",
        "",
        *_backprop_table(result),
    ]


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
