"""ci.reports: JUnit (schema, junitparser round trip), GitHub annotations, summary, outputs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import xmlschema
from junitparser import Attr, IntAttr, JUnitXml, TestCase

from ci import numbering, reports
from ci.app import cli
from ci.core.findings import Case, Finding, Report
from tests.conftest import FIRST, JUNIT_XSD, M, WriteTree

DUPLICATE = {
    **FIRST,
    f"{M}/schema/0002_a.sql": "CREATE INDEX t_a ON t (a);\n",
    f"{M}/rollback/0002_rollback.sql": "DROP INDEX t_a;\n",
    f"{M}/schema/0002_b.sql": "CREATE INDEX t_b ON t (a);\n",
}


class LocatedCase(TestCase):
    """junitparser's test case plus the file/line extension of the Jenkins schema."""

    file = Attr()
    line = IntAttr()


def mixed_reports() -> list[Report]:
    """Every kind of case: passed, failed (two findings), warning only, skipped, crashed."""
    odd = 'a <b> & "c" 50%\x01 done'
    return [
        Report(
            "apply_empty",
            [
                Case(
                    "0001_init",
                    "apply_empty",
                    0.1,
                    f"{M}/schema/0001_init.sql",
                    None,
                    kind="schema",
                    rows=0,
                ),
                Case(
                    "0002_fill",
                    "apply_empty",
                    0.2,
                    f"{M}/data/0002_fill.sql",
                    7,
                    [
                        Finding(
                            "apply_empty", "MG301", f"{M}/data/0002_fill.sql", 7, odd, "fix it"
                        ),
                        Finding("apply_empty", "MG302", f"{M}/data/0002_fill.sql", 9, "second"),
                    ],
                    kind="data",
                    rows=1204,
                ),
                Case("0003_irrev", "apply_empty", skipped="@irreversible: backfill", kind="data"),
            ],
        ),
        Report(
            "lint",
            [
                Case(
                    "MG599 x",
                    "lint",
                    findings=[
                        Finding(
                            "lint",
                            "MG599",
                            f"{M}/schema/0001_init.sql",
                            1,
                            "style",
                            severity="warning",
                        )
                    ],
                ),
            ],
        ),
        Report(
            "rollback_roundtrip",
            [Case("crashed", "rollback_roundtrip", error="internal error: boom")],
        ),
    ]


def test_junit_of_a_failing_check_is_schema_valid_and_round_trips(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = write_tree(DUPLICATE)
    junit = tmp_path / "out" / "junit.xml"
    code = numbering.main(["--migrations-dir", str(root / M), "--junit", str(junit)])
    assert code == 1, capsys.readouterr()
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)
    suites = list(JUnitXml.fromfile(str(junit)))
    assert [s.name for s in suites] == ["numbering"]
    cases = [LocatedCase.fromelem(c) for c in suites[0]]
    failed = [c for c in cases if c.is_failure]
    assert failed and all(c.file and c.file.endswith(".sql") for c in failed)
    assert any("0002_" in (c.file or "") for c in failed)


def test_junit_carries_every_outcome_and_validates(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    reports.write_junit(mixed_reports(), junit)
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)  # times like 0.1 + 0.2 must stay SUREFIRE_TIME

    xml = JUnitXml.fromfile(str(junit))
    rewritten = tmp_path / "rewritten.xml"
    xml.write(str(rewritten))  # the round trip: what junitparser writes, it reads back the same
    suites = {s.name: s for s in JUnitXml.fromfile(str(rewritten))}
    assert list(suites) == ["apply_empty", "lint", "rollback_roundtrip"]
    apply = [LocatedCase.fromelem(c) for c in suites["apply_empty"]]
    assert (apply[1].file, apply[1].line) == (f"{M}/data/0002_fill.sql", 7)
    assert (apply[0].file, apply[0].line) == (f"{M}/schema/0001_init.sql", None)
    assert apply[0].is_passed and apply[1].is_failure and apply[2].is_skipped
    failure = apply[1].result[0]
    assert failure.type == "MG301"
    assert failure.message == 'a <b> & "c" 50% done.'  # escaped, control character dropped
    assert "MG302" in (failure.text or "")
    assert suites["apply_empty"].time == pytest.approx(0.3)
    warning = LocatedCase.fromelem(next(iter(suites["lint"])))
    assert warning.is_passed and "MG599" in (warning.system_out or "")
    crashed = next(iter(suites["rollback_roundtrip"]))
    assert crashed.is_error and not crashed.is_failure  # a crash is <error>, not <failure>
    assert suites["rollback_roundtrip"].errors == 1


