"""Unsupervised pre-training, the lecture's remedy for "learning a deep network is hard": a deep
sigmoid network on MNIST-1D, pre-trained greedily layer by layer as autoencoders and fine-tuned,
against the same network trained from random initial weights, both with the same number of
gradient steps (pre-training counted), after the design of Erhan et al. 2010 ("Why does
unsupervised pre-training help deep learning?", JMLR 11: equal budgets, many seeds).

The design, so that the comparison is fair:

- budget: B gradient steps for each arm. The pre-trained arm spends L·E_pre·(n/b) of them on its
  L autoencoders (E_pre epochs each), the rest on fine-tuning; the random arm fine-tunes for all
  B. B is chosen so that both arms' training losses level off (the plateau rule) well before it
  ends. Counted in steps, the pre-trained arm computes less: an autoencoder's step is cheaper than
  a step of the whole network. E_pre is fixed, not run to a plateau: an autoencoder with at least
  as many hidden units as inputs keeps creeping towards the identity map.
- learning rates: each arm's fine-tuning learning rate is tuned on the same grid, by validation
  accuracy on a split carved from MNIST-1D's training examples; the test set chooses nothing. The
  full grid spans two decades in steps of about √10 (0.01 to 1); the quick one keeps the three
  rates that full mode's validation chooses for either arm, so that quick mode repeats the same
  comparison with fewer seeds. The pre-training's own optimizer is fixed (Adam at
  its default rate 10⁻³) and not tuned, so neither arm gets more tuning than the other.
- optimizer: SGD with momentum for every fine-tuning, and no second one. It is the optimizer of
  the anchor study and of the claim's era, and with its learning rate tuned per arm and a budget
  long enough the random arm does train: from Xavier's initial weights the deep sigmoid network
  first sits at chance for a few thousand steps (the historical difficulty), then escapes and fits
  its training set. An adaptive optimizer such as Adam asks another question (whether it replaces
  pre-training), and a second optimizer would double the cost of a comparison that runs every
  arm to its plateau.
- random arm: Xavier's init, std √(1/n_in), the standard init for sigmoid units and the fair
  baseline. The smaller N(0, 0.01²) init of the pre-2006 networks is left out: it only makes the
  baseline weaker (its gradients shrink by about √width · 0.01 · 1/4 per layer on the way back).
- comparison: test accuracy at the final epoch and at the checkpoint of best validation accuracy,
  each with the learning rate that validation chooses for that point; the paired difference over
  seeds (seed i: the same minibatch order in both arms) with its 95% t interval.

The network is 5 hidden layers of 50 sigmoid units: deep enough for the difficulty, narrow
enough that every run reaches its plateau within the time of the experiment.

How it runs: the autoencoders of every seed train as one compiled program (``jax.vmap`` over
keys); each arm's fine-tuning is one compiled program over learning rates and seeds (seeds split
over the CPU cores), compiled while the autoencoders train. The fine-tuning loop is fnnet's
training step (``fnnet.train.make_step``) scanned over epochs, with the accuracies measured every
few epochs (a checkpoint) rather than after every one.
"""

from __future__ import annotations

import concurrent.futures

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnnet as fn
from experiments import _harness, _plots, _protocol, _seeds, _stats

