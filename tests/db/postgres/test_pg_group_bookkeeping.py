"""`ci.migrate --group` and `--dry-run` on PostgreSQL never pass what the plain run refuses:
- a member that changes the runner's tables through dynamic SQL is refused, also when the row it
  changes was written by an earlier member of the same transaction (counting the rows the
  transaction wrote does not see an UPDATE of one of them, nor a DELETE and an INSERT in its
  place);
- putting the constraints that start deferred back to deferred between members (SET
  CONSTRAINTS acts on every constraint of a name in the schema) neither defers one of the same
  name that starts immediate nor fails on one that is NOT DEFERRABLE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.checks.pg_groups import REWRITES
from tests.db.postgres.pgrun import migrate, rows, write

pytestmark = pytest.mark.postgresql

REFUSED = "changed the runner's table schema_version: refused"
FIRST = "CREATE TABLE a (id int);\n"


def files(rewrite: str) -> dict[str, str]:
    body = f"DO $$ BEGIN\n{REWRITES[rewrite]}\nEND $$;\n"
    return {
        "schema/0001_a.sql": FIRST,
        "schema/0002_b.sql": "CREATE TABLE b (id int);\n",
        "schema/0003_rewrite.sql": body,
    }


@pytest.mark.parametrize("rewrite", sorted(REWRITES))
@pytest.mark.parametrize("how", [[], ["--group"], ["--dry-run"]])
def test_a_member_rewriting_an_earlier_members_row_is_refused_as_alone(
    tmp_path: Path, pg_database_url: str, capsys: Any, how: list[str], rewrite: str
) -> None:
    migrations = write(tmp_path, files(rewrite))
    code, out, err = migrate(capsys, pg_database_url, migrations, *how)
    assert code == 1, out + err
    assert f"{migrations}/schema/0003_rewrite.sql" in out + err, out + err
    assert REFUSED in out + err, out + err
    if how == ["--group"]:  # the whole group rolled back: nothing forged committed
        assert rows(pg_database_url, "SELECT version FROM schema_version") == []


def same_name_fk(car: str) -> dict[str, str]:
    """pet.fk_owner starts deferred; car.fk_owner, of the same name, as `car` says."""
    return {
        "schema/0001_a.sql": (
            "CREATE TABLE owner (id int PRIMARY KEY);\n"
            "CREATE TABLE pet (id int PRIMARY KEY, owner_id int, CONSTRAINT fk_owner\n"
            "  FOREIGN KEY (owner_id) REFERENCES owner DEFERRABLE INITIALLY DEFERRED);\n"
            "CREATE TABLE car (id int PRIMARY KEY, owner_id int, CONSTRAINT fk_owner\n"
            f"  FOREIGN KEY (owner_id) REFERENCES owner {car});\n"
        ),
        "schema/0002_b.sql": "INSERT INTO owner VALUES (1);\n",
        # its first statement violates car.fk_owner, its second mends it
        "schema/0003_c.sql": "INSERT INTO car VALUES (1, 2);\nINSERT INTO owner VALUES (2);\n",
    }


@pytest.mark.parametrize("how", [[], ["--group"], ["--dry-run"]])
def test_a_same_named_immediate_constraint_is_not_deferred_for_a_later_member(
    tmp_path: Path, pg_database_url: str, capsys: Any, how: list[str]
) -> None:
    migrations = write(tmp_path, same_name_fk("DEFERRABLE INITIALLY IMMEDIATE"))
    code, out, err = migrate(capsys, pg_database_url, migrations, *how)
    assert code == 1, out + err
    assert f"{migrations}/schema/0003_c.sql:1" in out + err, out + err
    assert "fk_owner" in out + err, out + err


@pytest.mark.parametrize("how", [[], ["--group"], ["--dry-run"]])
def test_a_same_named_not_deferrable_constraint_does_not_fail_the_next_member(
    tmp_path: Path, pg_database_url: str, capsys: Any, how: list[str]
) -> None:
    files = same_name_fk("")
    files["schema/0003_c.sql"] = "INSERT INTO car VALUES (1, 1);\n"
    migrations = write(tmp_path, files)
    code, out, err = migrate(capsys, pg_database_url, migrations, *how)
    assert code == 0, out + err


@pytest.mark.parametrize("how", [[], ["--group"], ["--dry-run"]])
def test_a_member_rewriting_an_earlier_members_log_row_is_refused_as_alone(
    tmp_path: Path, pg_database_url: str, capsys: Any, how: list[str]
) -> None:
    rewrite = "EXECUTE 'UPDATE schema' || '_version_log SET action = action WHERE version = 1';"
    migrations = write(
        tmp_path,
        {
            "schema/0001_a.sql": FIRST,
            "schema/0002_log.sql": f"DO $$ BEGIN\n{rewrite}\nEND $$;\n",
        },
    )
    code, out, err = migrate(capsys, pg_database_url, migrations, *how)
    assert code == 1, out + err
    assert f"{migrations}/schema/0002_log.sql" in out + err, out + err
    assert "changed the runner's table schema_version_log: refused" in out + err, out + err
