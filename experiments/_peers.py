"""The peers of :mod:`experiments.benchmark`: the same training as fnnet.sweep's XOR workload
written by hand, outside fnnet. The workload: the 2-2-1 sigmoid MLP on the four XOR points,
full-batch gradient descent, half_sse, float32, one network per seed. Each peer takes fnnet's
parameter pytree with a leading seed axis (or its 9 rows, :func:`nine`) and returns the final
parameters and the loss of the last step, as ``fit(history="final")`` reports it:

- :func:`hand_xor`: the step written out over the 9 scalars (:func:`hand_step`) in a
  ``lax.scan``; the same step runs on torch tensors (:func:`torch_xor`, eager or
  ``torch.compile``);
- :func:`c_xor`: the C reference ``experiments/_xor_ref.c`` (seeds in SIMD lanes, OpenMP over the
  cores), built at run time with the system C compiler (:func:`build_shared`);
- :func:`cuda_source`: the same step as a CUDA kernel, one thread per seed (run through cupy by
  :func:`cuda_contestant`, on a GPU only);
- :func:`numpy_xor`: NumPy, vectorised over seeds.

The ``_*_reference`` / ``torch_contestants`` builders return the benchmark's contestants
``(call, work, extra)``, or the reason a peer is absent.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time

import numpy as np

from experiments import _seeds
from experiments._harness import machine

# the four XOR points as Python numbers (x1, x2, t): constants of the hand-written programs
_XOR_POINTS = ((0.0, 0.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0))


def _times(x, w):
    """``x * w`` for an input ``x`` of the XOR points, folded by hand where it is 0 or 1 (as the
    C reference's compiler folds it)."""
    return 0.0 if x == 0 else w if x == 1 else x * w


def hand_step(p, lr, sigmoid=None):
    """One full-batch gradient step of the 2-2-1 sigmoid network, written out by hand.

    ``p`` = (w11, w12, w21, w22, b1, b2, v1, v2, c): hidden unit j gets
    z_j = x1 w1j + x2 w2j + b_j, h_j = σ(z_j); the output a = σ(h1 v1 + h2 v2 + c). Per point,
    with E = ½ (t - a)², δ = ∂E/∂z_out = (a - t) a (1 - a) and δ_j = δ v_j h_j (1 - h_j); the
    gradient sums over the four points (x1 δ_j, x2 δ_j, δ_j, h_j δ, δ). Returns (new p, E).
    The 9 entries may be JAX arrays (``sigmoid`` defaults to ``jax.nn.sigmoid``) or torch
    tensors (pass ``torch.sigmoid``): only arithmetic and ``sigmoid`` are used."""
    if sigmoid is None:
        import jax

        sigmoid = jax.nn.sigmoid
    w11, w12, w21, w22, b1, b2, v1, v2, c = p
    g = [0.0] * 9
    loss = 0.0
    for x1, x2, t in _XOR_POINTS:
        h1 = sigmoid(_times(x1, w11) + _times(x2, w21) + b1)
        h2 = sigmoid(_times(x1, w12) + _times(x2, w22) + b2)
        a = sigmoid(h1 * v1 + h2 * v2 + c)
        loss = loss + 0.5 * (t - a) ** 2
        d = (a - t) * a * (1 - a)
        d1, d2 = d * v1 * h1 * (1 - h1), d * v2 * h2 * (1 - h2)
        terms = (_times(x1, d1), _times(x1, d2), _times(x2, d1), _times(x2, d2))
        terms += (d1, d2, h1 * d, h2 * d, d)
        g = [gk + tk for gk, tk in zip(g, terms)]
    return tuple(pk - lr * gk for pk, gk in zip(p, g)), loss


def nine(params) -> np.ndarray:
    """fnnet's 2-2-1 parameter pytree with a leading seed axis as one float32 array (9, S), rows
    in the order w11 w12 w21 w22 b1 b2 v1 v2 c (the C reference's layout)."""
    (l1, l2) = params
    W1, b1, W2, b2 = (np.asarray(a, np.float32) for a in (l1["W"], l1["b"], l2["W"], l2["b"]))
    rows = (W1[:, 0, 0], W1[:, 0, 1], W1[:, 1, 0], W1[:, 1, 1], b1[:, 0], b1[:, 1])
    return np.ascontiguousarray(np.stack([*rows, W2[:, 0, 0], W2[:, 1, 0], b2[:, 0]]))


def tree(p) -> list:
    """The inverse of :func:`nine`: (9, S) rows back to fnnet's pytree with a leading seed axis."""
    w11, w12, w21, w22, c1, c2, v1, v2, c = np.asarray(p, np.float32)
    W1 = np.stack([np.stack([w11, w12], -1), np.stack([w21, w22], -1)], 1)
    return [
        {"W": W1, "b": np.stack([c1, c2], -1)},
        {"W": np.stack([v1, v2], -1)[:, :, None], "b": c[:, None]},
    ]


def hand_xor(params, steps, lr=0.5):
    """Trains one 2-2-1 XOR network from ``params`` (fnnet's pytree) by :func:`hand_step` in a
    ``lax.scan``; returns the final parameters as the same pytree and the half_sse loss of the
    last step (before its update), as ``fit(history="final")`` does."""
    import jax
    import jax.numpy as jnp

    (l1, l2) = params
    W1, b1, W2, b2 = l1["W"], l1["b"], l2["W"], l2["b"]
    p = (W1[0, 0], W1[0, 1], W1[1, 0], W1[1, 1], b1[0], b1[1], W2[0, 0], W2[1, 0], b2[0])

    def body(carry, _):
        p, _ = carry
        return hand_step(p, lr), None

    (p, loss), _ = jax.lax.scan(body, (p, jnp.zeros_like(p[0])), None, length=steps)
    w11, w12, w21, w22, c1, c2, v1, v2, c = p
    out = [
        {"W": jnp.stack([jnp.stack([w11, w12]), jnp.stack([w21, w22])]), "b": jnp.stack([c1, c2])},
        {"W": jnp.stack([jnp.stack([v1]), jnp.stack([v2])]), "b": jnp.stack([c])},
    ]
    return out, loss


# ---------------------------------------------------------------- the C and CUDA references

C_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_xor_ref.c")
C_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp", "-shared", "-fPIC")
_BUILT: dict = {}


def c_compiler() -> str | None:
    """The system C compiler, ``cc`` or else ``gcc`` on the PATH; None where there is neither."""
    return shutil.which("cc") or shutil.which("gcc")


def build_shared(source: str, flags=C_FLAGS, name: str = "xor_ref") -> tuple[str | None, str]:
    """Compiles the C text ``source`` into a shared library with :func:`c_compiler` and
    ``flags`` (``-lm`` appended), cached under the temporary folder by a hash of the source, the
    flags, the compiler and this CPU (``-march=native``). Returns ``(path, "")``, or
    ``(None, reason)`` where there is no compiler or the build fails."""
    cc = c_compiler()
    if cc is None:
        return None, "no C compiler (cc or gcc) on the PATH"
    tag = json.dumps([source, list(flags), cc, machine()["cpu"], platform.machine()])
    digest = hashlib.sha256(tag.encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), f"fnnet-benchmark-{os.getuid()}")
    path = os.path.join(folder, f"{name}-{digest}.so")
    if os.path.exists(path):
        return path, ""
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        src = os.path.join(tmp, f"{name}.c")
        with open(src, "w") as f:
            f.write(source)
        lib = os.path.join(tmp, f"{name}.so")
        try:
            proc = subprocess.run(
                [cc, *flags, "-o", lib, src, "-lm"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"the C build ({os.path.basename(cc)}) failed: {e}"
        if proc.returncode or not os.path.exists(lib):
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()] or ["no message"]
            return None, f"the C build ({os.path.basename(cc)}) failed: {lines[-1].strip()}"
        os.replace(lib, path)  # atomic: a concurrent build of the same source is the same file
    return path, ""


def c_reference():
    """``(lib, "")``: the C reference (``experiments/_xor_ref.c``, built once per process by
    :func:`build_shared`, loaded with ctypes; ``lib.xor_train`` and ``lib.xor_threads``), or
    ``(None, reason)``; ``_BUILT["c_build_s"]`` keeps the seconds the build (or cache look-up) took."""
    if "c" not in _BUILT:
        t = time.perf_counter()
        with open(C_SOURCE) as f:
            path, why = build_shared(f.read())
        _BUILT["c_build_s"] = time.perf_counter() - t
        lib = None
        if path is not None:
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                why = f"the C reference built but does not load: {e}"
            else:
                lib.xor_train.restype = None
                lib.xor_train.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_long] * 2
                lib.xor_train.argtypes += [ctypes.c_float]
                lib.xor_threads.restype = ctypes.c_int
                lib.xor_threads.argtypes = []
        _BUILT["c"] = (lib, why)
    return _BUILT["c"]


