"""The databases behind the pytest fixtures `migrated_db` and `migration_runner`.

Every database is made by the real runner (`ci.db.runner.Runner`, what `python -m ci.migrate`
applies with: one transaction per migration with its `schema_version` row, the statement
gatekeeper, seeds only in a run that ends at the head), never by `executescript`. A database at
a version (and sample) is built once per session as a template and copied per test with SQLite's
backup API, so a test may change its copy freely.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ci.app import config
from ci.checks.pg_engine import splitter_for
from ci.checks.sample import Sample, load_fixture, open_sample
from ci.core.errors import UsageError
from ci.core.model import DEFAULT_MIGRATIONS_DIR, Catalog, InputError, discover
from ci.db.outcomes import MigrationFailed, RunRefused
from ci.db.runner import Runner, connect
from ci.db.sqlite import ENGINE as SQLITE


class MigrationError(Exception):
    """A migration (or rollback, or the sample) could not be applied: one line naming the file
    and line, as `python -m ci.migrate` says it."""


class Project:
    """Where the migrations are: `migrations_dir:` of the config file (read from the rootdir,
    as `python -m ci` reads it from the project root), its connection `setup:`, its `engine:`
    and, for PostgreSQL, the checks' `server_url:` (ci.app.pytest_pg)."""

    def __init__(self, root: Path, config_file: Path | None) -> None:
        values: dict[str, object] = {}
        if config_file is not None:
            try:
                values = {**config.load(config_file)}
            except config.ConfigError as error:
                raise MigrationError(str(error)) from None
            section = values.get("migrate")
            values.update(section if isinstance(section, dict) else {})
        self.migrations_dir = root / str(values.get("migrations_dir") or DEFAULT_MIGRATIONS_DIR)
        setup = values.get("setup")
        self.setup = str(setup) if setup else None
        self.engine = str(values.get("engine") or SQLITE.name)
        server_url = values.get("server_url")
        self.server_url = str(server_url) if server_url else None
        self.config_file = config_file
        self.root = root

    def catalog(self) -> Catalog:
        try:
            return discover(self.migrations_dir, splitter=splitter_for(self.engine))
        except InputError as error:
            raise MigrationError(str(error)) from None

    def sample(self, sample: Path | str) -> Path:
        """A sample path as the test gave it: relative to the rootdir."""
        return self.root / sample


class MigrationRunner:
    """A throwaway database at `db` that a test steps up and down with the real runner.

    `up_to(N)` applies the pending main-track migrations up to N (None: the head, then the
    seeds); `down_to(N)` rolls back every applied migration above N with its rollback file.
    Commit (or close) your own connection before a step: the runner takes the write lock."""

    def __init__(self, project: Project, db: Path) -> None:
        self.project = project
        self.db = db
        self.catalog = project.catalog()
        self._connections: list[sqlite3.Connection] = []

    def up_to(self, version: int | None = None) -> int:
        """Apply up to `version` (None: everything, seeds too); returns the version reached."""
        return self._step(lambda runner: runner.migrate(version))

    def down_to(self, version: int) -> int:
        """Roll back every applied main-track migration above `version`; returns the version."""
        return self._step(lambda runner: _rolled_back(runner, version))

    @property
    def version(self) -> int:
        """The highest applied main-track migration (0: none)."""
        return self._step(lambda runner: None)

    def connect(self) -> sqlite3.Connection:
        """A plain sqlite3 connection to the database, closed after the test."""
        conn = sqlite3.connect(self.db)
        self._connections.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._connections:
            conn.close()

    def _step(self, work: Callable[[Runner], object]) -> int:
        conn = _opened(self.db, self.project.setup)
        try:
            runner = Runner(conn, self.catalog, out=io.StringIO())
            _run(lambda: work(runner))
            return _run(runner.current_version)
        finally:
            conn.close()


def _rolled_back(runner: Runner, version: int) -> None:
    if runner.current_version() > version:
        runner.rollback_to(version + 1)


def _opened(db: Path, setup: str | None) -> sqlite3.Connection:
    try:
        return connect(db, setup=setup)
    except (InputError, UsageError) as error:
        raise MigrationError(str(error)) from None


def _run(work: Callable[[], object]) -> int:
    """`work()`, its failures as one MigrationError line."""
    try:
        result = work()
    except (MigrationFailed, RunRefused, InputError, UsageError) as error:
        raise MigrationError(str(error)) from None
    return int(result) if isinstance(result, int) else 0


class Templates:
    """The databases at each (version, sample) of a session, built once, copied per test."""

    def __init__(self, project: Project, folder: Path) -> None:
        self.project = project
        self.folder = folder
        self._built: dict[tuple[int | None, Path | None], Path] = {}

    def copy(self, version: int | None, sample: Path | str | None, to: Path) -> Path:
        """A fresh copy of the database at `version` (None: head and seeds) with `sample`."""
        key = (version, None if sample is None else self.project.sample(sample).resolve())
        if key not in self._built:
            template = self.folder / f"template-{len(self._built)}.db"
            build(self.project, template, version, key[1])
            self._built[key] = template
        backup(self._built[key], to)
        return to


def build(project: Project, db: Path, version: int | None, sample: Path | None) -> None:
    """The database at `version`: from empty, or from the sample (a `.db` file is copied; a
    `.sql` fixture is loaded at its `@sample-version`), then up to `version`."""
    runner = MigrationRunner(project, db)
    if sample is None:
        runner.up_to(version)
        return
    try:
        found = open_sample(sample)
    except UsageError as error:
        raise MigrationError(str(error)) from None
    if not found.is_fixture:
        SQLITE.clone(found.path, db, timeout=30.0)
        runner.up_to(version)
        return
    assert found.version is not None
    if version is not None and version < found.version:
        raise MigrationError(f"{sample}:1: the sample is at @sample-version {found.version}, "
                             f"above the version {version} asked for")  # fmt: skip
    runner.up_to(found.version)
    _load(project, db, runner.catalog, found)
    runner.up_to(version)


def _load(project: Project, db: Path, catalog: Catalog, sample: Sample) -> None:
    conn = _opened(db, project.setup)
    try:
        runner = Runner(conn, catalog, out=io.StringIO())
        case = load_fixture("migrated_db", runner, sample, None)
    finally:
        conn.close()
    if case.findings:
        f = case.findings[0]
        raise MigrationError(f"{f.path}:{f.line}: {f.message}")


def backup(source: Path, to: Path) -> None:
    """Copy a database with SQLite's backup API (never a half-written file copy)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
