"""ci.apply_sample: failures only sample data shows, row loss, and the user's files untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.apply_empty import main as apply_empty
from ci.apply_sample import main
from ci.core.model import discover
from ci.db import runner
from tests.conftest import REPO, WriteTree, run_module

BASE: dict[str, str | bytes] = {
    "m/schema/0001_patients.sql": (
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT, name TEXT);\n"
    ),
    "m/schema/0002_vitals.sql": (
        "CREATE TABLE vitals (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    patient_id INTEGER REFERENCES patients (id),\n"
        "    value REAL\n"
        ");\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
    "m/rollback/0002_rollback.sql": "DROP TABLE vitals;\n",
    "m/rollback/0003_rollback.sql": "SELECT 1;\n",
    "sample.sql": (
        "-- @sample-version 2\n"
        "INSERT INTO patients (id, mrn, name) VALUES\n"
        "    (1, 'M1', 'Ada'), (2, 'M2', 'Bob'), (3, 'M2', 'Bob again');\n"
        "INSERT INTO vitals (patient_id, value) VALUES (1, 1.0), (1, 1.5), (2, 2.5), (3, 3.5);\n"
    ),
}


def run(root: Path, *args: str, sample: str = "sample.sql") -> int:
    return main(["--migrations-dir", str(root / "m"), "--sample", str(root / sample), *args])


def empty(root: Path) -> int:
    return apply_empty(["--migrations-dir", str(root / "m")])


@pytest.mark.parametrize(
    ("migration", "error"),
    [
        (
            "-- one MRN per patient\nCREATE UNIQUE INDEX idx_patients_mrn ON patients (mrn);\n",
            "2: MG301 UNIQUE constraint failed: patients.mrn",
        ),
        (
            "ALTER TABLE patients ADD COLUMN ward TEXT NOT NULL;\n",
            "1: MG301 Cannot add a NOT NULL column with default value NULL",
        ),
        (
            "CREATE TABLE v2 (id INTEGER PRIMARY KEY, patient_id INTEGER,\n"
            "    value REAL CHECK (value >= 2));\n"
            "INSERT INTO v2 SELECT * FROM vitals;\n",
            "3: MG301 CHECK constraint failed: value >= 2",
        ),
    ],
)
def test_a_migration_that_fails_only_on_sample_data(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str, error: str
) -> None:
    root = write_tree({**BASE, "m/schema/0003_change.sql": migration})
    assert empty(root) == 0
    capsys.readouterr()
    assert run(root) == 1
    out = capsys.readouterr().out
    assert f"{root / 'm/schema/0003_change.sql'}:{error}" in out


def test_a_data_migration_that_loses_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {**BASE, "m/data/0003_prune.sql": "DELETE FROM vitals WHERE value < 2 OR value > 3;\n"}
    )
    assert empty(root) == 0
    capsys.readouterr()
    assert run(root) == 1
    out = capsys.readouterr().out
    assert (
        f"{root / 'm/data/0003_prune.sql'}:1: MG308 table vitals: 3 rows lost "
        "(id=1, id=2, id=4) in 0003 on the "
        f"sample {root / 'sample.sql'}. To fix: keep the rows or declare "
        "-- @allow-row-loss vitals" in out
    )


def test_declared_row_loss_passes(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            **BASE,
            "m/data/0003_prune.sql": (
                "-- @allow-row-loss vitals\nDELETE FROM vitals WHERE value < 2;\n"
            ),
        }
    )
    assert run(root) == 0


def test_a_dropped_table_loses_its_rows_but_a_rebuild_does_not(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    rebuild = (
        "PRAGMA foreign_keys = OFF;\n"
        "CREATE TABLE vitals_new (id INTEGER PRIMARY KEY, patient_id INTEGER, value REAL);\n"
        "INSERT INTO vitals_new SELECT * FROM vitals;\n"
        "DROP TABLE vitals;\n"
        "ALTER TABLE vitals_new RENAME TO vitals;\n"
    )
    root = write_tree({**BASE, "m/schema/0003_rebuild.sql": rebuild})
    assert run(root) == 0
    capsys.readouterr()
    root = write_tree(
        {
            "m/schema/0003_rebuild.sql": "SELECT 1;\n",
            "m/schema/0004_drop.sql": "DROP TABLE vitals;\n",
            "m/rollback/0004_rollback.sql": "SELECT 1;\n",
        }
    )
    assert run(root) == 1
    assert "MG308 table vitals: 4 rows lost (table dropped) in 0004" in capsys.readouterr().out


def make_database(root: Path, *, version: int) -> Path:
    """A real application database at `version`, with rows."""
    db = root / "app.db"
    conn = runner.connect(db)
    try:
        runner.Runner(conn, discover(root / "m")).migrate(target=version)
        conn.execute("INSERT INTO patients (id, mrn) VALUES (1, 'M1'), (2, 'M1')")
        conn.execute("INSERT INTO vitals (patient_id, value) VALUES (1, 1.0), (2, 2.0)")
    finally:
        conn.close()
    return db


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_database_sample_is_copied_and_left_byte_identical(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {**BASE, "m/schema/0003_unique.sql": "CREATE UNIQUE INDEX ux ON patients (mrn);\n"}
    )
    db = make_database(root, version=2)
    before = digest(db)
    listing = sorted(p.name for p in root.iterdir())
    assert run(root, sample="app.db") == 1  # the duplicate MRN breaks 0003 on the copy
    assert "UNIQUE constraint failed: patients.mrn" in capsys.readouterr().out
    assert digest(db) == before
    assert sorted(p.name for p in root.iterdir()) == listing  # no -wal, -journal, copies
    (root / "m/schema/0003_unique.sql").write_text("CREATE INDEX ix ON patients (mrn);\n")
    assert run(root, sample="app.db") == 0
    assert digest(db) == before


def test_a_wal_database_is_read_with_its_wal_and_left_alone(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {**BASE, "m/schema/0003_unique.sql": "CREATE UNIQUE INDEX ux ON patients (mrn);\n"}
    )
    db = root / "live.db"
    app = runner.connect(db)  # the application, still running: its rows are in live.db-wal
    try:
        app.execute("PRAGMA journal_mode = WAL")
        runner.Runner(app, discover(root / "m")).migrate(target=2)
        app.execute("INSERT INTO patients (id, mrn) VALUES (1, 'M1'), (2, 'M1')")
        files = {p.name: digest(p) for p in root.iterdir() if p.name.startswith("live.db")}
        assert set(files) == {"live.db", "live.db-wal", "live.db-shm"}
        assert run(root, sample="live.db") == 1
        assert "UNIQUE constraint failed: patients.mrn" in capsys.readouterr().out
        assert {p.name: digest(p) for p in root.iterdir() if p.name.startswith("live.db")} == (
            files
        )
    finally:
        app.close()


def test_a_fixture_that_does_not_load_names_its_line(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/schema/0003_x.sql": "SELECT 1;\n",
            "sample.sql": "-- @sample-version 2\n\nINSERT INTO patients (nope) VALUES (1);\n",
        }
    )
    assert run(root) == 1
    out = capsys.readouterr().out
    assert f"{root / 'sample.sql'}:3: MG309 the sample fixture does not load at version 0002" in out


@pytest.mark.parametrize(
    ("sample", "content", "message"),
    [
        ("bad.db", b"this is not a database at all, just text", "bad.db: not a SQLite database"),
        ("plain.sql", b"INSERT INTO patients VALUES (1, 'M', 'n');\n", "plain.sql:1: a sample"),
        ("future.sql", b"-- @sample-version 9\nSELECT 1;\n", "the highest migration is 0002"),
        ("data.csv", b"a,b\n", "a sample is a .sql fixture or a .db/.sqlite database"),
        ("binary.sql", b"-- @sample-version 1\n\x00\x01", "binary file"),
        ("empty.db", b"", "empty.db: the sample database is empty (0 bytes); point --sample at"),
        ("empty.sql", b"", "empty.sql: the sample fixture is empty (0 bytes)"),
    ],
)
def test_bad_samples_are_one_line_exit_2(
    write_tree: WriteTree, sample: str, content: bytes, message: str
) -> None:
    root = write_tree({**BASE, sample: content})
    done = run_module("ci.apply_sample", "--migrations-dir", "m", "--sample", sample, cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def _directory(path: Path) -> None:
    path.mkdir()


def _dangling_symlink(path: Path) -> None:
    path.symlink_to("gone.db")


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # opening it to read would block until a writer comes: never opened


@pytest.mark.parametrize("check", ["ci.apply_sample", "ci.rollback_roundtrip"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_directory, "app.db: the sample is a directory; --sample takes a .sql fixture"),
        (_dangling_symlink, "app.db: the sample is a broken symbolic link (to gone.db: "),
        (_fifo, "app.db: the sample is a FIFO (named pipe); --sample takes a .sql fixture"),
    ],
    ids=["directory", "dangling_symlink", "fifo"],
)
def test_a_sample_that_is_not_a_file_is_one_line_exit_2(
    write_tree: WriteTree, check: str, make: Callable[[Path], None], message: str
) -> None:
    root = write_tree(BASE)
    make(root / "app.db")
    done = subprocess.run(
        [sys.executable, "-m", check, "--migrations-dir", "m", "--sample", "app.db"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO that is opened blocks: the test fails instead of hanging
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (root / "gone.db").exists()


def locked_run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ci.apply_sample", "--migrations-dir", "m", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


LOCKS = {
    "begin_exclusive": ["BEGIN EXCLUSIVE"],
    # an application that keeps its lock between transactions: held from its first write on
    "exclusive_locking_mode": [
        "PRAGMA locking_mode = EXCLUSIVE",
        "INSERT INTO patients (id, mrn) VALUES (99, 'M99')",
    ],
}


@pytest.mark.parametrize("lock", LOCKS)
@pytest.mark.parametrize("where", ["flag", "config"])
def test_a_locked_sample_gives_up_after_the_busy_timeout(
    write_tree: WriteTree, lock: str, where: str
) -> None:
    root = write_tree(BASE)
    db = make_database(root, version=2)
    before = digest(db)
    args = ["--sample", "app.db"]
    if where == "flag":
        args += ["--busy-timeout", "0.2"]
    else:
        (root / "migration-guard.yaml").write_text("busy_timeout: 0.2\n", encoding="utf-8")
    holder = sqlite3.connect(db, isolation_level=None)  # another process's lock, in effect
    try:
        for statement in LOCKS[lock]:
            holder.execute(statement)
        done = locked_run(root, *args)
    finally:
        holder.close()  # reading the file in this process before would drop the lock
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "apply_sample: app.db: locked by another process; gave up after waiting 0.2 s "
        "(see --busy-timeout)"
    )
    if lock == "begin_exclusive":
        assert digest(db) == before


def test_an_open_write_transaction_does_not_block_the_copy(write_tree: WriteTree) -> None:
    """A writer that has not committed holds a RESERVED lock: the copy reads the last commit."""
    root = write_tree(
        {**BASE, "m/schema/0003_unique.sql": "CREATE UNIQUE INDEX ux ON patients (mrn);\n"}
    )
    db = make_database(root, version=2)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("DELETE FROM patients WHERE id = 2")  # would make 0003 pass: not seen
        done = locked_run(root, "--sample", "app.db", "--busy-timeout", "0.2")
    finally:
        holder.rollback()
        holder.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNIQUE constraint failed: patients.mrn" in done.stdout


CRASHING_WRITER = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 1")  # changed pages spill into the file before the commit
conn.execute("BEGIN")
conn.execute("DELETE FROM patients WHERE id = 2")
conn.executemany("INSERT INTO vitals (value) VALUES (?)", [(1.0,)] * 20000)
os._exit(0)  # killed mid-transaction: app.db-journal is left behind, hot
"""


