"""`ci.migrate --format json`: one document on stdout for every mode, valid against the
committed schema (docs/schemas/migrate-output.schema.json), with the same verdicts and exit codes
as the text run. Real processes on real SQLite files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from ci.core.sqltext import checksum
from tests.conftest import BASE, MIGRATIONS, REPO, WriteTree, dump, query, run_on_tree, seven, tree
from tests.db.test_runaway import NEVER_ENDS, SAFETY_NET

SCHEMA = json.loads((REPO / "docs/schemas/migrate-output.schema.json").read_text("utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
M = MIGRATIONS
BAD_THIRD = "INSERT INTO patients (mrn) VALUES ('a');\nSELECT 1;\nCREAT TABLE x (y);\n"
# a @no-transaction migration whose second statement fails: the first stays, the mark stays open
HALF_DONE = "-- @no-transaction\nCREATE TABLE half (x);\nINSERT INTO nowhere VALUES (1);\n"


def migrate_json(
    root: Path, *args: str
) -> tuple[dict[str, object], subprocess.CompletedProcess[str]]:
    """Run the command with --format json in the tree; stdout must be exactly one valid
    document, whatever the exit code."""
    done = run_on_tree("ci.migrate", root, "--db", "app.db", *args, "--format", "json")
    document = json.loads(done.stdout)  # the whole of stdout: one document, nothing else
    errors = sorted(VALIDATOR.iter_errors(document), key=str)
    assert not errors, f"{errors[0].message} at {list(errors[0].path)}\n{done.stdout}"
    assert "Traceback" not in done.stderr
    assert document["exit_code"] == done.returncode
    return document, done


def labels(items: object) -> list[str]:
    assert isinstance(items, list)
    return [str(item["label"]) for item in items]


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_status_of_a_fresh_database_lists_everything_as_pending(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    doc, done = migrate_json(root, "--status")
    assert done.returncode == 0 and done.stderr == ""
    assert doc["command"] == "status" and doc["outcome"] == "ok" and doc["run"] is None
    assert doc["database"] == {"path": "app.db", "exists": False, "version": 0}
    assert doc["head"] == 2 and doc["applied"] == [] and doc["dirty"] == []
    first = doc["pending"][0]  # type: ignore[index]
    path = f"{M}/schema/0001_patients.sql"
    assert first == {
        "version": 1,
        "label": "0001",
        "track": "main",
        "kind": "schema",
        "name": "patients",
        "file": path,
        "hash": checksum((root / path).read_bytes()),
    }
    assert not (root / "app.db").exists()


def test_apply_then_status_on_a_partial_database(write_tree: WriteTree) -> None:
    root = write_tree(
        tree(BASE | {"seed/0001_defaults.sql": "INSERT OR IGNORE INTO patients VALUES (9, 'S');\n"})
    )
    doc, done = migrate_json(root, "--target", "1")
    assert done.returncode == 0
    assert "applied 0001" in done.stderr  # the human lines went to stderr
    run = doc["run"]
    assert isinstance(run, dict)
    assert run["options"] == {"target": 1, "rollback": None, "group": False, "resume": False}
    assert labels(run["planned"]) == ["0001"] and labels(run["steps"]) == ["0001"]
    assert run["steps"][0]["action"] == "applied"
    assert doc["database"] == {"path": "app.db", "exists": True, "version": 1}
    assert labels(doc["pending"]) == ["0002", "seed-0001"]

    doc, _ = migrate_json(root, "--status")
    (row,) = doc["applied"]  # type: ignore[misc]
    recorded = query(
        root / "app.db",
        "SELECT file_hash, applied_at, execution_time_ms, rows_affected FROM schema_version",
    )
    assert (
        row["hash"],
        row["applied_at"],
        row["execution_time_ms"],
        row["rows_affected"],
    ) == recorded[0]
    assert row["hash"] == checksum((root / M / "schema/0001_patients.sql").read_bytes())
    assert row["state"] == "ok" and row["file"] == f"{M}/schema/0001_patients.sql"
    assert labels(doc["pending"]) == ["0002", "seed-0001"]
    pending_seed = doc["pending"][1]  # type: ignore[index]
    assert pending_seed["track"] == "seed" and pending_seed["kind"] == "seed"

    doc, _ = migrate_json(root)
    steps = doc["run"]["steps"]  # type: ignore[index]
    assert [(s["label"], s["rows_affected"]) for s in steps] == [("0002", 5), ("seed-0001", 1)]
    assert doc["pending"] == [] and doc["database"]["version"] == 2  # type: ignore[index]
    assert doc["run"]["rows_affected"] == 6  # type: ignore[index]


def test_a_failing_apply_names_file_and_line_and_changes_nothing(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE | {"data/0003_bad.sql": BAD_THIRD}))
    migrate_json(root, "--target", "2")
    before = dump(root / "app.db")
    doc, done = migrate_json(root, "--no-backup")
    assert done.returncode == 1 and doc["outcome"] == "migration-failed"
    error = doc["error"]
    assert isinstance(error, dict)
    assert (error["file"], error["line"]) == (f"{M}/data/0003_bad.sql", 3)
    assert error["message"] == 'near "CREAT": syntax error' and error["left_dirty"] is None
    assert "FAILED: that migration was rolled back" in done.stderr
    assert doc["run"]["steps"] == [] and labels(doc["pending"]) == ["0003"]  # type: ignore[index]
    assert dump(root / "app.db") == before


def test_a_dirty_database_status_and_the_refused_run(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE | {"data/0003_half.sql": HALF_DONE}))
    doc, done = migrate_json(root, "--no-backup")
    assert done.returncode == 1
    assert "before line 3 stay committed" in str(doc["error"]["left_dirty"])  # type: ignore[index]

    doc, done = migrate_json(root, "--status")
    assert done.returncode == 1 and doc["outcome"] == "problems"
    (mark,) = doc["dirty"]  # type: ignore[misc]
    assert (mark["label"], mark["file"]) == ("0003", f"{M}/data/0003_half.sql")
    assert "no such table: nowhere" in mark["error"] and "--resume" in mark["message"]

    doc, done = migrate_json(root, "--no-backup")
    assert done.returncode == 1 and doc["outcome"] == "refused"
    assert doc["error"]["lines"][0].startswith("database is dirty: 0003")  # type: ignore[index]
    assert doc["run"]["steps"] == []  # type: ignore[index]


def test_an_edited_applied_file_is_a_problem_in_status(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    migrate_json(root)
    (root / M / "schema/0001_patients.sql").write_text("CREATE TABLE patients (id INTEGER);\n")
    doc, done = migrate_json(root, "--status")
    assert done.returncode == 1 and doc["outcome"] == "problems"
    states = [(r["label"], r["state"]) for r in doc["applied"]]  # type: ignore[union-attr]
    assert states == [("0001", "edited"), ("0002", "ok")]


def test_rollback_lists_the_rollback_files_it_ran(write_tree: WriteTree) -> None:
    root = write_tree(seven())
    migrate_json(root)
    doc, done = migrate_json(root, "--rollback", "6", "--no-backup")
    assert done.returncode == 0 and doc["command"] == "rollback"
    run = doc["run"]
    assert isinstance(run, dict)
    assert [(s["action"], s["label"], s["file"]) for s in run["steps"]] == [
        ("rolled back", "0007", f"{M}/rollback/0007_rollback.sql"),
        ("rolled back", "0006", f"{M}/rollback/0006_rollback.sql"),
    ]
    assert labels(run["planned"]) == ["0007", "0006"]
    assert doc["database"]["version"] == 5 and labels(doc["pending"]) == ["0006", "0007"]  # type: ignore[index]


def test_dry_run_says_so_and_fails_where_the_real_run_fails(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE | {"data/0003_bad.sql": BAD_THIRD}))
    doc, done = migrate_json(root, "--dry-run")
    assert done.returncode == 1 and doc["dry_run"] is True
    steps = doc["run"]["steps"]  # type: ignore[index]
    assert [(s["action"], s["label"]) for s in steps] == [
        ("would apply", "0001"),
        ("would apply", "0002"),
    ]
    assert (doc["error"]["file"], doc["error"]["line"]) == (f"{M}/data/0003_bad.sql", 3)  # type: ignore[index]
    assert doc["database"]["exists"] is False and not (root / "app.db").exists()  # type: ignore[index]
    real, _ = migrate_json(root)
    assert real["error"]["file"] == doc["error"]["file"]  # type: ignore[index]
    assert real["error"]["line"] == doc["error"]["line"]  # type: ignore[index]


def test_group_reports_each_committed_group(write_tree: WriteTree) -> None:
    extra = {
        "schema/0008_solo.sql": "-- @no-transaction\nCREATE TABLE IF NOT EXISTS solo (x);\n",
        "rollback/0008_rollback.sql": "DROP TABLE solo;\n",
    }
    for n in (9, 10):
        extra[f"schema/{n:04d}_t{n}.sql"] = f"CREATE TABLE t{n} (x);\n"
        extra[f"rollback/{n:04d}_rollback.sql"] = f"DROP TABLE t{n};\n"
    root = write_tree(seven(extra))
    doc, done = migrate_json(root, "--group")
    run = doc["run"]
    assert isinstance(run, dict)
    assert done.returncode == 0 and run["options"]["group"] is True
    # the @no-transaction 0008 runs on its own, between two groups
    groups = [(g["first"], g["last"], len(g["migrations"])) for g in run["groups"]]
    assert groups == [("0001", "0007", 7), ("0009", "0010", 2)]
    assert labels(run["steps"]) == [f"{n:04d}" for n in range(1, 11)]


@pytest.mark.parametrize(
    ("setup", "args", "says"),
    [
        ("not-sqlite", (), "not a SQLite database"),
        ("no-dir", (), "migrations directory not found"),
        ("none", ("--target", "x1"), "argument --target: expected a migration number"),
        ("none", ("--status", "--rollback", "1"), "not allowed with argument"),
    ],
)
def test_could_not_run_is_still_one_whole_document(
    write_tree: WriteTree, setup: str, args: tuple[str, ...], says: str
) -> None:
    root = write_tree(tree(BASE))
    if setup == "not-sqlite":
        (root / "app.db").write_text("hello\n" * 200)
    if setup == "no-dir":
        (root / M).rename(root / "elsewhere")
    doc, done = migrate_json(root, *args)
    assert done.returncode == 2 and doc["outcome"] == "could-not-run"
    assert says in str(doc["error"]["message"])  # type: ignore[index]
    assert says in done.stderr  # the usual line is still said


def test_text_stays_the_default_byte_for_byte(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE))
    run_on_tree("ci.migrate", root, "--db", "app.db", "--target", "1")
    plain = run_on_tree("ci.migrate", root, "--db", "app.db", "--status")
    text = run_on_tree("ci.migrate", root, "--db", "app.db", "--status", "--format", "text")
    assert (plain.stdout, plain.stderr, plain.returncode) == (
        text.stdout,
        text.stderr,
        text.returncode,
    )
    assert plain.stdout.startswith("app.db: version 0001")


def test_ctrl_c_still_gives_one_whole_document(write_tree: WriteTree) -> None:
    """Interrupted in an endless statement: exit 130, the `interrupted` document, no traceback."""
    root = write_tree(tree({"schema/0001_forever.sql": NEVER_ENDS}))
    process = subprocess.Popen(
        [sys.executable, "-m", "ci.migrate", "--db", "app.db", "--format", "json"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a background job starts with SIGINT ignored: give it a terminal's disposition
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stderr is not None
        assert "1 to apply" in process.stderr.readline()  # json: the human lines on stderr
        time.sleep(0.5)  # into the endless statement (an earlier signal also exits 130)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=SAFETY_NET)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in err
    doc = json.loads(out)
    assert not list(VALIDATOR.iter_errors(doc))
    assert doc["outcome"] == "interrupted" and doc["exit_code"] == 130
    assert "the migration in progress was rolled back" in doc["error"]["message"]


def test_a_number_used_twice_is_a_problem_of_the_status(write_tree: WriteTree) -> None:
    root = write_tree(tree(BASE | {"data/0002_again.sql": "SELECT 1;\n"}))
    doc, done = migrate_json(root, "--status")
    assert done.returncode == 1 and doc["outcome"] == "problems"
    (line,) = doc["problems"]  # type: ignore[misc]
    assert "number 0002 is also used by" in line
    refused, _ = migrate_json(root)
    assert refused["outcome"] == "refused" and "0002" in refused["error"]["message"]  # type: ignore[index]
