"""The command line for sweep folders, for watching a sweep (on a cluster, say) without writing
Python: ``python -m fnnet.sweep status OUT`` prints :func:`fnnet.sweep.status`'s report and
``python -m fnnet.sweep clear OUT`` runs :func:`fnnet.sweep.clear`, asking first."""

from __future__ import annotations

import argparse
import os
import sys

from fnnet.sweep._folder import clear, status

__all__ = ["main"]

PROG = "python -m fnnet.sweep"
SHOWN = 20  # the missing and damaged units listed; the rest are counted


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Report on a sweep folder written by fnnet.sweep.run(..., out=OUT), or "
        "clear it so that the next run starts afresh.",
    )
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser(
        "status",
        help="the settings that identify the sweep and its finished, missing and damaged chunks",
    )
    s.add_argument("out", metavar="OUT", help="the sweep folder")
    c = commands.add_parser(
        "clear", help="remove the sweep's settings and chunks (asks first unless --yes)"
    )
    c.add_argument("out", metavar="OUT", help="the sweep folder")
    c.add_argument("-y", "--yes", action="store_true", help="clear without asking")
    return p


def _values(values: list, limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")


def _settings_lines(s: dict) -> list[str]:
    chunks = -(-s["n_seeds"] // s["chunk_size"])
    lines = [
        f"name: {s['name']}",
        f"program: {s.get('program')}",
        f"seeds: {s['n_seeds']} per grid point, in {chunks} chunks of {s['chunk_size']}",
    ]
    grid = [f"{g['name']} ({g['dtype']}): {_values(g['values'])}" for g in s["grid"]]
    lines.append("grid: " + ("; ".join(grid) if grid else "none"))
    key = s.get("key", {})
    lines.append(f"key: {key.get('impl')} {key.get('data')}")
    results = [f"{r['path'] or '(root)'} {r['dtype']} {tuple(r['shape'])}" for r in s["results"]]
    lines.append("results: " + ", ".join(results))
    if s.get("compiler_options"):
        options = [f"{k}={v}" for k, v in s["compiler_options"].items()]
        lines.append("compiler options: " + ", ".join(options))
    versions = [f"{k} {s[k]}" for k in ("fnnet", "jax", "jaxlib") if k in s]
    return lines + ["versions: " + ", ".join(versions)]


def _unit(s: dict, unit) -> str:
    g, c = unit
    lo, hi = c * s["chunk_size"], min((c + 1) * s["chunk_size"], s["n_seeds"])
    point = " ".join(f"{d['name']}={d['values'][i]}" for d, i in zip(s["grid"], g))
    return f"{point + ', ' if point else ''}chunk {c} (seeds {lo}-{hi - 1})"


def _listed(lines: list[str]) -> list[str]:
    more = len(lines) - SHOWN
    return [f"  {line}" for line in lines[:SHOWN]] + (
        [f"  ... and {more} more"] if more > 0 else []
    )


def _status(out: str) -> list[str]:
    st = status(out)
    s = st.settings
    n, size = s["n_seeds"], s["chunk_size"]
    units = len(st.finished) + len(st.missing)
    seeds = n * units // -(-n // size)  # every grid point's seeds
    missing = sum(min(size, n - c * size) for _, c in st.missing)
    return [
        f"sweep folder {out}",
        *_settings_lines(s),
        f"finished: {len(st.finished)} of {units} units ({seeds - missing} of {seeds} seeds)",
        f"missing: {len(st.missing)} units (a rerun computes them)",
        *_listed([_unit(s, u) for u in st.missing]),
        f"damaged: {len(st.damaged)} chunks (among the missing)",
        *_listed([f"{path}: {reason}" for _, path, reason in st.damaged]),
    ]


def _describe(out: str, paths: tuple[str, ...]) -> str:
    """What ``clear`` would remove from ``out``, in a line."""
    chunks = sum(p.endswith(".npz") for p in paths)
    others = len(paths) - chunks - sum(os.path.basename(p) == "settings.json" for p in paths)
    what = [f"{chunks} chunk files"]
    if any(os.path.basename(p) == "settings.json" for p in paths):
        what.insert(0, "settings.json")
    if others:
        what.append(f"{others} temporary files of writers that stopped")
    try:
        st = status(out)
        sweep = f"sweep {st.settings['name']!r} ({len(st.finished)} units finished)"
    except ValueError:
        sweep = "a sweep whose settings cannot be read"
    return f"{out} holds {sweep}; clear removes {', '.join(what)}"


def _clear(out: str, yes: bool) -> int:
    paths = clear(out, dry_run=True)  # refuses here where clear would
    if not paths:
        print(f"{out}: nothing to remove")
        return 0
    print(_describe(out, paths))
    if not yes:
        print("remove them? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            newline = "" if answer else "\n"  # no answer (end of input): end the question's line
            print(f"{newline}nothing removed (pass --yes to clear without asking)")
            return 1
    removed = clear(out)
    print(f"removed {len(removed)} files from {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status: 0 on
    success, 1 where the folder is missing, is not a sweep's, ``clear`` refuses, or the answer to
    its question is not yes (2 for a command line argparse rejects)."""
    args = _parser().parse_args(argv)
    name = f"{PROG} {args.command}"
    if not os.path.isdir(args.out):
        what = "a file, not a folder" if os.path.exists(args.out) else "no such folder"
        print(f"{name}: error: {args.out!r}: {what}", file=sys.stderr)
        return 1
    try:
        if args.command == "status":
            print("\n".join(_status(args.out)))
            return 0
        return _clear(args.out, args.yes)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 1
