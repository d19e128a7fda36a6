"""Checks on the Markdown the experiments write: every table renders (a header row, a delimiter
row with one ``---`` cell per header cell, and body rows with the same number of cells)."""

from __future__ import annotations

import re

_DELIMITER = re.compile(r"^\s*:?-{3,}:?\s*$")


def cells(row: str) -> list[str]:
    """The cells of a table row ``| a | b |`` (escaped pipes ``\\|`` stay inside a cell)."""
    inner = row.strip()
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def table_problems(text: str) -> list[str]:
    """Every table in ``text`` that would not render as its header promises, as messages naming
    the line; an empty list when all tables are well formed."""
    lines = text.splitlines()
    problems = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("|"):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            i += 1
        rows = lines[start:i]
        header = cells(rows[0])
        if len(rows) < 2 or not all(_DELIMITER.match(c) for c in cells(rows[1])):
            problems.append(f"line {start + 1}: a table without a delimiter row: {rows[0]!r}")
            continue
        for k, row in enumerate(rows[1:], start=start + 2):
            if len(cells(row)) != len(header):
                problems.append(
                    f"line {k}: {len(cells(row))} cells, the header has {len(header)}: {row!r}"
                )
    return problems


def assert_tables_well_formed(text_or_lines) -> None:
    """Fails naming every malformed table row in a report (a string or a list of lines)."""
    text = text_or_lines if isinstance(text_or_lines, str) else "\n".join(text_or_lines)
    problems = table_problems(text)
    assert not problems, "\n".join(problems)