def c_call(lib, p0, p, loss, steps, lr=0.5):
    """Calls the C reference on float32 C-contiguous arrays p0, p (9, S) and loss (S,)."""
    lib.xor_train(p0.ctypes.data, p.ctypes.data, loss.ctypes.data, p0.shape[1], steps, lr)


def c_xor(params, steps, lr=0.5):
    """Trains the 2-2-1 XOR networks ``params`` (fnnet's pytree, a leading seed axis) for
    ``steps`` steps with the C reference: (final parameters as that pytree, half_sse loss of the
    last step, as ``fit(history="final")``). RuntimeError where the reference is absent."""
    lib, why = c_reference()
    if lib is None:
        raise RuntimeError(why)
    p0 = nine(params)
    p, loss = np.empty_like(p0), np.empty(p0.shape[1], np.float32)
    c_call(lib, p0, p, loss, steps, lr)
    return tree(p), loss


def c_contestant(S, T, p0, finals=None):
    """``(contestant, "")`` timing the C reference on S seeds x T steps from ``p0`` (9, S), or
    ``(None, reason)`` where it is absent. Each call leaves its final losses in
    ``finals["c_reference"]``."""
    lib, why = c_reference()
    if lib is None:
        return None, why
    p, loss = np.empty_like(p0), np.empty(S, np.float32)
    if finals is not None:
        finals["c_reference"] = loss
    threads = lib.xor_threads()
    extra = {
        "compiler": c_compiler(),
        "flags": " ".join(C_FLAGS),
        "build_s": _BUILT["c_build_s"],
        "runs_on": f"{threads} OpenMP thread{'s' if threads > 1 else ''}",
    }
    return (lambda: c_call(lib, p0, p, loss, T), S * T, extra), ""


