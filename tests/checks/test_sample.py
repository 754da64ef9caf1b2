"""ci.checks.sample: what apply_sample and rollback_roundtrip call to get their sample data into
a private database: `open_sample` (every problem one line, before any work) and `prepare` (a
fixture after the migrations up to its version, or a copy of a database file).

Real SQLite files; the user's sample is never written (its bytes are compared).
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from ci.checks.sample import Prepared, Sample, open_sample, prepare
from ci.checks.validate import Options
from ci.core.errors import UsageError
from ci.core.model import Catalog, discover
from tests.conftest import MIGRATIONS, WriteTree, make_db, tree

TWO = {
    "schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);\n",
    "schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER PRIMARY KEY, hr INTEGER);\n",
    "rollback/0001_rollback.sql": "DROP TABLE patients;\n",
    "rollback/0002_rollback.sql": "DROP TABLE vitals;\n",
}
FIXTURE = "-- @sample-version 1\nINSERT INTO patients VALUES (1, 'M1'), (2, 'M2');\n"
OPTIONS = Options(setup=None, invariants=None, snapshot=None, write_snapshot=False, warn_slow=300)


def catalog(write_tree: WriteTree) -> Catalog:
    return discover(write_tree(tree(TWO)) / MIGRATIONS)


def prepared(sample: Path, db: Path, migrations: Catalog) -> Prepared:
    return prepare("apply_sample", open_sample(sample), db, migrations, OPTIONS)


def rows(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(sql)]


def test_a_fixture_is_read_with_its_version(tmp_path: Path) -> None:
    path = tmp_path / "sample.sql"
    path.write_text("\n-- @sample-version  12 \nINSERT INTO t VALUES (1);\n")
    sample = open_sample(path)
    assert sample == Sample(path, 12) and sample.is_fixture


def test_a_database_file_is_a_sample_without_version(tmp_path: Path) -> None:
    for name in ("prod.db", "prod.SQLITE", "prod.sqlite3"):
        path = make_db(tmp_path / name, "CREATE TABLE t (x);")
        sample = open_sample(path)
        assert sample == Sample(path) and not sample.is_fixture


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("sample.csv", "a,b\n", "a sample is a .sql fixture or a .db/.sqlite database"),
        ("sample.sql", "", "the sample fixture is empty (0 bytes)"),
        ("sample.db", "", "the sample database is empty (0 bytes)"),
        ("sample.db", "not a database, just text\n", "not a SQLite database"),
        ("sample.sql", "INSERT INTO t VALUES (1);\n", ":1: a sample fixture starts with"),
        ("sample.sql", "-- @sample-version x\n", ":1: a sample fixture starts with"),
    ],
)
def test_a_sample_that_cannot_be_used_is_one_line(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError, match=re.escape(message)) as refused:
        open_sample(path)
    assert str(refused.value).startswith(str(path)) and "\n" not in str(refused.value)


def test_what_is_not_a_regular_file_is_never_opened(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="sample not found"):
        open_sample(tmp_path / "missing.sql")
    (tmp_path / "dir.sql").mkdir()
    with pytest.raises(UsageError, match="the sample is a directory"):
        open_sample(tmp_path / "dir.sql")
    os.mkfifo(tmp_path / "fifo.sql")
    with pytest.raises(UsageError, match=r"the sample is .*FIFO"):
        open_sample(tmp_path / "fifo.sql")  # reading it would block forever
    (tmp_path / "dangling.sql").symlink_to(tmp_path / "gone.sql")
    with pytest.raises(UsageError, match=r"a broken symbolic link \(to .*gone\.sql"):
        open_sample(tmp_path / "dangling.sql")


def test_a_fixture_is_loaded_after_the_migrations_up_to_its_version(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    migrations = catalog(write_tree)
    (tmp_path / "sample.sql").write_text(FIXTURE)
    ready = prepared(tmp_path / "sample.sql", tmp_path / "check.db", migrations)
    try:
        assert [(c.name, c.outcome) for c in ready.cases] == [
            ("0001 schema/0001_patients.sql", "passed"),
            (f"sample {tmp_path / 'sample.sql'}", "passed"),
        ]
        assert not ready.failed
        assert rows(ready.conn, "SELECT mrn FROM patients ORDER BY id") == [("M1",), ("M2",)]
        assert [m.label for m in ready.run.pending()] == ["0002"]
    finally:
        ready.conn.close()


def test_a_fixture_that_does_not_load_names_its_line_and_leaves_no_rows(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    migrations = catalog(write_tree)
    fixture = FIXTURE + "\nINSERT INTO patients (nope) VALUES (3);\n"
    (tmp_path / "sample.sql").write_text(fixture)
    ready = prepared(tmp_path / "sample.sql", tmp_path / "check.db", migrations)
    try:
        assert ready.failed
        (finding,) = ready.cases[-1].findings
        assert (finding.code, finding.line) == ("MG309", 4)
        assert finding.message.startswith("the sample fixture does not load at version 0001: ")
        assert "nope" in finding.message
        assert rows(ready.conn, "SELECT count(*) FROM patients") == [(0,)]  # one transaction
    finally:
        ready.conn.close()


def test_a_failing_setup_migration_skips_the_rest_and_the_fixture(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    migrations = discover(
        write_tree(tree({**TWO, "schema/0001_patients.sql": "CREATE TABLE patients (;\n"}))
        / MIGRATIONS
    )
    (tmp_path / "sample.sql").write_text(FIXTURE.replace("version 1", "version 2"))
    ready = prepared(tmp_path / "sample.sql", tmp_path / "check.db", migrations)
    try:
        assert [(c.name, c.outcome) for c in ready.cases] == [
            ("0001 schema/0001_patients.sql", "failed"),
            ("0002 schema/0002_vitals.sql", "skipped"),
        ]
        assert ready.cases[1].skipped == "not run: 0001 failed"
    finally:
        ready.conn.close()


def test_a_fixture_for_a_version_past_the_last_migration_is_refused(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    migrations = catalog(write_tree)
    (tmp_path / "sample.sql").write_text(FIXTURE.replace("version 1", "version 3"))
    with pytest.raises(
        UsageError, match=r":1: @sample-version 3 but the highest migration is 0002"
    ):
        prepared(tmp_path / "sample.sql", tmp_path / "check.db", migrations)


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_database_sample_is_copied_and_the_original_left_alone(
    write_tree: WriteTree, tmp_path: Path, journal: str
) -> None:
    migrations = catalog(write_tree)
    user = tmp_path / "user"
    user.mkdir()
    original = make_db(
        user / "prod.db",
        f"PRAGMA journal_mode = {journal};\n"
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);\n"
        "INSERT INTO patients VALUES (7, 'M7');\n",
    )
    before, files = original.read_bytes(), sorted(p.name for p in user.iterdir())
    ready = prepared(original, tmp_path / "check.db", migrations)
    try:
        assert ready.cases == []  # nothing applied yet: the copy is where the user's database is
        assert rows(ready.conn, "SELECT id, mrn FROM patients") == [(7, "M7")]
        ready.conn.execute("DELETE FROM patients")  # the copy is the check's own
    finally:
        ready.conn.close()
    assert original.read_bytes() == before
    assert sorted(p.name for p in user.iterdir()) == files  # no -wal/-shm/-journal created
