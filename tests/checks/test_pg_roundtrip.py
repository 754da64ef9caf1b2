"""The database checks on PostgreSQL end to end (`python -m ci.rollback_roundtrip --engine
postgresql`, ...): the rollbacks only a PostgreSQL fingerprint can see through (a renamed
sequence, an index renamed with a `1` suffix, a view body changed, an enum label removed),
each named; a missing or unreachable server in one line; the throwaway database gone after
every run.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.checks.engines import SCENARIOS, run_check, write
from tests.conftest import MIGRATIONS, REPO, output, run_module
from tests.pg import server_url

pytestmark = pytest.mark.postgresql

PG = "postgresql"
# Each: the third migration, its rollback that does not quite undo it, and the words that
# must name what it left.
SUBTLE = {
    "renamed sequence": (
        "ALTER SEQUENCE tickets_id_seq RENAME TO tickets_id_seq_old;\n"
        "CREATE SEQUENCE tickets_id_seq;\n",
        "DROP SEQUENCE tickets_id_seq;\n"
        "ALTER SEQUENCE tickets_id_seq_old RENAME TO tickets_id_seq1;\n",
        "sequence tickets_id_seq renamed to tickets_id_seq1",
    ),
    "index renamed with a 1 suffix": (
        "ALTER INDEX idx_tickets_title RENAME TO idx_tickets_title_old;\n"
        "CREATE INDEX idx_tickets_title ON tickets (title);\n",
        "DROP INDEX idx_tickets_title;\n"
        "ALTER INDEX idx_tickets_title_old RENAME TO idx_tickets_title1;\n",
        "index idx_tickets_title on tickets renamed to idx_tickets_title1",
    ),
    "view body changed": (
        "CREATE OR REPLACE VIEW open_tickets AS SELECT id, title FROM tickets WHERE NOT done;\n",
        "CREATE OR REPLACE VIEW open_tickets AS\n"
        "    SELECT id, title FROM tickets WHERE done IS NOT TRUE;\n",
        "view open_tickets",
    ),
    "enum label removed": (
        "ALTER TYPE mood RENAME TO mood_old;\n"
        "CREATE TYPE mood AS ENUM ('ok', 'sad', 'happy');\n"
        "ALTER TABLE tickets ALTER COLUMN feeling TYPE mood USING feeling::text::mood;\n"
        "DROP TYPE mood_old;\n",
        "ALTER TYPE mood RENAME TO mood_old;\n"
        "CREATE TYPE mood AS ENUM ('ok');\n"
        "ALTER TABLE tickets ALTER COLUMN feeling TYPE mood USING feeling::text::mood;\n"
        "DROP TYPE mood_old;\n",
        "enum mood",
    ),
}
TICKETS = {
    "schema/0003_tickets.sql": (
        "CREATE TYPE mood AS ENUM ('ok', 'sad');\n"
        "CREATE TABLE tickets (id serial PRIMARY KEY, title text, done boolean, feeling mood);\n"
        "CREATE INDEX idx_tickets_title ON tickets (title);\n"
        "CREATE VIEW open_tickets AS SELECT id, title FROM tickets WHERE NOT done;\n"
        "CREATE FUNCTION ticket_count() RETURNS bigint LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  RETURN (SELECT count(*) FROM tickets); -- a ; inside the body\nEND;\n$$;\n"
    ),
    "rollback/0003_rollback.sql": (
        "DROP FUNCTION ticket_count();\nDROP VIEW open_tickets;\nDROP TABLE tickets;\n"
        "DROP TYPE mood;\n"
    ),
}


@pytest.mark.parametrize("scenario", SUBTLE)
def test_a_rollback_that_does_not_quite_undo_is_caught_with_the_object_named(
    scenario: str, tmp_path: Path
) -> None:
    migration, rollback, named = SUBTLE[scenario]
    extra = {
        **TICKETS,
        "schema/0004_change.sql": migration,
        "rollback/0004_rollback.sql": rollback,
    }
    root = write(tmp_path, PG, extra)
    done = run_check("ci.rollback_roundtrip", root, PG)
    assert done.returncode == 1, output(done)
    lines = [line for line in done.stdout.splitlines() if " MG404 " in line]
    assert len(lines) == 1, output(done)
    assert lines[0].startswith(f"{root / MIGRATIONS}/rollback/0004_rollback.sql: MG404 ")
    assert named in lines[0], lines[0]


def test_the_tickets_migration_round_trips_cleanly(tmp_path: Path) -> None:
    """The base of the cases above passes: each failure above is the rollback's alone."""
    root = write(tmp_path, PG, TICKETS)
    done = run_check("ci.rollback_roundtrip", root, PG)
    assert done.returncode == 0, output(done)
    assert "OK rollback_roundtrip: 3 passed" in done.stdout


