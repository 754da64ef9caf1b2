"""Every check, as a real process, against a corpus of bad input (nothing lost, nothing silent).

Each case is a small repository (a valid migration 0001 and its rollback, plus one bad thing) or a
bad database. For every check the case concerns, the process must exit 1 or 2, print no traceback,
name the offending file in its output, and leave every file of the user's repository (and any
database it was given) byte-identical. Checks a case does not concern must still not crash (exit
0, 1 or 2, no traceback, nothing changed).

Most inputs are generated here at test time because git cannot hold them (a FIFO, a symlink loop,
a 50 MB file, a locked or immutable database). Tests run as root in CI, where `chmod 000` does not
stop reads: unreadable files are made with what fails for root too (a symlink loop, a dangling
symlink, a FIFO), and the `chmod 000` case itself runs only when the tests are not root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import MIGRATIONS

STATIC = ("numbering", "checksums", "lint")
APPLYING = ("apply_empty", "apply_sample", "rollback_roundtrip", "migrate")
ALL_FILE_CHECKS = (*STATIC, *APPLYING)
TIMEOUT = 120  # a check that blocks (e.g. reading a FIFO) fails the test instead of hanging it

BASE: dict[str, bytes] = {
    f"{MIGRATIONS}/schema/0001_create_t.sql": (
        b"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\n"
    ),
    f"{MIGRATIONS}/rollback/0001_rollback.sql": b"DROP TABLE t;\n",
}
ROLLBACK_2 = (f"{MIGRATIONS}/rollback/0002_rollback.sql", b"DELETE FROM t WHERE id = 10;\n")


@dataclass
class Case:
    """One bad input: files to add to the base tree (or a hook that makes them)."""

    name: str
    files: dict[str, bytes] = field(default_factory=dict)
    make: Callable[[Path], None] | None = None
    culprit: str = ""  # the path (relative to the repo) every concerned check must name
    concerned: tuple[str, ...] = ALL_FILE_CHECKS  # checks that must exit 1 or 2
    skip: str | None = None
    checks: tuple[str, ...] = ALL_FILE_CHECKS  # checks to run (the 50 MB file: a few)
    migrate_creates: tuple[str, ...] = ()  # files `ci.migrate` may create (the user asked for)


def _file(
    name: str, data: bytes, *, folder: str = "schema", concerned: tuple[str, ...] | None = None
) -> Case:
    """A case that adds one migration file 0002 (and its rollback) with these bytes."""
    path = f"{MIGRATIONS}/{folder}/0002_bad.sql"
    files = {path: data, ROLLBACK_2[0]: ROLLBACK_2[1]}
    return Case(name, files, culprit=path, concerned=CONTENT if concerned is None else concerned)


def _symlink_loop(root: Path) -> None:
    link = root / MIGRATIONS / "schema" / "0002_loop.sql"
    link.symlink_to(link.name)  # points at itself: ELOOP for root too


def _dangling(root: Path) -> None:
    (root / MIGRATIONS / "schema" / "0002_gone.sql").symlink_to("0002_missing_target.sql")


def _escaping(root: Path) -> None:
    outside = root.parent / "outside.sql"
    outside.write_bytes(b"CREATE TABLE leaked (id INTEGER);\n")
    (root / MIGRATIONS / "schema" / "0002_escape.sql").symlink_to(outside)


def _fifo(root: Path) -> None:
    os.mkfifo(root / MIGRATIONS / "schema" / "0002_fifo.sql")


def _chmod_000(root: Path) -> None:
    (root / MIGRATIONS / "schema" / "0002_secret.sql").chmod(0)


def _sql_dir(root: Path) -> None:
    (root / MIGRATIONS / "schema" / "0002_folder.sql").mkdir()
    (root / MIGRATIONS / "schema" / "0002_folder.sql" / "inner.sql").write_bytes(b"SELECT 1;\n")


def _huge(root: Path) -> None:
    line = b"INSERT INTO t (name) VALUES ('row; with a semicolon and some padding text');\n"
    (root / MIGRATIONS / "schema" / "0002_huge.sql").write_bytes(line * (50_000_000 // len(line)))
    (root / ROLLBACK_2[0]).write_bytes(b"DELETE FROM t;\n")


CONTENT = ("lint", *APPLYING)  # checks that read a migration's SQL
NAMES = ("numbering", "migrate")  # checks that refuse a directory they cannot place every file of

CASES = [
    _file("non_utf8", b"INSERT INTO t (name) VALUES ('caf\xe9');\n", folder="data"),
    _file("binary", b"SQLite format 3\x00\x10\x00\x01\x01\x00@  \x00\x00\x00\x01"),
    _file("syntax_error", b"CREATE TABLE u (id INTEGER);\nCREATE TABLEE v (id INTEGER);\n"),
    _file(
        "fails_at_run_time",  # valid SQL that lint has nothing to say about
        b"INSERT INTO t (id, name) VALUES (10, 'a');\nINSERT INTO t (id, name) VALUES (10, 'b');\n",
        folder="data",
        concerned=APPLYING,
    ),
    _file(
        "mid_file_commit",
        b"INSERT INTO t (id, name) VALUES (10, 'a');\nCOMMIT;\nINSERT INTO nowhere VALUES (1);\n",
        folder="data",
    ),
    Case(
        "attach",
        {
            f"{MIGRATIONS}/schema/0002_bad.sql": (
                b"ATTACH DATABASE 'attached.db' AS other;\nCREATE TABLE other.x (id INT);\n"
            ),
            ROLLBACK_2[0]: ROLLBACK_2[1],
        },
        culprit=f"{MIGRATIONS}/schema/0002_bad.sql",
        # the checks refuse it; the runner itself does what the user's SQL says
        concerned=("lint", "apply_empty", "apply_sample", "rollback_roundtrip"),
        migrate_creates=("attached.db",),
    ),
    _file(  # issue 13: a spelling a pattern missed really committed half the migration
        "commit_transaction_with_a_name",
        b"INSERT INTO t (id, name) VALUES (10, 'a');\n/* done */ Commit -- now\nTRANSACTION tx;\n"
        b"INSERT INTO nowhere VALUES (1);\n",
        folder="data",
    ),
    _file(  # issue 13: passed the checks, while a new connection found the schema malformed
        "writable_schema_edit",
        b"PRAGMA writable_schema = ON;\nUPDATE sqlite_master SET sql = replace(sql, 'INTEGER "
        b"PRIMARY KEY', 'TEXT PRIMARY KEY') WHERE name = 't';\nPRAGMA writable_schema = OFF;\n",
    ),
    _file(  # hostile pass: the lost ';' made SQLite read both as one statement, then ignored
        "begin_without_its_semicolon",
        b"BEGIN TRANSACTION\nCREATE TABLE u (id INTEGER PRIMARY KEY);\n",
    ),
    _file(  # hostile pass: taken as the file's leading PRAGMA foreign_keys, the table lost
        "foreign_keys_pragma_without_its_semicolon",
        b"PRAGMA foreign_keys = OFF\nCREATE TABLE u (x);\n",
        concerned=APPLYING,
    ),
    _file(  # hostile pass: later migrations were skipped as 'already applied'
        "writes_schema_version",
        b"UPDATE schema_version SET version = 3 WHERE version = 1;\n",
        folder="data",
        concerned=APPLYING,
    ),
    _file(  # hostile pass: the runner recorded into the temporary table, every run re-applied
        "temp_table_shadows_schema_version",
        b"CREATE TEMP TABLE schema_version (version INTEGER, migration_type TEXT);\n",
        concerned=APPLYING,
    ),
    _file(  # hostile pass: a later migration wrote rows that break a CHECK constraint
        "ignore_check_constraints",
        b"PRAGMA ignore_check_constraints = ON;\nCREATE TABLE u (id INTEGER);\n",
        concerned=APPLYING,
    ),
    _file(  # issue 13: made the checks write temporary files outside their temporary directory
        "temp_store_directory",
        b"PRAGMA temp_store_directory = 'elsewhere';\nCREATE TABLE u (id INTEGER);\n",
        concerned=("apply_empty", "apply_sample", "rollback_roundtrip"),
    ),
    _file("unknown_directive", b"-- @fast\nCREATE TABLE u (id INTEGER);\n"),
    Case(
        "bad_names",
        {
            f"{MIGRATIONS}/schema/2_short.sql": b"SELECT 1;\n",
            f"{MIGRATIONS}/schema/0002_Upper Case.SQL": b"SELECT 1;\n",
            f"{MIGRATIONS}/schema/0003-dash.sql": b"SELECT 1;\n",
        },
        culprit=f"{MIGRATIONS}/schema/2_short.sql",
        concerned=NAMES,
    ),
    Case(
        "duplicate_numbers",
        {
            f"{MIGRATIONS}/schema/0002_a.sql": b"CREATE TABLE a (id INTEGER);\n",
            f"{MIGRATIONS}/data/0002_b.sql": b"INSERT INTO t (id) VALUES (10);\n",
            ROLLBACK_2[0]: b"DROP TABLE a;\n",
        },
        culprit=f"{MIGRATIONS}/data/0002_b.sql",
        concerned=("numbering", *APPLYING),
    ),
    Case(
        "negative_number",
        {f"{MIGRATIONS}/schema/-0002_neg.sql": b"SELECT 1;\n"},
        culprit=f"{MIGRATIONS}/schema/-0002_neg.sql",
        concerned=NAMES,
    ),
    Case(
        "directory_named_sql",
        make=_sql_dir,
        culprit=f"{MIGRATIONS}/schema/0002_folder.sql",
        concerned=(*NAMES, "lint"),
    ),
    Case(
        "symlink_loop",
        make=_symlink_loop,
        culprit=f"{MIGRATIONS}/schema/0002_loop.sql",
        concerned=(*NAMES, "lint"),
    ),
    Case(
        "dangling_symlink",
        make=_dangling,
        culprit=f"{MIGRATIONS}/schema/0002_gone.sql",
        concerned=("numbering", *CONTENT),
    ),
    Case(
        "symlink_leaving_repo",
        make=_escaping,
        culprit=f"{MIGRATIONS}/schema/0002_escape.sql",
        concerned=NAMES,
    ),
    Case(
        "fifo",
        make=_fifo,
        culprit=f"{MIGRATIONS}/schema/0002_fifo.sql",
        concerned=("numbering", *CONTENT),
    ),
    Case(
        "unreadable_chmod_000",
        {f"{MIGRATIONS}/schema/0002_secret.sql": b"SELECT 1;\n", ROLLBACK_2[0]: ROLLBACK_2[1]},
        make=_chmod_000,
        culprit=f"{MIGRATIONS}/schema/0002_secret.sql",
        concerned=("numbering", *CONTENT),
        skip="root reads a chmod 000 file; the symlink-loop, dangling-symlink and FIFO cases "
        "cover unreadable files"
        if os.geteuid() == 0
        else None,
    ),
    Case(
        "huge_50mb",
        make=_huge,
        culprit=f"{MIGRATIONS}/schema/0002_huge.sql",
        concerned=(),
        checks=("numbering", "checksums"),  # applying 700,000 INSERTs takes 40 s: bench/'s job
    ),
    Case(
        "bom",
        {
            f"{MIGRATIONS}/schema/0002_bom.sql": b"\xef\xbb\xbfCREATE TABLE u (id INTEGER);\n",
            ROLLBACK_2[0]: b"DROP TABLE u;\n",
        },
        concerned=(),
    ),
    Case(
        "crlf",
        {
            f"{MIGRATIONS}/schema/0002_crlf.sql": b"CREATE TABLE u (\r\n    id INTEGER\r\n);\r\n",
            ROLLBACK_2[0]: b"DROP TABLE u;\r\n",
        },
        concerned=(),
    ),
]
# BOM and CRLF are valid input, and so is a 50 MB file of INSERTs: nothing may object
# (except checksums: a new file is not in the lock yet) and nothing may crash.
VALID = {"bom", "crlf", "huge_50mb"}


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every regular file under root (symlinks and FIFOs by their kind)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            out[relative] = f"link:{os.readlink(path)}"
        elif path.is_fifo():
            out[relative] = "fifo"
        elif path.is_file():
            try:
                out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as error:
                out[relative] = f"unreadable:{error.errno}"
        elif path.is_dir():
            out[relative] = "dir"
    return out


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample database with data but no migrations applied: apply_sample applies them all."""
    path = tmp_path_factory.mktemp("sample") / "sample.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO legacy_notes (body) VALUES ('kept as it is')")
    conn.commit()
    conn.close()
    return path


