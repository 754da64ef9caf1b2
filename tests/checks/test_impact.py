"""Production impact: `precheck --export-stats` and `apply_sample --prod-stats` on real SQLite
files, the model on measured statements, and every bad stats file as one line and exit 2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ci.apply_sample import main as apply_sample
from ci.checks.impact_model import Scales, estimate
from ci.core.model import discover
from ci.db.impact import Measurer
from ci.db.prodstats import FORMAT, ProdStats, TableStats
from ci.precheck import main as precheck
from tests.conftest import WriteTree

ROWS = 2000
BASE: dict[str, str | bytes] = {
    "m/schema/0001_readings.sql": (
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, value REAL, note TEXT);\n"
        "CREATE TABLE wards (id INTEGER PRIMARY KEY, name TEXT);\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE readings;\nDROP TABLE wards;\n",
    "m/rollback/0002_rollback.sql": "SELECT 1;\n",
    "sample.sql": (
        "-- @sample-version 1\n"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)\n"
        "INSERT INTO readings (id, value, note) SELECT i, i * 0.5, 'secret-' || i FROM n;\n"
        "INSERT INTO wards (id, name) VALUES (1, 'ICU');\n"
    ),
}
UPDATE = (
    "-- double every reading\n-- @rewrites readings(value)\n"
    "UPDATE readings SET value = value * 2;\n"
)
BATCHED = (
    "-- @batch 100\n"
    "-- @rewrites readings(note)\n"
    "UPDATE readings SET note = NULL\n"
    "WHERE id IN (SELECT id FROM readings WHERE note IS NOT NULL LIMIT :batch_size);\n"
)


def stats_file(path: Path, tables: dict[str, int], schema_version: int | None = 1) -> Path:
    document = {
        "format": FORMAT,
        "version": 1,
        "schema_version": schema_version,
        "tables": {t: {"rows": n, "pages": 1, "index_pages": 0} for t, n in tables.items()},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def run(root: Path, *args: str) -> int:
    return apply_sample(
        ["--migrations-dir", str(root / "m"), "--sample", str(root / "sample.sql"), *args]
    )


def tree_with(write_tree: WriteTree, migration: str, name: str = "data/0002_double.sql") -> Path:
    return write_tree({**BASE, f"m/{name}": migration})


# --- precheck --export-stats -----------------------------------------------------------------


def make_prod(path: Path, rows: int) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, value REAL, note TEXT)")
        conn.execute("CREATE INDEX readings_value ON readings (value)")
        conn.execute("CREATE TABLE wards (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany(
            "INSERT INTO readings VALUES (?, ?, ?)", ((i, i, f"secret-{i}") for i in range(rows))
        )
    conn.close()
    return path


def test_export_stats_writes_row_and_page_counts_and_no_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_prod(tmp_path / "prod.db", 5000)
    before = db.read_bytes()
    out = tmp_path / "stats.json"
    assert precheck(["--db", str(db), "--export-stats", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["format"] == FORMAT and document["version"] == 1
    assert document["pages_from"] == "dbstat"
    readings = document["tables"]["readings"]
    assert readings["rows"] == 5000 and readings["pages"] > 10 and readings["index_pages"] > 5
    assert document["tables"]["wards"]["rows"] == 0
    assert "secret" not in text  # counts only, never a value
    assert db.read_bytes() == before  # read-only
    assert "row and page counts of 2 tables (pages from dbstat)" in capsys.readouterr().err


def test_export_stats_refuses_to_overwrite_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_prod(tmp_path / "prod.db", 10)
    before = db.read_bytes()
    assert precheck(["--db", str(db), "--export-stats", str(db)]) == 2
    assert "--export-stats needs a file of its own" in capsys.readouterr().err
    assert db.read_bytes() == before


def wal_database(path: Path) -> sqlite3.Connection:
    """A WAL database whose last transaction is committed in the -wal file only (the app has
    not checkpointed): returned open, as the application that keeps it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE important (x TEXT)")
    conn.execute("INSERT INTO important VALUES ('committed row')")
    return conn


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_export_stats_refuses_the_files_sqlite_keeps_beside_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    db = tmp_path / "w.db"
    app = wal_database(db)
    beside = Path(f"{db}{suffix}")
    if suffix == "-journal":  # an empty one (journal_mode=TRUNCATE leaves it): refused too
        beside.write_bytes(b"")
    before = beside.read_bytes()
    assert precheck(["--db", str(db), "--export-stats", str(beside)]) == 2
    err = capsys.readouterr().err
    assert f"--export-stats {beside}: that is a file SQLite keeps beside the database" in err
    assert beside.read_bytes() == before
    app.close()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT x FROM important").fetchall() == [("committed row",)]
    check.close()