ADD_LABEL = "ALTER TYPE mood ADD VALUE 'happy';\n"
# docs/postgresql.md, "Rolling back a new enum label": the type built again without it
REBUILD = (
    "-- rows that use it first, then the type as it was before 0005\n"
    "UPDATE tickets SET feeling = 'ok' WHERE feeling = 'happy';\n"
    "ALTER TYPE mood RENAME TO mood_old;\n"
    "CREATE TYPE mood AS ENUM ('ok', 'sad');\n"
    "-- a default cannot be cast: dropped and set again; the column's indexes are rebuilt\n"
    "ALTER TABLE tickets ALTER COLUMN feeling DROP DEFAULT;\n"
    "ALTER TABLE tickets ALTER COLUMN feeling TYPE mood USING feeling::text::mood;"
    " -- noqa: MG707 rebuilds the enum\n"
    "ALTER TABLE tickets ALTER COLUMN feeling SET DEFAULT 'ok';\n"
    "DROP TYPE mood_old;\n"
)


def test_a_label_the_rollback_cannot_drop_gets_the_rebuild_advice(tmp_path: Path) -> None:
    with_default = {**TICKETS, "schema/0004_default.sql": (
        "ALTER TABLE tickets ALTER COLUMN feeling SET DEFAULT 'ok';\n"
        "CREATE INDEX idx_tickets_feeling ON tickets (feeling);\n"),
        "rollback/0004_rollback.sql": (
        "DROP INDEX idx_tickets_feeling;\n"
        "ALTER TABLE tickets ALTER COLUMN feeling DROP DEFAULT;\n")}  # fmt: skip
    naive = {"schema/0005_happy.sql": ADD_LABEL, "rollback/0005_rollback.sql": "SELECT 1;\n"}
    done = run_check(
        "ci.rollback_roundtrip", write(tmp_path / "naive", PG, {**with_default, **naive}), PG
    )
    assert done.returncode == 1, output(done)
    found = [line for line in done.stdout.splitlines() if "0005_rollback.sql: MG40" in line]
    assert [line.split()[1] for line in found] == ["MG404", "MG405"], output(done)
    for line in found:
        assert (
            "To fix: PostgreSQL cannot drop an enum label: make rollback/0005_rollback.sql" in line
        )
    rebuilt = {"schema/0005_happy.sql": ADD_LABEL, "rollback/0005_rollback.sql": REBUILD}
    root = write(tmp_path / "rebuilt", PG, {**with_default, **rebuilt})
    done = run_check("ci.rollback_roundtrip", root, PG)
    assert done.returncode == 0, output(done)
    assert "OK rollback_roundtrip: 5 passed" in done.stdout
    # the docs' recipe as written passes lint's lock rules too (its noqa names MG707)
    where = str(root / MIGRATIONS)
    linted = run_module("ci.lint", "--migrations-dir", where, "--engine", PG, "--all",
                        "--no-sqlfluff", cwd=root)  # fmt: skip
    assert linted.returncode in (0, 1) and "0004_default.sql" in linted.stdout, output(linted)
    mg707 = [line for line in linted.stdout.splitlines() if " MG707 " in line]
    assert not [line for line in mg707 if "0005_rollback.sql" in line], output(linted)


def test_a_renamed_label_gets_no_rebuild_advice(tmp_path: Path) -> None:
    """RENAME VALUE is undone by renaming back: the rebuild advice is for a label added."""
    files = {**TICKETS, "schema/0004_rename.sql": "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';\n",
             "rollback/0004_rollback.sql": "ALTER TYPE mood ADD VALUE 'sad';\n"}  # fmt: skip
    done = run_check("ci.rollback_roundtrip", write(tmp_path, PG, files), PG)
    assert done.returncode == 1, output(done)
    assert "label 'blue' left behind" in done.stdout, output(done)
    assert "cannot drop an enum label" not in done.stdout, output(done)


def test_a_label_among_other_leftovers_keeps_the_general_advice_too(tmp_path: Path) -> None:
    files = {**TICKETS,
        "schema/0004_more.sql": ADD_LABEL + "ALTER TABLE tickets ADD COLUMN note text;\n",
        "rollback/0004_rollback.sql": "SELECT 1;\n",
        "schema/0005_later.sql": "CREATE TABLE later (x int);\n",
        "rollback/0005_rollback.sql": "DROP TABLE later;\n"}  # fmt: skip
    done = run_check("ci.rollback_roundtrip", write(tmp_path, PG, files), PG)
    assert done.returncode == 1, output(done)
    mg404 = next(line for line in done.stdout.splitlines() if " MG404 " in line)
    assert "column tickets.note" in mg404 and "label 'happy' left behind" in mg404, mg404
    assert mg404.endswith(
        "To fix: make rollback/0004_rollback.sql undo exactly what schema/0004_more.sql does; "
        "PostgreSQL cannot drop an enum label: make rollback/0004_rollback.sql build the type "
        "again without it (docs/postgresql.md, 'Rolling back a new enum label'), or, to keep the "
        "label, declare -- @irreversible <reason> in the migration and delete the rollback file."
    ), mg404
    # 0004 applied; it is its re-apply that failed, and the skip says so
    assert "0004 could not be applied again after its rollback (MG405)" in done.stdout, output(done)


