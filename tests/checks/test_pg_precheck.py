"""precheck, postcheck and `checksums --database-url` on a real PostgreSQL database: what the
server does not vouch for (invalid indexes, constraints never validated, orphans of unvalidated
foreign keys, B-tree structure with amcheck), the runner's dirty marks and version, invariants,
applied checksums against the files; read-only, one line and exit 2 when the server is gone."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ci.checksums import main as checksums
from ci.migrate import main as migrate
from ci.postcheck import main as postcheck
from ci.precheck import main as precheck

pytestmark = pytest.mark.postgresql

INITIAL = """CREATE TABLE patients (patient_id bigint PRIMARY KEY, mrn text);
CREATE TABLE vitals (vital_id bigint PRIMARY KEY, patient_id bigint);
"""
UNREACHABLE = "postgresql://postgres:s3cret@127.0.0.1:1/nowhere"


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def project(tmp_path: Path, *extra: tuple[str, str]) -> Path:
    """A migrations directory: 0001 creates two tables, then `extra` (name, text) files."""
    root = tmp_path / "migrations"
    (root / "schema").mkdir(parents=True)
    (root / "rollback").mkdir()
    (root / "schema" / "0001_initial.sql").write_text(INITIAL)
    (root / "rollback" / "0001_rollback.sql").write_text(
        "DROP TABLE vitals;\nDROP TABLE patients;\n"
    )
    for name, text in extra:
        (root / name).write_text(text)
    return root


def migrated(tmp_path: Path, url: str, *extra: tuple[str, str]) -> Path:
    root = project(tmp_path, *extra)
    migrate(["--database-url", url, "--migrations-dir", str(root)])
    return root


def test_healthy_database_passes_is_described_and_is_not_written(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert precheck(["--database-url", pg_database_url]) == 0
    out = capsys.readouterr().out
    assert "PostgreSQL 1" in out and "schema_version 0000 (0 applied)" in out
    assert "OK precheck: 3 passed, 1 skipped" in out  # amcheck: not installed
    with psycopg.connect(pg_database_url) as conn:  # read-only: not even the runner's tables
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)


def test_amcheck_verifies_btree_indexes_when_installed_else_says_why_not(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(tmp_path, pg_database_url)
    assert precheck(["--database-url", pg_database_url, "--junit", str(tmp_path / "a.xml")]) == 0
    assert "amcheck is not installed in this database" in (tmp_path / "a.xml").read_text()
    sql(pg_database_url, "CREATE EXTENSION amcheck")
    capsys.readouterr()
    assert precheck(["--database-url", pg_database_url, "--junit", str(tmp_path / "b.xml")]) == 0
    assert "OK precheck: 4 passed" in capsys.readouterr().out
    assert "<skipped" not in (tmp_path / "b.xml").read_text()


# A B-tree whose operator class's comparison is turned round after the index was built: its
# pages hold the keys in an order the comparison now calls wrong, which amcheck must report.
MISORDERED_INDEX = (
    "CREATE FUNCTION cmp_flip(a int4, b int4) RETURNS int4 LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT btint4cmp(a, b) $$",
    "CREATE OPERATOR CLASS flip_ops FOR TYPE int4 USING btree AS OPERATOR 1 <, OPERATOR 2 <=, "
    "OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 cmp_flip(int4, int4)",
    "CREATE TABLE flipped (n int4)",
    "INSERT INTO flipped SELECT generate_series(1, 1000)",
    "CREATE INDEX flipped_n ON flipped (n flip_ops)",
    "CREATE OR REPLACE FUNCTION cmp_flip(a int4, b int4) RETURNS int4 LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT btint4cmp(b, a) $$",
)


def test_amcheck_reports_an_index_whose_order_is_broken(
    pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql(pg_database_url, "CREATE EXTENSION amcheck", *MISORDERED_INDEX)
    assert precheck(["--database-url", pg_database_url]) == 1
    out = capsys.readouterr().out
    assert "MG350 amcheck: index flipped_n: item order invariant violated" in out
    assert "REINDEX" in out
    assert postcheck(["--database-url", pg_database_url, "--expect-version", "0"]) == 1
    assert "index flipped_n" in capsys.readouterr().out


def test_orphans_of_a_not_valid_foreign_key_and_the_constraint_are_findings(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(tmp_path, pg_database_url)
    sql(
        pg_database_url,
        "INSERT INTO vitals VALUES (1, 99)",
        "ALTER TABLE vitals ADD CONSTRAINT vitals_patient_fk FOREIGN KEY (patient_id) "
        "REFERENCES patients NOT VALID",
    )
    assert precheck(["--database-url", pg_database_url]) == 1
    out = capsys.readouterr().out
    assert "MG351" in out and "vitals rowid (0,1) references a missing row of patients" in out
    assert "MG350" in out and "constraint vitals_patient_fk on vitals is NOT VALID" in out


def test_an_invalid_index_left_by_a_failed_concurrent_build_is_a_finding(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(tmp_path, pg_database_url)
    sql(pg_database_url, "INSERT INTO patients VALUES (1, 'A'), (2, 'A')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        sql(pg_database_url, "CREATE UNIQUE INDEX CONCURRENTLY patients_mrn ON patients (mrn)")
    assert precheck(["--database-url", pg_database_url]) == 1
    assert "index patients_mrn is invalid" in capsys.readouterr().out


def test_a_dirty_mark_is_a_finding_in_precheck_and_postcheck(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    half = "-- @no-transaction\nINSERT INTO patients VALUES (1, 'A');\nSELECT 1/0;\n"
    (tmp_path / "migrations").mkdir()
    root = migrated(tmp_path, pg_database_url, ("schema/0002_half.sql", half))
    (root / "rollback" / "0002_rollback.sql").write_text("DELETE FROM patients;\n")
    assert precheck(["--database-url", pg_database_url]) == 1
    out = capsys.readouterr().out
    assert "MG352" in out and "database is dirty: 0002 half" in out
    assert postcheck(["--database-url", pg_database_url, "--expect-version", "1"]) == 1
    assert "MG352" in capsys.readouterr().out


def test_postcheck_version_and_invariants(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(tmp_path, pg_database_url)
    invariants = tmp_path / "invariants.sql"
    invariants.write_text(
        "-- invariant: every patient has an mrn\nSELECT * FROM patients WHERE mrn IS NULL;\n"
    )
    url = ["--database-url", pg_database_url]
    assert postcheck([*url, "--expect-version", "1", "--invariants", str(invariants)]) == 0
    assert "OK postcheck" in capsys.readouterr().out
    sql(pg_database_url, "INSERT INTO patients VALUES (1, NULL)")
    assert postcheck([*url, "--expect-version", "2", "--invariants", str(invariants)]) == 1
    out = capsys.readouterr().out
    assert "MG353 schema_version is 0001, expected 0002" in out
    assert "MG354" in out and "every patient has an mrn" in out


def test_checksums_compare_the_applied_rows_with_the_files(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = migrated(tmp_path, pg_database_url)
    given = ["--migrations-dir", str(root), "--database-url", pg_database_url]
    assert checksums(given) == 0
    (root / "schema" / "0001_initial.sql").write_text(
        INITIAL + "CREATE INDEX v ON vitals (patient_id);\n"
    )
    assert checksums(given) == 1
    out = capsys.readouterr().out
    assert "0001_initial.sql: MG201 applied migration was edited" in out
    assert f"database {pg_database_url}" in out


def test_checksums_on_a_database_never_migrated_is_a_warning(
    tmp_path: Path, pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    assert checksums(["--migrations-dir", str(root), "--database-url", pg_database_url]) == 0
    assert "MG208" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [
        [precheck, "--database-url", UNREACHABLE],
        [postcheck, "--database-url", UNREACHABLE, "--expect-version", "1"],
        [checksums, "--migrations-dir", "MIGRATIONS", "--database-url", UNREACHABLE],
    ],
    ids=["precheck", "postcheck", "checksums"],
)
def test_an_unreachable_server_is_one_line_exit_2_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[object]
) -> None:
    run, *argv = command
    root = project(tmp_path)
    args = [str(root) if a == "MIGRATIONS" else str(a) for a in argv]
    assert run(args) == 2  # type: ignore[operator]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect" in err and "127.0.0.1:1/nowhere" in err
    assert "s3cret" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "one of --db and --database-url is required"),
        (["--db", "x.db", "--database-url", "postgresql://h/d"], "do not go together"),
        (["--db", "postgresql://h/d"], "give a PostgreSQL database as --database-url"),
        (["--database-url", "postgresql://h/d", "--setup", "m:f"], "SQLite connections only"),
        (["--database-url", "postgresql://h/d", "--export-stats", "s.json"], "SQLite databases"),
    ],
)
def test_database_options_that_do_not_go_together(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert precheck(argv) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1
