"""Many training runs as one compiled program: ``train_one`` for every seed and every grid point,
``jax.vmap``-ped over seeds, in chunks spread over all devices, resumable from a folder.

The lecture's claims about training ("a 2-2-1 network learns XOR") are claims about a distribution
over random initialisations; a sweep measures that distribution with as many seeds as it takes.

What ``run`` computes, for seeds i = 0 .. n_seeds - 1 and grid indices g_1 .. g_k::

    values[g_1, ..., g_k, i] = train_one(seed_key(key, i), name_1=grid[name_1][g_1], ...,
                                         name_k=grid[name_k][g_k])
    seed_key(key, i)         = jax.random.fold_in(key, i)

Seed i's key depends on ``(key, i)`` only: not on the chunk size, the device count, the process
count or the grid point. Every grid point thus trains seed i from the same key (common random
numbers), so a difference between two cells is not initialisation noise.

The folder. With ``out=DIR``, ``DIR/settings.json`` says what identifies the sweep: its ``name``, a
fingerprint of the program ``train_one`` computes for one seed, ``n_seeds``, ``chunk_size``, the
grid's names, dtypes and values, the key, every result leaf's path, dtype and shape, the format
and the fnnet, JAX and jaxlib versions.
``DIR/chunks/p{point}-c{chunk}.npz`` holds one finished unit (``point`` the grid point's flat
index in C order, ``chunk`` the chunk's index), written atomically; it names its sweep (a digest
of the settings) and its unit and carries a sha256 checksum of its arrays.

Resuming. A rerun with the same settings loads every chunk that verifies and computes the rest
(``Results.computed``); a chunk that does not verify is reported by a :class:`DamagedChunkWarning`
that names its path and the reason, and is computed again. A rerun with other settings (an edited
``train_one`` included) raises a ``ValueError`` that names each difference, and so does a folder
whose chunks have no readable settings; use another folder, or :func:`clear` to start afresh.
One JAX computes a sweep: a rerun under another JAX or jaxlib version is refused too, naming both
versions, since XLA may compile the same program otherwise and the resumed sweep would mix chunks
that differ in the last bits (the docs' Sweeps page gives a measured case). To load or finish
a sweep, install the versions it names.
Settings are created exclusively: of two runs with different settings started together on one
folder, the later one gets that error. A folder that cannot be written is refused before any
training when anything is left to compute, and so is a directory (or other non-file) where a chunk
belongs, named with its path. A write that fails (a full disk, a file-size limit) raises an
``OSError`` of its errno that names the file and says how many units are finished: they are kept,
no temporary file is left, and a rerun resumes. :func:`status` reports a folder's verified
progress; :func:`clear` refuses while a sweep runs there (``run`` holds a lock on the settings
file while it runs, where the filesystem has file locks) or a writer may still write a temporary
file there (one of a live process of this host, or another host's younger than an hour). From a
shell: ``python -m fnnet.sweep status OUT`` and ``python -m fnnet.sweep clear OUT`` (which asks
first unless given ``--yes``).

What identifies a sweep, and what does not. The fingerprint is the text of the program JAX traces
for one seed, with every array it closes over; a Python callback inside it (``jax.pure_callback``,
``jax.debug.callback``, ``io_callback``) counts by its function's name only, so a rerun after
editing the callback's Python body loads the chunks that the old one computed: give the sweep
another ``name`` or folder, or :func:`clear` it. The checksum of a chunk detects damage (a
flipped bit, a truncated or half-synced file), not deliberate edits: a chunk whose values were
changed and whose checksum was recomputed loads as it is.

Several hosts. Start every process with ``jax.distributed.initialize()`` (on a cluster that JAX
detects, such as SLURM or Cloud TPU, it needs no arguments; else give ``coordinator_address``,
``num_processes`` and ``process_id``), then call ``run`` with the same arguments and an ``out`` on
a filesystem that all of them share. Unit u = point * n_chunks + chunk goes to process
u % ``jax.process_count()``; once all have finished every process loads the whole sweep from
``out``. The processes keep in step through JAX's key-value store, not collectives. Before any
training they agree: on the number of local devices, on the settings (each computes its own, so a
process running other code or other arguments is caught) and on the sweep they find in ``out``
(none, or the same one: else the folder is not shared); a disagreement is one ``ValueError`` on
every process that names the difference. A process whose ``run`` raises (a full disk, a folder it
cannot write) tells the others, which stop at their next chunk with a ``RuntimeError`` that
quotes its error. A process that dies without a word (killed, out of memory, a lost host) is
noticed by JAX's coordination service, which then ends every other process ("Terminating process
because the JAX distributed service detected fatal errors. This most likely indicates that
another task died"): at once where the dead one is process 0 (it runs the service), else once it
has missed heartbeats for ``heartbeat_timeout_seconds``, an argument of
``jax.distributed.initialize`` (100 s by default; fnnet does not call it, pass e.g.
``heartbeat_timeout_seconds=10`` for a prompt stop, at the risk of ending a sweep whose host
paused that long); a process whose program ends without calling ``run`` ends the others after
``shutdown_timeout_seconds`` (300 s by default). Either way no finished chunk is lost: rerun
every process with the same arguments, and each loads what ``out`` holds and computes the rest.

How. Each unit (grid point, chunk of ``chunk_size`` seeds) is one call of one jit-compiled, vmapped
program, compiled once per sweep: the last chunk is padded with seeds past ``n_seeds`` whose
results are dropped, and grid values are traced arguments. A chunk's seed axis is sharded over the
local devices (``NamedSharding(Mesh(jax.local_devices(), ("seeds",)), PartitionSpec("seeds"))``).
The chunk size is the one given, else the one stored in ``out``, else :func:`choose_chunk_size`'s:
on a GPU or TPU as many seeds as fit in half of the devices' free memory (the compiled program's
memory need, fitted from two small compilations), on CPU as many seeds per core as keep a step's
working set near the core's L2 cache (:func:`cpu_chunk_size`, from ``train_one``'s loop state),
at least :data:`CHUNK_SEEDS` per chunk. On a CPU with one
device and several cores, each chunk is split into equal parts run concurrently from threads, one
per core (:func:`cpu_parts`), and the parts' results concatenated.

Analysis. :meth:`Results.to_xarray` labels the results (an ``xarray.Dataset`` whose dimensions
are the grid's names and ``"seed"``), :meth:`Results.to_dataframe` gives one row per grid point
and seed (pandas); both need fnnet's ``analysis`` extra.

Reproducibility. Reruns of one sweep on one machine (same chunk size, device count and core
count) are bitwise equal on a deterministic backend (XLA on CPU; on GPU set
``XLA_FLAGS=--xla_gpu_deterministic_ops=true``), so a resumed sweep equals an uninterrupted one.
Across chunk sizes, device and core counts, results agree to float rounding but are not promised
bitwise: XLA compiles the program for the number of seeds per device, which can change the last
bit of a reduction or a matmul, and training can amplify it. Compare such runs with a tolerance.

Examples:
  >>> import jax, jax.numpy as jnp, numpy as np
  >>> def train_one(key, scale):
  ...     return {"x": jnp.sqrt(scale) * jax.random.normal(key)}  # NaN where scale < 0
  >>> r = run(train_one, 8, grid={"scale": np.array([1.0, 4.0, -1.0])}, progress=False)
  >>> r.values["x"].shape, r.diverged.shape
  ((3, 8), (3, 8))
  >>> bool(np.all(r.values["x"][1] == 2 * r.values["x"][0])), bool(np.all(r.diverged[2]))
  (True, True)
"""

