"""The vanishing gradient, with the activation and the initial weights studied apart: a
10-hidden-layer network of width 100 on MNIST-1D in a 3 × 3 factorial design, hidden activation
(sigmoid, tanh, ReLU) × initial weights (N(0, 0.01²), Xavier, He), measured at initialisation and
trained, after Glorot and Bengio 2010 ("Understanding the difficulty of training deep feedforward
neural networks", AISTATS), who studied the two factors apart.

Backprop carries the error signal δ^(l) = ∂L/∂z^(l) back one layer as

    δ^(l) = g'(z^(l)) ⊙ (W^(l+1) δ^(l+1)),      ∂L/∂W^(l) = a^(l-1)ᵀ δ^(l),

so that, for width n and weights of standard deviation σ, each layer scales its size by about
ρ = √n · σ · rms(g'(z)). Sigmoid's g' = a(1 - a) is at most 1/4: ρ ≤ 1/4 under Xavier's
σ = 1/√n, 0.35 under He's σ = √(2/n), 0.025 under N(0, 0.01²). tanh's g' is 1 near 0 (ρ ≈ 1
under Xavier) and ReLU's is 1 on the active half of the units (ρ ≈ 1 under He, 1/√2 under
Xavier). The error reaching the first hidden layer is then about ρ^(depth - 1) times the last's:
the activation sets one factor of ρ, the initial weights the other, and only a factorial design
tells their shares apart. The weight gradient also carries the layer's input a^(l-1): where the
units work in their linear range (tanh and ReLU with tiny weights) the activations shrink on the
way forward as fast as δ on the way back, and every layer's weight gradient is equally tiny.

Per cell: at initialisation the weight gradient norm ‖∂L/∂W^(l)‖ of every layer for the mean loss
over a batch of training examples, and the ratio r of the first hidden layer's to the last's; then
training by SGD with momentum under one budget of gradient steps for every cell, the learning rate
tuned per cell on a validation split carved from the training examples, and the test accuracy at
the validation-chosen epoch. fnnet's Xavier weights have std √(1/n_in) (Glorot and Bengio's
√(2/(n_in + n_out)) for equal widths), He's √(2/n_in) (He et al. 2015).

Programs: one draws every cell's initial weights, one measures all nine cells at initialisation,
and one per hidden activation trains its three cells at every learning rate and seed (vmap over
runs, the runs split over the CPU cores); one compiles while another runs.
"""

from __future__ import annotations

import concurrent.futures
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats

LOSS = "softmax_cross_entropy"
ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU"}
# name -> (fnnet init scheme, scale, label): N(0, 0.01²) is the small random init of Deep Learning
# from Scratch (ch06/weight_init_activation_histogram.py); Xavier's std √(1/n_in), He's √(2/n_in)
INITS = {
    "small": ("normal", 0.01, "N(0, 0.01²)"),
    "xavier": ("xavier", 1.0, "Xavier"),
    "he": ("he", 1.0, "He"),
}
# the claim's cells: sigmoid at its two standard initial weights (the lecture's small random
# weights and Xavier's, made for sigmoid and tanh units), ReLU at its own (He's)
SIGMOID_CELLS = ("sigmoid-small", "sigmoid-xavier")
RELU_CELL = "relu-he"
VANISHES = 1e-2  # r below this: the first hidden layer gets under 1% of the last one's gradient
KEEPS = 10.0  # r within a factor of this of 1: the gradient keeps its order of magnitude
CHANCE = 0.1  # ten classes
HARDLY = 0.1  # "hardly trains": test accuracy below CHANCE + HARDLY
# the factorial's contrasts: (factor, level, minus level), each averaged over the other factor
CONTRASTS = (
    ("activation", "tanh", "sigmoid"),
    ("activation", "relu", "sigmoid"),
    ("activation", "relu", "tanh"),
    ("init", "xavier", "small"),
    ("init", "he", "small"),
    ("init", "he", "xavier"),
)

CLAIM = (
    "In a deep sigmoid network the gradient vanishes on its way back to the first layers and the "
    "network hardly trains; ReLU units keep the gradient's size and the same network trains."
)

CRITERION = _protocol.Criterion(
    hypothesis=(
        "In the 10-hidden-layer, width-100 network on MNIST-1D at initialisation, the ratio "
        "r = ‖∂L/∂W^(1)‖ / ‖∂L/∂W^(10)‖ of the first to the last hidden layer's weight gradient "
        "(L the mean loss over a batch of 100 training examples) is below 1/100 for sigmoid units "
        "at their standard initial weights, N(0, 0.01²) and Xavier (a), and within a factor 10 of "
        "1 for ReLU units at He's (b); trained by SGD with momentum under one budget of gradient "
        "steps, each cell at its learning rate tuned on validation, the two sigmoid networks "
        "hardly train (test accuracy at the validation-chosen epoch below chance + 0.1 = 0.2) "
        "while the ReLU network trains (above 0.2) (c)."
    ),
    rule=(
        "95% t intervals over seeds: of log10 r over the init seeds, of the test accuracy over the "
        "evaluation seeds. (a) holds if both sigmoid intervals of log10 r lie below −2, fails if "
        "either lies above −2; (b) holds if ReLU-He's lies inside (−1, 1), fails if it lies "
        "wholly outside; (c) holds if both sigmoid intervals of accuracy lie below 0.2 and "
        "ReLU-He's above 0.2, fails if a sigmoid interval lies above 0.2 or ReLU-He's below, and "
        "is inconclusive wherever a run of these three cells has not levelled off by the plateau "
        "rule; otherwise a part is inconclusive. The verdict: holds if all three parts hold, "
        "partly if some do, else fails if one fails, else inconclusive. The factorial's main "
        "effects (activation, initial weights) are reported with their intervals, not judged."
    ),
    kind="threshold",
    source=(
        "design: Glorot and Bengio 2010 (AISTATS), activation and initialisation studied apart; "
        "the thresholds (two orders of magnitude for (a), one for (b), 0.1 above chance for (c)) "
        "are this experiment's own, fixed before the run"
    ),
)

