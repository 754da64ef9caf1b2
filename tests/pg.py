"""The PostgreSQL server the tests talk to, and a fresh database on it per test.

The server's URL comes from `MIGRATION_GUARD_TEST_PG` (default: the project machines' server,
`postgresql://postgres@127.0.0.1:5432/postgres`, trust auth). A test that needs it uses the
`pg_server_url` or `pg_database_url` fixture, or carries the `postgresql` marker. Without a
reachable server those tests skip and the run says once, in one line, how to run them; under
`CI=true` a missing server fails the run instead (CI machines have one: a silent skip there
would hide every PostgreSQL test).

A thin fixture of our own instead of pytest-postgresql's noproc mode: the tests need only a
URL and a database that is dropped afterwards (`DROP DATABASE ... WITH (FORCE)`, so a test
that left a connection open cannot leave the database behind), and the skip/fail rule above,
which pytest-postgresql does not have.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from functools import cache
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ENV = "MIGRATION_GUARD_TEST_PG"
FIXTURES = {"pg_server_url", "pg_database_url"}
TEST_PREFIX = "mgtest_"  # the tests' own databases (the product's throwaways are `mg_...`)


def server_url() -> str:
    return os.environ.get(ENV) or DEFAULT_URL


@cache
def unreachable() -> str | None:
    """Why the test server cannot be used (None: it can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(server_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"no PostgreSQL server at {server_url()} ({first})"
    return None


def database_url(name: str) -> str:
    """The server URL with its database replaced by `name`."""
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def needs_server(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & FIXTURES) or item.get_closest_marker("postgresql") is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: needs the PostgreSQL server of MIGRATION_GUARD_TEST_PG"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [item for item in items if needs_server(item)]
    if not wanted:
        return
    why = unreachable()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(
            f"CI=true and {len(wanted)} PostgreSQL tests cannot run: {why}. "
            f"Start a server or set {ENV}=postgresql://USER@HOST:PORT/DB"
        )
    skip = pytest.mark.skip(reason=f"PostgreSQL: {why}")
    for item in wanted:
        item.add_marker(skip)
    config.stash[_SKIPPED] = (len(wanted), why)


_SKIPPED = pytest.StashKey[tuple[int, str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    skipped = config.stash.get(_SKIPPED, None)
    if skipped is not None:
        count, why = skipped
        terminalreporter.write_line(
            f"{count} PostgreSQL tests skipped: {why}; to run them, start one or set "
            f"{ENV}=postgresql://USER@HOST:PORT/DB"
        )


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The server's URL (its maintenance database): for code that creates its own databases."""
    return server_url()


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A new, empty database for this test (dropped afterwards, open connections or not)."""
    import psycopg
    from psycopg import sql

    name = f"{TEST_PREFIX}{secrets.token_hex(6)}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
