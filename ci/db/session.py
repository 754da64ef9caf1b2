"""The runner's hold on one connection: transactions, the foreign_keys setting, notices, and the
translation of errors about the database file into one line.

A Session is what the parts of the runner share (ci.db.apply, ci.db.rollback, ci.db.batch,
ci.db.marks): the narrow object they work through, so that none of them needs the Runner.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from ci.core.model import SqlFile
from ci.core.sqltext import Statement
from ci.core.statcache import StatCache
from ci.db import bookkeeping
from ci.db.bookkeeping import Entry
from ci.db.changes import AppliedRows
from ci.db.connection import busy_timeout, database_name, explain, is_environmental
from ci.db.deadline import Clock
from ci.db.outcomes import CannotRun, MigrationFailed

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import TextIO

    from ci.db.gatekeeper import Gate


class _Guard:
    """Session.guard(): a plain context manager, not @contextmanager (entered once per
    migration).

    An error about the database file itself (locked, read-only, disk full, not a database)
    becomes CannotRun with one line; the transaction, if any, is rolled back first."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if not isinstance(error, sqlite3.Error) or not is_environmental(error):
            return  # no error, or not ours to translate: it propagates unchanged
        session = self.session
        session.rollback_quietly()
        raise CannotRun(explain(error, session.db_name(), session.busy_timeout())) from None


class _OwnRows:
    """Session.own_rows(): a plain context manager, not @contextmanager (entered once per
    migration)."""

    __slots__ = ("file",)

    def __init__(self, file: SqlFile) -> None:
        self.file = file

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is None:
            return
        if isinstance(error, bookkeeping.NotWritten):
            raise MigrationFailed(self.file.path, None, str(error)) from None
        if isinstance(error, sqlite3.Error) and not is_environmental(error):
            raise MigrationFailed(
                self.file.path, None, f"the runner could not write its own bookkeeping row: {error}"
            ) from None


class Session:
    """One connection as the runner drives it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        out: TextIO | None = None,
        throwaway: bool = False,
        statement_timeout: float | None = None,
    ) -> None:
        self.conn = conn
        self.out = out if out is not None else sys.stderr
        # a check's private database (connect(durable=False)), thrown away afterwards: the
        # successful apply/rollback rows of schema_version_log are skipped there (the log exists
        # to monitor production databases; dirty marks and failures are still written)
        self.throwaway = throwaway
        self._gate: Gate | None = None  # see `gate`
        # --statement-timeout: each migration's deadline (ci.db.deadline)
        self.clock = Clock(conn, statement_timeout)
        # PRAGMA foreign_keys as last read or set here: the runner owns the setting while it
        # runs (a migration's own PRAGMA foreign_keys is ignored, see ci.db.statements), and
        # reading it again before every migration re-prepares the pragma after each schema change
        self.foreign_keys_on: bool | None = None
        # the statement an error about the database file (locked, disk full) stopped at
        self.stopped_at: Statement | None = None
        # on a throwaway database (nobody else writes to it): no seed is recorded since the last
        # reset, so a rollback step need not look for seeds (one query less per round trip step)
        self.no_seeds_recorded = False
        # the applied rows, read again only when the database may have changed (ci.db.changes)
        self.applied_rows = AppliedRows()
        # ci.migrate's stat cache, which may vouch that an applied file is unchanged
        # (ci.core.statcache; set by ci.db.deploy.opened); None: every applied file is hashed
        self.hashes: StatCache | None = None

    # --- transactions ---------------------------------------------------------------------

    @property
    def gate(self) -> Gate:
        """Decides what a migration's transaction statements, pragmas, ... do: the connection's
        Gate, made (and ci.db.gatekeeper imported) when the first migration asks, so that a run
        with nothing pending loads none of the gate's modules."""
        if self._gate is None:
            from ci.db.gatekeeper import gate_of

            self._gate = gate_of(self.conn)
        return self._gate

    def begin(self) -> None:
        """BEGIN IMMEDIATE: take the write lock now, so two runners serialise here."""
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self, file: SqlFile) -> None:
        """COMMIT the migration's transaction; a deferred foreign key that is still violated
        fails it here (SQLite keeps the transaction open, so the caller rolls it back)."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.IntegrityError as error:
            self.foreign_key_check(file)  # names the rows when it can
            raise MigrationFailed(file.path, None, f"cannot commit: {error}") from None

    def rollback_quietly(self) -> None:
        if self.conn.in_transaction:
            # the transaction may already be gone (SQLite rolls back itself on some errors)
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def check_writable(self) -> None:
        """Fail now (CannotRun) if the database cannot be written: before a backup is taken."""
        with self.guard():
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            self.begin()
            try:
                # a write that changes nothing
                self.conn.execute(f"PRAGMA user_version = {version}")
            finally:
                self.rollback_quietly()

    def guard(self) -> _Guard:
        """Turn errors about the database file (locked, read-only, ...) into CannotRun."""
        return _Guard(self)

    # --- the runner's own rows ------------------------------------------------------------

    def own_rows(self, file: SqlFile) -> _OwnRows:
        """The runner's own writes for a migration: a row SQLite refused, or one a trigger
        ignored or changed (NotWritten), fails the migration; the caller rolls it back.
        Anything else (an error about the database file) propagates unchanged."""
        return _OwnRows(file)

    def log_failure(
        self, entry: Entry, failure: MigrationFailed, *, action: str = "failed"
    ) -> None:
        """Append the failure to the log in its own transaction (best effort)."""
        try:
            self.begin()
            bookkeeping.log(self.conn, action, entry, error=str(failure))
            self.conn.execute("COMMIT")
        except (sqlite3.Error, bookkeeping.NotWritten):
            self.rollback_quietly()

    # --- foreign keys ---------------------------------------------------------------------

    def foreign_key_check(self, file: SqlFile) -> None:
        """PRAGMA foreign_key_check before commit: a violation fails the migration.

        Needed only when the migration ran with foreign keys OFF (a leading PRAGMA, or a
        connection set up that way): with enforcement ON, SQLite has already refused every
        statement that broke an immediate constraint, and COMMIT refuses deferred ones.
        """
        violations = self.conn.execute("PRAGMA foreign_key_check").fetchmany(6)
        if not violations:
            return
        shown = "; ".join(
            f"{table} rowid {rowid} references {parent} (no such row)"
            for table, rowid, parent, _fk in violations[:5]
        )
        more = " and more" if len(violations) > 5 else ""
        raise MigrationFailed(
            file.path, None, f"foreign key violation after the migration: {shown}{more}"
        )

    @contextmanager
    def foreign_keys(self, setting: bool | None) -> Iterator[bool]:
        """Honour a leading PRAGMA foreign_keys=OFF/ON outside the transaction, then restore.

        Yields whether foreign keys are enforced while the migration runs."""
        before = self.foreign_keys_enforced()
        if setting is None or setting == before:
            yield before
            return
        self._set_foreign_keys(setting)
        try:
            yield setting
        finally:
            self.rollback_quietly()
            self._set_foreign_keys(before)

    def foreign_keys_enforced(self) -> bool:
        if self.foreign_keys_on is None:
            self.foreign_keys_on = bool(self.conn.execute("PRAGMA foreign_keys").fetchone()[0])
        return self.foreign_keys_on

    def _set_foreign_keys(self, on: bool) -> None:
        self.foreign_keys_on = None  # read back: SQLite ignores the pragma inside a transaction
        self.conn.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")

    # --- saying things --------------------------------------------------------------------

    def notice(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def db_name(self) -> str:
        return database_name(self.conn)

    def busy_timeout(self) -> float | None:
        return busy_timeout(self.conn)
