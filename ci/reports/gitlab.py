"""Findings as a GitLab Code Quality report (`artifacts: reports: codequality:`).

A JSON array, one object per issue (`ci.reports.issues`): `description`, `check_name` (the
finding code), `fingerprint` (the same stable one as SARIF's), `severity` and `location` (path
relative to the repository root, `lines.begin`). GitLab requires a path and a line for every
entry: a check that could not run is placed at the config file or the migrations directory,
line 1, and a finding without a line at line 1 of its file.

Valid against GitLab's own `codeclimate.json` and the report schema written from GitLab's
documented format, both vendored in tests/data/schemas/.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ci.core.findings import Report
from ci.reports.issues import COULD_NOT_RUN, Issue, issues_of, json_text, repository_root

# A check that could not run outranks any finding: the run proved nothing.
SEVERITIES = {"error": "major", "warning": "minor", "note": "info", COULD_NOT_RUN: "critical"}
# What a previous report of ours starts with: only that (or an empty file) is overwritten.
CODEQUALITY_STARTS = (b"[]", b'[\n  {\n    "description": ')


def gitlab_document(
    reports: Sequence[Report], *, anchor: str | None = None, root: Path | None = None
) -> list[dict[str, object]]:
    """The Code Quality report of a run. `anchor`: the path for issues without a file."""
    root = repository_root() if root is None else root
    return [_entry(issue, anchor) for issue in issues_of(reports, root=root, anchor=anchor)]


def gitlab_string(reports: Sequence[Report], *, anchor: str | None = None) -> str:
    return json_text(gitlab_document(reports, anchor=anchor))


def codequality_refusal(
    path: Path, *, inputs: Sequence[Path | None] = (), migrations_dir: Path | None = None
) -> str | None:
    """Why --codequality PATH must not be written (one line), or None: see ci.reports.outputs."""
    from ci.reports import outputs

    return outputs.refusal(
        path,
        option="--codequality",
        kind="a Code Quality report of migration-guard",
        starts=CODEQUALITY_STARTS,
        inputs=inputs,
        migrations_dir=migrations_dir,
    )


def write_gitlab(reports: Sequence[Report], path: Path, *, anchor: str | None = None) -> None:
    """Replace the file whole; the guard is asked again in case it changed meanwhile."""
    from ci.reports import outputs

    text = gitlab_string(reports, anchor=anchor) + "\n"
    outputs.write_atomically(path, text, refused=codequality_refusal(path))


def _entry(issue: Issue, anchor: str | None) -> dict[str, object]:
    severity = SEVERITIES[COULD_NOT_RUN if issue.rule == COULD_NOT_RUN else issue.level]
    return {
        "type": "issue",
        "description": f"{issue.rule}: {issue.message}",
        "check_name": issue.rule,
        "fingerprint": issue.fingerprint,
        "severity": severity,
        "categories": ["Bug Risk"],
        "location": {
            "path": issue.path or anchor or ".",
            "lines": {"begin": issue.line if issue.line is not None and issue.line >= 1 else 1},
        },
    }
