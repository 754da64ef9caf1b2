"""ci.checksums: edits to applied files via the lock file, a real database and a git base ref."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ci import checksums
from ci.checks.checksums_lock import accept_comment_edits
from ci.core.sqltext import checksum
from tests.conftest import FIRST, LOCK, TRACKS, M, WriteTree, commit_all, git, run_module

GOOD = TRACKS


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = checksums.main(["--migrations-dir", str(root / M), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def locked(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> Path:
    """A tree whose lock file lists every migration."""
    root = write_tree(GOOD)
    code, out, err = run(root, capsys, "--update")
    assert code == 0, out + err
    assert (root / LOCK).is_file()
    return root


def test_update_creates_the_lock_and_the_check_passes(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (locked / LOCK).read_text().splitlines()
    assert lines[0].startswith("# migration-guard lock v1 sum:")
    assert [line.split()[0] for line in lines[1:]] == [
        "schema/0001_init.sql",
        "data/0002_fill.sql",
        "seed/0001_defaults.sql",
    ]
    code, out, _ = run(locked, capsys)
    assert code == 0
    assert "OK checksums: 1 passed" in out


def test_no_lock_is_a_finding_and_an_explicit_missing_lock_cannot_run(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(GOOD)
    code, out, _ = run(root, capsys)
    assert code == 1
    assert f"{LOCK}: MG206 no lock file" in out and "--update" in out
    code, out, err = run(root, capsys, "--lock", str(root / "nope.lock"))
    assert code == 2
    assert (
        err.strip()
        == f"checksums: {root / 'nope.lock'}: lock file not found (create it with --update)"
    )


def test_new_file_must_be_added_to_the_lock(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (locked / M / "schema/0003_idx.sql").write_text("CREATE INDEX i ON t (a);\n")
    code, out, _ = run(locked, capsys)
    assert code == 1
    assert "schema/0003_idx.sql: MG204 not in the lock file" in out
    code, out, err = run(locked, capsys, "--update")
    assert code == 0, out
    assert "added 1 entry" in err
    assert (locked / LOCK).read_text().splitlines()[-2].startswith("schema/0003_idx.sql v1:")


@pytest.mark.parametrize(
    ("new_text", "expected"),
    [
        ("CREATE TABLE t (a INTEGER, b TEXT);\n", "statements changed"),
        ("CREATE TABLE t (\n    a INTEGER\n);\n", "only whitespace/comments"),
        ("CREATE TABLE t (a INTEGER); SELECT 'two  spaces';\n", "statements changed"),
        (
            "-- the patients table\nCREATE TABLE t\n    (a   INTEGER);  -- no rows yet\n",
            "only whitespace/comments",
        ),
        ("-- @no-transaction\nCREATE TABLE t (a INTEGER);\n", "statements changed"),
    ],
)
def test_edit_caught_via_lock(
    locked: Path, capsys: pytest.CaptureFixture[str], new_text: str, expected: str
) -> None:
    (locked / M / "schema/0001_init.sql").write_text(new_text)
    code, out, _ = run(locked, capsys)
    assert code == 1
    assert f"schema/0001_init.sql: MG201 applied migration was edited ({expected}" in out
    assert "applied per the lock file" in out


def test_update_never_rewrites_an_existing_entry(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (locked / LOCK).read_text().splitlines()[1]
    (locked / M / "schema/0001_init.sql").write_text("CREATE TABLE t (b);\n")
    code, out, _ = run(locked, capsys, "--update")
    assert code == 1 and "MG201" in out
    assert (locked / LOCK).read_text().splitlines()[1] == before


def test_rehash_rewrites_one_entry_loudly(locked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = locked / M / "schema/0001_init.sql"
    target.write_text("-- comment\nCREATE TABLE t (a INTEGER);\n")
    code, out, err = run(locked, capsys, "--rehash", str(target))
    assert code == 0, out
    assert err.startswith(f"warning: {locked / LOCK}: entry schema/0001_init.sql rewritten: v1:")
    assert checksum(target.read_bytes()) in (locked / LOCK).read_text()
    code, out, err = run(locked, capsys, "--rehash", str(target))
    assert code == 0, out
    assert err == f"{locked / LOCK}: entry schema/0001_init.sql is already up to date\n"


@pytest.mark.parametrize("directive", ["-- @no-transaction", "-- @batch 100", "--@irreversible x"])
def test_the_rehash_hook_refuses_a_directive_added_to_an_applied_file(
    locked: Path, capsys: pytest.CaptureFixture[str], directive: str
) -> None:
    from hooks import lock_rehash

    target = locked / M / "schema/0001_init.sql"
    lock_before = (locked / LOCK).read_text()
    target.write_text(f"{directive}\nCREATE TABLE t (a INTEGER);\n")
    code = lock_rehash.main(["--migrations-dir", str(locked / M), str(target)])
    out = capsys.readouterr().out
    assert code == 1
    assert "0001_init.sql: statements changed" in out and "not rehashed" in out
    assert (locked / LOCK).read_text() == lock_before


def test_a_comment_edit_of_a_file_with_a_directive_is_still_accepted(locked: Path) -> None:
    target = locked / M / "data/0002_fill.sql"
    target.write_text(target.read_text().replace("\nUPDATE", "\n-- why: old rows\nUPDATE"))
    rewritten, refused = accept_comment_edits(
        locked / M, locked / LOCK, [str(target)]
    )  # fmt: skip
    assert refused == [] and len(rewritten) == 1


@pytest.mark.parametrize(
    "convert",
    [
        lambda data: data.replace(b"\n", b"\r\n"),
        lambda data: b"\xef\xbb\xbf" + data,
        lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"),
    ],
    ids=["crlf", "bom", "bom+crlf"],
)
def test_crlf_and_bom_are_not_edits(
    locked: Path, capsys: pytest.CaptureFixture[str], convert: object
) -> None:
    for path in (locked / M).rglob("*.sql"):
        path.write_bytes(convert(path.read_bytes()))  # type: ignore[operator]
    code, out, _ = run(locked, capsys)
    assert code == 0, out


def test_deleted_and_renamed_applied_files(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (locked / M / "data/0002_fill.sql").unlink()
    (locked / M / "seed/0001_defaults.sql").rename(locked / M / "seed/0002_defaults.sql")
    code, out, _ = run(locked, capsys)
    assert code == 1
    assert "data/0002_fill.sql: MG202 applied migration data/0002_fill.sql was deleted" in out
    assert (
        "seed/0002_defaults.sql: MG203 applied migration seed/0001_defaults.sql was renamed "
        "to seed/0002_defaults.sql" in out
    )
    assert "MG204" not in out  # the renamed file is not also "missing from the lock"


def test_hand_edited_lock(locked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = locked / LOCK
    lines = lock.read_text().splitlines()
    lock.write_text("\n".join(lines[:-1]) + "\n")  # someone deleted a line by hand
    code, out, _ = run(locked, capsys)
    assert code == 1
    assert f"{LOCK}:1: MG205 the lock file's sum does not match its entries" in out
    assert "--update" in out
    lock.write_text(lock.read_text() + "garbage line\n")
    code, out, _ = run(locked, capsys)
    assert f"{LOCK}:4: MG207 bad lock line" in out
    lock.write_text("\n".join(lines) + "\n")
    assert run(locked, capsys)[0] == 0


# ---- --db: a real SQLite database --------------------------------------------------------------


def _database(path: Path, rows: list[tuple[int, str, str, str | None]]) -> Path:
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE schema_version (version INTEGER, migration_type TEXT, description TEXT,"
        " file_hash TEXT, applied_at TEXT)"
    )
    connection.executemany(
        "INSERT INTO schema_version VALUES (?, ?, ?, ?, '2024-01-01T00:00:00Z')", rows
    )
    connection.commit()
    connection.close()
    return path


def _applied_rows(root: Path) -> list[tuple[int, str, str, str | None]]:
    init = (root / M / "schema/0001_init.sql").read_bytes()
    fill = (root / M / "data/0002_fill.sql").read_bytes()
    return [
        (1, "schema", "init", checksum(init)),
        (2, "data", "fill", hashlib.sha256(fill).hexdigest()),  # another tool's raw sha256
    ]


def test_edit_caught_via_database_and_db_never_written(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(GOOD)
    db = _database(root / "app.db", _applied_rows(root))
    before = db.read_bytes()
    code, out, _ = run(root, capsys, "--db", str(db))
    assert code == 0, out
    (root / M / "data/0002_fill.sql").write_text("UPDATE t SET a = 2 WHERE a IS NULL;\n")
    code, out, _ = run(root, capsys, "--db", str(db))
    assert code == 1
    assert "data/0002_fill.sql: MG201 applied migration was edited (content changed; " in out
    assert f"applied per database {db})" in out
    assert db.read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == ["app.db", "schema"]  # no -journal/-wal


def test_database_row_without_file(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(GOOD)
    rows = [*_applied_rows(root), (9, "schema", "gone", checksum(b"SELECT 9;\n"))]
    code, out, _ = run(root, capsys, "--db", str(_database(root / "app.db", rows)))
    assert code == 1
    assert "MG202 applied migration 0009 (gone) was deleted" in out


def test_database_without_schema_version_or_hashes(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(GOOD)
    empty = root / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.close()
    code, out, _ = run(root, capsys, "--db", str(empty))
    assert code == 0
    assert "MG208 warning: no schema_version table" in out
    legacy = root / "legacy.db"
    connection = sqlite3.connect(legacy)
    connection.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
    connection.execute("INSERT INTO schema_version VALUES (1, 'x')")
    connection.commit()
    connection.close()
    code, out, _ = run(root, capsys, "--db", str(legacy))
    assert code == 0
    assert "1 schema_version rows have no file_hash" in out


def test_bad_database_exits_2(write_tree: WriteTree, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree({**GOOD, "not.db": "this is not sqlite, just text " * 100})
    code, _, err = run(root, capsys, "--db", str(root / "not.db"))
    assert code == 2 and "cannot read schema_version" in err and err.count("\n") == 1
    code, _, err = run(root, capsys, "--db", str(root / "missing.db"))
    assert code == 2 and "database not found" in err


# ---- --base-ref and git ------------------------------------------------------------------------


def test_edit_caught_via_base_ref_with_line(
    git_repo: Path, write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(GOOD)
    commit_all(git_repo, "base")
    path = git_repo / M / "data/0002_fill.sql"
    path.write_text("-- @irreversible backfill\nUPDATE t SET a = 7 WHERE a IS NULL;\n")
    code, out, _ = run(git_repo, capsys, "--base-ref", "main")
    assert code == 1
    assert (
        f"{path}:2: MG201 applied migration was edited (statements changed; applied per "
        "base ref main)" in out
    )
    path.write_text("-- @irreversible backfill\n\nUPDATE t  SET a = 1\nWHERE a IS NULL; -- x\n")
    code, out, _ = run(git_repo, capsys, "--base-ref", "main")
    assert code == 1 and "(only whitespace/comments changed;" in out
    path.write_text(
        "-- @irreversible backfill\nUPDATE t SET a = 1 WHERE a  IS NULL AND 'x ' = 'x';\n"
    )
    code, out, _ = run(git_repo, capsys, "--base-ref", "main")
    assert code == 1 and "(statements changed;" in out


def test_crlf_checkout_is_not_flagged(
    git_repo: Path, write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(GOOD)
    assert run(git_repo, capsys, "--update")[0] == 0
    commit_all(git_repo, "base")
    git(git_repo, "config", "core.autocrlf", "true")
    for path in (git_repo / M).rglob("*.sql"):
        path.unlink()
    git(git_repo, "checkout", "--", ".")
    assert b"\r\n" in (git_repo / M / "schema/0001_init.sql").read_bytes()
    code, out, _ = run(git_repo, capsys, "--base-ref", "main")
    assert code == 0, out


def test_bad_base_ref_exits_2(git_repo: Path, write_tree: WriteTree) -> None:
    write_tree(GOOD)
    commit_all(git_repo, "base")
    done = run_module("ci.checksums", "--base-ref", "no/such/ref", cwd=git_repo)
    assert done.returncode == 2
    assert done.stderr == (
        "checksums: git ref 'no/such/ref' does not exist (fetch it, e.g. git fetch origin)\n"
    )


def test_two_branches_adding_a_migration_conflict_on_the_lock(
    git_repo: Path, write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(GOOD)
    assert run(git_repo, capsys, "--update")[0] == 0
    commit_all(git_repo, "base")
    git(git_repo, "checkout", "-q", "-b", "feature")
    write_tree({f"{M}/schema/0003_feature.sql": "CREATE TABLE f (x);\n"})
    assert run(git_repo, capsys, "--update")[0] == 0
    commit_all(git_repo, "feature adds 0003")
    git(git_repo, "checkout", "-q", "main")
    write_tree({f"{M}/schema/0003_other.sql": "CREATE TABLE o (x);\n"})
    assert run(git_repo, capsys, "--update")[0] == 0
    commit_all(git_repo, "main adds 0003")
    merge = subprocess.run(
        ["git", "merge", "--no-edit", "feature"], cwd=git_repo, capture_output=True, text=True
    )
    assert merge.returncode != 0
    assert f"CONFLICT (content): Merge conflict in {LOCK}" in merge.stdout
    code, out, _ = run(git_repo, capsys)
    assert code == 1
    assert f"{LOCK}:1: MG205 the lock file has git conflict markers" in out
    code, _, err = run(git_repo, capsys, "--update")
    assert code == 2 and "conflict markers" in err


# ---- bad input and the FILES shortcut ----------------------------------------------------------


def test_broken_symlink_and_non_utf8_content(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (locked / M / "seed/0002_latin1.sql").write_bytes(b"-- caf\xe9\nSELECT 1;\n")
    (locked / M / "seed/0003_gone.sql").symlink_to("nowhere.sql")
    done = run_module("ci.checksums", "--migrations-dir", str(locked / M))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "seed/0003_gone.sql: MG209 cannot read" in done.stdout
    assert "seed/0002_latin1.sql: MG204" in done.stdout  # hashed as bytes, just not locked yet


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    done = run_module("ci.checksums", "--migrations-dir", str(tmp_path / "nope"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not found" in done.stderr


def test_files_shortcut_counts_the_lock(locked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (locked / LOCK).write_text((locked / LOCK).read_text() + "junk\n")
    (locked / "README.md").write_text("x\n")
    assert run(locked, capsys, str(locked / "README.md"))[0] == 0
    assert run(locked, capsys, str(locked / LOCK))[0] == 1
    assert run(locked, capsys, str(locked / M / "schema/0001_init.sql"))[0] == 1


def test_database_code_hash_tells_whitespace_edits(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    from ci.core.sqltext import code_fingerprint

    root = write_tree(GOOD)
    init = root / M / "schema/0001_init.sql"
    db = root / "app.db"
    connection = sqlite3.connect(db)
    connection.execute(
        "CREATE TABLE schema_version (version INTEGER, migration_type TEXT, description TEXT,"
        " file_hash TEXT, code_hash TEXT)"
    )
    connection.execute(
        "INSERT INTO schema_version VALUES (1, 'schema', 'init', ?, ?)",
        (checksum(init.read_bytes()), code_fingerprint(init.read_text())),
    )
    connection.commit()
    connection.close()
    init.write_text("-- note\nCREATE TABLE t   (a INTEGER);\n")
    code, out, _ = run(root, capsys, "--db", str(db))
    assert code == 1
    assert "0001_init.sql: MG201 applied migration was edited (only whitespace/comments" in out
    init.write_text("CREATE TABLE t (a TEXT);\n")
    code, out, _ = run(root, capsys, "--db", str(db))
    assert "0001_init.sql: MG201 applied migration was edited (statements changed" in out


def test_worked_example_lock_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import REPO

    code = checksums.main(["--migrations-dir", str(REPO / M), "--lock", str(REPO / LOCK)])
    assert code == 0, capsys.readouterr().out


def test_a_comment_edit_in_a_database_names_the_runners_rehash_which_clears_it(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """The database keeps its stored checksum until the runner rewrites it: the hint names
    `ci.migrate --db ... --rehash`, not the lock's rehash (a newcomer went round in a loop)."""
    from ci import migrate

    root = write_tree(GOOD)
    db = root / "app.db"
    assert migrate.main(["--migrations-dir", str(root / M), "--db", str(db), "--no-backup"]) == 0
    init = root / M / "schema/0001_init.sql"
    init.write_text("-- a note\n" + init.read_text())
    capsys.readouterr()
    code, out, _ = run(root, capsys, "--db", str(db))
    assert code == 1
    assert "python -m ci.migrate " in out and f"--db {db} --rehash" in out, out
    assert "ci.checksums --rehash" not in out
    assert migrate.main(["--migrations-dir", str(root / M), "--db", str(db), "--rehash"]) == 0
    code, out, _ = run(root, capsys, "--db", str(db))
    assert code == 0, out


