"""`python -m ci.migrate --dry-run`: its verdict is the real run's, and it changes nothing.

The dry run runs the real apply / rollback code on a private copy of the database, so it fails
if and only if the real run fails, on the same file and line. Proven on the worked example's
sample data, on a pre-existing orphan row, and by a property test over generated migration sets
and databases, each compared with a real run on a copy of the same database.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci.migrate import main
from tests.conftest import REPO, WriteTree, load_sample, run_module

EXAMPLE = REPO / "schema" / "migrations"


def state(db: Path) -> tuple[str, bytes, int, list[str]]:
    """What must not change: the .dump (log included), the bytes, the mtime, the directory."""
    conn = sqlite3.connect(db)
    try:
        everything = "\n".join(conn.iterdump())
    finally:
        conn.close()
    return everything, db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent))


def example_at_4_with_sample(tmp_path: Path) -> Path:
    """The worked example at version 4 holding schema/sample/sample_data.sql (as test_example)."""
    db = tmp_path / "db" / "monitor.db"
    db.parent.mkdir()
    done = run_module(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(EXAMPLE), "--target", "4",
        "--no-backup",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    load_sample(db)
    return db


def migrate_process(db: Path, *args: str, tmpdir: Path) -> tuple[int, str]:
    """`python -m ci.migrate` on the worked example, as a real process with its own TMPDIR."""
    done = subprocess.run(
        [sys.executable, "-m", "ci.migrate", "--db", str(db), "--migrations-dir", str(EXAMPLE),
         *args],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmpdir)},
        check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_dry_run_of_a_rollback_honours_the_files_leading_foreign_keys_off(
    tmp_path: Path,
) -> None:
    """0004's rollback rebuilds two tables under `PRAGMA foreign_keys = OFF`; the real rollback
    succeeds, so the dry run must say so (it said 'would FAIL 0004 ... FOREIGN KEY constraint
    failed': one transaction for everything could not turn foreign keys off)."""
    db = example_at_4_with_sample(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    before = state(db)
    code, out = migrate_process(db, "--dry-run", "--rollback", "1", tmpdir=scratch)
    assert code == 0, out
    assert "would FAIL" not in out
    assert "would roll back 0004" in out and "dry run: all 4 would succeed" in out
    assert state(db) == before
    assert os.listdir(scratch) == []  # the private copy is gone
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)
    code, out = migrate_process(copy, "--rollback", "1", "--no-backup", tmpdir=scratch)
    assert code == 0, out


def test_a_pre_existing_orphan_row_does_not_fail_a_harmless_create_index(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """The real run checks foreign keys only after a migration that turned them off; the dry run
    checked after every migration, so an orphan row from long ago failed a CREATE INDEX."""
    root = write_tree(
        {
            "m/schema/0001_tables.sql": (
                "CREATE TABLE p (id INTEGER PRIMARY KEY);\n"
                "CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p(id));\n"
            ),
            "m/schema/0002_index.sql": "CREATE INDEX c_pid ON c (pid);\n",
        }
    )
    db = tmp_path / "db" / "app.db"
    db.parent.mkdir()
    assert run(root, db, "--target", "1", "--no-backup")[0] == 0
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO c (pid) VALUES (42)")  # foreign keys are off by default here
    conn.commit()
    conn.close()
    before = state(db)
    code, out = run(root, db, "--dry-run")
    assert code == 0, out
    assert "would apply 0002" in out and "dry run: all 1 would succeed" in out
    assert state(db) == before
    code, out = run(root, db, "--no-backup")
    assert code == 0, out
    assert query_versions(db) == [1, 2]


def test_dry_run_on_a_missing_database_creates_nothing(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree({"m/schema/0001_t.sql": "PRAGMA foreign_keys = OFF;\nCREATE TABLE t (x);\n"})
    db = tmp_path / "db" / "new.db"
    db.parent.mkdir()
    code, out = run(root, db, "--dry-run")
    assert code == 0, out
    assert "would apply 0001" in out
    assert os.listdir(db.parent) == []


def test_a_file_the_real_run_refuses_is_refused_by_the_dry_run_too(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """A badly named file stops the real run before anything; the dry run only warned and
    went on to say every migration would apply."""
    root = write_tree(
        {"m/schema/0001_t.sql": "CREATE TABLE t (x);\n", "m/schema/0002_Bad.sql": "SELECT 1;\n"}
    )
    db = tmp_path / "app.db"
    dry = verdict(*run(root, db, "--dry-run"))
    real = verdict(*run(root, db, "--no-backup"))
    assert dry == real
    assert dry[0] == 1 and dry[1] is not None and "0002_Bad.sql" in dry[1]


def test_a_dry_run_writes_no_file_through_attach(
    write_tree: WriteTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A @no-transaction ATTACH really runs in a real run; in the dry run it would write to a
    file outside the private copy, so it is refused there (the one verdict that differs)."""
    attach = "-- @no-transaction\nATTACH 'other.db' AS o;\nCREATE TABLE o.t (x);\n"
    root = write_tree({"m/schema/0001_attach.sql": attach})
    monkeypatch.chdir(tmp_path)  # where a relative ATTACH would create its file
    db = tmp_path / "app.db"
    code, out = run(root, db, "--dry-run")
    assert code == 1 and "0001_attach.sql:2: ATTACH is not allowed" in out, out
    assert not (tmp_path / "other.db").exists() and not db.exists()


def run(root: Path, db: Path, *args: str) -> tuple[int, str]:
    """`python -m ci.migrate` in this process (the property test runs it hundreds of times)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--db", str(db), "--migrations-dir", str(root / "m"), *args])
    return code, out.getvalue() + err.getvalue()


def query_versions(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT version FROM schema_version WHERE migration_type != 'seed' ORDER BY version"
        )
        return [int(v) for (v,) in rows]
    finally:
        conn.close()


# --- the property: dry run verdict == real run verdict ---------------------------------------

BASE_TABLES = (
    "CREATE TABLE p (id INTEGER PRIMARY KEY, u TEXT UNIQUE);\n"
    "CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p(id));\n"
    "INSERT INTO p (id, u) VALUES (1, 'a'), (2, 'b');\n"
    "INSERT INTO c (pid) VALUES (1), (1), (2);\n"
)
BASE_ROLLBACK = "DROP TABLE c;\nDROP TABLE p;\n"

# statements that succeed or fail depending on what came before and on foreign_keys
STATEMENTS = [
    "CREATE INDEX IF NOT EXISTS c_pid ON c (pid);",
    "INSERT INTO c (pid) VALUES (999);",  # an orphan: fails with foreign keys on
    "INSERT INTO p (u) VALUES ('a');",  # UNIQUE violation on an existing row
    "INSERT INTO p (u) VALUES ('fresh' || random());",
    "DELETE FROM p WHERE id = 1;",  # orphans c's rows
    "DELETE FROM c WHERE pid NOT IN (SELECT id FROM p);",  # removes orphans
    "UPDATE c SET pid = 2;",
    "CREATE TABLE IF NOT EXISTS extra (x);",
    "DROP TABLE IF EXISTS extra;",
    "SELEC 1;",  # syntax error
    "INSERT INTO nowhere VALUES (1);",
]
HEADERS = [
    "",
    "PRAGMA foreign_keys = OFF;\n",
    "PRAGMA foreign_keys = ON;\n",
    "-- @no-transaction\n",
    "-- @no-transaction\nPRAGMA foreign_keys = OFF;\n",
]
BATCH = (
    "-- @batch 2\n"
    "UPDATE c SET pid = 2 WHERE id IN (SELECT id FROM c WHERE pid IS NOT 2 LIMIT :batch_size);\n"
)


@dataclass(frozen=True)
class Scenario:
    orphan: bool  # a row of c without its parent before the run
    migrations: tuple[str, ...]  # 0002, 0003, ...
    rollbacks: tuple[str, ...]  # their rollback files
    rollback_to: int | None  # None: apply; else apply all first, then dry-run the rollback


def body(draw: st.DrawFn) -> str:
    header = draw(st.sampled_from(HEADERS))
    statements = draw(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=4))
    return header + "".join(s + "\n" for s in statements)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(min_value=1, max_value=3))
    migrations = tuple(BATCH if draw(st.integers(0, 9)) == 0 else body(draw) for _ in range(count))
    rollbacks = tuple(body(draw) for _ in range(count))
    rollback = draw(st.booleans())
    to = draw(st.integers(min_value=2, max_value=count + 1)) if rollback else None
    return Scenario(draw(st.booleans()), migrations, rollbacks, to)


def write_scenario(root: Path, scenario: Scenario) -> None:
    files = {"schema/0001_base.sql": BASE_TABLES, "rollback/0001_rollback.sql": BASE_ROLLBACK}
    for number, (sql, back) in enumerate(
        zip(scenario.migrations, scenario.rollbacks, strict=True), 2
    ):
        files[f"data/{number:04d}_step.sql"] = sql
        files[f"rollback/{number:04d}_rollback.sql"] = back
    for relative, text in files.items():
        path = root / "m" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def verdict(code: int, out: str) -> tuple[int, str | None]:
    """(exit code, the first problem: `path:line: message` or why the run was refused), as
    `would FAIL 0003: ...` (dry run) or `migrate: ...` (both) say it."""
    for line in out.splitlines():
        if line.startswith("would FAIL "):
            return code, line.split(": ", 1)[1]
        if line.startswith("migrate: "):
            return code, line.removeprefix("migrate: ")
    return code, None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_dry_run_fails_if_and_only_if_the_real_run_fails(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_scenario(root, scenario)
        db = root / "db" / "app.db"
        db.parent.mkdir()
        setup = ("--target", "1") if scenario.rollback_to is None else ()
        code, out = run(root, db, *setup, "--no-backup")
        # rolling back: whatever applied (a failure may leave a dirty mark; both runs refuse)
        assert code == 0 or scenario.rollback_to is not None, out
        if scenario.orphan:
            conn = sqlite3.connect(db)
            conn.execute("INSERT INTO c (pid) VALUES (77)")
            conn.commit()
            conn.close()
        action = () if scenario.rollback_to is None else ("--rollback", str(scenario.rollback_to))
        real_db = root / "real.db"
        shutil.copyfile(db, real_db)
        before = state(db)
        dry = verdict(*run(root, db, *action, "--dry-run"))
        assert state(db) == before
        real = verdict(*run(root, real_db, *action, "--no-backup"))
        assert dry == real, (dry, real)


# --- where the real run cannot run, neither can the dry run ----------------------------------

TWO = {
    "m/schema/0001_a.sql": "CREATE TABLE a (x);\n",
    "m/schema/0002_b.sql": "CREATE TABLE b (x);\n",
}


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make `folder` (holding a database) read-only as a mount is: for root, whom file modes
    do not stop, a tmpfs remounted read-only (skipped where mounting is not allowed)."""
    if os.geteuid() != 0:
        for path in [folder, *folder.iterdir()]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path in [folder, *folder.iterdir()]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        return
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only file system here")
    try:
        for name, data in saved.items():
            (folder / name).write_bytes(data)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def migrate(root: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_module(
        "ci.migrate", "--db", str(db), "--migrations-dir", str(root / "m"), "--no-backup", *args
    )


def test_dry_run_on_a_read_only_database_fails_as_the_real_run(write_tree: WriteTree) -> None:
    root = write_tree({"m/schema/0001_a.sql": TWO["m/schema/0001_a.sql"]})
    folder = root / "ro"
    folder.mkdir()
    db = folder / "app.db"
    assert migrate(root, db).returncode == 0
    (root / "m" / "schema" / "0002_b.sql").write_text(TWO["m/schema/0002_b.sql"])
    with read_only_folder(folder):
        dry = migrate(root, db, "--dry-run")
        real = migrate(root, db)
        nothing_to_do = migrate(root, db, "--dry-run", "--target", "1")
    assert real.returncode == 2
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert dry.stderr == real.stderr and "read-only" in dry.stderr
    assert nothing_to_do.returncode == 0  # as the real run: nothing to write, nothing refused


def test_dry_run_on_a_database_in_a_missing_folder_fails_as_the_real_run(
    write_tree: WriteTree,
) -> None:
    root = write_tree(TWO)
    db = root / "no-such-folder" / "app.db"
    dry = migrate(root, db, "--dry-run")
    real = migrate(root, db)
    assert real.returncode == 2 and dry.returncode == 2, dry.stdout + dry.stderr
    assert dry.stderr == real.stderr and str(db) in dry.stderr
    assert not db.parent.exists()


def test_dry_run_on_a_missing_database_says_the_run_would_create_it(
    write_tree: WriteTree,
) -> None:
    root = write_tree(TWO)
    db = root / "app.db"
    dry = migrate(root, db, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{db} does not exist; the real run would create it" in dry.stdout
    assert not db.exists()
