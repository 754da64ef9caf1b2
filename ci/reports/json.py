"""The whole run as one JSON document, for other tools: each check, its cases, their findings."""

from __future__ import annotations

from collections.abc import Sequence

from ci.core.findings import Case, Report
from ci.reports.text import printable_json, summary_line


def to_json(reports: Sequence[Report]) -> str:
    """The whole run as one JSON document, for other tools."""
    import json

    document = {
        "failed": any(r.failed for r in reports),
        "summary": summary_line(reports),
        "checks": [
            {"check": r.check, "failed": r.failed, "cases": [_case_json(c) for c in r.cases]}
            for r in reports
        ],
    }
    return printable_json(json.dumps(document, indent=2, ensure_ascii=False))


def _case_json(case: Case) -> dict[str, object]:
    document = _case_fields(case)
    if case.changes:  # apply_empty --explain: the migration's schema changes
        document["changes"] = [change.as_dict() for change in case.changes]
    if case.impact is not None:  # apply_sample --prod-stats: the production estimate
        document["impact"] = case.impact
    return document


def _case_fields(case: Case) -> dict[str, object]:
    return {
        "name": case.name,
        "classname": case.classname,
        "outcome": case.outcome,
        "time": round(case.time, 3),
        "path": case.path,
        "line": case.line,
        "kind": case.kind,
        "rows": case.rows,
        "skipped": case.skipped,
        "error": case.error,
        "findings": [
            {
                "check": f.check,
                "code": f.code,
                "severity": f.severity,
                "path": f.path,
                "line": f.line,
                "message": f.message,
                "hint": f.hint,
            }
            for f in case.findings
        ],
    }
