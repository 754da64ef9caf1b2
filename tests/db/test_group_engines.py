"""`ci.migrate --group` and `--dry-run`, the same scenarios on both engines: a real SQLite file
and a database on the real PostgreSQL server, the same migrations (written in SQL both accept),
the same command, the same lines and log rows. What only one engine has is in its own module
(tests/db/test_group.py, tests/db/test_dry_run.py; tests/db/postgres/test_pg_group.py).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.migrate import main
from tests.checks.engines import ENGINES
from tests.db.postgres import pgrun


class Db:
    """One database of either engine: how ci.migrate names it, and what it holds."""

    def __init__(self, engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.engine = engine
        if engine == "postgresql":
            self.url = str(request.getfixturevalue("pg_database_url"))
            self.args = ["--database-url", self.url]
        else:
            self.path = tmp_path / "app.db"
            self.args = ["--db", str(self.path), "--no-backup"]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "postgresql":
            return pgrun.rows(self.url, sql)
        if not self.path.exists():
            return []
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def execute(self, script: str) -> None:
        """Statements run by hand (several, `;`-separated), outside the runner."""
        if self.engine == "postgresql":
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(script.encode())
            return
        with closing(sqlite3.connect(self.path)) as conn:
            conn.executescript(script)

    def schema(self) -> str:
        """Every object and the runner's own rows (not the attempt log, which only grows)."""
        if self.engine == "postgresql":
            return pgrun.schema_dump(self.url) + repr(self.versions())
        if not self.path.exists():
            return ""
        conn = sqlite3.connect(self.path)
        try:
            return "\n".join(line for line in conn.iterdump() if "schema_version_log" not in line)
        finally:
            conn.close()

    def versions(self) -> list[tuple[Any, ...]]:
        exists = (
            "SELECT to_regclass('schema_version') IS NOT NULL"
            if self.engine == "postgresql"
            else "SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'"
        )
        if not self.rows(exists) or not self.rows(exists)[0][0]:
            return []
        return self.rows("SELECT migration_type, version FROM schema_version ORDER BY 2, 1")

    def log(self) -> list[tuple[Any, ...]]:
        return self.rows("SELECT action, version, description, error FROM schema_version_log "
                         "ORDER BY id")  # fmt: skip


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return Db(str(request.param), request, tmp_path)


def migrate(capsys: Any, db: Db, migrations: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*db.args, "--migrations-dir", str(migrations), *extra])
    said = capsys.readouterr()
    return code, said.out, said.err


SEVEN = {f"schema/{n:04d}_t{n}.sql": f"CREATE TABLE t{n} (x integer);\n" for n in range(1, 8)}
FAILS_AT_2 = "CREATE TABLE t4 (x integer);\nINSERT INTO nowhere VALUES (1);\n"
MEMBERS = "0002_t2.sql, 0003_t3.sql, 0004_t4.sql, 0005_t5.sql, 0006_t6.sql, 0007_t7.sql"


def test_a_group_whose_third_migration_fails_leaves_the_database_as_it_was(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    migrations = pgrun.write(tmp_path, {**SEVEN, "schema/0004_t4.sql": FAILS_AT_2})
    assert migrate(capsys, db, migrations, "--target", "1")[0] == 0
    before = db.schema()
    code, out, err = migrate(capsys, db, migrations, "--group")
    assert code == 1
    assert db.schema() == before  # 0002 and 0003 ran and were rolled back with 0004
    assert f"{migrations}/schema/0004_t4.sql:2: " in err
    assert "applied 0002" not in out  # outcomes are printed only once committed
    failed_line = f"FAILED: group rolled back: 0002..0007 ({MEMBERS}) not applied (0004_t4.sql "
    assert failed_line + "failed)" in out
    failed, group = db.log()[-2:]
    assert failed[:2] == ("failed", 4) and f"{migrations}/schema/0004_t4.sql:2: " in failed[3]
    assert group[:3] == ("group rolled back", 2, "group 0002..0007")
    assert group[3].startswith(f"6 migrations not applied ({MEMBERS}); failed: {migrations}/")
    assert [row[0] for row in db.log()].count("apply") == 1  # 0001's, from the first run
    # fixed, the next grouped run applies the whole group and says so after its commit
    (migrations / "schema/0004_t4.sql").write_text("CREATE TABLE t4 (x integer);\n")
    code, out, _ = migrate(capsys, db, migrations, "--group")
    assert code == 0
    assert out.index("applied 0007") < out.index("group of 6 migrations (0002..0007) committed")
    assert db.versions() == [("schema", n) for n in range(1, 8)]


def test_a_no_transaction_migration_splits_the_group_and_seeds_are_a_group_of_their_own(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    files = {
        **SEVEN,
        "schema/0004_t4.sql": "-- @no-transaction\nCREATE TABLE t4 (x integer);\n",
        "seed/0001_a.sql": "INSERT INTO t1 VALUES (1);\n",
        "seed/0002_b.sql": "INSERT INTO t2 VALUES (2);\n",
    }
    migrations = pgrun.write(tmp_path, files)
    code, out, _ = migrate(capsys, db, migrations, "--group")
    assert code == 0, out
    groups = [line.split(" committed")[0] for line in out.splitlines() if "committed in" in line]
    assert groups == [
        "group of 3 migrations (0001..0003)",
        "group of 3 migrations (0005..0007)",
        "group of 2 migrations (seed-0001..seed-0002)",
    ]
    assert "applied 0004" in out
    assert len(db.versions()) == 9


def test_the_dry_run_fails_on_the_file_and_line_the_real_run_fails_on_and_changes_nothing(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    migrations = pgrun.write(tmp_path, {**SEVEN, "schema/0004_t4.sql": FAILS_AT_2})
    assert migrate(capsys, db, migrations, "--target", "1")[0] == 0
    before, log_before = db.schema(), db.log()
    code, out, _ = migrate(capsys, db, migrations, "--dry-run")
    assert code == 1
    assert db.schema() == before and db.log() == log_before
    assert "would apply 0003" in out
    assert f"would FAIL 0004: {migrations}/schema/0004_t4.sql:2: " in out
    summary = "dry run: 2 would succeed, 1 would fail; 3 not tried after it; nothing was changed"
    assert summary in out
    code, _, err = migrate(capsys, db, migrations)
    assert code == 1 and f"{migrations}/schema/0004_t4.sql:2: " in err


def test_a_dry_run_that_would_succeed_changes_nothing_not_even_the_runners_tables(
    db: Db, tmp_path: Path, capsys: Any
) -> None:
    migrations = pgrun.write(tmp_path, SEVEN)
    before = db.schema()
    code, out, _ = migrate(capsys, db, migrations, "--dry-run", "--group")
    assert code == 0
    assert "dry run: all 7 would succeed; nothing was changed" in out
    assert db.schema() == before
    assert db.versions() == []
