"""Schema-change analysis (ci.db.schema_changes, ci.db.schema_watch, ci.checks.schema_changes):
classification, attribution to the statement responsible, and the --explain changelog in the
text and JSON reports. The cases of each code are in test_schema_changes_cases.py.

Real SQLite databases and real `python -m ci.apply_empty` processes; no mocks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.checks.apply_empty import apply_empty
from ci.checks.db_options import Options
from ci.core.model import SqlFile
from ci.db import runner
from ci.db.connection import GatedConnection
from ci.db.fingerprint import Tracker
from ci.db.schema_changes import classify
from ci.db.schema_shapes import Shape, read_now, read_shapes
from ci.db.schema_watch import SchemaWatch
from tests.conftest import (
    MIGRATIONS,
    REPO,
    WriteTree,
    commit_all,
    git,
    output,
    run_in,
    run_on_tree,
    tree,
    write,
)


def groups(sql: str) -> dict[str, Shape]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(sql)
    return {k: read_now(conn, shape, {}) for k, shape in read_shapes(conn, None, {}).items()}


def kinds(before: str, after: str) -> list[tuple[str, str, str | None]]:
    changes = classify(groups(before), groups(after))
    return sorted((c.kind, c.target, c.code) for c in changes)


def test_a_renamed_parent_does_not_change_its_children_foreign_keys() -> None:
    before = "CREATE TABLE a (id INTEGER PRIMARY KEY);\nCREATE TABLE c (a_id REFERENCES a(id));"
    after = "CREATE TABLE b (id INTEGER PRIMARY KEY);\nCREATE TABLE c (a_id REFERENCES b(id));"
    assert kinds(before, after) == [("table renamed", "table a", "MG603")]


def test_a_new_table_its_index_and_trigger_are_changes_but_not_findings() -> None:
    after = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT UNIQUE CHECK (s <> ''));\n"
        "CREATE INDEX t_s ON t (s);\n"
        "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN SELECT 1; END;"
    )
    assert kinds("", after) == [
        ("index created", "index t_s", None),
        ("table created", "table t", None),
        ("trigger created", "trigger t_ai", None),
    ]


def test_a_dropped_and_added_column_of_another_shape_is_a_drop() -> None:
    before = "CREATE TABLE t (id INTEGER PRIMARY KEY, notes TEXT);"
    after = "CREATE TABLE t (id INTEGER PRIMARY KEY, score INTEGER);"
    assert kinds(before, after) == [
        ("column added", "column t.score", None),
        ("column dropped", "column t.notes", "MG602"),
    ]


def test_a_virtual_table_is_one_change_not_one_per_shadow_table() -> None:
    fts = "CREATE VIRTUAL TABLE docs USING fts5(body);"
    assert kinds("", fts) == [("table created", "table docs", None)]
    assert kinds(fts, "") == [("table dropped", "table docs", "MG601")]


def test_trigger_redefined_and_not_null_removed() -> None:
    before = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT NOT NULL);\n"
        "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN SELECT 1; END;"
    )
    after = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);\n"
        "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN SELECT 2; END;"
    )
    assert kinds(before, after) == [
        ("NOT NULL removed", "column t.s", None),
        ("trigger redefined", "trigger t_ai", "MG608"),
    ]


def watched(tmp_path: Path, first: str, second: str) -> list[tuple[str, int | None]]:
    """(kind, line) of each change of `second` applied after `first`, as the runner runs it."""
    conn = runner.connect(tmp_path / "t.db", durable=False)
    conn.executescript(first)
    watch = SchemaWatch(conn)
    path = tmp_path / "0002_change.sql"
    path.write_text(second, encoding="utf-8")
    file = SqlFile(path)
    with watch.watching(file) as seen:
        for statement in file.statements:
            conn.execute(statement.sql)
    return [(c.kind, c.line) for c in watch.changes(seen)]


def test_each_change_names_the_statement_responsible_even_with_repeated_text(
    tmp_path: Path,
) -> None:
    first = "CREATE TABLE t (id INTEGER PRIMARY KEY);\nCREATE TABLE u (id INTEGER PRIMARY KEY);"
    second = (
        "-- two statements of the same text: each is its own\n"
        "CREATE TABLE scratch (x);\n"
        "DROP TABLE scratch;\n"
        "CREATE TABLE scratch (x);\n"
        "DROP TABLE scratch;\n"
        "ALTER TABLE u\n"
        "    ADD COLUMN note TEXT;\n"
        "ALTER TABLE t ADD COLUMN note TEXT;\n"
        "DROP TABLE u;\n"
    )
    assert watched(tmp_path, first, second) == [
        ("column added", 8),
        ("table dropped", 9),
    ]


def test_statements_the_runner_ignores_do_not_stop_the_attribution(
    write_tree: WriteTree,
) -> None:
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, notes TEXT);\n",
        "schema/0002_drop.sql": (
            "BEGIN;\nCREATE TABLE u (id INTEGER PRIMARY KEY);\n"
            "ALTER TABLE t DROP COLUMN notes;\nCOMMIT;\n"
        ),
    }
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)), "--explain")
    assert "line 2: table created: table u" in done.stdout, output(done)
    assert "0002_drop.sql:3: MG602 column t.notes" in done.stdout, output(done)


def test_the_watch_is_told_only_the_files_own_statements(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner's BEGIN, bookkeeping and COMMIT around a file are never its statements: the
    watch's trace callback is not installed while they run (a third of its callbacks)."""
    traced: list[str] = []
    install = GatedConnection.set_trace_callback

    def recording(conn: GatedConnection, callback: Callable[[str], None] | None) -> None:
        def told(text: str) -> None:
            traced.append(text)
            assert callback is not None
            callback(text)

        install(conn, None if callback is None else told)

    monkeypatch.setattr(GatedConnection, "set_trace_callback", recording)
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, notes TEXT);\n",
        "schema/0002_drop.sql": (
            "CREATE INDEX t_name ON t (name);\nALTER TABLE t DROP COLUMN notes;\n"
        ),
    }
    options = Options(None, None, None, write_snapshot=False, warn_slow=0.0)
    report = apply_empty(write_tree(tree(files)) / MIGRATIONS, options)
    found = [f.code for c in report.cases for f in c.findings if f.code.startswith("MG6")]
    assert found == ["MG602"]  # the watch still sees the column dropped
    # 0001 only adds to the schema: not followed at all (ci.db.schema_additive)
    assert [text.split()[0] for text in traced] == ["CREATE", "ALTER"], traced