@pytest.mark.parametrize(
    ("applied_value", "edited_value", "verdict"),
    [
        ("$$hello -- world$$", "$$hello -- DROP EVERYTHING$$", "statements changed"),
        ("E'it\\'s -- a'", "E'it\\'s -- b'", "statements changed"),
        ("1 /* a /* b */ c */", "1 /* a /* b */ d */", "only whitespace/comments changed"),
        ("'x' /* a /* b */ 1, 2 */", "'x' /* a /* b */ 1, 3 */", "only whitespace/comments"),
    ],
)
def test_a_postgresql_projects_edits_are_judged_by_postgresqls_scanner(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    applied_value: str,
    edited_value: str,
    verdict: str,
) -> None:
    """Dollar quotes, E'' strings and nested comments: what is a comment is PostgreSQL's call."""
    root = write_tree({"migration-guard.yaml": "engine: postgresql\n", **FIRST})
    migration = root / M / "schema/0001_init.sql"
    migration.write_text(f"CREATE TABLE t (a text);\nINSERT INTO t VALUES ({applied_value});\n")
    config = ("--config", str(root / "migration-guard.yaml"))
    assert run(root, capsys, *config, "--update")[0] == 0
    migration.write_text(f"CREATE TABLE t (a text);\nINSERT INTO t VALUES ({edited_value});\n")
    code, out, _ = run(root, capsys, *config)
    assert code == 1
    assert verdict in out


def test_the_rehash_hook_of_a_postgresql_project_reads_postgresqls_comments(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook judges with the project's engine: a nested comment edited is a comment edit,
    a `--` inside a dollar quote edited is not."""
    from hooks import lock_rehash

    root = write_tree({"migration-guard.yaml": "engine: postgresql\n", **FIRST})
    git(root, "init", "-q", "-b", "main")  # the hook stages the lock it rewrites
    monkeypatch.chdir(root)
    target = root / M / "schema/0001_init.sql"
    target.write_text("SELECT $$a -- b$$ /* x /* y */ z */;\n")
    config = ["--config", str(root / "migration-guard.yaml"), "--migrations-dir", str(root / M)]
    assert checksums.main([*config, "--update"]) == 0
    target.write_text("SELECT $$a -- b$$ /* x /* y */ w */;\n")
    assert lock_rehash.main([*config, str(target)]) == 0
    target.write_text("SELECT $$a -- c$$ /* x /* y */ w */;\n")
    assert lock_rehash.main([*config, str(target)]) == 1
    assert "0001_init.sql: statements changed" in capsys.readouterr().out