_CUDA_KERNEL = r"""
extern "C" __global__ void xor_train(const float *__restrict__ p0, float *__restrict__ p,
                                     float *__restrict__ loss, const long long n,
                                     const long long steps, const float lr)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float w11 = p0[0 * n + i], w12 = p0[1 * n + i], w21 = p0[2 * n + i];
    float w22 = p0[3 * n + i], b1 = p0[4 * n + i], b2 = p0[5 * n + i];
    float v1 = p0[6 * n + i], v2 = p0[7 * n + i], c = p0[8 * n + i];
    float L = 0.0f; /* the loss of the last step (steps >= 1 here) */
    for (long long s = 0; s < steps; s++)
        STEP(lr);
    p[0 * n + i] = w11;
    p[1 * n + i] = w12;
    p[2 * n + i] = w21;
    p[3 * n + i] = w22;
    p[4 * n + i] = b1;
    p[5 * n + i] = b2;
    p[6 * n + i] = v1;
    p[7 * n + i] = v2;
    p[8 * n + i] = c;
    loss[i] = L;
}
"""


def cuda_source() -> str:
    """The CUDA reference kernel ``xor_train``: one thread per seed, its 9 parameters in registers
    for all the steps, the step of ``experiments/_xor_ref.c`` (the text between its BEGIN POINT
    and END POINT) with ``EXP`` = ``__expf``; the arguments of the C reference's function."""
    with open(C_SOURCE) as f:
        text = f.read()
    step = text[text.index("/* BEGIN POINT */") : text.index("/* END POINT */")]
    return "#define EXP __expf\n" + step + _CUDA_KERNEL


