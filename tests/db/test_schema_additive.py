"""ci.db.schema_additive: which files can only add to the schema (the schema watch skips them
without --explain), and that skipping them changes no verdict of apply_empty: a later migration
is still compared with the schema those files left, read before it runs.

Real files and real SQLite databases through `apply_empty`; no mocks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.checks.apply_empty import apply_empty
from ci.checks.db_options import Options
from ci.core.model import SqlFile
from ci.db.connection import GatedConnection
from ci.db.schema_additive import additive, altered_tables
from tests.conftest import MIGRATIONS, WriteTree, tree

ADDITIVE = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE);",
    "CREATE TABLE IF NOT EXISTS t (id);",
    "create temp table scratch (x);",
    "CREATE VIEW v AS SELECT 1;",
    "CREATE INDEX IF NOT EXISTS t_name ON t (name);",
    "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN SELECT 1; END;",
    "ALTER TABLE t ADD COLUMN note TEXT;",
    "ALTER TABLE main.t ADD note;",
    'ALTER TABLE "my t" ADD COLUMN "the note" VARCHAR(10) DEFAULT \'n/a; not null\';',
    "ALTER TABLE t ADD COLUMN amount NUMERIC(10, 2) DEFAULT -1.5;",
    "ALTER TABLE t /* why */ ADD COLUMN flag INTEGER DEFAULT NULL; -- a comment",
    "INSERT INTO t (id) VALUES (1);",
    "UPDATE t SET name = 'DROP TABLE t';",
)
WATCHED = (
    "CREATE UNIQUE INDEX t_name ON t (name);",
    "CREATE VIRTUAL TABLE docs USING fts5(body);",
    "DROP TABLE t;",
    "DROP INDEX t_name;",
    "ALTER TABLE t RENAME TO u;",
    "ALTER TABLE t RENAME COLUMN a TO b;",
    "ALTER TABLE t DROP COLUMN note;",
    "ALTER TABLE t ADD COLUMN note TEXT NOT NULL DEFAULT '';",
    "ALTER TABLE t ADD COLUMN parent INTEGER REFERENCES t (id);",
    "ALTER TABLE t ADD COLUMN n INTEGER CHECK (n > 0);",
    "ALTER TABLE t ADD COLUMN n TEXT COLLATE NOCASE;",
    "ALTER TABLE t ADD COLUMN n INTEGER GENERATED ALWAYS AS (id + 1);",
    "ALTER TABLE t ADD COLUMN at TEXT DEFAULT CURRENT_TIMESTAMP;",
    "PRAGMA writable_schema = ON;",
    "PRAGMA foreign_keys = OFF;",
)


def sql_file(tmp_path: Path, sql: str) -> SqlFile:
    path = tmp_path / "0001_x.sql"
    path.write_text(sql, encoding="utf-8")
    return SqlFile(path)


@pytest.mark.parametrize("sql", ADDITIVE)
def test_a_statement_that_only_adds(tmp_path: Path, sql: str) -> None:
    assert additive(sql_file(tmp_path, f"CREATE TABLE a (x);\n{sql}\n"))


@pytest.mark.parametrize("sql", WATCHED)
def test_a_statement_that_may_change_or_remove_is_watched(tmp_path: Path, sql: str) -> None:
    assert not additive(sql_file(tmp_path, f"CREATE TABLE a (x);\n{sql}\n"))


def test_the_tables_an_additive_file_alters(tmp_path: Path) -> None:
    sql = 'ALTER TABLE T ADD x;\nALTER TABLE "My T" ADD COLUMN y TEXT;\nCREATE TABLE u (z);\n'
    assert altered_tables(sql_file(tmp_path, sql)) == {"t", "my t"}


def findings(write_tree: WriteTree, files: dict[str, str]) -> list[tuple[str, str, int | None]]:
    options = Options(None, None, None, write_snapshot=False, warn_slow=0.0)
    report = apply_empty(write_tree(tree(files)) / MIGRATIONS, options)
    return [
        (Path(f.path).name, f.code, f.line)
        for c in report.cases
        for f in c.findings
        if f.code.startswith("MG6")
    ]


def test_a_column_an_additive_file_added_is_seen_dropped_later(write_tree: WriteTree) -> None:
    """The watch read t after 0002 and did not follow 0003, so it reads the table 0003 altered
    again before 0004 runs: its row is below the rows added since, and without that the column
    would be missing from the schema before 0004 as well."""
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, CHECK (id > 0));\n",
        "schema/0002_key.sql": "CREATE UNIQUE INDEX t_id ON t (id);\n",
        "schema/0003_add.sql": "ALTER TABLE t ADD COLUMN notes TEXT;\nCREATE TABLE u (x);\n",
        "schema/0004_drop.sql": "CREATE INDEX u_x ON u (x);\nALTER TABLE t DROP COLUMN notes;\n",
    }
    found = findings(write_tree, files)
    assert found == [("0002_key.sql", "MG606", 1), ("0004_drop.sql", "MG602", 2)]


def test_tables_additive_files_created_are_seen_dropped_later(write_tree: WriteTree) -> None:
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY);\n",
        "schema/0002_u.sql": "CREATE TABLE u (id INTEGER PRIMARY KEY);\n",
        "data/0003_rows.sql": "INSERT INTO u (id) VALUES (1);\n",
        "schema/0004_drop.sql": "DROP TABLE t;\nDROP TABLE u;\n",
    }
    found = findings(write_tree, files)
    assert found == [("0004_drop.sql", "MG601", 1), ("0004_drop.sql", "MG601", 2)]


def test_sqlite_master_is_not_read_after_an_additive_file(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only before the one file that may change what is there (0003), not after 0001-0002."""
    reads: list[str] = []
    execute = GatedConnection.execute

    def recording(conn: GatedConnection, sql: str, *args: object) -> object:
        if "FROM sqlite_master WHERE rowid" in sql:
            reads.append(sql)
        return execute(conn, sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GatedConnection, "execute", recording)
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\n",
        "schema/0002_i.sql": "CREATE INDEX t_name ON t (name);\nALTER TABLE t ADD n TEXT;\n",
        "schema/0003_u.sql": "CREATE UNIQUE INDEX t_n ON t (n);\n",
    }
    assert findings(write_tree, files) == [("0003_u.sql", "MG606", 1)]
    assert len(reads) == 2, reads  # before 0003 (what 0001-0002 left) and after it
