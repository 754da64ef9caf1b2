"""A statement cancelled from outside the run (another session's pg_cancel_backend, or an
interrupt's cancel reaching the server after its statement ended) says nothing about the SQL:
one line, exit 2 ("could not run"), never a finding on the migration. It was MG301 in the
checks and exit 1 in the runner, and a late cancel in a round trip's re-apply a false MG405."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ci.apply_empty import main as apply_empty
from tests.checks.engines import engine_args, run_check
from tests.checks.engines import write as write_tree
from tests.checks.pg_groups import sent
from tests.conftest import output
from tests.db.postgres.pgrun import applied, migrate, rows, write
from tests.pg import server_url

pytestmark = pytest.mark.postgresql
__all__ = ["sent"]  # the fixture, used by name

CANCELLED = "was cancelled from outside the run (canceling statement due to user request"


def slow(marker: str) -> str:
    return f"SELECT pg_sleep(20) AS {marker};\n"


@contextmanager
def cancelled(marker: str) -> Iterator[None]:
    """Cancel the statements that name `marker` as soon as each runs, from another session
    (apply_empty runs a group again member by member after a group that failed)."""
    done = threading.Event()

    def cancel() -> None:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            while not done.is_set():
                conn.execute(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                    (f"%AS {marker}%",),
                )
                time.sleep(0.05)

    thread = threading.Thread(target=cancel)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize(
    "header", ["", "-- @no-transaction\n"], ids=["transaction", "no-transaction"]
)
def test_the_runner_stops_with_exit_2_and_no_verdict_on_the_file(
    header: str, tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    marker = f"mark_{secrets.token_hex(4)}"
    migrations = write(tmp_path, {
        "schema/0001_a.sql": "CREATE TABLE a (x int);\n",
        "schema/0002_slow.sql": header + slow(marker),
    })  # fmt: skip
    started = time.monotonic()
    with cancelled(marker):
        code, _, err = migrate(capsys, pg_database_url, migrations)
    assert time.monotonic() - started < 15  # the cancel stopped it, not the sleep's end
    assert code == 2, err
    assert f"0002_slow.sql:{1 + header.count(chr(10))} {CANCELLED}" in err, err
    then = "the migration is marked dirty: finish it with --resume" if header else "run it again"
    assert err.rstrip().endswith(f"it was not a failure of the SQL: {then}"), err
    assert applied(pg_database_url) == [(1, "schema")]
    if not header:  # nothing of 0002 stays, nothing is marked
        failed = "SELECT count(*) FROM schema_version_log WHERE version = 2 AND action = 'failed'"
        assert rows(pg_database_url, failed) == [(0,)]


def test_a_files_own_query_canceled_error_stays_its_finding(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    """The same SQLSTATE (57014), raised by the SQL itself: that is the file's failure."""
    migrations = write(tmp_path, {"schema/0001_check.sql": (
        "DO $$\nBEGIN\n  RAISE EXCEPTION 'precondition: row 42 missing'\n"
        "    USING ERRCODE = 'query_canceled';\nEND $$;\n")})  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 1, err
    assert "0001_check.sql:3: precondition: row 42 missing" in err, err
    # the words of a timeout in its own message (or hint) do not make it one
    said = write(tmp_path / "t", {"schema/0001_check.sql": (
        "DO $$\nBEGIN\n  RAISE EXCEPTION 'order 7 hit a statement timeout upstream'\n"
        "    USING ERRCODE = 'query_canceled',\n"
        "          HINT = 'statement timeout';\nEND $$;\n")})  # fmt: skip
    code, _, err = migrate(capsys, pg_database_url, said)
    assert code == 1, err
    assert "0001_check.sql:3: order 7 hit a statement timeout upstream" in err, err
    assert "--statement-timeout" not in err, err


def test_a_cancelled_batch_says_to_resume(
    tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    marker = f"mark_{secrets.token_hex(4)}"
    migrations = write(tmp_path, {
        "schema/0001_a.sql": (
            "CREATE TABLE a (x int);\nINSERT INTO a SELECT generate_series(1, 3);\n"),
        "data/0002_slow.sql": (
            "-- @batch 1\n"
            f"UPDATE a SET x = -x WHERE x IN (SELECT x FROM a AS {marker}\n"
            "  WHERE x > 0 AND pg_sleep(20) IS NOT NULL LIMIT :batch_size);\n"),
    })  # fmt: skip
    with cancelled(marker):
        code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 2, err
    assert err.rstrip().endswith("the migration is marked dirty: finish it with --resume"), err


def test_the_round_trip_could_not_run_instead_of_a_finding(tmp_path: Path) -> None:
    marker = f"mark_{secrets.token_hex(4)}"
    root = write_tree(tmp_path, "postgresql", {
        "schema/0003_slow.sql": slow(marker),
        "rollback/0003_rollback.sql": "SELECT 1;\n",
    })  # fmt: skip
    with cancelled(marker):
        done = run_check("ci.rollback_roundtrip", root, "postgresql", "--jobs", "1")
    assert done.returncode == 2, output(done)
    assert "MG" not in done.stdout, output(done)
    assert f"0003_slow.sql:1 {CANCELLED}" in done.stderr, output(done)


def test_apply_empty_could_not_run_instead_of_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    marker = f"mark_{secrets.token_hex(4)}"
    started = time.monotonic()
    folder = tmp_path / "m" / "schema"
    folder.mkdir(parents=True)
    (folder / "0001_slow.sql").write_text(slow(marker), encoding="utf-8")
    with cancelled(marker):
        code = apply_empty(["--migrations-dir", str(tmp_path / "m"), *engine_args("postgresql")])
    said = capsys.readouterr()
    assert time.monotonic() - started < 15
    assert code == 2 and "MG" not in said.out, said
    assert f"0001_slow.sql:1 {CANCELLED}" in said.err, said


def test_loading_the_sample_that_was_cancelled_is_not_a_runaway(tmp_path: Path) -> None:
    marker = f"mark_{secrets.token_hex(4)}"
    root = write_tree(tmp_path, "postgresql", {})
    (root / "sample.sql").write_text("-- @sample-version 2\n" + slow(marker), encoding="utf-8")
    with cancelled(marker):
        done = run_check(
            "ci.apply_sample", root, "postgresql", "--sample", str(root / "sample.sql")
        )
    assert done.returncode == 2, output(done)
    assert "MG" not in done.stdout and CANCELLED in done.stderr, output(done)


def test_a_server_error_outside_a_migration_is_one_line_in_the_runner(
    tmp_path: Path, pg_database_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no migration ran (the status, the bookkeeping): the server's doing, not a
    traceback; a bug of ours still is one."""
    import ci.migrate

    migrations = write(tmp_path, {"schema/0001_a.sql": "CREATE TABLE a (x int);\n"})

    def shut_down(*args: Any, **kwargs: Any) -> None:
        raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")

    monkeypatch.setattr(ci.migrate, "run", shut_down)
    code, _, err = migrate(capsys, pg_database_url, migrations)
    assert code == 2
    assert err == (
        "migrate: PostgreSQL server: terminating connection due to administrator command; the "
        "work stopped before it finished: run it again\n"
    )
