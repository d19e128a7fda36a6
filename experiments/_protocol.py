"""What an experiment module is, written down once: the runner, the report and the tests check every
module against :class:`Experiment` and record its :class:`Criterion` in ``result.json``.

An experiment module ``experiments/NAME.py`` tests one claim of the lecture. It has

- ``CLAIM``: the lecture's claim in one sentence;
- ``CRITERION``: a :class:`Criterion`, fixed before the run: the hypothesis, the rule that turns the
  measurements into a verdict, and where a threshold comes from;
- ``QUICK`` and ``FULL``: its settings (dicts of JSON values). Quick is smaller (fewer seeds, less
  data, narrower grids), never less converged;
- ``run(settings, out) -> dict``: runs it, writes its figures into ``out`` and returns the measured
  result with at least ``verdict`` (one of :data:`VERDICTS`), ``headline`` and ``seeds``;
- ``report(result) -> list[str]``: the Markdown lines of its section in ``results/REPORT.md``;
- ``python -m experiments.NAME`` through ``_harness.main``.

Adding an experiment is one new module plus its line in ``_report.ORDER``. Experiment modules never
import each other; what two of them share lives in a helper module (``_stats`` for statistics,
``_plots`` for figures, ``_harness`` for the command line and the result cache, ``_seeds`` for
training many seeds and the plateau rule, ``_xor`` for the XOR runs, ``_peers`` for the benchmark's
peers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol, runtime_checkable

VERDICTS = ("holds", "partly", "fails", "inconclusive")
"""The four verdicts. ``holds``: the criterion is met; ``fails``: it is not, in a way the
measurement can show (the effect is absent or reversed); ``partly``: a claim of several parts where
some hold and some do not; ``inconclusive``: the measurement cannot decide (a run that has not
levelled off, an interval that straddles the threshold) and the section says why. An experiment
that cannot run where it is (a GPU claim on a CPU) says ``not tested: REASON``."""

KINDS = ("comparison", "effect", "threshold", "exact")


@dataclasses.dataclass(frozen=True)
class Criterion:
    """A claim's test, stated before the run.

    Attributes:
      hypothesis: what is expected, as a measurable statement (arms, quantity, direction).
      rule: how the measurements decide each verdict, mechanically (e.g. "holds if the 95% interval
        of the paired difference over seeds lies above 0; fails if it lies below; else
        inconclusive").
      kind: ``"comparison"`` (arms against each other), ``"effect"`` (an effect with its interval
        over seeds), ``"threshold"`` (a number against a cited threshold) or ``"exact"`` (an exact
        identity, within floating-point rounding).
      source: where a threshold or a design comes from (a paper, a book), or "".
    """

    hypothesis: str
    rule: str
    kind: str
    source: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Criterion.kind: expected one of {KINDS}, got {self.kind!r}")
        for field in ("hypothesis", "rule"):
            if not isinstance(getattr(self, field), str) or not getattr(self, field).strip():
                raise ValueError(
                    f"Criterion.{field}: expected a sentence, got {getattr(self, field)!r}"
                )

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        """The head of the experiment's report section: hypothesis, rule and source."""
        out = [
            f"**Hypothesis.** {self.hypothesis}",
            "",
            f"**Criterion** ({self.kind}). {self.rule}",
        ]
        if self.source:
            out[-1] += f" Source: {self.source}."
        return out + [""]


@runtime_checkable
class Experiment(Protocol):
    """The shape of an experiment module (see the module docstring)."""

    CLAIM: str
    CRITERION: Criterion
    QUICK: dict
    FULL: dict
    run: Callable[[dict, str], dict]
    report: Callable[[dict], list]


ATTRIBUTES = ("CLAIM", "CRITERION", "QUICK", "FULL", "run", "report")


def check(module) -> None:
    """Raises ``TypeError`` naming what ``module`` lacks or holds of the wrong type."""
    name = getattr(module, "__name__", repr(module))
    missing = [a for a in ATTRIBUTES if not hasattr(module, a)]
    if missing:
        raise TypeError(f"{name}: an experiment module needs {list(ATTRIBUTES)}; missing {missing}")
    wrong = [
        f"{a} (expected {t.__name__}, got {type(getattr(module, a)).__name__})"
        for a, t in (("CLAIM", str), ("CRITERION", Criterion), ("QUICK", dict), ("FULL", dict))
        if not isinstance(getattr(module, a), t)
    ]
    wrong += [
        f"{a} (expected a function)" for a in ("run", "report") if not callable(getattr(module, a))
    ]
    if wrong:
        raise TypeError(f"{name}: wrong experiment attributes: {', '.join(wrong)}")


def combine(parts: dict) -> str:
    """The verdict of a claim made of several parts, from each part's verdict (name -> verdict):
    ``holds`` if every part holds; ``partly`` if some part holds (or partly holds) and some part
    fails (or partly holds); ``fails`` if no part holds and some part fails; else
    ``inconclusive`` (a part the measurement cannot decide leaves the claim undecided, even where
    the other parts hold)."""
    verdicts = list(parts.values())
    bad = [v for v in verdicts if v not in VERDICTS]
    if bad or not verdicts:
        raise ValueError(f"parts: expected verdicts among {VERDICTS}, got {verdicts!r}")
    if all(v == "holds" for v in verdicts):
        return "holds"
    some_hold = any(v in ("holds", "partly") for v in verdicts)
    some_fail = any(v in ("fails", "partly") for v in verdicts)
    if some_hold and some_fail:
        return "partly"
    if some_fail:
        return "fails"
    return "inconclusive"
