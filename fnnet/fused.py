"""The fused layout: a whole training run of a small network as one kernel, every epoch inside.

``fit(..., layout="fused")`` (or ``layout=fnnet.fused.fused``) runs what the scalar layout runs
(see :mod:`fnnet.layout`): every weight θ_ij and bias θ_i0 its own value, the forward pass and the
chain rule written out per data point and unit, the optax update, the ``solved`` criterion after
every epoch. It differs in where the loop lives. The scalar layout is an XLA ``lax.scan`` over
epochs whose body XLA schedules step by step; the fused layout is one
``jax.experimental.pallas`` kernel over a grid of blocks of seeds, and each program keeps its
block's parameters and optimizer state in registers for all epochs (a ``fori_loop`` inside the
kernel), reading its inputs once and writing its results once. On a GPU this is the shape of a
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

What it cannot run, and says so: minibatches (``batch_size`` < n), dropout and any gradient
function other than :func:`fnnet.backprop.value_and_grad` and :func:`fnnet.backprop.autodiff`,
losses without a per-example form, ``Record(history="epoch")`` (a record per epoch would leave the
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

from fnnet import _checks
from fnnet import layout as _layout

__all__ = ["fused", "BLOCK", "lowering"]

BLOCK = 128
"""Seeds per kernel program on a GPU (one thread each); the seed count is padded up to a multiple."""


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


def _concrete(x, name: str):
    """``x`` as a NumPy array, or a clear error where it is traced."""
    if not _checks.is_concrete(x):
        raise ValueError(
            f"layout: 'fused' writes the data points into the kernel as constants; expected "
            f"concrete {name}, got a traced value (close over the data in the function you vmap "
            "or jit instead of passing it as an argument, or use layout='scalar')"
        )
    return np.asarray(x)


def _check_run(plan, X):
    if plan.batch_size != X.shape[0]:
        raise ValueError(
            f"layout: 'fused' runs full-batch training (batch_size = n = {X.shape[0]}, one step "
            f"per epoch), got batch_size={plan.batch_size}; use layout='scalar' or 'matrix'"
        )
    if plan.record.history != "final":
        raise ValueError(
            "layout: 'fused' keeps every epoch inside one kernel and records final values only; "
            f"expected Record(history='final'), got history={plan.record.history!r}"
        )


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


# the scalar layout as the kernel runs it: the solved criterion's outputs assembled by selects
_KERNEL_SCALAR = _layout.scalar._replace(
    apply=lambda net, sparams, X: _assemble(_layout._outputs(net, sparams, X))
)


def _per_seed(plan, treedef, X, T, epochs: int):
    """One seed's whole run in the scalar layout: carry leaves in, carry leaves out. The carry
    holds the first epoch's index too (0-based, for the solved criterion), so that a run in
    chunks of epochs (``fit_with_progress``) reuses one program."""
    from fnnet.train import _step  # fnnet.train imports the layouts

    net, record, scalar = plan.net, plan.record, _layout.scalar
    step = _step(scalar.value_and_grad(net, plan.grads, plan.loss), plan.optimizer)

    def run(*leaves):
        state, solved_at, value, epoch0 = jax.tree.unflatten(treedef, leaves)

        def epoch(i, carry):
            state, solved_at, _ = carry
            state, m = step(state, X, T, None)
            e = epoch0 + i
            solved_at = record.first_solved(net, _KERNEL_SCALAR, state.params, X, T, e, solved_at)
            return state, solved_at, m["loss"]

        out = jax.lax.fori_loop(0, epochs, epoch, (state, solved_at, value))
        return jax.tree.leaves((*out, epoch0))

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


def _engine(jaxpr):
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


def _check_triton_shapes(plan, X):
    """Triton's arrays have power-of-2 sizes: on a GPU the solved criterion's (n, n_out)."""
    shape = (X.shape[0], plan.net.sizes[-1])
    if plan.record.solved is not None and not _interpret():
        if any(d & (d - 1) for d in shape):
            raise ValueError(
                "layout: 'fused' on a GPU evaluates record.solved inside a Triton kernel, whose "
                "arrays must have power-of-2 sizes; expected outputs (examples, n_out) with "
                f"powers of 2, got {shape} (use layout='scalar', or drop the criterion)"
            )


def _run(plan, state, solved_at, epoch0, keys, X, T, eval_data):
    """``fit``'s run in the fused layout (same arguments and results as its compiled scan)."""
    _check_run(plan, X)
    _check_lowering()
    _check_triton_shapes(plan, X)
    data = (_layout.Known.of(_concrete(X, "data[0]")), _layout.Known.of(_concrete(T, "data[1]")))
    epoch0 = jnp.asarray(epoch0, jnp.int32)
    return _run_jit(plan, data, int(keys.shape[0]), state, solved_at, epoch0, eval_data)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _run_jit(plan, data, epochs, state, solved_at, epoch0, eval_data):
    X, T = (d.array() for d in data)
    net, scalar = plan.net, _layout.scalar
    enter = lambda tree: scalar.enter(net, tree)  # noqa: E731
    state = type(state)(enter(state.params), enter(state.opt_state), state.step)
    value0 = jnp.zeros((), jax.tree.leaves(state.params)[0].dtype)
    leaves, treedef = jax.tree.flatten((state, solved_at, value0, epoch0))
    run = _per_seed(plan, treedef, X, T, epochs)
    jaxpr = jax.make_jaxpr(run)(*leaves)
    out = _engine(jaxpr)(leaves, jaxpr.consts)
    state, solved_at, value, _ = jax.tree.unflatten(treedef, out)
    records = {
        "loss": value,
        **plan.record.measure(net, plan.loss, scalar, state.params, X, T, eval_data),
    }
    leave = lambda tree: scalar.leave(net, tree)  # noqa: E731
    return type(state)(leave(state.params), leave(state.opt_state), state.step), solved_at, records


def _supports(net, loss, grads):
    return _layout.scalar.supports(net, loss, grads)


fused = _layout.Layout(
    name="fused",
    enter=_layout.scalar.enter,
    leave=_layout.scalar.leave,
    value_and_grad=_layout.scalar.value_and_grad,
    apply=_layout.scalar.apply,
    supports=_supports,
    run=_run,
)
"""The scalar layout's arithmetic with every epoch inside one Pallas kernel (see the module)."""
