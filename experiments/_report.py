"""results/REPORT.md: every experiment's fullest finished result, in the lecture's order, under a
one-screen summary table of claims and verdicts.

The report is rebuilt from the result files on disk each time any experiment finishes, so running
one experiment updates its own section and leaves the others as they were. Quick and full results
live side by side (``results/NAME/quick/`` and ``results/NAME/full/``); a section shows the full
result where one is finished, else the quick one, and says which.
"""

from __future__ import annotations

import importlib
import json
import os

# The lecture's order: linear classifier, perceptron gates, XOR, the backprop check, minibatch
# learning, vanishing gradients, pre-training, dropout, optimizers, data scaling, GPUs and speed.
ORDER = (
    ("linear_classifier", "A linear classifier and its learning rate"),
    ("logic_gates", "Perceptrons: AND and OR, not XOR; two layers solve XOR"),
    ("xor_sweep", "XOR by backprop, over many seeds and optimizers"),
    ("gradient_check", "Backprop by the chain rule is the exact gradient"),
    ("digits", "Minibatch learning on handwritten digits"),
    ("mnist1d", "Linear vs nonlinear models on MNIST-1D"),
    ("vanishing_gradient", "Vanishing gradients, and ReLU"),
    ("pretraining", "Unsupervised pre-training"),
    ("dropout", "Dropout"),
    ("optimizers", "Optimizers beyond plain gradient descent"),
    ("data_scaling", "More data: networks keep improving, classical learners level off"),
    ("gpu", "GPUs"),
    ("benchmark", "Speed of many-seed sweeps"),
)
# fnnet's own targets, not claims of the lecture: their own table, after the lecture's sections
PERFORMANCE = ("benchmark",)
MODES = ("full", "quick")  # fullest first
REPORT = "REPORT.md"


def discover() -> list[str]:
    """Every experiment module, in the lecture's order: a public module of this package that
    states a ``CLAIM``; each is checked against ``experiments._protocol.Experiment`` (a module
    that lacks part of it raises ``TypeError``, naming what)."""
    import pkgutil

    import experiments
    from experiments import _protocol

    names = []
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"experiments.{info.name}")
        if hasattr(module, "CLAIM"):
            _protocol.check(module)
            names.append(info.name)
    return lecture_order(names)


def lecture_order(names) -> list[str]:
    """``names`` in the lecture's order; names the order does not know come last, sorted."""
    known = [n for n, _ in ORDER if n in names]
    return known + sorted(set(names) - set(known))


def topic(name: str) -> str:
    return dict(ORDER).get(name, name)


def result_path(root: str, name: str, mode: str) -> str:
    """Where ``mode``'s result of experiment ``name`` lives under the results folder ``root``."""
    return os.path.join(root, name, mode, "result.json")


def load(root: str, name: str) -> tuple[dict | None, list[str]]:
    """The fullest finished result of ``name`` under ``root`` (None where none is), and the modes
    finished on disk. A result file that cannot be read counts as not finished."""
    found, modes = None, []
    for mode in MODES:
        try:
            with open(result_path(root, name, mode)) as f:
                result = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(result, dict) and result.get("mode") == mode:
            modes.append(mode)
            found = found or result
    return found, modes


def _anchor(name: str) -> str:
    return name.replace("_", "-")


