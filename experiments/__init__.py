"""One module per claim of the lecture; ``python -m experiments`` runs them all.

On a CPU, XLA presents the host as one device. Before JAX starts, this package asks it for one
device per core (``JAX_NUM_CPU_DEVICES``, JAX's own setting: no XLA flag, which a jaxlib that
does not know it would abort on) unless ``JAX_NUM_CPU_DEVICES`` or ``XLA_FLAGS`` already sets a
count, so that ``fnnet.sweep`` can shard seeds over the cores. Computations that are not sharded
run on the first device as before.
"""

import os
import sys

if (
    "jax" not in sys.modules
    and "JAX_NUM_CPU_DEVICES" not in os.environ
    and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", "")
):
    os.environ["JAX_NUM_CPU_DEVICES"] = str(os.cpu_count() or 1)