CLAIM = (
    "Greedy layer-wise unsupervised pre-training (autoencoders) makes a deep network learn better "
    "than training it from random initial weights."
)
CRITERION = _protocol.Criterion(
    hypothesis=(
        "A 5-hidden-layer sigmoid network on MNIST-1D, pre-trained as autoencoders and then "
        "fine-tuned, reaches a higher test accuracy than the same network trained from random "
        "(Xavier) initial weights, when both take the same number of gradient steps (pre-training "
        "counted), each fine-tunes with its own learning rate tuned on validation, and both train "
        "until their training loss levels off."
    ),
    rule=(
        "Test accuracy, pre-trained minus random, paired over seeds with its 95% t interval, at "
        "two points: the final epoch, and each run's checkpoint of best validation accuracy. At "
        "each point: holds if the interval lies above 0; fails if it lies below +1 percentage "
        "point (any effect is smaller than one point, or reversed); else inconclusive; "
        "inconclusive too if any run compared has not levelled off by the plateau rule. The claim "
        "holds if both points hold, partly if one holds, fails if none holds and one fails, "
        "else inconclusive."
    ),
    kind="comparison",
    source=(
        "design after Erhan et al. 2010, Why does unsupervised pre-training help deep learning?, "
        "JMLR 11 (equal budgets, many seeds); the 1-point margin is this experiment's choice"
    ),
)
QUICK = {
    "hidden": [50, 50, 50, 50, 50],
    "n_train": 1500,
    "n_val": 1000,
    "batch_size": 100,
    "pretrain_epochs": 20,
    "pretrain_lr": 1e-3,
    "budget_epochs": 1500,
    "momentum": 0.9,
    "lrs": [0.01, 0.3, 1.0],
    "seeds": 4,
    "checkpoint_every": 10,
    "plateau": {"window": 0.2, "rtol": 0.01, "atol": 0.01},
    "smallest_effect": 0.01,
    "seed": 0,
}
FULL = {**QUICK, "n_train": None, "lrs": [0.01, 0.03, 0.1, 0.3, 1.0], "seeds": 8}

ARMS = ("pretrained", "random")
LABELS = {"pretrained": "pre-trained (autoencoders)", "random": "random init (Xavier)"}
POINTS = {"final": "final epoch", "best": "best-validation checkpoint"}
LOSS = "softmax_cross_entropy"
STYLE = {"pretrained": {"color": "C0", "marker": "o"}, "random": {"color": "C1", "marker": "s"}}
# XLA's CPU backend optimisation level (its default is 3): at level 1 the training programs
# compile markedly faster and run as fast
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def budget(settings: dict, n_train: int) -> dict:
    """The gradient steps of each arm, from the settings; raises ValueError where they cannot be
    made equal.

    With b the minibatch, an epoch over n examples is ⌊n/b⌋ steps (autoencoders and fine-tuning
    alike). The random arm fine-tunes for B = ``budget_epochs`` epochs; the pre-trained arm trains
    L autoencoders for E_pre epochs each and fine-tunes for B - L·E_pre epochs: both take
    B·⌊n/b⌋ steps.
    """
    layers = len(settings["hidden"])
    per_epoch = n_train // settings["batch_size"]
    every = settings["checkpoint_every"]
    pre = layers * settings["pretrain_epochs"]
    epochs = {"pretrained": settings["budget_epochs"] - pre, "random": settings["budget_epochs"]}
    if per_epoch < 1:
        raise ValueError(
            f"batch_size: expected at most the {n_train} training examples, got "
            f"{settings['batch_size']}"
        )
    if epochs["pretrained"] < 2 * every:
        raise ValueError(
            f"budget_epochs: expected more than the {pre} epochs of pre-training plus two "
            f"checkpoints ({2 * every} epochs) of fine-tuning, got {settings['budget_epochs']}"
        )
    bad = [a for a, e in epochs.items() if e % every]
    if bad:
        raise ValueError(
            f"checkpoint_every: expected a divisor of every arm's fine-tuning epochs {epochs}, "
            f"got {every}"
        )
    steps = {
        "pretrained": {
            "pre-training": pre * per_epoch,
            "fine-tuning": epochs["pretrained"] * per_epoch,
        },
        "random": {"pre-training": 0, "fine-tuning": epochs["random"] * per_epoch},
    }
    total = {a: sum(s.values()) for a, s in steps.items()}
    return {
        "steps_per_epoch": per_epoch,
        "fine_tuning_epochs": epochs,
        "steps": steps,
        "total_steps": total,
    }


def split(settings: dict):
    """MNIST-1D's 4000 training examples cut into training (the first ``n_train``, default all
    that the validation split leaves) and validation (the last ``n_val``); its 1000 test examples
    kept apart. Returns ``(train, val, test)``, each ``(X, y)``."""
    (X, y), test = fn.data.mnist1d()
    n_val = settings["n_val"]
    if not 1 <= n_val < X.shape[0]:
        raise ValueError(f"n_val: expected 1 to {X.shape[0] - 1}, got {n_val}")
    n_train = settings["n_train"] or X.shape[0] - n_val
    if not 1 <= n_train <= X.shape[0] - n_val:
        raise ValueError(f"n_train: expected 1 to {X.shape[0] - n_val} or None, got {n_train}")
    return (X[:n_train], y[:n_train]), (X[-n_val:], y[-n_val:]), test


