"""The databases behind the pytest fixtures for a project whose config says `engine:
postgresql` (docs/pytest.md, "The fixtures on PostgreSQL"); ci.app.pytest_databases is SQLite's.

The server is the checks' own: the config's `server_url:`, else $MIGRATION_GUARD_SERVER_URL.
Every database is a throwaway of ci.db.postgres.throwaway: named `mg_<stamp>_<hex>`, owned
through its creator's advisory lock for as long as it lives, dropped when its test (or, for a
template, the session) ends, failed or not, and dropped by the next run after a kill -9.

Migrations are applied by the runner `python -m ci.migrate --database-url` applies with
(PgRunner: one transaction per migration with its `schema_version` row, the statement
gatekeeper, seeds only in a run that ends at the head, the database's migration lock per step).
A database at a (version, sample) is built once per session as a template, kept (its lock held)
until the session ends, and each call gets a copy: `CREATE DATABASE ... TEMPLATE` needs no
session connected to the template, so the build's connection is closed before the first copy.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from ci.app.pytest_databases import MigrationError, Project
from ci.checks.options import SERVER_URL_ENV, server_url_or_env
from ci.checks.pg_sample import pg_sample, restore_dump
from ci.checks.pg_validate import load_fixture
from ci.checks.sample import Sample
from ci.core.errors import UsageError
from ci.core.model import Catalog, InputError
from ci.db.outcomes import CannotRun, MigrationFailed, RunRefused
from ci.db.postgres.connect import label, one_line, open_target
from ci.db.postgres.runner import PgRunner
from ci.db.postgres.throwaway import clean_leftovers, throwaway

# How long a step waits for a lock before it fails with one line: on a test's private database
# only the test's own connections can hold one (a transaction left open across a step), and
# without a limit the step would wait for ever.
LOCK_TIMEOUT = 10.0


def server_of(project: Project) -> str:
    """The server's URL, once reached (kill -9 leftovers dropped); MigrationError, one line
    saying what to set, when none is configured or it cannot be reached."""
    where = project.config_file.name if project.config_file else "migration-guard.yaml"
    what = (
        f"set server_url: in {where} or ${SERVER_URL_ENV} to postgresql://USER@HOST:PORT/DB "
        "of a server where the tests may create and drop databases"
    )
    url = server_url_or_env(project.server_url)
    if url is None:
        raise MigrationError(
            f"engine: postgresql: migrated_db and migration_runner need a server: {what}"
        )
    try:
        clean_leftovers(url)
    except CannotRun as error:
        raise MigrationError(f"{error}; {what}") from None
    return url


@contextmanager
def fresh(server_url: str, template: str = "template0") -> Iterator[str]:
    """A throwaway database (a copy of `template`), its URL; dropped on leaving."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway(server_url, wait=False, template=template))
        except CannotRun as error:
            raise MigrationError(str(error)) from None
        yield url


@contextmanager
def opened(url: str, catalog: Catalog) -> Iterator[PgRunner]:
    """The runner on `url`, holding the database's migration lock as ci.migrate does."""
    conn = open_target(url)
    try:
        runner = PgRunner(conn, catalog, out=io.StringIO(), lock_timeout=LOCK_TIMEOUT)
        runner.lock(timeout=LOCK_TIMEOUT, where=label(url))
        yield runner
    finally:
        conn.close()


def step(url: str, catalog: Catalog, work: Callable[[PgRunner], object]) -> int:
    """`work` on a runner of `url`, its failures as one MigrationError line; the version."""
    try:
        with opened(url, catalog) as runner:
            work(runner)
            return runner.current_version()
    except (MigrationFailed, RunRefused, InputError, UsageError, CannotRun) as error:
        raise MigrationError(str(error)) from None
    except psycopg.Error as error:
        raise MigrationError(f"{label(url)}: PostgreSQL error: {one_line(error)}") from None


