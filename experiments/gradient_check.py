"""Hand-derived backprop against jax.grad and central differences: the lecture's chain rule
∂L/∂θ = ∂L/∂a · ∂a/∂z · ∂z/∂θ, checked on its 2-2-1 sigmoid/MSE network and deeper random ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet as fn
from experiments import _harness

CLAIM = (
    "Backprop by the chain rule (∂L/∂a = -2(y - a), ∂a/∂z = σ(z)(1 - σ(z)), ∂z/∂θ = x) gives "
    "the exact gradient: equal to jax.grad to float precision and to central differences."
)
QUICK = {"n_random": 6, "seed": 0}
FULL = {"n_random": 200, "seed": 0}


def _max_rel(a, b):
    return float(max(jax.tree.leaves(fn.backprop.relative_error(a, b))))


def _case(key, sizes, hidden, output, loss, batch, dtype):
    net = fn.MLP(sizes, hidden=hidden, output=output)
    kp, kx, kt = jax.random.split(key, 3)
    params = net.init(kp, "normal", 1.0, dtype=dtype)
    X = jax.random.normal(kx, (batch, sizes[0]), dtype)
    if loss == "softmax_cross_entropy":
        T = jax.random.randint(kt, (batch,), 0, sizes[-1])
    else:
        T = jax.random.uniform(kt, (batch, sizes[-1]), dtype)
    f = lambda p: fn.losses.get(loss)(net.apply(p, X), T)  # noqa: E731
    hand = jax.jit(lambda p: fn.backprop.grad(net, p, X, T, loss))(params)
    ref = jax.jit(jax.grad(f))(params)
    row = {"vs_jax_grad": _max_rel(hand, ref)}
    if dtype == jnp.float64 and hidden != "relu":
        row["vs_central_diff"] = _max_rel(hand, fn.backprop.numerical_grad(f, params))
    return row


def run(settings, out):
    rng = np.random.default_rng(settings["seed"])
    key = jax.random.key(settings["seed"])
    cases = [((2, 2, 1), "sigmoid", "sigmoid", "mse", 4)]  # the lecture's network on XOR-sized data
    for _ in range(settings["n_random"]):
        depth = int(rng.integers(1, 6))
        loss = str(rng.choice(fn.losses.names()))
        cases.append(
            (
                tuple(int(s) for s in rng.integers(1, 17, size=depth + 1)),
                str(rng.choice(["identity", "sigmoid", "tanh", "relu"])),
                "identity" if loss == "softmax_cross_entropy" else "sigmoid",
                loss,
                int(rng.integers(1, 65)),
            )
        )
    rows = []
    with jax.enable_x64(True):
        for i, (sizes, hidden, output, loss, batch) in enumerate(cases):
            for dtype in (jnp.float32, jnp.float64):
                r = _case(jax.random.fold_in(key, i), sizes, hidden, output, loss, batch, dtype)
                rows.append(
                    {
                        "sizes": sizes,
                        "hidden": hidden,
                        "output": output,
                        "loss": loss,
                        "batch": batch,
                        "dtype": jnp.dtype(dtype).name,
                        **r,
                    }
                )
    summary = {}
    for dt in ("float32", "float64"):
        sel = [r for r in rows if r["dtype"] == dt]
        summary[dt] = {
            "max_rel_vs_jax_grad": max(r["vs_jax_grad"] for r in sel),
            "lecture_2_2_1_vs_jax_grad": sel[0]["vs_jax_grad"],
        }
        cd = [r["vs_central_diff"] for r in sel if "vs_central_diff" in r]
        if cd:
            summary[dt]["max_rel_vs_central_diff"] = max(cd)
    figures = [_figure(rows, out)]
    return {
        "summary": summary,
        "cases": rows,
        "figures": figures,
        "verdict": "holds"
        if summary["float64"]["max_rel_vs_jax_grad"] < 1e-10
        and summary["float32"]["max_rel_vs_jax_grad"] < 1e-5
        else "fails",
    }


def _figure(rows, out):
    plt = _harness.pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for dt, marker in (("float32", "o"), ("float64", "s")):
        errs = [max(r["vs_jax_grad"], 1e-18) for r in rows if r["dtype"] == dt]
        ax.scatter(range(len(errs)), errs, marker=marker, label=dt, s=18)
    ax.set_yscale("log")
    ax.set_xlabel("case (0 = the lecture's 2-2-1 sigmoid/MSE network)")
    ax.set_ylabel("max relative error vs jax.grad")
    ax.legend()
    ax.set_title("hand-derived backprop vs jax.grad")
    return _harness.save_figure(fig, out, "gradient_check.png")


def report(result):
    s = result["summary"]
    lines = [
        "| dtype | max rel. error vs jax.grad | 2-2-1 net | vs central differences |",
        "|---|---|---|---|",
    ]
    for dt in ("float32", "float64"):
        cd = s[dt].get("max_rel_vs_central_diff")
        lines.append(
            f"| {dt} | {s[dt]['max_rel_vs_jax_grad']:.2e} | "
            f"{s[dt]['lecture_2_2_1_vs_jax_grad']:.2e} | "
            f"{'-' if cd is None else f'{cd:.2e}'} |"
        )
    lines.append(
        f"\n{len(result['cases'])} cases (architectures of depth 1-5, widths 1-16, "
        "every activation and loss, batch 1-64, each in float32 and float64)."
    )
    return lines


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