QUICK = {
    "depth": 10,
    "width": 100,
    # MNIST-1D's 4000 training examples: the first n_train train, the next n_val validate
    "n_train": 500,
    "n_val": 250,
    "n_test": 250,  # the first n_test of the 1000 test examples
    "init_seeds": 8,
    "grad_batch": 100,
    "hist_examples": 500,
    "batch_size": 50,
    "momentum": 0.9,
    "learning_rates": [0.01, 0.1],
    "seeds": 3,
    "epochs": 120,
    "plateau": {"window": 0.2, "rtol": 0.01, "atol": 0.01},
    "seed": 0,
}
FULL = {
    **QUICK,
    "n_train": 3000,
    "n_val": 1000,
    "n_test": 1000,
    "init_seeds": 32,
    "learning_rates": [0.01, 0.1, 1.0],
    "seeds": 4,
    "epochs": 160,
}
# XLA's CPU backend optimisation level per program (its default is 3): the training programs
# compile markedly faster at level 1 and run as fast; the programs at initialisation (drawing the
# weights, measuring them), which run for a fraction of a second, compile faster at level 0
# (threefry random bits compile slowly at the higher levels).
COMPILER_OPTIONS = {
    "at_init": {"xla_backend_optimization_level": 0},
    "train": {"xla_backend_optimization_level": 1},
}


def _jit(fun, program: str):
    """``jax.jit(fun)`` with the :data:`COMPILER_OPTIONS` of ``program``."""
    return jax.jit(fun, compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS[program]))


def _check(settings):
    """Clear errors for settings the design cannot run."""
    for key in ("depth", "width", "init_seeds", "grad_batch", "hist_examples", "batch_size"):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise ValueError(f"{key}: expected a positive integer, got {settings[key]!r}")
    if settings["depth"] < 2:
        raise ValueError(f"depth: expected at least 2 hidden layers, got {settings['depth']}")
    for key in ("seeds", "epochs"):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise ValueError(f"{key}: expected a positive integer, got {settings[key]!r}")
    if settings["seeds"] < 2:
        raise ValueError(
            f"seeds: expected at least 2 (intervals over seeds), got {settings['seeds']}"
        )
    if settings["seeds"] > settings["init_seeds"]:
        raise ValueError(
            "init_seeds: every training run starts from a network measured at initialisation, so "
            f"expected at least seeds = {settings['seeds']}, got {settings['init_seeds']}"
        )
    lrs = settings["learning_rates"]
    if not lrs or any(not (isinstance(a, (int, float)) and a > 0) for a in lrs):
        raise ValueError(f"learning_rates: expected positive numbers, got {lrs!r}")
    if settings["epochs"] < 5:
        raise ValueError(
            f"epochs: expected at least 5 (the plateau rule), got {settings['epochs']}"
        )


def split(settings):
    """``(train, validation, test)`` as ``(X, y)`` pairs of NumPy arrays: the first ``n_train``
    of MNIST-1D's training examples, the next ``n_val`` (held out to choose learning rates and
    epochs), and the first ``n_test`` test examples (MNIST-1D's examples come in random order)."""
    (X, y), (Xt, yt) = fn.data.mnist1d()
    n, v, t = settings["n_train"], settings["n_val"], settings["n_test"]
    if not (isinstance(n, int) and isinstance(v, int) and n >= settings["batch_size"] and v >= 1):
        raise ValueError(
            f"n_train, n_val: expected at least batch_size ({settings['batch_size']}) and 1 "
            f"examples, got {n!r}, {v!r}"
        )
    if n + v > X.shape[0]:
        raise ValueError(f"n_train + n_val: expected at most {X.shape[0]}, got {n + v}")
    if not (isinstance(t, int) and 1 <= t <= Xt.shape[0]):
        raise ValueError(f"n_test: expected 1..{Xt.shape[0]}, got {t!r}")
    return (X[:n], y[:n]), (X[n : n + v], y[n : n + v]), (Xt[:t], yt[:t])


def network(settings, activation: str) -> fn.MLP:
    return fn.MLP(
        (40,) + (settings["width"],) * settings["depth"] + (10,),
        hidden=activation,
        output="identity",
    )


# ---------------------------------------------------------------- at initialisation


def initial_weights(settings, keys):
    """The initial weights of every init scheme and key, stacked (inits, keys, ...), by a program
    of their own (threefry random bits compile fast at XLA's level 0). fnnet draws every scheme's
    weights as the same standard normal numbers times the scheme's std (biases 0), so the cells of
    a seed differ in scale only, and every activation's network of a seed starts from them."""
    net = network(settings, "sigmoid")  # the weights do not depend on the activation

    def draw(keys):
        return jax.tree.map(
            lambda *x: jnp.stack(x),
            *[jax.vmap(lambda k, s=s, c=c: net.init(k, s, c))(keys) for s, c, _ in INITS.values()],
        )

    return _jit(draw, "at_init")(keys)


