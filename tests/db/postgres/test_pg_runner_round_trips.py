"""What the PostgreSQL runner costs in round trips to the server per migration, besides the
migration's own statements: BEGIN with its checks, the checks and the row before COMMIT, COMMIT,
the session reset (docs/postgresql.md). Counted on the connection: a query outside a pipeline
is one round trip, a pipeline is one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from psycopg import Pipeline

from ci.core.model import discover
from ci.db.postgres.connect import CountingCursor, PgConnection
from ci.db.postgres.runner import PgRunner
from tests.db.postgres.pgrun import applied, write

PER_MIGRATION = 4  # round trips of the runner's own per migration


class RoundTrips(PgConnection):
    """The runner's connection, counting its round trips to the server."""

    round_trips = 0
    pipelined = False

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.pipelined:
            self.round_trips += 1
        return super().wait(gen, *args, **kwargs)

    @contextmanager
    def pipeline(self) -> Iterator[Pipeline]:
        self.pipelined = True
        try:
            with super().pipeline() as pipeline:
                yield pipeline
        finally:
            self.pipelined = False
            self.round_trips += 1


@pytest.mark.parametrize("throwaway", [False, True])
def test_a_migration_costs_four_round_trips_besides_its_statements(
    pg_database_url: str, tmp_path: Path, throwaway: bool
) -> None:
    files = {f"schema/{n:04d}_t{n}.sql": f"CREATE TABLE t{n} (x int);\n" for n in range(1, 12)}
    catalog = discover(write(tmp_path, files))
    with RoundTrips.connect(
        pg_database_url, autocommit=True, cursor_factory=CountingCursor
    ) as conn:
        runner = PgRunner(conn, catalog, throwaway=throwaway)
        if not throwaway:
            runner.lock(timeout=5, where="test")
        runner.migrate(target=1)  # the runner's tables made, read once
        before = conn.round_trips
        for migration in catalog.main[1:]:
            runner.apply(migration)
        spent = conn.round_trips - before
    assert spent == 10 * (PER_MIGRATION + 1), spent  # one statement each
    assert len(applied(pg_database_url)) == 11
