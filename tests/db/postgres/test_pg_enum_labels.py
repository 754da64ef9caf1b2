"""A migration that adds an enum label (ci.db.postgres.enum_labels): no statement may use the
label before the transaction that added it commits (55P04). The plain run commits after each
migration, so a later one may use it; `--group` ends its group after the migration that adds
it and `--dry-run` stops rehearsing there, so all three give the same verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.db.postgres.pgrun import applied, migrate, rows, write

pytestmark = pytest.mark.postgresql

BASE = "CREATE TYPE mood AS ENUM ('sad', 'ok');\nCREATE TABLE t (m mood);\n"
ADDS = {
    "statement": "ALTER TYPE mood ADD VALUE 'happy';\n",
    "DO block": "DO $$ BEGIN ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy' AFTER 'ok'; END $$;\n",
    "escaped DO block": "DO E'BEGIN ALTER TYPE mood \\x41DD VALUE ''happy''; END';\n",
}
USE = "INSERT INTO t VALUES ('happy');\n"


def labels(tmp_path: Path, adds: str) -> Path:
    return write(tmp_path, {
        "schema/0001_type.sql": BASE,
        "schema/0002_add_label.sql": adds,
        "schema/0003_use_label.sql": USE,
        "schema/0004_more.sql": "CREATE TABLE t4 (x int);\n",
    })  # fmt: skip


@pytest.mark.parametrize("adds", ADDS.values(), ids=ADDS.keys())
def test_a_later_migration_may_use_a_new_label_in_every_kind_of_run(
    tmp_path: Path, pg_database_url: str, capsys: Any, adds: str
) -> None:
    migrations = labels(tmp_path, adds)
    code, out, err = migrate(capsys, pg_database_url, migrations, "--dry-run")
    assert code == 0, out + err
    assert "would apply 0002" in out
    assert (
        f"not rehearsed 0003 schema {migrations}/schema/0003_use_label.sql: after 0002, which "
        "adds an enum label (ALTER TYPE ... ADD VALUE)" in out
    )
    assert f"not rehearsed 0004 schema {migrations}/schema/0004_more.sql: after 0002" in out
    assert "dry run: 2 would succeed, 2 not rehearsed; nothing was changed" in out
    assert rows(pg_database_url, "SELECT to_regtype('mood')") == [(None,)]
    code, out, err = migrate(capsys, pg_database_url, migrations, "--group")
    assert code == 0, out + err
    assert "group of 2 migrations (0001..0002) committed" in out
    assert "group of 2 migrations (0003..0004) committed" in out
    assert rows(pg_database_url, "SELECT m::text FROM t") == [("happy",)]


def test_the_plain_run_agrees_with_the_dry_run(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = labels(tmp_path, ADDS["statement"])
    code, out, err = migrate(capsys, pg_database_url, migrations)
    assert code == 0, out + err
    assert len(applied(pg_database_url)) == 4


def test_renaming_a_label_does_not_end_the_group(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_type.sql": BASE,
        "schema/0002_rename.sql": "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';\n",
        # a function that adds a label adds it only when called
        "schema/0003_function.sql": (
            "CREATE FUNCTION grow() RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
            "ALTER TYPE mood ADD VALUE 'later'; END $$;\n"
        ),
        "schema/0004_use.sql": "INSERT INTO t VALUES ('fine');\n",
    })  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, "--group")
    assert code == 0, out + err
    assert "group of 4 migrations (0001..0004) committed" in out


@pytest.mark.parametrize("how", [[], ["--group"], ["--dry-run"]])
def test_a_use_in_the_transaction_that_added_the_label_says_what_to_do(
    tmp_path: Path, pg_database_url: str, capsys: Any, how: list[str]
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_type.sql": BASE,
        "schema/0002_add_and_use.sql": ADDS["statement"] + USE,
    })  # fmt: skip
    code, out, err = migrate(capsys, pg_database_url, migrations, *how)
    assert code == 1
    said = f"{migrations}/schema/0002_add_and_use.sql:2: unsafe use of new value"
    assert said in out + err
    assert "use it in a later migration" in out + err


def test_a_label_added_by_dynamic_sql_is_not_seen_and_the_failure_says_so(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {
        "schema/0001_type.sql": BASE,
        "schema/0002_dynamic.sql": (
            "DO $$ BEGIN EXECUTE 'ALTER TYPE mood ADD VALUE ''happy'''; END $$;\n"
        ),
        "schema/0003_use_label.sql": USE,
    })  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations, "--group")
    assert code == 1
    assert "not after one added by EXECUTE or by a function it calls" in err
    assert applied(pg_database_url) == []