def at_init(settings, X, y, params):
    """Every cell measured at initialisation, as one compiled program.

    ``params`` holds the initial weights of every scheme and init seed (:func:`initial_weights`,
    (inits, init seeds, ...)). Init seed i is measured on its own batch of ``grad_batch`` = B
    training examples, i·B .. i·B + B - 1 (cyclically), the same for every cell: the weight
    gradient norm ‖∂L/∂W^(l)‖ per layer of the mean loss over the batch (``batch``) and, for
    comparison, the mean over the batch's examples of each single example's norm (``single``); the
    fraction of saturated (sigmoid, tanh) or inactive (ReLU) units and the standard deviation of
    the activations per layer. Besides, the activations of the first and the last hidden layer for
    the first ``hist_examples`` training examples under init seed 0 (``hist``).

    Returns:
      per cell a dict of NumPy arrays ``batch``, ``single`` (init seeds, depth + 1), ``saturated``,
      ``std`` (init seeds, depth) and ``hist`` (2, hist_examples, width).
    """
    depth, B, M = settings["depth"], settings["grad_batch"], settings["init_seeds"]
    X, y = jnp.asarray(X), jnp.asarray(y)
    idx = (jnp.arange(M)[:, None] * B + jnp.arange(B)[None, :]) % X.shape[0]
    Xh = X[: settings["hist_examples"]]
    C = len(INITS)

    def measure(net, p, i):
        Xb, yb = X[i], y[i]
        single = jax.vmap(
            lambda x, t: fn.diagnostics.gradient_norms(net, p, x[None, :], t[None], LOSS)
        )(Xb, yb)
        stats = fn.diagnostics.activation_stats(net, p, Xb)
        return {
            "batch": fn.diagnostics.gradient_norms(net, p, Xb, yb, LOSS),
            "single": jnp.mean(single, axis=0),
            "saturated": stats["saturated"][:depth],
            "std": stats["std"][:depth],
        }

    def program(params):
        flat = jax.tree.map(lambda x: x.reshape(C * M, *x.shape[2:]), params)
        firsts = jax.tree.map(lambda x: x[:, 0], params)  # init seed 0 of each scheme
        batches = jnp.tile(idx, (C, 1))
        measured = {}
        for a in ACTIVATIONS:
            net = network(settings, a)
            # one network after another: a batch of single-example gradients is large
            m = jax.lax.map(lambda arg, net=net: measure(net, *arg), (flat, batches))
            acts = jax.vmap(
                lambda q, net=net: jnp.stack(fn.diagnostics.layer_activations(net, q, Xh)[:depth])
            )(firsts)
            for j, i in enumerate(INITS):
                measured[f"{a}-{i}"] = {
                    **jax.tree.map(lambda x, j=j: x[j * M : (j + 1) * M], m),
                    "hist": acts[j, jnp.array([0, depth - 1])],
                }
        return measured

    return jax.tree.map(np.asarray, _jit(program, "at_init")(params))


def _log_interval(values) -> dict:
    """Positive numbers spanning orders of magnitude: their geometric mean with the 95% t interval
    of the mean log10 (over seeds) taken back to a ratio, and the per-seed log10 values."""
    logs = np.log10(np.asarray(values, np.float64))
    m = _stats.mean_interval(logs)
    return {
        "geomean": float(10 ** m["mean"]),
        "ci": [float(10**c) for c in m["ci"]],
        "log10": m,
    }


def _init_entry(m, depth):
    """One cell's result entry at initialisation from its measurements ``m`` (see
    :func:`at_init`); layer l's weight gradient is index l - 1, the output layer's index depth."""
    batch, single = m["batch"].astype(np.float64), m["single"].astype(np.float64)
    with np.errstate(divide="ignore"):
        logb = np.log(batch)
    r = batch[:, 0] / batch[:, depth - 1]
    return {
        "ratio_batch": _log_interval(r),
        "per_layer_factor": float(_log_interval(r)["geomean"] ** (1 / (depth - 1))),
        "ratio_single": _stats.geometric(single[:, 0] / single[:, depth - 1]),
        "grad_norm_batch_geomean": np.exp(np.mean(logb, axis=0)).tolist(),
        "grad_norm_batch_min": batch.min(axis=0).tolist(),
        "grad_norm_batch_max": batch.max(axis=0).tolist(),
        "saturated_per_layer": m["saturated"].mean(axis=0).tolist(),
        "activation_std_per_layer": m["std"].mean(axis=0).tolist(),
    }


# ---------------------------------------------------------------- training


def choose_rate(val, loss):
    """Each cell's learning rate from its runs' validation numbers alone.

    ``val`` and ``loss`` (..., rates, seeds, epochs): validation accuracy and training loss per
    epoch. A run scores its best validation accuracy over the epochs, or 0 where its training loss
    became non-finite (diverged); a rate scores the mean over the seeds; the rate with the highest
    score is chosen, the smallest rate among equals. Works on NumPy and JAX arrays.

    Returns:
      ``(index (...,), score (..., rates))``.
    """
    finite = jnp.all(jnp.isfinite(loss), axis=-1)
    best = jnp.max(jnp.where(jnp.isnan(val), 0.0, val), axis=-1)
    score = jnp.mean(jnp.where(finite, best, 0.0), axis=-1)
    return jnp.argmax(score, axis=-1), score


def chosen_epoch(val):
    """The validation-chosen epoch (0-based) of each run: the first epoch of highest validation
    accuracy. ``val`` (..., epochs); NaN (a diverged run) counts as -1."""
    return np.argmax(np.where(np.isnan(val), -1.0, val), axis=-1)


def training_program(net, settings, data):
    """``(lrs, inits, keys) -> history``: one compiled program of runs of ``net``, one per row
    (learning rate, initial weights, key), the rows split over the CPU cores (their number a
    multiple of the cores). Each run is SGD with momentum for ``epochs`` passes in minibatches of
    ``batch_size``, recording after every epoch the mean minibatch loss (``loss``), the validation
    accuracy and the test accuracy (reported, never used to choose); every leaf (rows, epochs).
    """
    (X, y), (Xv, yv), (Xt, yt) = data
    E, b = settings["epochs"], settings["batch_size"]
    Xv, yv, Xt, yt = (jnp.asarray(a) for a in (Xv, yv, Xt, yt))

    def accuracies(params):
        return {
            "val_accuracy": fn.train.accuracy(net, LOSS, net.apply(params, Xv), yv),
            "test_accuracy": fn.train.accuracy(net, LOSS, net.apply(params, Xt), yt),
        }

    # softmax cross-entropy on one-hot targets without its classification flag: fit then skips
    # the training accuracy, a pass over the training set after every epoch that nothing here
    # uses; the validation and test accuracy come from ``accuracies``
    loss = fn.losses.get(LOSS)._replace(classification=False)
    onehot = np.eye(10, dtype=np.float32)[y]
    record = fn.train.Record(metrics=accuracies)

    def one(lr, init, key):
        sgd = optax.sgd(lr, momentum=settings["momentum"])
        return fn.train.fit(
            net, sgd, key, (X, onehot), epochs=E, batch_size=b, loss=loss, init=init, record=record
        )[1]

    program = _jit(jax.vmap(one), "train")

    def run(lrs, inits, keys):
        lrs = jnp.asarray(lrs, jnp.float32)
        args = jax.device_put((lrs, inits, keys), _seeds.seed_sharding(lrs.shape[0]))
        return jax.tree.map(np.asarray, program(*args))

    return run