def pretrain(net: fn.MLP, X, keys, settings):
    """Autoencoder pre-training (``fnnet.pretrain.autoencoders``) for every key at once, as one
    compiled program (``jax.vmap`` over keys), with Adam at ``pretrain_lr``.

    Returns:
      ``(params, recon, variance)``: the parameters stacked over seeds; the reconstruction loss
      (MSE summed over the reconstructed units) per layer, seed and epoch (layers, seeds, epochs);
      and per layer and seed the total variance of the inputs it reconstructs, Σ_j var(h_j), the
      loss of always answering their mean (layers, seeds).
    """
    opt = optax.adam(settings["pretrain_lr"])

    def one(k, X):
        params, curves = fn.pretrain.autoencoders(
            net,
            k,
            X,
            epochs=settings["pretrain_epochs"],
            batch_size=settings["batch_size"],
            optimizer=opt,
        )
        h, variance = X, []
        for layer in params[:-1]:
            variance.append(jnp.sum(jnp.var(h, axis=0)))
            h = net.hidden(h @ layer["W"] + layer["b"][None, :])
        return params, jnp.stack(curves), jnp.stack(variance)

    program = jax.jit(
        jax.vmap(one, in_axes=(0, None)), compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS)
    )
    params, recon, variance = program(keys, jnp.asarray(X))
    return params, np.asarray(recon).swapaxes(0, 1), np.asarray(variance).T


