"""ci.rollback_roundtrip at value level: a content difference names its columns and example
rows (key, expected, found); values that time or random functions generate are left out, and said
to be."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.rollback_roundtrip import main
from tests.conftest import WriteTree

BASE: dict[str, str | bytes] = {
    "m/schema/0001_patients.sql": (
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT, notes);\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
    "sample.sql": (
        "-- @sample-version 1\n"
        "INSERT INTO patients (id, mrn, notes)\n"
        "VALUES (1, 'M1', 'x'), (2, 'M2', NULL), (3, 'M3', 5);\n"
    ),
}


def run(write_tree: WriteTree, files: dict[str, str | bytes], *args: str) -> tuple[int, str]:
    root = write_tree({**BASE, **files})
    code = main(["--migrations-dir", str(root / "m"), *args, "--sample", str(root / "sample.sql")])
    return code, str(root)


def test_a_rollback_that_changes_values_names_column_and_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(
        write_tree,
        {
            "m/data/0002_upper.sql": "UPDATE patients SET mrn = upper(mrn) || '-X', notes = 7;\n",
            "m/rollback/0002_rollback.sql": "UPDATE patients SET mrn = lower(mrn);\n",
        },
    )
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "MG404 rolling back 0002 does not restore the sample data: table patients: content "
        "changed (same row count): column mrn: 3 rows (id=1: 'M1' -> 'm1-x', id=2: 'M2' -> "
        "'m2-x', id=3: 'M3' -> 'm3-x'); column notes: 3 rows (id=1: 'x' -> 7, id=2: NULL -> 7, "
        "id=3: 5 -> 7)."
    ) in out, out


def test_a_value_stored_as_another_type_is_a_difference(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(
        write_tree,
        {
            "m/data/0002_notes.sql": (
                "UPDATE patients SET notes = CAST(notes AS TEXT) WHERE id = 3;\n"
            ),
            "m/rollback/0002_rollback.sql": "SELECT 1;\n",
        },
    )
    out = capsys.readouterr().out
    assert code == 1, out
    assert "column notes: 1 row (id=3: 5 -> '5')" in out


RANDOM_TOKEN = {
    "m/data/0002_tokens.sql": (
        "CREATE TABLE tokens (id INTEGER PRIMARY KEY, token INTEGER, label TEXT);\n"
        "INSERT INTO tokens (token, label) SELECT random(), 'for ' || mrn FROM patients;\n"
    ),
    "m/rollback/0002_rollback.sql": "DROP TABLE tokens;\n",
}


def test_a_column_filled_with_random_is_left_out_and_said_to_be(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """random() gives other values on every run: without leaving it out, always MG406."""
    code, root = run(write_tree, RANDOM_TOKEN)
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        f"{Path(root) / 'm/data/0002_tokens.sql'}:2: MG314 warning: 0002 on the sample data: "
        "column tokens.token left out of the comparison: 0002_tokens.sql:2 sets it with random()"
    ) in out, out
    assert "MG406" not in out


def test_mg314_names_the_rollback_statement_that_generates_the_values(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, root = run(
        write_tree,
        {
            "m/data/0002_clear.sql": "UPDATE patients SET notes = NULL;\n",
            "m/rollback/0002_rollback.sql": (
                "-- put something back\nUPDATE patients SET notes = random();\n"
            ),
        },
    )
    out = capsys.readouterr().out
    assert (
        f"{Path(root) / 'm/rollback/0002_rollback.sql'}:2: MG314 warning: 0002 on the sample "
        "data: column patients.notes left out of the comparison: 0002_rollback.sql:2 sets it with "
        "random()"
    ) in out, out
    assert code == 0


def test_a_default_of_random_is_left_out_but_other_columns_are_compared(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(
        write_tree,
        {
            "m/data/0002_tokens.sql": (
                "CREATE TABLE tokens (id INTEGER PRIMARY KEY, token INTEGER DEFAULT (random()),\n"
                "    label TEXT);\n"
                "INSERT INTO tokens (label) SELECT 'n' || total_changes() FROM patients;\n"
            ),
            "m/rollback/0002_rollback.sql": "DROP TABLE tokens;\n",
        },
    )
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "MG406 re-applying 0002 after its rollback on the empty database gives another result"
    ) not in out  # the empty database has no patients: no rows, nothing differs
    assert (
        "MG406 re-applying 0002 after its rollback on the sample data gives another result: "
        "table tokens: content changed (same row count): column label: 3 rows (id=1: 'n"
    ) in out
    assert (
        "; column tokens.token left out of the comparison: its default random() differs from "
        "run to run."
    ) in out
    assert "column token:" not in out


def test_without_volatile_values_a_re_apply_difference_still_fails(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(RANDOM_TOKEN)
    files["m/data/0002_tokens.sql"] = str(files["m/data/0002_tokens.sql"]).replace(
        "random()", "total_changes()"
    )
    code, _ = run(write_tree, files)
    out = capsys.readouterr().out
    assert code == 1
    assert "column token: 3 rows (id=1: " in out
    assert "MG314" not in out


@pytest.mark.parametrize(
    ("migration", "rollback"),
    [
        # the word in a text is no call to random()
        ("UPDATE patients SET mrn = coalesce(mrn, 'Random Patient');\n",
         "UPDATE patients SET mrn = NULL;\n"),
        # a random() that decides nothing: every mrn turned NULL by the rollback itself
        ("ALTER TABLE patients ADD COLUMN ward TEXT;\n",
         "ALTER TABLE patients DROP COLUMN ward;\n"
         "UPDATE patients SET mrn = CASE WHEN random() IS NOT NULL THEN NULL END;\n"),
        # time or random calls never give NULL: a column turned NULL is compared
        ("UPDATE patients SET mrn = coalesce(mrn, datetime('now'));\n",
         "UPDATE patients SET mrn = NULL;\n"),
    ],
)  # fmt: skip
def test_a_rollback_that_wipes_a_column_is_not_excused_as_volatile(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str, rollback: str
) -> None:
    """Hostile pass bug 03: the exemption is for values a time or random call produces, read
    from the SQL's tokens, not for any text that says random or now."""
    files = {"m/data/0002_change.sql": migration, "m/rollback/0002_rollback.sql": rollback}
    code, _ = run(write_tree, files)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "MG404" in out and "column mrn: 3 rows (id=1: 'M1' -> NULL" in out, out
    assert "left out of the comparison" not in out
