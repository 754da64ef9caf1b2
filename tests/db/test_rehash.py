"""`python -m ci.migrate --rehash`: a comment-only edit of an applied migration is taken over by
the database (its recorded checksum rewritten, logged); any other edit is refused whole, with
nothing written. Real SQLite files, `main([...])`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.migrate import main
from tests.conftest import BASE, MIGRATIONS, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]
FIRST = "schema/0001_patients.sql"
SECOND = "schema/0002_vitals.sql"


@pytest.fixture
def applied(write_tree: WriteTree, tmp_path: Path) -> tuple[Path, Path]:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    return root, db


def migrate(root: Path, db: Path, *args: str) -> int:
    return main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args])


def edit(root: Path, name: str, text: str) -> None:
    (root / MIGRATIONS / name).write_text(text, encoding="utf-8")


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_comment_edit_is_refused_then_rehashed_and_logged(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    edit(root, FIRST, "-- the ward's patients\n" + BASE[FIRST].replace(" (", "  ("))
    assert migrate(root, db, "--no-backup") == 1
    assert "only whitespace or comments changed" in capsys.readouterr().err
    before = rows(db, "SELECT file_hash FROM schema_version WHERE version = 1")

    assert migrate(root, db, "--rehash") == 0
    out = capsys.readouterr().out
    assert f"rehashed 0001 {root / MIGRATIONS / FIRST}: only comments or whitespace" in out
    after = rows(db, "SELECT file_hash FROM schema_version WHERE version = 1")
    assert after != before
    (logged,) = rows(db, "SELECT version, file_hash, error FROM schema_version_log "
                         "WHERE action = 'rehash'")  # fmt: skip
    assert logged[0] == 1 and logged[1] == after[0][0] and str(before[0][0]) in str(logged[2])

    assert migrate(root, db, "--no-backup") == 0  # the run goes on
    assert migrate(root, db, "--rehash") == 0
    assert "nothing to rehash" in capsys.readouterr().out


def test_the_refusal_names_rehash_for_a_comment_edit(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    edit(root, FIRST, "-- a note\n" + BASE[FIRST])
    capsys.readouterr()
    assert migrate(root, db, "--no-backup") == 1
    assert "or, as only comments or whitespace changed, accept it with --rehash" in (
        capsys.readouterr().err
    )


def test_a_statement_edit_refuses_the_whole_rehash_and_writes_nothing(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    edit(root, FIRST, "-- a note\n" + BASE[FIRST])
    edit(root, SECOND, BASE[SECOND].replace("hr INTEGER", "hr REAL"))
    table = "SELECT * FROM schema_version ORDER BY version"
    log = "SELECT * FROM schema_version_log"
    before = rows(db, table), rows(db, log)
    capsys.readouterr()
    assert migrate(root, db, "--rehash") == 1
    err = capsys.readouterr().err
    assert f"{SECOND}: edited after it was applied (statements changed)" in err
    assert "--rehash accepts only comment or whitespace edits" in err
    assert FIRST not in err  # that one alone would have been accepted
    assert (rows(db, table), rows(db, log)) == before


def test_a_directive_added_is_not_a_comment(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    edit(root, FIRST, "-- @no-transaction\n" + BASE[FIRST])
    assert migrate(root, db, "--rehash") == 1
    assert "statements changed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--dry-run"], "--rehash goes with none of"),
        (["--status"], "not allowed with argument"),
        (["--format", "json"], "--rehash prints text only"),
    ],
)
def test_combinations_are_refused(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    root, db = applied
    with pytest.raises(SystemExit) as stop:
        migrate(root, db, "--rehash", *extra)
    assert stop.value.code == 2
    assert says in capsys.readouterr().err


def test_missing_database_is_not_created(tmp_path: Path, write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    assert migrate(root, tmp_path / "none.db", "--rehash") == 2
    assert not (tmp_path / "none.db").exists()


def test_rehash_in_the_config_file_is_refused(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    config = root / "migration-guard.yaml"
    config.write_text("rehash: true\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), "--config", str(config)])
    assert stop.value.code == 2
    assert "rehash" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("applied_sql", "edited_sql"),
    [
        ("CREATE TABLE t (a real);\nINSERT INTO t SELECT 1.e5;\n", "1. e5"),  # number -> alias
        ("CREATE TABLE t (a);\nINSERT INTO t SELECT x'41';\n", "x '41'"),  # blob -> alias
        ("CREATE TABLE t (a int);\n", "a\xa0int"),  # NBSP: part of the column's name
    ],
)
def test_an_edit_that_only_looks_like_whitespace_is_refused(
    write_tree: WriteTree,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    applied_sql: str,
    edited_sql: str,
) -> None:
    """SQLite's tokenizer decides what is whitespace: `1. e5`, `x '41'` and `a<NBSP>int` read
    differently from `1.e5`, `x'41'` and `a int`."""
    root = write_tree(tree({FIRST: applied_sql}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    original = edited_sql.replace(" ", "").replace("\xa0", " ")
    edit(root, FIRST, applied_sql.replace(original, edited_sql))
    before = rows(db, "SELECT file_hash FROM schema_version")
    capsys.readouterr()
    assert migrate(root, db, "--rehash") == 1
    assert "(statements changed)" in capsys.readouterr().err
    assert rows(db, "SELECT file_hash FROM schema_version") == before
