"""`ci.migrate --group`: pending migrations in one transaction per group, all or none.

Real SQLite files and the real command (in this process); the kill -9 trials, two grouped
runners at once and a group stopped by --statement-timeout are in test_group_slow.py.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ci.core.model import discover
from ci.db.group import split
from ci.migrate import main
from tests.conftest import MIGRATIONS, WriteTree, dump, make_db, query, seven, tree, versions
from tests.db.test_bookkeeping_truth import APP, LEGACY
from tests.db.test_dry_run import Scenario, run, scenarios, state, verdict, write_scenario


def migrate(root: Path, db: Path, *args: str) -> int:
    return main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args])


def log(db: Path) -> list[tuple[str, int | None, str | None]]:
    """(action, version, error) of each schema_version_log row, oldest first."""
    rows = query(db, "SELECT action, version, error FROM schema_version_log ORDER BY id")
    return [(str(a), None if v is None else int(str(v)), e) for a, v, e in rows]  # type: ignore[misc]


FAILS_AT_2 = "CREATE TABLE t4 (x);\nINSERT INTO nowhere VALUES (1);\n"


# --- all or none ----------------------------------------------------------------------------


def test_a_group_whose_third_migration_fails_leaves_the_database_exactly_as_it_was(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven({"schema/0004_t4.sql": FAILS_AT_2}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1", "--no-backup") == 0
    before = dump(db)
    capsys.readouterr()
    assert migrate(root, db, "--group", "--no-backup") == 1
    captured = capsys.readouterr()
    assert dump(db) == before  # 0002 and 0003 ran and were rolled back with 0004
    assert versions(db) == [("schema", 1)]
    assert f"{MIGRATIONS}/schema/0004_t4.sql:2: no such table: nowhere" in captured.err
    assert "applied 0002" not in captured.out  # outcomes are printed only once committed
    members = "0002_t2.sql, 0003_t3.sql, 0004_t4.sql, 0005_t5.sql, 0006_t6.sql, 0007_t7.sql"
    expected = f"FAILED: group rolled back: 0002..0007 ({members}) not applied (0004_t4.sql failed)"
    assert expected in captured.out
    rows = log(db)[-2:]
    assert rows[0][:2] == ("failed", 4) and "0004_t4.sql:2: no such table" in str(rows[0][2])
    assert rows[1][:2] == ("group rolled back", 2)
    assert f"6 migrations not applied ({members}); failed: " in str(rows[1][2])
    assert [a for a, _, _ in log(db)].count("apply") == 1  # 0001's, from the first run
    # fixed, the next grouped run applies the whole group and says so after its commit
    (root / MIGRATIONS / "schema/0004_t4.sql").write_text("CREATE TABLE t4 (x);\n")
    assert migrate(root, db, "--group", "--no-backup") == 0
    out = capsys.readouterr().out
    assert out.index("applied 0007") < out.index("group of 6 migrations (0002..0007) committed")
    assert versions(db) == [("schema", n) for n in range(1, 8)]
    assert query(db, "SELECT count(*) FROM schema_version_log WHERE action = 'apply'") == [(7,)]


def test_a_deferred_foreign_key_refused_at_the_groups_commit_rolls_back_the_group(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = "CREATE TABLE p (id INTEGER PRIMARY KEY);\n"
    child = (
        "CREATE TABLE c (pid INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO c VALUES (42);\n"  # no such parent: refused only at COMMIT
    )
    root = write_tree(
        tree({"schema/0001_p.sql": parent, "schema/0002_c.sql": child, "schema/0003_x.sql": ""})
    )
    db = tmp_path / "app.db"
    assert migrate(root, db, "--group", "--no-backup") == 1
    captured = capsys.readouterr()
    assert "0003_x.sql: cannot commit" in captured.err or "0003_x.sql: foreign key" in captured.err
    assert "group rolled back: 0001..0003" in captured.out
    assert "p" not in {str(n) for (n,) in query(db, "SELECT name FROM sqlite_master")}
    assert [a for a, _, _ in log(db)][-2:] == ["failed", "group rolled back"]


# --- where groups end -------------------------------------------------------------------------

SPLIT_TREE = {
    "schema/0001_a.sql": "CREATE TABLE a (x);\n",
    "schema/0002_b.sql": "CREATE TABLE b (x);\n",
    "schema/0003_c.sql": "-- @no-transaction\nCREATE TABLE c (x);\nINSERT INTO c VALUES (1);\n",
    "schema/0004_d.sql": "CREATE TABLE d (x);\nINSERT INTO d VALUES (1), (2);\n",
    "schema/0005_e.sql": "CREATE TABLE e (x);\n",
    "data/0006_fill.sql": (
        "-- @batch 1\nINSERT INTO a SELECT 1 WHERE (SELECT count(*) FROM a) < :batch_size;\n"
    ),
    "schema/0007_f.sql": "CREATE TABLE f (x);\n",
    "schema/0008_g.sql": "CREATE TABLE g (x);\n",
    "seed/0001_s.sql": "INSERT INTO a VALUES (99);\n",
    "seed/0002_s.sql": "INSERT INTO b VALUES (99);\n",
}


def test_no_transaction_and_batch_migrations_end_a_group_and_run_on_their_own(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(SPLIT_TREE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--group", "--no-backup") == 0
    out = capsys.readouterr().out
    groups = [line.split(") ")[0] for line in out.splitlines() if line.startswith("group of")]
    assert groups == [
        "group of 2 migrations (0001..0002",
        "group of 2 migrations (0004..0005",
        "group of 2 migrations (0007..0008",
        "group of 2 migrations (seed-0001..seed-0002",  # seeds: a group of their own
    ]
    assert "applied 0003" in out and "applied 0006" in out
    # the @no-transaction and @batch ones kept their dirty marks, cleared: as without --group
    marks = query(db, "SELECT version, cleared_at IS NOT NULL FROM schema_version_log "
                      "WHERE action = 'dirty' ORDER BY version")  # fmt: skip
    assert marks == [(3, 1), (6, 1)]
    assert query(db, "SELECT rows_affected FROM schema_version WHERE version = 4") == [(2,)]


def test_a_failure_in_a_later_group_leaves_the_earlier_groups_and_marked_ones_applied(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = SPLIT_TREE | {"schema/0008_g.sql": "CREATE TABLE g (x);\nSELEC 1;\n"}
    root = write_tree(tree(bad))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--group", "--no-backup") == 1
    captured = capsys.readouterr()
    assert "0008_g.sql:2: " in captured.err
    assert "group rolled back: 0007..0008 (0007_f.sql, 0008_g.sql) not applied" in captured.out
    assert [v for t, v in versions(db)] == [1, 2, 3, 4, 5, 6]
    assert "f" not in {str(n) for (n,) in query(db, "SELECT name FROM sqlite_master")}


def test_a_migration_whose_leading_foreign_keys_pragma_differs_runs_on_its_own(
    write_tree: WriteTree,
) -> None:
    root = write_tree(
        tree(
            {
                "schema/0001_a.sql": "CREATE TABLE a (x);\n",
                "schema/0002_b.sql": "PRAGMA foreign_keys = OFF;\nCREATE TABLE b (x);\n",
                "schema/0003_c.sql": "PRAGMA foreign_keys = ON;\nCREATE TABLE c (x);\n",
                "schema/0004_d.sql": "CREATE TABLE d (x);\n",
                "seed/0001_s.sql": "INSERT INTO a VALUES (1);\n",
            }
        )
    )
    pending = list(discover(root / MIGRATIONS).all_migrations())
    parts = [[m.label for m in part] for part in split(pending, foreign_keys_on=True)]
    assert parts == [["0001"], ["0002"], ["0003", "0004"], ["seed-0001"]]
    parts = [[m.label for m in part] for part in split(pending, foreign_keys_on=False)]
    assert parts == [["0001", "0002"], ["0003"], ["0004"], ["seed-0001"]]


# --- the run's other options -------------------------------------------------------------------


def test_target_groups_up_to_n_and_seeds_wait_for_the_head(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven({"seed/0001_s.sql": "INSERT INTO t1 VALUES (0);\n"}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--group", "--target", "4", "--no-backup") == 0
    assert "group of 4 migrations (0001..0004) committed" in capsys.readouterr().out
    assert versions(db) == [("schema", n) for n in range(1, 5)]


def test_resume_finishes_the_marked_migration_first_then_groups_the_rest(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    half = "-- @no-transaction\nCREATE TABLE h (x);\nINSERT INTO nowhere VALUES (1);\n"
    root = write_tree(seven({"data/0003_h.sql": half, "schema/0003_t3.sql": ""}))
    (root / MIGRATIONS / "schema/0003_t3.sql").unlink()
    (root / MIGRATIONS / "rollback/0003_rollback.sql").unlink()
    db = tmp_path / "app.db"
    assert migrate(root, db, "--group", "--no-backup") == 1
    assert [v for _, v in versions(db)] == [1, 2]  # the first group committed, 0003 dirty
    fixed = "-- @no-transaction\nCREATE TABLE IF NOT EXISTS h (x);\n"
    (root / MIGRATIONS / "data/0003_h.sql").write_text(fixed)
    capsys.readouterr()
    assert migrate(root, db, "--group", "--resume", "--no-backup") == 0
    out = capsys.readouterr().out
    assert out.index("applied 0003") < out.index("group of 4 migrations (0004..0007) committed")
    assert [v for _, v in versions(db)] == list(range(1, 8))


def test_warn_slow_names_each_grouped_migration_after_the_commit(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    assert migrate(root, tmp_path / "app.db", "--group", "--warn-slow", "0", "--no-backup") == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "--warn-slow" in line]
    assert len(warned) == 7 and "0001" in warned[0]


def test_group_true_in_the_migrate_section_of_the_config_file_groups_every_deploy(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    config = tmp_path / "migration-guard.yaml"
    config.write_text("migrate:\n  group: true\n")
    db = tmp_path / "app.db"
    with_config = ("--config", str(config), "--no-backup")
    assert migrate(root, db, *with_config) == 0
    assert "group of 7 migrations (0001..0007) committed" in capsys.readouterr().out
    # a rollback ignores the file's key: one transaction per step, as always
    assert migrate(root, db, *with_config, "--rollback", "6") == 0
    assert "rolled back 0007" in capsys.readouterr().out
    assert [v for _, v in versions(db)] == [1, 2, 3, 4, 5]
    assert [a for a, _, _ in log(db)][-2:] == ["rollback", "rollback"]


@pytest.mark.parametrize(
    "action", [("--rollback", "1"), ("--status",), ("--force-clean",), ("--baseline", "1")]
)
def test_group_on_the_command_line_goes_with_applying_only(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str], action: tuple[str]
) -> None:
    root = write_tree(seven())
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    before = dump(db)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        migrate(root, db, "--group", *action)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()  # argparse's line, then where --help is
    assert "--group goes with a plain run or --dry-run only" in err[0]
    assert dump(db) == before


# --- the dry run -------------------------------------------------------------------------------


def test_a_grouped_dry_run_changes_nothing_and_fails_where_the_real_run_fails(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven({"schema/0004_t4.sql": FAILS_AT_2}))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1", "--no-backup") == 0
    shutil.copyfile(db, tmp_path / "real.db")
    before = state(db)
    capsys.readouterr()
    assert migrate(root, db, "--group", "--dry-run") == 1
    out = capsys.readouterr().out
    assert state(db) == before
    assert f"would FAIL 0004: {root / MIGRATIONS}/schema/0004_t4.sql:2: no such table" in out
    assert "its group would be rolled back: 0002..0007" in out
    assert "dry run: 0 would succeed, 1 would fail; 3 not tried after it" in out
    assert migrate(root, tmp_path / "real.db", "--group", "--no-backup") == 1
    assert f"{root / MIGRATIONS}/schema/0004_t4.sql:2: no such table" in capsys.readouterr().err


def test_a_grouped_dry_run_that_succeeds_says_what_it_would_commit(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(SPLIT_TREE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1", "--no-backup") == 0
    before = state(db)
    capsys.readouterr()
    assert migrate(root, db, "--group", "--dry-run") == 0
    out = capsys.readouterr().out
    assert state(db) == before
    assert "group of 2 migrations (0004..0005) would commit" in out
    assert "dry run: all 9 would succeed; nothing was changed" in out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_grouped_dry_run_fails_if_and_only_if_the_grouped_real_run_fails(
    scenario: Scenario,
) -> None:
    """test_dry_run's property, both runs grouped (rollbacks are never grouped)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_scenario(root, scenario)
        db = root / "db" / "app.db"
        db.parent.mkdir()
        setup = ("--target", "1") if scenario.rollback_to is None else ()
        code, out = run(root, db, *setup, "--no-backup")
        assert code == 0 or scenario.rollback_to is not None, out
        if scenario.orphan:
            conn = sqlite3.connect(db)
            conn.execute("INSERT INTO c (pid) VALUES (77)")
            conn.commit()
            conn.close()
        if scenario.rollback_to is not None:
            return  # covered by test_dry_run; --group goes with applying only
        real_db = root / "real.db"
        shutil.copyfile(db, real_db)
        before = state(db)
        dry = verdict(*run(root, db, "--group", "--dry-run"))
        assert state(db) == before
        real = verdict(*run(root, real_db, "--group", "--no-backup"))
        assert dry == real, (dry, real)