def test_export_stats_replaces_only_an_empty_file_or_a_previous_stats_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_prod(tmp_path / "prod.db", 10)
    migration = tmp_path / "0001_initial.sql"
    migration.write_text("CREATE TABLE readings (id INTEGER PRIMARY KEY);\n", encoding="utf-8")
    other_json = tmp_path / "package.json"
    other_json.write_text('{"name": "app", "format": "migration-guard-stats"}\n', "utf-8")
    for kept in (migration, other_json):
        before = kept.read_bytes()
        assert precheck(["--db", str(db), "--export-stats", str(kept)]) == 2
        assert "refusing to overwrite an existing file that is not a stats file" in (
            capsys.readouterr().err
        )
        assert kept.read_bytes() == before
    stats, empty, compact = (tmp_path / n for n in ("stats.json", "empty.json", "compact.json"))
    empty.write_bytes(b"")
    compact.write_text(f'{{"format":"{FORMAT}","version":1,"tables":{{}}}}', "utf-8")
    for path in (stats, stats, empty, compact):  # the second export replaces the first
        assert precheck(["--db", str(db), "--export-stats", str(path)]) == 0
        assert json.loads(path.read_text("utf-8"))["tables"]["readings"]["rows"] == 10


# --- apply_sample --prod-stats ---------------------------------------------------------------


def test_estimate_scales_rows_by_production_counts(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1})
    assert run(root, "--prod-stats", str(stats)) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "0002 data/0002_double.sql" in x)
    assert "writes readings ~200,000 rows" in line and "(whole)" in line


def test_the_json_report_and_junit_carry_each_migrations_estimate(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1})
    junit = root / "junit.xml"
    args = ("--prod-stats", str(stats), "--format", "json", "--junit", str(junit))
    assert run(root, *args) == 0
    captured = capsys.readouterr()
    cases = json.loads(captured.out)["checks"][0]["cases"]
    impact = next(c["impact"] for c in cases if c["name"].startswith("production impact 0002"))
    assert impact["rows_written"] == {"readings": 200_000}
    assert impact["lock_held"] == "whole" and impact["lock_line"] == 3
    assert impact["seconds"] >= impact["lock_seconds"] > 0
    assert impact["sample_seconds"] >= 0 and impact["unscaled"] == []
    line = next(x for x in captured.err.splitlines() if "0002 data/0002_double.sql" in x)
    assert impact["summary"] == line.strip()
    assert sum("impact" in c for c in cases) == 1  # the migration's case only
    assert f"<system-out>{line.strip()}</system-out>" in junit.read_text(encoding="utf-8")


def test_lock_over_the_budget_is_mg315_naming_the_statement(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1})
    assert run(root, "--prod-stats", str(stats), "--max-lock-seconds", "0") == 1
    out = capsys.readouterr().out
    assert "data/0002_double.sql:3: MG315 0002 would hold the write lock for ~" in out
    assert "(the whole migration; estimated, budget --max-lock-seconds 0)" in out
    assert "-- @batch N" in out
    assert run(root, "--prod-stats", str(stats), "--max-lock-seconds", "3600") == 0


def test_batch_migration_holds_the_lock_one_batch_at_a_time(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, BATCHED, "data/0002_clear_notes.sql")
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1})
    assert run(root, "--prod-stats", str(stats), "--max-lock-seconds", "0", "--format", "json") == 1
    captured = capsys.readouterr()
    findings = [
        f
        for check in json.loads(captured.out)["checks"]
        for case in check["cases"]
        for f in case["findings"]
    ]
    (lock,) = [f for f in findings if f["code"] == "MG315"]
    assert lock["line"] == 3 and lock["path"].endswith("0002_clear_notes.sql")
    assert "(one batch of 100 rows;" in lock["message"] and "lower N" in lock["hint"]
    line = next(x for x in captured.err.splitlines() if "0002_clear_notes" in x)
    assert "(one batch)" in line and "writes readings ~200,000 rows" in line


