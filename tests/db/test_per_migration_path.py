"""The per-migration path asks the database only what can have changed, and still misses nothing.

- Whether a trigger names the runner's tables is looked for once, and again only when another
  connection has committed (PRAGMA data_version) or the last look found one: a trigger added by
  another process between two migrations of one run is still seen, and the row it would delete
  fails the migration.
- A migration's row is read back after the INSERT only while such a trigger exists.
- The temporary objects are listed once per connection (a --setup's stay), then only after a
  migration SQLite reported creating one in (any spelling, or none: a trigger on a temp table).
- A statement is screened when it names the runner's tables in any case, as a case-blind search
  finds them (ASCII text takes a cheaper way to the same answer).
- The runner's own rows: NotWritten and SQLite's refusal fail the migration; an error about the
  database file, or an interrupt, propagates unchanged.

Real SQLite files, the real Runner; SQLite's trace callback counts the runner's own queries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.core.model import SqlFile
from ci.db.bookkeeping import NotWritten
from ci.db.gate_bookkeeping import BOOKKEEPING_NAME, names_bookkeeping
from ci.db.gate_rules import _SCHEMA_TABLE, names_schema_table, needs_screening
from ci.db.outcomes import Outcome
from ci.db.runner import MigrationFailed, connect
from ci.db.session import Session
from tests.conftest import make_runner, query, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

ACCOUNTS = {
    "schema/0001_acct.sql": "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);\n"
    "INSERT INTO acct VALUES (1, 0);\n",
    "data/0002_bonus.sql": "UPDATE acct SET bal = bal + 100;\n",
    "schema/0003_audit.sql": "CREATE TABLE audit (n INTEGER);\n",
    "data/0004_bonus.sql": "UPDATE acct SET bal = bal + 100;\n",
    "schema/0005_note.sql": "ALTER TABLE acct ADD COLUMN note TEXT;\n",
}
# an AFTER trigger: the INSERT reports one row, then the row is gone (only a read-back sees it)
VANISH = (
    "CREATE TRIGGER vanish AFTER INSERT ON schema_version WHEN NEW.version >= 3 "
    "BEGIN DELETE FROM schema_version WHERE version = NEW.version; END"
)
# what the runner's own queries say, and no other query
LOOKS_FOR_TRIGGERS = "type = 'trigger' AND sql LIKE '%schema_version%'"
READS_BACK = "AND migration_type IS"
LISTS_TEMP_OBJECTS = "FROM sqlite_temp_master WHERE type IN"


def counted(conn: sqlite3.Connection) -> list[str]:
    """Every statement the connection runs from now on, as SQLite traces it."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return seen


def times(seen: list[str], fragment: str) -> int:
    return sum(1 for sql in seen if fragment in sql)


def test_the_schema_is_searched_for_bookkeeping_triggers_once_per_run(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    runner, _ = make_runner(write_tree(tree(ACCOUNTS)), tmp_path / "app.db")
    seen = counted(runner.conn)
    outcomes = runner.migrate()
    assert [o.action for o in outcomes] == ["applied"] * 5
    assert times(seen, LOOKS_FOR_TRIGGERS) == 1
    assert times(seen, READS_BACK) == 0  # no trigger: the INSERT's row count says it all
    assert times(seen, LISTS_TEMP_OBJECTS) == 1  # the ones to keep; no file made one
    assert query(tmp_path / "app.db", "SELECT count(*) FROM schema_version") == [(5,)]


def test_a_trigger_another_process_adds_during_the_run_is_seen(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(ACCOUNTS)), db)
    seen = counted(runner.conn)

    def add_trigger(outcome: Outcome) -> None:
        if outcome.migration.version == 2:  # between two migrations of one run
            other = sqlite3.connect(db)
            other.execute(VANISH)
            other.commit()
            other.close()

    with pytest.raises(MigrationFailed, match="a trigger on schema_version \\(vanish\\)"):
        runner.migrate(on_outcome=add_trigger)
    assert times(seen, LOOKS_FOR_TRIGGERS) == 2  # looked again after the other commit
    assert query(db, "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,)]
    # migration 3 was rolled back with its vanished row: it is not applied without a record
    assert query(db, "SELECT count(*) FROM sqlite_master WHERE name = 'audit'") == [(0,)]


def test_a_trigger_found_once_is_looked_for_again_in_every_migration(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(ACCOUNTS)), db)
    runner.ensure_bookkeeping()
    runner.conn.execute("CREATE TEMP TRIGGER watch AFTER DELETE ON main.schema_version "
                        "BEGIN SELECT 1; END")  # fmt: skip
    seen = counted(runner.conn)
    assert [o.action for o in runner.migrate()] == ["applied"] * 5
    assert times(seen, LOOKS_FOR_TRIGGERS) == 5
    assert times(seen, READS_BACK) == 5  # a trigger names the runner's table: every row read back


