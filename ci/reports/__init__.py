"""Findings -> text, JUnit XML, GitHub annotations / summary / outputs, JSON.

The only module that formats output. Every writer takes the same `Report` list, so the text a
developer reads, the JUnit file Jenkins reads and the annotations GitHub shows never disagree.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

# json, uuid, datetime and xml.etree are imported where used: numbering and checksums must start
# in under 2x `python -c "import sqlite3"`, and together they cost ~30 ms at import.

from ci.core.findings import Case, Finding, Report

FORMATS = ("text", "github", "json")
RESULT_MARKS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "💥 error",
    "skipped": "⏭️ skipped",
}
SUMMARY_FINDINGS_LIMIT = 500  # a step summary is capped at 1 MiB by GitHub

# Characters XML 1.0 cannot carry at all, even escaped; SQL files and error texts may contain them.
# A pattern, not compiled here: compiling it costs ~3 ms at import, and most runs write no JUnit.
_XML_ILLEGAL = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


def resolve_format(requested: str | None) -> str:
    """The explicit `--format`, else `github` inside GitHub Actions, else `text`."""
    if requested:
        return requested
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


# --- text ---------------------------------------------------------------------------------------


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


def _sentence(text: str) -> str:
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
    hint = f" To fix: {_sentence(finding.hint)}" if finding.hint else ""
    return f"{where}: {code} {level}{_sentence(finding.message)}{hint}"


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
    for report in reports:
        for finding in report.findings:
            print(text_line(finding, colour=colour), file=out)
    if len(reports) > 1:  # `python -m ci`: one line per check, so a reader sees what ran
        for report in reports:
            print(f"  {summary_line([report], colour=colour)}", file=out)
    print(summary_line(reports, colour=colour), file=out)


# --- JUnit XML ----------------------------------------------------------------------------------


def junit_string(reports: Sequence[Report]) -> str:
    """One <testsuite> per check, one <testcase> per case; valid against Jenkins' junit-10.xsd.

    junit-xml builds each suite's element tree; we serialise it ourselves because its
    `to_xml_report_string` pretty-prints through minidom (about 1 s for 10,000 cases) and writes
    times such as `0.30000000000000004` that the schema's SUREFIRE_TIME pattern rejects.
    """
    import xml.etree.ElementTree as ET
    from datetime import datetime, timezone

    from junit_xml import TestCase, TestSuite

    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    root = ET.Element("testsuites")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped", "disabled"), 0)
    total_time = 0.0
    for report in reports:
        cases = [_junit_case(TestCase, c) for c in report.cases]
        suite = TestSuite(report.check, cases, timestamp=stamp)
        element = suite.build_xml_doc()
        for case_element, case in zip(element.iter("testcase"), report.cases, strict=True):
            case_element.set("time", _seconds(case.time))
        suite_time = suite_seconds(report)
        element.set("time", _seconds(suite_time))
        total_time += suite_time
        for key in totals:
            totals[key] += int(element.get(key, 0))
        root.append(element)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(total_time))
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n']
    _serialize(root, parts, "")
    return re.sub(_XML_ILLEGAL, "", "".join(parts))


def suite_seconds(report: Report) -> float:
    """A check's testsuite time: its wall time (reading files, loading sqlfluff, building
    databases), which its cases' times only part of."""
    cases = sum(c.time for c in report.cases)
    return cases if report.time is None else max(report.time, cases)


def _serialize(element: ET.Element, parts: list[str], indent: str) -> None:
    """ElementTree's own serialiser, minus namespaces and generality: 4x faster on 10,000 cases."""
    tag = element.tag
    attributes = "".join([f' {k}="{_escape_attribute(v)}"' for k, v in element.attrib.items()])
    text = element.text
    if len(element) == 0:
        if text:
            parts.append(f"{indent}<{tag}{attributes}>{_escape_text(text)}</{tag}>\n")
        else:
            parts.append(f"{indent}<{tag}{attributes} />\n")
        return
    parts.append(f"{indent}<{tag}{attributes}>{_escape_text(text) if text else ''}\n")
    inner = indent + "  "
    for child in element:
        _serialize(child, parts, inner)
    parts.append(f"{indent}</{tag}>\n")


_TEXT_SPECIAL = re.compile(r"[&<>]")
_ATTRIBUTE_SPECIAL = re.compile(r'[&<>"\n\r\t]')


def _escape_text(value: str) -> str:
    if not _TEXT_SPECIAL.search(value):  # names and paths, nearly always
        return value
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(value: str) -> str:
    if not _ATTRIBUTE_SPECIAL.search(value):
        return value
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
    return value.replace("\t", "&#09;")


def junit_refusal(
    path: Path, *, inputs: Iterable[Path | None] = (), migrations_dir: Path | None = None
) -> str | None:
    """Why --junit PATH must not be written (one line), or None: see ci.reports.outputs."""
    from ci.reports import outputs

    return outputs.refusal(
        path,
        option="--junit",
        kind="a JUnit report",
        starts=outputs.JUNIT_STARTS,
        inputs=inputs,
        migrations_dir=migrations_dir,
    )


def write_junit(reports: Sequence[Report], path: Path) -> None:
    """Replace the report whole; the guard is asked again in case the file changed meanwhile."""
    from ci.reports import outputs

    outputs.write_atomically(path, junit_string(reports), refused=junit_refusal(path))


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _case_location(case: Case) -> tuple[str | None, int | None]:
    if case.path is not None:
        return case.path, case.line
    for finding in case.findings:
        if finding.path is not None:
            return finding.path, finding.line
    return None, None