def test_budget_from_the_config_file(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1})
    config = root / "mg.yaml"
    config.write_text(f"prod_stats: {stats}\nmax_lock_seconds: 0\n", encoding="utf-8")
    assert run(root, "--config", str(config)) == 1
    assert "MG315" in capsys.readouterr().out


def test_stats_that_do_not_fit_are_warnings(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS}, schema_version=0)
    assert run(root, "--prod-stats", str(stats)) == 0
    out = capsys.readouterr().out
    assert "MG316 warning: the stats" in out
    assert "exported at schema version 0000, the sample is at 0001" in out
    assert "have no row count for wards: scaled as the database as a whole (x100.0)" in out


def test_table_empty_in_the_sample_only_is_a_warning(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, "UPDATE wards SET name = upper(name);\nDELETE FROM wards;\n")
    root.joinpath("sample.sql").write_text(
        "-- @sample-version 1\nINSERT INTO readings (id) VALUES (1);\n", encoding="utf-8"
    )
    stats = stats_file(root / "stats.json", {"readings": 100, "wards": 5000})
    assert run(root, "--prod-stats", str(stats)) == 0
    out = capsys.readouterr().out
    assert "0002: table wards is empty in the sample and holds 5,000 rows in production" in out


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "stats.json: stats file not found"),
        ("{\n  'rows': 1\n}", "stats.json:2: not a stats file: Expecting property name"),
        ('{"format": "other"}', "stats.json: not a migration-guard stats file"),
        (f'{{"format": "{FORMAT}", "version": 9, "tables": {{}}}}', "stats format version 9"),
        (
            f'{{"format": "{FORMAT}", "version": 1, "tables": {{"t": {{"rows": -1}}}}}}',
            "stats.json: tables.t: expected",
        ),
        (b"\xff\xfe", "stats.json: cannot read the stats file: not UTF-8 text"),
    ],
)
def test_unreadable_stats_is_one_line_and_exit_2_before_any_work(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes | None,
    error: str,
) -> None:
    root = tree_with(write_tree, UPDATE)
    stats = root / "stats.json"
    if isinstance(content, bytes):
        stats.write_bytes(content)
    elif content is not None:
        stats.write_text(content, encoding="utf-8")
    assert run(root, "--prod-stats", str(stats)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and error in lines[0] and "Traceback" not in captured.err
    assert captured.out.count("\n") <= 1  # nothing ran: no migration case was reported


def hostile_stats(root: Path) -> dict[str, tuple[Path, str]]:
    """Stats files that once crashed apply_sample with a traceback, and the line each gives."""
    valid = {"format": FORMAT, "version": 1, "tables": {"readings": {"rows": 1, "pages": 1}}}
    huge = json.loads(json.dumps(valid))
    huge["tables"]["readings"]["rows"] = 10**400  # OverflowError when divided into a float
    files = {
        "huge": (json.dumps(huge), "tables.readings: expected"),
        "digits": (  # ValueError: Python reads no integer of over 4300 digits
            json.dumps(valid).replace('"version": 1', '"version": 1' + "0" * 5000),
            "not a stats file: a number of thousands of digits",
        ),
        "deep": (  # RecursionError in the parser
            f'{{"format": "{FORMAT}", "version": 1, "tables": {{"x": '
            + "[" * 100_000
            + "]" * 100_000
            + "}}",
            "deep.json:1: not a stats file: nested more than 32 deep",
        ),
    }
    made = {}
    for name, (text, error) in files.items():
        path = root / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        made[name] = (path, error)
    zero = root / "zero.json"
    zero.symlink_to("/dev/zero")  # read whole, it never ends
    made["zero"] = (zero, "zero.json: the stats file is a socket or a device, not a regular")
    return made


def test_hostile_stats_file_is_one_line_and_exit_2(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    for name, (path, error) in hostile_stats(root).items():
        assert run(root, "--prod-stats", str(path)) == 2, name
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and error in lines[0], (name, captured.err)
        assert len(lines[0]) < 200 and "Traceback" not in captured.err


def test_a_stats_file_over_the_size_bound_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci.core.errors import UsageError
    from ci.db import prodstats

    path = stats_file(tmp_path / "stats.json", {"readings": 1})
    monkeypatch.setattr(prodstats, "MAX_BYTES", path.stat().st_size - 1)
    with pytest.raises(UsageError, match=r"stats\.json: not a stats file: larger than"):
        prodstats.load(path)


def test_a_fifo_as_stats_file_is_refused_at_once(write_tree: WriteTree) -> None:
    root = tree_with(write_tree, UPDATE)
    fifo = root / "stats.json"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "ci.apply_sample", "--migrations-dir", str(root / "m")]
    command += ["--sample", str(root / "sample.sql"), "--prod-stats", str(fifo)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"apply_sample: {fifo}: the stats file is a FIFO (named pipe), not a regular file"
    ]


def test_budget_without_stats_is_a_usage_error(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, UPDATE)
    assert run(root, "--max-lock-seconds", "5") == 2
    assert "--max-lock-seconds needs --prod-stats FILE" in capsys.readouterr().err


# --- the model, on statements measured on real SQLite ----------------------------------------

REBUILD = (
    "PRAGMA foreign_keys = OFF;\n"
    "CREATE TABLE readings_new (id INTEGER PRIMARY KEY, value REAL);\n"
    "INSERT INTO readings_new (id, value) SELECT id, value FROM readings;\n"
    "DROP TABLE readings;\n"
    "ALTER TABLE readings_new RENAME TO readings;\n"
    "CREATE INDEX readings_value ON readings (value);\n"
)


def measured(
    write_tree: WriteTree, migration: str, scale: float = 1.0
) -> tuple[Measurer, list[object]]:
    root = write_tree({**BASE, "m/schema/0002_rebuild.sql": migration})
    catalog = discover(root / "m")
    db = root / "s.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(BASE["m/schema/0001_readings.sql"])  # type: ignore[arg-type]
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
            "INSERT INTO readings (id, value, note) SELECT i, i, 'n' FROM n"
        )
    conn.close()
    from ci.db.runner import connect

    conn = connect(db, durable=False)
    measurer = Measurer(conn)
    measurer.scale_to(scale)
    runs = [measurer.run(m) for m in catalog.main if m.version == 2]
    conn.close()
    return measurer, runs


