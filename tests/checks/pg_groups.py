"""What the tests of apply_empty's grouped transactions on PostgreSQL share
(ci.db.postgres.check_groups): a tree of files checked in-process, and the two ways a group
goes (sent whole, or member by member when check_sent is not taken)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.apply_empty import main
from ci.db.postgres import check_groups
from tests.checks.engines import engine_args
from tests.conftest import MIGRATIONS


def check(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    """apply_empty on PostgreSQL over `files` (paths under the migrations folder), with the
    options `extra`: exit code and output."""
    for relative, text in files.items():
        path = tmp_path / MIGRATIONS / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    code = main(
        ["--migrations-dir", str(tmp_path / MIGRATIONS), *extra, *engine_args("postgresql")]
    )
    return code, capsys.readouterr().out


# 0001's row, written by the group's own transaction, rewritten by a later member (dynamic SQL
# the gate cannot read): the grouped deploy and the check's group must both refuse it
REWRITES = {
    "forged": "EXECUTE 'UPDATE schema' || '_version SET version = 9001 WHERE version = 1';",
    "same values": "EXECUTE 'UPDATE schema' || '_version SET version = version WHERE version = 1';",
    "deleted and put back": (
        "CREATE TEMP TABLE keep AS SELECT * FROM schema_version WHERE version = 1;\n"
        "EXECUTE 'DELETE FROM schema' || '_version WHERE version = 1';\n"
        "EXECUTE 'INSERT INTO schema' || '_version SELECT * FROM keep';"
    ),
}


@pytest.fixture(params=[True, False], ids=["sent whole", "member by member"])
def sent(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each test twice: the fast way, and with check_sent declining (member by member)."""
    if not request.param:
        monkeypatch.setattr(check_groups, "apply_sent", lambda *args: None)
    return bool(request.param)
