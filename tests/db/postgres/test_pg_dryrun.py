"""`ci.migrate --database-url ... --dry-run`: its verdict is the real run's, grouped or not.

A property test over generated migrations on the real server: each scenario is set up three
times (a schema each, at 0001), and the dry run on one, the real run on another and the
grouped run on the third must fail on the same file and line with the same
message, or all succeed; the dry run leaves its database as it was. The statements mix what
fails at once, what fails only when its migration ends (a deferred foreign key), what a later
statement of the same migration repairs, and a temp table that would shadow a real table in the
next migration if the session were not put back between them, and an enum label added and
used (only a later transaction may use it: the dry run stops rehearsing after the migration
that adds it, and a failure it did not rehearse must be in a migration it named not
rehearsed).
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from ci.migrate import main
from tests.db.postgres.pgrun import rows, write
from tests.db.test_dry_run import verdict

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]

BASE = (
    "CREATE TABLE p (id int PRIMARY KEY, u text UNIQUE);\n"
    "CREATE TABLE c (id int GENERATED ALWAYS AS IDENTITY, pid int REFERENCES p (id));\n"
    "CREATE TABLE d (pid int REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);\n"
    "INSERT INTO p (id, u) VALUES (1, 'a'), (2, 'b');\n"
    "INSERT INTO c (pid) VALUES (1), (1), (2);\n"
    "CREATE TYPE mood AS ENUM ('sad');\n"
    "CREATE TABLE e (m mood);\n"
)
STATEMENTS = [
    "CREATE INDEX IF NOT EXISTS c_pid ON c (pid);",
    "INSERT INTO c (pid) VALUES (999);",  # no such parent: refused at once
    "INSERT INTO d (pid) VALUES (999);",  # no such parent: refused when the migration ends
    "INSERT INTO p (id, u) VALUES (999, 'x') ON CONFLICT DO NOTHING;",  # repairs the one above
    "INSERT INTO p (id, u) VALUES (3, 'a');",  # UNIQUE violation on an existing row
    "DELETE FROM p WHERE id = 1;",  # c's rows refer to it
    "DELETE FROM c WHERE pid = 1;",
    "UPDATE c SET pid = 2;",
    "CREATE TABLE IF NOT EXISTS extra (x int);",
    "DROP TABLE IF EXISTS extra;",
    "INSERT INTO nowhere VALUES (1);",
    "CREATE TEMP TABLE c (other text);",  # would shadow c in the next migration
    "SET CONSTRAINTS ALL IMMEDIATE;",
    "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';",  # ends the group and the rehearsal
    "INSERT INTO e VALUES ('happy');",  # 55P04 in the transaction that added the label
]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, ...]:
    count = draw(st.integers(min_value=1, max_value=4))
    bodies = st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=4)
    return tuple("".join(s + "\n" for s in draw(bodies)) for _ in range(count))


def in_schema(url: str, schema: str) -> str:
    """The URL of a session whose search_path is `schema` alone: the runner's tables and the
    migrations' objects live there (one database, a schema per run: CREATE DATABASE per
    example took seconds each)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{url}?options=-csearch_path%3D{schema}"


def dump(url: str, schema: str) -> str:
    done = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--schema", schema, "--dbname", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return "".join(line for line in done.stdout.splitlines(True) if not line.startswith("\\"))


def run(url: str, migrations: Path, *args: str) -> tuple[int, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--database-url", url, "--migrations-dir", str(migrations), *args])
    return code, out.getvalue() + err.getvalue()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
# a temp table the next migration must not see; a deferred key repaired later in its migration
@example(scenario=("CREATE TEMP TABLE c (other text);\n", "UPDATE c SET pid = 2;\n"))
@example(scenario=("DROP TABLE IF EXISTS extra;\n", f"{STATEMENTS[2]}\n{STATEMENTS[3]}\n"))
# a label added, then used: by a later migration (fine), in its own (55P04)
@example(scenario=(f"{STATEMENTS[13]}\n", f"{STATEMENTS[14]}\n", f"{STATEMENTS[10]}\n"))
@example(scenario=(f"{STATEMENTS[13]}\n{STATEMENTS[14]}\n",))
def test_the_dry_run_fails_if_and_only_if_the_real_run_fails(
    pg_database_url: str, scenario: tuple[str, ...]
) -> None:
    run_id = secrets.token_hex(4)
    dry, real, grouped = (f"{how}_{run_id}" for how in ("dry", "real", "grouped"))
    with tempfile.TemporaryDirectory() as tmp:
        files = {"schema/0001_base.sql": BASE}
        files.update({f"data/{n:04d}_step.sql": body for n, body in enumerate(scenario, 2)})
        migrations = write(Path(tmp), files)
        urls = {name: in_schema(pg_database_url, name) for name in (dry, real, grouped)}
        for url in urls.values():
            assert run(url, migrations, "--target", "1")[0] == 0
        before = dump(pg_database_url, dry)
        log = sql.SQL("SELECT * FROM {}.schema_version_log ORDER BY id").format(sql.Identifier(dry))
        logged = rows(pg_database_url, log.as_string())
        code, out = run(urls[dry], migrations, "--dry-run")
        said = verdict(code, out)
        assert dump(pg_database_url, dry) == before
        assert rows(pg_database_url, log.as_string()) == logged
        done = verdict(*run(urls[real], migrations))
        assert done == verdict(*run(urls[grouped], migrations, "--group"))
        unrehearsed = tuple(line.split()[4].rstrip(":") for line in out.splitlines()
                            if line.startswith("not rehearsed "))  # fmt: skip
        if said == (0, None) and done[1] is not None and unrehearsed:
            assert done[1].startswith(unrehearsed)
        else:
            assert said == done