def _run_rows(settings, params, keys):
    """The rows of a training program: every initial-weight scheme × learning rate × seed, seed s
    starting from init seed s's weights and minibatch order ``keys[s]`` at every scheme and rate,
    padded (with copies of the first row) to a multiple of the CPU devices. Returns ``(lrs, inits,
    keys, n)``, ``n`` the rows before padding."""
    G, S, C = len(settings["learning_rates"]), settings["seeds"], len(INITS)
    c, g, s = (a.ravel() for a in np.meshgrid(range(C), range(G), range(S), indexing="ij"))
    d = jax.local_device_count()
    pad = -(-c.size // d) * d - c.size
    c, g, s = (np.concatenate([v, np.repeat(v[:1], pad)]) for v in (c, g, s))
    lrs = np.asarray(settings["learning_rates"], np.float32)[g]
    return lrs, jax.tree.map(lambda a: a[c, s], params), keys[s], C * G * S


def measure_and_train(settings, data, key):
    """Every cell measured at initialisation (:func:`at_init`) and trained at every learning rate
    and seed (one :func:`training_program` per activation), the four programs on a pool of two
    threads (XLA releases Python's lock while it compiles and runs, so one program compiles while
    another runs), each training program with its runs split over the cores. Seed s starts from
    init seed s's weights, the network measured. The bar counts the programs as they finish.

    Returns:
      ``(measured, trained)``: :func:`at_init`'s measurements, and per activation its history as
      NumPy arrays, each leaf (inits, rates, seeds, epochs).
    """
    G, S, E, C = len(settings["learning_rates"]), settings["seeds"], settings["epochs"], len(INITS)
    k_init, k_order = jax.random.split(key)
    params = initial_weights(settings, jax.random.split(k_init, settings["init_seeds"]))
    lrs, inits, keys, n = _run_rows(settings, params, jax.random.split(k_order, S))
    (X, y), _, _ = data

    def train(a):
        h = training_program(network(settings, a), settings, data)(lrs, inits, keys)
        return jax.tree.map(lambda x: x[:n].reshape(C, G, S, E), h)

    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool,
        _harness.progress(desc="vanishing_gradient: programs", total=4, unit="program") as bar,
    ):
        futures = {pool.submit(at_init, settings, X, y, params): "at init"}
        futures.update({pool.submit(train, a): a for a in ACTIVATIONS})
        done = {}
        for f in concurrent.futures.as_completed(futures):
            done[futures[f]] = f.result()
            bar.update(1)
    measured = done.pop("at init")
    return measured, {a: done[a] for a in ACTIVATIONS}


def _training_entry(settings, h):
    """One cell's training result from its history ``h`` (rates, seeds, epochs): the rate
    :func:`choose_rate` picks from the validation numbers, and that rate's seeds judged at their
    validation-chosen epochs (:func:`chosen_epoch`) and after the last."""
    index, score = choose_rate(h["val_accuracy"], h["loss"])
    index = int(index)
    r = jax.tree.map(lambda x: x[index], h)  # the chosen rate's runs (seeds, epochs)
    e = chosen_epoch(r["val_accuracy"])
    rows = np.arange(e.shape[0])
    plateau = settings["plateau"]
    return {
        "epochs": int(h["loss"].shape[-1]),
        "rate_scores": [float(v) for v in score],
        "best_val_accuracy": np.max(
            np.where(np.isnan(h["val_accuracy"]), 0.0, h["val_accuracy"]), axis=-1
        ).tolist(),
        "diverged_by_rate": (~np.isfinite(h["loss"]).all(-1)).tolist(),
        "plateau_by_rate": _seeds.plateau_record(h["loss"], **plateau),
        "rate_index": index,
        "learning_rate": float(settings["learning_rates"][index]),
        "plateau": _seeds.plateau_record(r["loss"], **plateau),
        "diverged": int((~np.isfinite(r["loss"]).all(-1)).sum()),
        "chosen_epoch": (e + 1).tolist(),
        "val_accuracy_at_chosen": r["val_accuracy"][rows, e].tolist(),
        "test_accuracy_at_chosen": _stats.mean_interval(r["test_accuracy"][rows, e]),
        "final_test_accuracy": _stats.mean_interval(r["test_accuracy"][:, -1]),
        "final_loss": _stats.mean_std(r["loss"][:, -1]),
    }


# ---------------------------------------------------------------- verdict


def _below(ci, line):
    return ci[1] < line


def _above(ci, line):
    return ci[0] > line


def parts(cells) -> dict:
    """The three parts of :data:`CRITERION`, each a verdict, from the cells' result entries."""
    low = math.log10(VANISHES)
    sig = [cells[c]["init"]["ratio_batch"]["log10"]["ci"] for c in SIGMOID_CELLS]
    if all(_below(ci, low) for ci in sig):
        a = "holds"
    elif any(_above(ci, low) for ci in sig):
        a = "fails"
    else:
        a = "inconclusive"
    lo, hi = cells[RELU_CELL]["init"]["ratio_batch"]["log10"]["ci"]
    keep = math.log10(KEEPS)
    if -keep < lo and hi < keep:
        b = "holds"
    elif hi < -keep or lo > keep:
        b = "fails"
    else:
        b = "inconclusive"
    line = CHANCE + HARDLY
    acc = {c: cells[c]["training"]["test_accuracy_at_chosen"]["ci"] for c in cells}
    converged = all(
        all(cells[c]["training"]["plateau"]["converged"]) for c in (*SIGMOID_CELLS, RELU_CELL)
    )
    if not converged:
        c = "inconclusive"
    elif all(_below(acc[s], line) for s in SIGMOID_CELLS) and _above(acc[RELU_CELL], line):
        c = "holds"
    elif any(_above(acc[s], line) for s in SIGMOID_CELLS) or _below(acc[RELU_CELL], line):
        c = "fails"
    else:
        c = "inconclusive"
    return {
        "(a) sigmoid's gradient vanishes": a,
        "(b) ReLU keeps it": b,
        "(c) sigmoid hardly trains, ReLU trains": c,
    }


