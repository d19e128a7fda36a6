"""A 64-100-10 ReLU MLP with softmax cross-entropy, trained by minibatch learning (fit) on
scikit-learn's bundled 8x8 digits: the lecture's four steps on real data."""

from __future__ import annotations

import jax
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _seeds

CLAIM = (
    "Minibatch learning (draw a minibatch, compute gradients, update, repeat) trains a "
    "1-hidden-layer network to high accuracy on handwritten digits."
)
QUICK = {"epochs": 150, "batch_size": 100, "learning_rate": 1e-3, "seeds": 3}
FULL = {"epochs": 200, "batch_size": 100, "learning_rate": 1e-3, "seeds": 10}


def run(settings, out):
    (X, y), (Xt, yt) = fn.data.digits()
    net = fn.MLP((64, 100, 10), hidden="relu", output="identity")
    opt = optax.adam(settings["learning_rate"])

    train = _seeds.fit_seeds(
        net,
        opt,
        (X, y),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        loss="softmax_cross_entropy",
        eval_data=(Xt, yt),
    )
    hist = _seeds.numpy(train, jax.random.split(jax.random.key(0), settings["seeds"]))
    final = hist["eval_accuracy"][:, -1]
    return {
        "network": net.describe(),
        "n_train": int(X.shape[0]),
        "n_test": int(Xt.shape[0]),
        "test_accuracy_per_seed": final.tolist(),
        "test_accuracy_mean": float(final.mean()),
        "test_accuracy_min": float(final.min()),
        "train_accuracy_mean": float(hist["train_accuracy"][:, -1].mean()),
        "figures": [_figure(hist, out)],
        "verdict": "holds" if final.min() >= 0.97 else "fails",
    }


def _figure(hist, out):
    plt = _harness.pyplot()

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = np.arange(1, hist["loss"].shape[1] + 1)
    for i in range(hist["loss"].shape[0]):
        a1.plot(epochs, hist["loss"][i], color="C0", alpha=0.6, label="train" if i == 0 else None)
        a1.plot(
            epochs, hist["eval_loss"][i], color="C1", alpha=0.6, label="test" if i == 0 else None
        )
        a2.plot(epochs, hist["train_accuracy"][i], color="C0", alpha=0.6)
        a2.plot(epochs, hist["eval_accuracy"][i], color="C1", alpha=0.6)
    a1.set_yscale("log")
    a1.set(xlabel="epoch", ylabel="softmax cross-entropy")
    a1.legend()
    a2.set(xlabel="epoch", ylabel="accuracy", ylim=(0.8, 1.0))
    fig.suptitle("64-100-10 ReLU MLP on scikit-learn digits, one line per seed")
    return _harness.save_figure(fig, out, "digits_curves.png")


def report(result):
    return [
        f"{result['network']}; {result['n_train']} training / {result['n_test']} test images.",
        f"Test accuracy over {len(result['test_accuracy_per_seed'])} seeds: mean "
        f"{result['test_accuracy_mean']:.4f}, min {result['test_accuracy_min']:.4f} "
        f"(train {result['train_accuracy_mean']:.4f}).",
    ]


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