def check_argv(check: str, sample: Path, *extra: str) -> list[str]:
    args = ["--migrations-dir", MIGRATIONS]
    if check == "apply_sample":
        args += ["--sample", str(sample)]
    if check == "migrate":
        args = ["--db", "migrate-out/app.db", "--busy-timeout", "1", *args]
    return [sys.executable, "-m", f"ci.{check}", *args, *extra]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{' '.join(argv)} did not finish in {TIMEOUT} s") from error


def problems_in(
    check: str, done: subprocess.CompletedProcess[str], *, must_object: bool, culprit: str
) -> list[str]:
    """What is wrong with one check's run: traceback, exit code, a missing file name."""
    output = done.stdout + done.stderr
    where = f"ci.{check} exit {done.returncode}:\n{output[-1500:]}"
    found = []
    if "Traceback" in output:
        found.append(f"traceback from {where}")
    if done.returncode not in (0, 1, 2):
        found.append(f"exit code outside 0/1/2 from {where}")
    if must_object:
        if done.returncode not in (1, 2):
            found.append(f"did not object: {where}")
        elif Path(culprit).name not in output:
            found.append(f"does not name {culprit}: {where}")
    return found


def make_repo(root: Path) -> None:
    """The base repository: migration 0001, its rollback, and the committed lock file."""
    for relative, data in BASE.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    (root / MIGRATIONS / "data").mkdir()
    lock = run([sys.executable, "-m", "ci.checksums", "--migrations-dir", MIGRATIONS, "--update"],
               root)  # fmt: skip
    assert lock.returncode == 0, lock.stdout + lock.stderr