def test_a_check_that_found_nothing_has_one_passing_case(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    reports.write_junit([Report.from_findings("numbering", [], passed="numbering ok")], junit)
    xmlschema.XMLSchema(JUNIT_XSD).validate(junit)
    (suite,) = JUnitXml.fromfile(str(junit))
    assert [(c.name, c.is_passed) for c in suite] == [("numbering ok", True)]


def test_a_crashing_check_is_an_error_case_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    args = cli.parse(cli.check_parser("demo", None), ["--junit", str(junit)])

    def work(_: object) -> Report:
        raise RuntimeError("a bug")

    assert cli.run_check("demo", args, work) == 2
    err = capsys.readouterr().err
    assert "RuntimeError: a bug" in err  # the traceback of a bug is kept
    (suite,) = JUnitXml.fromfile(str(junit))
    (case,) = suite
    assert case.is_error and "internal error: RuntimeError: a bug" in case.result[0].message


def test_github_escaping_of_messages_and_properties() -> None:
    finding = Finding(
        "lint", "MG501", "dir,with:odd/0001_x.sql", 3, "100% wrong\r\nreally", "add WHERE"
    )
    assert reports.annotation(finding) == (
        "::error file=dir%2Cwith%3Aodd/0001_x.sql,line=3,title=MG501 (lint)"
        "::100%25 wrong%0D%0Areally.%0ATo fix: add WHERE."
    )
    assert reports.escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert reports.escape_property("t: a,b%") == "t%3A a%2Cb%25"
    warning = Finding("lint", "MG599", None, None, "style", severity="warning")
    assert reports.annotation(warning) == "::warning title=MG599 (lint)::style."


def test_github_format_is_automatic_in_actions(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    root = write_tree(DUPLICATE)
    outputs, summary = tmp_path / "output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root))
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "runner-temp"))
    assert numbering.main(["--migrations-dir", str(root / M)]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("::error ")]
    assert lines, out
    assert re.match(r"::error file=schema/migrations/schema/0002_[ab]\.sql,", lines[0]), lines[0]
    assert out.splitlines()[-1].startswith("FAILED numbering")
    assert "| numbering | ❌ failed |" in summary.read_text(encoding="utf-8")
    values = parse_outputs(outputs.read_text(encoding="utf-8"))
    assert values["failed"] == "true"
    assert Path(values["report"]).read_text(encoding="utf-8").startswith("## migration-guard")


def parse_outputs(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT as the runner does: `name<<DELIM` ... `DELIM` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        body = []
        for value_line in lines:
            if value_line == delimiter:
                break
            body.append(value_line)
        else:
            raise AssertionError(f"unterminated output {name}")
        values[name] = "\n".join(body)
    return values


def test_outputs_use_the_multiline_safe_form(tmp_path: Path) -> None:
    path = tmp_path / "output"
    reports.write_outputs({"failed": "false", "report": "a\nfailed<<EOF\nb"}, path)
    text = path.read_text(encoding="utf-8")
    assert re.match(r"failed<<ghadelimiter_[0-9a-f-]{36}\nfalse\nghadelimiter_", text)
    assert parse_outputs(text) == {"failed": "false", "report": "a\nfailed<<EOF\nb"}


def test_summary_table_has_a_row_per_migration_and_the_findings() -> None:
    text = reports.summary_markdown(mixed_reports())
    assert text.startswith("## migration-guard: ❌ FAILED")
    assert "| apply_empty | 0001_init | schema | 0.100 | 0 | ✅ passed |" in text
    assert "| apply_empty | 0002_fill | data | 0.200 | 1204 | ❌ failed |" in text
    assert "| apply_empty | 0003_irrev | data | 0.000 |  | ⏭️ skipped |" in text
    assert "| rollback_roundtrip | 💥 error | 0 | 0 | 1 | 0 |" in text
    assert '| MG301 | a &lt;b&gt; &amp; "c" 50%\x01 done | fix it |' in text
    assert "| rollback_roundtrip |  |  | error | internal error: boom |  |" in text
    piped = Report.from_findings("x", [Finding("x", "MG1", "a|b", 1, "one\ntwo")], passed="")
    assert "| a\\|b | 1 | MG1 | one<br>two |" in reports.summary_markdown([piped])
    coded = Finding("x", "MG1", "a", 1, "<b>", "declare `-- @irreversible <reason>`")
    text = reports.summary_markdown([Report("x", [Case("c", "x", findings=[coded])])])
    assert "| &lt;b&gt; | declare `-- @irreversible <reason>` |" in text  # code spans stay literal


def test_text_has_hints_and_colour_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = Finding("numbering", "MG101", "a.sql", 2, "number 0002 is used twice", "rename it")
    assert (
        reports.text_line(finding) == "a.sql:2: MG101 number 0002 is used twice. To fix: rename it."
    )
    assert "\x1b[" in reports.text_line(finding, colour=True)

    class Terminal:
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    assert reports.use_colour(terminal)  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not reports.use_colour(terminal)  # type: ignore[arg-type]
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert reports.use_colour(io.StringIO())


def test_text_of_a_real_run_is_one_line_per_finding_then_summary(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(DUPLICATE)
    assert numbering.main(["--migrations-dir", str(root / M)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "\x1b[" not in "".join(lines)  # captured output is not a terminal
    assert all(re.match(r"\S+\.sql(:\d+)?: MG1\d\d .*To fix: ", line) for line in lines[:-1])
    assert lines[-1].startswith("FAILED numbering: ")


def test_json_format(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(DUPLICATE)
    assert numbering.main(["--migrations-dir", str(root / M), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["failed"] is True
    (check,) = document["checks"]
    findings = [f for case in check["cases"] for f in case["findings"]]
    assert {"MG101"} <= {f["code"] for f in findings}
    assert all(f["path"] and f["hint"] for f in findings if f["code"] == "MG101")


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`python -m ci.numbering | head -1`: a closed pipe is not a crash; the exit code stays 1."""
    import subprocess
    import sys

    root = tmp_path / "m"
    root.mkdir()
    for number in range(3000):  # more text than a pipe buffer holds
        (root / f"x{number}.sql").touch()
    script = f'"{sys.executable}" -m ci.numbering --migrations-dir "{root}" | head -1; '
    script += 'exit "${PIPESTATUS[0]}"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "MG103" in done.stdout
    assert "Traceback" not in done.stderr
