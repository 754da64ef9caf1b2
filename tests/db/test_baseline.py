"""Adopting a database that has the tables but no history: `ci.migrate --baseline N` and
`--status --detect`, as real processes on real SQLite files built by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ci.core.sqltext import checksum
from tests.conftest import make_db, query, run_module, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]

MIGRATIONS = tree(
    {
        "schema/0001_patients.sql": (
            "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
            "CREATE INDEX patients_name ON patients (name);\n"
        ),
        "rollback/0001_rollback.sql": "DROP TABLE patients;\n",
        "schema/0002_visits.sql": (
            "CREATE TABLE visits (\n"
            "    id INTEGER PRIMARY KEY,\n"
            "    patient_id INTEGER NOT NULL REFERENCES patients (id),\n"
            "    at TEXT\n"
            ");\n"
        ),
        "rollback/0002_rollback.sql": "DROP TABLE visits;\n",
        "schema/0003_note.sql": "ALTER TABLE visits ADD COLUMN note TEXT;\n",
        "rollback/0003_rollback.sql": "ALTER TABLE visits DROP COLUMN note;\n",
        "seed/0001_first_patient.sql": (
            "INSERT OR IGNORE INTO patients (id, name) VALUES (1, 'first');\n"
        ),
    }
)

# What 0001..0002 create, written by hand the way an application that predates the migrations
# might have: other spelling, other case, and a table of its own that no migration creates.
BY_HAND = """
create table "patients" (id integer primary key, name text not null);
create index patients_name on patients(name);
create table visits (id integer primary key, patient_id integer not null
    references patients(id), at text);
