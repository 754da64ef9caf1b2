"""ci.apply_sample at value level: values changed or turned NULL, rows swapped for others, a table
dropped beside an unrelated one, each named with the column and example keys; `@rewrites`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.apply_sample import main
from tests.conftest import WriteTree

BASE: dict[str, str | bytes] = {
    "m/schema/0001_patients.sql": (
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT, name TEXT);\n"
        "CREATE TABLE notes (body TEXT);\n"  # no primary key: rows are keyed by rowid
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE patients;\nDROP TABLE notes;\n",
    "sample.sql": (
        "-- @sample-version 1\n"
        "INSERT INTO patients (id, mrn, name) VALUES\n"
        "    (1, 'M1', 'Ada Lovelace'), (2, 'M2', 'Bob Smith'), (3, 'M3', 'Cy Young'),\n"
        "    (4, NULL, 'Dee');\n"
        "INSERT INTO notes (rowid, body) VALUES (1, 'a'), (2, 'b'), (5, 'c');\n"
    ),
}


def check(write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str) -> str:
    """apply_sample's output with `migration` as data/0002; asserts the exit code from it."""
    root = write_tree({**BASE, "m/data/0002_change.sql": migration})
    code = main(["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")])
    out = capsys.readouterr().out
    assert code == (1 if " MG3" in out else 0), out
    return out.replace(str(root / "m/data/0002_change.sql"), "0002").replace(
        str(root / "sample.sql"), "sample.sql"
    )


def test_a_column_turned_null_is_named_with_example_keys(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(write_tree, capsys, "-- wipe\nUPDATE patients SET mrn = NULL;\n")
    assert (
        "0002:2: MG313 table patients: values turned NULL in 0002 on the sample sample.sql: "
        "mrn: 3 rows (id=1, id=2, id=3). To fix: keep the values, or declare "
        "-- @rewrites patients(mrn)"
    ) in out
    assert "MG312" not in out  # the NULL that stayed NULL (id=4) is no change


def test_text_truncated_with_substr_is_a_value_change(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(write_tree, capsys, "UPDATE patients SET name = substr(name, 1, 3);\n")
    assert (
        "0002:1: MG312 table patients: values changed in 0002 on the sample sample.sql: "
        "name: 3 rows (id=1: 'Ada Lovelace' -> 'Ada', id=2: 'Bob Smith' -> 'Bob', "
        "id=3: 'Cy Young' -> 'Cy ')"
    ) in out


def test_rows_swapped_for_duplicates_are_caught(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    swap = (
        "DELETE FROM notes WHERE body <> 'a';\n"
        "INSERT INTO notes (body) SELECT body FROM notes;\n"
        "INSERT INTO notes (body) SELECT body FROM notes WHERE rowid = 1;\n"
    )
    out = check(write_tree, capsys, swap)
    # as many rows, under rowids 1, 2, 3 instead of 1, 2, 5: paired in rowid order
    assert (
        "0002:1: MG312 table notes: values changed in 0002 on the sample sample.sql: "
        "body: 2 rows (rowid=2: 'b' -> 'a', rowid=5: 'c' -> 'a')"
    ) in out


def test_rows_with_the_same_keys_but_copied_values_are_changed(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(
        write_tree,
        capsys,
        "UPDATE patients SET name = (SELECT name FROM patients WHERE id = 1) WHERE id < 3;\n",
    )
    assert (
        "MG312 table patients: values changed in 0002 on the sample sample.sql: name: 1 row " in out
    )


def test_a_declared_rewrite_passes_and_only_for_its_columns(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    wipe = "UPDATE patients SET mrn = NULL, name = upper(name);\n"
    check(write_tree, capsys, "-- @rewrites patients(mrn, name)\n" + wipe)
    check(write_tree, capsys, "-- @rewrites notes, patients\n" + wipe)
    out = check(write_tree, capsys, "-- @rewrites patients(mrn)\n" + wipe)
    assert "MG312 table patients: values changed" in out
    assert "-- @rewrites patients(name)" in out
    assert "MG313" not in out


def test_a_backfill_of_nulls_and_a_new_column_pass(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    check(write_tree, capsys, "UPDATE patients SET mrn = 'M' || id WHERE mrn IS NULL;\n")
    check(
        write_tree,
        capsys,
        "ALTER TABLE patients ADD COLUMN ward TEXT;\nUPDATE patients SET ward = 'A';\n",
    )


REBUILD = (
    "CREATE TABLE notes_new (body TEXT NOT NULL);\n"
    "INSERT INTO notes_new (body) SELECT {expression} FROM notes ORDER BY rowid;\n"
    "DROP TABLE notes;\n"
    "ALTER TABLE notes_new RENAME TO notes;\n"
)


def test_a_rebuild_that_renumbers_rowids_passes_but_one_that_truncates_fails(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    check(write_tree, capsys, REBUILD.format(expression="body"))  # rowid 5 becomes 3: kept
    out = check(write_tree, capsys, REBUILD.format(expression="substr(body, 1, 0) || 'x'"))
    assert "MG312 table notes: values changed in 0002" in out
    assert "body: 3 rows (rowid=1: 'a' -> 'x'" in out


def test_a_dropped_table_needs_a_created_table_that_holds_its_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    unrelated = (
        "CREATE TABLE archive AS SELECT id, name FROM patients;\n"
        "INSERT INTO archive SELECT id + 10, name FROM patients;\n"
        "DROP TABLE notes;\n"
    )
    out = check(write_tree, capsys, unrelated)  # 8 rows created, 3 dropped: not a rebuild
    assert (
        "0002:3: MG308 table notes: 3 rows lost (table dropped; archive does not hold its rows)"
    ) in out
    copied = "CREATE TABLE notes_v2 AS SELECT body FROM notes;\nDROP TABLE notes;\n"
    check(write_tree, capsys, copied)
    changed = "CREATE TABLE notes_v2 AS SELECT upper(body) AS body FROM notes;\nDROP TABLE notes;\n"
    assert "MG308 table notes: 3 rows lost (table dropped;" in check(write_tree, capsys, changed)


@pytest.mark.parametrize("args", ["patients(mrn", "patients(mrn,)", "a b", ""])
def test_a_malformed_rewrites_directive_is_a_finding_naming_the_file_and_line(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], args: str
) -> None:
    root = write_tree(
        {**BASE, "m/data/0002_change.sql": f"-- @rewrites {args}\nUPDATE patients SET mrn = 1;\n"}
    )
    code = main(["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")])
    out = capsys.readouterr()
    assert code == 1  # as every bad directive: the migration does not apply (MG301)
    assert f"{root / 'm/data/0002_change.sql'}:1: MG301 @rewrites" in out.out
    assert "Traceback" not in out.out + out.err


def test_values_are_compared_on_a_database_sample_too(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sqlite3

    from ci.core.model import discover
    from ci.db import runner

    root = write_tree({**BASE, "m/data/0002_change.sql": "UPDATE notes SET body = NULL;\n"})
    db = root / "app.db"
    conn = runner.connect(db)
    try:
        runner.Runner(conn, discover(root / "m")).migrate(target=1)
        conn.execute("INSERT INTO notes (body) VALUES ('kept')")
    finally:
        conn.close()
    code = main(["--migrations-dir", str(root / "m"), "--sample", str(db)])
    assert code == 1
    assert "MG313 table notes: values turned NULL" in capsys.readouterr().out
    with sqlite3.connect(db) as check_conn:
        assert check_conn.execute("SELECT body FROM notes").fetchall() == [("kept",)]
