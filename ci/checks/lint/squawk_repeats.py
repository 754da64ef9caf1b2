"""squawk's findings as a reviewer reads them: one per rule and file, with a count.

squawk reports each statement that breaks a rule. A file that builds five indexes without
CONCURRENTLY, or that sets no lock_timeout before twenty statements, has one cause to fix, so
it gets one finding, on the first line, saying how many more there are and where. The timeout
rules ask for one SET at the top of the file, which covers every statement after it: their
finding says that instead of listing lines. Without a count the finding reads as squawk's.
A rule that only repeats a more precise one on the same statement (`REPEATS`) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.checks.lint.repeats import grouped, more_lines
from ci.checks.lint.squawk_rules import REPEATS, TIMEOUT_CODES
from ci.core.findings import Finding


def one_per_rule(found: Sequence[tuple[str, int | None, Finding]]) -> list[Finding]:
    """One finding per squawk rule in `found` ((rule, statement offset, finding) of one file):
    the first by line, its message naming the others. Rules, not codes: MG799 stands for any
    rule we have no code for yet, and two of those are two causes."""
    said = {(rule, statement) for rule, statement, _ in found if statement is not None}
    by_rule: dict[str, list[Finding]] = {}
    for rule, statement, finding in sorted(found, key=lambda each: each[2].line or 0):
        if any((other, statement) in said for other in REPEATS.get(rule, ())):
            continue  # the same statement's finding by a more precise rule says it
        by_rule.setdefault(rule, []).append(finding)
    return [grouped(same, _more) for same in by_rule.values()]


def _more(code: str, lines: list[int]) -> str:
    """What follows a grouped finding's message: for the timeout rules, that one SET covers
    them all; for the others, the count and where they are."""
    if code in TIMEOUT_CODES:
        return (
            f" (the first of {len(lines) + 1} statements that need it; one SET at the top of "
            "the file covers them all)"
        )
    return more_lines(code, lines)
