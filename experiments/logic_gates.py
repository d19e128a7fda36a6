"""The hard-threshold perceptron y = 1 if w0 + w1 x1 + w2 x2 >= 0 learns AND, OR and NAND and fails
XOR, which no line separates; two layers solve XOR, first as perceptrons combined by hand, then as
a 2-2-1 sigmoid network trained by backprop. Every seed trains at once under ``jax.vmap``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness, _xor

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
    "mlp_seeds": 4096,
    "mlp_epochs": 10_000,
}
FULL = {**QUICK, "seeds": 100_000, "grid_points": 401, "mlp_seeds": 16_384}

GATES = ("and", "or", "nand", "xor")
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


def _train_perceptrons(gate, s):
    X, T = (jnp.asarray(a) for a in fn.data.logic_gate(gate))

    def one(key):
        k_init, k_order = jax.random.split(key)
        p = fn.perceptron.init(k_init, 2, s["scale"])
        return fn.perceptron.fit(p, X, T, lr=s["lr"], epochs=s["epochs"], key=k_order)

    keys = jax.random.split(jax.random.key(0), s["seeds"])
    p, mistakes, first = jax.jit(jax.vmap(one))(keys)
    return jax.tree.map(np.asarray, p), np.asarray(mistakes), np.asarray(first)


def _lines_per_epoch(gate, s, n_seeds=3, last=20):
    """The perceptron's parameters after each epoch, for a few seeds (to show XOR cycling)."""
    X, T = (jnp.asarray(a) for a in fn.data.logic_gate(gate))

    def one(key):
        k_init, k_order = jax.random.split(key)

        def epoch(p, k):
            p, _, _ = fn.perceptron.fit(p, X, T, lr=s["lr"], epochs=1, key=k)
            return p, p

        keys = jax.random.split(k_order, s["epochs"])
        _, ps = jax.lax.scan(epoch, fn.perceptron.init(k_init, 2, s["scale"]), keys)
        return jax.tree.map(lambda a: a[-last:], ps)

    keys = jax.random.split(jax.random.key(0), s["seeds"])[:n_seeds]
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(one))(keys))


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

    counts = jax.jit(lambda w: jax.lax.map(per_w0, w))(w).sum(0)
    return {g: int(c) for g, c in zip(GATES, counts)}


def _summary(e):
    """Fraction of seeds with e > 0 and the quantiles of e over them (None where none)."""
    solved = e[e > 0]
    q = np.percentile(solved, [0, 25, 50, 75, 100]).tolist() if solved.size else [None] * 5
    return {
        "fraction": float(np.mean(e > 0)),
        **dict(zip(("min", "q25", "median", "q75", "max"), q)),
    }


def run(settings, out):
    s = settings
    perceptron = {}
    finals = {}
    for gate in GATES:
        p, mistakes, first = _train_perceptrons(gate, s)
        X, T = fn.data.logic_gate(gate)
        preds = np.asarray(jax.vmap(lambda q, X=X: fn.perceptron.predict(q, X))(p))
        counts = np.bincount(first[first > 0], minlength=s["epochs"] + 1)[1:]
        perceptron[gate] = {
            "converged": _summary(first),
            "epochs_to_converge_histogram": counts.tolist(),
            "final_table_correct_fraction": float(np.mean(np.all(preds == T.ravel(), axis=1))),
            "mistakes_last_epoch_min": int(mistakes[:, -1].min()),
            "mistakes_last_epoch_mean": float(mistakes[:, -1].mean()),
        }
        finals[gate] = jax.tree.map(lambda a: a[0], p)
    grid = brute_force_lines(s["grid_points"], s["grid_range"])

    net, params = hand_built_xor()
    X, T = fn.data.logic_gate("xor")
    table = np.asarray(net.apply(params, X)).ravel()

    mlp = {}
    trained = {}
    for sizes in ((2, 2, 1), (2, 2, 2, 1)):
        name = "-".join(map(str, sizes))
        keys = jax.random.split(jax.random.key(1), s["mlp_seeds"])
        r = jax.jit(
            jax.vmap(lambda k, sizes=sizes: _xor.train(k, sizes=sizes, epochs=s["mlp_epochs"]))
        )(keys)
        e = np.asarray(r["epoch_solved"])
        mlp[name] = {
            "solved": _summary(e),
            "still_solved_at_end": float(np.mean(np.asarray(r["max_error"])[e > 0] < 0.4)),
            "epochs_solved": e,
        }
        first_solved = int(np.argmax(e > 0))
        trained[name] = jax.tree.map(lambda a, i=first_solved: np.asarray(a[i]), r["params"])

    figures = [
        _gates_figure(finals, _lines_per_epoch("xor", s), out),
        _epochs_figure(perceptron, out),
        _two_layer_figure(params, trained["2-2-1"], out),
        _mlp_epochs_figure(mlp, s, out),
    ]
    for m in mlp.values():
        m.pop("epochs_solved")
    holds = (
        all(perceptron[g]["converged"]["fraction"] == 1.0 for g in ("and", "or", "nand"))
        and perceptron["xor"]["converged"]["fraction"] == 0.0
        and grid["xor"] == 0
        and min(grid[g] for g in ("and", "or", "nand")) > 0
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
        "verdict": "holds" if holds else "fails",
    }


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