def cuda_contestant(S, T, p0_host, finals=None):
    """``(contestant, "")`` timing the CUDA kernel on S seeds x T steps from ``p0_host`` (9, S),
    or ``(None, reason)``: only where JAX's default backend is a GPU and cupy is installed. The
    final losses (on the GPU) go to ``finals["cuda_reference"]``."""
    import jax

    if jax.default_backend() != "gpu":
        return None, f"no GPU: JAX's default backend here is {jax.default_backend()}"
    try:
        import cupy
    except ImportError:
        return None, "cupy not installed"
    try:
        kernel = cupy.RawKernel(cuda_source(), "xor_train")
        p0 = cupy.asarray(p0_host)
        p, loss = cupy.empty_like(p0), cupy.empty(S, dtype=cupy.float32)
        threads = 256
        args = (p0, p, loss, np.int64(S), np.int64(T), np.float32(0.5))

        def call():
            kernel(((S + threads - 1) // threads,), (threads,), args)
            cupy.cuda.get_current_stream().synchronize()

        call()  # compiles; errors here mark the row absent
        if finals is not None:
            finals["cuda_reference"] = loss
    except Exception as e:  # any failure of the optional GPU path is a reason
        return None, f"the CUDA kernel failed: {type(e).__name__}: {e}"
    return (call, S * T, {"threads_per_block": threads, "runs_on": "the GPU, via cupy"}), ""


# ---------------------------------------------------------------- torch


def torch_xor(params, steps, compiled=False, lr=0.5):
    """Trains the 2-2-1 XOR networks ``params`` (fnnet's pytree, a leading seed axis) with torch
    on the CPU: :func:`hand_step` on 9 tensors of shape (S,), called ``steps`` times from Python,
    eager or through ``torch.compile``. Returns (final parameters as the pytree, last step's loss).
    ImportError where torch is not installed."""
    import torch

    train = _torch_train(torch, compiled, lr)
    p, loss = train([torch.from_numpy(row.copy()) for row in nine(params)], steps)
    return tree(np.stack([t.numpy() for t in p])), loss.numpy()


def _torch_train(torch, compiled, lr=0.5):
    """``train(p, steps) -> (p, loss)``: the step on 9 tensors, eager or compiled, in a loop."""

    def step(p):
        return hand_step(p, lr, torch.sigmoid)

    if compiled:
        step = torch.compile(step, fullgraph=True, dynamic=False)

    def train(p, steps):
        loss = None
        with torch.inference_mode():
            p = tuple(p)
            for _ in range(steps):
                p, loss = step(p)
        return p, loss

    return train


def torch_contestants(S, T, p0_host, eager_steps, finals=None):
    """``({name: contestant}, {name: reason})`` for torch.compile (T steps) and torch eager
    (``eager_steps`` steps) on S seeds from ``p0_host`` (9, S); both absent without torch. Each
    call of a row trained for all T steps leaves its final losses in ``finals[name]``."""
    try:
        import torch
    except ImportError:
        return {}, {k: "torch not installed" for k in ("torch_compile", "torch_eager")}
    out, absent = {}, {}
    p0 = [torch.from_numpy(row.copy()) for row in p0_host]
    finals = {} if finals is None else finals
    for name, compiled, steps in (("torch_compile", True, T), ("torch_eager", False, eager_steps)):
        try:
            train = _torch_train(torch, compiled)
            t = time.perf_counter()
            train(p0, 2)  # torch.compile compiles here; a failure marks the row absent
            setup = time.perf_counter() - t
        except Exception as e:  # torch.compile needs a working toolchain
            absent[name] = f"{name.replace('_', '.', 1)} failed: {type(e).__name__}: {e}"[:300]
            continue

        def call(train=train, steps=steps, name=name):
            loss = train(p0, steps)[1]
            if steps == T:
                finals[name] = loss

        threads = torch.get_num_threads()
        extra = {
            "setup_s": setup,
            "torch": torch.__version__,
            "runs_on": f"{threads} torch threads",
        }
        if steps != T:
            extra["measured_steps"] = steps
        out[name] = (call, S * steps, extra)
    return out, absent


def numpy_xor(S, steps, lr=0.5, seed=0, params=None):
    """The same training in NumPy, vectorised over seeds: W1 (S, 2, 2), b1 (S, 2), W2 (S, 2, 1),
    b2 (S, 1), drawn uniform in ±0.5 unless ``params`` (that tree with a leading seed axis) is
    given. Returns the final parameters and the half_sse loss of each seed before the last step."""
    f32 = np.float32
    if params is None:
        rng = np.random.default_rng(seed)
        shapes = [(S, 2, 2), (S, 2), (S, 2, 1), (S, 1)]
        W1, b1, W2, b2 = (rng.uniform(-0.5, 0.5, s).astype(f32) for s in shapes)
    else:
        W1, b1 = (np.array(params[0][k], f32) for k in ("W", "b"))
        W2, b2 = (np.array(params[1][k], f32) for k in ("W", "b"))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], f32)
    T = np.array([[0], [1], [1], [0]], f32)
    lr = f32(lr)
    for _ in range(steps):
        h = 1 / (1 + np.exp(-(np.einsum("ni,sio->sno", X, W1) + b1[:, None, :])))
        a = 1 / (1 + np.exp(-(np.einsum("snh,sho->sno", h, W2) + b2[:, None, :])))
        d2 = -(T - a) * a * (1 - a)  # (S, 4, 1): ∂E/∂z of the output
        d1 = np.einsum("sno,sho->snh", d2, W2) * h * (1 - h)
        W2 -= lr * np.einsum("snh,sno->sho", h, d2)
        b2 -= lr * d2.sum(1)
        W1 -= lr * np.einsum("ni,snh->sih", X, d1)
        b1 -= lr * d1.sum(1)
    loss = 0.5 * np.sum((T - a) ** 2, axis=(1, 2))
    return [{"W": W1, "b": b1}, {"W": W2, "b": b2}], loss


