"""apply_empty on PostgreSQL, its migrations in shared transactions: sharing one can fail a
migration that passes alone; the check then runs that group again one migration per
transaction and reports that verdict, so grouping never makes a false failure. Both ways of
running a group: sent whole (ci.db.postgres.check_sent) and member by member.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.pg_groups import check, sent
from tests.conftest import MIGRATIONS

pytestmark = pytest.mark.postgresql
__all__ = ["sent"]  # the fixture, shared

PASS_ALONE = {
    # an earlier member's SET CONSTRAINTS ALL IMMEDIATE also made this later-made FK immediate
    "deferred fk made later": {
        "schema/0001_a.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
        "schema/0002_b.sql": (
            "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a\n"
            "  DEFERRABLE INITIALLY DEFERRED);\n"
            "INSERT INTO b VALUES (1, 10);\nINSERT INTO a VALUES (10);\n"
        ),
    },
    # now() is the transaction's start: alone, each migration has its own
    "now() twice": {
        "schema/0001_a.sql": (
            "CREATE TABLE audit (at timestamptz PRIMARY KEY, what text);\n"
            "INSERT INTO audit VALUES (now(), 'one');\n"
        ),
        "schema/0002_b.sql": "SELECT pg_sleep(0.01);\n",
        "schema/0003_c.sql": "INSERT INTO audit VALUES (now(), 'two');\n",
    },
    # a label added by EXECUTE, used in a DO block that re-raises the error as its own
    "label used, error re-raised": {
        "schema/0001_a.sql": "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE p (m mood);\n",
        "schema/0002_b.sql": "DO $$ BEGIN EXECUTE 'ALTER TYPE mood ADD VALUE ''happy'''; END $$;\n",
        "schema/0003_c.sql": (
            "DO $$ BEGIN\n  INSERT INTO p VALUES ('happy');\nEXCEPTION WHEN others THEN\n"
            "  RAISE EXCEPTION 'could not insert: %', SQLSTATE;\nEND $$;\n"
        ),
    },
}


@pytest.mark.parametrize("case", sorted(PASS_ALONE))
def test_a_migration_that_passes_alone_passes_in_a_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool, case: str
) -> None:
    code, out = check(tmp_path, PASS_ALONE[case], capsys)
    assert code == 0, out
    assert out.startswith("OK apply_empty"), out


def test_a_migration_that_fails_alone_is_named_with_its_line_after_the_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    files = dict(PASS_ALONE["now() twice"])
    files["schema/0004_d.sql"] = "CREATE TABLE d (id int);\nINSERT INTO nowhere VALUES (1);\n"
    code, out = check(tmp_path, files, capsys)
    assert code == 1, out
    assert f"{MIGRATIONS}/schema/0004_d.sql:2:" in out, out
    assert "3 passed, 1 failed" in out, out
