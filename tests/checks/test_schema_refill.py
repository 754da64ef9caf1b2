"""Rows put back (ci.db.schema_refill) and shadow tables told apart exactly: each case is a real
migration tree run by a real `python -m ci.apply_empty` process (hostile repros 09 and 10)."""

from __future__ import annotations

import pytest

from tests.conftest import WriteTree, output, run_on_tree, tree

INIT = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT);\nCREATE TABLE other (id, a TEXT);\n"
NEW = "CREATE TABLE t2 (id INTEGER PRIMARY KEY, a TEXT);\n"
SAME = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT);\n"
KEPT = {
    "copy * then rename over": f"{NEW}INSERT INTO t2 SELECT * FROM t;\nDROP TABLE t;\n"
    "ALTER TABLE t2 RENAME TO t;\n",
    "copy columns then rename over": f"{NEW}INSERT INTO t2 (id, a) SELECT id, a FROM t;\n"
    "DROP TABLE t;\nALTER TABLE t2 RENAME TO t;\n",
    "rename away, create, copy back": f"ALTER TABLE t RENAME TO t_old;\n{SAME}"
    "INSERT INTO t SELECT * FROM t_old;\nDROP TABLE t_old;\n",
    "temp copy": f"CREATE TEMP TABLE bak AS SELECT * FROM t;\nDROP TABLE t;\n{SAME}"
    "INSERT INTO t SELECT * FROM temp.bak;\n",
    "create as select": 'CREATE TABLE "t2" AS SELECT * FROM "t";\nDROP TABLE t;\n'
    "ALTER TABLE t2 RENAME TO t;\n",
}
LOST = {
    "empty copy renamed over": f"{NEW}DROP TABLE t;\nALTER TABLE t2 RENAME TO t;\n",
    "literal insert": f"DROP TABLE t;\n{SAME}INSERT INTO t (id, a) VALUES (1, 'x');\n",
    "rows of another table": f"{NEW}INSERT INTO t2 SELECT * FROM other;\nDROP TABLE t;\n"
    "ALTER TABLE t2 RENAME TO t;\n",
    "copied after the drop": f"DROP TABLE t;\n{SAME}INSERT INTO t SELECT * FROM other;\n",
}


def _apply_empty(write_tree: WriteTree, change: str) -> str:
    files = {"schema/0001_init.sql": INIT, "schema/0002_change.sql": change}
    done = run_on_tree("ci.apply_empty", write_tree(tree(files)))
    return output(done)


@pytest.mark.parametrize("change", KEPT.values(), ids=KEPT.keys())
def test_a_rebuild_that_copies_the_old_rows_back_is_no_drop(
    write_tree: WriteTree, change: str
) -> None:
    assert "MG601" not in _apply_empty(write_tree, change)


@pytest.mark.parametrize("change", LOST.values(), ids=LOST.keys())
def test_a_rebuild_that_never_reads_the_old_rows_is_mg601(
    write_tree: WriteTree, change: str
) -> None:
    assert "MG601 table t" in _apply_empty(write_tree, change)


FTS = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"


@pytest.mark.parametrize(
    ("refill", "lost"),
    [("", True), ("INSERT INTO docs (body) SELECT body FROM notes;\n", False)],
)
def test_a_virtual_table_counts_as_refilled_by_any_insert(
    write_tree: WriteTree, refill: str, lost: bool
) -> None:
    files = {
        "schema/0001_init.sql": f"{FTS}CREATE VIRTUAL TABLE docs USING fts5(body);\n",
        "schema/0002_change.sql": "DROP TABLE docs;\n"
        f"CREATE VIRTUAL TABLE docs USING fts5(body);\n{refill}",
    }
    out = output(run_on_tree("ci.apply_empty", write_tree(tree(files))))
    assert ("MG601 table docs" in out) is lost, out


# each module with another module's shadow suffix, a plain table beside it
@pytest.mark.parametrize(
    ("module", "other"),
    [("fts5(x)", "segments"), ("fts4(x)", "config"), ("rtree(id, x0, x1)", "data")],
)
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("DROP TABLE app_users;\nCREATE TABLE app_users (id INTEGER PRIMARY KEY, name TEXT);\n",
         "MG601 table app_users"),
        ("ALTER TABLE app_users RENAME TO users;\n", "MG603 warning: table app_users"),
        ("DROP TABLE app_{other};\n", "MG601 table app_{other}"),
    ],
)  # fmt: skip
def test_a_table_named_like_a_virtual_tables_shadow_is_still_reported(
    write_tree: WriteTree, module: str, other: str, change: str, code: str
) -> None:
    change, code = change.format(other=other), code.format(other=other)
    files = {
        "schema/0001_init.sql": f"CREATE VIRTUAL TABLE app USING {module};\n"
        "CREATE TABLE app_users (id INTEGER PRIMARY KEY, name TEXT);\n"
        f"CREATE TABLE app_{other} (id INTEGER PRIMARY KEY);\n",
        "schema/0002_change.sql": change,
    }
    out = output(run_on_tree("ci.apply_empty", write_tree(tree(files))))
    assert code in out, out


def test_the_shadow_tables_of_a_dropped_virtual_table_are_one_change(
    write_tree: WriteTree,
) -> None:
    files = {
        "schema/0001_init.sql": "CREATE VIRTUAL TABLE my_docs USING fts5(x);\n",
        "schema/0002_change.sql": "DROP TABLE my_docs;\n",
    }
    out = output(run_on_tree("ci.apply_empty", write_tree(tree(files)), "--explain"))
    assert "MG601 table my_docs" in out, out
    assert "my_docs_" not in out, out
