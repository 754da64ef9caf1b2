"""Findings as text: one line per finding, then a summary line; colour only on a terminal.

`text_line` and `sentence` are also how JUnit failure output and GitHub annotations word a
finding, so every format says the same thing.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence

from ci.core.findings import Finding, Report

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.db.schema_changes import Change


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal; NO_COLOR (no-color.org) wins, FORCE_COLOR forces it."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def printable(text: str) -> str:
    """`text` that UTF-8 can hold: a file name's undecodable bytes (os.fsdecode's surrogates,
    legal on Linux) as `\\xff`, as the numbering check says them; a report never fails on one."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no byte gave: its code point
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable_json(document: str) -> str:
    """A JSON text (from json.dumps with ensure_ascii=False) that UTF-8 can hold: each
    surrogate as `printable` says it, escaped for JSON (`\\\\xff` decodes to `\\xff`)."""
    import re

    return re.sub("[\ud800-\udfff]", lambda m: printable(m.group()).replace("\\", "\\\\"), document)


def sentence(text: str) -> str:
    """`text` ending in a full stop (or the `!`, `?` or `:` it has)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else f"{text}."


def _where(path: str | None, line: int | None) -> str:
    where = path or "<migrations>"
    return where if line is None else f"{where}:{line}"


def text_line(finding: Finding, *, colour: bool = False) -> str:
    """`path:line: CODE message. To fix: hint.` -- one line per finding."""
    where = _paint(_where(finding.path, finding.line), "1", colour)
    code = _paint(finding.code, "31;1" if finding.is_error else "33;1", colour)
    level = "" if finding.is_error else "warning: "
    hint = f" To fix: {sentence(finding.hint)}" if finding.hint else ""
    return f"{where}: {code} {level}{sentence(finding.message)}{hint}"


def summary_line(reports: Sequence[Report], *, colour: bool = False) -> str:
    """`FAILED numbering, lint: 3 passed, 2 failed` -- the last line of every text report."""
    found = Counter(case.outcome for report in reports for case in report.cases)
    counts = {outcome: found[outcome] for outcome in ("passed", "failed", "error", "skipped")}
    names = ", ".join(r.check for r in reports)
    parts = [f"{n} {outcome}" for outcome, n in counts.items() if n or outcome == "passed"]
    warnings = sum(not f.is_error for r in reports for f in r.findings)
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    failed = any(r.failed for r in reports)
    verdict = _paint("FAILED" if failed else "OK", "31;1" if failed else "32;1", colour)
    return f"{verdict} {names}: " + ", ".join(parts)


def write_text(
    reports: Sequence[Report], out: TextIO | None = None, *, colour: bool | None = None
) -> None:
    """Findings, one per line, then the summary line. Errors went to stderr when they happened."""
    out = out if out is not None else sys.stdout
    colour = use_colour(out) if colour is None else colour
    for line in changelog(reports):
        print(printable(line), file=out)
    for report in reports:
        for finding in report.findings:
            print(printable(text_line(finding, colour=colour)), file=out)
    for line in skip_lines(reports):
        print(printable(line), file=out)
    if len(reports) > 1:  # `python -m ci`: one line per check, so a reader sees what ran
        for report in reports:
            print(f"  {summary_line([report], colour=colour)}", file=out)
    print(summary_line(reports, colour=colour), file=out)


SHOWN_SKIP_REASONS = 5  # per check; the JUnit report has every skipped case's own


def skip_lines(reports: Sequence[Report]) -> list[str]:
    """Why cases were skipped, one line per reason and check, counted: `skipped 1 in precheck:
    amcheck is not installed ...` (a summary that says `1 skipped` should say why)."""
    lines: list[str] = []
    for report in reports:
        reasons = Counter(case.skipped for case in report.cases if case.skipped is not None)
        for reason, count in list(reasons.items())[:SHOWN_SKIP_REASONS]:
            lines.append(f"skipped {count} in {report.check}: {sentence(reason)}")
        if len(reasons) > SHOWN_SKIP_REASONS:
            more = len(reasons) - SHOWN_SKIP_REASONS
            lines.append(
                f"skipped in {report.check}: {more} more reasons (the JUnit report has each)"
            )
    return lines


def changelog(reports: Sequence[Report]) -> list[str]:
    """`apply_empty --explain`: each migration's schema changes, risky or not, under its name."""
    lines: list[str] = []
    for report in reports:
        for case in report.cases:
            if case.changes:
                lines.append(f"{case.name}:")
                lines += [f"  {change_line(change)}" for change in case.changes]
    return lines


def change_line(change: Change) -> str:
    """`line 12: column dropped: column patients.notes: ... [MG602 error]`."""
    where = f"line {change.line}" if change.line is not None else "line ?"
    detail = f": {change.detail}" if change.detail else ""
    flag = f" [{change.code} {change.severity}]" if change.code else ""
    return f"{where}: {change.kind}: {change.target}{detail}{flag}"