def fine_tuner(net: fn.MLP, data, settings, epochs: int, keys, like):
    """The compiled fine-tuning of one arm: a function ``starts -> history`` for every learning
    rate of ``settings["lrs"]`` and every seed, compiled here for the shapes and shardings of
    ``like`` (initial parameters stacked over seeds; their values are not used), so that it can
    compile before the pre-trained parameters exist.

    Each run is SGD with momentum, θ := θ + v, v := μ v - α ∂L/∂θ, on minibatches of
    ``batch_size`` (``fnnet.train.make_step``, softmax cross-entropy) for ``epochs`` epochs, from
    its start, with minibatch order from ``keys[i]`` (seed i: the same order in every arm and at
    every rate). Every ``checkpoint_every`` epochs it measures the accuracy on the training,
    validation and test sets.

    Returns:
      a function of ``starts`` (stacked over seeds) returning NumPy arrays: ``"loss"`` (rates,
      seeds, epochs), the mean minibatch loss of each epoch; ``"train"``, ``"val"``, ``"test"``
      (rates, seeds, checkpoints), accuracies after every ``checkpoint_every`` epochs.
    """
    (X, y), val, test = jax.tree.map(jnp.asarray, data)
    every, bs = settings["checkpoint_every"], settings["batch_size"]
    sets = {"train": (X, y), "val": val, "test": test}

    def one(key, start, lr):
        opt = optax.sgd(lr, momentum=settings["momentum"])
        step = fn.train.make_step(net, opt, LOSS)

        def epoch(state, k):
            idx = fn.train.minibatch_indices(k, X.shape[0], bs)
            state, m = jax.lax.scan(lambda s, i: step(s, X[i], y[i]), state, idx)
            return state, jnp.mean(m["loss"])

        def checkpoint(state, ks):
            state, losses = jax.lax.scan(epoch, state, ks)
            acc = {
                name: fn.train.accuracy(net, LOSS, net.apply(state.params, A), b)
                for name, (A, b) in sets.items()
            }
            return state, (losses, acc)

        ks = jax.random.split(key, epochs).reshape(epochs // every, every)
        _, (losses, acc) = jax.lax.scan(checkpoint, fn.train.init_state(opt, start), ks)
        return {"loss": losses.reshape(-1), **acc}

    seeds = jax.vmap(one, in_axes=(0, 0, None))
    program = jax.jit(
        jax.vmap(seeds, in_axes=(None, None, 0)),
        compiler_options=fn.xla.compiler_options(COMPILER_OPTIONS),
    )
    sharding = _seeds.seed_sharding(keys.shape[0])
    keys = jax.device_put(keys, sharding)
    lrs = jnp.asarray(settings["lrs"], jnp.float32)
    compiled = program.lower(keys, jax.device_put(like, sharding), lrs).compile()

    def train(starts):
        h = compiled(keys, jax.device_put(starts, sharding), lrs)
        return jax.tree.map(np.asarray, h)

    return train


def choose(val) -> dict:
    """The choices of one arm, made from its validation accuracies alone.

    ``val``: (rates, seeds, checkpoints) validation accuracy; a NaN (a diverged run) counts as 0,
    a network that classifies nothing. For the final epoch: the rate with the highest mean over
    seeds of the last checkpoint's accuracy. For the best checkpoint: each run's checkpoint of
    highest accuracy (the first, on ties), and the rate with the highest mean over seeds of that
    accuracy. Ties between rates go to the smaller (the earlier in the grid).

    Returns:
      ``{"final": rate index, "best": rate index, "checkpoint": (rates, seeds) index,
      "score_final": (rates,), "score_best": (rates,)}``.
    """
    v = np.nan_to_num(np.asarray(val, np.float64), nan=0.0)
    checkpoint = np.argmax(v, axis=-1)
    score_final = v[..., -1].mean(axis=-1)
    score_best = v.max(axis=-1).mean(axis=-1)
    return {
        "final": int(np.argmax(score_final)),
        "best": int(np.argmax(score_best)),
        "checkpoint": checkpoint,
        "score_final": score_final,
        "score_best": score_best,
    }


def at_choices(h, chosen) -> dict:
    """The per-seed numbers of one arm at its validation choices: test accuracy (NaN as 0) at the
    final epoch with the rate chosen for it, and at each run's best checkpoint with the rate
    chosen for that, plus the training accuracy at the same places."""
    test = np.nan_to_num(h["test"], nan=0.0)
    train = np.nan_to_num(h["train"], nan=0.0)
    g, seeds = chosen["best"], np.arange(test.shape[1])
    c = chosen["checkpoint"][g]
    return {
        "final": test[chosen["final"], :, -1],
        "best": test[g, seeds, c],
        "train_final": train[chosen["final"], :, -1],
        "train_best": train[g, seeds, c],
    }


def _train_everything(net: fn.MLP, data, settings, plan):
    """Pre-training and both arms' fine-tuning. The autoencoders train on a second thread while
    the fine-tuning programs compile; then the random arm fine-tunes, then the pre-trained one.
    Returns ``(recon, variance, histories)``, ``histories[arm]`` as :func:`fine_tuner` returns."""
    keys = jax.random.split(jax.random.key(settings["seed"]), settings["seeds"])
    split_keys = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    pre_keys, init_keys, fit_keys = split_keys[:, 0], split_keys[:, 1], split_keys[:, 2]
    random_starts = jax.vmap(lambda k: net.init(k, "xavier", 1.0))(init_keys)
    epochs = plan["fine_tuning_epochs"]
    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool,
        _harness.progress(
            desc="pretraining: pre-train and compile, fine-tune two arms", total=3, unit="step"
        ) as bar,
    ):
        pre = pool.submit(pretrain, net, data[0][0], pre_keys, settings)
        tuners = {
            a: fine_tuner(net, data, settings, epochs[a], fit_keys, random_starts) for a in ARMS
        }
        histories = {"random": tuners["random"](random_starts)}
        bar.update(1)
        pretrained, recon, variance = pre.result()
        bar.update(1)
        histories["pretrained"] = tuners["pretrained"](pretrained)
        bar.update(1)
    return recon, variance, histories


def _reconstruction(recon, variance, sizes, rule):
    """The result rows of the autoencoders: per layer its reconstruction loss at the first and
    last epoch as a fraction of its inputs' variance, and whether it levelled off."""
    rows = []
    for l, (c, v) in enumerate(zip(recon, variance)):
        p = _seeds.plateau_record(c, **rule)
        rows.append(
            {
                "layer": l + 1,
                "autoencoder": f"{sizes[l]}-{sizes[l + 1]}-{sizes[l]}",
                "unexplained_first_epoch": _stats.mean_std(c[:, 0] / v),
                "unexplained_last_epoch": _stats.mean_std(c[:, -1] / v),
                "plateau": p,
            }
        )
    return rows


