"""apply_empty on PostgreSQL, its migrations in shared transactions: putting the constraints
that start deferred back to deferred between members (SET CONSTRAINTS acts on every
constraint of a name in its schema) neither defers a constraint of the same name that starts
immediate (a false pass) nor fails on one that is NOT DEFERRABLE (a false failure). Both ways
of running a group: sent whole (ci.db.postgres.check_sent) and member by member.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.pg_groups import check, sent
from tests.conftest import MIGRATIONS
from tests.db.postgres.test_pg_group_bookkeeping import same_name_fk

pytestmark = pytest.mark.postgresql
__all__ = ["sent"]  # the fixture, shared


def check_names(
    tmp_path: Path, car: str, last: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """pet.fk_owner starts deferred; car.fk_owner, of the same name, as `car` says; 0003 is
    `last`."""
    return check(tmp_path, {**same_name_fk(car), "schema/0003_c.sql": last}, capsys)


def test_a_same_named_immediate_constraint_is_not_deferred_for_a_later_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    # its first statement violates car.fk_owner, its second mends it: alone, line 1 fails
    last = "INSERT INTO car VALUES (1, 2);\nINSERT INTO owner VALUES (2);\n"
    code, out = check_names(tmp_path, "DEFERRABLE INITIALLY IMMEDIATE", last, capsys)
    assert code == 1, out
    assert f"{MIGRATIONS}/schema/0003_c.sql:1:" in out, out
    assert "2 passed, 1 failed" in out, out


def test_a_same_named_not_deferrable_constraint_does_not_fail_the_next_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    code, out = check_names(tmp_path, "", "INSERT INTO car VALUES (1, 1);\n", capsys)
    assert code == 0, out