from fnnet.sweep._arguments import seed_key
from fnnet.sweep._chunks import (
    ASSUMED_CACHE_BYTES,
    ASSUMED_FREE_MEMORY,
    CHUNK_SEEDS,
    MAX_PART_SEEDS,
    MAX_SEEDS_PER_DEVICE,
    MEMORY_FRACTION,
    MIN_PART_SEEDS,
    WORKING_SET_FACTOR,
    MemoryNeed,
    cache_bytes,
    choose_chunk_size,
    cpu_chunk_size,
    cpu_parts,
    default_chunk_size,
    free_memory,
    loop_state_bytes,
)
from fnnet.sweep._folder import Status, clear, status
from fnnet.sweep._run import Results, run
from fnnet.sweep._store import DamagedChunkWarning

__all__ = [
    "ASSUMED_CACHE_BYTES",
    "ASSUMED_FREE_MEMORY",
    "CHUNK_SEEDS",
    "DamagedChunkWarning",
    "MAX_PART_SEEDS",
    "MAX_SEEDS_PER_DEVICE",
    "MEMORY_FRACTION",
    "MIN_PART_SEEDS",
    "WORKING_SET_FACTOR",
    "MemoryNeed",
    "Results",
    "Status",
    "cache_bytes",
    "choose_chunk_size",
    "clear",
    "cpu_chunk_size",
    "cpu_parts",
    "default_chunk_size",
    "free_memory",
    "loop_state_bytes",
    "run",
    "seed_key",
    "status",
]