def rolled_back(runner: PgRunner, version: int) -> None:
    if runner.current_version() > version:
        runner.rollback_to(version + 1)


class PgMigrationRunner:
    """An empty database at `url` that a test steps up and down with the real runner; the
    SQLite MigrationRunner's methods (ci.app.pytest_databases), `url` for its `db`."""

    def __init__(self, url: str, catalog: Catalog) -> None:
        self.url = url
        self.catalog = catalog
        self._connections: list[psycopg.Connection[Any]] = []

    def up_to(self, version: int | None = None) -> int:
        """Apply up to `version` (None: everything, seeds too); returns the version reached."""
        return step(self.url, self.catalog, lambda runner: runner.migrate(version))

    def down_to(self, version: int) -> int:
        """Roll back every applied main-track migration above `version`; returns the version."""
        return step(self.url, self.catalog, lambda runner: rolled_back(runner, version))

    @property
    def version(self) -> int:
        """The highest applied main-track migration (0: none)."""
        return step(self.url, self.catalog, lambda runner: None)

    def connect(self) -> psycopg.Connection[Any]:
        """A psycopg connection in autocommit, closed after the test. Autocommit: a
        transaction the test left open would hold its locks across the next step."""
        conn = psycopg.connect(self.url, autocommit=True)
        self._connections.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._connections:
            conn.close()


class PgTemplates:
    """The databases at each (version, sample) of a session, built once, copied per call."""

    def __init__(self, project: Project, server_url: str) -> None:
        self.project = project
        self.server_url = server_url
        self._kept = ExitStack()  # the templates' throwaways, dropped at the session's end
        self._built: dict[tuple[int | None, Path | None], str] = {}

    def copy(self, version: int | None, sample: Path | str | None, made: ExitStack) -> str:
        """A fresh copy of the database at `version` (None: head and seeds) with `sample`,
        dropped when `made` closes; its URL."""
        key = (version, None if sample is None else self.project.sample(sample).resolve())
        if key not in self._built:
            self._built[key] = self._build(version, key[1])
        return made.enter_context(fresh(self.server_url, template=self._built[key]))

    def _build(self, version: int | None, sample: Path | None) -> str:
        catalog = self.project.catalog()
        with ExitStack() as attempt:  # a template that failed to build is dropped at once
            url = attempt.enter_context(fresh(self.server_url))
            build(url, catalog, version, sample)
            self._kept.enter_context(attempt.pop_all())
        return urlsplit(url).path.lstrip("/")

    def names(self) -> list[str]:
        """The templates' database names (built so far)."""
        return list(self._built.values())

    def close(self) -> None:
        self._kept.close()


def build(url: str, catalog: Catalog, version: int | None, sample: Path | None) -> None:
    """The database at `version`: from empty, or from the sample (a pg_dump archive is
    restored; a `.sql` fixture is loaded at its `@sample-version`), then up to `version`."""
    if sample is None:
        step(url, catalog, lambda runner: runner.migrate(version))
        return
    try:
        found = pg_sample(sample)
    except UsageError as error:
        raise MigrationError(str(error)) from None
    if found.dump:
        step(url, catalog, lambda runner: restore_dump(runner, found))
    else:
        assert found.version is not None  # pg_sample: a fixture or an archive
        if version is not None and version < found.version:
            raise MigrationError(f"{sample}:1: the sample is at @sample-version {found.version}, "
                                 f"above the version {version} asked for")  # fmt: skip
        step(url, catalog, lambda runner: runner.migrate(found.version))
        step(url, catalog, lambda runner: loaded(runner, found))
    step(url, catalog, lambda runner: runner.migrate(version))


def loaded(runner: PgRunner, sample: Sample) -> None:
    """The fixture's rows, as apply_sample loads them; its failure names the line."""
    case = load_fixture("migrated_db", runner, sample, None)
    if case.findings:
        f = case.findings[0]
        raise MigrationError(f"{f.path}:{f.line}: {f.message}")
