"""ci.core.findings: the records every check produces, compared and hashed as dataclasses were,
and the outcome a case and a report derive from their findings."""

from __future__ import annotations

import pytest

from ci.core.findings import Case, Finding, Report


def finding(severity: str = "error", code: str = "MG101") -> Finding:
    return Finding("numbering", code, "m/schema/0002_a.sql", 3, "duplicate", "rename", severity)


def test_findings_compare_by_value_and_hash_alike() -> None:
    assert finding() == finding()
    assert finding() != finding(code="MG102")
    assert finding() != finding(severity="warning")
    assert len({finding(), finding(), finding(code="MG102")}) == 2
    assert finding().__eq__("MG101") is NotImplemented  # another type is never equal


def test_finding_takes_keywords_with_the_dataclass_defaults() -> None:
    made = Finding(check="lint", code="MG501", path=None, line=None, message="mixed")
    assert (made.hint, made.severity, made.is_error) == ("", "error", True)
    assert not finding(severity="warning").is_error


def test_repr_names_every_field_in_order() -> None:
    assert repr(finding()) == (
        "Finding(check='numbering', code='MG101', path='m/schema/0002_a.sql', line=3, "
        "message='duplicate', hint='rename', severity='error')"
    )


def test_cases_and_reports_are_mutable_so_never_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Case("a", "numbering"))
    with pytest.raises(TypeError):
        hash(Report("numbering"))


def test_each_case_has_its_own_findings_list() -> None:
    first, second = Case("a", "lint"), Case("b", "lint")
    first.findings.append(finding())
    assert second.findings == []
    assert Report("lint").cases is not Report("lint").cases


@pytest.mark.parametrize(
    ("case", "outcome"),
    [
        (Case("ok", "lint"), "passed"),
        (Case("warned", "lint", findings=[finding("warning")]), "passed"),
        (Case("skipped", "lint", skipped="no sample"), "skipped"),
        (Case("failed", "lint", findings=[finding("warning"), finding()]), "failed"),
        (Case("failed and skipped", "lint", findings=[finding()], skipped="x"), "failed"),
        (Case("crashed", "lint", findings=[finding()], error="Traceback"), "error"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_case_outcome(case: Case, outcome: str) -> None:
    assert case.outcome == outcome


def test_a_report_fails_on_an_error_finding_or_a_crash_only() -> None:
    warned = Report("lint", [Case("a", "lint", findings=[finding("warning")])])
    assert (warned.failed, warned.exit_code) == (False, 0)
    skipped = Report("lint", [Case("a", "lint", skipped="why")])
    assert (skipped.failed, skipped.exit_code) == (False, 0)
    crashed = Report("lint", [Case("a", "lint"), Case("b", "lint", error="boom")])
    assert (crashed.failed, crashed.exit_code) == (True, 1)
    failed = Report("lint", [Case("a", "lint", findings=[finding()])])
    assert (failed.failed, failed.exit_code) == (True, 1)


def test_report_findings_are_every_cases_in_order() -> None:
    one, two, three = finding(code="MG101"), finding(code="MG102"), finding(code="MG103")
    report = Report(
        "numbering", [Case("a", "n", findings=[one, two]), Case("b", "n", findings=[three])]
    )
    assert report.findings == [one, two, three]


def test_report_time_is_not_part_of_equality() -> None:
    assert Report("lint", [Case("a", "lint")], time=1.0) == Report("lint", [Case("a", "lint")])
    assert Report("lint", [Case("a", "lint")]) != Report("lint", [Case("b", "lint")])


def test_from_findings_makes_one_case_per_finding_named_by_code_and_path() -> None:
    located = finding()
    nowhere = Finding("numbering", "MG105", None, None, "no migrations")
    report = Report.from_findings("numbering", [located, nowhere], passed="all numbered")
    assert [(c.name, c.classname, c.path, c.line, c.findings) for c in report.cases] == [
        ("MG101 m/schema/0002_a.sql", "numbering", "m/schema/0002_a.sql", 3, [located]),
        ("MG105", "numbering", None, None, [nowhere]),
    ]
    assert report.failed


def test_from_findings_without_findings_is_one_passing_case() -> None:
    report = Report.from_findings("numbering", [], passed="all numbered")
    assert report == Report("numbering", [Case("all numbered", "numbering")])
    assert not report.failed