def unlock(root: Path) -> None:
    """Give a chmod 000 file its permissions back so pytest can clean up."""
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_check_on_bad_input(case: Case, tmp_path: Path, sample_db: Path) -> None:
    if case.skip:
        pytest.skip(case.skip)
    original = tmp_path / "original" / "repo"
    make_repo(original)
    for relative, data in case.files.items():
        (original / relative).parent.mkdir(parents=True, exist_ok=True)
        (original / relative).write_bytes(data)
    if case.make:
        case.make(original)
    before, sample_before = snapshot(original), snapshot(sample_db.parent)
    # Each check gets its own copy (cp -a keeps links, FIFOs and modes) so that they can run in
    # parallel without seeing each other's side effects.
    copies = {}
    for check in case.checks:
        copies[check] = tmp_path / check / "repo"
        copies[check].parent.mkdir()
        subprocess.run(["cp", "-a", str(original), str(copies[check])], check=True)
        (copies[check] / "migrate-out").mkdir()
        if case.name == "symlink_leaving_repo":
            shutil.copy(original.parent / "outside.sql", copies[check].parent / "outside.sql")
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            runs = pool.map(lambda c: run(check_argv(c, sample_db), copies[c]), case.checks)
            results = dict(zip(case.checks, runs, strict=True))
        problems = []
        for check, done in results.items():
            problems += problems_in(
                check, done, must_object=check in case.concerned, culprit=case.culprit
            )
            if case.name in VALID and check != "checksums" and done.returncode != 0:
                problems.append(f"objected to valid input: ci.{check}: {done.stdout}{done.stderr}")
            ignored = case.migrate_creates if check == "migrate" else ()
            after = {
                k: v
                for k, v in snapshot(copies[check]).items()
                if "migrate-out" not in k and k not in ignored
            }
            if after != before:
                changed = sorted(set(after.items()) ^ set(before.items()))
                problems.append(f"ci.{check} changed the user's files: {changed}")
        if snapshot(sample_db.parent) != sample_before:
            problems.append("the sample database changed")
        assert not problems, "\n\n".join(problems)
    finally:
        unlock(tmp_path)


