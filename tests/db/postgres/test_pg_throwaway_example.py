"""The worked PostgreSQL example (examples/postgresql), checked with PostgreSQL's own tools on a
throwaway database: each migration applies with `psql -1` (a `@no-transaction` one without
`-1`), each rollback restores the schema and the data exactly (pg_dump before and after), the
migration applies again to the same result, the seeds are idempotent, and every invariant holds
at head on the sample data. psql and pg_dump are the floor every runner is measured against:
the example must not depend on this tool to be right."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.db.postgres.throwaway import throwaway
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "postgresql"
MIGRATIONS = EXAMPLE / "migrations"
SAMPLE = EXAMPLE / "sample" / "sample_data.sql"

pytestmark = pytest.mark.skipif(
    not (shutil.which("psql") and shutil.which("pg_dump")),
    reason="PostgreSQL's client tools (psql, pg_dump) are not installed",
)


@pytest.fixture
def database(pg_server_url: str) -> Iterator[str]:
    with throwaway(pg_server_url, notice=None) as url:
        yield url


def psql(url: str, *args: str) -> str:
    done = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"psql {' '.join(args)}: {done.stderr}"
    return done.stdout


def apply(url: str, path: Path) -> None:
    single = [] if "-- @no-transaction" in path.read_text() else ["-1"]
    psql(url, *single, "-f", str(path))


def state(url: str) -> list[str]:
    """The database as pg_dump writes it (schema and data), without its per-dump \\restrict
    key, the rows of each table sorted: an UPDATE moves rows, and COPY's order is not the
    data."""
    done = subprocess.run(["pg_dump", "--no-owner", "-d", url], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines: list[str] = []
    rows: list[str] | None = None
    for line in done.stdout.splitlines():
        if line.startswith(("\\restrict", "\\unrestrict")):
            continue
        if rows is not None and line != "\\.":
            rows.append(line)
            continue
        if rows is not None:
            lines += sorted(rows)
            rows = None
        lines.append(line)
        if line.startswith("COPY ") and line.endswith(" FROM stdin;"):
            rows = []
    return lines


def main_track() -> list[Path]:
    files = [*MIGRATIONS.glob("schema/*.sql"), *MIGRATIONS.glob("data/*.sql")]
    return sorted(files, key=lambda path: path.name)


def sample_version() -> int:
    found = re.search(r"@sample-version (\d+)", SAMPLE.read_text())
    assert found is not None
    return int(found[1])


def invariants() -> list[tuple[str, str]]:
    """(name, query) of each `-- invariant: <name>` of the example's invariants file."""
    text = (EXAMPLE / "invariants.sql").read_text()
    return re.findall(r"-- invariant: (\w+)\n(.*?)(?=\n-- invariant:|\Z)", text, re.S)


def test_each_rollback_undoes_its_migration_exactly(database: str) -> None:
    for path in main_track():
        before = state(database)
        apply(database, path)
        after = state(database)
        assert after != before, f"{path.name} changed nothing"
        apply(database, MIGRATIONS / "rollback" / f"{path.name[:4]}_rollback.sql")
        assert state(database) == before, f"rollback of {path.name} left a difference"
        apply(database, path)
        assert state(database) == after, f"{path.name} applied again differs"
        if int(path.name[:4]) == sample_version():
            apply(database, SAMPLE)  # the data migrations after it then have rows to change


def test_seeds_are_idempotent_and_the_invariants_hold_at_head(database: str) -> None:
    for path in main_track():
        apply(database, path)
        if int(path.name[:4]) == sample_version():
            apply(database, SAMPLE)
    seeds = sorted(MIGRATIONS.glob("seed/*.sql"))
    for path in seeds:
        apply(database, path)
    once = state(database)
    for path in seeds:
        apply(database, path)
    assert state(database) == once
    # the user's own values, in the sample, are kept
    assert psql(database, "-c", "SELECT value FROM settings WHERE key = 'alarmVolume'") == "40\n"
    assert len(invariants()) == 7
    for name, query in invariants():
        assert psql(database, "-c", query) == "", f"invariant {name} fails"


def test_the_invariants_catch_what_the_data_migrations_fix(database: str) -> None:
    # at the sample's version, before 0006-0008: the invariants must see the unmigrated rows
    for path in main_track()[: sample_version()]:
        apply(database, path)
    apply(database, SAMPLE)
    failing = {name for name, query in invariants() if psql(database, "-c", query) != ""}
    assert {"vitals_have_mrn", "admission_events_normalised", "devices_labelled"} <= failing