def _levelled(epoch):
    """The epochs where runs levelled off (those that did), or None where none did."""
    e = np.asarray(epoch)
    return _stats.mean_std(e[e > 0]) if (e > 0).any() else None


def _above_chance(train, start, steps_per_checkpoint, level=0.2):
    """Per run, the gradient step (pre-training included) of the first checkpoint whose training
    accuracy exceeds ``level`` (twice chance for ten classes); NaN where none does."""
    above = np.nan_to_num(train, nan=0.0) > level
    first = np.argmax(above, axis=-1)
    return np.where(above.any(axis=-1), start + (first + 1) * steps_per_checkpoint, np.nan)


def _arm(h, arm, plan, settings):
    """One arm's result from its history ``h`` (see :func:`fine_tuner`): the validation choices,
    the test and training accuracy there, the plateau record, and when training accuracy left
    chance level. Returns ``(result, per-seed values at the choices)``."""
    lrs, every, rule = settings["lrs"], settings["checkpoint_every"], settings["plateau"]
    chosen = choose(h["val"])
    plateau = _seeds.plateau(h["loss"], **rule)
    values = at_choices(h, chosen)
    g = chosen["final"]
    left = _above_chance(
        h["train"][g], plan["steps"][arm]["pre-training"], every * plan["steps_per_epoch"]
    )
    result = {
        "fine_tuning_epochs": plan["fine_tuning_epochs"][arm],
        "total_steps": plan["total_steps"][arm],
        "tuned": {p: {"lr": lrs[chosen[p]]} for p in POINTS},
        "validation": {
            "score_final": chosen["score_final"].tolist(),
            "score_best": chosen["score_best"].tolist(),
            "final": h["val"][:, :, -1].tolist(),
            "best": h["val"].max(axis=-1).tolist(),
            "best_checkpoint_epoch": ((chosen["checkpoint"] + 1) * every).tolist(),
        },
        "test_accuracy": {p: _stats.mean_interval(values[p]) for p in POINTS},
        "train_accuracy": {p: _stats.mean_std(values[f"train_{p}"]) for p in POINTS},
        "plateau": _seeds.plateau_record(h["loss"], **rule),
        "converged": {p: bool(plateau["converged"][chosen[p]].all()) for p in POINTS},
        "levelled_off_epoch": {p: _levelled(plateau["epoch"][chosen[p]]) for p in POINTS},
        "best_checkpoint_epoch": _stats.mean_std(
            (chosen["checkpoint"][chosen["best"]] + 1) * every
        ),
        "above_chance_step": {
            "values": left.tolist(),
            "n_never": int(np.isnan(left).sum()),
            "stat": _stats.mean_std(left[~np.isnan(left)]) if (~np.isnan(left)).any() else None,
        },
    }
    return result, values


def _part(d, arms, point, settings):
    """One point's verdict from its paired difference ``d`` and the plateau record of the runs
    compared (each arm's runs at the rate chosen for ``point``), with the reason in words."""
    smallest, lrs = settings["smallest_effect"], settings["lrs"]
    short = []
    for a in ARMS:
        lr = arms[a]["tuned"][point]["lr"]
        ok = arms[a]["plateau"]["converged"][lrs.index(lr)]
        if not all(ok):
            short.append(f"{len(ok) - sum(ok)} of {len(ok)} {LABELS[a]} runs at lr {lr:g}")
    verdict = _stats.decide(d["ci"], smallest=smallest, converged=not short)
    lo, hi = d["ci"]
    if short:
        alone = _stats.decide(d["ci"], smallest=smallest)
        why = (
            f"not levelled off by the plateau rule: {', '.join(short)} (the interval "
            f"[{lo * 100:.1f}, {hi * 100:.1f}] alone would say {alone})"
        )
    elif verdict == "holds":
        why = "the interval lies above 0"
    elif verdict == "fails":
        why = f"the interval lies below +{smallest * 100:g} point"
    else:
        why = f"the interval [{lo * 100:.1f}, {hi * 100:.1f}] straddles 0 or +{smallest * 100:g}"
    return {"verdict": verdict, "why": why}