@pytest.mark.parametrize(
    "spelling",
    [
        "CREATE TEMP TABLE acct AS SELECT * FROM main.acct;",
        "create temporary table acct as select * from main.acct;",
        'CREATE TABLE "tEmP".acct AS SELECT * FROM main.acct;',
        "CREATE TABLE [Temp].acct AS SELECT * FROM main.acct;",
        "CREATE TABLE `TEMP`.acct AS SELECT * FROM main.acct;",
    ],
)
def test_a_temporary_table_in_any_spelling_ends_with_its_migration(
    write_tree: WriteTree, tmp_path: Path, spelling: str
) -> None:
    files = ACCOUNTS | {"data/0002_bonus.sql": spelling + "\n"}
    db = tmp_path / "app.db"
    runner, _ = make_runner(write_tree(tree(files)), db)
    assert [o.action for o in runner.migrate()] == ["applied"] * 5
    # the shadow copy was dropped: migration 4's UPDATE changed the real table
    assert runner.conn.execute("SELECT bal FROM acct").fetchall() == [(100,)]
    assert runner.conn.execute("SELECT count(*) FROM sqlite_temp_master").fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("error", "becomes"),
    [
        (NotWritten("the runner's schema_version row was not written: x"), "was not written: x"),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), "could not write its own bookkeeping"),
        (sqlite3.OperationalError("database is locked"), None),  # about the file: unchanged
        (KeyboardInterrupt(), None),
    ],
)
def test_the_runners_own_rows_fail_the_migration_and_nothing_else(
    tmp_path: Path, error: BaseException, becomes: str | None
) -> None:
    db = tmp_path / "app.db"
    sqlite3.connect(db).close()
    file = SqlFile(tmp_path / "0001_a.sql")
    session = Session(connect(db))
    expected = MigrationFailed if becomes else type(error)
    with pytest.raises(expected) as raised, session.own_rows(file):
        raise error
    if becomes:
        assert becomes in str(raised.value) and str(file.path) in str(raised.value)
    else:
        assert raised.value is error


@pytest.mark.parametrize(
    "raw",
    [
        "DELETE FROM schema_version;",
        "DELETE FROM Schema_Version_Log;",
        'CREATE TRIGGER t AFTER INSERT ON acct BEGIN DELETE FROM "SCHEMA_VERSION"; END;',
        "UPDATE acct SET note = 'schema_versions';",
        "UPDATE acct SET note = 'schema version';",
        "DELETE FROM \u017fchema_version;",  # long s: the case-blind search matches it
        "DELETE FROM schema_vers\u0130on;",  # dotted capital I
        "DELETE FROM schema_vers\u0131on;",  # dotless i
        "UPDATE acct SET note = 'é' WHERE id = 1;",
    ],
)
def test_the_bookkeeping_name_is_found_as_the_case_blind_search_finds_it(raw: str) -> None:
    # ASCII statements take a shortcut; it must answer as the regex does for every statement
    assert names_bookkeeping(raw) == (BOOKKEEPING_NAME.search(raw) is not None)
    assert needs_screening("UPDATE", raw) or not names_bookkeeping(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "DELETE FROM sqlite_sequence;",
        "UPDATE SQLITE_MASTER SET sql = '';",
        'INSERT INTO "Sqlite_Stat1" VALUES (1);',
        "UPDATE acct SET note = 'sqlite';",
        "DELETE FROM \u017fqlite_sequence;",  # long s: the case-blind search matches it
        "DELETE FROM sql\u0131te_sequence;",  # dotless i
        "DELETE FROM sql\u0130te_sequence;",  # dotted capital I
        "UPDATE acct SET note = '\u00e9' WHERE id = 1;",
    ],
)
def test_the_schema_table_is_found_as_the_case_blind_search_finds_it(raw: str) -> None:
    found = _SCHEMA_TABLE.search(raw) is not None
    assert names_schema_table(raw) == found
    assert needs_screening("DELETE", raw) == (found or names_bookkeeping(raw))
