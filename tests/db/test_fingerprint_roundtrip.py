"""The round trip's former false passes, end to end through `python -m ci.rollback_roundtrip`:
a rollback that renumbers rowids, leaves an AUTOINCREMENT counter higher, or leaves ANALYZE
statistics fails with the difference named; the rollback that undoes it passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WriteTree, run_module

BASE = {
    "m/schema/0001_base.sql": (
        "CREATE TABLE t (a TEXT);\n"
        "INSERT INTO t VALUES ('1'), ('2'), ('3'), ('4');\n"
        "DELETE FROM t WHERE a = '2';\n"
        "CREATE TABLE s (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT);\n"
        "INSERT INTO s (a) VALUES ('x'), ('y'), ('z');\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE t;\nDROP TABLE s;\n",
}
REBUILD_T = (
    "CREATE TABLE t2 (a TEXT{extra});\n"
    "INSERT INTO t2 ({columns}) SELECT {columns} FROM t;\n"
    "DROP TABLE t;\nALTER TABLE t2 RENAME TO t;\n"
)

CASES = [
    (
        "rowids",
        REBUILD_T.format(extra=", b TEXT", columns="rowid, a"),
        REBUILD_T.format(extra="", columns="a"),
        REBUILD_T.format(extra="", columns="rowid, a"),
        "table t: rows renumbered",
    ),
    (
        "autoincrement",
        "INSERT INTO s (a) VALUES ('w');\nDELETE FROM s WHERE a = 'w';\n",
        "SELECT 1;\n",
        "UPDATE sqlite_sequence SET seq = 3 WHERE name = 's';\n",
        "AUTOINCREMENT counter of s: 3 before, 4 after",
    ),
    (
        "analyze",
        "ANALYZE;\n",
        "SELECT 1;\n",
        "DROP TABLE sqlite_stat1;\n",
        "ANALYZE statistics of s left behind by the migration; "
        "ANALYZE statistics of t left behind by the migration",
    ),
]


@pytest.mark.parametrize(
    ("migration", "broken", "fixed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_rollback_that_does_not_restore_it_fails_and_the_fix_passes(
    write_tree: WriteTree, migration: str, broken: str, fixed: str, expected: str
) -> None:
    root: Path = write_tree(
        {**BASE, "m/schema/0002_x.sql": migration, "m/rollback/0002_rollback.sql": broken}
    )
    args = ("ci.rollback_roundtrip", "--migrations-dir", str(root / "m"), "--jobs", "1")
    done = run_module(*args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MG404 rolling back 0002 does not restore the empty database" in done.stdout
    assert expected in done.stdout, done.stdout
    (root / "m/rollback/0002_rollback.sql").write_text(fixed)
    done = run_module(*args)
    assert done.returncode == 0, done.stdout + done.stderr
