"""ci.apply_sample at value level: values changed or turned NULL, rows swapped for others, a table
dropped beside an unrelated one, each named with the column and example keys; `@rewrites`.

The scenarios that mean the same on PostgreSQL run on both engines (ENGINES); those about rowids,
type affinity, virtual tables or a SQLite database as the sample are SQLite's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.apply_sample import main
from tests.checks.engines import ENGINES, engine_args
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


# BASE in PostgreSQL's dialect: notes has no rowid there (its rows are keyed by their values)
PG_BASE: dict[str, str | bytes] = {
    **BASE,
    "sample.sql": str(BASE["sample.sql"]).replace(
        "INSERT INTO notes (rowid, body) VALUES (1, 'a'), (2, 'b'), (5, 'c');",
        "INSERT INTO notes (body) VALUES ('a'), ('b'), ('c');",
    ),
}


def check(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    migration: str,
    engine: str = "sqlite",
) -> str:
    """apply_sample's output with `migration` as data/0002 on `engine`; asserts the exit code
    from it."""
    base = BASE if engine == "sqlite" else PG_BASE
    root = write_tree({**base, "m/data/0002_change.sql": migration})
    where = ["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")]
    code = main([*where, *engine_args(engine)])
    out = capsys.readouterr().out
    assert code == (1 if " MG3" in out else 0), out
    return out.replace(str(root / "m/data/0002_change.sql"), "0002").replace(
        str(root / "sample.sql"), "sample.sql"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_a_column_turned_null_is_named_with_example_keys(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    out = check(write_tree, capsys, "-- wipe\nUPDATE patients SET mrn = NULL;\n", engine)
    assert (
        "0002:2: MG313 table patients: values turned NULL in 0002 on the sample sample.sql: "
        "mrn: 3 rows (id=1, id=2, id=3). To fix: keep the values, or declare "
        "-- @rewrites patients(mrn)"
    ) in out
    assert "MG312" not in out  # the NULL that stayed NULL (id=4) is no change


@pytest.mark.parametrize("engine", ENGINES)
def test_text_truncated_with_substr_is_a_value_change(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    out = check(write_tree, capsys, "UPDATE patients SET name = substr(name, 1, 3);\n", engine)
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
    # as many rows, under rowids 1, 2, 3 instead of 1, 2, 5: the table was not rebuilt, so the
    # rows are paired by rowid (rowid 5 lost, rowid 2 given another value, rowid 3 added)
    assert "0002:1: MG308 table notes: 1 row lost (rowid=5) in 0002" in out
    assert (
        "MG312 table notes: values changed in 0002 on the sample sample.sql: "
        "body: 1 row (rowid=2: 'b' -> 'a')"
    ) in out


def test_a_row_deleted_and_another_inserted_is_a_loss_under_a_declared_rewrite(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hostile pass bug 05: as many rows after as before, but nothing was rebuilt: rows are
    paired by rowid, not in rowid order, so the deleted row is lost, not "rewritten"."""
    out = check(
        write_tree,
        capsys,
        "-- @rewrites notes(body)\nUPDATE notes SET body = upper(body);\n"
        "DELETE FROM notes WHERE body = 'B';\nINSERT INTO notes (body) VALUES ('harmless');\n",
    )
    assert "0002:2: MG308 table notes: 1 row lost (rowid=2) in 0002" in out
    check(
        write_tree, capsys, "-- @rewrites notes(body)\n" + REBUILD.format(expression="upper(body)")
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_with_the_same_keys_but_copied_values_are_changed(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    out = check(
        write_tree,
        capsys,
        "UPDATE patients SET name = (SELECT name FROM patients WHERE id = 1) WHERE id < 3;\n",
        engine,
    )
    assert (
        "MG312 table patients: values changed in 0002 on the sample sample.sql: name: 1 row " in out
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_a_declared_rewrite_passes_and_only_for_its_columns(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    wipe = "UPDATE patients SET mrn = NULL, name = upper(name);\n"
    check(write_tree, capsys, "-- @rewrites patients(mrn, name)\n" + wipe, engine)
    check(write_tree, capsys, "-- @rewrites notes, patients\n" + wipe, engine)
    out = check(write_tree, capsys, "-- @rewrites patients(mrn)\n" + wipe, engine)
    assert "MG312 table patients: values changed" in out
    assert "-- @rewrites patients(name)" in out
    assert "MG313" not in out


@pytest.mark.parametrize("engine", ENGINES)
def test_a_backfill_of_nulls_and_a_new_column_pass(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    check(write_tree, capsys, "UPDATE patients SET mrn = 'M' || id WHERE mrn IS NULL;\n", engine)
    check(
        write_tree,
        capsys,
        "ALTER TABLE patients ADD COLUMN ward TEXT;\nUPDATE patients SET ward = 'A';\n",
        engine,
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
    # every row is held, with other values: compared as the same table
    assert "MG312 table notes: values changed in 0002 on the sample sample.sql: body: 3 rows" in (
        check(write_tree, capsys, changed)
    )
    fewer = "CREATE TABLE notes_v2 AS SELECT body FROM notes WHERE rowid < 5;\nDROP TABLE notes;\n"
    assert "MG308 table notes: 3 rows lost (table dropped;" in check(write_tree, capsys, fewer)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_renamed_table_is_the_same_table(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """Hostile pass bug 11: RENAME TO keeps every row; a rewrite declared under either name
    covers its values, and a row deleted is still lost."""
    rename = "ALTER TABLE patients RENAME TO people;\nUPDATE people SET name = upper(name);\n"
    check(write_tree, capsys, "-- @rewrites patients(name), people(name)\n" + rename, engine)
    check(write_tree, capsys, "-- @rewrites people(name)\n" + rename, engine)
    out = check(write_tree, capsys, rename, engine)
    assert "0002:1: MG312 table patients: values changed in 0002" in out
    assert "MG308" not in out
    out = check(write_tree, capsys, rename + "DELETE FROM people WHERE id = 2;\n", engine)
    assert "MG308 table patients: 1 row lost (id=2) in 0002" in out


ACCOUNTS: dict[str, str | bytes] = {
    "m/schema/0001_accounts.sql": (
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, code, ext TEXT);\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE accounts;\n",
    "sample.sql": (
        "-- @sample-version 1\nINSERT INTO accounts VALUES (1, '00123', '12345678901234567890'),\n"
        "    (2, ' 042 ', '9007199254740993'), (3, '7.50', '5'), (4, '8', '2.5');\n"
    ),
}
RETYPE = (
    "CREATE TABLE acc_new (id INTEGER PRIMARY KEY, code, ext {type});\n"
    "INSERT INTO acc_new SELECT id, code, ext FROM accounts;\n"
    "DROP TABLE accounts;\nALTER TABLE acc_new RENAME TO accounts;\n"
)


def test_a_text_turned_number_is_a_change_unless_the_affinity_converted_it_losslessly(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hostile pass bug 04: '00123' -> 123 loses the zeros; only a column whose type affinity
    changed converts text to a number, and only '5' -> 5 (its own spelling) loses nothing."""
    root = write_tree(
        {**ACCOUNTS, "m/data/0002_change.sql": "UPDATE accounts SET code = trim(code) + 0;\n"}
    )
    code = main(["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "code: 4 rows (id=1: '00123' -> 123, id=2: ' 042 ' -> 42, id=3: '7.50' -> 7.5, ...)"
    ) in out
    retyped = {
        "NUMERIC": "ext: 1 row (id=1: '12345678901234567890' -> 1.2345678901234567e+19)",
        "REAL": "ext: 2 rows (id=1: '12345678901234567890' -> 1.2345678901234567e+19, "
        "id=2: '9007199254740993' -> 9007199254740992.0)",  # '5' -> 5.0, '2.5' -> 2.5: kept
        "TEXT": None,  # no affinity change, no conversion
    }
    for type_, expected in retyped.items():
        root = write_tree({**ACCOUNTS, "m/data/0002_change.sql": RETYPE.format(type=type_)})
        code = main(["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")])
        out = capsys.readouterr().out
        assert code == (0 if expected is None else 1), out
        assert expected is None or expected + ". To fix" in out, out


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


FTS: dict[str, str | bytes] = {
    "m/schema/0001_docs.sql": "CREATE VIRTUAL TABLE docs USING fts5(body);\n",
    "m/rollback/0001_rollback.sql": "DROP TABLE docs;\n",
    "sample.sql": (
        "-- @sample-version 1\n"
        "INSERT INTO docs (body) VALUES ('discharge summary 1'), ('lab report 2');\n"
    ),
}


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        ("INSERT INTO docs (body) VALUES ('new note');\n", None),  # a row added: nothing lost
        ("UPDATE docs SET body = 'x' WHERE rowid = 2;\n",
         "0002:1: MG312 table docs: values changed in 0002 on the sample sample.sql: "
         "body: 1 row (rowid=2: 'lab report 2' -> 'x')"),
        ("-- @rewrites docs\nUPDATE docs SET body = 'x' WHERE rowid = 2;\n", None),
        ("DELETE FROM docs WHERE rowid = 1;\n", "0002:1: MG308 table docs: 1 row lost (rowid=1)"),
        ("DELETE FROM docs WHERE rowid = 1;\nINSERT INTO docs (body) VALUES ('x');\n",
         "0002:1: MG308 table docs: 1 row lost (rowid=1)"),
    ],
)  # fmt: skip
def test_a_virtual_table_is_compared_by_its_own_rows_not_its_shadow_tables(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str, expected: str | None
) -> None:
    """Hostile pass bug 16: FTS5 keeps its index in docs_data, docs_idx, ... (internal blobs that
    any new row rewrites); what a migration did to the data is in docs' own rows."""
    root = write_tree({**FTS, "m/data/0002_change.sql": migration})
    code = main(["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")])
    out = capsys.readouterr().out.replace(str(root / "m/data/0002_change.sql"), "0002")
    out = out.replace(str(root / "sample.sql"), "sample.sql")
    assert code == (0 if expected is None else 1), out
    assert "docs_" not in out
    assert expected is None or expected in out, out
