"""What the tests that start child processes share: a child runs one function of a test file in a
fresh Python on the CPU (float64 as conftest.py sets it, ``n_devices`` host devices), and is
reaped when the test ends."""

import contextlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# imports the test file by path under its own module name (a sweep's default name is the
# module's and the function's) and calls one of its functions with the string arguments
_CHILD = """
import importlib.util, os, sys
name = os.path.splitext(os.path.basename(sys.argv[1]))[0]
spec = importlib.util.spec_from_file_location(name, sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
getattr(module, sys.argv[2])(*sys.argv[3:])
"""


def child_env(n_devices: int = 1) -> dict:
    """The environment of a child: this one's, on the CPU with float64 and ``n_devices`` host
    devices, the repository and tests/ importable."""
    env = dict(os.environ)
    env.update(
        JAX_PLATFORMS="cpu",
        JAX_ENABLE_X64="1",  # as conftest.py sets it in this process
        JAX_NUM_CPU_DEVICES=str(n_devices),
        PYTHONPATH=os.pathsep.join(
            [ROOT, os.path.join(ROOT, "tests"), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep),
    )
    return env


def start(test_file, entry, *args, n_devices=1, prefix=(), **popen):
    """A child running ``entry(*args)`` of ``test_file`` (its ``__file__``); ``prefix`` goes
    before the Python executable (e.g. ``capsh ... --``, which then takes ``--shell=``)."""
    script = ["-c", _CHILD, os.path.abspath(test_file), entry, *map(str, args)]
    command = [*prefix, *script] if prefix else [sys.executable, *script]
    return subprocess.Popen(command, env=child_env(n_devices), cwd=ROOT, **popen)


@contextlib.contextmanager
def reaped(*procs):
    """Kills and reaps the children that are still running when the block ends (a failed test)."""
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
