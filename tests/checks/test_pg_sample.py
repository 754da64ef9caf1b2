"""apply_sample on PostgreSQL with a `pg_dump -Fc` sample (ci.checks.pg_sample): made here by the
real pg_dump from a database the test migrates and fills; known by its first bytes whatever its
name; where it sits in the history; a damaged archive, no pg_restore, a SQLite run given one;
and what only PostgreSQL's rows mean (a table without a primary key)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.checks.engines import SAMPLE, run_check, write
from tests.conftest import MIGRATIONS, output, run_module

pytestmark = pytest.mark.postgresql

WIPE = {"data/0003_wipe.sql": "-- @irreversible wipe\nUPDATE vitals SET value = NULL;\n"}


ROWS = SAMPLE.split("\n", 1)[1]  # the fixture's rows, at version 2


def dump_sample(root: Path, url: str, name: str, *, target: int = 2, rows: str = ROWS) -> Path:
    """The migrations up to `target` through ci.migrate on the test's database, `rows`
    inserted, then `pg_dump -Fc` into root/name."""
    where = str(root / MIGRATIONS)
    migrated = run_module("ci.migrate", "--database-url", url, "--migrations-dir", where,
                          "--target", str(target))  # fmt: skip
    assert migrated.returncode == 0, output(migrated)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(rows)
    path = root / name
    subprocess.run(["pg_dump", "-Fc", "-f", str(path), url], check=True)
    return path


def test_an_archive_sits_where_its_schema_version_says(
    tmp_path: Path, pg_database_url: str
) -> None:
    """Named .backup, known by its bytes; 0001 and 0002 are in its schema_version and do not run
    again (they would fail: their tables exist); 0003 runs and is compared value by value."""
    root = write(tmp_path, "postgresql", WIPE)
    dump = dump_sample(root, pg_database_url, "prod.backup")
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "prod.backup")
    assert done.returncode == 1, output(done)
    assert done.stdout.startswith(
        f"{root / MIGRATIONS}/data/0003_wipe.sql:2: MG313 table vitals: values turned NULL in "
        f"0003 on the sample {dump.name}: value: 3 rows (id=1, id=2, id=3)."
    ), output(done)
    declared = (
        "-- @irreversible wipe\n-- @rewrites vitals(value)\nUPDATE vitals SET value = NULL;\n"
    )
    (root / MIGRATIONS / "data/0003_wipe.sql").write_text(declared)
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "prod.backup")
    assert done.returncode == 0, output(done)
    assert "0001" not in done.stdout and "0002" not in done.stdout, output(done)


def test_the_round_trip_takes_an_archive_too(tmp_path: Path, pg_database_url: str) -> None:
    root = write(
        tmp_path,
        "postgresql",
        {
            "schema/0003_notes.sql": "CREATE TABLE notes (id int);\n",
            "rollback/0003_rollback.sql": "DROP TABLE notes;\n",
        },
    )
    dump_sample(root, pg_database_url, "sample.dump")
    done = run_check("ci.rollback_roundtrip", root, "postgresql", "--sample", "sample.dump")
    assert done.returncode == 0, output(done)


def test_an_archive_without_the_runners_table_has_every_migration_pending(
    tmp_path: Path, pg_database_url: str
) -> None:
    """As a SQLite database without schema_version: 0001 runs on tables that exist already."""
    root = write(tmp_path, "postgresql", {})
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE patients (id int PRIMARY KEY, mrn text)")
    subprocess.run(["pg_dump", "-Fc", "-f", str(root / "bare.dump"), pg_database_url], check=True)
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "bare.dump")
    assert done.returncode == 1, output(done)
    assert f"{root / MIGRATIONS}/schema/0001_patients.sql:1: MG301 " in done.stdout
    assert 'relation "patients" already exists' in done.stdout, output(done)


def test_a_damaged_archive_is_one_line_naming_the_sample(tmp_path: Path) -> None:
    root = write(tmp_path, "postgresql", {})
    (root / "sample.sql").write_bytes(b"PGDMP" + bytes(range(256)) * 4)  # its name says SQL
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "sample.sql")
    assert done.returncode == 2, output(done)
    assert done.stdout == ""
    assert done.stderr.startswith("apply_sample: sample.sql: the pg_dump sample does not restore: ")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_without_pg_restore_the_check_says_what_to_install(
    tmp_path: Path, pg_database_url: str
) -> None:
    root = write(tmp_path, "postgresql", {})
    dump_sample(root, pg_database_url, "sample.dump")
    bare = tmp_path / "bin"  # a PATH with no PostgreSQL client program
    bare.mkdir()
    assert shutil.which("pg_restore", path=str(bare)) is None
    where = str(root / MIGRATIONS)
    done = run_module("ci.apply_sample", "--migrations-dir", where, "--sample", "sample.dump",
                      "--engine", "postgresql", "--server-url", pg_database_url,
                      cwd=root, env={"PATH": str(bare)}, timeout=120)  # fmt: skip
    assert done.returncode == 2, output(done)
    assert done.stderr == (
        "apply_sample: sample.dump: a pg_dump sample is restored with pg_restore, which is not "
        "on PATH: install the PostgreSQL client programs (Debian/Ubuntu: postgresql-client)\n"
    )


def test_a_sqlite_run_refuses_an_archive_in_one_line(tmp_path: Path) -> None:
    root = write(tmp_path, "sqlite", {})
    (root / "sample.db").write_bytes(b"PGDMP\x01\x0e\x00")
    done = run_check("ci.apply_sample", root, "sqlite", "--sample", "sample.db")
    assert done.returncode == 2, output(done)
    assert done.stderr == (
        "apply_sample: sample.db: a pg_dump archive is a PostgreSQL sample: run the check with "
        "--engine postgresql (and --server-url)\n"
    )


def test_the_finding_names_the_line_that_writes_the_table_in_postgresqls_words(
    tmp_path: Path,
) -> None:
    wipe = "-- @irreversible wipe\nSELECT 1;\nUPDATE ONLY public.vitals SET value = NULL;\n"
    root = write(tmp_path, "postgresql", {"data/0003_wipe.sql": wipe})
    (root / "sample.sql").write_text(SAMPLE)
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "sample.sql")
    assert done.returncode == 1, output(done)
    assert f"{root / MIGRATIONS}/data/0003_wipe.sql:3: MG313 table vitals" in done.stdout


KEYLESS = {
    "schema/0003_notes.sql": "CREATE TABLE notes (body text);\n",
    "rollback/0003_rollback.sql": "DROP TABLE notes;\n",
}


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        ("INSERT INTO notes VALUES ('d');\n", None),
        ("DELETE FROM notes WHERE body = 'b';\n", "MG308 table notes: 1 row lost (body='b')"),
        # no key pairs the rows: an UPDATE is a row lost and a row added
        ("-- @rewrites notes\nUPDATE notes SET body = upper(body) WHERE body = 'a';\n",
         "MG308 table notes: 1 row lost (body='a')"),
        ("-- @allow-row-loss notes\nUPDATE notes SET body = upper(body);\n", None),
        ("CREATE TABLE notes_v2 AS SELECT body FROM notes;\nDROP TABLE notes;\n", None),
        ("CREATE TABLE archive AS SELECT body FROM notes WHERE body < 'c';\nDROP TABLE notes;\n",
         "MG308 table notes: 4 rows lost (table dropped; archive does not hold its rows)"),
    ],
)  # fmt: skip
def test_a_table_without_a_primary_key_is_compared_by_whole_rows(
    tmp_path: Path, migration: str, expected: str | None
) -> None:
    root = write(tmp_path, "postgresql", {**KEYLESS, "data/0004_change.sql": migration})
    sample = "-- @sample-version 3\n" + ROWS
    sample += "INSERT INTO notes VALUES ('a'), ('b'), ('c'), ('c');\n"
    (root / "sample.sql").write_text(sample)
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "sample.sql")
    assert done.returncode == (0 if expected is None else 1), output(done)
    assert expected is None or expected in done.stdout, output(done)


TYPED = {
    "schema/0003_paint.sql": (
        "CREATE TYPE color AS ENUM ('red', 'green');\n"
        "CREATE DOMAIN hue AS color;\n"
        "CREATE TYPE pair AS (x int, y int);\n"
        "CREATE DOMAIN price AS numeric(12, 2);\n"
        "CREATE TABLE paint (id numeric PRIMARY KEY, c hue[], p pair, n numeric, m price);\n"
    ),
    "rollback/0003_rollback.sql": "DROP TABLE paint;\nDROP TYPE pair;\nDROP DOMAIN price;\n"
    "DROP DOMAIN hue;\nDROP TYPE color;\n",
}


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        # no row written, no column changed: every stored 'red' now reads 'crimson'
        ("ALTER TYPE color RENAME VALUE 'red' TO 'crimson';\n",
         "MG312 table paint: values changed in 0004 on the sample sample.sql: c: 1 row"
         " (id='2': '{red}' -> '{crimson}')"),
        ("-- @rewrites paint(c)\nALTER TYPE color RENAME VALUE 'red' TO 'crimson';\n", None),
        ("ALTER TYPE pair ADD ATTRIBUTE z int;\n", "MG312 table paint"),
        ("ALTER TYPE color ADD VALUE 'blue';\n", None),
        # a wider scale prints the same values longer ('2' -> '2.00'): equal, no finding
        ("ALTER TABLE paint ALTER COLUMN n TYPE numeric(12, 2),"
         " ALTER COLUMN id TYPE numeric(12, 3), ALTER COLUMN m TYPE numeric;\n", None),
        ("ALTER TABLE paint ALTER COLUMN n TYPE price;\n", None),
        # a narrower one rounds: a real change
        ("ALTER TABLE paint ALTER COLUMN n TYPE numeric(12, 0);\n",
         "MG312 table paint: values changed in 0004 on the sample sample.sql: n: 1 row"
         " (id='2': 2.5 -> 3)"),
    ],
)  # fmt: skip
def test_values_change_through_their_types_and_compare_as_numbers(
    tmp_path: Path, migration: str, expected: str | None
) -> None:
    root = write(tmp_path, "postgresql", {**TYPED, "data/0004_change.sql": migration})
    sample = "-- @sample-version 3\n" + ROWS
    sample += (
        "INSERT INTO paint VALUES (1, '{green}', '(1,2)', 2, 2), (2, '{red}', NULL, 2.5, 3.5);\n"
    )
    (root / "sample.sql").write_text(sample)
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "sample.sql")
    assert done.returncode == (0 if expected is None else 1), output(done)
    assert expected is None or expected in done.stdout, output(done)