def run(settings, out):
    train, val, test = split(settings)
    plan = budget(settings, train[0].shape[0])
    sizes = (train[0].shape[1], *settings["hidden"], 10)
    net = fn.MLP(sizes, hidden="sigmoid", output="identity")
    recon, variance, histories = _train_everything(net, (train, val, test), settings, plan)
    arms, values = {}, {}
    for a in ARMS:
        arms[a], values[a] = _arm(histories[a], a, plan, settings)
    difference, parts = {}, {}
    for p in POINTS:
        d = _stats.paired_difference(values["pretrained"][p], values["random"][p])
        difference[p] = d
        parts[p] = _part(d, arms, p, settings)
    verdict = _protocol.combine({p: parts[p]["verdict"] for p in POINTS})
    n = settings["seeds"]
    result = {
        "network": net.describe(),
        "n_train": int(train[0].shape[0]),
        "n_val": int(val[0].shape[0]),
        "n_test": int(test[0].shape[0]),
        "budget": plan,
        "reconstruction": _reconstruction(recon, variance, sizes, settings["plateau"]),
        "arms": arms,
        "difference": difference,
        "parts": parts,
        "verdict": verdict,
        "seeds": f"{n} seeds, the same for both arms (seed i: the same minibatch order)",
    }
    result["design"] = _design(result, settings)
    result["headline"] = _headline(difference, n)
    result["figures"] = [_figure(histories, arms, plan, settings, out)]
    return result


def _design(result, settings) -> list[str]:
    """The three sentences of the design: data and network; arms and budget; tuning and
    judgement."""
    plan, s = result["budget"], settings
    return [
        f"MNIST-1D, {result['n_train']} training examples, {result['n_val']} more held out for "
        f"validation, {result['n_test']} for test; a {'-'.join(map(str, _sizes(s)))} sigmoid "
        f"network, softmax cross-entropy, minibatches of {s['batch_size']}.",
        f"Pre-trained: {len(s['hidden'])} autoencoders, {s['pretrain_epochs']} epochs each (Adam "
        f"{s['pretrain_lr']:g}, fixed), then {plan['fine_tuning_epochs']['pretrained']} epochs of "
        f"fine-tuning; random (Xavier): {plan['fine_tuning_epochs']['random']} epochs; both "
        f"{plan['total_steps']['random']} gradient steps, fine-tuned by SGD with momentum "
        f"{s['momentum']:g}.",
        f"Each arm's learning rate tuned on {{{', '.join(f'{v:g}' for v in s['lrs'])}}} by "
        "validation accuracy, separately for the final epoch and for the best checkpoint "
        f"(every {s['checkpoint_every']} epochs); test accuracy compared by the paired difference "
        f"over {s['seeds']} seeds.",
    ]


def _sizes(settings):
    return (40, *settings["hidden"], 10)


def _headline(difference, n) -> str:
    f, b = difference["final"], difference["best"]
    return (
        "test acc. pre-trained − random init, equal steps: "
        f"{_stats.pm(f, 100)} points at the final epoch, {_stats.pm(b, 100)} at the best "
        f"checkpoint ({n} seeds)"
    )


