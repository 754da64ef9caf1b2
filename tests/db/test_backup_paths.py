"""ci.db.backup, function by function: the default name, which destinations are refused, and
`take` never replacing a file. (test_backup.py runs the same through `python -m ci.migrate`;
test_kill_trials.py kills a run during its backup.) Real SQLite files; no mocks."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ci.db import backup
from tests.conftest import make_db, query

ROWS = "CREATE TABLE t (x);\nINSERT INTO t VALUES (1), (2), (3);\n"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(make_db(tmp_path / "app.db", ROWS))
    yield connection
    connection.close()


def test_the_default_path_is_beside_the_database_with_a_utc_stamp(tmp_path: Path) -> None:
    path = backup.default_path(tmp_path / "app.db")
    assert path.parent == tmp_path
    assert re.fullmatch(r"app\.db\.bak-\d{8}T\d{6}Z", path.name), path.name


def test_the_default_path_never_names_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    epoch = time.gmtime(0)
    frozen = SimpleNamespace(strftime=time.strftime, gmtime=lambda: epoch)
    monkeypatch.setattr(backup, "time", frozen)  # the module's clock stands still
    taken = tmp_path / "app.db.bak-19700101T000000Z"
    taken.write_text("another backup")
    (tmp_path / f"{taken.name}-2").symlink_to(tmp_path / "nowhere")  # a dangling link counts
    assert backup.default_path(tmp_path / "app.db") == tmp_path / f"{taken.name}-3"


def test_an_empty_database_has_no_data(tmp_path: Path, conn: sqlite3.Connection) -> None:
    assert backup.has_data(conn)
    empty = sqlite3.connect(tmp_path / "new.db")
    try:
        assert not backup.has_data(empty)
    finally:
        empty.close()


def test_a_new_path_is_a_usable_destination(tmp_path: Path) -> None:
    assert (
        backup.unusable_destination(tmp_path / "backups" / "app.bak", tmp_path / "app.db") is None
    )


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hard link", "wal", "journal"])
def test_the_database_itself_by_any_name_is_refused(tmp_path: Path, spelling: str) -> None:
    db = make_db(tmp_path / "app.db", ROWS)
    dest = {
        "same": db,
        "dotted": tmp_path / "." / "sub" / ".." / "app.db",
        "symlink": tmp_path / "link.db",
        "hard link": tmp_path / "hard.db",
        "wal": tmp_path / "app.db-wal",
        "journal": tmp_path / "app.db-journal",
    }[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        dest.symlink_to(db)
    if spelling == "hard link":
        os.link(db, dest)
    problem = backup.unusable_destination(dest, db)
    assert problem == (
        f"{dest}: is the database {db} itself (or one of its own files); choose a new path"
    )


def test_an_existing_file_or_a_file_as_parent_is_refused(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", ROWS)
    (tmp_path / "other.db").write_text("someone's file")
    assert backup.unusable_destination(tmp_path / "other.db", db) == (
        f"{tmp_path / 'other.db'}: already exists; a backup never overwrites a file (choose a "
        "new path, or move that file away)"
    )
    assert backup.unusable_destination(tmp_path / "other.db" / "app.bak", db) == (
        f"{tmp_path / 'other.db' / 'app.bak'}: cannot be created: a parent of it is a file, "
        "not a directory"
    )


def test_take_copies_the_whole_database_and_leaves_no_partial_file(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    dest = tmp_path / "backups" / "app.bak"
    assert backup.take(conn, dest) == dest
    assert query(dest, "SELECT x FROM t ORDER BY x") == [(1,), (2,), (3,)]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["app.bak"]


def test_take_never_replaces_a_file_that_appeared_meanwhile(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    dest = tmp_path / "app.bak"
    dest.write_text("a file that appeared after the name was chosen")
    with pytest.raises(backup.BackupExists):
        backup.take(conn, dest)
    assert dest.read_text() == "a file that appeared after the name was chosen"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.bak", "app.db"]


def test_take_with_the_default_name_moves_on_to_the_next_free_one(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    dest = tmp_path / "app.db.bak-20260101T000000Z"
    dest.write_text("another runner's backup, same second")
    taken = backup.take(conn, dest, next_free_name=True)
    assert taken == tmp_path / f"{dest.name}-2"
    assert dest.read_text() == "another runner's backup, same second"
    assert query(taken, "SELECT count(*) FROM t") == [(3,)]
