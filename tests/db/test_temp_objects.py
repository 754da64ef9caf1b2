"""A migration's temporary objects (TEMP tables, views, triggers) end with it: one run of several
migrations behaves as separate runs do, each on a fresh connection, in the runner and the checks.

Real SQLite files and real `python -m ci.*` processes; no mocks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS, WriteTree, run_on_tree

ACCOUNTS = (
    "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER);\nINSERT INTO acct VALUES (1, 0);\n"
)

# the second migration leaves a temporary object behind that would change what the third does
LEFTOVERS = {
    "temp table shadowing acct": "CREATE TEMP TABLE acct AS SELECT * FROM main.acct;\n"
    "CREATE TABLE acct_audit (n INTEGER);\nINSERT INTO acct_audit SELECT count(*) FROM acct;\n",
    "temp trigger on acct": "CREATE TEMP TRIGGER bump AFTER UPDATE ON main.acct "
    "WHEN new.bal < 1000 BEGIN UPDATE acct SET bal = bal + 10000; END;\n"
    "CREATE TABLE acct_audit (n INTEGER);\n",
    "temp view shadowing acct": "CREATE TEMP VIEW acct AS SELECT id, bal FROM main.acct;\n"
    "CREATE TEMP TRIGGER acct_upd INSTEAD OF UPDATE ON acct BEGIN SELECT 1; END;\n"
    "CREATE TABLE acct_audit (n INTEGER);\n",
}
NO_TRANSACTION = "-- @no-transaction\n"


def _tree(write_tree: WriteTree, leftover: str) -> Path:
    return write_tree(
        {
            f"{MIGRATIONS}/schema/0001_acct.sql": ACCOUNTS,
            f"{MIGRATIONS}/data/0002_temp.sql": leftover,
            f"{MIGRATIONS}/data/0003_credit.sql": "UPDATE acct SET bal = bal + 100;\n",
            f"{MIGRATIONS}/rollback/0003_rollback.sql": "UPDATE acct SET bal = bal - 100;\n",
            f"{MIGRATIONS}/rollback/0002_rollback.sql": "DROP TABLE acct_audit;\n",
            f"{MIGRATIONS}/rollback/0001_rollback.sql": "DROP TABLE acct;\n",
        }
    )


def _balance(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (bal,) = conn.execute("SELECT bal FROM acct WHERE id = 1").fetchone()
    return int(bal)


@pytest.mark.parametrize("directive", ["", NO_TRANSACTION], ids=["transaction", "no-transaction"])
@pytest.mark.parametrize("leftover", LEFTOVERS.values(), ids=LEFTOVERS.keys())
def test_one_run_changes_what_separate_runs_change(
    write_tree: WriteTree, tmp_path: Path, leftover: str, directive: str
) -> None:
    root = _tree(write_tree, directive + leftover)
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    done = run_on_tree("ci.migrate", root, "--db", str(one), "--no-backup")
    assert done.returncode == 0, done.stdout + done.stderr
    first = run_on_tree("ci.migrate", root, "--db", str(two), "--no-backup", "--target", "2")
    second = run_on_tree("ci.migrate", root, "--db", str(two), "--no-backup")
    assert first.returncode == 0 and second.returncode == 0, second.stdout + second.stderr
    assert _balance(two) == 100
    assert _balance(one) == 100


def test_a_failed_migration_leaves_no_temporary_objects(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """A @no-transaction file that fails after creating a temp table: whatever the same
    connection runs next must not see it."""
    from ci.db.runner import MigrationFailed
    from tests.conftest import make_runner

    root = write_tree(
        {
            f"{MIGRATIONS}/schema/0001_acct.sql": ACCOUNTS,
            f"{MIGRATIONS}/data/0002_temp.sql": NO_TRANSACTION
            + "CREATE TEMP TABLE acct AS SELECT * FROM main.acct;\nSELECT no_such_function();\n",
        }
    )
    runner, _ = make_runner(root, tmp_path / "db")
    with pytest.raises(MigrationFailed):
        runner.migrate()
    left = runner.conn.execute("SELECT name FROM sqlite_temp_master").fetchall()
    assert left == []


def test_apply_empty_sees_what_the_runner_does(write_tree: WriteTree) -> None:
    """The check fails the same way as a real run: an invariant sees the credit applied."""
    root = _tree(write_tree, LEFTOVERS["temp table shadowing acct"])
    invariants = root / "invariants.sql"
    invariants.write_text("-- invariant: credited\nSELECT id FROM acct WHERE bal <> 100;\n")
    done = run_on_tree("ci.apply_empty", root, "--invariants", str(invariants))
    assert done.returncode == 0, done.stdout + done.stderr


def test_temporary_objects_made_before_a_migration_are_kept(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """Only what the migration created is dropped: a --setup's (or the caller's) own temp
    objects stay."""
    from tests.conftest import make_runner

    root = _tree(write_tree, LEFTOVERS["temp trigger on acct"])
    runner, _ = make_runner(root, tmp_path / "db")
    runner.conn.execute("CREATE TEMP TABLE mine (x INTEGER)")
    runner.migrate()
    left = runner.conn.execute("SELECT name FROM sqlite_temp_master").fetchall()
    assert left == [("mine",)]


# --- temporary without saying so: on a --setup's temporary table -----------------------------

SETUP = {"mgsetup.py": "def setup(conn):\n    conn.execute('CREATE TEMP TABLE staging (v)')\n"}
# made by 0001 and made again by 0002: if 0001's is still there, 0002 fails ("already exists")
ON_STAGING = {
    "trigger": "CREATE TRIGGER wipe AFTER INSERT ON staging BEGIN DELETE FROM victims; END;\n",
    "index": "CREATE INDEX staging_v ON staging (v);\n",
    "view": "CREATE TEMP VIEW staged AS SELECT v FROM staging;\n",
}


@pytest.mark.parametrize("group", [[], ["--group"]], ids=["one by one", "group"])
@pytest.mark.parametrize("made", ON_STAGING.values(), ids=ON_STAGING.keys())
def test_objects_on_a_setup_temp_table_end_with_their_migration(
    write_tree: WriteTree, tmp_path: Path, made: str, group: list[str]
) -> None:
    """A trigger or index on a temporary table is temporary whatever the statement says (no
    TEMP in it): it must not fire in, or collide with, the next migration."""
    root = write_tree(
        {
            **SETUP,
            f"{MIGRATIONS}/schema/0001_a.sql": "CREATE TABLE victims (v);\n"
            "INSERT INTO victims VALUES (1), (2), (3);\n" + made,
            f"{MIGRATIONS}/data/0002_b.sql": "INSERT INTO staging VALUES ('loading');\n" + made,
        }
    )
    db = tmp_path / "db"
    done = run_on_tree(
        "ci.migrate", root, "--db", str(db), "--no-backup", "--setup", "mgsetup:setup", *group
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM victims").fetchone() == (3,)