def _figure(histories, arms, plan, settings, out):
    """Training loss, training accuracy and test accuracy of both arms against gradient steps
    (the pre-trained arm's curves start after its pre-training steps, shaded), mean over seeds
    with a ± one standard deviation band, at the learning rates validation chose (solid: for the
    final epoch; dashed: for the best checkpoint, where that is another); and the validation
    accuracy at every learning rate of the grid (points: seeds)."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (ax_loss, ax_train), (ax_test, ax_lr) = axes
    per_epoch, every = plan["steps_per_epoch"], settings["checkpoint_every"]
    pre_steps = plan["steps"]["pretrained"]["pre-training"]
    total = plan["total_steps"]["random"]
    lrs = settings["lrs"]
    top = 0.0
    for a in ARMS:
        h = histories[a]
        start = plan["steps"][a]["pre-training"]
        n_epochs = h["loss"].shape[-1]
        steps = start + per_epoch * np.arange(1, n_epochs + 1)
        ck = start + per_epoch * every * np.arange(1, h["val"].shape[-1] + 1)
        final, best = (lrs.index(arms[a]["tuned"][p]["lr"]) for p in POINTS)
        shown = {final: "final epoch"} if final != best else {final: "both points"}
        if best != final:
            shown[best] = "best checkpoint"
        for g, chosen_for in shown.items():
            label = f"{LABELS[a]}, lr {lrs[g]:g} (chosen for {chosen_for})"
            ls = "-" if g == final else "--"
            st = {**STYLE[a], "ls": ls, "markevery": max(1, len(ck) // 8), "ms": 5, "lw": 1.5}
            _log_band(
                ax_loss, steps, h["loss"][g], **{**st, "markevery": n_epochs // 8}, label=label
            )
            _plots.band(ax_train, ck, h["train"][g], **st, label=label)
            _plots.band(ax_test, ck, h["test"][g], **st, label=label)
            top = max(top, float(np.nanmax(np.nanmean(h["test"][g], axis=0))))
    for ax in (ax_loss, ax_train, ax_test):
        ax.axvspan(0, pre_steps, color="0.85", zorder=0, label="pre-training (autoencoders)")
        ax.set(xlabel="gradient steps (pre-training included)", xlim=(0, total))
    ax_loss.set(ylabel="training loss (cross-entropy)", yscale="log")
    ax_loss.set_title("training loss (geometric mean ×/÷ geometric sd)", fontsize=10)
    ax_train.set(ylabel="training accuracy", ylim=(0, 1.02))
    ax_train.set_title("training accuracy", fontsize=10)
    ax_test.set(ylabel="test accuracy", ylim=(0, min(1.02, top + 0.15)))
    ax_test.set_title("test accuracy", fontsize=10)
    ax_loss.legend(fontsize=8, loc="lower left")

    for j, a in enumerate(ARMS):
        final = np.asarray(arms[a]["validation"]["final"])
        best = np.asarray(arms[a]["validation"]["best"])
        x = np.arange(len(lrs)) + (j - 0.5) * 0.15
        c = STYLE[a]["color"]
        for k, (v, m, ls) in enumerate(((best, "^", "-"), (final, "v", "--"))):
            which = "best checkpoint" if k == 0 else "final epoch"
            mean = np.nanmean(v, axis=1)
            ax_lr.plot(
                x, mean, color=c, ls=ls, lw=1.5, marker=m, ms=8, label=f"{LABELS[a]}, {which}"
            )
            xs = np.repeat(x, v.shape[1]) + (k - 0.5) * 0.05
            ax_lr.plot(xs, v.ravel(), m, color=c, ms=4, alpha=0.5)
    ax_lr.set_xticks(np.arange(len(lrs)), [f"{v:g}" for v in lrs])
    ax_lr.set(xlabel="fine-tuning learning rate", ylabel="validation accuracy")
    ax_lr.set_title("learning-rate tuning (small points: seeds; lines: means)", fontsize=10)
    ax_lr.legend(fontsize=8)
    fig.suptitle(
        f"{'-'.join(map(str, _sizes(settings)))} sigmoid network on MNIST-1D, both arms "
        f"{total} gradient steps: mean ± sd over {settings['seeds']} seeds",
        fontsize=11,
    )
    return _plots.save_figure(fig, out, "pretraining_curves.png")


def _log_band(ax, x, Y, **kw):
    """A positive quantity spanning decades, on a log axis: the geometric mean over seeds (rows
    of ``Y``) as a line, times and divided by the geometric standard deviation shaded."""
    logs = np.log(np.where(Y > 0, Y, np.nan))
    m, s = np.nanmean(logs, axis=0), np.nanstd(logs, axis=0)
    ax.plot(x, np.exp(m), **kw)
    ax.fill_between(x, np.exp(m - s), np.exp(m + s), color=kw.get("color"), alpha=0.2)


def _rate(lr, settings) -> str:
    """A chosen learning rate, marked where it is the smallest or largest of the grid."""
    grid = settings["lrs"]
    edge = len(grid) > 1 and lr in (min(grid), max(grid))
    return f"{lr:g} (grid edge)" if edge else f"{lr:g}"


def _pct(stat) -> str:
    return _stats.pm(stat, 100)


def report(result):
    """Design, the table of both arms, the paired differences, convergence, the autoencoders and
    the verdict's reasoning."""
    s = result["settings"]
    arms, diff, parts = result["arms"], result["difference"], result["parts"]
    lines = [f"- {d}" for d in result["design"]]
    lines += [
        "",
        "Test accuracy (%; mean [95% interval] over seeds), each at the learning rate validation "
        "chose for that point:",
        "",
        "| arm | steps | lr, final | final test | final train | lr, best | best-checkpoint test "
        "| best checkpoint (epoch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in ARMS:
        r = arms[a]
        lines.append(
            f"| {LABELS[a]} | {r['total_steps']} | {_rate(r['tuned']['final']['lr'], s)} | "
            f"{_pct(r['test_accuracy']['final'])} | {_pct(r['train_accuracy']['final'])} | "
            f"{_rate(r['tuned']['best']['lr'], s)} | {_pct(r['test_accuracy']['best'])} | "
            f"{_stats.pm(r['best_checkpoint_epoch'])} |"
        )
    lines += [
        "",
        "| point | pre-trained − random (points) | verdict | why |",
        "|---|---|---|---|",
    ]
    for p, name in POINTS.items():
        lines.append(
            f"| {name} | {_stats.pm(diff[p], 100)} | {parts[p]['verdict']} | {parts[p]['why']} |"
        )
    rule = arms["random"]["plateau"]["rule"]
    conv = []
    for a in ARMS:
        pl, runs = arms[a]["plateau"], []
        for p in POINTS:
            lr = arms[a]["tuned"][p]["lr"]
            if p == "best" and lr == arms[a]["tuned"]["final"]["lr"]:
                continue
            g = s["lrs"].index(lr)
            ok = pl["converged"][g]
            e = arms[a]["levelled_off_epoch"][p]
            when = f"at epoch {_stats.pm(e)}" if e else "at no epoch"
            runs.append(
                f"{sum(ok)}/{len(ok)} at lr {lr:g} ({when} of {arms[a]['fine_tuning_epochs']})"
            )
        conv.append(
            f"{LABELS[a]}: {', '.join(runs)}, {pl['n_converged']}/{pl['n_runs']} over the grid"
        )
    lines += [
        "",
        f"Levelled off, runs at the chosen rates: {'; '.join(conv)}. Plateau rule: {rule}.",
        "",
        "Autoencoders (reconstruction error as a fraction of their inputs' variance; "
        f"{s['pretrain_epochs']} epochs each, a fixed amount, not run to a plateau):",
        "",
        "| layer | autoencoder | first epoch | last epoch | levelled off |",
        "|---|---|---|---|---|",
    ]
    for r in result["reconstruction"]:
        lines.append(
            f"| {r['layer']} | {r['autoencoder']} | {_stats.pm(r['unexplained_first_epoch'])} | "
            f"{_stats.pm(r['unexplained_last_epoch'])} | "
            f"{r['plateau']['n_converged']}/{r['plateau']['n_runs']} |"
        )
    lines += ["", _reasoning(result)]
    return lines


def _reasoning(result) -> str:
    """One or two sentences: the verdict and what decided it."""
    parts, diff = result["parts"], result["difference"]
    said = " and ".join(
        f"{_stats.pm(diff[p], 100)} points at the {POINTS[p]} ({parts[p]['verdict']}: "
        f"{parts[p]['why']})"
        for p in POINTS
    )
    left = {a: result["arms"][a]["above_chance_step"] for a in ARMS}
    lr = result["arms"]["random"]["tuned"]["final"]["lr"]

    def when(a):
        if left[a]["stat"] is None:
            return "never"
        never = f", {left[a]['n_never']} runs never" if left[a]["n_never"] else ""
        st = left[a]["stat"]
        steps = f"{st['mean']:.0f}" if st["std"] == 0 else _stats.pm(st)
        return f"after {steps} steps{never}"

    return (
        f"**Verdict: {result['verdict']}.** With equal gradient steps and each arm's learning "
        f"rate tuned on validation, test accuracy pre-trained minus random is {said}. Training "
        f"accuracy first exceeds 20% (twice chance) {when('random')} from Xavier's weights "
        f"(lr {lr:g}), "
        f"{when('pretrained')} with pre-training (its pre-training steps included)."
    )


if __name__ == "__main__":
    raise SystemExit(_harness.main(__import__(__name__)))