def test_a_rebuild_keeps_the_scale_of_the_table_it_replaces(write_tree: WriteTree) -> None:
    measurer, runs = measured(write_tree, REBUILD)
    stats = ProdStats(Path("s.json"), 1, {"readings": TableStats(50_000, 1, 0)})
    scales = Scales(stats, {"readings": 500, "wards": 0})
    (result,) = estimate(runs, scales)  # type: ignore[arg-type]
    copy, rename, index = (runs[0].statements[i] for i in (2, 4, 5))  # type: ignore[attr-defined]
    assert copy.created == set() and copy.writes == {"readings_new"} and copy.changes == 500
    assert rename.renamed == {"readings_new": "readings"}
    assert index.indexed == {"readings"}
    assert result.rows == {"readings": 50_000}  # under the name it has after the migration
    assert scales.table["readings"] == 100.0  # the new table took the old one's scale
    assert result.lock == pytest.approx(result.seconds) and result.line is not None
    assert measurer.counts["readings"] == 500


def test_scale_is_weighted_by_the_rows_each_statement_touches() -> None:
    from ci.db.impact import StatementRun

    statement = StatementRun(3)
    statement.reads = {"big", "small"}
    statement.rows = {"big": 900, "small": 100}
    stats = ProdStats(
        Path("s.json"), 1, {"big": TableStats(9000, 1, 0), "small": TableStats(100, 1, 0)}
    )
    scales = Scales(stats, {"big": 900, "small": 100})
    assert scales.of(statement) == pytest.approx((900 * 10 + 100 * 1) / 1000)
    assert scales.database == pytest.approx(9100 / 1000)


def test_batch_lock_is_one_batch_at_the_migrations_time_per_row(write_tree: WriteTree) -> None:
    _, runs = measured(write_tree, BATCHED)
    (run,) = runs
    assert run.mode == "batch" and run.batches == 5  # type: ignore[attr-defined]
    (statement,) = run.statements  # type: ignore[attr-defined]
    # measured times: only their signs are facts (compile vs run time swaps under load)
    assert statement.executions == 6 and statement.fixed > 0 and statement.seconds > 0
    stats = ProdStats(Path("s.json"), 1, {"readings": TableStats(50_000, 1, 0)})
    scales = Scales(stats, {"readings": 500, "wards": 0})
    (result,) = estimate(runs, scales, commit=0.01)  # type: ignore[arg-type]
    assert result.rows == {"readings": 50_000}
    # 500 rows on the sample, 50,000 in production: 500 batches of 100 and one that finds
    # nothing, each compiled once and committed once; the lock is one batch of 100 rows at the
    # time per row of the last batches
    fixed = statement.fixed / 6
    per_row = (statement.seconds - statement.fixed) / 500
    reads = run.reads_first * 100  # type: ignore[attr-defined]
    assert result.seconds == pytest.approx(reads + 501 * (fixed + 0.01) + per_row * 50_000)
    last_seconds, last_rows = run.batch_work[-1]  # type: ignore[attr-defined]
    assert last_rows == 100
    assert result.lock == pytest.approx(fixed + 0.01 + last_seconds / 100 * 100)
    assert result.lock < result.seconds  # one commit held, against 501 in all


