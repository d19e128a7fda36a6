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
MODES = ("full", "quick")  # fullest first
REPORT = "REPORT.md"


def discover() -> list[str]:
    """Every experiment module, in the lecture's order: a module of this package that has the
    attributes of ``experiments._protocol.Experiment``."""
    import pkgutil

    import experiments
    from experiments import _protocol

    names = []
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"experiments.{info.name}")
        if _protocol.is_experiment(module):
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


def summary(rows: list[tuple[str, dict | None]]) -> list[str]:
    """The summary table: claim (topic), verdict, key number, link to the section."""
    lines = ["| # | claim (section) | verdict | key number | mode |", "|---|---|---|---|---|"]
    for i, (name, result) in enumerate(rows, start=1):
        link = f"[{_cell(topic(name))}](#{_anchor(name)})"
        if result is None:
            lines.append(f"| {i} | {link} | not run | `python -m experiments {name}` | - |")
            continue
        lines.append(
            f"| {i} | {link} | **{_cell(result.get('verdict', '-'))}** | "
            f"{_cell(result.get('headline', '-'))} | {result['mode']} |"
        )
    return lines


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
        *module.report(result),
        "",
    ]
    for fig in result.get("figures", []):
        lines += [f"![{fig}]({name}/{result['mode']}/{fig})", ""]
    lines += [f"Settings (`{name}`, {result['mode']}): `{result['settings']}`", ""]
    return lines


def write(root: str, names) -> str:
    """Rebuilds ``root/REPORT.md`` from the results on disk for the experiments ``names`` and
    returns its path. Written atomically: a reader never sees half a report."""
    from fnnet import _atomic

    names = lecture_order(names)
    found = {name: load(root, name) for name in names}
    rows = [(name, found[name][0]) for name in names]
    done = [r for _, r in rows if r is not None]
    verdicts = {v: 0 for v in ("holds", "partly", "fails")}
    for r in done:  # and any other verdict, such as "not tested: no GPU"
        v = r.get("verdict", "no verdict")
        verdicts[v] = verdicts.get(v, 0) + 1
    lines = [
        "# fnnet experiments: report",
        "",
        "Each claim of the lecture, in its order, with the verdict of the fullest run finished "
        f"in this folder: {len(done)} of {len(names)} run; "
        + ", ".join(f"{n} {v}" for v, n in verdicts.items())
        + ". `python -m experiments` runs the quick settings; `--full` the thorough ones.",
        "",
        *summary(rows),
        "",
    ]
    for i, (name, result) in enumerate(rows, start=1):
        lines += section(i, name, result, found[name][1])
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, REPORT)
    text = "\n".join(lines).encode()
    _atomic.write(path, lambda f: f.write(text))
    return path