def host(x) -> np.ndarray:
    """A NumPy float64 copy of a NumPy array, cupy array (``get``) or torch tensor (``numpy``)."""
    if not isinstance(x, np.ndarray):
        x = x.get() if hasattr(x, "get") else x.numpy() if hasattr(x, "numpy") else x
    return np.asarray(x, np.float64)


# ---------------------------------------------------------------- fnnet's side of the race


def timed(fn, repeats):
    """(first call's seconds, every one of ``repeats`` further calls' seconds)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, times


# the two gradient paths, by the names the result file uses
_GRADS = {"backprop": "value_and_grad", "autodiff": "autodiff"}


def xor_fit(layout, grads, steps):
    """``train_one(key) -> {"loss"}``: fit of the 2-2-1 XOR network, ``steps`` full-batch steps."""
    import optax

    import fnnet as fn

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")
    X, T = fn.data.logic_gate("xor")

    one = _seeds.fit_one(
        net,
        optax.sgd(0.5),
        (X, T),
        epochs=steps,
        batch_size=4,
        loss="half_sse",
        history="final",
        init=lambda k: net.init(k, "uniform", 0.5),
        grads=getattr(fn.backprop, _GRADS[grads]),
        layout=layout,
    )

    def train_one(key):
        return {"loss": one(key)["loss"]}

    return train_one


def initial_params(S: int) -> list:
    """The initial parameters fnnet.sweep's ``train_one`` (:func:`xor_fit`) draws for seeds
    0..S-1 (``fit`` splits each seed's key into an initialisation and a shuffling key), as the
    pytree with a leading seed axis: what the peers start from."""
    import jax

    import fnnet as fn

    net = fn.MLP((2, 2, 1), hidden="sigmoid", output="sigmoid")

    def init_one(key):
        return net.init(jax.random.split(key)[0], "uniform", 0.5)

    return fn.sweep.run(init_one, S, progress=False).values