# --- an older database -------------------------------------------------------------------------

OLD_LOG = (
    "CREATE TABLE schema_version_log (id INTEGER PRIMARY KEY, logged_at TEXT NOT NULL, "
    "action TEXT NOT NULL {check}, version INTEGER, migration_type TEXT, description TEXT, "
    "file_hash TEXT, execution_time_ms INTEGER, rows_affected INTEGER, error TEXT, "
    "cleared_at TEXT, applied_by TEXT, host TEXT);\n"
)
OLD_ACTIONS = "CHECK (action IN ('apply', 'failed', 'dirty', 'rollback', 'upgrade'))"


@pytest.mark.parametrize("check", ["", OLD_ACTIONS], ids=["extra column", "old actions only"])
def test_an_upgraded_older_database_gets_the_groups_log_rows(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str], check: str
) -> None:
    db = tmp_path / "app.db"
    make_db(db, LEGACY + OLD_LOG.format(check=check))  # seed-document table, our older log
    root = write_tree(tree(APP | {"schema/0004_bad.sql": "CREATE TABLE z (x);\nSELEC 1;\n"}))
    assert migrate(root, db, "--group", "--no-backup") == 1
    assert "group rolled back: 0003..0004" in capsys.readouterr().out
    assert [v for _, v in versions(db)] == [1, 2]  # upgraded (its own transaction), nothing more
    actions = [a for a, _, _ in log(db)]
    expected = ["upgrade", "failed"] + ([] if check else ["group rolled back"])
    assert actions == expected
    (root / MIGRATIONS / "schema/0004_bad.sql").write_text("CREATE TABLE z (x);\n")
    assert migrate(root, db, "--group", "--no-backup") == 0
    assert versions(db)[2:] == [("data", 3), ("schema", 4), ("seed", 1)]


def test_a_bookkeeping_row_refused_inside_a_group_rolls_back_the_whole_group(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(seven())
    db = tmp_path / "app.db"
    assert migrate(root, db, "--target", "1", "--no-backup") == 0
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TRIGGER no_three BEFORE INSERT ON schema_version WHEN new.version = 3 "
        "BEGIN SELECT RAISE(ABORT, 'not 0003'); END"
    )
    conn.close()
    before = dump(db)
    capsys.readouterr()
    assert migrate(root, db, "--group", "--no-backup") == 1
    captured = capsys.readouterr()
    assert "0003_t3.sql: the runner could not write its own bookkeeping row" in captured.err
    assert "group rolled back: 0002..0007" in captured.out
    assert dump(db) == before