@pytest.mark.parametrize("module", ["ci.apply_empty", "ci.rollback_roundtrip", "ci.apply_sample"])
def test_without_a_server_url_one_line_says_what_to_give(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIGRATION_GUARD_SERVER_URL", raising=False)
    root = write(tmp_path, PG, {})
    where = str(root / MIGRATIONS)
    done = run_module(
        module, "--migrations-dir", where, "--engine", PG, "--sample", "sample.sql", cwd=root
    ) if module == "ci.apply_sample" else run_module(
        module, "--migrations-dir", where, "--engine", PG, cwd=root
    )  # fmt: skip
    assert done.returncode == 2, output(done)
    assert done.stderr.count("\n") == 1 and "--server-url" in done.stderr, done.stderr


def test_the_server_url_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATION_GUARD_SERVER_URL", server_url())
    root = write(tmp_path, PG, {})
    done = run_module("ci.apply_empty", "--migrations-dir", str(root / MIGRATIONS),
                      "--engine", PG, cwd=root)  # fmt: skip
    assert done.returncode == 0, output(done)


def test_an_unreachable_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = write(tmp_path, PG, {})
    done = run_module("ci.apply_empty", "--migrations-dir", str(root / MIGRATIONS),
                      "--engine", PG, "--server-url", "postgresql://postgres@127.0.0.1:1/postgres",
                      cwd=root)  # fmt: skip
    assert done.returncode == 2, output(done)
    assert done.stderr.count("\n") == 1 and "cannot connect" in done.stderr, done.stderr
    assert "Traceback" not in output(done)


def database_exists(name: str) -> bool:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def gone_soon(name: str, within: float = 30) -> bool:
    """Whether the database is gone within `within` seconds: a check that ends normally sends
    its DROP DATABASE and does not wait for the server to finish it (docs/postgresql.md)."""
    deadline = time.monotonic() + within
    while database_exists(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("outcome", ["passing", "failing"])
def test_the_throwaway_database_is_dropped_after_the_run(outcome: str, tmp_path: Path) -> None:
    """The run names its own database (an invariant that returns it, or a migration that fails
    with it in the message); that database is gone afterwards."""
    extra = {
        "schema/0003_say.sql": "DO $$ BEGIN RAISE EXCEPTION 'in %', current_database(); END $$;\n"
        if outcome == "failing"
        else "-- nothing\n"
    }
    root = write(tmp_path, PG, extra)
    (root / "invariants.sql").write_text("-- invariant: where\nSELECT current_database();\n")
    done = run_check("ci.apply_empty", root, PG, "--invariants", "invariants.sql")
    assert done.returncode == 1, output(done)
    names = set(re.findall(r"mg_[0-9]{14}_[0-9a-f]{8}", done.stdout))
    assert len(names) == 1, output(done)
    assert gone_soon(names.pop())


def test_a_constraint_left_not_valid_is_an_integrity_finding(tmp_path: Path) -> None:
    extra = {
        "schema/0003_check.sql": (
            "ALTER TABLE vitals ADD CONSTRAINT vitals_value_positive CHECK (value > 0) NOT VALID;\n"
        ),
        "rollback/0003_rollback.sql": "ALTER TABLE vitals DROP CONSTRAINT vitals_value_positive;\n",
    }
    root = write(tmp_path, PG, extra)
    done = run_check("ci.apply_empty", root, PG)
    assert done.returncode == 1, output(done)
    line = next(line for line in done.stdout.splitlines() if " MG303 " in line)
    assert "constraint vitals_value_positive on vitals is NOT VALID" in line, line


@pytest.mark.parametrize(
    ("sig", "code", "sleep"), [(signal.SIGINT, 130, "31.25"), (signal.SIGTERM, 143, "31.5")]
)
def test_ctrl_c_during_a_migration_drops_the_throwaway_database(
    tmp_path: Path, sig: int, code: int, sleep: str
) -> None:
    """Interrupted (Ctrl-C, or SIGTERM: CI's cancel) while a migration runs (found by its
    unique sleep in pg_stat_activity), the run ends without a traceback and its database is
    gone."""
    # a seed: the first of its group, whose query pg_stat_activity shows as written (a later
    # member's query starts with the runner's bookkeeping, past the 1 kB the server keeps)
    extra = {"seed/0001_slow.sql": f"SELECT pg_sleep({sleep});\n"}
    root = write(tmp_path, PG, extra)
    command = [sys.executable, "-m", "ci.apply_empty", "--migrations-dir", str(root / MIGRATIONS),
               "--engine", PG, "--server-url", server_url()]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        name = running_in(f"pg_sleep({sleep})")
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert b"Traceback" not in stderr, stderr
    assert not database_exists(name)


def running_in(query: str, timeout: float = 60) -> str:
    """The database where a session is running `query`, once one is."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(server_url(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            found = conn.execute(
                "SELECT datname FROM pg_stat_activity WHERE query LIKE %s AND pid <> "
                "pg_backend_pid()",
                (f"%{query}%",),
            ).fetchone()
            if found is not None:
                return str(found[0])
            time.sleep(0.05)
    raise AssertionError(f"no session ran {query} within {timeout} s")


def test_a_connection_lost_during_the_run_is_one_line_and_the_database_is_dropped(
    tmp_path: Path,
) -> None:
    extra = {"seed/0001_slow.sql": "SELECT pg_sleep(31.75);\n"}  # unique; first of its group
    root = write(tmp_path, PG, extra)
    command = [sys.executable, "-m", "ci.apply_empty", "--migrations-dir", str(root / MIGRATIONS),
               "--engine", PG, "--server-url", server_url()]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        name = running_in("pg_sleep(31.75)")
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE %s "
                "AND pid <> pg_backend_pid() AND datname = %s",  # ours only: the server is shared
                ("%pg_sleep(31.75)%", name),
            )
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode in (1, 2), (stdout, stderr)
    assert b"Traceback" not in stdout + stderr, stderr
    assert not database_exists(name)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("CREATE TABLE notes (id integer);\nCREATE TABLE more (id integer;\n", "syntax error"),
        ("-- psql habits\n\\i other.sql\n", "psql meta-command \\i"),
    ],
)
@pytest.mark.parametrize("module", ["ci.apply_empty", "ci.rollback_roundtrip"])
def test_a_file_the_server_cannot_read_fails_its_case_naming_the_line(
    module: str, text: str, said: str, tmp_path: Path
) -> None:
    extra = {"schema/0003_bad.sql": text, "rollback/0003_rollback.sql": "SELECT 1;\n"}
    root = write(tmp_path, PG, extra)
    done = run_check(module, root, PG)
    assert done.returncode == 1, output(done)
    assert "Traceback" not in output(done)
    line = next(line for line in done.stdout.splitlines() if " MG301 " in line)
    assert line.startswith(f"{root / MIGRATIONS}/schema/0003_bad.sql:2: MG301 "), line
    assert said in line, line


def test_a_rollback_the_server_cannot_read_fails_naming_its_line(tmp_path: Path) -> None:
    extra = {
        "schema/0003_notes.sql": "CREATE TABLE notes (id integer);\n",
        "rollback/0003_rollback.sql": "-- undo\nDROP TABLE (notes;\n",
    }
    root = write(tmp_path, PG, extra)
    done = run_check("ci.rollback_roundtrip", root, PG)
    assert done.returncode == 1, output(done)
    line = next(line for line in done.stdout.splitlines() if " MG403 " in line)
    assert line.startswith(f"{root / MIGRATIONS}/rollback/0003_rollback.sql:2: MG403 "), line
    assert "rolling back 0003 on the empty database fails: syntax error" in line, line


def test_the_round_trip_split_across_processes_reports_what_one_process_does(
    tmp_path: Path,
) -> None:
    """Each part on a throwaway database of its own; the second part's finding arrives."""
    from ci.checks.db_options import Options
    from ci.checks.pg_engine import discover_for
    from ci.checks.pg_roundtrip import EmptyRun, merged
    from ci.checks.roundtrip_jobs import plan, run_parts

    root = write(tmp_path, PG, SCENARIOS["index left behind"])
    catalog = discover_for(root / MIGRATIONS, PG)
    on_empty = EmptyRun(catalog, Options(None, None, None, False, 300.0), server_url())
    names = []
    for jobs in (1, 2):
        parts = plan(catalog.main, None, jobs, min_per_part=1)
        assert len(parts) == jobs
        cases = merged(run_parts(parts, on_empty))
        names.append([(c.name, [f.code for f in c.findings]) for c in cases])
    assert names[0] == names[1]
    assert names[1][-1] == ("0003 schema/0003_index.sql", ["MG404", "MG405"])