def contrasts(per_seed: dict) -> dict:
    """The factorial's main effects: for each of :data:`CONTRASTS`, the difference between two
    levels of one factor averaged over the three levels of the other, seed by seed (every cell of
    a seed shares its key), with its 95% t interval. ``per_seed`` maps a cell to its per-seed
    values (all of one length)."""
    out = {}
    for factor, level, base in CONTRASTS:
        others = INITS if factor == "activation" else ACTIVATIONS

        def cell(x, o, factor=factor):
            return f"{x}-{o}" if factor == "activation" else f"{o}-{x}"

        diff = np.mean(
            [
                np.asarray(per_seed[cell(level, o)]) - np.asarray(per_seed[cell(base, o)])
                for o in others
            ],
            axis=0,
        )
        out[f"{level} − {base}"] = {"factor": factor, **_stats.mean_interval(diff)}
    return out


# ---------------------------------------------------------------- the run


def run(settings, out):
    _check(settings)
    data = split(settings)
    (X, y), (Xv, _), (Xt, _) = data
    depth = settings["depth"]
    measured, trained = measure_and_train(settings, data, jax.random.key(settings["seed"]))

    cells, curves = {}, {}
    for a in ACTIVATIONS:
        h = trained[a]
        for j, i in enumerate(INITS):
            name = f"{a}-{i}"
            training = _training_entry(settings, jax.tree.map(lambda x, j=j: x[j], h))
            cells[name] = {
                "label": f"{ACTIVATIONS[a]}, {INITS[i][2]}",
                "activation": a,
                "init": _init_entry(measured[name], depth),
                "training": training,
            }
            g = training["rate_index"]
            curves[name] = {k: h[k][j, g] for k in ("loss", "val_accuracy")}
    hists = {c: measured[c]["hist"] for c in cells}
    verdicts = parts(cells)
    log_r = {c: cells[c]["init"]["ratio_batch"]["log10"]["values"] for c in cells}
    acc = {c: cells[c]["training"]["test_accuracy_at_chosen"]["values"] for c in cells}
    relu, sig = cells[RELU_CELL]["training"], cells["sigmoid-xavier"]["training"]
    effects = {
        "log10_ratio": contrasts(log_r),
        "test_accuracy": contrasts(acc),
        "relu_he_minus_sigmoid_xavier": _stats.paired_difference(
            relu["test_accuracy_at_chosen"]["values"], sig["test_accuracy_at_chosen"]["values"]
        ),
        "tanh_xavier_minus_relu_he": _stats.paired_difference(
            cells["tanh-xavier"]["training"]["test_accuracy_at_chosen"]["values"],
            relu["test_accuracy_at_chosen"]["values"],
        ),
    }
    net = network(settings, "sigmoid")
    n_steps = settings["epochs"] * (X.shape[0] // settings["batch_size"])
    result = {
        "network": net.describe().replace("hidden sigmoid", "hidden sigmoid, tanh or ReLU"),
        "n_train": int(X.shape[0]),
        "n_val": int(Xv.shape[0]),
        "n_test": int(Xt.shape[0]),
        "steps": int(n_steps),
        "cells": cells,
        "parts": verdicts,
        "effects": effects,
        "verdict": _protocol.combine(verdicts),
        "seeds": (
            f"{settings['init_seeds']} init seeds at initialisation; {settings['seeds']} "
            "training seeds, the same for every cell and learning rate"
        ),
    }
    result["design"] = _design(result, settings)
    result["headline"] = _headline(result, settings)
    result["figures"] = [
        _gradient_figure(cells, settings, out),
        _histogram_figure(hists, cells, settings, out),
        _training_figure(curves, cells, settings, out),
    ]
    return result


def _design(result, settings):
    grid = ", ".join(f"{a:g}" for a in settings["learning_rates"])
    return [
        f"MNIST-1D, {result['n_train']} training / {result['n_val']} validation (carved from the "
        f"training examples) / {result['n_test']} test examples; a 40-"
        f"{settings['width']}×{settings['depth']}-10 network (softmax cross-entropy) with hidden "
        "units sigmoid, tanh or ReLU × initial weights N(0, 0.01²), Xavier (std √(1/n_in)) or He "
        "(std √(2/n_in)): 9 cells.",
        f"At initialisation, per cell over {settings['init_seeds']} init seeds: the weight "
        f"gradient norm per layer for the mean loss over a batch of {settings['grad_batch']} "
        f"training examples; then every cell trained by SGD with momentum "
        f"{settings['momentum']:g}, minibatches of {settings['batch_size']}, for the same "
        f"{settings['epochs']} epochs = {result['steps']} gradient steps.",
        f"Every cell trains at each learning rate of {{{grid}}} on {settings['seeds']} seeds and "
        "keeps the rate of best mean validation accuracy (a diverged run counts 0); it is judged "
        "by the test accuracy of those runs at their epoch of best validation accuracy.",
    ]


def _headline(result, settings):
    c = result["cells"]
    rs, rr = (c[k]["init"]["ratio_batch"]["geomean"] for k in ("sigmoid-xavier", RELU_CELL))
    a = {k: c[k]["training"]["test_accuracy_at_chosen"] for k in ("sigmoid-xavier", RELU_CELL)}
    return (
        f"grad. ratio layer 1/{settings['depth']} (batch of {settings['grad_batch']}): "
        f"sigmoid-Xavier {rs:.1e}, ReLU-He {rr:.2f}; test acc. {_acc(a['sigmoid-xavier'])} vs "
        f"{_acc(a[RELU_CELL])} ({settings['seeds']} seeds)"
    )


# ---------------------------------------------------------------- figures

STYLE = {  # per initial weights: lines that coincide stay visible
    "small": {"color": "C0", "ls": "-", "marker": "o"},
    "xavier": {"color": "C1", "ls": "--", "marker": "s"},
    "he": {"color": "C2", "ls": ":", "marker": "^"},
}


def _gradient_figure(cells, settings, out):
    """Per activation (panels), ‖∂L/∂W^(l)‖ per weight layer at initialisation for each initial
    weights (lines): geometric mean over the init seeds, band from their min to their max."""
    plt = _plots.pyplot()
    depth = settings["depth"]
    layers = np.arange(1, depth + 2)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), sharey=True)
    for ax, a in zip(axes, ACTIVATIONS, strict=True):
        for i in INITS:
            c = cells[f"{a}-{i}"]["init"]
            st = STYLE[i]
            r = c["ratio_batch"]["geomean"]
            ax.plot(layers, c["grad_norm_batch_geomean"], **st, label=f"{INITS[i][2]}: r = {r:.1e}")
            ax.fill_between(
                layers,
                c["grad_norm_batch_min"],
                c["grad_norm_batch_max"],
                color=st["color"],
                alpha=0.2,
            )
        ax.set(yscale="log", xlabel=f"weight layer l ({depth + 1} = output)", xticks=layers)
        ax.set_title(f"{ACTIVATIONS[a]} hidden units", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\|\partial L / \partial W^{(l)}\|$ at initialisation")
    fig.suptitle(
        f"Weight gradient per layer, mean loss over a batch of {settings['grad_batch']} examples: "
        f"geometric mean over {settings['init_seeds']} init seeds, band min to max; "
        f"r = layer 1 / layer {depth}",
        fontsize=10,
    )
    return _plots.save_figure(fig, out, "vanishing_gradient_norms.png")


HIST_CELLS = ("sigmoid-xavier", "tanh-xavier", RELU_CELL)


def _histogram_figure(hists, cells, settings, out):
    """The activations of the first and the last hidden layer (rows) at initialisation for
    sigmoid and tanh with Xavier's weights and ReLU with He's (columns), each panel on its own y
    axis; ReLU's zeros (inactive units) are counted apart, the histogram shows its active ones."""
    plt = _plots.pyplot()
    depth = settings["depth"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 5.6))
    for j, name in enumerate(HIST_CELLS):
        a = cells[name]["activation"]
        for r, layer in enumerate((1, depth)):
            ax = axes[r, j]
            v = hists[name][r].ravel()
            if a == "relu":
                zero = float(np.mean(v == 0))
                v = v[v > 0]
                hi = float(np.percentile(v, 99.5)) if v.size else 1.0
                rng, note = (0.0, hi), f"inactive (zero): {zero:.0%}; active units shown"
            else:
                rng = (0.0, 1.0) if a == "sigmoid" else (-1.0, 1.0)
                sat = "a < 0.1 or a > 0.9" if a == "sigmoid" else "|a| > 0.9"
                frac = float(
                    np.mean((v < 0.1) | (v > 0.9)) if a == "sigmoid" else np.mean(np.abs(v) > 0.9)
                )
                note = f"saturated ({sat}): {frac:.0%}"
            counts, edges = np.histogram(v, bins=50, range=rng)
            ax.stairs(
                counts / max(v.size, 1), edges, fill=True, color=STYLE[name.split("-")[1]]["color"]
            )
            ax.set_title(
                f"{cells[name]['label']}, layer {layer}\nsd {np.std(hists[name][r]):.2g}; {note}",
                fontsize=9,
            )
            ax.set_xlim(*rng)
            ax.tick_params(labelsize=8)
        axes[1, j].set_xlabel("activation a")
    for r in range(2):
        axes[r, 0].set_ylabel("fraction of activations")
    fig.suptitle(
        f"Hidden activations at initialisation: {settings['hist_examples']} training examples × "
        f"{settings['width']} units, init seed 0; 50 bins; each panel its own y axis",
        fontsize=10,
    )
    return _plots.save_figure(fig, out, "vanishing_gradient_histograms.png")


