"""ci.lint --engine postgresql: squawk's rules as our codes, through the real squawk binary.

Every mapped rule fires on a file that breaks it and not on its safe spelling; `-- noqa` and
squawk's own `-- squawk-ignore` silence; `@no-transaction` files get no in-transaction noise;
rollback files may drop; a missing squawk is one line and exit 2 (a SQLite project never
needs it); the JSON, JUnit and SARIF reports carry the codes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema

from ci import lint
from ci.checks.lint.squawk_adapter import squawk_binary
from ci.checks.lint.squawk_rules import (
    SQUAWK_RULES,
    STYLE_CODES,
    SYNTAX_ERROR,
    UNKNOWN_RULE_CODE,
)
from ci.core.codes import BY_CODE
from tests.app.test_sarif import sarif_validator
from tests.checks.test_lint_postgres_cases import CASES, NO_TX, TIMEOUT, WARNINGS
from tests.conftest import JUNIT_XSD, MIGRATIONS, WriteTree

PG = ["--engine", "postgresql"]
ONLY_SQUAWK = [*PG, "--no-sqlfluff"]


def _lint(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    *args: str,
) -> tuple[int, str]:
    root = write_tree({f"{MIGRATIONS}/{name}": sql for name, sql in files.items()})
    monkeypatch.chdir(root)
    code = lint.main([*args, *(f"{MIGRATIONS}/{name}" for name in files)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(("code", "folder", "bad", "good"), CASES, ids=[case[0] for case in CASES])
def test_each_mapped_rule_fires_on_a_breaking_file_and_not_on_its_safe_spelling(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: str,
    folder: str,
    bad: str,
    good: str,
) -> None:
    name = f"{folder}/0001_case.sql"
    on = ["--include-rules", code] if code in STYLE_CODES else []  # off unless asked for
    exit_code, out = _lint(write_tree, monkeypatch, capsys, {name: bad}, *ONLY_SQUAWK, *on)
    line = re.search(rf"^{MIGRATIONS}/{name}:(\d+): {code} (warning: )?squawk ", out, re.M)
    assert line, out
    assert (line[2] is not None) == (code in WARNINGS)
    assert BY_CODE[code].hint in out  # our words, not only squawk's
    if code not in WARNINGS:
        assert exit_code == 1
    _, out = _lint(write_tree, monkeypatch, capsys, {name: good}, *ONLY_SQUAWK, *on)
    assert f": {code} " not in out


def test_squawk_lines_are_the_files_lines(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = TIMEOUT + "-- a comment\n\nCREATE INDEX i\n  ON t (c);\n"
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_i.sql": sql}, *ONLY_SQUAWK)
    assert f"{MIGRATIONS}/schema/0001_i.sql:4: MG702 " in out


def test_files_named_however_the_user_names_them_are_all_linted(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # squawk drops a leading ./ and reads [..] as a glob: neither may lose a file's findings
    sql = TIMEOUT + "CREATE INDEX i ON t (c);\n"
    names = ["schema/0001_a.sql", "schema/0002_[draft].sql", "schema/0003_b.sql"]
    root = write_tree({f"{MIGRATIONS}/{name}": sql for name in names})
    monkeypatch.chdir(root)
    given = [
        f"./{MIGRATIONS}/{names[0]}",
        f"{MIGRATIONS}/{names[1]}",
        str(root / MIGRATIONS / names[2]),
    ]
    assert lint.main([*ONLY_SQUAWK, *given]) == 1
    out = capsys.readouterr().out
    for path in given:
        assert f"{Path(path)}:2: MG702" in out, out  # pathlib drops the ./ too


def test_warnings_alone_pass(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"schema/0001_a.sql": "CREATE TABLE a (id int);\n"}
    exit_code, out = _lint(
        write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK, "--include-rules", "MG718"
    )
    assert exit_code == 0, out
    assert "MG718 warning: squawk prefer-bigint-over-int" in out


def test_a_rollback_file_may_drop_what_its_migration_made(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    drop = TIMEOUT + "ALTER TABLE t DROP COLUMN c;\nDROP TABLE u;\n"
    files = {"schema/0001_a.sql": drop, "rollback/0001_rollback.sql": drop}
    _, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert "0001_a.sql:2: MG712" in out and "0001_a.sql:3: MG713" in out
    assert not re.search(r"0001_rollback.sql:\d+: MG71[23]", out), out


def test_a_rollback_file_is_not_told_to_use_concurrently_which_it_cannot(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollback runs in one transaction: squawk's advice to build or drop an index
    CONCURRENTLY would be refused there (MG790), so it is not given (a newcomer followed it)."""
    index = TIMEOUT + "DROP INDEX i;\nCREATE INDEX j ON t (c);\n"
    files = {"schema/0002_a.sql": index, "rollback/0002_rollback.sql": index}
    _, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert "0002_a.sql:2: MG724" in out and "0002_a.sql:3: MG702" in out
    assert not re.search(r"0002_rollback.sql:\d+: MG7(24|02)", out), out


