"""What the runner's fast paths must not lose: checks cannot ATTACH, and a foreign key
violation still fails the migration that caused it whether or not `PRAGMA foreign_key_check`
runs (it runs only when the migration ran with foreign keys OFF; with them ON, SQLite refuses
the statement, or the COMMIT for a deferred constraint)."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.checks.apply_empty import apply_empty
from ci.checks.db_options import Options
from ci.core.model import discover
from ci.db.connection import GatedConnection
from ci.db.runner import MigrationFailed, Runner, connect
from tests.conftest import BASE, MIGRATIONS, dump, log_actions, run_module, tree, versions

WriteTree = Callable[[dict[str, str | bytes]], Path]


# --- ATTACH in a check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "statement"),
    [
        ("attached.db", "ATTACH '{name}' AS x;"),
        ("ABSOLUTE", "ATTACH '{name}' AS x;"),
        # VACUUM fails inside a transaction anyway; @no-transaction lets it run
        ("copy.db", "VACUUM INTO '{name}';"),
        ("ABSOLUTE", "VACUUM INTO '{name}';"),
    ],
)
def test_apply_empty_refuses_attach_and_writes_nothing_outside_its_temp_dir(
    write_tree: WriteTree,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    statement: str,
) -> None:
    outside = tmp_path / "outside" / "elsewhere.db"
    outside.parent.mkdir()
    name = str(outside) if target == "ABSOLUTE" else target
    what = "ATTACH" if statement.startswith("ATTACH") else "VACUUM INTO"
    header = "-- @no-transaction\n" if what == "VACUUM INTO" else ""
    attach = f"{header}CREATE TABLE t (id INTEGER PRIMARY KEY);\n{statement.format(name=name)}\n"
    root = write_tree(tree({**BASE, "schema/0003_attach.sql": attach}))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = run_module("ci.apply_empty", "--migrations-dir", str(root / MIGRATIONS), cwd=cwd)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"0003_attach.sql:{2 + bool(header)}" in done.stdout
    assert f"{what} is not allowed in a check" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert list(cwd.iterdir()) == []
    assert list(temp.iterdir()) == []
    assert list(outside.parent.iterdir()) == []


def test_a_real_database_may_still_attach(write_tree: WriteTree, tmp_path: Path) -> None:
    """Only the throwaway check connections forbid ATTACH; `migrate` runs what the user wrote."""
    other = tmp_path / "other.db"
    attach = f"ATTACH '{other}' AS x;\nCREATE TABLE x.t (id INTEGER);\n"
    root = write_tree(tree({"schema/0001_attach.sql": attach}))
    runner = Runner(connect(tmp_path / "app.db"), discover(root / MIGRATIONS), out=io.StringIO())
    runner.migrate()
    assert other.exists()


# --- foreign keys ----------------------------------------------------------------------------


def make(root: Path, db: Path) -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner(connect(db), discover(root / MIGRATIONS), out=out), out


DEFERRED = {
    **BASE,
    "schema/0003_orders.sql": (
        "CREATE TABLE orders (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  patient_id INTEGER REFERENCES patients(id) DEFERRABLE INITIALLY DEFERRED\n"
        ");\n"
    ),
}


def test_deferred_violation_with_foreign_keys_on_fails_at_commit(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    orphan = (
        "INSERT INTO orders (patient_id) VALUES (1);\n"
        "INSERT INTO orders (patient_id) VALUES (99);\n"
    )
    root = write_tree(tree({**DEFERRED, "data/0004_orphan.sql": orphan}))
    db = tmp_path / "app.db"
    runner, _ = make(root, db)
    runner.migrate(target=3)
    before = dump(db)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert failed.value.path.endswith("0004_orphan.sql")
    assert "orders rowid 2 references patients" in str(failed.value)
    assert dump(db) == before
    assert versions(db) == [("schema", 1), ("schema", 2), ("schema", 3)]
    assert log_actions(db)[-1] == ("failed", 4)
    # the connection is usable afterwards: nothing left open
    assert not runner.conn.in_transaction


def test_deferred_violation_repaired_before_commit_passes(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    fixed = (
        "INSERT INTO orders (patient_id) VALUES (99);\n"
        "INSERT INTO patients (id, mrn) VALUES (99, 'MRN-99');\n"
    )
    root = write_tree(tree({**DEFERRED, "data/0004_fixed.sql": fixed}))
    db = tmp_path / "app.db"
    runner, _ = make(root, db)
    runner.migrate()
    assert versions(db)[-1] == ("data", 4)


def test_immediate_violation_with_foreign_keys_on_names_the_line(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    orphan = "INSERT INTO patients (id) VALUES (5);\nDELETE FROM patients WHERE id = 2;\n"
    root = write_tree(tree({**BASE, "data/0003_orphan.sql": orphan}))
    db = tmp_path / "app.db"
    runner, _ = make(root, db)
    runner.migrate(target=2)
    before = dump(db)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert str(failed.value).endswith("0003_orphan.sql:2: FOREIGN KEY constraint failed")
    assert dump(db) == before


def test_connection_with_foreign_keys_off_still_gets_the_check(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    """A --setup that turns foreign keys off: no statement is refused, so the check runs."""
    orphan = "DELETE FROM patients WHERE id = 2;\n"
    root = write_tree(tree({**BASE, "data/0003_orphan.sql": orphan}))
    db = tmp_path / "app.db"
    runner, _ = make(root, db)
    runner.migrate(target=2)
    runner.conn.execute("PRAGMA foreign_keys = OFF")
    before = dump(db)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert "foreign key violation after the migration" in str(failed.value)
    assert "vitals rowid 3 references patients" in str(failed.value)
    assert dump(db) == before


def test_foreign_keys_off_no_transaction_migration_is_checked(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    orphan = "-- @no-transaction\nPRAGMA foreign_keys = OFF;\nDELETE FROM patients WHERE id = 2;\n"
    root = write_tree(tree({**BASE, "data/0003_orphan.sql": orphan}))
    db = tmp_path / "app.db"
    runner, _ = make(root, db)
    runner.migrate(target=2)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert "vitals rowid 3 references patients" in str(failed.value)
    assert ("schema", 3) not in versions(db) and ("data", 3) not in versions(db)
    assert runner.conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_batch_deferred_violation_fails_at_the_batch_commit(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    batch = (
        "-- @batch 1\n"
        "UPDATE orders SET patient_id = 99 WHERE id IN "
        "(SELECT id FROM orders WHERE patient_id = 1 LIMIT :batch_size);\n"
    )
    root = write_tree(tree({**DEFERRED, "data/0004_repoint.sql": batch}))
    db = tmp_path / "app.db"
    runner, _ = make(root, db)
    runner.migrate(target=3)
    runner.conn.execute("INSERT INTO orders (patient_id) VALUES (1)")
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert failed.value.path.endswith("0004_repoint.sql")
    assert "FOREIGN KEY" in str(failed.value) or "references patients" in str(failed.value)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT patient_id FROM orders").fetchall() == [(1,)]
    finally:
        conn.close()
    assert runner.dirty()  # the dirty mark stays open, with the error


# --- PRAGMA data_version in a check ----------------------------------------------------------


def _data_version_reads(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, files: dict[str, str | bytes]
) -> tuple[int, list[str]]:
    """How often apply_empty reads PRAGMA data_version on `files`, and its findings' codes."""
    asked: list[str] = []
    execute = GatedConnection.execute

    def counting(conn: GatedConnection, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "PRAGMA data_version":
            asked.append(sql)
        return execute(conn, sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GatedConnection, "execute", counting)
    options = Options(None, None, None, write_snapshot=False, warn_slow=0.0)
    report = apply_empty(write_tree(tree(files)) / MIGRATIONS, options)
    return len(asked), [f.code for c in report.cases for f in c.findings]


def test_a_check_reads_data_version_once_not_per_migration(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody else opens a check's throwaway database (its lock is exclusive): no other
    connection can commit between its migrations, so the gate's "no trigger writes the
    runner's tables" stays known without a PRAGMA data_version per migration."""
    files: dict[str, str | bytes] = {
        f"schema/{n:04d}_t{n}.sql": f"CREATE TABLE t{n} (x);\n" for n in range(1, 7)
    }
    reads, codes = _data_version_reads(write_tree, monkeypatch, files)
    assert reads == 2, reads  # the first migration's look, and the final version check
    assert "MG601" not in codes


def test_a_check_still_refuses_a_trigger_on_the_runners_table_made_later(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known answer is not trusted past a statement that names the runner's tables: it
    is screened, and a trigger it makes that writes them is refused."""
    files: dict[str, str | bytes] = {
        "schema/0001_t.sql": "CREATE TABLE t (x);\n",
        "schema/0002_trigger.sql": (
            "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN\n    DELETE FROM schema_version;\nEND;\n"
        ),
        "schema/0003_u.sql": "CREATE TABLE u (x);\n",
    }
    _, codes = _data_version_reads(write_tree, monkeypatch, files)
    assert codes, "the trigger writing schema_version must fail its migration"