def test_on_a_sample_that_stands_for_more_a_batch_runs_as_many_batches(
    write_tree: WriteTree,
) -> None:
    # production is 20 times the sample: 10,000 rows in 10 batches of 1,000; on the sample 500
    # rows in 10 batches of 50
    _, runs = measured(write_tree, BATCHED.replace("@batch 100", "@batch 1000"), 20)
    (run,) = runs
    assert run.sample_batch_size == 50 and run.batches == 10  # type: ignore[attr-defined]
    assert [rows for _, rows in run.batch_work] == [50] * 10  # type: ignore[attr-defined]


def test_the_sample_gets_its_share_of_the_page_cache(tmp_path: Path) -> None:
    from ci.db.runner import connect

    conn = connect(tmp_path / "s.db", durable=False)
    conn.execute("PRAGMA cache_size = -2000")  # SQLite's default: 2,000 KiB
    Measurer(conn).scale_to(10)
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -200
    Measurer(conn).scale_to(1000)  # never under SQLite's floor of 10 pages
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -40
    conn.close()


def test_compiling_is_not_scaled_and_a_commit_is_added(write_tree: WriteTree) -> None:
    _, runs = measured(write_tree, UPDATE)
    (statement,) = runs[0].statements  # type: ignore[attr-defined]
    assert statement.fixed > 0 and statement.seconds > 0  # their order is the machine's
    stats = ProdStats(Path("s.json"), 1, {"readings": TableStats(50_000, 1, 0)})
    (result,) = estimate(runs, Scales(stats, {"readings": 500}), commit=0.02)  # type: ignore[arg-type]
    # compiling is measured apart, and on a busy machine can take longer than the whole run
    # measured: the model takes no more than the run for it (never a negative rest)
    fixed = min(statement.fixed, statement.seconds)
    variable = statement.seconds - fixed
    assert result.seconds == pytest.approx(fixed + variable * 100 + 0.02)
    assert result.lock == result.seconds


def test_a_temporary_table_does_not_outlive_its_migration(write_tree: WriteTree) -> None:
    from ci.db.runner import connect

    root = write_tree(
        {
            **BASE,
            "m/data/0002_scratch.sql": "CREATE TEMP TABLE wards (id INTEGER);\n",
            "m/data/0003_rename.sql": "-- @rewrites wards(name)\nUPDATE wards SET name = 'x';\n",
        }
    )
    db = root / "s.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(str(BASE["m/schema/0001_readings.sql"]))
        conn.execute("INSERT INTO wards VALUES (1, 'ICU')")
    conn.close()
    conn = connect(db, durable=False)
    measurer = Measurer(conn)
    runs = [measurer.run(m) for m in discover(root / "m").main if m.version > 1]
    assert runs[1].statements[0].changes == 1  # the main table, not a leftover temp one
    assert runs[1].statements[0].writes == {"wards"}
    assert conn.execute("SELECT name FROM wards").fetchall() == [("x",)]
    conn.close()


def test_without_dbstat_pages_are_shared_out_by_rows() -> None:
    from ci.db.prodstats import estimated_pages

    pages, source = estimated_pages({"big": 900, "small": 100, "none": 0}, 1000)
    assert source == "estimate"
    assert pages == {"big": (900, 0), "small": (100, 0), "none": (0, 0)}


