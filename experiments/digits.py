"""Minibatch learning against its two extremes on scikit-learn's 8x8 digits: full-batch gradient
descent (one step per pass over the data) and one example at a time (batch size 1), each trained by
plain SGD at its own tuned learning rate and compared by the wall time it takes to reach a target
validation loss.

Every arm takes the lecture's step θ := θ - α ∂J_B/∂θ with J_B = (1/|B|) Σ_{i ∈ B} L_i, on batches
B of |B| = n (full batch), 32 (minibatch) or 1 example: n/|B| steps per pass. An arm's time to
target is

    T = p* · s,

p* the passes until the validation loss first reaches the target (interpolated linearly between
the ends of passes) and s the arm's seconds per pass, measured on one compiled run of it (no
vmap, no per-pass evaluation; best of several repeats, interleaved across the arms; compile time
excluded). Per-pass costs differ between the arms, so a time, not a count of passes or steps, puts
them on one scale. Plain SGD is the lecture's update and adds nothing (momentum, adaptive step
sizes) whose own tuning could favour one batch size. Two arms are compared by the paired log
ratio log(T_other / T_minibatch) over seeds that share their initial weights and shuffling keys.

Each arm's runs (learning rates × seeds) are one compiled program, vmapped and split over the CPU
cores, at XLA's backend optimisation level 1 (it compiles faster than the default level at the
same arithmetic). The same program trains the tuning runs and then the evaluation runs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats

ARMS = ("full batch", "minibatch", "one at a time")
TARGET = 0.2  # validation cross-entropy (nats) every arm is timed to
MINIBATCH = 32
LOSS = "softmax_cross_entropy"

CLAIM = (
    "Minibatch learning (draw a minibatch, compute gradients, update, repeat) trains faster than "
    "full-batch gradient descent and than learning from one example at a time: a minibatch step "
    "makes much of a full-batch step's progress at a fraction of its cost."
)

CRITERION = _protocol.Criterion(
    hypothesis=(
        f"On the 8x8 digits (a 64-100-10 ReLU network, plain SGD, each arm at its own learning "
        f"rate tuned on validation), minibatch learning (batches of {MINIBATCH}) reaches a "
        f"validation cross-entropy of {TARGET:g} in less wall time than full-batch gradient "
        "descent (one step per pass) and in less wall time than one example at a time (batch "
        "size 1)."
    ),
    rule=(
        "Time to target = passes until the validation loss first reaches the target "
        "(interpolated linearly between the ends of passes) × the arm's seconds per pass (one "
        "compiled run, best of several repeats). For each of the two comparisons, the paired "
        "log ratio log(T_other / T_minibatch) over the evaluation seeds (the same initial weights "
        "for every arm) with its 95% t interval: the part holds if the interval lies above 0, "
        "fails if it lies below 0, else is inconclusive; it is inconclusive too where a compared "
        "arm's training loss has not levelled off (plateau rule) on every evaluation seed, or "
        "where a run that missed the target (counted at its whole budget, a lower bound on its "
        "time) is all that favours its arm. The verdict: holds if both parts hold, partly if one "
        "holds and the other fails, fails if neither holds and one fails, else inconclusive."
    ),
    kind="comparison",
    source=(
        "time to a target validation quality as the measure of training speed: Coleman et al. "
        "2017, DAWNBench (NIPS ML Systems Workshop), and Mattson et al. 2020, MLPerf Training "
        "Benchmark (MLSys); every arm's learning rate tuned: Wilson et al. 2017 (NeurIPS)"
    ),
)

QUICK = {
    "sizes": [64, 100, 10],
    # carved from the 1437 training images, stratified: 1152 remain, 36 minibatches of 32
    "validation": 285,
    "batch_sizes": {"full batch": "all", "minibatch": MINIBATCH, "one at a time": 1},
    # passes per arm: each arm's budget reaches its plateau at the tuned rates
    "epochs": {"full batch": 600, "minibatch": 60, "one at a time": 20},
    "learning_rates": [0.03, 0.1, 0.3, 1.0],
    "tuning_seeds": 2,
    "seeds": 8,
    "target": TARGET,
    "plateau": {"window": 0.2, "rtol": 0.01, "atol": 0.01},
    # passes per timed call (each call tenths of a second or less) and the repeats, best kept
    "timed_epochs": {"full batch": 200, "minibatch": 20, "one at a time": 4},
    "repeats": 5,
    "data_seed": 0,
    "seed": 0,
}
FULL = {
    **QUICK,
    "learning_rates": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
    "tuning_seeds": 3,
    "seeds": 18,
    "repeats": 9,
}
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


# ---------------------------------------------------------------- data, settings, programs


def split(settings):
    """``(train, validation, test)``: the digits' test split as it is, and ``settings
    ["validation"]`` examples carved from its training split (stratified by class, drawn from
    ``settings["data_seed"]``); each an ``(X, y)`` pair of NumPy arrays."""
    from sklearn.model_selection import train_test_split

    (X, y), test = fn.data.digits()
    n_val = settings["validation"]
    if not isinstance(n_val, int) or not 10 <= n_val <= X.shape[0] - 10:
        raise ValueError(
            f"validation: expected a number of examples in [10, {X.shape[0] - 10}], got {n_val!r}"
        )
    X, Xv, y, yv = train_test_split(
        X, y, test_size=n_val, random_state=settings["data_seed"], stratify=y
    )
    return (X, y), (Xv, yv), test


def batch_size(settings, arm: str, n: int) -> int:
    """The examples per step of ``arm``: ``"all"`` is the whole training set of ``n``."""
    b = settings["batch_sizes"][arm]
    b = n if b == "all" else b
    if not isinstance(b, int) or not 1 <= b <= n:
        raise ValueError(f"batch_sizes[{arm!r}]: expected 'all' or 1..{n}, got {b!r}")
    return b


def _check(settings):
    for key in ("batch_sizes", "epochs", "timed_epochs"):
        if set(settings[key]) != set(ARMS):
            raise ValueError(f"{key}: expected one entry per arm {list(ARMS)}, got {settings[key]}")
    lrs = settings["learning_rates"]
    if not lrs or any(not (isinstance(a, (int, float)) and a > 0) for a in lrs):
        raise ValueError(f"learning_rates: expected positive numbers, got {lrs!r}")
    for key in ("tuning_seeds", "seeds", "repeats"):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise ValueError(f"{key}: expected a positive integer, got {settings[key]!r}")
    if not settings["target"] > 0:
        raise ValueError(f"target: expected a positive loss, got {settings['target']!r}")


def network(settings):
    return fn.MLP(tuple(settings["sizes"]), hidden="relu", output="identity")


def initial_weights(net, keys):
    """Each key's initial weights (the network's default init, He's for ReLU, from the first half
    of the key, as ``fit`` would draw them), stacked: every arm starts from these."""
    draw = jax.vmap(lambda k: net.init(jax.random.split(k)[0]))
    return jax.jit(draw, compiler_options=fn.xla.compiler_options(INIT_COMPILER_OPTIONS))(keys)


def training_program(net, data, b: int, epochs: int):
    """``(keys, inits, lrs) -> history``: runs of plain SGD, one per row (key, initial weights,
    learning rate), with batch size ``b`` for ``epochs`` passes, recording after every pass the
    mean minibatch loss (``"loss"``), the validation loss and accuracy (``"eval_loss"``,
    ``"eval_accuracy"``) and the test accuracy (``"test_accuracy"``, reported, never used to
    choose). One compiled program; every leaf (runs, epochs)."""
    (X, y), (Xv, yv), (Xt, yt) = data

    def test_accuracy(params):
        return {"test_accuracy": fn.train.accuracy(net, LOSS, net.apply(params, Xt), yt)}

    record = fn.train.Record(eval_data=(Xv, yv), metrics=test_accuracy)

    def one(key, init, lr):
        sgd = optax.sgd(lr)
        fit = fn.train.fit(
            net, sgd, key, (X, y), epochs=epochs, batch_size=b, loss=LOSS, init=init, record=record
        )
        return fit[1]

    program = jax.jit(jax.vmap(one), compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS))

    def run(keys, inits, lrs):
        lrs = jnp.asarray(lrs, jnp.float32)
        args = jax.device_put((keys, inits, lrs), _seeds.seed_sharding(lrs.shape[0]))
        return jax.tree.map(np.asarray, program(*args))

    return run


def timed_program(net, X, y, b: int, epochs: int, lr: float):
    """``(key, init) -> params``: one run of plain SGD at ``lr``, batch size ``b``, ``epochs``
    passes, recording nothing per pass, compiled: what a pass costs with nothing else around."""

    def one(key, init):
        record = fn.train.Record(history="final")
        state, _ = fn.train.fit(
            net, optax.sgd(lr), key, (X, y), epochs=epochs, batch_size=b, loss=LOSS, init=init,
            record=record,
        )  # fmt: skip
        return state.params

    return jax.jit(one, compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS))


def seconds_per_pass(programs: dict, epochs: dict, key, init, repeats: int) -> dict:
    """Each arm's seconds per pass: the best of ``repeats`` timed calls of its compiled program
    (compiled and run once untimed first), divided by its passes per call. The repeats go round
    the arms in turn, so that a change in the machine's load reaches every arm alike."""
    import time

    compiled = {arm: p.lower(key, init).compile() for arm, p in programs.items()}
    for c in compiled.values():
        jax.block_until_ready(c(key, init))
    calls = {arm: [] for arm in compiled}
    for _ in range(repeats):
        for arm, c in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(c(key, init))
            calls[arm].append(time.perf_counter() - start)
    return {
        arm: {
            "seconds": min(t) / epochs[arm],
            "repeats": [s / epochs[arm] for s in t],
            "passes_per_call": epochs[arm],
        }
        for arm, t in calls.items()
    }


