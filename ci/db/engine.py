"""The database seam: what the checks (and, as it adopts it, the runner) ask of a database engine,
so that a second engine (PostgreSQL) can be added without touching a check.

`Engine` opens databases: the target (the user's database) or a throwaway one (a check's private
copy). `Database` is one open database: transactions and the write lock, a migration's statements
run through the engine's gatekeeper (`StatementGate`), read-only queries of the user's under the
same rules, fingerprints of schema and data, health (integrity, foreign keys), and the runner's
bookkeeping (which migrations ran). golang-migrate's `database/driver.go` is the model (Open,
Close, Lock/Unlock, Run, SetVersion/Version); docs/design.md, "The database seam", states each
method's contract.

Engines are found by the address of a database (`engine_for`): a URL's scheme names one, a plain
path is SQLite's. Each engine is one module, imported only when a database of its kind is opened.
The interfaces are `typing.Protocol`s: an engine implements them by shape, without importing this
module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path

    from ci.core.sqltext import Statement
    from ci.db.bookkeeping import AppliedRow, Entry
    from ci.db.fingerprint_records import Fingerprint
    from ci.db.postgres.engine import ENGINE as POSTGRESQL
    from ci.db.sqlite import ENGINE as SQLITE

    _SHAPED: Engine = SQLITE  # the type checker proves that SQLite's engine has the seam's shape
    _PG_SHAPED: Engine = POSTGRESQL  # and PostgreSQL's

# URL scheme -> the module whose ENGINE serves it. A database given as a plain path is SQLite's.
ENGINES = {
    "sqlite": "ci.db.sqlite",
    "postgresql": "ci.db.postgres.engine",
    "postgres": "ci.db.postgres.engine",
}
DEFAULT_SCHEME = "sqlite"


class StatementGate(Protocol):
    """The engine's gatekeeper for the statements of one migration file (or a sample fixture):
    it remembers what the file's statements did so far (savepoints, changed settings)."""

    def execute(
        self, statement: Statement, *, notice: Callable[[str], None] | None = None
    ) -> str | None:
        """Run one statement under the rules: None when it ran, or was ignored (the runner
        owns the transaction; `notice` is told why, when there is something to say), else why
        it was refused (it did not run). The engine's own error (`Database.error`) propagates
        when the statement fails."""
        ...

    def restore(self) -> None:
        """Set back the connection settings the file's statements changed."""
        ...


class Database(Protocol):
    """One open database of an engine."""

    @property
    def error(self) -> type[Exception]:
        """The base class of the errors the engine raises (its DB-API `Error`)."""
        ...

    def close(self) -> None: ...

    def begin(self) -> None:
        """Start a transaction of ours (nothing else in it starts or ends one)."""
        ...

    def lock(self) -> None:
        """Start a transaction that holds the database's write lock from its first statement
        until commit or rollback, so that two runners serialise here."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Undo the open transaction (an error when none is open)."""
        ...

    def gate(self, *, no_transaction: bool = False, rollback: bool = False) -> StatementGate:
        """The gatekeeper for one file's statements: `no_transaction` for a file whose
        statements each commit on their own, `rollback` for a rollback file."""
        ...

    def query(self, sql: str, limit: int) -> list[tuple[object, ...]]:
        """The first `limit` rows of a query of the user's (an invariant), run under the rules of
        a migration's statement; a statement they would not run raises `error` saying why."""
        ...

    def time_limited(
        self, seconds: float | None, path: Path | str, line: int | None
    ) -> AbstractContextManager[None]:
        """Statements run inside the block stop after `seconds` (None: no limit), raising the
        runner's Runaway that names `path:line`."""
        ...

    def fingerprint(self, *, content: bool = True) -> Fingerprint:
        """Schema, row counts, content hashes (if `content`) and header values."""
        ...

    def schema_fingerprint(self) -> Fingerprint:
        """The schema part only."""
        ...

    def integrity_problems(self, limit: int, *, verify_checks: bool = False) -> list[str]:
        """At most `limit` lines saying what is corrupt; [] for a sound database.
        `verify_checks`: evaluate every CHECK constraint too (SQLite skips them on a database
        opened read-only)."""
        ...

    def foreign_key_problems(self, limit: int) -> list[tuple[str, object, str]]:
        """At most `limit` rows that reference a missing parent: (table, row id, parent)."""
        ...

    def applied(self) -> list[AppliedRow]:
        """The runner's record of applied migrations (golang-migrate's Version)."""
        ...

    def record(self, entry: Entry, *, ms: int, rows: int) -> None:
        """Record a migration as applied, inside its transaction (SetVersion)."""
        ...

    def unrecord(self, track: str, version: int) -> None:
        """Remove a rolled-back migration's record, inside its transaction."""
        ...


class Engine(Protocol):
    """A database engine: how its databases are opened."""

    @property
    def name(self) -> str: ...

    def connect_target(
        self,
        db: Path | str,
        *,
        setup: str | None = None,
        timeout: float = 30.0,
        readonly: bool = False,
    ) -> Database:
        """The user's database, which the engine must never lose or half-change: durable
        commits, the stricter check rules off. `timeout`: seconds to wait for another
        process's lock. `setup`: a MODULE:FUNCTION given the connection first."""
        ...

    def connect_throwaway(self, path: Path, *, setup: str | None = None) -> Database:
        """A check's private database at `path`, thrown away afterwards: speed over durability,
        and the stricter rules of a check (nothing written outside its directory)."""
        ...

    def clone(self, source: Path, path: Path, *, timeout: float) -> None:
        """Copy the database at `source` (a user's sample) to the throwaway `path`, never
        writing to `source` or beside it."""
        ...


def engine_for(db: Path | str) -> Engine:
    """The engine of a database address: `scheme://...` names one, a plain path is SQLite's."""
    text = str(db)
    scheme = text.partition("://")[0].lower() if "://" in text else DEFAULT_SCHEME
    module = ENGINES.get(scheme)
    if module is None:
        from ci.core.errors import UsageError

        known = ", ".join(sorted(ENGINES))
        raise UsageError(f"{db}: no database engine for '{scheme}://' (known: {known})")
    engine: Engine = importlib.import_module(module).ENGINE
    return engine


def database_of(handle: Database | sqlite3.Connection) -> Database:
    """The Database behind what a caller holds: a Database as it is; a sqlite3 connection (what
    the runner and the faces pass today) seen through the SQLite engine."""
    import sqlite3  # loaded already wherever a connection exists

    if not isinstance(handle, sqlite3.Connection):
        return handle
    from ci.db.sqlite import SqliteDatabase

    return SqliteDatabase(handle)
