"""Findings -> text, JUnit XML, GitHub, JSON. The only module that formats output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ci.findings import Case, Finding, Report


def text_line(finding: Finding) -> str:
    """`path:line: CODE message` (SPEC 6), with the fix on the same line."""
    where = finding.path or "<migrations>"
    if finding.line is not None:
        where = f"{where}:{finding.line}"
    level = "" if finding.is_error else "warning: "
    hint = f" To fix: {finding.hint}" if finding.hint else ""
    return f"{where}: {finding.code} {level}{finding.message}.{hint}".replace("..", ".")


def write_text(reports: Sequence[Report], out: TextIO = sys.stdout) -> None:
    for report in reports:
        for case in report.cases:
            for finding in case.findings:
                print(text_line(finding), file=out)
            if case.error is not None:
                print(f"{case.path or report.check}: error: {case.error}", file=out)
    print(summary_line(reports), file=out)


def summary_line(reports: Sequence[Report]) -> str:
    cases = [case for report in reports for case in report.cases]
    counts = {
        outcome: sum(c.outcome == outcome for c in cases)
        for outcome in ("passed", "failed", "error", "skipped")
    }
    names = ", ".join(r.check for r in reports)
    parts = [f"{n} {outcome}" for outcome, n in counts.items() if n or outcome == "passed"]
    verdict = "FAILED" if any(r.failed for r in reports) else "OK"
    return f"{verdict} {names}: " + ", ".join(parts)


def write_junit(reports: Sequence[Report], path: Path) -> None:
    """One <testsuite> per check; `file`/`line` on every case that has them (SPEC 6)."""
    from junit_xml import TestSuite, to_xml_report_string

    suites = [TestSuite(r.check, [_junit_case(c) for c in r.cases]) for r in reports]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_xml_report_string(suites, encoding="utf-8"), encoding="utf-8")


def _junit_case(case: Case) -> object:
    from junit_xml import TestCase

    junit = TestCase(
        case.name, classname=case.classname, elapsed_sec=case.time, file=case.path, line=case.line
    )
    failures = [f for f in case.findings if f.is_error]
    if case.error is not None:
        junit.add_error_info(message=case.error, error_type="error")
    elif failures:
        junit.add_failure_info(
            message=failures[0].message,
            output="\n".join(text_line(f) for f in failures),
            failure_type=failures[0].code,
        )
    elif case.skipped is not None:
        junit.add_skipped_info(message=case.skipped)
    return junit
