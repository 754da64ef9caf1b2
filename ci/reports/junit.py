"""Findings as JUnit XML: one <testsuite> per check, one <testcase> per case.

Valid against Jenkins' junit-10.xsd. A check that could not run is an <error>, a finding that
fails is a <failure>, warnings go to the case's <system-out>. The file is written whole, and
never over a file that is not a previous report (`ci.reports.outputs`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ci.core.findings import Case, Report
from ci.core.sqltext import LazyPattern
from ci.reports.text import sentence, text_line

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from typing import Any

# Characters XML 1.0 cannot carry at all, even escaped; SQL files and error texts may contain them.
# A pattern, not compiled here: compiling it costs ~3 ms at import, and most runs write no JUnit.
_XML_ILLEGAL = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


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


_TEXT_SPECIAL = LazyPattern(r"[&<>]")
_ATTRIBUTE_SPECIAL = LazyPattern(r'[&<>"\n\r\t]')


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
    if case.impact is not None:  # apply_sample --prod-stats: the estimate, as stderr said it
        junit.stdout = case.impact["summary"]
    if not case.findings:  # nearly every case of a big run: nothing more to add
        if case.error is not None:
            junit.add_error_info(message=case.error or "error", error_type="error")
        elif case.skipped is not None:
            junit.add_skipped_info(message=case.skipped or "skipped")
        return junit
    warnings = [f for f in case.findings if not f.is_error]
    if warnings:
        lines = [junit.stdout] if junit.stdout else []
        junit.stdout = "\n".join(lines + [text_line(f) for f in warnings])
    failures = [f for f in case.findings if f.is_error]
    if case.error is not None:
        junit.add_error_info(message=case.error or "error", error_type="error")
    elif failures:
        junit.add_failure_info(
            message=sentence(failures[0].message),
            output="\n".join(text_line(f) for f in failures),
            failure_type=failures[0].code,
        )
    elif case.skipped is not None:
        junit.add_skipped_info(message=case.skipped or "skipped")
    return junit
