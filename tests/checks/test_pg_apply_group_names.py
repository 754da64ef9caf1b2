"""apply_empty on PostgreSQL, its migrations in shared transactions: putting the constraints
that start deferred back to deferred between members (SET CONSTRAINTS acts on every
constraint of a name in its schema) neither defers a constraint of the same name that starts
immediate (a false pass) nor fails on one that is NOT DEFERRABLE (a false failure). Both ways
of running a group: sent whole (ci.db.postgres.check_sent) and member by member.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.apply_empty import main
from ci.db.postgres import check_groups
from tests.checks.engines import engine_args
from tests.conftest import MIGRATIONS

pytestmark = pytest.mark.postgresql


def check(
    tmp_path: Path, car: str, last: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """pet.fk_owner starts deferred; car.fk_owner, of the same name, as `car` says."""
    files = {
        "schema/0001_a.sql": (
            "CREATE TABLE owner (id int PRIMARY KEY);\n"
            "CREATE TABLE pet (id int PRIMARY KEY, owner_id int, CONSTRAINT fk_owner\n"
            "  FOREIGN KEY (owner_id) REFERENCES owner DEFERRABLE INITIALLY DEFERRED);\n"
            "CREATE TABLE car (id int PRIMARY KEY, owner_id int, CONSTRAINT fk_owner\n"
            f"  FOREIGN KEY (owner_id) REFERENCES owner {car});\n"
        ),
        "schema/0002_b.sql": "INSERT INTO owner VALUES (1);\n",
        "schema/0003_c.sql": last,
    }
    for relative, text in files.items():
        path = tmp_path / MIGRATIONS / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    code = main(["--migrations-dir", str(tmp_path / MIGRATIONS), *engine_args("postgresql")])
    return code, capsys.readouterr().out


@pytest.fixture(params=[True, False], ids=["sent whole", "member by member"])
def sent(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if not request.param:
        monkeypatch.setattr(check_groups, "apply_sent", lambda *args: None)
    return bool(request.param)


def test_a_same_named_immediate_constraint_is_not_deferred_for_a_later_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    # its first statement violates car.fk_owner, its second mends it: alone, line 1 fails
    last = "INSERT INTO car VALUES (1, 2);\nINSERT INTO owner VALUES (2);\n"
    code, out = check(tmp_path, "DEFERRABLE INITIALLY IMMEDIATE", last, capsys)
    assert code == 1, out
    assert f"{MIGRATIONS}/schema/0003_c.sql:1:" in out, out
    assert "2 passed, 1 failed" in out, out


def test_a_same_named_not_deferrable_constraint_does_not_fail_the_next_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    code, out = check(tmp_path, "", "INSERT INTO car VALUES (1, 1);\n", capsys)
    assert code == 0, out
