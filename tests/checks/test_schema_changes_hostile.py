"""Schema-change analysis against the hostile pass's reproducers (/work/hostile/REPORT.md):
each test is a real migration tree run by a real `python -m ci.apply_empty` process.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import WriteTree, output, run_on_tree, tree

SETUP = """\
def register(conn):
    conn.create_collation("nat", lambda a, b: (a > b) - (a < b))
    conn.create_function("slug", 1, lambda s: s and s.lower(), deterministic=True)
"""


@pytest.mark.parametrize(
    "definition",
    [
        "name TEXT COLLATE nat",
        "name TEXT CHECK (slug(name) IS NOT NULL)",
        "name TEXT, up TEXT GENERATED ALWAYS AS (slug(name)) STORED",
    ],
)
def test_a_table_using_the_setup_collation_or_function_still_reports_its_dropped_column(
    write_tree: WriteTree, definition: str
) -> None:
    files = {
        "schema/0001_init.sql": f"CREATE TABLE patients (id INTEGER PRIMARY KEY, {definition}, "
        "notes TEXT);\n",
        "schema/0002_drop.sql": "ALTER TABLE patients DROP COLUMN notes;\n",
    }
    root = write_tree({**tree(files), "appsetup.py": SETUP})
    done = run_on_tree("ci.apply_empty", root, "--setup", "appsetup:register")
    assert done.returncode == 1, output(done)
    assert "0002_drop.sql:1: MG602 column patients.notes" in done.stdout, output(done)


def test_a_noqa_for_another_column_neither_takes_the_blame_nor_waives_the_rebuild_drop(
    write_tree: WriteTree,
) -> None:
    files = {
        "schema/0001_init.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT, "
        "notes TEXT, legacy TEXT, memo TEXT);\n",
        "schema/0002_rebuild.sql": (
            "CREATE TABLE np (id INTEGER PRIMARY KEY, name TEXT, legacy TEXT, memo TEXT);\n"
            "INSERT INTO np SELECT id, name, legacy, memo FROM patients;\n"
            "DROP TABLE patients;\n"
            "ALTER TABLE np RENAME TO patients;\n"
            "PRAGMA foreign_key_check;\n"
            "-- noqa: MG503 legacy was never read; notes moved to the app\n"
            "ALTER TABLE patients DROP COLUMN legacy;\n"
            "ALTER TABLE patients ADD COLUMN flag TEXT DEFAULT 'notes';\n"
        ),
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)))
    assert done.returncode == 1, output(done)
    assert "0002_rebuild.sql:4: MG602 column patients.notes" in done.stdout, output(done)
    assert "patients.legacy" not in done.stdout, output(done)


TWINS = {
    "table": ("CREATE TEMP TABLE patients (x);\n", "DROP TABLE patients;\n", "MG601"),
    "view": ("CREATE TEMP VIEW named AS SELECT 1;\n", "DROP VIEW named;\n", "MG608"),
    "trigger": (
        "CREATE TEMP TRIGGER tr AFTER INSERT ON patients BEGIN SELECT 1; END;\n",
        "DROP TRIGGER tr;\n",
        "MG608",
    ),
    "index": (
        "CREATE TEMP TABLE t (x);\nCREATE INDEX temp.idx ON t (x);\n",
        "DROP INDEX idx;\n",
        "MG608",
    ),
}


@pytest.mark.parametrize("kind", sorted(TWINS))
def test_a_drop_repeated_after_a_temp_twin_drops_the_real_object_and_is_reported(
    write_tree: WriteTree, kind: str
) -> None:
    twin, drop, code = TWINS[kind]
    files = {
        "schema/0001_init.sql": (
            "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT);\n"
            "CREATE VIEW named AS SELECT name FROM patients;\n"
            "CREATE INDEX idx ON patients (name);\n"
            "CREATE TRIGGER tr AFTER INSERT ON patients BEGIN SELECT 1; END;\n"
        ),
        "schema/0002_evil.sql": twin + drop + drop,
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)))
    assert done.returncode == (1 if code == "MG601" else 0), output(done)  # MG608: a warning
    line = twin.count("\n") + 2
    assert f"0002_evil.sql:{line}: {code}" in done.stdout, output(done)


def test_names_differing_in_non_ascii_case_are_two_tables_as_in_sqlite(
    write_tree: WriteTree,
) -> None:
    files = {
        "schema/0001_init.sql": 'CREATE TABLE "Ärzte" (id INTEGER PRIMARY KEY, name TEXT);\n',
        "schema/0002_x.sql": (
            'CREATE TABLE "ärzte" (id INTEGER PRIMARY KEY, name TEXT, ward TEXT);\n'
            'DROP TABLE "Ärzte";\n'
        ),
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)))
    assert done.returncode == 1, output(done)
    assert "0002_x.sql:2: MG601 table Ärzte" in done.stdout, output(done)


VIRTUAL = (
    "CREATE VIRTUAL TABLE docs USING fts5(body);\n"
    "CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);\n"
)


def test_dropping_a_virtual_table_is_reported_with_its_line(write_tree: WriteTree) -> None:
    files = {
        "schema/0001_init.sql": VIRTUAL,
        "schema/0002_drop.sql": "DROP TABLE docs;\nDROP TABLE boxes;\n",
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)), "--explain")
    assert done.returncode == 1, output(done)
    assert "0002_drop.sql:1: MG601 table docs" in done.stdout, output(done)
    assert "0002_drop.sql:2: MG601 table boxes" in done.stdout, output(done)


def test_a_virtual_table_created_again_with_other_columns_is_reported(
    write_tree: WriteTree,
) -> None:
    files = {
        "schema/0001_init.sql": VIRTUAL,
        "schema/0002_redefine.sql": (
            "DROP TABLE docs;\nCREATE VIRTUAL TABLE docs USING fts5(title);\n"
            "DROP TABLE boxes;\nCREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1, y0, y1);\n"
        ),
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)))
    assert done.returncode == 1, output(done)
    assert "0002_redefine.sql:2: MG602 column docs.body" in done.stdout, output(done)
    assert "0002_redefine.sql:2: MG604 warning: table docs: virtual table redefined" in done.stdout
    assert "0002_redefine.sql:4: MG604 warning: table boxes: virtual table redefined" in done.stdout


@pytest.mark.parametrize(
    ("copy", "expected"),
    [
        ("", "0002_x.sql:2: MG601 table Ärzte"),
        (
            'INSERT INTO "ärzte" SELECT * FROM "Ärzte";\n',
            "0002_x.sql:3: MG603 warning: table Ärzte",
        ),
    ],
)
def test_a_table_dropped_while_one_of_its_shape_is_created_is_a_rename_only_if_copied(
    write_tree: WriteTree, copy: str, expected: str
) -> None:
    files = {
        "schema/0001_init.sql": 'CREATE TABLE "Ärzte" (id INTEGER PRIMARY KEY, name TEXT);\n',
        "schema/0002_x.sql": (
            f'CREATE TABLE "ärzte" (id INTEGER PRIMARY KEY, name TEXT);\n{copy}'
            'DROP TABLE "Ärzte";\n'
        ),
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)))
    assert expected in done.stdout, output(done)


# A new sqlite_master row takes max(rowid) + 1 of the rows present when it is created: after
# the highest rows are dropped, a later object takes one of their rowids, below the highest
# the schema watch ever read (hostile 001, 010). A VACUUM writes every row under a new rowid.
ROWIDS_TAKEN_AGAIN = {
    "drop after dropped indexes (001)": (
        {
            "schema/0001_a.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT);\n"
            "CREATE INDEX ia ON a (x);\nCREATE INDEX ib ON a (x);\n",
            "schema/0002_drop_idx.sql": "-- noqa: MG608 not needed\nDROP INDEX ia;\n"
            "-- noqa: MG608 not needed\nDROP INDEX ib;\n",
            "schema/0003_z.sql": "CREATE TABLE z (id INTEGER PRIMARY KEY, v TEXT);\n",
            "schema/0004_drop_z.sql": "DROP TABLE z;\n",
        },
        "0004_drop_z.sql:1: MG601 table z",
    ),
    "column dropped after a waived drop (010)": (
        {
            "schema/0001_init.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT);\n"
            "CREATE TABLE old_log (id INTEGER PRIMARY KEY, msg TEXT);\n"
            "CREATE INDEX old_log_msg ON old_log (msg);\n",
            "schema/0002_drop_old_log.sql": "-- noqa: MG601 old_log unused, exported to S3\n"
            "DROP TABLE old_log;\n",
            "schema/0003_z.sql": "CREATE TABLE z (id INTEGER PRIMARY KEY, v TEXT, w TEXT);\n",
            "schema/0004_drop_v.sql": "ALTER TABLE z DROP COLUMN v;\n",
        },
        "0004_drop_v.sql:1: MG602 column z.v",
    ),
    "column dropped after a VACUUM": (
        {
            # rowids a=1, v=2, b=3; after the VACUUM (tables, then views) a=1, b=2, v=3
            "schema/0001_init.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT);\n"
            "CREATE VIEW v AS SELECT 1 AS one;\n"
            "CREATE TABLE b (id INTEGER PRIMARY KEY, x TEXT, y TEXT);\n",
            "schema/0002_vacuum.sql": "-- @no-transaction VACUUM cannot run in a transaction\n"
            "VACUUM;\n",
            "schema/0003_drop_y.sql": "ALTER TABLE b DROP COLUMN y;\n",
        },
        "0003_drop_y.sql:1: MG602 column b.y",
    ),
}


@pytest.mark.parametrize("explain", [False, True], ids=["plain", "explain"])
@pytest.mark.parametrize("case", sorted(ROWIDS_TAKEN_AGAIN))
def test_an_object_under_a_rowid_taken_again_is_watched(
    write_tree: WriteTree, case: str, explain: bool
) -> None:
    files, expected = ROWIDS_TAKEN_AGAIN[case]
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)), *(["--explain"] * explain))
    assert done.returncode == 1, output(done)
    findings = [line for line in done.stdout.splitlines() if re.search(r"\.sql:\d+: MG", line)]
    assert len(findings) == 1 and expected in findings[0], output(done)
    if explain:  # the changelog lists the change under its migration too
        assert f"[{expected.split()[1]} error]" in done.stdout, output(done)