def test_a_file_without_ddl_is_run_without_callbacks(tmp_path: Path) -> None:
    conn = runner.connect(tmp_path / "t.db", durable=False)
    conn.execute("CREATE TABLE t (x)")
    path = tmp_path / "0002_data.sql"
    path.write_text("INSERT INTO t VALUES (1);\nUPDATE t SET x = 2;\n", encoding="utf-8")
    watch = SchemaWatch(conn)
    with watch.watching(SqlFile(path)) as seen:
        assert seen.file is None
    assert watch.changes(seen) == []


def test_it_watches_alongside_a_fingerprint_tracker(tmp_path: Path) -> None:
    conn = runner.connect(tmp_path / "t.db", durable=False)
    conn.execute("CREATE TABLE t (x)")
    path = tmp_path / "0002_change.sql"
    path.write_text("ALTER TABLE t ADD COLUMN y;\nINSERT INTO t VALUES (1, 2);\n", "utf-8")
    file = SqlFile(path)
    tracker, watch = Tracker(conn), SchemaWatch(conn)
    with tracker.watch(), watch.watching(file) as seen:
        for statement in file.statements:
            conn.execute(statement.sql)
    assert tracker.changed == {"t"}
    assert [(c.kind, c.line) for c in watch.changes(seen)] == [("column added", 1)]


REBUILD = {
    "schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, notes TEXT);\n",
    "schema/0002_rebuild.sql": (
        "CREATE TABLE patients_new (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO patients_new (id) SELECT id FROM patients;\n"
        "DROP TABLE patients;\n"
        "ALTER TABLE patients_new RENAME TO patients;\n"
    ),
}


def test_explain_prints_the_changelog_and_the_finding_names_file_and_line(
    write_tree: WriteTree,
) -> None:
    root = write_tree(tree(REBUILD))
    done = run_on_tree("ci.apply_empty", root, "--explain")
    assert done.returncode == 1, output(done)
    assert "0001 schema/0001_patients.sql:\n  line 1: table created: table patients" in done.stdout
    assert "0002_rebuild.sql:4: MG602 column patients.notes: column dropped" in done.stdout
    plain = run_on_tree("ci.apply_empty", root)
    assert "table created" not in plain.stdout and "MG602" in plain.stdout


