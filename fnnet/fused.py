"""The fused layout: a whole training run of a small network as one kernel, every epoch inside.

``fit(..., layout="fused")`` (or ``layout=fnnet.fused.fused``) runs what the scalar layout runs
(see :mod:`fnnet.layout`): every weight θ_ij and bias θ_i0 its own value, the forward pass and the
chain rule written out per data point and unit, the optax update, the ``solved`` criterion after
every epoch. It differs in where the loop lives. The scalar layout is an XLA ``lax.scan`` over
epochs whose body XLA schedules step by step; the fused layout is one
``jax.experimental.pallas`` kernel over a grid of blocks of seeds, and each program keeps its
block's parameters and optimizer state in registers for all epochs (a ``fori_loop`` inside the
kernel, whose body is the training loop's own epoch, :func:`fnnet.loop.epoch_body`), reading its
inputs once and writing its results once. On a GPU this is the shape of a
hand-fused CUDA kernel (one thread per seed).

Seeds. ``fit`` trains one network; the kernel sees the seeds when ``fit`` runs under
``jax.vmap`` (directly, or through :func:`fnnet.sweep.run`): a ``jax.custom_batching.custom_vmap``
rule turns the vmapped call into one kernel launch over all seeds, :data:`BLOCK` seeds per program
on a GPU. A nested vmap (seeds × hyperparameters) adds a grid axis. Called without vmap, the
kernel runs one seed.

What the kernel holds. The per-seed run is traced once to a jaxpr; its inputs (parameters,
optimizer state, the solved epoch, the last loss) are per-seed kernel inputs and outputs, and
whatever it closes over (a learning rate traced under a sweep, the targets that a ``solved``
criterion compares with) becomes a kernel input too, per seed where it is batched, shared where
not. The data points are written into the program as constants: the data must be concrete
arrays (not traced), and a full batch (``batch_size`` = n, one step per epoch on the data in its
order, as the scalar layout does it).

What it cannot run, declared in its ``supports`` and refused by ``fit`` naming it: minibatches
(``batch_size`` < n), gradient functions without a scalar form (dropout; the built-in
:func:`fnnet.backprop.value_and_grad` and :func:`fnnet.backprop.autodiff` have one), losses without
a per-example form, ``Record(history="epoch")`` (a record per epoch would leave the
kernel every epoch; ``"final"`` computes the final measures after it), traced data. ``layout="auto"``
never picks it. On a CPU (and on a TPU) the kernel runs in Pallas's interpreter (``interpret=True``):
the same semantics, for tests, slowly; on a GPU it is lowered to Triton (asked for by its compiler
parameters: jax >= 0.10 would pick Mosaic GPU, which cannot copy blocks this small), where an
optimizer or a criterion that uses an operation Triton cannot lower fails to compile with Pallas's
message. fnnet adds Triton rules for ``jnp.all`` / ``jnp.any`` (what a criterion ends with), and a
criterion's outputs (examples, n_out) must have power-of-2 sizes there (refused otherwise, with
the shape). ``tests/test_fused.py`` lowers the kernel for CUDA without a GPU (float32, for an
abstract H100): every case below, ``jax.grad``, and a traced learning rate become one Triton
kernel. With float64 enabled, optax's Adam computes its bias correction in float64, which
Triton's ``pow`` refuses.

JAX versions (:func:`lowering` says which path this one takes). Pallas's Triton backend is
deprecated from jax 0.11: there every lowering of the kernel warns with a ``DeprecationWarning``
("The Pallas Triton backend is deprecated ..."); the kernel is the same and lowers as before (to
silence it: ``warnings.filterwarnings("ignore", "The Pallas Triton backend is deprecated")``).
On a GPU with a jax that no longer ships ``jax.experimental.pallas.triton``, ``layout="fused"``
raises a ``ValueError`` saying so before any work; ``"auto"`` never picks it on any version.

Results equal the scalar layout's to float rounding (XLA and the kernel may fuse the same
arithmetic differently); ``tests/test_fused.py`` checks it for sgd, momentum and adam on 2-2-1,
2-4-1 and 2-2-2-1 networks, with and without a ``solved`` criterion.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import custom_batching
from jax.experimental import pallas as pl

from fnnet import loop, scalar_layout

__all__ = ["fused", "BLOCK", "lowering"]

BLOCK = 128
"""Seeds per kernel program on a GPU (one thread each); the seed count is padded up to a multiple.
Chosen (four warps), not tuned: the row "plain SGD, fused" of ``python -m experiments.gpu_check``
times the kernel with it."""


def _interpret() -> bool:
    return jax.default_backend() != "gpu"


def _pallas_triton():
    """Pallas's Triton backend (``jax.experimental.pallas.triton``), or None where this jax has
    none."""
    try:
        from jax.experimental.pallas import triton
    except ImportError:
        return None
    return triton


def lowering() -> str:
    """How the fused kernel runs on JAX's default backend with the installed jax: ``"interpret"``
    (CPU, TPU: Pallas's interpreter), ``"triton"`` (a GPU: Pallas's Triton backend, deprecated
    from jax 0.11 and warning at each lowering there), or ``"unavailable"`` (a GPU, and a jax
    without Pallas's Triton backend: ``layout="fused"`` refuses to run)."""
    if _interpret():
        return "interpret"
    return "triton" if _pallas_triton() is not None else "unavailable"


def _check_lowering() -> None:
    if lowering() == "unavailable":
        raise ValueError(
            "layout: 'fused' lowers its kernel with Pallas's Triton backend on a GPU, expected a "
            f"jax that has jax.experimental.pallas.triton, got jax {jax.__version__} without it "
            "(deprecated from jax 0.11); use layout='scalar' (what 'auto' picks), or a jax that "
            "still ships Pallas's Triton backend"
        )


def _triton_params(block: int):
    """Pallas's Triton lowering for a block of ``block`` seeds, a thread each."""
    _teach_triton_all_any()
    return _pallas_triton().CompilerParams(num_warps=max(1, block // 32), num_stages=1)


def _teach_triton_all_any():
    """Pallas's Triton lowering has no rule for ``reduce_and`` / ``reduce_or`` (``jnp.all`` and
    ``jnp.any``, what a solved criterion ends with): adds one that takes the min / max of the
    values as int32 (exact for booleans). Leaves an existing rule alone; where this jax lays out
    its Triton lowering otherwise, does nothing (the criterion then fails to lower, saying so)."""
    try:
        from jax._src.pallas.triton import lowering as tl
    except ImportError:  # pragma: no cover - depends on the jax version
        return
    rules = getattr(tl, "triton_lowering_rules", None)
    if not isinstance(rules, dict) or not hasattr(tl, "lower_fun"):  # pragma: no cover
        return

    def all_(x, *, axes, **_):
        return jnp.min(x.astype(jnp.int32), axis=axes) > 0

    def any_(x, *, axes, **_):
        return jnp.max(x.astype(jnp.int32), axis=axes) > 0

    for prim, fun in ((jax.lax.reduce_and_p, all_), (jax.lax.reduce_or_p, any_)):
        rules.setdefault(prim, tl.lower_fun(fun, multiple_results=False))


def _assemble(rows):
    """The (batch, n_out) array of the scalars ``rows[i][j]``, built by selects: Triton lowers
    ``jnp.stack`` of two arrays only. Exact (a select copies its value)."""
    n, m = len(rows), len(rows[0])
    dtype = jnp.result_type(*(v for row in rows for v in row))
    i = jax.lax.broadcasted_iota(jnp.int32, (n, m), 0)
    j = jax.lax.broadcasted_iota(jnp.int32, (n, m), 1)
    out = jnp.zeros((n, m), dtype)
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            out = jnp.where((i == r) & (j == c), v, out)
    return out


def _per_seed(setup, treedef, X, T, epochs: int):
    """One seed's whole run in the scalar layout, carry leaves in and out: ``epochs`` times
    :func:`fnnet.loop.epoch_body` (no keys: full batch), its solved criterion on outputs built by
    selects. The carry holds the first epoch's index too (0-based, for the solved criterion), so
    that a run in chunks of epochs (``fit_with_progress``) reuses one program."""
    kernel_layout = setup.layout._replace(
        apply=lambda net, sparams, X: _assemble(scalar_layout.outputs(net, sparams, X))
    )
    body = loop.epoch_body(setup, X, T, None, layout=kernel_layout)

    def run(*leaves):
        carry, epoch0 = jax.tree.unflatten(treedef, leaves)
        carry = jax.lax.fori_loop(
            0, epochs, lambda i, c: body(c, None, lambda: epoch0 + i)[0], carry
        )
        return jax.tree.leaves((carry, epoch0))

    return run


def _spec(shape, per_seed: bool, block: int):
    """Seed blocks of a per-seed array (S, ...), or the whole of a shared one."""
    rest = (0,) * (len(shape) - 1)
    if per_seed:
        return pl.BlockSpec((block, *shape[1:]), lambda i: (i, *rest))
    whole = (0,) * len(shape)
    return pl.BlockSpec(shape, lambda i: whole)


def _launch(jaxpr, carry, consts, per_seed_consts):
    """The kernel over seeds: ``carry`` leaves (S, ...) in and out; ``consts`` per seed (S, ...)
    where ``per_seed_consts`` says so, else shared (whole arrays)."""
    n_seeds = carry[0].shape[0]
    interpret = _interpret()
    block = n_seeds if interpret else BLOCK
    padded = math.ceil(n_seeds / block) * block

    def pad(x):  # extra seeds repeat seed 0 (finite values); their results are dropped
        if padded == n_seeds:
            return x
        return jnp.concatenate([x, jnp.broadcast_to(x[:1], (padded - n_seeds, *x.shape[1:]))])

    carry = [pad(x) for x in carry]
    shared_scalar = [not b and jnp.ndim(c) == 0 for c, b in zip(consts, per_seed_consts)]
    consts = [
        pad(c) if b else (jnp.reshape(c, (1,)) if s else jnp.asarray(c))
        for c, b, s in zip(consts, per_seed_consts, shared_scalar)
    ]
    n_carry = len(carry)

    def kernel(*refs):
        values = [r[...] for r in refs[: n_carry + len(consts)]]
        cs = [v.reshape(()) if s else v for v, s in zip(values[n_carry:], shared_scalar)]

        def one(*args):
            return jax.core.eval_jaxpr(jaxpr.jaxpr, args[n_carry:], *args[:n_carry])

        axes = (0,) * n_carry + tuple(0 if b else None for b in per_seed_consts)
        out = jax.vmap(one, in_axes=axes)(*values[:n_carry], *cs)
        for r, v in zip(refs[n_carry + len(consts) :], out):
            r[...] = v

    run = pl.pallas_call(
        kernel,
        out_shape=[jax.ShapeDtypeStruct(x.shape, x.dtype) for x in carry],
        grid=(padded // block,),
        in_specs=[_spec(x.shape, True, block) for x in carry]
        + [_spec(jnp.shape(c), b, block) for c, b in zip(consts, per_seed_consts)],
        out_specs=[_spec(x.shape, True, block) for x in carry],
        interpret=interpret,
        # Triton, one warp of 32 threads per 32 seeds: jax >= 0.10 lowers a GPU pallas_call to
        # Mosaic GPU unless told otherwise, and Mosaic GPU cannot copy blocks of a few bytes
        compiler_params=None if interpret else _triton_params(block),
    )
    return [x[:n_seeds] for x in run(*carry, *consts)]


def _engine(jaxpr):  # its name is in the jaxpr that fnnet.sweep fingerprints: keep it
    """``(carry, consts) -> carry`` for one seed, batched over seeds into one kernel launch."""

    @custom_batching.custom_vmap
    def engine(carry, consts):
        out = _launch(jaxpr, [x[None] for x in carry], [c for c in consts], [False] * len(consts))
        return [x[0] for x in out]

    @engine.def_vmap
    def batched(axis_size, in_batched, carry, consts):
        carry_b, consts_b = in_batched
        carry = [
            x if b else jnp.broadcast_to(x, (axis_size, *x.shape)) for x, b in zip(carry, carry_b)
        ]
        return _launch(jaxpr, carry, list(consts), list(consts_b)), [True] * len(carry)

    return engine


def _check_triton_shapes(setup, X):
    """Triton's arrays have power-of-2 sizes: on a GPU the solved criterion's (n, n_out)."""
    shape = (X.shape[0], setup.net.sizes[-1])
    if setup.record.solved is not None and not _interpret():
        if any(d & (d - 1) for d in shape):
            raise ValueError(
                "layout: 'fused' on a GPU evaluates record.solved inside a Triton kernel, whose "
                "arrays must have power-of-2 sizes; expected outputs (examples, n_out) with "
                f"powers of 2, got {shape} (use layout='scalar', or drop the criterion)"
            )


def _run(setup, state, solved_at, epoch0, keys, X, T, eval_data):
    """The fused layout's engine (the arguments and results of :func:`fnnet.loop.scan`); the data
    are concrete (the layout declares ``traced_data=False``, so ``fit`` refuses traced data)."""
    _check_lowering()
    _check_triton_shapes(setup, X)
    data = (loop.Known.of(np.asarray(X)), loop.Known.of(np.asarray(T)))
    epoch0 = jnp.asarray(epoch0, jnp.int32)
    return _run_jit(setup, data, int(keys.shape[0]), state, solved_at, epoch0, eval_data)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _run_jit(setup, data, epochs, state, solved_at, epoch0, eval_data):
    X, T = (d.array() for d in data)
    carry = loop.first_carry(setup, loop.enter(setup, state), solved_at, X, T)
    leaves, treedef = jax.tree.flatten((carry, epoch0))
    jaxpr = jax.make_jaxpr(_per_seed(setup, treedef, X, T, epochs))(*leaves)
    carry, _ = jax.tree.unflatten(treedef, _engine(jaxpr)(leaves, jaxpr.consts))
    return loop.finish(setup, carry, None, X, T, eval_data)


fused = scalar_layout.scalar._replace(
    name="fused",
    supports=loop.Supports(
        form="scalar",
        per_example_loss=True,
        minibatches=False,
        histories=("final",),
        traced_data=False,
    ),
    engine=_run,
)
"""The scalar layout's arithmetic with every epoch inside one Pallas kernel (see the module)."""
