"""The runner API (ci.db.runner): atomic apply, rollback, dry run, bookkeeping, dirty marks,
batches.

Real SQLite files in tmp dirs, fixture migration trees; no mocks.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from ci.core.errors import UsageError
from ci.core.model import InputError, discover
from ci.db import bookkeeping
from ci.db.runner import CannotRun, MigrationFailed, Runner, RunRefused, connect, load_setup
from tests.conftest import (
    BASE,
    MIGRATIONS,
    WriteTree,
    dump,
    log_actions,
    make_runner,
    query,
    seven,
    tree,
    versions,
)

# --- apply -----------------------------------------------------------------------------------


def test_apply_records_each_migration_with_the_spec_columns(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    outcomes = runner.migrate()
    assert [(o.migration.label, o.action, o.rows) for o in outcomes] == [
        ("0001", "applied", 0),
        ("0002", "applied", 5),
    ]
    cols = [c[1] for c in query(db, "PRAGMA table_info(schema_version)")]
    for column in (
        "version",
        "migration_type",
        "description",
        "file_hash",
        "applied_at",
        "execution_time_ms",
        "rows_affected",
        "applied_by",
    ):
        assert column in cols
    rows = query(
        db,
        "SELECT version, migration_type, description, file_hash, applied_at, rows_affected, "
        "applied_by FROM schema_version ORDER BY version",
    )
    assert [r[:3] for r in rows] == [(1, "schema", "patients"), (2, "schema", "vitals")]
    assert all(str(r[3]).startswith("v1:") and len(str(r[3])) == 67 for r in rows)
    assert all(str(r[4]).endswith("Z") and "T" in str(r[4]) for r in rows)
    assert [r[5] for r in rows] == [0, 5]
    assert all(str(r[6]).startswith("migration-guard ") for r in rows)
    assert log_actions(db) == [("apply", 1), ("apply", 2)]
    assert runner.migrate() == []  # nothing twice


def test_syntax_error_in_statement_three_leaves_dump_identical(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    bad = (
        "INSERT INTO patients (mrn) VALUES ('A');\n"
        "UPDATE patients SET mrn = 'B' WHERE mrn = 'A';\n"
        "\n"
        "-- the third statement is broken\n"
        "CREAT TABLE oops (x);\n"
        "INSERT INTO patients (mrn) VALUES ('C');\n"
    )
    root = write_tree(tree({**BASE, "data/0003_broken.sql": bad}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate(target=2)
    before = dump(db)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert failed.value.line == 5
    assert failed.value.path.endswith("data/0003_broken.sql")
    assert str(failed.value).endswith('data/0003_broken.sql:5: near "CREAT": syntax error')
    assert dump(db) == before
    assert log_actions(db)[-1] == ("failed", 3)
    error = query(db, "SELECT error FROM schema_version_log ORDER BY id DESC LIMIT 1")[0][0]
    assert "syntax error" in str(error)


def test_trigger_bodies_and_strings_with_semicolons_apply(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    sql = (
        "CREATE TABLE audit (msg TEXT);\n"
        "CREATE TRIGGER patients_audit AFTER INSERT ON patients BEGIN\n"
        "  INSERT INTO audit VALUES ('new; patient');\n"
        "  INSERT INTO audit VALUES (NEW.mrn || ';');\n"
        "END;\n"
        "INSERT INTO patients (mrn) VALUES (';');  -- a comment; with a semicolon\n"
        "/* block; comment */ INSERT INTO patients (mrn) VALUES ('x'';y');\n"
    )
    root = write_tree(tree({**BASE, "schema/0003_audit.sql": sql}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate()
    assert query(db, "SELECT msg FROM audit ORDER BY rowid") == [
        ("new; patient",),
        (";;",),
        ("new; patient",),
        ("x';y;",),
    ]


def test_file_with_its_own_begin_commit_is_still_atomic(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    sql = (
        "BEGIN TRANSACTION;\n"
        "INSERT INTO patients (mrn) VALUES ('A');\n"
        "END;\n"
        "BEGIN;\n"
        "INSERT INTO patients (id, mrn) VALUES (1, 'duplicate id');\n"
        "COMMIT;\n"
    )
    root = write_tree(tree({**BASE, "data/0003_own_tx.sql": sql}))
    db = tmp_path / "app.db"
    runner, out = make_runner(root, db)
    runner.migrate(target=2)
    before = dump(db)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert failed.value.line == 5
    assert "UNIQUE constraint failed" in failed.value.message
    assert dump(db) == before  # the first INSERT, "committed" in the file, is gone too
    notices = out.getvalue()
    assert "0003_own_tx.sql:1: notice: BEGIN ignored" in notices
    assert "0003_own_tx.sql:3: notice: END ignored" in notices
    assert "0003_own_tx.sql:4: notice: BEGIN ignored" in notices


def test_insert_into_schema_version_in_the_file_is_tolerated_and_ours_wins(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    sql = (
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);\n"
        "INSERT INTO schema_version (version, applied_at) VALUES (3, datetime('now'));\n"
    )
    root = write_tree(tree({**BASE, "schema/0003_settings.sql": sql}))
    db = tmp_path / "app.db"
    runner, out = make_runner(root, db)
    runner.migrate()
    rows = query(db, "SELECT version, description, file_hash FROM schema_version WHERE version=3")
    assert len(rows) == 1
    assert rows[0][1] == "settings" and str(rows[0][2]).startswith("v1:")
    assert "INSERT INTO schema_version ignored" in out.getvalue()


def test_foreign_keys_off_at_the_top_allows_a_table_rebuild(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    rebuild = (
        "PRAGMA foreign_keys = OFF;\n"
        "CREATE TABLE patients_new (id INTEGER PRIMARY KEY, mrn TEXT NOT NULL DEFAULT '');\n"
        "INSERT INTO patients_new (id, mrn) SELECT id, COALESCE(mrn, '') FROM patients;\n"
        "DROP TABLE patients;\n"
        "ALTER TABLE patients_new RENAME TO patients;\n"
        "PRAGMA foreign_keys = ON;\n"
    )
    root = write_tree(tree({**BASE, "schema/0003_rebuild.sql": rebuild}))
    db = tmp_path / "app.db"
    runner, out = make_runner(root, db)
    runner.migrate()
    assert query(db, "SELECT count(*) FROM vitals") == [(3,)]  # no cascade, no FK failure
    assert runner.conn.execute("PRAGMA foreign_keys").fetchone() == (1,)  # restored
    assert "0003_rebuild.sql:6: notice: PRAGMA foreign_keys has no effect" in out.getvalue()


def test_foreign_key_violation_fails_the_migration_naming_table_and_rowid(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    orphan = "PRAGMA foreign_keys = OFF;\nDELETE FROM patients WHERE id = 2;\n"
    root = write_tree(tree({**BASE, "data/0003_orphan.sql": orphan}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate(target=2)
    before = dump(db)
    with pytest.raises(MigrationFailed) as failed:
        runner.migrate()
    assert "foreign key violation" in str(failed.value)
    assert "vitals rowid 3 references patients" in str(failed.value)
    assert dump(db) == before
    assert runner.conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_seeds_have_their_own_track_and_run_only_at_head(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    seed = "INSERT OR IGNORE INTO patients (id, mrn) VALUES (100, 'SEED');\n"
    root = write_tree(tree({**BASE, "seed/0001_defaults.sql": seed}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    assert [o.migration.label for o in runner.migrate(target=1)] == ["0001"]
    assert [o.migration.label for o in runner.migrate()] == ["0002", "seed-0001"]
    assert versions(db) == [("schema", 1), ("schema", 2), ("seed", 1)]
    assert runner.pending() == []


def test_out_of_order_pending_migration_is_refused(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(tree({"schema/0002_vitals.sql": "CREATE TABLE v (x);\n"}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate()
    write_tree(tree({"schema/0001_late.sql": "CREATE TABLE late (x);\n"}))
    runner, _ = make_runner(root, db)
    with pytest.raises(RunRefused, match="0001 is not applied but 0002 already is"):
        runner.migrate()


def test_duplicate_numbers_are_refused_before_anything(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree({"schema/0001_a.sql": "CREATE TABLE a (x);\n", "data/0001_b.sql": "SELECT 1;\n"})
    )
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    with pytest.raises(RunRefused, match="number 0001 is also used by"):
        runner.migrate()
    assert query(db, "SELECT name FROM sqlite_master") == []


# --- edited applied files --------------------------------------------------------------------


def test_a_directive_added_to_an_applied_file_reads_as_a_statement_change(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    make_runner(root, db)[0].migrate()
    edited = "-- @no-transaction\n" + BASE["schema/0001_patients.sql"]
    write_tree(tree({**BASE, "schema/0001_patients.sql": edited}))
    runner, _ = make_runner(root, db)
    with pytest.raises(RunRefused) as refused:
        runner.migrate()
    assert "0001_patients.sql: edited after it was applied (statements changed)" in str(
        refused.value
    )


def test_edited_applied_file_stops_the_run(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    make_runner(root, db)[0].migrate()
    write_tree(
        tree(
            {
                "schema/0001_patients.sql": "-- a new comment\n" + BASE["schema/0001_patients.sql"],
                "schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER);\n",
                "schema/0003_next.sql": "CREATE TABLE next (x);\n",
            }
        )
    )
    runner, out = make_runner(root, db)
    with pytest.raises(RunRefused) as refused:
        runner.migrate()
    lines = str(refused.value).splitlines()
    assert len(lines) == 2
    assert "0001_patients.sql: edited after it was applied (only whitespace or comments" in lines[0]
    assert "0002_vitals.sql: edited after it was applied (statements changed)" in lines[1]
    assert versions(db) == [("schema", 1), ("schema", 2)]
    loud, out = make_runner(root, db, allow_changed=True)
    assert [o.migration.label for o in loud.migrate()] == ["0003"]
    assert out.getvalue().count("WARNING: --allow-changed") == 2


def test_crlf_checkout_of_an_applied_file_is_not_an_edit(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    make_runner(root, db)[0].migrate()
    crlf = BASE["schema/0002_vitals.sql"].replace("\n", "\r\n").encode()
    write_tree(tree({"schema/0002_vitals.sql": b"\xef\xbb\xbf" + crlf}))
    assert make_runner(root, db)[0].edited() == []


# --- legacy bookkeeping ----------------------------------------------------------------------


def test_legacy_schema_version_is_upgraded_in_place_with_rows_kept(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(BASE | {"data/0003_more.sql": "UPDATE patients SET mrn = 'X' WHERE id = 2;\n"})
    )
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);"
        "CREATE TABLE vitals (id INTEGER PRIMARY KEY, patient_id INTEGER, hr INTEGER);"
        "INSERT INTO patients VALUES (1, 'MRN-1'), (2, NULL);"
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT, "
        "  description TEXT, note TEXT NOT NULL DEFAULT '');"
        "INSERT INTO schema_version VALUES (1, '2025-12-01 10:00:00', 'patients', 'by hand');"
        "INSERT INTO schema_version VALUES (2, '2025-12-02 10:00:00', 'vitals', 'ops');"
    )
    conn.close()
    runner, out = make_runner(root, db)
    assert [o.migration.label for o in runner.migrate()] == ["0003"]
    assert "upgraded the existing schema_version table in place" in out.getvalue()
    rows = query(
        db,
        "SELECT version, migration_type, description, applied_at, file_hash, note "
        "FROM schema_version ORDER BY version",
    )
    assert rows[:2] == [
        (1, "schema", "patients", "2025-12-01 10:00:00", None, "by hand"),
        (2, "schema", "vitals", "2025-12-02 10:00:00", None, "ops"),
    ]
    assert rows[2][:3] == (3, "data", "more") and str(rows[2][4]).startswith("v1:")
    assert ("upgrade", None) in log_actions(db)
    assert bookkeeping.state(runner.conn) == "current"


# --- rollback --------------------------------------------------------------------------------


def test_rollback_to_5_on_head_7_runs_7_6_5_in_order(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(seven())
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate()
    outcomes = runner.rollback_to(5)
    assert [(o.migration.label, o.action) for o in outcomes] == [
        ("0007", "rolled back"),
        ("0006", "rolled back"),
        ("0005", "rolled back"),
    ]
    assert [v for _, v in versions(db)] == [1, 2, 3, 4]
    assert [a for a in log_actions(db) if a[0] == "rollback"] == [
        ("rollback", 7),
        ("rollback", 6),
        ("rollback", 5),
    ]
    tables = {str(r[0]) for r in query(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"t1", "t4"} <= tables and not {"t5", "t6", "t7"} & tables


def test_missing_rollback_file_is_reported_before_anything_changes(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(seven())
    (root / MIGRATIONS / "rollback/0006_rollback.sql").unlink()
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate()
    before = dump(db)
    runner, _ = make_runner(root, db)
    with pytest.raises(RunRefused, match=r"0006 has no rollback file"):
        runner.rollback_to(5)
    assert dump(db) == before


def test_failing_rollback_is_atomic_and_stops(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(seven({"rollback/0006_rollback.sql": "DROP TABLE t6;\nDROP TABLE nope;\n"}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate()
    with pytest.raises(MigrationFailed, match=r"0006_rollback.sql:2: no such table: nope"):
        runner.rollback_to(5)
    assert [v for _, v in versions(db)] == [1, 2, 3, 4, 5, 6]
    assert query(db, "SELECT x FROM t6") == [(6,)]
    assert log_actions(db)[-1] == ("rollback-failed", 6)


# --- dry run ---------------------------------------------------------------------------------


def test_dry_run_executes_in_a_rolled_back_transaction(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(
        tree(
            BASE
            | {"data/0003_fill.sql": "UPDATE patients SET mrn = 'M' || id WHERE mrn IS NULL;\n"}
        )
    )
    db = tmp_path / "app.db"
    db.touch()
    before = db.read_bytes()
    runner, _ = make_runner(root, db)
    outcomes, failure = runner.dry_run()
    assert failure is None
    assert [(o.migration.label, o.action, o.rows) for o in outcomes] == [
        ("0001", "would apply", 0),
        ("0002", "would apply", 5),
        ("0003", "would apply", 1),  # sees the rows 0002 inserted
    ]
    runner.conn.close()
    assert db.read_bytes() == before  # not even the bookkeeping tables


def test_dry_run_reports_the_first_failure(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(tree(BASE | {"data/0003_bad.sql": "UPDATE nowhere SET x = 1;\n"}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    outcomes, failure = runner.dry_run()
    assert len(outcomes) == 2
    assert failure is not None and failure.line == 1 and "no such table: nowhere" in str(failure)
    assert query(db, "SELECT name FROM sqlite_master") == []


# --- @no-transaction and dirty marks ---------------------------------------------------------


def test_no_transaction_failure_leaves_a_dirty_mark_until_resume(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    sql = (
        "-- @no-transaction\n"
        "CREATE TABLE IF NOT EXISTS big (x);\n"
        "INSERT INTO big SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM big);\n"
        "INSERT INTO needed_later VALUES (1);\n"
    )
    root = write_tree(
        tree(
            BASE
            | {"schema/0003_notx.sql": sql, "schema/0004_after.sql": "CREATE TABLE after (x);\n"}
        )
    )
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    with pytest.raises(MigrationFailed, match=r"0003_notx.sql:4: no such table: needed_later"):
        runner.migrate()
    assert query(db, "SELECT count(*) FROM big") == [(1,)]  # statements before it committed
    assert [m.version for m in runner.dirty()] == [3]
    runner, _ = make_runner(root, db)
    with pytest.raises(RunRefused, match=r"database is dirty: 0003 notx .*--resume"):
        runner.migrate()
    sqlite3.connect(db).execute("CREATE TABLE needed_later (x)").connection.close()
    runner, _ = make_runner(root, db)
    assert [o.migration.label for o in runner.migrate(resume=True)] == ["0003", "0004"]
    assert query(db, "SELECT count(*) FROM big") == [(1,)]  # re-run safely
    assert runner.dirty() == []
    assert [v for _, v in versions(db)] == [1, 2, 3, 4]


def test_force_clean_clears_the_mark_and_leaves_the_migration_pending(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    sql = "-- @no-transaction\nCREATE TABLE part (x);\nINSERT INTO missing VALUES (1);\n"
    root = write_tree(tree({"schema/0001_part.sql": sql}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    with pytest.raises(MigrationFailed):
        runner.migrate()
    cleared = runner.force_clean()
    assert [m.version for m in cleared] == [1]
    assert runner.dirty() == []
    assert [m.label for m in runner.pending()] == ["0001"]
    assert ("force-clean", 1) in log_actions(db)


# --- @batch (the rest, on both engines: test_batch.py) ----------------------------------------


BATCH = (
    "-- @batch 7\n"
    "-- @progress SELECT count(*) FROM readings WHERE label IS NULL\n"
    "UPDATE readings SET label = 'dev-' || id\n"
    " WHERE id IN (SELECT id FROM readings WHERE label IS NULL LIMIT :batch_size);\n"
)
READINGS = (
    "CREATE TABLE readings (id INTEGER PRIMARY KEY, label TEXT);\n"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)\n"
    "INSERT INTO readings (id) SELECT i FROM n;\n"
)


def test_batch_resumes_where_it_stopped(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(tree({"schema/0001_readings.sql": READINGS, "data/0002_label.sql": BATCH}))
    db = tmp_path / "app.db"
    runner, _ = make_runner(root, db)
    runner.migrate(target=1)
    # what a crash after three batches leaves: 21 rows done, an open dirty mark saying so (held
    # by this process, as an earlier run in it that stopped would leave it)
    runner.conn.execute("UPDATE readings SET label = 'dev-' || id WHERE id <= 21")
    runner.conn.execute(
        "INSERT INTO schema_version_log (logged_at, action, version, migration_type, "
        "description, rows_affected, applied_by) VALUES ('2026-01-01T00:00:00Z', 'dirty', 2, "
        "'data', 'label', 21, ?)",
        (bookkeeping.owner(),),
    )
    with pytest.raises(RunRefused, match=r"0002 label .* did not finish \(21 rows done\)"):
        runner.migrate()
    outcomes = runner.migrate(resume=True)
    assert [(o.migration.label, o.rows) for o in outcomes] == [("0002", 100)]
    assert query(db, "SELECT rows_affected FROM schema_version WHERE version = 2") == [(100,)]
    assert runner.dirty() == []


# --- connections -----------------------------------------------------------------------------


def test_connect_rejects_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 40)
    with pytest.raises(CannotRun, match=r"junk.db: not a SQLite database"):
        connect(junk)


def test_setup_callable_runs_on_the_connection(
    write_tree: WriteTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "appfuncs.py").write_text(
        "def register(conn):\n    conn.create_function('shout', 1, lambda s: s.upper() + '!')\n"
    )
    monkeypatch.chdir(tmp_path)
    root = write_tree(
        tree({"schema/0001_t.sql": "CREATE TABLE t (x);\nINSERT INTO t VALUES (shout('hi'));\n"})
    )
    conn = connect(tmp_path / "app.db", setup="appfuncs:register")
    Runner(conn, discover(root / MIGRATIONS), out=io.StringIO()).migrate()
    assert conn.execute("SELECT x FROM t").fetchall() == [("HI!",)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "expected MODULE:FUNCTION"),
        ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
        ("ci.core.model:no_such_function", "ci.core.model has no function no_such_function"),
    ],
)
def test_bad_setup_is_one_usage_line(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_setup(spec)


def test_warn_slow_warns_per_migration(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(tree(BASE))
    runner, out = make_runner(root, tmp_path / "app.db", warn_slow=0.0)
    runner.migrate()
    assert out.getvalue().count("(more than --warn-slow 0 s)") == 2


def test_rollback_makes_seeds_pending_again_so_they_refill_dropped_tables(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    seed = "INSERT OR IGNORE INTO patients (id, mrn) VALUES (100, 'SEED');\n"
    root = write_tree(tree(BASE | {"seed/0001_defaults.sql": seed}))
    db = tmp_path / "app.db"
    runner, out = make_runner(root, db)
    runner.migrate()
    runner.rollback_to(1)
    assert versions(db) == []  # patients is gone, so the seed's row is gone with it
    assert "seeds seed-0001 will run again" in out.getvalue()
    assert [o.migration.label for o in runner.migrate()] == ["0001", "0002", "seed-0001"]
    assert query(db, "SELECT mrn FROM patients WHERE id = 100") == [("SEED",)]


def test_foreign_schema_version_with_text_versions_is_one_clear_error(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version (version TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO schema_version VALUES ('V1__init')")
    conn.commit()
    conn.close()
    runner, _ = make_runner(write_tree(tree(BASE)), db)
    with pytest.raises(InputError, match="version 'V1__init' is not a migration number"):
        runner.migrate()


def test_progress_draws_a_bar_with_rate_and_eta_on_a_terminal() -> None:
    from ci.db.progress import Progress

    out = io.StringIO()
    progress = Progress(out, "0005 backfill", 1000, tty=True)
    progress._last -= 1  # the first redraw is due
    progress.update(250)
    progress.finish()
    text = out.getvalue()
    assert text.startswith("\r0005 backfill [#######-----------------------] 250/1,000 rows (25%)")
    assert "rows/s, ETA " in text
    assert "\r0005 backfill: 250 rows in " in text and text.endswith(" rows/s)\x1b[K\n")