def test_export_stats_is_command_line_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_prod(tmp_path / "prod.db", 10)
    config = tmp_path / "mg.yaml"
    config.write_text(f"export_stats: {tmp_path / 'stats.json'}\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        precheck(["--db", str(db), "--config", str(config)])
    assert stopped.value.code == 2
    assert "export_stats: command-line only" in capsys.readouterr().err
    assert not (tmp_path / "stats.json").exists()


# --- statements that only change the schema ---------------------------------------------------

CONSTANT = (
    "ALTER TABLE readings ADD COLUMN unit TEXT DEFAULT 'mmol/L';\n"
    "ALTER TABLE readings RENAME COLUMN note TO remark;\n"
    "CREATE TABLE units (id INTEGER PRIMARY KEY);\n"
    "CREATE VIEW high AS SELECT * FROM readings WHERE value > 10;\n"
    "CREATE TRIGGER keep AFTER DELETE ON readings BEGIN SELECT 1; END;\n"
    "DROP VIEW high;\n"
    "ALTER TABLE /* old name */ readings RENAME TO samples;\n"
)
GROWING = (
    "CREATE INDEX readings_value ON readings (value);\n"
    "DROP INDEX readings_value;\n"
    "ALTER TABLE readings ADD COLUMN checked INTEGER CHECK (checked IS NULL);\n"
    "ALTER TABLE readings DROP COLUMN note;\n"
    "CREATE TABLE copy AS SELECT * FROM readings;\n"
    "DROP TABLE copy;\n"
)


@pytest.mark.parametrize(("migration", "constant"), [(CONSTANT, True), (GROWING, False)])
def test_only_statements_that_touch_rows_are_scaled(
    write_tree: WriteTree, migration: str, constant: bool
) -> None:
    _, runs = measured(write_tree, migration)
    statements = runs[0].statements  # type: ignore[attr-defined]
    assert [s.constant for s in statements] == [constant] * len(statements)
    stats = ProdStats(Path("s.json"), 1, {"readings": TableStats(50_000_000, 1, 0)})
    (result,) = estimate(runs, Scales(stats, {"readings": 500}))  # type: ignore[arg-type]
    sample = sum(s.seconds for s in statements)
    assert (result.seconds == pytest.approx(sample)) is constant


def test_adding_a_column_to_a_big_table_is_within_the_budget(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree_with(write_tree, "ALTER TABLE readings ADD COLUMN unit TEXT;\n")
    stats = stats_file(root / "stats.json", {"readings": 10**12, "wards": 1})
    assert run(root, "--prod-stats", str(stats), "--max-lock-seconds", "5") == 0
    assert "MG315" not in capsys.readouterr().out


def test_migrations_production_has_applied_are_not_estimated(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stats exported at 0002 say production has 0002: only 0003 is judged against the budget
    (a newcomer's prod-stats failed every push on migrations deployed long ago)."""
    root = write_tree({**BASE, "m/data/0002_double.sql": UPDATE, "m/data/0003_double.sql": UPDATE})
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1}, 2)
    assert run(root, "--prod-stats", str(stats), "--max-lock-seconds", "0.000001") == 1
    out = capsys.readouterr().out
    assert "0003_double.sql:3: MG315" in out
    assert "0002_double.sql:3: MG315" not in out
    assert "the sample is at 0001 and production at 0002" in out


def test_a_table_with_a_handful_of_sample_rows_gives_no_lock_verdict(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """Five rows timed and multiplied by 200,000 are noise: a newcomer's pushes failed or
    passed MG315 at random. The estimate is still shown, with an MG316 warning, and no MG315."""
    root = tree_with(write_tree, UPDATE)
    root.joinpath("sample.sql").write_text(
        "-- @sample-version 1\nINSERT INTO readings (id, value) VALUES (1, 1), (2, 2), (3, 3),"
        " (4, 4), (5, 5);\nINSERT INTO wards (id, name) VALUES (1, 'ICU');\n",
        encoding="utf-8",
    )
    stats = stats_file(root / "stats.json", {"readings": 1_000_000, "wards": 1})
    assert run(root, "--prod-stats", str(stats), "--max-lock-seconds", "0.000001") == 0
    out = capsys.readouterr().out
    assert "MG315" not in out
    assert "0002: scaled from tables with fewer than 100 rows in the sample: readings (5)" in out


# --- what the sample cannot say: a statement that changes no sample row --------------------

AUDIT = (
    "CREATE TABLE audit (reading INTEGER);\n"
    "CREATE TRIGGER wards_audit AFTER UPDATE ON wards BEGIN\n"
    "  INSERT INTO audit SELECT id FROM readings WHERE id = new.id;\nEND;\n"
)
AUDIT_ROLLBACK = "DROP TRIGGER wards_audit;\nDROP TABLE audit;\n"


def probed(write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str) -> str:
    """apply_sample --prod-stats on `migration` as data/0003 (after 0002 adds an audit table
    filled by a trigger): stdout and stderr together; it must pass."""
    root = write_tree(
        {
            **BASE,
            "m/schema/0002_audit.sql": AUDIT,
            "m/rollback/0002_rollback.sql": AUDIT_ROLLBACK,
            "m/data/0003_probe.sql": migration,
            "m/rollback/0003_rollback.sql": "SELECT 1;\n",
        }
    )
    tables = {"readings": 100 * ROWS, "wards": 5000, "audit": 0}
    stats = stats_file(root / "stats.json", tables)
    assert run(root, "--prod-stats", str(stats), "--format", "json") == 0
    captured = capsys.readouterr()
    return captured.out + captured.err


ZERO_ON_THE_SAMPLE = {
    "UPDATE ... WHERE matching no sample row": (
        "-- @rewrites readings\nUPDATE readings SET note = 'x' WHERE value > 5000;\n",
        "line 2 writes readings",
    ),
    "INSERT ... SELECT finding nothing": (
        "INSERT INTO audit SELECT id FROM readings WHERE value < 0;\n",
        "line 1 writes audit",
    ),
    "DELETE with a subquery matching nothing": (
        "-- @allow-row-loss readings\n"
        "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE value < 0);\n",
        "line 2 writes readings",
    ),
    "a trigger's statement that does not fire on the sample": (
        "-- @rewrites wards\nUPDATE wards SET name = 'x' WHERE id > 1;\n",
        "line 2 writes audit, wards",
    ),
    "a @batch that finds nothing to do on the sample": (
        "-- @batch 100\n-- @rewrites readings(note)\nUPDATE readings SET note = NULL WHERE id IN\n"
        "(SELECT id FROM readings WHERE value > 5000 AND note IS NOT NULL LIMIT :batch_size);\n",
        "line 3 writes readings",
    ),
}


@pytest.mark.parametrize(
    ("migration", "says"), ZERO_ON_THE_SAMPLE.values(), ids=list(ZERO_ON_THE_SAMPLE)
)
def test_a_statement_that_changes_no_sample_row_is_unknown_not_no_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], migration: str, says: str
) -> None:
    """The sample's 0 is no estimate of production: the line says '?', MG316 says why."""
    out = probed(write_tree, capsys, migration)
    line = next(x for x in out.splitlines() if "  0003 data/0003_probe.sql" in x)
    assert "writes no rows" not in line and "? rows (line" in line, line
    cases = json.loads(out[: out.rindex("}") + 1])["checks"][0]["cases"]
    warnings = [f["message"] for c in cases for f in c["findings"] if f["code"] == "MG316"]
    assert f"0003: {says} and changed no row on the sample" in "\n".join(warnings), out
    impact = next(c["impact"] for c in cases if c["name"].startswith("production impact 0003"))
    assert impact["rows_unknown"] and impact["rows_written"] == {}


def test_insert_select_into_an_empty_table_scales_by_the_table_it_reads(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rows it puts into `audit` (empty in the sample and in production) are its output:
    weighing them as a table of scale 1 halved the estimate (~101,000 for 200,000)."""
    schema = str(BASE["m/schema/0001_readings.sql"]) + "CREATE TABLE audit (reading INTEGER);\n"
    root = write_tree(
        {
            **BASE,
            "m/schema/0001_readings.sql": schema,
            "m/data/0002_audit.sql": "INSERT INTO audit SELECT id FROM readings;\n",
        }
    )
    stats = stats_file(root / "stats.json", {"readings": 100 * ROWS, "wards": 1, "audit": 0})
    assert run(root, "--prod-stats", str(stats)) == 0
    err = capsys.readouterr().err
    assert "writes audit ~200,000 rows" in err, err


def test_rows_given_as_values_are_not_scaled(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """REPLACE/INSERT ... VALUES writes the rows it lists, whatever the table's size (it
    was estimated at the table's scale: ~5,000 rows for one)."""
    out = probed(write_tree, capsys, "-- @rewrites wards\nREPLACE INTO wards VALUES (1, 'y');\n")
    assert "writes wards ~1 row" in out and "wards ~5,000" not in out, out