# ---------------------------------------------------------------- measures and choices


def passes_to_target(initial, val, target):
    """The passes until the validation loss first reaches ``target``, interpolated linearly
    between the ends of passes (pass 0: the initial weights), and whether it did.

    ``initial`` (...,) and ``val`` (..., epochs): the loss before training and after each pass.
    The first pass e with L_e <= target gives p* = (e - 1) + (L_{e-1} - target) / (L_{e-1} - L_e).
    Returns ``(passes, reached)``: passes NaN where the target was never reached.
    """
    L = np.concatenate(
        [np.asarray(initial, np.float64)[..., None], np.asarray(val, np.float64)], -1
    )
    below = L[..., 1:] <= target
    reached = below.any(-1)
    e = np.argmax(below, -1) + 1
    prev = np.take_along_axis(L, (e - 1)[..., None], -1)[..., 0]
    cur = np.take_along_axis(L, e[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((prev - target) / (prev - cur), 0.0, 1.0)
    return np.where(reached, e - 1 + frac, np.nan), reached


def choose_rate(lrs, passes, reached, val):
    """The learning rate an arm gets, from validation numbers alone: the one of ``lrs`` whose
    tuning runs reach the target in the fewest passes on average (a rate with a run that misses
    it does not count); where none reaches it on every run, the one with the lowest mean best
    validation loss. ``passes``, ``reached`` (lrs, tuning seeds); ``val`` (lrs, tuning seeds,
    epochs). Returns ``(index, how)``."""
    ok = reached.all(-1)
    if ok.any():
        mean = np.where(ok, np.where(reached, passes, 0.0).mean(-1), np.inf)
        return int(np.argmin(mean)), "fewest passes to the target"
    best = np.where(np.isfinite(val), val, np.inf).min(-1).mean(-1)  # inf for a diverged run
    return int(np.argmin(best)), "none reached the target: lowest validation loss"


def part_verdict(log_ratio, other_reached, mini_reached, converged) -> str:
    """One comparison's verdict from the per-seed log ratios log(T_other / T_minibatch): the rule
    of :data:`CRITERION` (``_stats.decide``), except that a missed target (a lower bound on that
    run's time) cannot decide for the arm that missed it."""
    ci = _stats.mean_interval(log_ratio)["ci"]
    verdict = _stats.decide(ci, smallest=0.0, converged=converged)
    if verdict == "holds" and not all(mini_reached):
        return "inconclusive"
    if verdict == "fails" and not all(other_reached):
        return "inconclusive"
    return verdict


def _per_seed(h, initial, settings, steps_per_pass, seconds):
    """The evaluation runs of one arm (leaves (seeds, epochs)) reduced to per-seed numbers."""
    passes, reached = passes_to_target(initial, h["eval_loss"], settings["target"])
    budget = h["eval_loss"].shape[-1]
    bound = np.where(reached, passes, budget)  # a missed target: at least the whole budget
    v = np.where(np.isfinite(h["eval_loss"]), h["eval_loss"], np.inf)
    best = np.argmin(v, -1)  # the validation-chosen pass (0-based)
    rows = np.arange(best.shape[0])
    return {
        "passes_to_target": bound.tolist(),
        "reached": reached.tolist(),
        "steps_to_target": (bound * steps_per_pass).tolist(),
        "seconds_to_target": (bound * seconds).tolist(),
        "best_epoch": (best + 1).tolist(),
        "val_loss_at_best": h["eval_loss"][rows, best].tolist(),
        "test_accuracy_at_best": h["test_accuracy"][rows, best].tolist(),
        "val_accuracy_at_best": h["eval_accuracy"][rows, best].tolist(),
        "final_test_accuracy": h["test_accuracy"][:, -1].tolist(),
        "final_val_loss": h["eval_loss"][:, -1].tolist(),
        "final_train_loss": h["loss"][:, -1].tolist(),
    }


# ---------------------------------------------------------------- the run


def _tune_and_train(train, settings, lrs, initial, tuning, evaluation):
    """One arm: its tuning runs (every rate of ``lrs`` on every tuning seed), the rate they choose,
    and its evaluation runs at that rate. ``tuning`` and ``evaluation`` are ``(keys, initial
    weights)`` with a leading seed axis; ``initial`` (tuning seeds,) the validation loss of the
    tuning seeds' initial weights. Returns ``(index of the rate, how chosen, tuning record,
    evaluation history)``."""
    G, T, S = len(lrs), len(tuning[0]), len(evaluation[0])
    seed = np.tile(np.arange(T), G)  # run r: rate r // T, tuning seed r % T
    runs = jax.tree.map(lambda a: a[seed], tuning)
    tune = train(*runs, np.repeat(lrs, T))
    tune = jax.tree.map(lambda a: a.reshape(G, T, *a.shape[1:]), tune)
    passes, reached = passes_to_target(np.tile(initial, (G, 1)), tune["eval_loss"],
                                       settings["target"])  # fmt: skip
    chosen, how = choose_rate(lrs, passes, reached, tune["eval_loss"])
    record = {
        "passes_to_target": [
            [p if r else None for p, r in zip(*row)]
            for row in zip(passes.tolist(), reached.tolist())
        ],  # fmt: skip
        "reached": reached.tolist(),
        "plateau": _seeds.plateau_record(tune["loss"], **settings["plateau"]),
    }
    return chosen, how, record, train(*evaluation, np.full(S, lrs[chosen]))


def run(settings, out):
    _check(settings)
    data = split(settings)
    (X, y), (Xv, yv), (Xt, _) = data
    n = X.shape[0]
    net = network(settings)
    lrs = [float(a) for a in settings["learning_rates"]]
    T, S = settings["tuning_seeds"], settings["seeds"]
    keys = jax.random.split(jax.random.key(settings["seed"]), T + S)
    inits = initial_weights(net, keys)
    ce = fn.losses.get(LOSS)
    initial = np.asarray(jax.vmap(lambda p: ce.value(net.apply(p, Xv), yv))(inits))
    seeds = lambda part: (keys[part], jax.tree.map(lambda a: a[part], inits))  # noqa: E731
    tuning, evaluation = seeds(slice(0, T)), seeds(slice(T, T + S))

    arms, timers = {}, {}
    bar = _harness.progress(desc="digits: tune, train, time", total=len(ARMS) + 1, unit="step")
    with bar:
        for arm in ARMS:
            b = batch_size(settings, arm, n)
            epochs = settings["epochs"][arm]
            train = training_program(net, data, b, epochs)
            chosen, how, tuned, h = _tune_and_train(
                train, settings, lrs, initial[:T], tuning, evaluation
            )
            arms[arm] = {
                "batch_size": b,
                "steps_per_pass": n // b,
                "epochs": epochs,
                "learning_rate": lrs[chosen],
                "chosen_by": how,
                "tuning": tuned,
                "plateau": _seeds.plateau_record(h["loss"], **settings["plateau"]),
                "history": h,
            }
            timers[arm] = timed_program(net, X, y, b, settings["timed_epochs"][arm], lrs[chosen])
            bar.update(1)
        key0, init0 = jax.tree.map(lambda a: a[0], evaluation)
        timing = seconds_per_pass(
            timers, settings["timed_epochs"], key0, init0, settings["repeats"]
        )
        bar.update(1)

    for arm, a in arms.items():
        a["seconds_per_pass"] = timing[arm]
        a["per_seed"] = _per_seed(
            a["history"], initial[T:], settings, a["steps_per_pass"], timing[arm]["seconds"]
        )
    figure = _figure(arms, settings, out)
    curves = {arm: _curves(a.pop("history")) for arm, a in arms.items()}

    parts, comparisons = {}, {}
    mini = arms["minibatch"]
    for arm in ("full batch", "one at a time"):
        other = arms[arm]
        log_ratio = np.log(other["per_seed"]["seconds_to_target"]) - np.log(
            mini["per_seed"]["seconds_to_target"]
        )
        converged = all(other["plateau"]["converged"]) and all(mini["plateau"]["converged"])
        verdict = part_verdict(
            log_ratio, other["per_seed"]["reached"], mini["per_seed"]["reached"], converged
        )
        parts[f"minibatch faster than {arm}"] = verdict
        comparisons[arm] = {
            "log_ratio": _stats.mean_interval(log_ratio),
            "ratio": _ratio(_stats.mean_interval(log_ratio)),
            "steps_ratio": _ratio(
                _stats.mean_interval(
                    np.log(other["per_seed"]["steps_to_target"])
                    - np.log(mini["per_seed"]["steps_to_target"])
                )
            ),
            "passes_ratio": _ratio(
                _stats.mean_interval(
                    np.log(other["per_seed"]["passes_to_target"])
                    - np.log(mini["per_seed"]["passes_to_target"])
                )
            ),
            # minibatch minus the other arm, paired by seed
            "test_accuracy_at_best": _stats.paired_difference(
                mini["per_seed"]["test_accuracy_at_best"],
                other["per_seed"]["test_accuracy_at_best"],
            ),
            "final_test_accuracy": _stats.paired_difference(
                mini["per_seed"]["final_test_accuracy"], other["per_seed"]["final_test_accuracy"]
            ),
            "converged": converged,
            "verdict": verdict,
        }
    for a in arms.values():
        a["summary"] = {k: _stats.mean_std(v) for k, v in a["per_seed"].items() if k != "reached"}

    return {
        "network": net.describe(),
        "n_train": int(n),
        "n_validation": int(Xv.shape[0]),
        "n_test": int(Xt.shape[0]),
        "design": _design(settings, arms, n, Xv.shape[0], Xt.shape[0]),
        "arms": arms,
        "comparisons": comparisons,
        "parts": parts,
        "curves": curves,
        "figures": [figure],
        "verdict": _protocol.combine(parts),
        "headline": _headline(comparisons, settings),
        "seeds": (
            f"{S} seeds, the same initial weights and keys for every arm; learning rates tuned on "
            f"{T} other seeds"
        ),
    }


def _ratio(interval):
    """A mean log ratio with its interval as a ratio: the geometric mean of the per-seed ratios."""
    return {"mean": math.exp(interval["mean"]), "ci": [math.exp(c) for c in interval["ci"]]}


def _curves(h):
    """Mean and sd over seeds per pass of the validation and training loss, for result.json."""
    return {
        f"{k}_{s}": getattr(np, s)(h[k], 0).tolist()
        for k in ("eval_loss", "loss")
        for s in ("mean", "std")
    }


def _design(settings, arms, n, n_val, n_test):
    fb, mb, one = (arms[a] for a in ARMS)
    grid = ", ".join(f"{a:g}" for a in settings["learning_rates"])
    return [
        f"Scikit-learn's 8x8 digits, {n} training / {n_val} validation (carved from the training "
        f"split) / {n_test} test images; a 64-100-10 ReLU network with softmax cross-entropy, "
        "trained by plain SGD (θ := θ - α ∂J/∂θ, no momentum).",
        f"Three arms from the same initial weights per seed: full batch ({n} examples, 1 step "
        f"per pass, {fb['epochs']} passes), minibatch ({mb['batch_size']} examples, "
        f"{mb['steps_per_pass']} steps per pass, {mb['epochs']} passes) and one at a time (1 "
        f"example, {one['steps_per_pass']} steps per pass, {one['epochs']} passes).",
        f"Each arm's learning rate is the one of {{{grid}}} that reaches validation loss "
        f"{settings['target']:g} in the fewest passes on {settings['tuning_seeds']} tuning seeds; "
        f"the arms are judged on {settings['seeds']} other seeds by their time to that target "
        "(passes × measured seconds per pass).",
    ]


def _headline(comparisons, settings):
    def r(c):
        x = c["ratio"]
        d = _stats.decimals((x["ci"][1] - x["ci"][0]) / 2)
        return f"×{x['mean']:.{d}f} [{x['ci'][0]:.{d}f}, {x['ci'][1]:.{d}f}]"

    return (
        f"time to val. loss {settings['target']:g}, other arm ÷ minibatch {MINIBATCH}: full batch "
        f"{r(comparisons['full batch'])}, one at a time {r(comparisons['one at a time'])} "
        f"({settings['seeds']} seeds)"
    )


# ---------------------------------------------------------------- figure and report

COLOURS = {"full batch": "C0", "minibatch": "C1", "one at a time": "C2"}


def _log_band(ax, x, Y, **kw):
    """The geometric mean over seeds (rows of ``Y``) as a line, shaded from it ÷ to × one
    geometric standard deviation: a mean ± sd band on a log axis."""
    logs = np.log(np.where(np.asarray(Y) > 0, Y, np.nan))
    m, s = np.nanmean(logs, 0), np.nanstd(logs, 0)
    ax.plot(x, np.exp(m), **kw)
    ax.fill_between(x, np.exp(m - s), np.exp(m + s), color=kw.get("color"), alpha=0.2)


def _figure(arms, settings, out):
    """Validation loss (solid) and training loss (dashed) of every arm at its tuned rate against
    passes and against seconds (passes × the arm's seconds per pass), geometric mean and sd over
    seeds, log axes; the target as a dotted line, each arm's mean time to it as a dot."""
    plt = _plots.pyplot()
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for arm, a in arms.items():
        h, c = a["history"], COLOURS[arm]
        passes = np.arange(1, h["loss"].shape[-1] + 1)
        scales = (1.0, a["seconds_per_pass"]["seconds"])
        where = ("passes_to_target", "seconds_to_target")
        for ax, scale, w in zip(axes, scales, where, strict=True):
            x = passes * scale
            label = f"{arm} (batch {a['batch_size']}, lr {a['learning_rate']:g})"
            _log_band(ax, x, h["eval_loss"], color=c, lw=1.6, label=label)
            _log_band(ax, x, h["loss"], color=c, lw=1.0, ls="--")
            mean = np.mean(a["per_seed"][w])
            ax.plot([mean], [settings["target"]], "o", color=c, ms=7, mec="k", mew=0.8, zorder=5)
    for ax in axes:
        ax.axhline(settings["target"], color="0.3", ls=":", lw=1)
        ax.set(xscale="log", yscale="log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="major")
    axes[0].set(xlabel="passes over the training set (epochs)", ylabel="cross-entropy (nats)")
    axes[1].set(xlabel="seconds of training (passes × measured seconds per pass)")
    axes[0].set_title("against passes", fontsize=10)
    axes[1].set_title("against wall time", fontsize=10)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(
        "Plain SGD on the digits, each arm at its tuned rate: validation loss after each pass "
        "(solid), training loss = mean minibatch loss during the pass (dashed)\ngeometric mean "
        f"over {settings['seeds']} seeds, band ×/÷ one geometric sd; dots: mean time to "
        f"validation loss {settings['target']:g}",
        fontsize=10,
    )
    return _plots.save_figure(fig, out, "digits_curves.png")


def _pm(values, scale=1.0):
    return _stats.pm(_stats.mean_std(values), scale)


def _ratio_text(c):
    x = c["ratio"]
    d = _stats.decimals((x["ci"][1] - x["ci"][0]) / 2)
    return f"×{x['mean']:.{d}f} [{x['ci'][0]:.{d}f}, {x['ci'][1]:.{d}f}]"


def _tuning_table(result):
    s, arms = result["settings"], result["arms"]
    lines = [
        "| learning rate | " + " | ".join(ARMS) + " |",
        "|---|" + "---|" * len(ARMS),
    ]
    for i, lr in enumerate(s["learning_rates"]):
        cells = []
        for arm in ARMS:
            a = arms[arm]["tuning"]
            if all(a["reached"][i]):
                cell = f"{np.mean(a['passes_to_target'][i]):.3g}"
            else:
                cell = f"missed ({sum(a['reached'][i])}/{len(a['reached'][i])} reached)"
            if float(lr) == arms[arm]["learning_rate"]:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append(f"| {lr:g} | " + " | ".join(cells) + " |")
    return lines


def report(result):
    s, arms, comp = result["settings"], result["arms"], result["comparisons"]
    n = s["seeds"]
    lines = [f"- {d}" for d in result["design"]] + [
        "",
        f"Evaluation seeds ({n}), mean ± sd; passes to the target interpolated within a pass; "
        "test accuracy at the pass of lowest validation loss and after the last pass:",
        "",
        "| arm | learning rate | passes to target | steps to target | ms per pass | "
        "ms to target | test acc. (val.-chosen pass) | test acc. (last pass) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        a, p = arms[arm], arms[arm]["per_seed"]
        missed = len(p["reached"]) - sum(p["reached"])
        note = f" ({missed} missed: budget counted)" if missed else ""
        lines.append(
            f"| {arm} (batch {a['batch_size']}) | {a['learning_rate']:g} | "
            f"{_pm(p['passes_to_target'])}{note} | {_pm(p['steps_to_target'])} | "
            f"{1000 * a['seconds_per_pass']['seconds']:.3g} | "
            f"{_pm(p['seconds_to_target'], 1000)} | {_pm(p['test_accuracy_at_best'], 100)}% | "
            f"{_pm(p['final_test_accuracy'], 100)}% |"
        )
    fb, one = comp["full batch"], comp["one at a time"]
    lines += [
        "",
        "Time to target, other arm ÷ minibatch (geometric mean of the per-seed ratios, 95% "
        f"interval over {n} seeds): full batch {_ratio_text(fb)} → {fb['verdict']}; one at a time "
        f"{_ratio_text(one)} → {one['verdict']}. Gradient steps to target, full batch ÷ "
        f"minibatch: ×{fb['steps_ratio']['mean']:.2g}; passes, one at a time ÷ minibatch: "
        f"×{one['passes_ratio']['mean']:.2g}.",
        "",
        "Test accuracy, minibatch − other arm (percentage points, mean and 95% interval of the "
        "paired differences; not part of the criterion): "
        + "; ".join(
            f"{arm}: {_stats.pm(comp[arm]['test_accuracy_at_best'], 100)} at the validation-chosen "
            f"pass, {_stats.pm(comp[arm]['final_test_accuracy'], 100)} after the last"
            for arm in ("full batch", "one at a time")
        )
        + ".",
        "",
        "Learning-rate tuning: mean passes to the target on the "
        f"{s['tuning_seeds']} tuning seeds (chosen in bold; a rate with a run that misses the "
        "target is not chosen):",
        "",
        *_tuning_table(result),
        "",
        _timing_line(result),
        "",
        "Convergence (plateau rule on the training loss, the mean minibatch loss of a pass: "
        f"levelled off when no later pass improves on the best so far by more than "
        f"{s['plateau']['rtol']:g} of it + {s['plateau']['atol']:g}; converged if level for the "
        f"last {s['plateau']['window']:.0%} of the budget): "
        + "; ".join(
            f"{arm} {arms[arm]['plateau']['n_converged']}/{arms[arm]['plateau']['n_runs']} "
            f"(levelled off at pass {_span(arms[arm]['plateau']['epoch'])} of "
            f"{arms[arm]['epochs']})"
            for arm in ARMS
        )
        + ".",
        "",
        *_reasoning(result),
    ]
    return lines


def _span(epochs):
    lo, hi = min(epochs), max(epochs)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _timing_line(result):
    s, arms, m = result["settings"], result["arms"], result.get("machine", {})
    where = f" ({m['cpu']}, {m['cores']} cores)" if m else ""
    spread = "; ".join(
        f"{arm} {1000 * min(arms[arm]['seconds_per_pass']['repeats']):.3g}–"
        f"{1000 * max(arms[arm]['seconds_per_pass']['repeats']):.3g} ms"
        for arm in ARMS
    )
    return (
        "Seconds per pass: one run of each arm's compiled program (not vmapped, nothing recorded "
        f"per pass), {', '.join(str(s['timed_epochs'][a]) for a in ARMS)} passes per call, best "
        f"of {s['repeats']} calls taken in turn across the arms on this machine{where}, compile "
        f"time excluded; the calls ranged over {spread} per pass."
    )


def _reasoning(result):
    arms, comp = result["arms"], result["comparisons"]
    fb, one = comp["full batch"], comp["one at a time"]
    mb = arms["minibatch"]
    cost = mb["batch_size"] / arms["full batch"]["batch_size"]
    r = fb["steps_ratio"]["mean"]
    slower = (
        arms["one at a time"]["seconds_per_pass"]["seconds"] / mb["seconds_per_pass"]["seconds"]
    )
    out = [
        f"Full batch needed {r:.2g}× the minibatch's gradient steps to reach the target: a step "
        f"on {mb['batch_size']} examples made about {r:.0%} of the progress of a step on all "
        f"{arms['full batch']['batch_size']}, at {cost:.1%} of its arithmetic. One at a time "
        f"needed {one['passes_ratio']['mean']:.2g}× the minibatch's passes, each pass taking "
        f"{slower:.2g}× as long.",
        f"Verdict {result['verdict']}: minibatch against full batch {fb['verdict']}, against one "
        f"at a time {one['verdict']}"
        + (
            "; a compared arm did not level off on every seed."
            if not (fb["converged"] and one["converged"])
            else "."
        ),
    ]
    return out


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
