"""Runs every experiment (or the ones named), in the lecture's order, and keeps results/REPORT.md
up to date after each one.

python -m experiments                  # all, quick settings
python -m experiments digits --full    # one, full settings (the quick result stays beside it)
python -m experiments --force          # recompute finished results instead of reusing them

Results live in results/NAME/quick/ and results/NAME/full/. A result finished earlier with the
same settings is reused and announced as cached. REPORT.md shows, for every experiment, the
fullest result on disk (full where finished, else quick) and says which.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from experiments import _harness, _report


def discover() -> list[str]:
    """Every experiment, in the lecture's order (see ``experiments._report.ORDER``)."""
    return _report.discover()


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
    names = _report.lecture_order(args.names or all_names)
    mode = "full" if args.full else "quick"
    from tqdm import tqdm

    bar_format = "{desc}: {n_fmt}/{total_fmt} {bar} [{elapsed}] {postfix}"
    with tqdm(names, desc="experiments", unit="exp", bar_format=bar_format) as bar:
        for name in bar:
            bar.set_postfix_str(name)
            module = importlib.import_module(f"experiments.{name}")
            out = os.path.join(args.out, name, mode)
            result = _harness.run_experiment(module, mode, out, args.force)
            path = _report.write(args.out, all_names)
            _harness.announce(f"{name}: {result.get('verdict', '-')}: {result.get('headline', '')}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
