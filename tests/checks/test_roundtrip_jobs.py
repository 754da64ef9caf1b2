"""`ci.rollback_roundtrip --jobs`: split across processes, the same cases as one process; a
helper that dies, or Ctrl-C, is one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci.checks.roundtrip_jobs import Part, plan
from ci.core.model import discover
from tests.conftest import WriteTree, run_module

TABLES = 40  # 3 migrations each: 120 main-track migrations, enough for two parts of 50


def corpus(tables: int = TABLES) -> dict[str, str | bytes]:
    """Per table: CREATE TABLE, an INSERT data migration, ADD COLUMN; each with its rollback."""
    files: dict[str, str | bytes] = {}
    for t in range(tables):
        n = 3 * t + 1
        files[f"m/schema/{n:04d}_create_t{t}.sql"] = (
            f"CREATE TABLE t{t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
        )
        files[f"m/rollback/{n:04d}_rollback.sql"] = f"DROP TABLE t{t};\n"
        files[f"m/data/{n + 1:04d}_fill_t{t}.sql"] = (
            f"INSERT INTO t{t} (id, name) VALUES (1, 'a'), (2, 'b');\n"
        )
        files[f"m/rollback/{n + 1:04d}_rollback.sql"] = f"DELETE FROM t{t} WHERE id IN (1, 2);\n"
        files[f"m/schema/{n + 2:04d}_add_t{t}_note.sql"] = (
            f"ALTER TABLE t{t} ADD COLUMN note TEXT;\n"
        )
        files[f"m/rollback/{n + 2:04d}_rollback.sql"] = f"ALTER TABLE t{t} DROP COLUMN note;\n"
    return files


def junit_without_times(path: Path) -> str:
    return re.sub(r' (time|timestamp)="[^"]*"', "", path.read_text(encoding="utf-8"))


def both_ways(root: Path, tmp_path: Path) -> tuple[str, str, str, str]:
    """(one process's JUnit, two processes' JUnit, their stdout), times left out."""
    outputs = []
    for jobs in ("1", "2"):
        junit = tmp_path / f"jobs-{jobs}.xml"
        done = run_module(
            "ci.rollback_roundtrip", "--migrations-dir", "m", "--jobs", jobs,
            "--junit", str(junit), cwd=root,
        )  # fmt: skip
        assert done.returncode in (0, 1) and not done.stderr, done.stderr
        outputs += [junit_without_times(junit), re.sub(r"\d+ ms", "", done.stdout)]
    return outputs[0], outputs[2], outputs[1], outputs[3]


def test_plan_keeps_a_small_run_in_one_process(write_tree: WriteTree) -> None:
    catalog = discover(write_tree(corpus(10)) / "m")
    assert plan(catalog.main, None, 4) == [Part(None, None)]
    assert plan(catalog.main, {2, 5}, 4) == [Part(None, frozenset({2, 5}))]


def test_plan_cuts_where_each_part_costs_the_same(write_tree: WriteTree) -> None:
    main = discover(write_tree(corpus()) / "m").main
    first, second = plan(main, None, 2)
    # migration i weighs i + 1 (a round trip costs more the larger the schema before it)
    assert first.until is not None and 0.65 <= first.until / len(main) <= 0.75
    assert second.until == len(main)
    assert first.selected is not None and second.selected is not None
    assert first.selected | second.selected == {m.version for m in main}
    assert max(first.selected) < min(second.selected)
    three = plan(main, None, 3)
    assert len(three) == 2  # 120 round trips: at most two parts of 50
    chosen = {m.version for m in main[60:]}
    parts = plan(main, chosen, 2, min_per_part=10)
    assert len(parts) == 2 and parts[0].selected is not None
    assert min(parts[0].selected) == main[60].version  # the rest are only applied
    assert plan(main, None, 1) == [Part(None, None)]


def test_two_processes_report_what_one_does(write_tree: WriteTree, tmp_path: Path) -> None:
    files = corpus()
    # an early rollback that leaves an index behind; late ones that leave an index behind or
    # add a row elsewhere, a late migration with no rollback and one declared irreversible
    files["m/rollback/0003_rollback.sql"] = (
        "ALTER TABLE t0 DROP COLUMN note;\nCREATE INDEX idx_left ON t0 (name);\n"
    )
    files["m/rollback/0107_rollback.sql"] = (
        "DELETE FROM t35 WHERE id IN (1, 2);\nINSERT INTO t0 (id, name) VALUES (99, 'x');\n"
    )
    files["m/rollback/0108_rollback.sql"] = (
        "ALTER TABLE t35 DROP COLUMN note;\nCREATE INDEX idx_late ON t35 (name);\n"
    )
    del files["m/rollback/0110_rollback.sql"]
    files["m/data/0113_fill_t37.sql"] = (
        "-- @irreversible demo\nINSERT INTO t37 (id, name) VALUES (1, 'a'), (2, 'b');\n"
    )
    root = write_tree(files)
    one, two, out_one, out_two = both_ways(root, tmp_path)
    assert two == one and out_two == out_one
    for finding in (
        "index idx_left on t0 left behind",
        "table t0: 1 row extra",
        "index idx_late on t35 left behind",
        "0110 has no rollback file",
    ):
        assert finding in out_one
    assert "@irreversible: demo" in one


@pytest.mark.parametrize("broken", ["0005_fill", "0101_fill"])
def test_a_migration_that_does_not_apply_stops_both_the_same(
    write_tree: WriteTree, tmp_path: Path, broken: str
) -> None:
    files = corpus()
    name = next(n for n in files if broken in n)
    files[name] = "INSERT INTO nosuch VALUES (1);\n"
    root = write_tree(files)
    one, two, out_one, out_two = both_ways(root, tmp_path)
    assert two == one and out_two == out_one
    assert out_one.count("MG301") == 1, out_one
    assert "could not be applied" in one  # every migration after it: not run


def test_jobs_must_be_a_positive_whole_number(write_tree: WriteTree) -> None:
    root = write_tree(corpus(2))
    for bad, why in (("0", "processes >= 1"), ("two", "a number of processes")):
        done = run_module("ci.rollback_roundtrip", "--migrations-dir", "m", "--jobs", bad, cwd=root)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"argument --jobs: expected {why}, got '{bad}'" in done.stderr


def test_a_helper_process_that_dies_is_one_line_exit_2(write_tree: WriteTree) -> None:
    root = write_tree(corpus())
    # a --setup that ends any process but the first: the helper dies as it opens its database
    (root / "dies_in_helpers.py").write_text(
        "import os\nFIRST = os.getpid()\n\n"
        "def setup(conn):\n    if os.getpid() != FIRST:\n        os._exit(3)\n",
        encoding="utf-8",
    )
    done = run_module(
        "ci.rollback_roundtrip", "--migrations-dir", "m", "--jobs", "2",
        "--setup", "dies_in_helpers:setup", cwd=root,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "rollback_roundtrip: a helper process stopped before it finished; run with --jobs 1 "
        "to see why"
    )


@pytest.mark.parametrize(
    ("module", "said"),
    [
        ("ci.rollback_roundtrip", "rollback_roundtrip: interrupted"),
        ("ci", "python -m ci: interrupted"),
    ],
)
def test_ctrl_c_is_one_line_exit_130(write_tree: WriteTree, module: str, said: str) -> None:
    root = write_tree(corpus())
    # Ctrl-C while the check works, made deterministic: the first connection's setup raises it
    (root / "ctrl_c.py").write_text(
        "def setup(conn):\n    raise KeyboardInterrupt\n", encoding="utf-8"
    )
    done = run_module(
        module, "--migrations-dir", "m", "--jobs", "2", "--setup", "ctrl_c:setup", cwd=root,
    )  # fmt: skip
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.strip() == said