# --- bad databases -------------------------------------------------------------------------------

DB_COMMANDS: dict[str, list[str]] = {
    "migrate": ["-m", "ci.migrate", "--busy-timeout", "1", "--no-backup", "--db"],
    "migrate --status": ["-m", "ci.migrate", "--status", "--busy-timeout", "1", "--db"],
    "precheck": ["-m", "ci.precheck", "--busy-timeout", "1", "--db"],
    "postcheck": ["-m", "ci.postcheck", "--busy-timeout", "1", "--expect-version", "1", "--db"],
    "checksums --db": ["-m", "ci.checksums", "--busy-timeout", "0.2", "--db"],
    "apply_sample --sample": ["-m", "ci.apply_sample", "--busy-timeout", "0.2", "--sample"],
    "rollback_roundtrip --sample": [
        "-m",
        "ci.rollback_roundtrip",
        "--busy-timeout",
        "0.2",
        "--sample",
    ],
}
READERS = ("migrate --status", "precheck", "postcheck", "checksums --db")


def _database(path: Path, *, rows: int = 2000) -> None:
    """A real database with data and no migration applied (so `migrate` has work to do)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO legacy_notes (body) VALUES (?)", [("x" * 50,)] * rows)
    conn.commit()
    conn.close()


def _not_sqlite(path: Path) -> None:
    path.write_text("id,name\n1,not a database\n" * 100, encoding="utf-8")


def _corrupt_header(path: Path) -> None:
    _database(path)
    data = path.read_bytes()
    path.write_bytes(data[:100] + bytes(range(256)) * ((len(data) - 100) // 256 + 1))


def _corrupt_pages(path: Path) -> None:
    """Page 1 (header and schema) intact, every later page garbage: opens, fails on reads."""
    _database(path)
    data = path.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    path.write_bytes(data[:page] + bytes(range(256))[::-1] * ((len(data) - page) // 256))


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    """Opening it to look would wait forever for a writer: every command must not open it."""
    os.mkfifo(path)


def _under_a_file(path: Path) -> None:
    path.parent.write_text("a file, not a directory\n", encoding="utf-8")


def _applied(path: Path, change: str) -> None:
    """Migration 0001 of the base repository applied by hand, then one bookkeeping value made
    wrong (a BLOB hash, a version no migration can have)."""
    conn = sqlite3.connect(path)
    conn.executescript(
        BASE[f"{MIGRATIONS}/schema/0001_create_t.sql"].decode()
        + "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, file_hash TEXT);"
        + "INSERT INTO schema_version VALUES (1, NULL);"
        + change
    )
    conn.close()


def _wal(path: Path) -> None:
    """A sound database in WAL mode, closed cleanly: no -wal or -shm file beside it."""
    _database(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


DB_KINDS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "not_sqlite": ("app.db", _not_sqlite),
    "corrupt_header": ("app.db", _corrupt_header),
    "corrupt_pages": ("app.db", _corrupt_pages),
    "directory": ("app.db", _directory),
    "fifo": ("app.db", _fifo),
    "under_a_file": ("notes.txt/app.db", _under_a_file),
    "read_only": ("app.db", _database),  # made immutable below: root cannot write it either
    "locked": ("app.db", _database),  # a write lock held by this test process
    "blob_hash": ("app.db", lambda p: _applied(p, "UPDATE schema_version SET file_hash = x'00';")),
    "absurd_version": (
        "app.db",
        lambda p: _applied(p, "UPDATE schema_version SET version = 99999999999;"),
    ),
    "wal_clean": ("app.db", _wal),  # nothing wrong: readers must leave no -wal/-shm behind
}


def _expected(kind: str, command: str) -> tuple[bool, pytest.MarkDecorator | None]:
    """(must the command object?, mark) for one database kind and command."""
    if kind == "corrupt_pages" and command == "migrate --status":
        return False, None  # reads sqlite_master and schema_version only, both intact
    if kind == "corrupt_pages" and command == "checksums --db":
        return False, None  # reads only page 1 (intact): no schema_version table, a warning
    if kind == "read_only":
        return command == "migrate", None  # reading an immutable database is fine
    if kind == "wal_clean":
        return False, None
    if kind in ("blob_hash", "absurd_version") and "roundtrip" in command:
        return False, None  # the round trip starts from the sample's schema, not its bookkeeping
    if kind == "under_a_file" and command == "migrate --status":
        return False, None  # a database that does not exist yet: status lists what is pending
    return True, None


DB_PARAMS = [
    pytest.param(kind, command, marks=[m] if (m := _expected(kind, command)[1]) else [],
                 id=f"{kind}-{command.replace(' ', '')}")
    for kind in DB_KINDS
    for command in DB_COMMANDS
    # migrate on damaged pages it never reads: test_migrate_does_not_scan_pages_it_never_reads
    if not (kind == "corrupt_pages" and command == "migrate")
    # a sound database: migrate changes it, as it should
    and not (kind == "wal_clean" and command == "migrate")
]  # fmt: skip


@pytest.fixture
def migrations_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_repo(root)
    return root


def _immutable(path: Path, on: bool) -> bool:
    done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize(("kind", "command"), DB_PARAMS)
def test_bad_database(kind: str, command: str, migrations_repo: Path) -> None:
    relative, make = DB_KINDS[kind]
    db = migrations_repo / "data" / relative
    (migrations_repo / "data").mkdir()
    make(db)
    holder = None
    if kind == "read_only" and not (shutil.which("chattr") and _immutable(db, True)):
        pytest.skip("chattr +i is not available here; nothing else stops root from writing")
    before = snapshot(migrations_repo)
    if kind == "locked":
        # after the snapshot: closing any descriptor of the file in this process would drop the
        # POSIX locks SQLite holds on it
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    try:
        argv = [sys.executable, *DB_COMMANDS[command], str(db.relative_to(migrations_repo))]
        if not command.startswith(("precheck", "postcheck")):
            argv += ["--migrations-dir", MIGRATIONS]
        done = run(argv, migrations_repo)
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
        if kind == "read_only":
            _immutable(db, False)
    must_object, _ = _expected(kind, command)
    problems = problems_in(command, done, must_object=must_object, culprit=str(db))
    if snapshot(migrations_repo) != before:
        problems.append(f"{command} changed files: {snapshot(migrations_repo)} vs {before}")
    assert not problems, "\n\n".join(problems)


def test_migrate_does_not_scan_pages_it_never_reads(migrations_repo: Path) -> None:
    """Documented behaviour, not a wish: `migrate` reads only what its migrations touch (no full
    scan of a production database before every deploy), so damage elsewhere goes unnoticed by
    it and the run succeeds; `python -m ci.precheck` (integrity_check) is the step that catches
    it, and the README's pipeline runs it first."""
    (migrations_repo / "data").mkdir()
    db = migrations_repo / "data" / "app.db"
    _corrupt_pages(db)
    checked = run([sys.executable, "-m", "ci.precheck", "--db", "data/app.db"], migrations_repo)
    said = checked.stdout + checked.stderr
    # 1 when integrity_check lists the damage, 2 when SQLite refuses to read that far
    assert checked.returncode in (1, 2), said
    assert "data/app.db" in said and ("malformed" in said or "integrity" in said.lower()), said
    assert "Traceback" not in checked.stderr
    argv = [sys.executable, "-m", "ci.migrate", "--db", "data/app.db", "--migrations-dir"]
    done = run([*argv, MIGRATIONS, "--no-backup"], migrations_repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