def _training_panels(axes, curves, cells, epochs, every):
    """The panels of :func:`_training_figure`: per activation (columns) each initial weights'
    training loss and validation accuracy (rows)."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    for j, a in enumerate(ACTIVATIONS):
        lines = {}
        for i in INITS:
            name = f"{a}-{i}"
            h, st = curves[name], {**STYLE[i], "markevery": every, "ms": 5}
            label = f"{INITS[i][2]}, lr {cells[name]['training']['learning_rate']:g}"
            _plots.band(axes[0, j], epochs, h["loss"], **st, label=label)
            _plots.band(axes[1, j], epochs, h["val_accuracy"], **st, label=label)
            lines[INITS[i][2]] = np.nanmean(h["val_accuracy"], axis=0)
        same = _plots.coinciding(lines, 0.02)
        note = "".join(f"\n{' and '.join(g)} coincide" for g in same)
        axes[0, j].set_title(f"{ACTIVATIONS[a]} hidden units", fontsize=10)
        losses = np.concatenate([curves[f"{a}-{i}"]["loss"].ravel() for i in INITS])
        losses = losses[np.isfinite(losses) & (losses > 0)]
        if losses.size and losses.max() > 10 * losses.min():  # log where it spans decades
            axes[0, j].set(yscale="log")
            axes[0, j].yaxis.set_major_formatter(FormatStrFormatter("%g"))
            axes[0, j].yaxis.set_minor_formatter(NullFormatter())
        axes[1, j].axhline(CHANCE + HARDLY, color="0.4", ls=":", lw=1)
        axes[1, j].set_title(f"validation accuracy{note}", fontsize=9)
        axes[1, j].set(xlabel="epoch", ylim=(0, 1))
        axes[0, j].legend(fontsize=8)
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)


def _training_figure(curves, cells, settings, out):
    """Per activation (columns): training loss and validation accuracy per epoch (rows) of each
    initial weights at its tuned rate, mean ± sd over the evaluation seeds."""
    plt = _plots.pyplot()
    epochs = np.arange(1, settings["epochs"] + 1)
    every = max(1, settings["epochs"] // 10)
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.4), sharex=True)
    with warnings.catch_warnings():  # a diverged run's NaN epochs: its line stops there
        warnings.simplefilter("ignore", RuntimeWarning)
        _training_panels(axes, curves, cells, epochs, every)
    axes[0, 0].set_ylabel("training loss (mean minibatch cross-entropy)")
    axes[1, 0].set_ylabel("validation accuracy")
    fig.suptitle(
        f"Training each cell at its tuned learning rate: mean ± sd over {settings['seeds']} "
        f"seeds; dotted: chance + {HARDLY:g}",
        fontsize=10,
    )
    return _plots.save_figure(fig, out, "vanishing_gradient_training.png")


# ---------------------------------------------------------------- report


def _ratio_text(r) -> str:
    lo, hi = r["ci"]
    return f"{r['geomean']:.2g} [{lo:.2g}, {hi:.2g}]"


def _level_label(level: str) -> str:
    """A level of either factor in the report's words."""
    return ACTIVATIONS.get(level) or INITS[level][2]


