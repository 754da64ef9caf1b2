"""ci.db.health: integrity, foreign keys and invariants of a database as test cases, in the
wording each caller gives them (the precheck, the postcheck and the database checks); and
ci.db.sqlite_checks, which finds the rows that break a CHECK constraint for the integrity case.

Real SQLite files; broken rows are written with the checks switched off, as a hand edit or an
older tool would have left them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.core.errors import UsageError
from ci.core.findings import RUNAWAY, Case
from ci.db import health, sqlite_checks
from ci.db.health import Wording
from ci.db.invariants import Invariant
from ci.db.sqlite_checks import CheckConstraint
from tests.conftest import HEALTHY, make_db

WORDING = Wording("MG999", "after the migrations", "look at the rows named")


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(make_db(tmp_path / "app.db", HEALTHY))
    yield conn
    conn.close()


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def messages(case: Case) -> list[str]:
    return [f.message for f in case.findings]


def test_a_healthy_database_passes_every_case(healthy: sqlite3.Connection) -> None:
    integrity = health.integrity_case("postcheck", healthy, "app.db", WORDING)
    foreign_keys = health.foreign_key_case("postcheck", healthy, "app.db", WORDING)
    assert (integrity.name, integrity.classname, integrity.path) == (
        "integrity_check",
        "postcheck",
        "app.db",
    )
    assert foreign_keys.name == "foreign_key_check"
    assert integrity.outcome == foreign_keys.outcome == "passed"


def test_missing_parents_are_named_five_at_most(tmp_path: Path) -> None:
    orphans = "".join(f"INSERT INTO vitals VALUES ({n}, 9{n});" for n in range(2, 8))
    conn = sqlite3.connect(make_db(tmp_path / "app.db", HEALTHY + orphans))
    try:
        case = health.foreign_key_case("precheck", conn, "app.db", WORDING)
    finally:
        conn.close()
    (finding,) = case.findings
    assert (finding.check, finding.code, finding.path, finding.line, finding.hint) == (
        "precheck",
        "MG999",
        "app.db",
        None,
        "look at the rows named",
    )
    assert finding.message.startswith(
        "after the migrations: vitals rowid 2 references a missing row of patients; "
    )
    assert finding.message.count("references a missing row") == health.SHOWN
    assert finding.message.endswith(" and more")


def test_one_orphan_is_named_without_and_more(tmp_path: Path) -> None:
    conn = sqlite3.connect(
        make_db(tmp_path / "app.db", HEALTHY + "INSERT INTO vitals VALUES (2, 9);")
    )
    try:
        case = health.foreign_key_case("precheck", conn, "app.db", WORDING)
    finally:
        conn.close()
    assert messages(case) == [
        "after the migrations: vitals rowid 2 references a missing row of patients"
    ]


BROKEN_CHECKS = (
    "CREATE TABLE doses (id INTEGER PRIMARY KEY, mg INTEGER CHECK (mg > 0), note TEXT,\n"
    "  CONSTRAINT short_note CHECK (length(note) < 5));\n"
    "PRAGMA ignore_check_constraints = ON;\n"
    "INSERT INTO doses VALUES (1, 5, 'ok'), (2, -1, 'ok'), (3, 5, 'too long'), (4, NULL, NULL);\n"
)


def test_check_constraints_are_verified_on_a_read_only_connection(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", BROKEN_CHECKS)
    conn = read_only(db)
    try:
        case = health.integrity_case("precheck", conn, "app.db", WORDING, verify_checks=True)
        unverified = health.integrity_case("precheck", conn, "app.db", WORDING)
    finally:
        conn.close()
    assert messages(case) == [
        "after the migrations: CHECK constraint failed in doses: mg > 0 (rowid 2); "
        "CHECK constraint short_note failed in doses: length(note) < 5 (rowid 3)"
    ]  # NULL passes, as in SQLite
    assert unverified.outcome == "passed"  # what SQLite's own check skips read-only


def test_failures_are_counted_up_to_the_limit(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", BROKEN_CHECKS)
    conn = read_only(db)
    try:
        assert len(list(sqlite_checks.check_constraint_failures(conn, 1))) == 1
        assert len(list(sqlite_checks.check_constraint_failures(conn, 10))) == 2
    finally:
        conn.close()


def test_a_without_rowid_table_names_no_rowid(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "app.db",
        "CREATE TABLE k (name TEXT PRIMARY KEY CHECK (name <> '')) WITHOUT ROWID;\n"
        "PRAGMA ignore_check_constraints = ON;\nINSERT INTO k VALUES ('');\n",
    )
    conn = read_only(db)
    try:
        assert list(sqlite_checks.check_constraint_failures(conn, 5)) == [
            "CHECK constraint failed in k: name <> ''"
        ]
    finally:
        conn.close()


def test_a_constraint_that_cannot_be_evaluated_is_said_not_skipped(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    writer = sqlite3.connect(db)
    try:  # a constraint calling a function of the application that wrote the database
        writer.create_function("app_fn", 1, lambda x: 1)
        writer.executescript(
            "CREATE TABLE t (x INTEGER CHECK (app_fn(x)));\nINSERT INTO t VALUES (1);"
        )
    finally:
        writer.close()
    conn = read_only(db)
    try:
        failures = list(sqlite_checks.check_constraint_failures(conn, 5))
    finally:
        conn.close()
    assert failures == ["CHECK constraints of t cannot be evaluated here: no such function: app_fn"]


@pytest.mark.parametrize(
    ("create", "found"),
    [
        ("CREATE TABLE t (x CHECK (x > 0))", [(None, "x > 0")]),
        (
            "CREATE TABLE t (x, y, CONSTRAINT pair CHECK (x < y), check(y<>0))",
            [("pair", "x < y"), (None, "y<>0")],
        ),
        ("CREATE TABLE t (x DEFAULT 'check (x)', y)", []),
        ('CREATE TABLE "check (" (x)', []),
        ("CREATE TABLE t (x -- check (x > 0)\n)", []),
        ("CREATE TABLE t (x CHECK (x IN (1, (2))))", [(None, "x IN (1, (2))")]),
        ("CREATE TABLE t (x CHECK\n  (x   >\n 0))", [(None, "x > 0")]),
    ],
)
def test_check_constraints_as_written(create: str, found: list[tuple[str | None, str]]) -> None:
    assert sqlite_checks.check_constraints(create) == [CheckConstraint(n, e) for n, e in found]


def test_an_invariant_that_returns_rows_is_a_finding_on_its_line(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(
        make_db(tmp_path / "app.db", HEALTHY + "INSERT INTO patients VALUES (2, NULL);")
    )
    invariant = Invariant("has_mrn", "SELECT id, mrn FROM patients WHERE mrn IS NULL", 4)
    try:
        case = health.invariant_case("postcheck", conn, invariant, "inv.sql", WORDING)
    finally:
        conn.close()
    assert (case.name, case.path, case.line) == ("invariant: has_mrn", "inv.sql", 4)
    (finding,) = case.findings
    assert (finding.code, finding.path, finding.line, finding.message) == (
        "MG999",
        "inv.sql",
        4,
        "invariant 'has_mrn' returned rows: (2, None)",
    )


def test_an_invariant_that_holds_passes(healthy: sqlite3.Connection) -> None:
    invariant = Invariant("has_mrn", "SELECT id FROM patients WHERE mrn IS NULL", 2)
    assert health.invariant_case("postcheck", healthy, invariant, "inv.sql", WORDING).findings == []


def test_an_invariant_that_cannot_run_is_a_usage_error(healthy: sqlite3.Connection) -> None:
    invariant = Invariant("typo", "SELECT * FROM patinets", 7)
    with pytest.raises(
        UsageError, match=r"^inv\.sql:7: invariant 'typo' cannot run: no such table"
    ):
        health.invariant_case("postcheck", healthy, invariant, "inv.sql", WORDING)


def test_an_invariant_that_never_ends_is_stopped_as_a_runaway(healthy: sqlite3.Connection) -> None:
    endless = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) "
    endless += "SELECT count(*) FROM c"  # counts an endless recursive CTE
    invariant = Invariant("forever", endless, 3)
    case = health.invariant_case("postcheck", healthy, invariant, "inv.sql", WORDING, timeout=0.2)
    (finding,) = case.findings
    assert (finding.code, finding.line) == (RUNAWAY, 3)
    assert finding.message.startswith("invariant 'forever': ")
