"""The one place exit codes are decided, for every command and hook.

0: nothing wrong. 1: findings (a check failed, the runner refused or a migration failed).
2: could not run (bad arguments, config, input or environment; a crash). 130: interrupted
(Ctrl-C); 143: terminated (SIGTERM, what CI sends on cancel or timeout; ci.app.program).
"""

from __future__ import annotations

from collections.abc import Iterable

from ci.core.findings import Report

CLEAN = 0
FINDINGS = 1
COULD_NOT_RUN = 2
INTERRUPTED = 130
TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process the signal ended


def of_reports(reports: Iterable[Report]) -> int:
    """1 when any report failed, else 0."""
    return FINDINGS if any(report.failed for report in reports) else CLEAN


def of_problems(found: bool) -> int:
    """1 when the operation found (or caused) a problem, else 0."""
    return FINDINGS if found else CLEAN