def _acc(stat) -> str:
    """An accuracy interval over seeds, or how many seeds diverged (no accuracy to average)."""
    bad = int(np.sum(~np.isfinite(stat["values"])))
    return f"diverged ({bad} of {stat['n']} seeds)" if bad else _stats.pm(stat)


def report(result):
    s, cells = result["settings"], result["cells"]
    depth = s["depth"]
    lines = [f"- {d}" for d in result["design"]]
    lines += [
        "",
        f"Per cell: r = ‖∂L/∂W^(1)‖ / ‖∂L/∂W^({depth})‖ for the mean loss over a batch of "
        f"{s['grad_batch']} examples (geometric mean [95% interval] over {s['init_seeds']} init "
        f"seeds) and the per-layer factor r^(1/{depth - 1}); r for single examples (the mean of "
        "their gradient norms, geometric mean over init seeds) for comparison; each learning "
        "rate's validation score (the mean over seeds of each run's best validation accuracy) "
        f"and the rate chosen; test accuracy (mean [95% interval] over {s['seeds']} seeds) at "
        "the validation-chosen epoch and after the last; runs levelled off by the plateau rule.",
        "",
        f"| cell | r, batch | per layer | r, single example | val. score at lr "
        f"{' / '.join(f'{a:g}' for a in s['learning_rates'])} | lr | test acc. (val.-chosen) | "
        "test acc. (last epoch) | converged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells.values():
        i, t = c["init"], c["training"]
        p = t["plateau"]
        div = f" ({t['diverged']} diverged)" if t["diverged"] else ""
        lines.append(
            f"| {c['label']} | {_ratio_text(i['ratio_batch'])} | {i['per_layer_factor']:.2f} | "
            f"{i['ratio_single']['geomean']:.2g} | "
            f"{' / '.join(f'{v:.2f}' for v in t['rate_scores'])} | {t['learning_rate']:g} | "
            f"{_acc(t['test_accuracy_at_chosen'])} | {_acc(t['final_test_accuracy'])} | "
            f"{p['n_converged']}/{p['n_runs']}{div} |"
        )
    lines += ["", _units_line(result)]
    lines += [
        "",
        "Main effects (a level minus another, averaged over the other factor's three levels, "
        "seed by seed; mean [95% interval]): on log10 r over the init seeds, on the test accuracy "
        "at the validation-chosen epoch over the training seeds.",
        "",
        "| factor | contrast | Δ log10 r | Δ test acc. |",
        "|---|---|---|---|",
    ]
    ef = result["effects"]
    for name, e in ef["log10_ratio"].items():
        a = ef["test_accuracy"][name]
        level, base = name.split(" − ")
        label = f"{_level_label(level)} − {_level_label(base)}"
        lines.append(f"| {e['factor']} | {label} | {_stats.pm(e)} | {_stats.pm(a)} |")
    lines += ["", _convergence_line(result), "", *_parts_lines(result), "", *_reasoning(result)]
    return lines


def _units_line(result):
    """The units at the last hidden layer at initialisation: saturated (sigmoid, tanh) or
    inactive (ReLU), and the spread of the activations."""
    s, cells = result["settings"], result["cells"]
    depth = s["depth"]

    def unit(c):
        i = c["init"]
        share, sd = i["saturated_per_layer"][-1], i["activation_std_per_layer"][-1]
        what = "inactive (zero)" if c["activation"] == "relu" else "saturated"
        return f"{c['label']} {share:.0%} {what}, sd {sd:.2g}"

    return (
        f"Hidden layer {depth} at initialisation (mean over the init seeds; saturated: sigmoid "
        "a < 0.1 or a > 0.9, tanh |a| > 0.9; ReLU units at 0 are inactive, not saturated, and "
        "pass no gradient): " + "; ".join(unit(c) for c in cells.values()) + "."
    )


def _convergence_line(result):
    s, cells = result["settings"], result["cells"]
    p = s["plateau"]
    counts = "; ".join(
        f"{c['label']} {c['training']['plateau']['n_converged']}/"
        f"{c['training']['plateau']['n_runs']}"
        for c in cells.values()
    )
    every = sum(c["training"]["plateau_by_rate"]["n_converged"] for c in cells.values())
    n_every = sum(c["training"]["plateau_by_rate"]["n_runs"] for c in cells.values())
    return (
        f"Convergence (plateau rule on the training loss: levelled off when no later epoch "
        f"improves on the best so far by more than {p['rtol']:g} of it + {p['atol']:g}; "
        f"converged if level for the last {p['window']:.0%} of the {s['epochs']} epochs), runs at "
        f"the chosen rates: {counts}; all runs, every rate: {every}/{n_every}. Learning rates "
        f"tuned over {{{', '.join(f'{a:g}' for a in s['learning_rates'])}}} on the validation "
        "split: a rate scores the mean over seeds of each run's best validation accuracy (0 for a "
        "run that diverged), equal scores go to the smaller rate."
    )


def _parts_lines(result):
    cells, v = result["cells"], result["parts"]
    sig = [cells[c] for c in SIGMOID_CELLS]
    relu = cells[RELU_CELL]
    line = CHANCE + HARDLY
    (pa, va), (pb, vb), (pc, vc) = v.items()
    return [
        f"- {pa}: r of "
        + "; ".join(f"{c['label']}: {_ratio_text(c['init']['ratio_batch'])}" for c in sig)
        + f"; against 1/{1 / VANISHES:g} → **{va}**.",
        f"- {pb}: r of {relu['label']}: {_ratio_text(relu['init']['ratio_batch'])}; against "
        f"[1/{KEEPS:g}, {KEEPS:g}] → **{vb}**.",
        f"- {pc}: test accuracy of "
        + "; ".join(
            f"{c['label']}: {_acc(c['training']['test_accuracy_at_chosen'])}" for c in [*sig, relu]
        )
        + f"; against {line:g} → **{vc}**.",
    ]


def _names(labels) -> str:
    """Cell labels joined for a sentence (each label has a comma of its own)."""
    return "; ".join(labels) or "none"


def _reasoning(result):
    """The verdict's reasoning: which cells train, then what each factor does, each sentence
    written only where the numbers it quotes say so."""
    s, cells, ef = result["settings"], result["cells"], result["effects"]
    depth = s["depth"]
    acc = {k: c["training"]["test_accuracy_at_chosen"] for k, c in cells.items()}
    line = CHANCE + HARDLY
    trains = [k for k in cells if acc[k]["ci"][0] > line]
    hardly = [k for k in cells if acc[k]["ci"][1] < line]
    label = {k: c["label"] for k, c in cells.items()}
    init = {k: c["init"] for k, c in cells.items()}
    out = [
        f"Cells that train (accuracy interval above {line:g}): "
        f"{_names(label[k] for k in trains)}. Cells that hardly train (below {line:g}): "
        f"{_names(label[k] for k in hardly)}."
    ]
    sig = [f"sigmoid-{i}" for i in INITS]
    if all(k in hardly for k in sig):
        factors = ", ".join(
            f"{INITS[i][2]} {init[f'sigmoid-{i}']['per_layer_factor']:.2g}" for i in INITS
        )
        out.append(
            "The activation: sigmoid units lose the gradient at every initial weights tried (per-"
            f"layer factor {factors}) and hardly train at any of them, He's included"
            + (
                "; at Xavier's and He's weights tanh and ReLU units train. "
                if all(f"{a}-{i}" in trains for a in ("tanh", "relu") for i in ("xavier", "he"))
                else ". "
            )
            + f"Main effect ReLU − sigmoid: {_stats.pm(ef['log10_ratio']['relu − sigmoid'])} on "
            f"log10 r, {_stats.pm(ef['test_accuracy']['relu − sigmoid'])} on test accuracy. "
            f"This holds within the budget of {result['steps']} steps: a sigmoid network at chance "
            "may still leave its plateau later (Glorot and Bengio 2010 saw the saturated top "
            "layer of shallower sigmoid networks recover slowly), which no finite budget rules "
            "out."
        )
    small = [f"{a}-small" for a in ACTIVATIONS]
    if all(k in hardly for k in small):
        flat = [k for k in small if 1 / KEEPS < init[k]["ratio_batch"]["geomean"] < KEEPS]
        sentence = (
            "The initial weights: with N(0, 0.01²) no activation trains, ReLU included (main "
            f"effect He − N(0, 0.01²) on test accuracy: "
            f"{_stats.pm(ef['test_accuracy']['he − small'])})."
        )
        if flat:
            sentence += (
                f" For {_names(label[k] for k in flat)} r is near 1 all the same: the "
                f"activations shrink on the way forward (sd at layer {depth}: "
                + ", ".join(f"{init[k]['activation_std_per_layer'][-1]:.0e}" for k in flat)
                + ") as fast as the error on the way back, so every layer's weight gradient is "
                "equally tiny (largest "
                + ", ".join(f"{max(init[k]['grad_norm_batch_geomean']):.0e}" for k in flat)
                + "): r alone does not show a network that cannot learn."
            )
        out.append(sentence)
    d = ef["tanh_xavier_minus_relu_he"]
    comparison = (
        f"tanh with Xavier's weights − ReLU with He's, test accuracy, paired: {_stats.pm(d)}"
    )
    if d["ci"][0] > 0:
        out.append(
            f"{comparison}: tanh at its matched weights trains better than ReLU at its own. What "
            "spares the deep network sigmoid's fate is a unit whose derivative is near 1 where it "
            "works, with weights scaled to it; ReLU is one such remedy, not the only one."
        )
    elif d["ci"][1] < 0:
        out.append(f"{comparison}: ReLU with He's weights trains better than tanh with Xavier's.")
    else:
        out.append(
            f"{comparison}: no difference shown, so ReLU is one remedy for the vanishing gradient, "
            "not the only one."
        )
    relu = init[RELU_CELL]
    if relu["ratio_single"]["geomean"] > 2 * relu["ratio_batch"]["geomean"]:
        out.append(
            f"ReLU-He's r is {relu['ratio_batch']['geomean']:.2g} for the batch but "
            f"{relu['ratio_single']['geomean']:.2g} for single examples (mean norms): layer 1 "
            "sees the 40 zero-mean inputs, whose per-example terms x δᵀ partly cancel in the "
            "batch sum, while the non-negative ReLU activations feeding the later layers add up. "
            "For one example the ratio is about ‖x‖ / ‖a^(9)‖ ≈ √40 / √100 = "
            f"{math.sqrt(40 / s['width']):.2f} (40 inputs against {s['width']} activations of "
            "mean square 1 under He's weights), not a loss with depth."
        )
    return out


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
