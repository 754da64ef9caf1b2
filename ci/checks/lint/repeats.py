"""A file's repeated findings as one: the first, saying how many more there are and where.

A linter reports every place that breaks a rule. A file whose twenty statements are all written
in lower case, or that builds five indexes without CONCURRENTLY, has one habit to change, so a
reviewer gets one finding per rule and file, on its first line, ending
`(and 2 more in this file: lines 4, 5)`. Only findings that reach this point are counted: a
line or statement silenced with `-- noqa` never gets here. The reports (text, JSON, JUnit,
SARIF, GitHub) all show the grouped finding, so none of them floods either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ci.core.findings import Finding

LINES_SHOWN = 10  # lines a grouped finding lists before "..."


def one_per_code(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per code among one file's `findings`: the first by line, naming the others
    (several on one line are all counted, the line listed once)."""
    by_code: dict[str, list[Finding]] = {}
    for finding in sorted(findings, key=lambda each: each.line or 0):
        by_code.setdefault(finding.code, []).append(finding)
    return [grouped(same, more_places) for same in by_code.values()]


def grouped(same: list[Finding], more: Callable[[str, list[int]], str] | None = None) -> Finding:
    """`same` (one cause, sorted by line) as its first finding; `more(code, other lines)` says
    what follows the message (by default, the count and the lines)."""
    first = same[0]
    if len(same) == 1:
        return first
    others = [f.line or 0 for f in same[1:]]
    if all(line == (first.line or 0) for line in others):  # (a syntax error, said twice)
        ending = f" (and {len(others)} more on this line)"
    else:
        ending = (more or more_lines)(first.code, others)
    return Finding(
        first.check,
        first.code,
        first.path,
        first.line,
        first.message + ending,
        first.hint,
        first.severity,
    )


def more_lines(code: str, lines: list[int]) -> str:
    """` (and 2 more in this file: lines 4, 5)`, at most LINES_SHOWN lines, then `...`; a line
    listed once however many there are on it."""
    return _ending(len(lines), list(dict.fromkeys(lines)))


def more_places(code: str, lines: list[int]) -> str:
    """Like `more_lines` for a linter that reports each place on a line (sqlfluff: every lower
    case keyword): all of them counted, each line listed once, `(and 4 more in this file:
    lines 2, 3)`."""
    return _ending(len(lines), list(dict.fromkeys(lines)))


def _ending(count: int, lines: list[int]) -> str:
    shown = ", ".join(str(line) for line in lines[:LINES_SHOWN])
    if len(lines) > LINES_SHOWN:
        shown += ", ..."
    plural = "line" if len(lines) == 1 else "lines"
    return f" (and {count} more in this file: {plural} {shown})"