def test_the_engine_picks_sqlfluffs_dialect_over_a_sqlfluff_file_that_says_sqlite(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A project moving from SQLite keeps `.sqlfluff` with `dialect = sqlite`: with engine
    postgresql sqlfluff must still read PostgreSQL (else every `$$` body is unparsable)."""
    root = write_tree({".sqlfluff": "[sqlfluff]\ndialect = sqlite\n"})
    monkeypatch.chdir(root)
    body = (
        TIMEOUT + "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND;\n$$;\n"
    )
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_f.sql": body}, *PG)
    assert "dialect sqlite" not in out, out
    assert "cannot parse" not in out, out


def test_noqa_naming_the_code_silences_a_squawk_finding(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for comment, silenced in [
        ("-- noqa: MG702 a table of 12 rows", True),
        ("-- NOQA: mg709,MG702 small", True),
        ("-- noqa: MG701 another rule", False),
        ("-- noqa", False),
    ]:
        sql = f"{TIMEOUT}CREATE INDEX i ON t (c); {comment}\nCREATE INDEX j ON t (d);\n"
        files = {"schema/0001_i.sql": sql}
        _, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
        assert ("0001_i.sql:2: MG702" not in out) == silenced, (comment, out)
        # the next statement is not silenced: its own finding, or counted with the first
        next_one = "0001_i.sql:3: MG702" if silenced else "(and 1 more in this file: line 3)"
        assert next_one in out, (comment, out)


def test_squawk_ignore_comments_are_honoured_by_squawk(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        f"{TIMEOUT}-- squawk-ignore require-concurrent-index-creation\n"
        "CREATE INDEX i ON t (c);\nCREATE INDEX j ON t (d);\n"
    )
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_i.sql": sql}, *ONLY_SQUAWK)
    assert "0001_i.sql:3: MG702" not in out and "0001_i.sql:4: MG702" in out


@pytest.mark.parametrize(
    "statements",
    ["CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);\n", TIMEOUT + "DROP INDEX CONCURRENTLY "
     "IF EXISTS i;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);\n"],
    ids=["alone", "with-others"],
)  # fmt: skip
def test_concurrently_needs_no_transaction_and_then_gets_no_transaction_noise(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    statements: str,
) -> None:
    files = {"schema/0001_i.sql": statements}
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert exit_code == 1 and "MG717" in out and "-- @no-transaction" in out
    files = {"schema/0001_i.sql": NO_TX + statements}
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert "MG717" not in out and "MG728" not in out
    assert exit_code == 0 or "MG709" in out, out  # only a lock timeout may be missing


def test_a_rollback_file_runs_in_a_transaction_whatever_it_declares(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollback runs in one transaction with the removal of its migration's row: its
    `-- @no-transaction` does not make a CONCURRENTLY statement runnable (a real history had
    one), so lint says it cannot run, as the runner would."""
    files = {
        "schema/0001_i.sql": NO_TX + "DROP INDEX CONCURRENTLY IF EXISTS i;\n",
        "rollback/0001_rollback.sql": NO_TX
        + "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);\n",
    }
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert exit_code == 1 and "0001_rollback.sql:2: MG717" in out, out
    assert "0001_i.sql:2: MG717" not in out


def test_our_engine_independent_rules_run_beside_squawk_and_sqlite_ones_do_not(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "data/0002_purge.sql": "DELETE FROM sessions;\n",
        "schema/0001_col.sql": TIMEOUT + "ALTER TABLE t ADD COLUMN c integer NOT NULL;\n"
        "INSERT INTO t (c) VALUES (1);\n",
        "seed/0001_settings.sql": "INSERT INTO settings (k) VALUES ('a');\n",
        "seed/0002_more.sql": "INSERT INTO settings (k) VALUES ('b') ON CONFLICT DO NOTHING;\n",
    }
    _, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert "0002_purge.sql:1: MG502" in out
    assert "0001_col.sql:3: MG501" in out
    assert "0001_settings.sql:1: MG504" in out and "0002_more.sql:1: MG504" not in out
    assert "0001_col.sql:2: MG706" in out and "MG505" not in out  # squawk's, not SQLite's


def test_a_function_body_is_not_a_data_change_of_the_migration(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        TIMEOUT
        + "CREATE FUNCTION touch() RETURNS void LANGUAGE sql AS $$ UPDATE t SET c = 1; $$;\n"
        "CREATE FUNCTION mark() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n  DELETE FROM log;\n  RETURN NEW;\nEND\n$body$;\n"
    )
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_f.sql": sql}, *ONLY_SQUAWK)
    assert "MG501" not in out and "MG502" not in out and "MG700" not in out, out


def test_exclude_rules_turns_a_squawk_code_off(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"schema/0001_i.sql": TIMEOUT + "CREATE INDEX i ON t (c);\n"}
    exit_code, out = _lint(
        write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK, "--exclude-rules", "MG702,MG710"
    )
    assert exit_code == 0 and "MG702" not in out, out


def test_sqlfluff_lints_with_the_postgres_dialect_and_squawk_judges_syntax(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = TIMEOUT + "create TABLE a (id bigint, at timestamptz);\nALTER TABLE ;\n"
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_a.sql": sql}, *PG)
    assert "0001_a.sql:2: CP01 sqlfluff" in out
    assert "0001_a.sql:3: MG700 squawk syntax-error" in out
    assert "0001_a.sql:3: PRS warning: sqlfluff (dialect postgres)" in out
    assert "SQLite" not in out


def test_the_engine_comes_from_the_config_file(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            "migration-guard.yaml": "engine: postgresql\n",
            f"{MIGRATIONS}/schema/0001_i.sql": TIMEOUT + "CREATE INDEX i ON t (c);\n",
        }
    )
    monkeypatch.chdir(root)
    assert lint.main(["--no-sqlfluff"]) == 1
    assert "MG702" in capsys.readouterr().out
    assert lint.main(["--no-sqlfluff", "--engine", "sqlite"]) == 0


def test_missing_squawk_is_one_line_and_exit_2_and_sqlite_never_needs_it(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    nowhere = tmp_path / "no-squawk-here"
    nowhere.mkdir()
    monkeypatch.setattr(sys, "executable", str(nowhere / "python"))
    monkeypatch.setenv("PATH", str(nowhere))
    files = {"schema/0001_a.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"}
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert exit_code == 2
    (line,) = out.strip().splitlines()
    assert line.startswith("lint: engine postgresql lints with squawk, which is not installed")
    assert "pip install 'migration-guard[postgresql]'" in line and "'squawk-cli>=2'" in line
    assert "Traceback" not in out
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, "--no-sqlfluff")
    assert exit_code == 0, out


def test_a_squawk_config_file_is_honoured_and_a_broken_one_is_exit_2(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = NO_TX + TIMEOUT + "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);\n"
    files = {"schema/0001_i.sql": sql}
    root = write_tree(
        {
            ".squawk.toml": 'excluded_rules = ["require-statement-timeout"]\n'
            "assume_in_transaction = true\n"
        }
    )
    monkeypatch.chdir(root)
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert exit_code == 0 and "MG710" not in out and "MG717" not in out, out
    (root / ".squawk.toml").write_text("this is [[ not toml\n", encoding="utf-8")
    exit_code, out = _lint(write_tree, monkeypatch, capsys, files, *ONLY_SQUAWK)
    assert exit_code == 2, out
    (line,) = out.strip().splitlines()
    assert (
        line.startswith("lint: squawk could not run (exit 1): Configuration error")
        and "Traceback" not in out
    )


def test_every_rule_name_in_the_table_is_one_squawk_knows(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sql"
    empty.write_text("SELECT 1;\n", encoding="utf-8")
    # squawk reports these two itself (MG700 and MG729 have cases): --exclude refuses them
    reported_by_squawk_itself = {SYNTAX_ERROR, "unused-ignore"}
    names = ",".join(name for name in SQUAWK_RULES if name not in reported_by_squawk_itself)
    done = subprocess.run(
        [squawk_binary(), f"--exclude={names}", str(empty)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [squawk_binary(), "--exclude=no-such-rule", str(empty)], capture_output=True, text=True
    )
    assert done.returncode != 0  # squawk does check the names: the test above can fail


def test_every_code_of_the_table_is_registered_for_lint() -> None:
    for code, severity in [*SQUAWK_RULES.values(), (UNKNOWN_RULE_CODE, "error")]:
        assert BY_CODE[code].checks == ("lint",)
        assert severity in ("error", "warning")
        assert BY_CODE[code].title.startswith("warning: ") == (severity == "warning"), code


def test_a_rule_squawk_adds_later_surfaces_with_the_generic_code(tmp_path: Path) -> None:
    from ci.checks.lint.rules.base import FileContext
    from ci.checks.lint.squawk_adapter import _finding
    from ci.core.model import Directives

    ctx = FileContext(tmp_path / "0001_a.sql", "schema", "SELECT 1;\n", (), Directives())
    violation = {"rule_name": "ban-something-new", "line": 0, "column": 0, "message": "Bad."}
    finding = _finding(ctx, violation)
    assert (finding.code, finding.line, finding.severity) == (UNKNOWN_RULE_CODE, 1, "error")
    assert "ban-something-new" in finding.message and "Bad" in finding.message


BROKEN = {"schema/0001_i.sql": TIMEOUT + "CREATE INDEX i ON t (c);\n"}


def test_json_report_carries_the_codes(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, out = _lint(
        write_tree, monkeypatch, capsys, BROKEN, *ONLY_SQUAWK, "--format", "json"
    )
    assert exit_code == 1
    document = json.loads(out)
    findings = [f for check in document["checks"] for c in check["cases"] for f in c["findings"]]
    (mg702,) = [f for f in findings if f["code"] == "MG702"]
    assert mg702["line"] == 2 and mg702["path"].endswith("0001_i.sql") and mg702["hint"]


def test_junit_report_carries_the_codes(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    junit = tmp_path / "lint.xml"
    exit_code, _ = _lint(
        write_tree, monkeypatch, capsys, BROKEN, *ONLY_SQUAWK, "--junit", str(junit)
    )
    assert exit_code == 1
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    text = junit.read_text(encoding="utf-8")
    assert re.search(r'<testcase[^>]*file="schema/migrations/schema/0001_i.sql"[^>]*line="2"', text)
    assert "MG702" in text


def test_sarif_report_carries_the_codes(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, out = _lint(
        write_tree, monkeypatch, capsys, BROKEN, *ONLY_SQUAWK, "--format", "sarif"
    )
    assert exit_code == 1
    document = json.loads(out)
    sarif_validator().validate(document)
    (result,) = [r for r in document["runs"][0]["results"] if r["ruleId"] == "MG702"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