def _gates_figure(finals, xor_lines, out):
    """One panel per gate in the lecture's style: the four points and, for AND/OR/NAND, the
    line learned by seed 0; for XOR the distinct lines a few seeds cycle through, none separating."""
    plt = _harness.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    for ax, gate in zip(axes, GATES):
        _points(ax, gate)
        if gate != "xor":
            p = finals[gate]
            _line(ax, p["b"], *p["w"], color="C0", label="learned line")
            ax.set_title(f"{gate.upper()}: learned, seed 0")
        else:
            n_seeds, n = xor_lines["b"].shape
            distinct = 0
            for i in range(n_seeds):
                lines = np.unique(
                    np.column_stack([xor_lines["b"][i], xor_lines["w"][i]]).round(6), axis=0
                )
                distinct += len(lines)
                for j, (w0, w1, w2) in enumerate(lines):
                    _line(
                        ax, w0, w1, w2, color=f"C{i}", lw=1, label=f"seed {i}" if j == 0 else None
                    )
            ax.set(xlim=(-1.5, 2.5), ylim=(-1.5, 2.5))
            ax.set_title(
                f"XOR: {n_seeds} seeds' {distinct} distinct lines\nafter their last {n} epochs: "
                "none settles",
                fontsize=8,
            )
        ax.legend(fontsize=7, loc="upper right")
    return _harness.save_figure(fig, out, "logic_gates_lines.png")


def _epochs_figure(perceptron, out):
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for gate in ("and", "or", "nand"):
        h = np.asarray(perceptron[gate]["epochs_to_converge_histogram"])
        last = max(np.nonzero(h)[0].max() + 2, 5)
        ax.step(np.arange(1, last + 1), h[:last], where="mid", label=gate.upper())
    ax.set(
        xlabel="first epoch with no mistake", ylabel="seeds", title="Perceptron: epochs to converge"
    )
    ax.legend()
    return _harness.save_figure(fig, out, "logic_gates_epochs.png")


def _regions(ax, net, params, title):
    g = np.linspace(-0.5, 1.5, 201)
    G1, G2 = np.meshgrid(g, g)
    a = np.asarray(net.apply(params, np.stack([G1.ravel(), G2.ravel()], 1))).reshape(G1.shape)
    ax.contourf(G1, G2, a, levels=np.linspace(0, 1, 11), cmap="coolwarm_r", alpha=0.6)
    ax.contour(G1, G2, a, levels=[0.5], colors="k", linewidths=1.5)
    W, b = np.asarray(params[0]["W"]), np.asarray(params[0]["b"])
    for j in range(W.shape[1]):
        _line(ax, b[j], *W[:, j], color=f"C{j + 2}", ls="--", label=f"hidden unit {j + 1}: z = 0")
    _points(ax, "xor")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def _two_layer_figure(hand_params, trained_params, out):
    plt = _harness.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    net_step, _ = hand_built_xor()
    _regions(axes[0], net_step, hand_params, "step units set by hand: AND(OR, NAND)")
    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    _regions(axes[1], net, trained_params, "2-2-1 sigmoid trained by backprop (output 0.5: black)")
    return _harness.save_figure(fig, out, "logic_gates_two_layers.png")


def _mlp_epochs_figure(mlp, s, out):
    plt = _harness.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.logspace(1, np.log10(s["mlp_epochs"]), 40)
    for name, m in mlp.items():
        e = m["epochs_solved"]
        ax.hist(e[e > 0], bins=bins, histtype="step", label=f"{name}: {np.mean(e > 0):.1%} solved")
    ax.set(
        xscale="log",
        xlabel="epochs to solve (every output within 0.4)",
        ylabel="seeds",
        title=f"XOR by backprop, {s['mlp_seeds']} seeds",
    )
    ax.legend()
    return _harness.save_figure(fig, out, "logic_gates_backprop_epochs.png")


def _g(v):
    return "-" if v is None else f"{v:g}"


def report(result):
    lines = [
        "Perceptron (hard threshold, perceptron rule, online epochs in random order), per gate:",
        "",
        "| gate | converged | epochs to converge: min / q25 / median / q75 / max | "
        "mistakes in the last epoch (mean) |",
        "|---|---|---|---|---|",
    ]
    for gate, r in result["perceptron"].items():
        c = r["converged"]
        spread = " / ".join(_g(c[k]) for k in ("min", "q25", "median", "q75", "max"))
        lines.append(
            f"| {gate.upper()} | {c['fraction']:.2%} | {spread} | {r['mistakes_last_epoch_mean']:.2f} |"
        )
    grid = result["grid_separating_lines"]
    lines += [
        "",
        *XOR_DERIVATION,
        "",
        f"Brute check over a {result['settings']['grid_points']}^3 grid of (w0, w1, w2) in "
        f"[-{result['settings']['grid_range']}, {result['settings']['grid_range']}]^3: "
        "separating lines found per gate: "
        + ", ".join(f"{g.upper()} {n}" for g, n in grid.items())
        + ".",
        "",
        f"Two layers by hand ({result['hand_built_xor']['network']}), AND(OR, NAND): outputs for "
        f"00, 01, 10, 11 = {result['hand_built_xor']['truth_table']}.",
        "",
        "Trained by backprop (half_sse, full batch, lr 0.5, momentum 0.9, init uniform ±0.5, at "
        "most the set number of epochs; solved = every output within 0.4):",
        "",
        "| network | solved | epochs to solve: q25 / median / q75 |",
        "|---|---|---|",
    ]
    for name, m in result["backprop_xor"].items():
        c = m["solved"]
        lines.append(
            f"| {name} | {c['fraction']:.2%} | {_g(c['q25'])} / {_g(c['median'])} / {_g(c['q75'])} |"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
