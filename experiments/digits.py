"""A 64-100-10 ReLU MLP with softmax cross-entropy, trained by minibatch learning (fit) on
scikit-learn's bundled 8x8 digits: the lecture's four steps on real data.

All seeds train at once (vmapped) in one program, compiled at XLA's backend optimisation level 1:
for this small network that halves the compile time, which is most of the run, for a slightly
slower program; the arithmetic is the same.
"""

from __future__ import annotations

import jax
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _seeds

CLAIM = (
    "Minibatch learning (draw a minibatch, compute gradients, update, repeat) trains a "
    "1-hidden-layer network to high accuracy on handwritten digits."
)
QUICK = {"epochs": 100, "batch_size": 100, "learning_rate": 1e-3, "seeds": 5}
FULL = {"epochs": 200, "batch_size": 100, "learning_rate": 1e-3, "seeds": 10}
THRESHOLD = 0.97  # the claim's "high accuracy": every seed's final test accuracy at least this
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def _train(settings, net, train_data, test_data) -> dict:
    """The per-epoch history of every seed (``settings["seeds"]`` keys split from key 0), as
    NumPy arrays with a leading seed axis."""
    train = _seeds.fit_seeds(
        net,
        optax.adam(settings["learning_rate"]),
        train_data,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        loss="softmax_cross_entropy",
        eval_data=test_data,
    )
    keys = jax.random.split(jax.random.key(0), settings["seeds"])
    with _harness.progress(desc="digits: train all seeds", total=1, unit="program") as bar:
        hist = jax.jit(train, compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS))(keys)
        hist = jax.tree.map(np.asarray, hist)
        bar.update(1)
    return hist


def run(settings, out):
    (X, y), (Xt, yt) = fn.data.digits()
    net = fn.MLP((64, 100, 10), hidden="relu", output="identity")
    hist = _train(settings, net, (X, y), (Xt, yt))
    final = hist["eval_accuracy"][:, -1]
    train_final = hist["train_accuracy"][:, -1]
    n = settings["seeds"]
    info = {"network": net.describe(), "n_train": int(X.shape[0]), "n_test": int(Xt.shape[0])}
    return {
        **info,
        "test_accuracy_per_seed": final.tolist(),
        "test_accuracy_mean": float(final.mean()),
        "test_accuracy_std": float(final.std()),
        "test_accuracy_min": float(final.min()),
        "train_accuracy_mean": float(train_final.mean()),
        "train_accuracy_std": float(train_final.std()),
        "figures": [_figure(hist, settings, info, out)],
        "headline": (
            f"test accuracy {final.mean():.3f} ± {final.std():.3f} (mean ± sd over {n} seeds), "
            f"min {final.min():.3f}"
        ),
        "seeds": f"{n} seeds",
        "verdict": "holds" if final.min() >= THRESHOLD else "fails",
    }


def _figure(hist, settings, info, out):
    """Loss (log scale) and accuracy per epoch, train and test, one line per seed; the claim's
    threshold on the accuracy panel."""
    plt = _plots.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, hist["loss"].shape[1] + 1)
    for i in range(hist["loss"].shape[0]):
        first = i == 0
        a1.plot(epochs, hist["loss"][i], color="C0", alpha=0.6, label="train" if first else None)
        a1.plot(
            epochs, hist["eval_loss"][i], color="C1", alpha=0.6, label="test" if first else None
        )
        a2.plot(epochs, hist["train_accuracy"][i], color="C0", alpha=0.6)
        a2.plot(epochs, hist["eval_accuracy"][i], color="C1", alpha=0.6)
    a2.axhline(THRESHOLD, color="0.4", ls="--", lw=1, label=f"claim: test ≥ {THRESHOLD}")
    a1.set_yscale("log")
    a1.set(xlabel="epoch", ylabel="softmax cross-entropy")
    a1.legend()
    a2.set(xlabel="epoch", ylabel="accuracy (below 0.8 not shown)", ylim=(0.8, 1.0))
    a2.legend(loc="lower right")
    fig.suptitle(
        f"64-100-10 ReLU MLP on scikit-learn digits ({info['n_train']} train / {info['n_test']} "
        f"test), Adam lr {settings['learning_rate']:g}, batch {settings['batch_size']}: "
        f"{settings['seeds']} seeds, one line each",
        fontsize=10,
    )
    return _plots.save_figure(fig, out, "digits_curves.png")


def report(result):
    n = len(result["test_accuracy_per_seed"])
    per_seed = ", ".join(f"{a:.4f}" for a in result["test_accuracy_per_seed"])
    return [
        f"{result['network']}; {result['n_train']} training / {result['n_test']} test images.",
        f"Test accuracy after the last epoch over {n} seeds: {result['test_accuracy_mean']:.4f} "
        f"± {result['test_accuracy_std']:.4f} (mean ± sd), min {result['test_accuracy_min']:.4f} "
        f"(per seed: {per_seed}); train accuracy {result['train_accuracy_mean']:.4f} ± "
        f"{result['train_accuracy_std']:.4f}. The claim asks every seed to reach {THRESHOLD}.",
    ]


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