def _cell(text) -> str:
    """``text`` fit for one Markdown table cell (pipes escaped, one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _when(result: dict) -> str:
    finished = result.get("finished", "")
    return finished.replace("T", " ").replace("Z", " UTC") if finished else "date not recorded"


def provenance(result: dict, modes: list[str]) -> str:
    """One line: mode (and whether the other one is on disk), seeds, machine, versions, date."""
    mode = result["mode"]
    other = "quick" if mode == "full" else "full"
    if other in modes:
        side = f"the {other} result is also on disk"
    elif mode == "quick":
        side = f"full: `python -m experiments.{result['experiment']} --full`"
    else:
        side = "no quick result on disk"
    machine = result.get("machine", {})
    cpu = machine.get("cpu") or "CPU not recorded"
    cores = machine.get("cores")
    v = result.get("versions", {})
    return (
        f"*{mode} mode ({side}); {result.get('seeds', 'seeds not recorded')}; "
        f"{cpu}{f', {cores} cores' if cores else ''}, jax {v.get('jax', '?')} on "
        f"{v.get('backend', '?')}; finished {_when(result)} in {result.get('seconds', '?')} s.*"
    )


def summary(rows: list[tuple[str, dict | None]], numbers: dict, other: dict) -> list[str]:
    """The table of the lecture's claims: number, claim (linked to its section), verdict, key
    number, mode, and the other mode's verdict where that result is on disk too (``other``:
    name -> the quick result where the row shows the full one)."""
    lines = [
        "| # | claim (section) | verdict | key number | mode | quick mode's verdict |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in rows:
        link = f"[{_cell(topic(name))}](#{_anchor(name)})"
        if result is None:
            lines.append(_not_run(numbers[name], link, name, blanks=2))
            continue
        quick = other.get(name)
        beside = "(this row)" if result["mode"] == "quick" else "not run"
        if quick is not None:
            beside = _cell(quick.get("verdict", "-"))
        lines.append(
            f"| {numbers[name]} | {link} | **{_cell(result.get('verdict', '-'))}** | "
            f"{_cell(result.get('headline', '-'))} | {result['mode']} | {beside} |"
        )
    return lines


def _not_run(number: int, link: str, name: str, blanks: int) -> str:
    """A table row for an experiment with no result on disk: the command that runs it."""
    return f"| {number} | {link} | not run | `python -m experiments {name}` |" + " - |" * blanks


def performance(rows: list[tuple[str, dict | None]], numbers: dict) -> list[str]:
    """The table of fnnet's own targets: what is measured, the ratio to each peer, whether the
    target is met, why the target, and where the time goes (from each module's ``performance``)."""
    lines = [
        "| # | target (section) | met | measured | why this target | where the time goes |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in rows:
        link = f"[{_cell(topic(name))}](#{_anchor(name)})"
        if result is None:
            lines.append(_not_run(numbers[name], link, name, blanks=2))
            continue
        module = importlib.import_module(f"experiments.{name}")
        p = module.performance(result) if hasattr(module, "performance") else {}
        verdict = result.get("verdict", "-")
        met = {"holds": "yes", "fails": "no"}.get(verdict, verdict)
        lines.append(
            f"| {numbers[name]} | {link} | **{_cell(met)}** | "
            f"{_cell(p.get('measured', result.get('headline', '-')))} | {_cell(p.get('why', '-'))} "
            f"| {_cell(p.get('time', '-'))} |"
        )
    return lines


def settings_table(name: str, result: dict) -> list[str]:
    """The settings as a two-column table (nested values as compact JSON)."""
    lines = [
        f"Settings (`{name}`, {result['mode']}; `FULL` in `experiments/{name}.py` for the full "
        "ones):",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    for key, value in result["settings"].items():
        shown = value if isinstance(value, (str, int, float)) else json.dumps(value)
        lines.append(f"| {_cell(key)} | {_cell(shown)} |")
    return lines + [""]


def section(i: int, name: str, result: dict | None, modes: list[str]) -> list[str]:
    """Experiment ``name``'s section: its claim, verdict, provenance, report, figures, settings."""
    head = [f'<a id="{_anchor(name)}"></a>', ""]
    if result is None:
        return head + [
            f"## {i}. {topic(name)}: not run yet",
            "",
            f"`python -m experiments {name}` runs it.",
            "",
        ]
    module = importlib.import_module(f"experiments.{name}")
    lines = head + [
        f"## {i}. {topic(name)}: {result.get('verdict', '-')}",
        "",
        provenance(result, modes),
        "",
        f"**Claim.** {result['claim']}",
        "",
        *_criterion_lines(module, result),
        *module.report(result),
        "",
    ]
    for fig in result.get("figures", []):
        lines += [f"![{fig}]({name}/{result['mode']}/{fig})", ""]
    return lines + settings_table(name, result)


def _criterion_lines(module, result) -> list[str]:
    """The hypothesis and criterion the result was judged by (as recorded in it), with a note
    where the module's has changed since."""
    from experiments import _protocol

    recorded = result.get("criterion")
    if recorded is None:
        return ["*This result predates its stated criterion: rerun it with `--force`.*", ""]
    lines = _protocol.Criterion(**recorded).lines()
    if getattr(module, "CRITERION", None) is not None and module.CRITERION.as_dict() != recorded:
        lines += ["*The module's criterion has changed since this run: rerun with `--force`.*", ""]
    return lines


def write(root: str, names) -> str:
    """Rebuilds ``root/REPORT.md`` from the results on disk for the experiments ``names`` and
    returns its path. Written atomically: a reader never sees half a report.

    The report opens with two tables, the lecture's claims and fnnet's own performance targets,
    then one section per experiment in that order, then the glossary (each term's first use
    linked to it)."""
    from experiments import _glossary
    from fnnet import _atomic

    names = lecture_order(names)
    found = {name: load(root, name) for name in names}
    claims = [(n, found[n][0]) for n in names if n not in PERFORMANCE]
    targets = [(n, found[n][0]) for n in names if n in PERFORMANCE]
    numbers = {n: i for i, (n, _) in enumerate(claims + targets, start=1)}
    lines = [
        "# fnnet experiments: report",
        "",
        _count_line(claims),
        "",
        *summary(claims, numbers, {n: _quick(root, n) for n, _ in claims}),
        "",
        "## fnnet's own performance",
        "",
        "Targets fnnet sets itself (not claims of the lecture), measured against peers side by "
        "side in the same run.",
        "",
        *performance(targets, numbers),
        "",
    ]
    for name, result in claims + targets:
        lines += section(numbers[name], name, result, found[name][1])
    lines = _glossary.link_first_uses(lines) + _glossary.section()
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, REPORT)
    text = "\n".join(lines).encode()
    _atomic.write(path, lambda f: f.write(text))
    return path


def _quick(root: str, name: str) -> dict | None:
    """The quick result of ``name`` where one is on disk and readable."""
    try:
        with open(result_path(root, name, "quick")) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("mode") == "quick" else None


def _count_line(claims) -> str:
    """The report's first sentence: how many of the lecture's claims ran, and their verdicts."""
    done = [r for _, r in claims if r is not None]
    counts: dict[str, int] = {}
    for r in done:
        v = r.get("verdict", "no verdict")
        v = "not tested" if v.startswith("not tested") else v
        counts[v] = counts.get(v, 0) + 1
    order = ["holds", "partly", "fails", "inconclusive", "not tested"]
    shown = ", ".join(
        f"{counts[v]} {v}" for v in order + sorted(set(counts) - set(order)) if v in counts
    )
    not_run = len(claims) - len(done)
    return (
        f"The lecture's {len(claims)} claims, in its order, each with the verdict of the fullest "
        f"run finished in this folder: {shown or 'none run yet'}"
        + (f"; {not_run} not run yet" if not_run and done else "")
        + ". Each verdict follows from a criterion stated before the run (in its section). "
        "`python -m experiments` runs the quick settings; `--full` the thorough ones."
    )