def test_a_sample_a_crashed_writer_left_with_a_hot_journal_is_read_as_before_the_crash(
    write_tree: WriteTree,
) -> None:
    root = write_tree(
        {**BASE, "m/schema/0003_unique.sql": "CREATE UNIQUE INDEX ux ON patients (mrn);\n"}
    )
    db = make_database(root, version=2)
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(db)], check=True)
    journal = root / "app.db-journal"
    assert journal.stat().st_size > 0
    before = {p.name: digest(p) for p in (db, journal)}
    done = locked_run(root, "--sample", "app.db", "--busy-timeout", "0.2")
    # the copy was rolled back: patient 2 (a duplicate MRN) is there again, and 0003 fails
    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNIQUE constraint failed: patients.mrn" in done.stdout
    assert {p.name: digest(p) for p in (db, journal)} == before  # never rolled back in place


def test_busy_timeout_must_be_seconds(write_tree: WriteTree) -> None:
    root = write_tree(BASE)
    done = locked_run(root, "--sample", "sample.sql", "--busy-timeout", "-1")
    assert done.returncode == 2
    assert "--busy-timeout: expected seconds >= 0, got '-1'" in done.stderr


def test_a_missing_sample_and_missing_option(write_tree: WriteTree) -> None:
    root = write_tree(BASE)
    done = run_module("ci.apply_sample", "--migrations-dir", "m", "--sample", "no.db", cwd=root)
    assert done.returncode == 2 and "no.db: sample not found" in done.stderr
    done = run_module("ci.apply_sample", "--migrations-dir", "m", cwd=root)
    assert done.returncode == 2 and "--sample PATH is required" in done.stderr
    assert "or `sample:` in migration-guard.yaml" in done.stderr  # how it is set under pre-commit
    assert "Traceback" not in done.stderr


def test_the_worked_example_passes_on_its_sample() -> None:
    done = run_module(
        "ci.apply_sample",
        "--sample",
        "schema/sample/sample_data.sql",
        "--invariants",
        "schema/invariants.sql",
        "--schema-snapshot",
        "schema/schema.sql",
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
