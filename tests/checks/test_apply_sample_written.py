"""apply_sample compares a table only UPDATEd on the columns its statements write: the values a
trigger, a foreign-key action or a generated column changes elsewhere are still caught."""

from __future__ import annotations

import pytest

from ci.apply_sample import main
from tests.conftest import WriteTree

BASE: dict[str, str | bytes] = {
    "m/schema/0001_wards.sql": (
        "CREATE TABLE wards (id INTEGER PRIMARY KEY, code TEXT UNIQUE, label TEXT,\n"
        "    shout TEXT GENERATED ALWAYS AS (upper(label)) VIRTUAL);\n"
        "CREATE TABLE beds (id INTEGER PRIMARY KEY,\n"
        "    ward_code TEXT REFERENCES wards (code) ON UPDATE CASCADE, note TEXT);\n"
        "CREATE TRIGGER wards_label AFTER UPDATE OF label ON wards BEGIN\n"
        "    UPDATE beds SET note = new.label WHERE ward_code = new.code;\n"
        "END;\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE beds;\nDROP TABLE wards;\n",
    "sample.sql": (
        "-- @sample-version 1\n"
        "INSERT INTO wards (id, code, label) VALUES (1, 'a', 'east'), (2, 'b', 'west');\n"
        "INSERT INTO beds (id, ward_code, note) VALUES (1, 'a', 'x'), (2, 'b', 'y');\n"
    ),
}


def check(write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str) -> str:
    root = write_tree({**BASE, "m/data/0002_change.sql": migration})
    code = main(["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql")])
    out = capsys.readouterr().out
    assert code == (1 if " MG3" in out else 0), out
    return out


def test_values_a_trigger_writes_are_compared(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(
        write_tree, capsys, "-- @rewrites wards(label, shout)\nUPDATE wards SET label = 'n';\n"
    )
    assert "MG312 table beds: values changed" in out
    assert "note: 2 rows (id=1: 'x' -> 'n', id=2: 'y' -> 'n')" in out
    assert "table wards" not in out  # declared


def test_values_a_cascade_writes_are_compared(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(
        write_tree, capsys, "-- @rewrites wards(code)\nUPDATE wards SET code = 'z' || code;\n"
    )
    assert "MG312 table beds: values changed" in out
    assert "ward_code: 2 rows (id=1: 'a' -> 'za', id=2: 'b' -> 'zb')" in out


def test_a_generated_column_is_compared_with_the_column_it_follows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(
        write_tree,
        capsys,
        "-- @rewrites wards(label)\n-- @rewrites beds(note)\nUPDATE wards SET label = 'n';\n",
    )
    assert "MG312 table wards: values changed" in out
    assert "shout: 2 rows (id=1: 'EAST' -> 'N', id=2: 'WEST' -> 'N')" in out


def test_an_index_alone_passes(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> None:
    out = check(write_tree, capsys, "CREATE INDEX beds_note ON beds (note);\n")
    assert "MG3" not in out
