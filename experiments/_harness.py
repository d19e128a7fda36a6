"""What every experiment module shares: its command line (--quick/--full/--out), result.json with
the settings and versions that produced it, and resuming: a finished result with the same settings
is kept, not recomputed."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

RESULTS = "results"


def versions() -> dict:
    import jax
    import numpy
    import optax

    import fnnet

    return {
        "fnnet": fnnet.__version__,
        "jax": jax.__version__,
        "optax": optax.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
    }


def write_json(path: str, obj) -> None:
    """Writes ``obj`` as JSON atomically (``fnnet._atomic``: a temporary file, then a rename),
    creating the folder where missing."""
    from fnnet import _atomic

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(obj, indent=2).encode()
    _atomic.write(path, lambda f: f.write(text))


def run_worker(module: str, args, env: dict, label: str) -> dict:
    """Runs ``python -m module --worker *args`` in a fresh process with environment ``env`` (for
    settings JAX reads only at start, such as the device count) and returns the dict that the
    worker printed with :func:`print_result`."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--worker", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def print_result(result: dict) -> None:
    """A worker's answer to :func:`run_worker`: one ``RESULT {json}`` line on stdout."""
    print("RESULT " + json.dumps(result), flush=True)


def progress(iterable=None, *, desc: str, total: int | None = None, unit: str = "it"):
    """A progress bar for the work inside an experiment (its seeds, cells, settings or chunks):
    ``tqdm`` on stderr, nested under the runner's bar and removed when done (``leave=False``).
    Iterate over it, or call ``update(n)`` on it as work finishes."""
    from tqdm import tqdm

    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )


def experiment_name(module) -> str:
    """The experiment's short name, also when its module runs as ``__main__`` (``python -m``)."""
    spec = getattr(module, "__spec__", None)
    full = spec.name if spec is not None else module.__name__
    return full.rsplit(".", 1)[-1]


def machine() -> dict:
    """The CPU model (Linux's /proc/cpuinfo, else ``platform.processor()``), core count and
    platform, so a result says what machine its timings come from."""
    import fnnet as fn

    cpu = fn.xla.cpu_info("model name")
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }


def announce(message: str) -> None:
    """One line on stderr that does not break the progress bars."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


REQUIRED = ("verdict", "headline", "seeds")


def run_experiment(module, mode: str = "quick", out: str | None = None, force: bool = False):
    """Runs ``module.run(settings, out)`` for ``mode`` ("quick" or "full") and writes
    ``out/result.json`` (default ``out``: ``results/NAME/MODE``).

    A result already on disk with the same settings is returned without running again, and
    announced as such on stderr (``force=True`` recomputes).
    """
    if mode not in ("quick", "full"):
        raise ValueError(f"mode: expected 'quick' or 'full', got {mode!r}")
    from experiments import _protocol

    _protocol.check(module)
    name = experiment_name(module)
    settings = dict(module.QUICK if mode == "quick" else module.FULL)
    out = out or os.path.join(RESULTS, name, mode)
    path = os.path.join(out, "result.json")
    old = _read(path) if not force else None
    if old is not None:
        if old.get("settings") == settings and old.get("mode") == mode:
            when = old.get("finished", "an unrecorded date").replace("T", " ").replace("Z", " UTC")
            if old.get("criterion") == module.CRITERION.as_dict():
                announce(f"{name} ({mode}): cached result from {when} in {path}; --force to rerun")
                return old
        announce(f"{name} ({mode}): settings differ from the result in {path}; recomputing")
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    measured = module.run(settings, out)
    missing = [k for k in REQUIRED if not measured.get(k)]
    if missing:
        raise ValueError(f"{name}.run: expected a result with {list(REQUIRED)}, missing {missing}")
    verdict = measured["verdict"]
    if verdict not in _protocol.VERDICTS and not str(verdict).startswith("not tested: "):
        raise ValueError(
            f"{name}.run: expected a verdict among {list(_protocol.VERDICTS)} or 'not tested: "
            f"REASON', got {verdict!r}"
        )
    result = {
        "experiment": name,
        "claim": module.CLAIM,
        "criterion": module.CRITERION.as_dict(),
        "mode": mode,
        "settings": settings,
        "seconds": round(time.perf_counter() - start, 2),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "versions": versions(),
        **measured,
    }
    write_json(path, result)
    return result


def _read(path: str):
    """The JSON object at ``path``, or None where there is none or it cannot be read (a damaged
    result is recomputed, not trusted)."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        announce(f"{path}: cannot be read ({e}); recomputing")
        return None
    return obj if isinstance(obj, dict) else None


def main(module, argv=None):
    """The command line of ``python -m experiments.NAME``: runs it, prints its report section and
    updates its section of ``results/REPORT.md`` (the others stay as they were)."""
    from experiments import _report

    name = experiment_name(module)
    p = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=module.CLAIM)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small settings, the default")
    g.add_argument("--full", action="store_true", help="the full settings")
    p.add_argument(
        "--out", default=RESULTS, help=f"results folder (default {RESULTS}); writes OUT/{name}/MODE"
    )
    p.add_argument("--force", action="store_true", help="recompute even if a result exists")
    args = p.parse_args(argv)
    mode = "full" if args.full else "quick"
    result = run_experiment(module, mode, os.path.join(args.out, name, mode), args.force)
    print("\n".join(module.report(result)))
    print(f"wrote {_report.write(args.out, _report.discover())}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run an experiment: python -m experiments.NAME")
