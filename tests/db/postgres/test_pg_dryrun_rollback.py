"""`ci.migrate --database-url ... --dry-run --rollback N`: its verdict is the real rollback's.

A property test on the real server, as test_pg_dryrun's for the apply: each scenario (up to
four migrations after 0001, each with a rollback drawn from the same statements: what fails at
once, what fails only at COMMIT (a deferred foreign key), what a later statement repairs, a
temp table that would shadow a real table in the next step if the session were not put back,
an enum label added and used) is applied to the head twice (a schema each), then rolled back to
0002 for real on one and rehearsed on the other: the same file, line and message, or both
succeed; the rehearsal leaves its database, the runner's tables and the log as they were.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.db.postgres.pgrun import rows, write
from tests.db.postgres.test_pg_dryrun import BASE, STATEMENTS, dump, in_schema, run
from tests.db.test_dry_run import verdict

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]

ADD_LABEL, USE_LABEL = STATEMENTS[13], STATEMENTS[14]


@st.composite
def rollbacks(draw: st.DrawFn) -> tuple[str, ...]:
    count = draw(st.integers(min_value=1, max_value=4))
    bodies = st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=4)
    return tuple("".join(s + "\n" for s in draw(bodies)) for _ in range(count))


def project(root: Path, bodies: tuple[str, ...]) -> Path:
    """0001 the base tables; 0002.. each a migration that applies, with `bodies` as their
    rollbacks (the last body is the newest migration's, rolled back first)."""
    files = {"schema/0001_base.sql": BASE}
    for n, body in enumerate(bodies, 2):
        files[f"data/{n:04d}_step.sql"] = f"CREATE TABLE IF NOT EXISTS step_{n} (x int);\n"
        files[f"rollback/{n:04d}_rollback.sql"] = body
    return write(root, files)


def state(url: str, schema: str) -> tuple[str, list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The schema's dump, the runner's rows and its log."""

    def table(name: str) -> list[tuple[object, ...]]:
        query = sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
        return rows(url, query.as_string())

    return dump(url, schema), table("schema_version"), table("schema_version_log")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(bodies=rollbacks())
# a deferred key broken by one step (named at its commit), a temp table the next step must not see
@example(bodies=(f"{STATEMENTS[2]}\n", "CREATE TEMP TABLE c (other text);\n"))
@example(bodies=(f"{STATEMENTS[7]}\n", f"{STATEMENTS[2]}\n"))
@example(bodies=(f"{STATEMENTS[2]}\n{STATEMENTS[3]}\n",))
# a label added by the newest step's rollback, used by the next step's (fine for real: the
# rehearsal stops after the adder) or in the same rollback (55P04 both ways)
@example(bodies=(f"{USE_LABEL}\n", f"{ADD_LABEL}\n"))
@example(bodies=(f"{ADD_LABEL}\n{USE_LABEL}\n",))
def test_the_rollback_dry_run_fails_if_and_only_if_the_real_rollback_fails(
    pg_database_url: str, bodies: tuple[str, ...]
) -> None:
    run_id = secrets.token_hex(4)
    dry, real = f"dry_{run_id}", f"real_{run_id}"
    with tempfile.TemporaryDirectory() as tmp:
        migrations = project(Path(tmp), bodies)
        urls = {name: in_schema(pg_database_url, name) for name in (dry, real)}
        for url in urls.values():
            assert run(url, migrations)[0] == 0
        before = state(pg_database_url, dry)
        code, out = run(urls[dry], migrations, "--dry-run", "--rollback", "2")
        assert state(pg_database_url, dry) == before
        said = verdict(code, out)
        done = verdict(*run(urls[real], migrations, "--rollback", "2"))
        unrehearsed = tuple(line.split()[4].rstrip(":") for line in out.splitlines()
                            if line.startswith("not rehearsed "))  # fmt: skip
        if said == (0, None) and done[1] is not None and unrehearsed:
            assert done[1].startswith(unrehearsed)  # it failed where the rehearsal stopped
        else:
            assert said == done


def test_a_rehearsed_rollback_says_what_each_step_would_do(pg_database_url: str) -> None:
    """Newest first, each step's line, the verdict; nothing changed."""
    run_id = secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as tmp:
        migrations = project(Path(tmp), ("DROP TABLE step_2;\n", "DROP TABLE step_3;\n"))
        url = in_schema(pg_database_url, f"dry_{run_id}")
        assert run(url, migrations)[0] == 0
        code, out = run(url, migrations, "--dry-run", "--rollback", "2")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("would roll back")]
    assert [line.split()[3] for line in lines] == ["0003", "0002"]
    assert "dry run: plan to roll back 2 migration(s); nothing will be changed" in out
    assert rows(url, "SELECT count(*) FROM schema_version") == [(3,)]


def test_a_rehearsal_stops_after_a_rollback_that_adds_an_enum_label(pg_database_url: str) -> None:
    run_id = secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as tmp:
        migrations = project(Path(tmp), (f"{USE_LABEL}\n", f"{ADD_LABEL}\n"))
        url = in_schema(pg_database_url, f"dry_{run_id}")
        assert run(url, migrations)[0] == 0
        code, out = run(url, migrations, "--dry-run", "--rollback", "2")
    assert code == 0, out
    assert "would roll back 0003" in out
    assert "not rehearsed 0002 data   " in out
    assert "whose rollback adds an enum label" in out


def test_a_rollback_that_breaks_a_deferred_key_is_named_on_its_file(pg_database_url: str) -> None:
    """The real rollback's own COMMIT check, named as a migration's is (`at commit: ...`, exit
    1), where it was a server error (exit 2) without the file; the rehearsal says the same."""
    run_id = secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as tmp:
        migrations = project(Path(tmp), (f"{STATEMENTS[2]}\n",))  # d -> p, deferred
        rollback = migrations / "rollback" / "0002_rollback.sql"
        urls = [in_schema(pg_database_url, f"{how}_{run_id}") for how in ("dry", "real")]
        for url in urls:
            assert run(url, migrations)[0] == 0
        expected = (1, f"{rollback}: at commit: insert or update on table \"d\" violates "
                       "foreign key constraint \"d_pid_fkey\"")  # fmt: skip
        assert verdict(*run(urls[1], migrations, "--rollback", "2")) == expected
        assert verdict(*run(urls[0], migrations, "--dry-run", "--rollback", "2")) == expected
        assert rows(urls[1], "SELECT max(version) FROM schema_version") == [(2,)]
