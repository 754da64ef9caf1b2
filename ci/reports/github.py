"""Findings for GitHub Actions: annotations, the job summary, the step's outputs.

Annotations attach to files by their path relative to the repository root. The job summary is one
table per run (checks, migrations, findings); the outputs `failed` and `report` are appended in
the heredoc form @actions/core uses, safe for any value.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ci.core.findings import Case, Finding, Report
from ci.reports.text import printable, sentence, summary_line

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

RESULT_MARKS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "💥 error",
    "skipped": "⏭️ skipped",
}
SUMMARY_FINDINGS_LIMIT = 500  # a step summary is capped at 1 MiB by GitHub


def escape_data(value: str) -> str:
    """Escape a workflow command's message, as @actions/core `escapeData` does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property (file, title): also `:` and `,`."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workspace_relative(path: str) -> str:
    """Annotations attach to a file only by its path relative to the repository root, and
    later steps (upload-artifact) read a relative path from there too. The checks may run in a
    project's folder below it (a monorepo), where their relative paths start."""
    base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    relative = os.path.relpath(os.path.abspath(path), base)
    return path if relative.startswith("..") else relative


def annotation(finding: Finding) -> str:
    """`::error file=..,line=..,title=..::message` for one finding."""
    command = "error" if finding.is_error else "warning"
    properties = []
    if finding.path is not None:
        properties.append(f"file={escape_property(workspace_relative(finding.path))}")
        if finding.line is not None:
            properties.append(f"line={finding.line}")
    properties.append(f"title={escape_property(f'{finding.code} ({finding.check})')}")
    message = sentence(finding.message)
    if finding.hint:
        message += f"\nTo fix: {sentence(finding.hint)}"
    return f"::{command} {','.join(properties)}::{escape_data(message)}"


def error_annotation(check: str, case: Case) -> str:
    """A check that could not run or crashed: an annotation without a file."""
    title = escape_property(f"{check} could not run")
    return f"::error title={title}::{escape_data(case.error or 'error')}"


def write_github(reports: Sequence[Report], out: TextIO | None = None) -> None:
    out = out if out is not None else sys.stdout
    for report in reports:
        for case in report.cases:
            if case.error is not None:
                print(printable(error_annotation(report.check, case)), file=out)
            for finding in case.findings:
                print(printable(annotation(finding)), file=out)
    print(summary_line(reports), file=out)


def _cell(value: object) -> str:
    """A table cell: HTML escaped outside `code spans` (entities show literally inside them)."""
    parts = ("" if value is None else str(value)).replace("\r", "").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code span, escape the rest too
        parts[-1] = parts[-1].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|").replace("\n", "<br>")


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], align: Sequence[str]
) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def summary_markdown(reports: Sequence[Report]) -> str:
    """The job summary: one row per check, one per migration case, then the findings."""
    failed = any(r.failed for r in reports)
    lines = [f"## migration-guard: {'❌ FAILED' if failed else '✅ passed'}", ""]
    lines += markdown_table(
        ("check", "result", "passed", "failed", "errors", "skipped"),
        (_check_row(r) for r in reports),
        (":--", ":--", "--:", "--:", "--:", "--:"),
    )
    migrations = [(r.check, c) for r in reports for c in r.cases if c.kind is not None]
    if migrations:
        lines += ["", "### Migrations", ""]
        lines += markdown_table(
            ("check", "migration", "kind", "time (s)", "rows", "result"),
            (
                (check, c.name, c.kind, f"{c.time:.3f}", c.rows, RESULT_MARKS[c.outcome])
                for check, c in migrations
            ),
            (":--", ":--", ":--", "--:", "--:", ":--"),
        )
    findings = [f for r in reports for f in r.findings]
    errors = [(r.check, c) for r in reports for c in r.cases if c.error is not None]
    if findings or errors:
        lines += ["", "### Findings", ""]
        rows: list[Sequence[object]] = [
            (check, "", "", "error", c.error, "") for check, c in errors
        ]
        rows += [
            (f.check, f.path, f.line, f.code, f.message, f.hint)
            for f in findings[:SUMMARY_FINDINGS_LIMIT]
        ]
        lines += markdown_table(
            ("check", "file", "line", "code", "message", "to fix"),
            rows,
            (":--", ":--", "--:", ":--", ":--", ":--"),
        )
        if len(findings) > SUMMARY_FINDINGS_LIMIT:
            lines += ["", f"... and {len(findings) - SUMMARY_FINDINGS_LIMIT} more findings"]
    return "\n".join(lines) + "\n"


def _check_row(report: Report) -> tuple[object, ...]:
    outcomes = [c.outcome for c in report.cases]
    result = "error" if "error" in outcomes else "failed" if report.failed else "passed"
    return (
        report.check,
        RESULT_MARKS[result],
        outcomes.count("passed"),
        outcomes.count("failed"),
        outcomes.count("error"),
        outcomes.count("skipped"),
    )


def append_step_summary(reports: Sequence[Report], path: Path) -> None:
    with path.open("a", encoding="utf-8") as summary:
        summary.write(printable(summary_markdown(reports)))


def write_outputs(values: dict[str, str], path: Path) -> None:
    """Append step outputs in the heredoc form, safe for any value (as @actions/core does)."""
    import uuid

    with path.open("a", encoding="utf-8") as outputs:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            outputs.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def github_files(reports: Sequence[Report], junit: Path | None) -> None:
    """Job summary and `failed` / `report` outputs, when running as a GitHub Actions step.
    A file that cannot be written is one warning line naming it: the checks' exit code stands."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        _tried("GITHUB_STEP_SUMMARY", summary, lambda: append_step_summary(reports, Path(summary)))
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        _tried("GITHUB_OUTPUT", output, lambda: _step_outputs(reports, junit, Path(output)))


def _tried(variable: str, path: str, write: Callable[[], None]) -> None:
    try:
        write()
    except (OSError, ValueError) as error:  # ValueError: text the file's encoding refused
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        named = getattr(error, "filename", None) or path  # None when a write (not open) failed
        print(f"warning: ${variable} {named}: cannot write: {reason}", file=sys.stderr)


def _step_outputs(reports: Sequence[Report], junit: Path | None, output: Path) -> None:
    if junit is not None:
        report = workspace_relative(str(junit))
    else:  # no JUnit asked for: keep a summary file that later steps can read or upload
        import tempfile

        folder = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        summary_file = folder / "migration-guard-summary.md"
        summary_file.write_text(printable(summary_markdown(reports)), encoding="utf-8")
        report = str(summary_file)
    failed = any(r.failed for r in reports)
    write_outputs({"failed": "true" if failed else "false", "report": report}, output)
