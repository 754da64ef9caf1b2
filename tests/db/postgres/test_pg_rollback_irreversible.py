"""`ci.migrate --database-url ... --rollback` past an @irreversible migration: the refusal names
the way back (a server's backups are not ours to find), and a rollback file that contradicts
@irreversible is refused before anything changes, as on SQLite (tests/db/test_rollback_wording)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.db.postgres.pgrun import applied, migrate, write

pytestmark = pytest.mark.postgresql

TWO = {
    "schema/0001_a.sql": "CREATE TABLE a (id int);\n",
    "rollback/0001_rollback.sql": "DROP TABLE a;\n",
    "schema/0002_b.sql": "-- @irreversible drops data\nCREATE TABLE b (id int);\n",
}


def test_the_way_back_past_an_irreversible_migration(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, TWO)
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    code, _, err = migrate(capsys, pg_database_url, migrations, "--rollback", "1")
    assert code == 1
    assert err.splitlines()[-1] == (
        "migrate: the way back past 0002: write a new migration that undoes what you need (or "
        "restore a backup taken before it)"
    )
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema")]


def test_a_rollback_file_contradicting_irreversible_is_refused(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {**TWO, "rollback/0002_rollback.sql": "DROP TABLE b;\n"})
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    code, _, err = migrate(capsys, pg_database_url, migrations, "--rollback", "2")
    assert code == 2
    assert err.splitlines() == [
        f"migrate: {migrations}/schema/0002_b.sql: 0002 declares @irreversible (drops data), "
        f"yet {migrations}/rollback/0002_rollback.sql exists to undo it; --rollback 0002 is "
        "refused until one of them goes (delete the rollback file if it cannot be undone, else "
        "the @irreversible line)"
    ]
    assert applied(pg_database_url) == [(1, "schema"), (2, "schema")]
