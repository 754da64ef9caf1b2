"""ci.lint --engine postgresql, our own rules beside squawk's (ci.checks.lint.pg_rules).

MG790: what cannot run inside a transaction block, in a file the runner runs in one, is an
error, decided by the runner's own function: the real runner refuses the same files on the real
server, and runs them once they are `-- @no-transaction`. MG791: VACUUM FULL and CLUSTER rewrite
the table under an ACCESS EXCLUSIVE lock, a warning wherever they run. Both read, silence and
exclude like every code; neither repeats squawk.
"""

from __future__ import annotations

import re

import pytest

from ci import lint, migrate
from ci.core.codes import BY_CODE
from tests.conftest import MIGRATIONS, WriteTree

ONLY_PG_RULES = ["--engine", "postgresql", "--no-sqlfluff"]
LIMITS = "SET lock_timeout = '5s';\nSET statement_timeout = '5min';\n"
TABLE = LIMITS + "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint);\n"
NO_TX = "-- @no-transaction\n"

# statement -> what the runner's gatekeeper calls it when it refuses it in a transaction
NEEDS_NO_TRANSACTION = {
    "VACUUM orders;": "VACUUM",
    "VACUUM FULL orders;": "VACUUM",
    "VACUUM (ANALYZE) orders;": "VACUUM",
    "REINDEX INDEX CONCURRENTLY orders_pkey;": "REINDEX CONCURRENTLY",
    "REINDEX (CONCURRENTLY) TABLE orders;": "REINDEX CONCURRENTLY",
    "DROP INDEX CONCURRENTLY IF EXISTS orders_pkey_copy;": "DROP INDEX CONCURRENTLY",
    "CLUSTER;": "CLUSTER without a table",
}


