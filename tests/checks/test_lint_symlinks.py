"""A migration that is a symlink: lint and the runner take the same files, on both engines.

A link to a file elsewhere in the repository is applied by the runner, so lint lints it (in a
whole-directory run and named); a link that leaves the repository or loops is refused by the
runner, so lint reports it, in the same words. Never a file one applies and the other skips.
Real symlinks, a real SQLite file and the real PostgreSQL server.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest

from ci import lint, migrate
from tests.conftest import MIGRATIONS, WriteTree

LIMITS = "SET lock_timeout = '5s';\nSET statement_timeout = '5min';\n"
# an UPDATE without WHERE: MG502 on either engine
SHARED_SQL = "UPDATE orders SET account_id = 0;\n"
LINK = f"{MIGRATIONS}/schema/0002_reset.sql"
LEAVES = "symlink leaves the repository; replace the link with the file"


def _tree(write_tree: WriteTree, engine: str) -> Path:
    header = LIMITS if engine == "postgresql" else ""
    return write_tree(
        {
            f"{MIGRATIONS}/schema/0001_orders.sql": header
            + "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint);\n",
            # the repository, as the runner sees it: the migrations directory's parent
            "schema/shared/reset.sql": header + SHARED_SQL,
        }
    )


def _lint(engine: str, capsys: pytest.CaptureFixture[str], *files: str) -> tuple[int, str]:
    code = lint.main(["--engine", engine, "--no-sqlfluff", *files])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _migrate(engine: str, tmp_path: Path, url: str) -> list[str]:
    if engine == "sqlite":
        return ["--db", str(tmp_path / "app.db")]
    return ["--database-url", url]


def _applied(engine: str, tmp_path: Path, url: str) -> list[int]:
    query = "SELECT version FROM schema_version ORDER BY version"
    if engine == "sqlite":
        with sqlite3.connect(tmp_path / "app.db") as db:
            return [row[0] for row in db.execute(query)]
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(query)]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The engine, and for PostgreSQL a fresh database on the real server."""
    if request.param == "sqlite":
        return "sqlite", ""
    return "postgresql", str(request.getfixturevalue("pg_database_url"))


def test_a_link_inside_the_repository_is_linted_as_the_runner_applies_it(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    engine_url: tuple[str, str],
) -> None:
    engine, url = engine_url
    root = _tree(write_tree, engine)
    (root / LINK).symlink_to(Path("../../shared/reset.sql"))
    monkeypatch.chdir(root)
    line = 3 if engine == "postgresql" else 1
    for named in ([], [LINK]):  # a whole-directory run, and the file named
        code, out = _lint(engine, capsys, *named)
        assert code == 1, out
        assert re.search(rf"^{re.escape(LINK)}:{line}: MG502 ", out, re.M), out
    assert migrate.main(_migrate(engine, tmp_path, url)) == 0, capsys.readouterr().err
    assert _applied(engine, tmp_path, url) == [1, 2]


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("../../../../outside.sql", LEAVES),
        ("0002_reset.sql", "symlink loop: the link leads back to itself; replace it with the file"),
    ],
)
def test_a_link_the_runner_refuses_is_one_finding_in_its_words(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    engine_url: tuple[str, str],
    target: str,
    why: str,
) -> None:
    engine, url = engine_url
    root = _tree(write_tree, engine)
    (tmp_path / "outside.sql").write_text(SHARED_SQL)
    (root / LINK).symlink_to(Path(target))
    monkeypatch.chdir(root)
    for named in ([], [LINK]):
        code, out = _lint(engine, capsys, *named)
        assert code == 1, out
        assert f"{LINK}: MG500 {why}." in out.splitlines()
    assert migrate.main(_migrate(engine, tmp_path, url)) == 1
    assert f"{LINK}: {why}" in capsys.readouterr().err
