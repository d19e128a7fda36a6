"""Runs every experiment (or the ones named) on its quick defaults and writes results/REPORT.md.

python -m experiments                  # all, quick
python -m experiments digits --full    # one, full settings
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import experiments
from experiments import _harness
from fnnet import _atomic


def discover() -> list[str]:
    """Every experiment module: a module of this package with CLAIM, QUICK, FULL, run, report."""
    names = []
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"experiments.{info.name}")
        if all(hasattr(module, a) for a in ("CLAIM", "QUICK", "FULL", "run", "report")):
            names.append(info.name)
    return sorted(names)


def write_report(results: list[dict], path: str) -> None:
    lines = ["# fnnet experiments: report", ""]
    for r in results:
        module = importlib.import_module(f"experiments.{r['experiment']}")
        lines += [
            f"## {r['experiment']} ({r['mode']}, {r['seconds']} s): {r.get('verdict', '-')}",
            "",
            f"**Claim.** {r['claim']}",
            "",
            *module.report(r),
            "",
        ]
        for fig in r.get("figures", []):
            lines += [f"![{fig}]({r['experiment']}/{fig})", ""]
        lines += [
            f"Settings: `{r['settings']}`; jax {r['versions']['jax']} on "
            f"{r['versions']['backend']}.",
            "",
        ]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    text = "\n".join(lines).encode()
    _atomic.write(path, lambda f: f.write(text))


def main(argv=None) -> int:
    all_names = discover()
    p = argparse.ArgumentParser(
        prog="python -m experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", help=f"experiments to run (default all: {all_names})")
    p.add_argument("--full", action="store_true", help="full settings instead of quick")
    p.add_argument("--force", action="store_true", help="recompute finished results")
    p.add_argument("--out", default=_harness.RESULTS, help="results folder (default results)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.names) - set(all_names))
    if unknown:
        p.error(f"names: expected experiments among {all_names}, got {unknown}")
    names = args.names or all_names
    from tqdm import tqdm

    results = []
    with tqdm(names, desc="experiments", unit="exp") as bar:
        for name in bar:
            bar.set_postfix_str(name)
            module = importlib.import_module(f"experiments.{name}")
            results.append(
                _harness.run_experiment(
                    module,
                    "full" if args.full else "quick",
                    os.path.join(args.out, name),
                    args.force,
                )
            )
    report = os.path.join(args.out, "REPORT.md")
    write_report(results, report)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
