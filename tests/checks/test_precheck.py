"""`python -m ci.precheck`: integrity, foreign keys, size, journal mode, dirty marks; read-only."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ci.precheck import main
from tests.conftest import HEALTHY, make_db


def test_healthy_database_passes_and_is_described(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY)
    before = db.read_bytes()
    assert main(["--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "bytes (" in out and "journal_mode=delete" in out and "schema_version 0000" in out
    assert "OK precheck: 3 passed" in out
    assert db.read_bytes() == before


def test_orphan_rows_are_a_finding_naming_table_and_rowid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY + "INSERT INTO vitals VALUES (2, 99);")
    assert main(["--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "MG351" in out and "vitals rowid 2 references a missing row of patients" in out


def test_dirty_mark_is_a_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = make_db(
        tmp_path / "app.db",
        HEALTHY
        + "CREATE TABLE schema_version_log (id INTEGER PRIMARY KEY, logged_at TEXT, action TEXT,"
        " version INTEGER, migration_type TEXT, description TEXT, file_hash TEXT,"
        " execution_time_ms INTEGER, rows_affected INTEGER, error TEXT, cleared_at TEXT,"
        " applied_by TEXT);"
        "INSERT INTO schema_version_log (logged_at, action, version, migration_type, description,"
        " rows_affected) VALUES ('2026-01-01T00:00:00Z', 'dirty', 6, 'data', 'backfill', 500);",
    )
    assert main(["--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "MG352" in out and "0006 backfill" in out and "500 rows done" in out


def test_corrupt_database_is_an_integrity_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY + "CREATE INDEX patients_mrn ON patients (mrn);")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema = ON")
    # point the index at a different column: the index no longer matches the table
    conn.execute(
        "UPDATE sqlite_master SET sql = 'CREATE INDEX patients_mrn ON patients (id)' "
        "WHERE name = 'patients_mrn'"
    )
    conn.commit()
    conn.close()
    assert main(["--db", str(db)]) == 1
    assert "MG350" in capsys.readouterr().out


def test_missing_and_non_sqlite_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "nope.db")]) == 2
    assert "no such database file" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_text("not a database\n" * 100)
    assert main(["--db", str(junk)]) == 2
    assert capsys.readouterr().err.strip() == f"precheck: {junk}: not a SQLite database"


def test_hot_journal_of_a_crashed_writer_is_rolled_back_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY)
    crash = (
        "import os, signal, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 10')\n"
        "c.execute('BEGIN')\n"
        "rows = (('x' * 500,) for _ in range(5000))\n"
        "c.executemany('INSERT INTO patients (mrn) VALUES (?)', rows)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", crash, str(db)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert Path(f"{db}-journal").exists()
    assert main(["--db", str(db)]) == 0
    assert "OK precheck: 3 passed" in capsys.readouterr().out
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM patients").fetchone() == (1,)
    conn.close()


CHECKED = (
    "CREATE TABLE c (id INTEGER PRIMARY KEY, x INTEGER CHECK (x > 0), y TEXT,"
    " note TEXT DEFAULT 'check (', CONSTRAINT y_short CHECK (length(y) < 5 /* a ) */));"
    "CREATE TABLE w (k TEXT PRIMARY KEY, n INT CHECK(n <> 0)) WITHOUT ROWID;"
    "INSERT INTO c VALUES (1, 1, 'ok', NULL);"
    "INSERT INTO w VALUES ('a', 1);"
)


def violate_checks(db: Path, *statements: str) -> None:
    """Rows that break a CHECK constraint, written the way a leaked pragma lets them in."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    for statement in statements:
        conn.execute(statement)
    conn.close()


@pytest.mark.parametrize("command", [("ci.precheck",), ("ci.postcheck", "--expect-version", "0")])
def test_rows_breaking_a_check_constraint_fail_the_integrity_check(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Opened read-only, SQLite's own integrity_check skips CHECK constraints: the checks
    verify them themselves, naming the table and the constraint, and write nothing."""
    db = make_db(tmp_path / "app.db", CHECKED)
    violate_checks(
        db,
        "INSERT INTO c VALUES (2, -5, 'ok', NULL)",
        "INSERT INTO c VALUES (3, 1, 'toolong', NULL)",
        "INSERT INTO w VALUES ('b', 0)",
    )
    before = db.read_bytes()
    module, *rest = command
    done = subprocess.run(
        [sys.executable, "-m", module, "--db", str(db), *rest],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MG350" in done.stdout
    assert "CHECK constraint failed in c: x > 0 (rowid 2)" in done.stdout
    assert "CHECK constraint y_short failed in c: length(y) < 5" in done.stdout
    assert "CHECK constraint failed in w: n <> 0" in done.stdout
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_check_constraints_that_hold_pass(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", CHECKED + "INSERT INTO c VALUES (2, NULL, NULL, NULL);")
    assert main(["--db", str(db)]) == 0


def test_the_config_file_is_honoured_like_every_other_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """migration-guard.yaml gives precheck its options (`format`; a key of other checks, such
    as `base_ref`, is not an error); a flag still wins."""
    db = make_db(tmp_path / "app.db", HEALTHY)
    (tmp_path / "migration-guard.yaml").write_text("format: json\nbase_ref: origin/main\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert '"summary": "OK precheck: 3 passed"' in out  # the JSON report
    assert main(["--db", str(db), "--format", "text"]) == 0
    assert "OK precheck: 3 passed" in capsys.readouterr().out


def test_a_bad_config_file_stops_precheck_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY)
    (tmp_path / "migration-guard.yaml").write_text("busy_timeout: soon\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["--db", str(db)])
    assert exited.value.code == 2
    assert "migration-guard.yaml: busy_timeout: invalid value 'soon'" in capsys.readouterr().err