def test_the_json_report_carries_the_changes_with_explain(write_tree: WriteTree) -> None:
    root = write_tree(tree(REBUILD))
    done = run_on_tree("ci.apply_empty", root, "--explain", "--format", "json")
    cases = json.loads(done.stdout)["checks"][0]["cases"]
    rebuild = next(c for c in cases if c["name"].endswith("0002_rebuild.sql"))
    assert rebuild["changes"] == [
        {
            "kind": "table rebuilt",
            "object": "table patients",
            "detail": "(columns: id): changed: column dropped notes",
            "severity": "info",
            "risky": False,
            "code": None,
            "line": 4,
        },
        {
            "kind": "column dropped",
            "object": "column patients.notes",
            "detail": rebuild["changes"][1]["detail"],
            "severity": "error",
            "risky": True,
            "code": "MG602",
            "line": 4,
        },
    ]
    assert [f["line"] for f in rebuild["findings"]] == [4]


def test_the_worked_example_has_no_risky_change() -> None:
    root = REPO / "schema" / "migrations"
    done = run_on_tree("ci.apply_empty", root.parent.parent, "--explain", cwd=REPO)
    assert done.returncode == 0, output(done)
    assert "[MG6" not in done.stdout and "table created: table patients" in done.stdout


def test_with_base_ref_only_the_branchs_migrations_have_findings(git_repo: Path) -> None:
    """A rename already on main is deployed: repeating its MG603 on every branch's run could not
    be acted on. The branch's own rename (and an edited old file) is reported; --explain still
    lists main's change."""
    write(
        git_repo,
        {
            "m/schema/0001_t.sql": "CREATE TABLE t (a INTEGER, b TEXT);\n",
            "m/schema/0002_rename_a.sql": "ALTER TABLE t RENAME COLUMN a TO aa;\n",
        },
    )
    commit_all(git_repo, "main")
    git(git_repo, "checkout", "-q", "-b", "feature")
    write(git_repo, {"m/schema/0003_rename_b.sql": "ALTER TABLE t RENAME COLUMN b TO bb;\n"})
    commit_all(git_repo, "feature")
    args = ("--migrations-dir", "m", "--base-ref", "main", "--explain")
    done = run_in(git_repo, "ci.apply_empty", *args)
    out = output(done)
    assert "0003_rename_b.sql:1: MG603" in out and "0002_rename_a.sql:1: MG603" not in out, out
    assert "renamed to aa" in out  # the changelog keeps main's change
    assert done.returncode == 0, out  # MG603 is a warning
    write(git_repo, {"m/schema/0002_rename_a.sql": "ALTER TABLE t RENAME COLUMN a TO a2;\n"})
    out = output(run_in(git_repo, "ci.apply_empty", *args))
    assert "0002_rename_a.sql:1: MG603" in out, out  # edited on the branch: judged again
    without = output(run_in(git_repo, "ci.apply_empty", "--migrations-dir", "m"))
    assert "0002_rename_a.sql:1: MG603" in without and "0003_rename_b.sql:1: MG603" in without


VIRTUAL = {
    "m/schema/0001_docs.sql": "CREATE VIRTUAL TABLE docs USING fts5(body);\n",
    "m/rollback/0001_rollback.sql": "DROP TABLE docs;\n",
    "m/schema/0002_again.sql": (
        "-- @irreversible test\nDROP TABLE docs;\nCREATE VIRTUAL TABLE docs USING fts5(body);\n"
    ),
    "sample.sql": "-- @sample-version 1\nINSERT INTO docs (body) VALUES ('a'), ('b'), ('c');\n",
}


def test_a_virtual_table_dropped_and_created_again_is_a_rebuild_that_loses_rows(
    write_tree: WriteTree,
) -> None:
    """The same SQL before and after, so the schemas compare equal: the DROP makes it a rebuild,
    whose rows are gone on the empty database's changelog (MG601) and on the sample (MG308)."""
    root = write_tree(VIRTUAL)
    empty = run_on_tree("ci.apply_empty", root, "--explain", migrations="m")
    assert "line 2: table rebuilt: table docs: (columns: body): same definition" in empty.stdout
    assert "0002_again.sql:2: MG601 table docs: table rebuilt" in empty.stdout, output(empty)
    assert "docs_data" not in empty.stdout  # its shadow tables are its storage, not changes
    args = ("--sample", str(root / "sample.sql"))
    sample = run_on_tree("ci.apply_sample", root, *args, migrations="m")
    assert sample.returncode == 1, output(sample)
    assert "0002_again.sql:2: MG308 table docs: 3 rows lost" in sample.stdout, output(sample)