def _lint(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    *args: str,
) -> tuple[int, str]:
    root = write_tree({f"{MIGRATIONS}/{name}": sql for name, sql in files.items()})
    monkeypatch.chdir(root)
    code = lint.main([*ONLY_PG_RULES, *args, *(f"{MIGRATIONS}/{name}" for name in files)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _codes(out: str, name: str) -> list[tuple[int, str]]:
    """(line, code) of each finding on `name`."""
    pattern = rf"^{re.escape(MIGRATIONS)}/{re.escape(name)}:(\d+): (MG\d+) "
    return [(int(line), code) for line, code in re.findall(pattern, out, re.M)]


@pytest.mark.parametrize("sql", list(NEEDS_NO_TRANSACTION))
def test_what_cannot_run_in_the_runners_transaction_is_an_error_until_it_is_no_transaction(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sql: str,
) -> None:
    name = "schema/0002_x.sql"
    code, out = _lint(write_tree, monkeypatch, capsys, {name: LIMITS + "\n" + sql + "\n"})
    assert code == 1, out
    assert (4, "MG790") in _codes(out, name)
    assert f"MG790 {NEEDS_NO_TRANSACTION[sql]} cannot run inside a transaction block" in out
    assert BY_CODE["MG790"].hint in out
    _, out = _lint(write_tree, monkeypatch, capsys, {name: NO_TX + LIMITS + sql + "\n"})
    assert "MG790" not in out


def test_create_index_concurrently_is_left_to_squawk(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = LIMITS + "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (account_id);\n"
    code, out = _lint(write_tree, monkeypatch, capsys, {"schema/0002_i.sql": sql})
    assert code == 1
    assert [c for _, c in _codes(out, "schema/0002_i.sql")] == ["MG717"]


def test_a_rollback_file_runs_in_a_transaction_whatever_it_declares(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "rollback/0002_i.sql"
    sql = NO_TX + LIMITS + "DROP INDEX CONCURRENTLY IF EXISTS i;\n"
    code, out = _lint(write_tree, monkeypatch, capsys, {name: sql})
    assert code == 1
    assert (4, "MG790") in _codes(out, name)
    assert "a rollback file runs in one" in out
    assert "write it without CONCURRENTLY" in out  # a rollback cannot move to a file of its own
    _, out = _lint(write_tree, monkeypatch, capsys, {name: LIMITS + "DROP INDEX IF EXISTS i;\n"})
    assert "MG790" not in out


@pytest.mark.parametrize(
    "sql",
    [
        NO_TX + LIMITS + "VACUUM FULL orders;\n",
        NO_TX + LIMITS + "VACUUM (FULL, ANALYZE) orders;\n",
        NO_TX + LIMITS + "VACUUM (FULL true) orders;\n",
        NO_TX + LIMITS + "CLUSTER orders USING orders_pkey;\n",
        LIMITS + "CLUSTER orders USING orders_pkey;\n",  # runs in the transaction, locks the same
        LIMITS + "CLUSTER orders;\n",
    ],
)
def test_a_table_rewrite_under_access_exclusive_is_a_warning(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sql: str,
) -> None:
    name = "schema/0002_rewrite.sql"
    code, out = _lint(write_tree, monkeypatch, capsys, {name: sql})
    assert code == 0, out
    assert [c for _, c in _codes(out, name)] == ["MG791"]
    assert "MG791 warning: " in out
    assert "rewrites the whole table under an ACCESS EXCLUSIVE lock" in out


@pytest.mark.parametrize(
    "sql", ["VACUUM (FULL false) orders;", "VACUUM (FULL off, ANALYZE) orders;", "VACUUM orders;"]
)
def test_vacuum_that_is_not_full_rewrites_nothing(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sql: str,
) -> None:
    code, out = _lint(write_tree, monkeypatch, capsys, {"schema/0002_v.sql": NO_TX + LIMITS + sql})
    assert code == 0
    assert _codes(out, "schema/0002_v.sql") == []


def test_noqa_and_exclude_rules_silence_them(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "schema/0002_v.sql": LIMITS + "-- noqa: MG790 run by hand\nVACUUM orders;\nREINDEX "
        "TABLE CONCURRENTLY orders;\n",
        "schema/0003_c.sql": NO_TX + LIMITS + "CLUSTER orders; -- noqa: MG791 quiet hour\n",
    }
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    assert _codes(out, "schema/0002_v.sql") == [(5, "MG790")]  # the REINDEX: not waived
    assert _codes(out, "schema/0003_c.sql") == []
    code, out = _lint(write_tree, monkeypatch, capsys, files, "--exclude-rules", "MG790")
    assert code == 0
    assert "MG790" not in out


def test_a_file_postgresql_cannot_parse_is_squawks_syntax_error_only(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = LIMITS + "VACUUM orders;\nCREAT TABLE x (id int);\n"
    code, out = _lint(write_tree, monkeypatch, capsys, {"schema/0002_x.sql": sql})
    assert code == 1
    assert "Traceback" not in out
    assert [c for _, c in _codes(out, "schema/0002_x.sql")] == ["MG700"]


def test_a_batch_files_batch_size_is_no_syntax_error_and_its_real_errors_still_are(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # squawk parses with PostgreSQL's parser, which knows no :batch_size: it reads the number
    batch = (
        "-- @batch 500\n" + LIMITS + "UPDATE orders SET account_id = 0\n"
        " WHERE id IN (SELECT id FROM orders WHERE account_id IS NULL LIMIT :batch_size);\n"
    )
    code, out = _lint(write_tree, monkeypatch, capsys, {"data/0002_fill.sql": batch})
    assert code == 0, out
    broken = batch.replace("LIMIT :batch_size", "LIMT :batch_size")
    code, out = _lint(write_tree, monkeypatch, capsys, {"data/0002_fill.sql": broken})
    assert code == 1
    assert _codes(out, "data/0002_fill.sql") == [(5, "MG700")]


def test_when_squawk_warns_of_the_rewrite_ours_is_not_repeated(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # squawk's prefer-repack (MG739) fires when it is told the server has REPACK (19+)
    root = write_tree({".squawk.toml": 'pg_version = "19.0"\n'})
    monkeypatch.chdir(root)
    sql = NO_TX + LIMITS + "VACUUM FULL orders;\n"
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0002_v.sql": sql})
    assert [c for _, c in _codes(out, "schema/0002_v.sql")] == ["MG739"]


@pytest.mark.parametrize("sql", ["VACUUM FULL orders;", "CLUSTER;"])
def test_lint_and_the_runner_agree_on_the_real_server(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pg_database_url: str,
    sql: str,
) -> None:
    files = {"schema/0001_t.sql": TABLE, "schema/0002_x.sql": LIMITS + sql + "\n"}
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    assert (3, "MG790") in _codes(out, "schema/0002_x.sql")
    assert migrate.main(["--database-url", pg_database_url]) == 1
    refused = capsys.readouterr().err
    assert f"schema/0002_x.sql:3: {NEEDS_NO_TRANSACTION[sql]} cannot run inside" in refused
    files["schema/0002_x.sql"] = NO_TX + files["schema/0002_x.sql"]
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    assert "MG790" not in out
    assert migrate.main(["--database-url", pg_database_url]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("sql", "start"),
    [
        ("DISCARD ALL;", "DISCARD ALL is refused"),
        ("SELECT pg_advisory_unlock_all();", "pg_advisory_unlock_all() is refused"),
        ("COPY orders FROM '/etc/passwd';", "COPY is refused"),
        ("ALTER SYSTEM SET work_mem = '1GB';", "ALTER SYSTEM is refused"),
        ("UPDATE schema_version SET version = 7;", ""),
        ("CREATE TABLE evil () INHERITS (schema_version);", ""),
    ],
)
def test_what_the_runner_refuses_in_every_run_fails_lint_first(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sql: str,
    start: str,
) -> None:
    """Lint asks the runner's gatekeeper rules, so a statement refused at deploy (a hostile
    pass found DISCARD ALL and the advisory unlocks releasing the runner's lock) fails lint."""
    for folder in ("schema", "rollback"):
        name = f"{folder}/0002_{'x' if folder == 'schema' else 'rollback'}.sql"
        code, out = _lint(write_tree, monkeypatch, capsys, {name: LIMITS + sql + "\n"})
        assert code == 1, out
        found = [line for line in out.splitlines() if f"{name}:3: MG792" in line]
        assert len(found) == 1, out
        assert start in found[0]


def test_alter_database_is_left_to_the_deploy_that_knows_the_database(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = LIMITS + "ALTER DATABASE app SET work_mem = '64MB';\n"
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0002_x.sql": sql})
    assert "MG792" not in out