def _junit_case(test_case: Any, case: Case) -> Any:
    """junit-xml's TestCase for one of our cases (`test_case` is the class, imported once)."""
    path, line = _case_location(case)
    junit = test_case(case.name, classname=case.classname, file=path, line=line)
    if not case.findings:  # nearly every case of a big run: nothing more to add
        if case.error is not None:
            junit.add_error_info(message=case.error or "error", error_type="error")
        elif case.skipped is not None:
            junit.add_skipped_info(message=case.skipped or "skipped")
        return junit
    warnings = [f for f in case.findings if not f.is_error]
    if warnings:
        junit.stdout = "\n".join(text_line(f) for f in warnings)
    failures = [f for f in case.findings if f.is_error]
    if case.error is not None:
        junit.add_error_info(message=case.error or "error", error_type="error")
    elif failures:
        junit.add_failure_info(
            message=_sentence(failures[0].message),
            output="\n".join(text_line(f) for f in failures),
            failure_type=failures[0].code,
        )
    elif case.skipped is not None:
        junit.add_skipped_info(message=case.skipped or "skipped")
    return junit


# --- GitHub Actions -----------------------------------------------------------------------------


def escape_data(value: str) -> str:
    """Escape a workflow command's message, as @actions/core `escapeData` does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property (file, title): also `:` and `,`."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _workspace_relative(path: str) -> str:
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
        properties.append(f"file={escape_property(_workspace_relative(finding.path))}")
        if finding.line is not None:
            properties.append(f"line={finding.line}")
    properties.append(f"title={escape_property(f'{finding.code} ({finding.check})')}")
    message = _sentence(finding.message)
    if finding.hint:
        message += f"\nTo fix: {_sentence(finding.hint)}"
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
                print(error_annotation(report.check, case), file=out)
            for finding in case.findings:
                print(annotation(finding), file=out)
    print(summary_line(reports), file=out)


def _cell(value: object) -> str:
    """A table cell: HTML escaped outside `code spans` (entities show literally inside them)."""
    parts = ("" if value is None else str(value)).replace("\r", "").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code span, escape the rest too
        parts[-1] = parts[-1].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|").replace("\n", "<br>")


def _table(
    header: Sequence[str], rows: Iterable[Sequence[object]], align: Sequence[str]
) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def summary_markdown(reports: Sequence[Report]) -> str:
    """The job summary: one row per check, one per migration case, then the findings."""
    failed = any(r.failed for r in reports)
    lines = [f"## migration-guard: {'❌ FAILED' if failed else '✅ passed'}", ""]
    lines += _table(
        ("check", "result", "passed", "failed", "errors", "skipped"),
        (_check_row(r) for r in reports),
        (":--", ":--", "--:", "--:", "--:", "--:"),
    )
    migrations = [(r.check, c) for r in reports for c in r.cases if c.kind is not None]
    if migrations:
        lines += ["", "### Migrations", ""]
        lines += _table(
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
        lines += _table(
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
        summary.write(summary_markdown(reports))


def write_outputs(values: dict[str, str], path: Path) -> None:
    """Append step outputs in the heredoc form, safe for any value (as @actions/core does)."""
    import uuid

    with path.open("a", encoding="utf-8") as outputs:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            outputs.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def github_files(reports: Sequence[Report], junit: Path | None) -> None:
    """Job summary and `failed` / `report` outputs, when running as a GitHub Actions step."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        append_step_summary(reports, Path(summary))
    output = os.environ.get("GITHUB_OUTPUT")
    if not output:
        return
    if junit is not None:
        report = _workspace_relative(str(junit))
    else:  # no JUnit asked for: keep a summary file that later steps can read or upload
        import tempfile

        folder = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        summary_file = folder / "migration-guard-summary.md"
        summary_file.write_text(summary_markdown(reports), encoding="utf-8")
        report = str(summary_file)
    failed = any(r.failed for r in reports)
    write_outputs({"failed": "true" if failed else "false", "report": report}, Path(output))


# --- JSON ---------------------------------------------------------------------------------------


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
    return json.dumps(document, indent=2, ensure_ascii=False)


def _case_json(case: Case) -> dict[str, object]:
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


# --- all of them --------------------------------------------------------------------------------


def emit(
    reports: Sequence[Report],
    *,
    fmt: str | None = None,
    junit: Path | None = None,
    text: bool = True,
    out: TextIO | None = None,
) -> bool:
    """Write a run's reports in every form asked for. `text=False` when stderr already said it.
    False when the --junit file could not be written (the run then exits 2, not 0)."""
    out = out if out is not None else sys.stdout
    written = True
    if junit is not None:
        from ci.reports.outputs import OutputRefused

        try:
            write_junit(reports, junit)
        except OutputRefused as refused:
            print(f"error: {refused}", file=sys.stderr)
            written = False
        except OSError as error:
            print(f"error: --junit {junit}: cannot write: {error.strerror}", file=sys.stderr)
            written = False
    fmt = resolve_format(fmt)
    if fmt == "github":
        github_files(reports, junit)
    try:
        if fmt == "json":
            print(to_json(reports), file=out)
        elif fmt == "github":
            write_github(reports, out)
        elif text:
            write_text(reports, out)
        out.flush()
    except BrokenPipeError:
        # The reader left (`... | head`); the exit code still carries the result. Point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return written
