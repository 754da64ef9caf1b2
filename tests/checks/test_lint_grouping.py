"""sqlfluff's findings grouped: one per rule and file, with the count and the other lines."""

from __future__ import annotations

import json
import re

import pytest

from ci import lint
from ci.checks.lint.repeats import LINES_SHOWN, one_per_code
from ci.checks.lint.squawk_repeats import one_per_rule
from ci.core.findings import Finding
from tests.conftest import MIGRATIONS, WriteTree

# line 1 sets upper case; 2, 4 and 5 break CP01 (5 twice), 3 is waived; 4 and 5 break LT01
MIXED = (
    "CREATE TABLE a (id INTEGER);\n"
    "create TABLE b (id INTEGER);\n"
    "create TABLE c (id INTEGER); -- noqa: CP01\n"
    "create TABLE d (id  INTEGER);\n"
    "create table e (id  INTEGER);\n"
)


def _lint(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sql: str,
    *args: str,
) -> tuple[int, str]:
    root = write_tree({f"{MIGRATIONS}/schema/0001_a.sql": sql})
    monkeypatch.chdir(root)
    exit_code = lint.main(["--all", *args])
    return exit_code, capsys.readouterr().out


def _lines_with(code: str, out: str) -> list[str]:
    return [line for line in out.splitlines() if re.search(rf"\.sql:\d+: {code} ", line)]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_one_finding_per_sqlfluff_rule_with_count_and_lines_noqa_not_counted(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    engine: str,
) -> None:
    exit_code, out = _lint(write_tree, monkeypatch, capsys, MIXED, "--engine", engine)
    assert exit_code == 1, out
    (cp01,) = _lines_with("CP01", out)
    assert "0001_a.sql:2: CP01 " in cp01
    # three more places on lines 4 and 5; line 3's noqa keeps it out of the count
    assert "(and 3 more in this file: lines 4, 5)" in cp01, out
    (lt01,) = _lines_with("LT01", out)  # two codes stay apart
    assert "0001_a.sql:4: LT01 " in lt01 and "(and 1 more in this file: line 5)" in lt01, out


def test_without_the_noqa_the_waived_line_is_counted(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _lint(write_tree, monkeypatch, capsys, MIXED.replace("noqa", "note"))
    (cp01,) = _lines_with("CP01", out)
    assert "(and 4 more in this file: lines 3, 4, 5)" in cp01, out


def test_a_rule_broken_once_reads_as_sqlfluffs_own(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _lint(write_tree, monkeypatch, capsys, "CREATE TABLE a (id  INTEGER);\n")
    (lt01,) = _lines_with("LT01", out)
    assert "more in this file" not in lt01 and "Found '  '. To fix:" in lt01, out


def test_long_lists_stop_after_ten_lines(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "".join(f"CREATE TABLE t{n} (id  INTEGER);\n" for n in range(1, 15))
    _, out = _lint(write_tree, monkeypatch, capsys, sql)
    (lt01,) = _lines_with("LT01", out)
    shown = ", ".join(str(n) for n in range(2, 2 + LINES_SHOWN))
    assert (
        "0001_a.sql:1: LT01 " in lt01 and f"(and 13 more in this file: lines {shown}, ...)" in lt01
    )


def test_unparsable_statements_stay_one_finding_each(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "CREATE TABLE a (id INTEGER) WITH SPARKLES;\nCREATE TABLE b (id INTEGER) WITH GLITTER;\n"
    _, out = _lint(write_tree, monkeypatch, capsys, sql)
    assert len(_lines_with("PRS", out)) == 2, out
    assert "SPARKLES" in out and "GLITTER" in out


def test_json_report_gets_the_grouped_finding(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _lint(write_tree, monkeypatch, capsys, MIXED, "--format", "json")
    document = json.loads(out)
    findings = [f for check in document["checks"] for c in check["cases"] for f in c["findings"]]
    (cp01,) = [f for f in findings if f["code"] == "CP01"]
    assert cp01["line"] == 2 and cp01["message"].endswith("(and 3 more in this file: lines 4, 5)")


def _at(code: str, line: int) -> Finding:
    return Finding("lint", code, "m/0001_a.sql", line, f"{code} at {line}", "fix it", "error")


def test_one_per_code_keeps_the_first_by_line_and_codes_apart() -> None:
    found = [_at("LT02", 7), _at("CP01", 3), _at("LT02", 2), _at("LT02", 7), _at("CP01", 9)]
    assert [(f.code, f.line, f.message) for f in one_per_code(found)] == [
        ("LT02", 2, "LT02 at 2 (and 2 more in this file: line 7)"),
        ("CP01", 3, "CP01 at 3 (and 1 more in this file: line 9)"),
    ]
    single = _at("LT05", 4)
    assert one_per_code([single]) == [single]
    assert one_per_code([]) == []


def test_findings_on_one_line_are_said_so_and_no_line_is_listed_twice() -> None:
    """Seen on a real history: an unparsable rollback, `(and 2 more in this file: lines 1,
    1)`."""
    (same_line,) = one_per_code([_at("MG700", 1), _at("MG700", 1), _at("MG700", 1)])
    assert same_line.message == "MG700 at 1 (and 2 more on this line)"
    (twice,) = one_per_rule([("rule", n, _at("MG702", n)) for n in (1, 4, 4)])
    assert twice.message == "MG702 at 1 (and 2 more in this file: line 4)"


def test_squawk_keeps_its_own_wording_through_the_shared_grouping() -> None:
    index = [("require-concurrent-index-creation", n, _at("MG702", n)) for n in (4, 2, 3)]
    (grouped,) = one_per_rule(index)
    assert grouped.message == "MG702 at 2 (and 2 more in this file: lines 3, 4)"
