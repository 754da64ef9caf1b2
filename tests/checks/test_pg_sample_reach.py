"""A pg_dump sample that would reach outside the check's throwaway database while pg_restore
restores it (ci.db.postgres.sample.refuse_reaching_out): refused before anything is restored,
in one line naming the sample and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.engines import run_check, write
from tests.checks.test_pg_sample import ROWS, dump_sample
from tests.conftest import output

pytestmark = pytest.mark.postgresql

SIDE = (
    "CREATE FUNCTION side(x text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN "
    "PERFORM dblink_exec('dbname=postgres', 'SELECT 1'); RETURN x; END $f$;\n"
)


@pytest.mark.parametrize(
    ("extra", "entry", "why"),
    [
        (
            "CREATE EXTENSION dblink;\n",
            "CREATE EXTENSION IF NOT EXISTS dblink",
            "CREATE EXTENSION dblink: its functions connect to other databases",
        ),
        (  # without the extension (no row ran it here): the function's body names the call
            SIDE + "CREATE TABLE notes (a text);\nCREATE INDEX notes_side ON notes (side(a));\n",
            "CREATE FUNCTION public.side",
            "dblink_exec() is refused, also in the body of a function",
        ),
        (
            "CREATE FUNCTION stop() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;\n"
            "CREATE EVENT TRIGGER stop ON ddl_command_start EXECUTE FUNCTION stop();\n",
            "CREATE EVENT TRIGGER stop ON ddl_command_start",
            "an event trigger runs its function on every later DDL statement of the check",
        ),
    ],
)
def test_an_archive_that_reaches_out_is_refused_before_it_restores(
    tmp_path: Path, pg_database_url: str, extra: str, entry: str, why: str
) -> None:
    root = write(tmp_path, "postgresql", {})
    dump_sample(root, pg_database_url, "hostile.dump", rows=ROWS + extra)
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", "hostile.dump")
    assert done.returncode == 2, output(done)
    assert done.stdout == ""
    assert done.stderr.startswith(
        f"apply_sample: hostile.dump: the pg_dump sample is refused at its entry `{entry}`: {why}"
    ), output(done)
    assert "a check must not reach outside its throwaway database" in done.stderr
    assert len(done.stderr.splitlines()) == 1
