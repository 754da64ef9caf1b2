"""Output files (--junit, --write-snapshot's file) never replace a file of another kind.

A typo such as `--junit $DB` must not turn a database (or a migration) into a JUnit report: an
existing file is replaced only if it is empty or is already a report of that kind, and the
refusal is one line and exit 2 before any check runs.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO, run_module

MIGRATION = "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"


def make_db(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    return path.read_bytes()


def migrations(root: Path) -> Path:
    (root / "m" / "schema").mkdir(parents=True)
    (root / "m" / "schema" / "0001_t.sql").write_text(MIGRATION)
    (root / "m" / "rollback").mkdir()
    (root / "m" / "rollback" / "0001_rollback.sql").write_text("DROP TABLE t;\n")
    return root / "m"


@pytest.mark.parametrize(
    "command",
    [
        ("ci.precheck", "--db", "{db}"),
        ("ci.postcheck", "--db", "{db}", "--expect-version", "0"),
        ("ci.checksums", "--migrations-dir", "{m}"),
        ("ci.apply_empty", "--migrations-dir", "{m}"),
        ("ci", "--migrations-dir", "{m}", "--checks", "numbering"),
    ],
)
def test_junit_pointed_at_a_database_is_refused_and_the_database_kept(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    db = tmp_path / "db"
    before = make_db(db)
    m = migrations(tmp_path)
    module, *args = (a.format(db=db, m=m) for a in command)
    done = run_module(module, *args, "--junit", str(db))
    assert done.returncode == 2, done.stdout + done.stderr
    assert db.read_bytes() == before
    (line,) = done.stderr.strip().splitlines()
    assert str(db) in line
    assert "not a JUnit report" in line or "the database this command reads" in line
    assert "Traceback" not in done.stderr


def test_junit_pointed_at_a_migration_is_refused(tmp_path: Path) -> None:
    m = migrations(tmp_path)
    migration = m / "schema" / "0001_t.sql"
    done = run_module("ci.numbering", "--migrations-dir", str(m), "--junit", str(migration))
    assert done.returncode == 2
    assert migration.read_text() == MIGRATION
    assert str(migration) in done.stderr


def test_junit_inside_the_migrations_dir_or_equal_to_the_sample_is_refused(
    tmp_path: Path,
) -> None:
    m = migrations(tmp_path)
    inside = m / "report.xml"  # does not exist yet: still refused, it would become a "migration"
    done = run_module("ci.numbering", "--migrations-dir", str(m), "--junit", str(inside))
    assert done.returncode == 2
    assert not inside.exists()
    assert "migrations directory" in done.stderr
    sample = tmp_path / "sample.db"
    before = make_db(sample)
    done = run_module(
        "ci.apply_sample", "--migrations-dir", str(m), "--sample", str(sample), "--junit",
        str(sample),
    )  # fmt: skip
    assert done.returncode == 2
    assert sample.read_bytes() == before


OLD_REPORTS = ["", "\ufeff  \n<?xml version='1.0'?><testsuites/>", "<testsuites>"]


@pytest.mark.parametrize("old", OLD_REPORTS)
def test_an_empty_file_or_a_previous_report_is_replaced(tmp_path: Path, old: str) -> None:
    m = migrations(tmp_path)
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    report.write_text(old, encoding="utf-8")
    done = run_module("ci.numbering", "--migrations-dir", str(m), "--junit", str(report))
    assert done.returncode == 0, done.stderr
    assert report.read_text(encoding="utf-8").startswith("<?xml")
    assert [p.name for p in report.parent.iterdir()] == ["junit.xml"]  # no temporary file left


def test_write_snapshot_refuses_a_file_that_is_not_a_snapshot(tmp_path: Path) -> None:
    m = migrations(tmp_path)
    notes = tmp_path / "notes.sql"
    notes.write_text("-- my notes, not a snapshot\n")
    done = run_module(
        "ci.apply_empty", "--migrations-dir", str(m), "--schema-snapshot", str(notes),
        "--write-snapshot",
    )  # fmt: skip
    assert done.returncode == 2
    assert notes.read_text() == "-- my notes, not a snapshot\n"
    assert str(notes) in done.stderr
    fresh = tmp_path / "schema.sql"
    done = run_module(
        "ci.apply_empty", "--migrations-dir", str(m), "--schema-snapshot", str(fresh),
        "--write-snapshot",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = run_module(
        "ci.apply_empty", "--migrations-dir", str(m), "--schema-snapshot", str(fresh),
        "--write-snapshot",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr


# --- what the path is: symlink, device, FIFO, anything else ----------------------------------

CHECKS = [
    ("ci.precheck", "--db", "{db}"),
    ("ci.checksums", "--migrations-dir", "{m}"),
    ("ci.apply_empty", "--migrations-dir", "{m}"),
]


def command_line(tmp_path: Path, command: tuple[str, ...]) -> list[str]:
    """`python -m CHECK ...` with a real database and migrations directory under tmp_path."""
    db = tmp_path / "db"
    if not db.exists():
        make_db(db)
    m = tmp_path / "m"
    if not m.exists():
        migrations(tmp_path)
        run_module("ci.checksums", "--migrations-dir", str(m), "--update", check=True)
    return [sys.executable, "-m", *(a.format(db=db, m=m) for a in command)]


def run_with_safety_net(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """A hang is the bug some of these tests look for: the timeout only ends the test, it is
    not a measurement."""
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def make_null_device(path: Path) -> None:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as error:
        pytest.skip(f"cannot create a device node here ({error.strerror}); needs root")


@pytest.mark.parametrize("command", CHECKS)
def test_a_character_device_is_written_through_and_stays_a_device(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    device = tmp_path / "null"
    make_null_device(device)
    done = run_with_safety_net([*command_line(tmp_path, command), "--junit", str(device)])
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_a_terminal_receives_the_report(tmp_path: Path) -> None:
    controller, terminal = os.openpty()
    try:
        name = os.ttyname(terminal)
        done = run_with_safety_net(
            [*command_line(tmp_path, CHECKS[0]), "--junit", name]
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert stat.S_ISCHR(os.stat(name).st_mode)
        received = os.read(controller, 65536)
        assert b"<testsuites" in received
    finally:
        os.close(terminal)
        os.close(controller)


def read_fifo_in_background(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as reader:  # waits for the writer, then reads to its end
            received.append(reader.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, received


@pytest.mark.parametrize("command", CHECKS)
def test_a_fifo_is_written_through_and_never_read(tmp_path: Path, command: tuple[str, ...]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    thread, received = read_fifo_in_background(fifo)
    done = run_with_safety_net([*command_line(tmp_path, command), "--junit", str(fifo)])
    thread.join(timeout=120)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received and received[0].startswith(b"<?xml")


def test_a_snapshot_can_be_written_into_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    thread, received = read_fifo_in_background(fifo)
    argv = command_line(tmp_path, CHECKS[2])
    done = run_with_safety_net([*argv, "--schema-snapshot", str(fifo), "--write-snapshot"])
    thread.join(timeout=120)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received and b"CREATE TABLE t" in received[0]


def test_a_symlink_to_a_report_keeps_being_a_link(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "junit.xml"
    report.parent.mkdir()
    report.write_text("<?xml version='1.0'?><testsuites/>")
    link = tmp_path / "junit-link.xml"
    link.symlink_to(report)
    done = run_with_safety_net([*command_line(tmp_path, CHECKS[0]), "--junit", str(link)])
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == report.resolve()
    assert "precheck" in report.read_text()
    assert sorted(p.name for p in report.parent.iterdir()) == ["junit.xml"]


def test_a_symlink_to_standard_output_writes_the_report_there(tmp_path: Path) -> None:
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    done = run_with_safety_net([*command_line(tmp_path, CHECKS[0]), "--junit", str(link)])
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert "<testsuites" in done.stdout


def test_a_hard_link_to_the_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "db"
    before = make_db(db)
    hard = tmp_path / "report.xml"
    os.link(db, hard)
    done = run_module("ci.precheck", "--db", str(db), "--junit", str(hard))
    assert done.returncode == 2
    assert db.read_bytes() == before
    assert "the database this command reads" in done.stderr


def test_a_socket_or_a_directory_is_refused_before_the_check(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir()
    sock = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        for path in (directory, sock):
            done = run_with_safety_net(
                [*command_line(tmp_path, CHECKS[0]), "--junit", str(path)]
            )  # fmt: skip
            assert done.returncode == 2, done.stdout + done.stderr
            (line,) = done.stderr.strip().splitlines()
            assert str(path) in line
            assert done.stdout == ""  # refused before the check ran
        assert stat.S_ISSOCK(sock.lstat().st_mode) and directory.is_dir()
    finally:
        server.close()


def test_a_refusal_found_only_when_writing_exits_2(tmp_path: Path) -> None:
    # The same file given for the snapshot and the report: it is missing when the run starts,
    # then the snapshot is written there, so the report's turn finds a file that is not one.
    shared = tmp_path / "out.txt"
    argv = command_line(tmp_path, CHECKS[2])
    done = run_with_safety_net(
        [*argv, "--schema-snapshot", str(shared), "--write-snapshot", "--junit", str(shared)]
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not a JUnit report" in done.stderr
    assert shared.read_text().startswith("-- Schema snapshot")
