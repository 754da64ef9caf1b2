"""What a migration's SQL tells the server to say (RAISE NOTICE, a DROP ... IF EXISTS that finds
nothing) is shown by the runner, as psql shows it; a check's report does not carry it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.checks.pg_groups import check
from tests.db.postgres.pgrun import migrate, write

pytestmark = pytest.mark.postgresql

FILL = (
    "DO $$\nBEGIN\n  RAISE NOTICE 'backfilled % tickets', 42;\n"
    "  RAISE WARNING 'careful';\nEND $$;\n"
    "DROP TABLE IF EXISTS nosuch;\n"
)


def test_the_runner_shows_the_servers_notices(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {"schema/0001_t.sql": "CREATE TABLE t (x int);\n",
                                  "data/0002_fill.sql": FILL})  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 0, err
    fill = migrations / "data/0002_fill.sql"
    assert err.splitlines() == [  # each on the line it came from (in a DO block: the body's)
        f"{fill}:3: NOTICE: backfilled 42 tickets",
        f"{fill}:4: WARNING: careful",
        f'{fill}:6: NOTICE: table "nosuch" does not exist, skipping',
    ], err
    # the runner's own statements say nothing: a second run, nothing to apply, is silent
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert (code, err) == (0, ""), err


def test_a_check_keeps_them_out_of_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(tmp_path, {"schema/0001_t.sql": "CREATE TABLE t (x int);\n",
                                 "data/0002_fill.sql": FILL}, capsys)  # fmt: skip
    assert code == 0 and "backfilled" not in out, out
    assert "backfilled" not in capsys.readouterr().err


def test_detail_and_hint_are_shown_and_the_servers_chatter_is_not(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    migrations = write(tmp_path, {"schema/0001_t.sql": (
        "SET client_min_messages = debug5;\n"  # the runner's own statements would show
        "DO $$ BEGIN RAISE NOTICE 'moved %', chr(27) || '[31mred'\n"
        "  USING DETAIL = 'rows 1-9', HINT = 'nothing to do'; END $$;\n")})  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 0, err
    assert err.splitlines() == [
        f"{migrations}/schema/0001_t.sql:2: NOTICE: moved ?[31mred (detail: rows 1-9) "
        "(hint: nothing to do)"
    ], err


def test_the_runners_own_statements_say_nothing_when_it_mends_its_tables(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    """CREATE TABLE IF NOT EXISTS of the runner's table that is there (the other is missing)."""
    migrations = write(tmp_path, {"schema/0001_t.sql": "CREATE TABLE t (x int);\n"})
    assert migrate(capsys, pg_database_url, migrations)[0] == 0
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE schema_version_log")
    write(tmp_path, {"schema/0002_u.sql": "CREATE TABLE u (x int);\n"})
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert (code, err) == (0, ""), err