create table app_settings (k text primary key, v text);
insert into patients values (7, 'seven');
insert into visits values (1, 7, '2026-01-01', NULL);
"""


def migrate(root: Path, *args: str) -> tuple[int, str, str]:
    done = run_module("ci.migrate", "--db", "app.db", "--no-backup", *args, cwd=root)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def project(write_tree: WriteTree) -> Path:
    return write_tree(MIGRATIONS)


@pytest.fixture
def by_hand(project: Path) -> Path:
    """The project with app.db built by hand at the shape of 0002 (visits has no note yet)."""
    make_db(project / "app.db", BY_HAND.replace(", NULL)", ")"))
    return project


def file_hash(root: Path, name: str) -> str:
    return checksum((root / "schema/migrations/schema" / name).read_bytes())


def test_baseline_adopts_a_hand_built_database_of_the_same_shape(by_hand: Path) -> None:
    code, out, err = migrate(by_hand, "--baseline", "2")
    assert code == 0, out + err
    assert "recorded 0001..0002 as applied without running them" in out, out
    assert "note: table app_settings" in out, out  # an extra table is fine, and said
    rows = query(
        by_hand / "app.db",
        "SELECT version, migration_type, description, file_hash FROM schema_version",
    )
    assert rows == [
        (1, "schema", "patients", file_hash(by_hand, "0001_patients.sql")),
        (2, "schema", "visits", file_hash(by_hand, "0002_visits.sql")),
    ]
    log = query(by_hand / "app.db", "SELECT action, version, error FROM schema_version_log")
    assert log == [("baseline", 2, None)]
    assert query(by_hand / "app.db", "SELECT * FROM patients") == [(7, "seven")]  # untouched

    code, out, err = migrate(by_hand)  # then migrate applies only what comes after 0002
    assert code == 0, out + err
    assert "applied 0003" in out and "applied 0001" not in out and "applied 0002" not in out, out
    assert "applied seed-0001" in out, out  # seeds are idempotent and run at the head
    assert query(by_hand / "app.db", "SELECT name FROM pragma_table_info('visits')")[-1] == (
        "note",
    )
    checked = run_module("ci.checksums", "--db", "app.db", cwd=by_hand)
    assert checked.returncode == 0, checked.stdout + checked.stderr


DIFFERENT = [
    (
        "column missing",
        ("at text)", "seen_at text)"),
        ["column visits.at missing", "column visits.seen_at only in the database"],
    ),
    (
        "column type",
        ("patient_id integer not null", "patient_id text not null"),
        ["column visits.patient_id type INTEGER -> TEXT"],
    ),
    (
        "index missing",
        ("create index patients_name on patients(name);", ""),
        ["index patients_name on patients missing"],
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [d[1:] for d in DIFFERENT], ids=[d[0] for d in DIFFERENT]
)
def test_baseline_refuses_a_database_that_differs_and_changes_nothing(
    project: Path, change: tuple[str, str], expected: list[str]
) -> None:
    db = project / "app.db"
    make_db(db, BY_HAND.replace(", NULL)", ")").replace(*change))
    before = db.read_bytes()
    code, out, err = migrate(project, "--baseline", "2")
    assert code == 1, out + err
    text = out + err
    for line in expected:
        assert line in text, text
    assert "--force" in text  # how to go on anyway, if the user knows better
    assert db.read_bytes() == before  # not even the bookkeeping tables
    assert sorted(p.name for p in project.iterdir()) == ["app.db", "schema"]


def test_force_adopts_a_database_that_differs_loudly(project: Path) -> None:
    db = project / "app.db"
    make_db(db, BY_HAND.replace(", NULL)", ")").replace("create index patients_name", "--"))
    code, out, err = migrate(project, "--baseline", "2", "--force")
    assert code == 0, out + err
    assert "WARNING: --force" in err and "index patients_name on patients missing" in err, err
    assert query(db, "SELECT version FROM schema_version") == [(1,), (2,)]
    ((action, error),) = query(db, "SELECT action, error FROM schema_version_log")
    assert action == "baseline" and "--force" in error and "patients_name" in error


def one_line_refusal(root: Path, *args: str, code: int = 1) -> str:
    db = root / "app.db"
    before = db.read_bytes() if db.exists() else None
    got, out, err = migrate(root, *args)
    assert got == code, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert (db.read_bytes() if db.exists() else None) == before
    return lines[0]


def test_baseline_refuses_versions_already_applied(project: Path) -> None:
    assert migrate(project, "--target", "1")[0] == 0
    line = one_line_refusal(project, "--baseline", "2")
    assert "0001 is already applied" in line, line


def test_baseline_refuses_a_version_beyond_the_head(by_hand: Path) -> None:
    line = one_line_refusal(by_hand, "--baseline", "4")
    assert "--baseline 0004 is beyond the head (0003)" in line, line


def test_baseline_refuses_a_version_whose_file_is_missing(by_hand: Path) -> None:
    for name in ("schema/0002_visits.sql", "rollback/0002_rollback.sql"):
        (by_hand / "schema/migrations" / name).unlink()
    line = one_line_refusal(by_hand, "--baseline", "2")
    assert "no migration file numbered 0002" in line, line


def test_baseline_needs_an_existing_database(project: Path) -> None:
    line = one_line_refusal(project, "--baseline", "1", code=2)
    assert "no such database" in line, line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--baseline", "2", "--target", "2"], "--baseline goes with none of"),
        (["--baseline", "2", "--dry-run"], "--baseline goes with none of"),
        (["--baseline", "2", "--status"], "not allowed with argument --baseline"),
        (["--force"], "--force goes with --baseline"),
        (["--detect"], "--detect goes with --status"),
    ],
)
def test_options_that_do_not_go_together(by_hand: Path, args: list[str], words: str) -> None:
    before = (by_hand / "app.db").read_bytes()
    code, out, err = migrate(by_hand, *args)
    assert code == 2, out + err
    assert words in err.strip().splitlines()[0], err
    assert (by_hand / "app.db").read_bytes() == before


def test_status_detect_says_which_pending_migrations_look_applied(by_hand: Path) -> None:
    db = by_hand / "app.db"
    before = db.read_bytes()
    code, out, err = migrate(by_hand, "--status", "--detect")
    assert code == 0, out + err
    assert "0001..0002 look applied" in out, out
    assert "--baseline 2" in out, out
    assert "0003" in out and "column visits.note missing" in out, out
    assert db.read_bytes() == before


def test_status_detect_on_a_database_that_matches_nothing(project: Path) -> None:
    make_db(project / "app.db", "create table other (x);")
    code, out, err = migrate(project, "--status", "--detect")
    assert code == 0, out + err
    assert "no pending migration looks applied" in out, out


def test_detect_does_not_guess_about_a_data_migration(project: Path) -> None:
    """A migration that changes no shape cannot be told from the schema: it is said, and it is
    not counted among those that look applied."""
    fill = project / "schema/migrations/data/0004_fill_notes.sql"
    fill.parent.mkdir()
    fill.write_text("UPDATE visits SET note = '' WHERE note IS NULL;\n", encoding="utf-8")
    make_db(project / "app.db", BY_HAND.replace("at text)", "at text, note text)"))
    code, out, err = migrate(project, "--status", "--detect")
    assert code == 0, out + err
    assert "0001..0003 look applied" in out and "--baseline 3," in out, out
    assert "0004_fill_notes.sql: changes no table, index, view or trigger" in out, out


def test_status_detect_without_a_database_says_so(project: Path) -> None:
    code, out, err = migrate(project, "--status", "--detect")
    assert code == 0, out + err
    assert "detect: no database at app.db to compare with" in out, out
    assert not (project / "app.db").exists()
