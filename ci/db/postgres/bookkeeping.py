"""The runner's own tables on PostgreSQL, `schema_version` and `schema_version_log`: the same
columns as on SQLite (ci.db.tables) in PostgreSQL types, the same identity (a unique index on
`(migration_type = 'seed', version)`), the same checksum; reading them, and writing one row at a
time inside the caller's transaction (these functions never BEGIN or COMMIT).

The tables live in the schema the connection creates objects in (`current_schema()`), and every
statement names them with that schema: a temporary table of the same name, which an
unqualified name would find first, can never receive or hide the runner's rows. Every read
says ONLY, so the rows of a table that inherits from them (refused in a migration, possible by
hand) never count as the runner's.
A migration must leave them alone; what the gatekeeper cannot see (dynamic SQL) the runner
catches afterwards: `snapshot` before the migration's SQL, `refuse_changes` after it and before
the runner writes its own row.
`applied_at` and the log's times are text, ISO 8601 UTC as on SQLite, so both engines record and
show the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ci.core.model import InputError
from ci.db.bookkeeping import now_utc, owner
from ci.db.postgres.connect import Cursor
from ci.db.postgres.tables_snapshot import (
    IMMEDIATE,
    ROW_AGES,
    SNAPSHOT,
    Snapshot,
    SnapshotQuery,
    read_snapshot,
    refuse_changed,
)
from ci.db.records import AppliedRow, DirtyMark, Entry
from ci.db.tables import APPLIED_BY, COLUMNS, IDENTITY_INDEX, LOG_COLUMNS, LOG_TABLE, TABLE
from ci.db.values import as_row, checked_row, has_odd_values

Conn = psycopg.Connection[Any]

CREATE_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    version bigint NOT NULL,
    migration_type text NOT NULL DEFAULT 'schema',
    description text NOT NULL DEFAULT '',
    file_hash text,
    applied_at text,
    execution_time_ms bigint,
    rows_affected bigint,
    applied_by text,
    code_hash text
)"""
CREATE_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} ((migration_type = 'seed'), version)"
)
CREATE_LOG = """CREATE TABLE IF NOT EXISTS {log} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at text NOT NULL,
    action text NOT NULL,
    version bigint,
    migration_type text,
    description text,
    file_hash text,
    execution_time_ms bigint,
    rows_affected bigint,
    error text,
    cleared_at text,
    applied_by text
)"""
IS_SEED = "(migration_type = 'seed') = %s AND version = %s"


class Tables:
    """The runner's tables on one connection, named with the schema they live in."""

    def __init__(self, conn: Conn) -> None:
        row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise InputError(
                "no schema to keep the runner's tables in (search_path names none that exists)"
            )
        self.schema = str(row[0])
        self.table = sql.Identifier(self.schema, TABLE)
        self.log = sql.Identifier(self.schema, LOG_TABLE)

    def columns(self, conn: Conn, name: str) -> list[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, name),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def state(self, conn: Conn) -> str:
        """'missing' (one or both tables to create), 'current', or 'foreign': a table of that
        name that is not ours (never touched: the caller stops with one line)."""
        have, log = self.columns(conn, TABLE), self.columns(conn, LOG_TABLE)
        if (have and not set(COLUMNS) <= set(have)) or (log and not set(LOG_COLUMNS) <= set(log)):
            return "foreign"
        return "current" if have and log else "missing"

    def foreign(self, conn: Conn) -> str:
        """Why the tables cannot be used, naming the one that is not the runner's."""
        for name, wanted in ((TABLE, COLUMNS), (LOG_TABLE, LOG_COLUMNS)):
            have = self.columns(conn, name)
            if have and not set(wanted) <= set(have):
                return (
                    f"table {self.schema}.{name} ({', '.join(have)}) exists but is not "
                    f"migration-guard's; rename or drop it, then run again"
                )
        return "the runner's tables changed while it read them; run again"

    def create(self, conn: Conn) -> None:
        """Create what is missing, inside the caller's transaction."""
        conn.execute(sql.SQL(CREATE_TABLE).format(table=self.table))
        index = sql.Identifier(IDENTITY_INDEX)
        conn.execute(sql.SQL(CREATE_INDEX).format(index=index, table=self.table))
        conn.execute(sql.SQL(CREATE_LOG).format(log=self.log))

    # --- schema_version ---------------------------------------------------------------------

    def read_applied(self, conn: Conn) -> list[AppliedRow]:
        """Every applied row, main track then seeds, by version ([] before the first run)."""
        if not self.columns(conn, TABLE):
            return []
        query = sql.SQL("SELECT {} FROM ONLY {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS), self.table
        )
        values = conn.execute(query).fetchall()
        if has_odd_values(values):  # by hand or another tool: one line naming row and column
            rows = [checked_row(row) for row in values]
        else:
            rows = [as_row(row, row[0]) for row in values]
        rows.sort(key=lambda row: (row.track == "seed", row.version))
        return rows

    def is_applied(self, conn: Conn, track: str, version: int) -> bool:
        return found(self.ask_applied(conn.cursor(), track, version))

    def ask_applied(self, cursor: Cursor, track: str, version: int) -> Cursor:
        """Whether the migration has its row, asked on `cursor`; `found(cursor)` reads the
        answer (in a pipeline, once synced). Every `ask_` method sends on a cursor the caller
        made beforehand: in a pipeline, sending may raise an earlier statement's error, and the
        caller still knows which statements were answered."""
        query = sql.SQL("SELECT 1 FROM ONLY {} WHERE " + IS_SEED).format(self.table)
        return cursor.execute(query, (track == "seed", version))

    def record(
        self,
        conn: Conn,
        entry: Entry,
        *,
        ms: int | None,
        rows: int | None,
        at: str,
        by: str = APPLIED_BY,
    ) -> None:
        """Write the migration's row and read it back (a trigger must not drop or change it).
        No time and no rows (None): a baseline's, which did not run here (`by` says so)."""
        asked = self.ask_record(conn.cursor(), entry, ms=ms, rows=rows, at=at, by=by)
        self.check_recorded(asked)

    def ask_record(
        self,
        cursor: Cursor,
        entry: Entry,
        *,
        ms: int | None,
        rows: int | None,
        at: str,
        by: str = APPLIED_BY,
    ) -> Cursor:
        """`record`'s two statements, sent (the read-back on `cursor`); `check_recorded` reads
        the answer."""
        insert, read_back = record_queries(self.table, entry, ms=ms, rows=rows, at=at, by=by)
        cursor.connection.execute(*insert)
        return cursor.execute(*read_back)

    def check_recorded(self, read_back: Cursor) -> None:
        _check_written(found(read_back), TABLE)

    def unrecord(self, conn: Conn, track: str, version: int) -> None:
        """Remove the migration's row and check that it is gone."""
        conn.execute(sql.SQL("DELETE FROM ONLY {} WHERE " + IS_SEED).format(self.table),
                     (track == "seed", version))  # fmt: skip
        _check_written(not self.is_applied(conn, track, version), TABLE)

    def rewrite_hash(self, conn: Conn, entry: Entry) -> None:
        """Set the row's recorded checksum to `entry.file_hash` (`--rehash`) and check that it
        now says so (a trigger or rule must not ignore or change it)."""
        query = sql.SQL(
            "UPDATE ONLY {} SET file_hash = %s WHERE " + IS_SEED + " RETURNING file_hash"
        ).format(self.table)
        written = conn.execute(query, (entry.file_hash, entry.track == "seed", entry.version))
        _check_written(written.fetchall() == [(entry.file_hash,)], TABLE)

    def applied_seeds(self, conn: Conn) -> list[Entry]:
        query = sql.SQL(
            "SELECT version, description, file_hash FROM ONLY {} "
            "WHERE migration_type = 'seed' ORDER BY version"
        ).format(self.table)
        return [Entry(int(v), "seed", str(d or ""), h) for v, d, h in conn.execute(query)]

    # --- schema_version_log -----------------------------------------------------------------

    def log_attempt(
        self,
        conn: Conn,
        action: str,
        entry: Entry | None,
        *,
        ms: int | None = None,
        rows: int | None = None,
        error: str | None = None,
        at: str | None = None,
    ) -> int:
        """Append one attempt to schema_version_log; returns its id."""
        asked = self.ask_log(conn.cursor(), action, entry, ms=ms, rows=rows, error=error, at=at)
        return logged_id(asked)

    def ask_log(
        self,
        cursor: Cursor,
        action: str,
        entry: Entry | None,
        *,
        ms: int | None = None,
        rows: int | None = None,
        error: str | None = None,
        at: str | None = None,
    ) -> Cursor:
        """`log_attempt`'s statement, sent; `logged_id` reads its id."""
        query = sql.SQL(
            "INSERT INTO {} (logged_at, action, version, migration_type, description, "
            "file_hash, execution_time_ms, rows_affected, error, applied_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(self.log)
        values = (
            at or now_utc(), action,
            entry.version if entry else None, entry.migration_type if entry else None,
            entry.description if entry else None, entry.file_hash if entry else None,
            ms, rows, error, APPLIED_BY,
        )  # fmt: skip
        return cursor.execute(query, values)

    def open_marks(self, conn: Conn) -> list[DirtyMark]:
        """Dirty marks not yet cleared, oldest first ([] before the first run)."""
        if not self.columns(conn, LOG_TABLE):
            return []
        query = sql.SQL(
            "SELECT id, logged_at, version, migration_type, description, file_hash, "
            "COALESCE(rows_affected, 0), error, applied_by FROM ONLY {} "
            "WHERE action = 'dirty' AND cleared_at IS NULL ORDER BY id"
        ).format(self.log)
        return [LockedMark(*row) for row in conn.execute(query).fetchall()]

    def open_mark(self, conn: Conn, entry: Entry) -> int:
        """A new dirty mark held by this process; its id."""
        mark_id = self.log_attempt(conn, "dirty", entry, rows=0)
        self.set_mark(conn, mark_id, "applied_by = %s", owner())
        return mark_id

    def set_mark(self, conn: Conn, mark_id: int, assignment: str, value: object) -> None:
        """One column of a mark: 'applied_by = %s' (holder), 'error = %s', 'cleared_at = %s'."""
        check_mark_set(self.ask_set_mark(conn.cursor(), mark_id, assignment, value))

    def ask_set_mark(self, cursor: Cursor, mark_id: int, assignment: str, value: object) -> Cursor:
        """`set_mark`'s statement, sent; `check_mark_set` reads the answer."""
        query = sql.SQL("UPDATE ONLY {} SET " + assignment + " WHERE id = %s").format(self.log)
        return cursor.execute(query, (value, mark_id))

    # --- the migration's hands off the runner's tables -----------------------------------------

    def snapshot(self, conn: Conn, *, in_transaction: bool | None = None) -> Snapshot:
        """What the runner's tables hold now, in a few short strings (see Snapshot). Inside
        the migration's transaction, before it runs: their counts (ROW_AGES); outside one (a
        @no-transaction migration, whose statements commit one by one): their rows (SNAPSHOT).
        `in_transaction`: which of the two (None: by the connection's state)."""
        if in_transaction is None:
            status = conn.info.transaction_status
            in_transaction = status == psycopg.pq.TransactionStatus.INTRANS
        return read_snapshot(self.ask_snapshot(conn.cursor(), in_transaction=in_transaction))

    def ask_snapshot(self, cursor: Cursor, *, in_transaction: bool) -> SnapshotQuery:
        """`snapshot`'s query, sent; `read_snapshot` reads the answer."""
        table_name = self.table.as_string(cursor.connection)
        log_name = self.log.as_string(cursor.connection)
        text = ROW_AGES if in_transaction else SNAPSHOT
        query = sql.SQL(text).format(table=self.table, log=self.log)
        cursor.execute(query, (table_name, log_name, table_name, log_name))
        return SnapshotQuery(cursor, in_transaction)

    def refuse_changes(self, conn: Conn, before: Snapshot, path: Path | str) -> None:
        """MigrationFailed naming the file when its SQL changed the runner's tables since
        `before` (the runner has not written in between): dynamic SQL (EXECUTE of a string
        built at run time, in a DO block, a function or a trigger) that the gatekeeper cannot
        read. Deferred triggers fire first, so none can change them at COMMIT."""
        conn.execute(IMMEDIATE)
        try:
            after: Snapshot | None = self.snapshot(conn, in_transaction=before.in_transaction)
        except psycopg.errors.UndefinedTable:  # dropped by dynamic SQL
            after = None
        refuse_changed(before, after, path)


class LockedMark(DirtyMark):
    """A dirty mark read by a runner that holds the database's advisory lock. Every runner
    takes that lock for its whole run (the server frees it when the session ends, a killed
    process's included), so the mark's holder has provably stopped, on whatever host it ran."""

    __slots__ = ()

    def holder(self) -> tuple[str, str]:
        from ci.db.holders import GONE

        return GONE, "its runner no longer holds the database's migration lock"


def found(cursor: Cursor) -> bool:
    """Whether the query sent on `cursor` returned a row."""
    return cursor.fetchone() is not None


def logged_id(cursor: Cursor) -> int:
    """The id of the log row `Tables.ask_log` wrote (NotWritten when a trigger ignored it)."""
    row = cursor.fetchone()
    _check_written(row is not None, LOG_TABLE)
    assert row is not None
    return int(row[0])


def check_mark_set(cursor: Cursor) -> None:
    _check_written(cursor.rowcount == 1, LOG_TABLE)


class NotWritten(InputError):
    """One of the runner's rows was not written as asked (a trigger ignored or changed it)."""


Query = tuple[sql.Composed, tuple[Any, ...]]


def record_queries(
    table: sql.Identifier | sql.Composed,
    entry: Entry,
    *,
    ms: int | None,
    rows: int | None,
    at: str,
    by: str = APPLIED_BY,
) -> tuple[Query, Query]:
    """Tables.ask_record's INSERT of the migration's row and its read-back, with parameters."""
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        table,
        sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
        sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
    )
    values = (entry.version, entry.migration_type, entry.description, entry.file_hash,
              at, ms, rows, by, entry.code_hash)  # fmt: skip
    read_back = sql.SQL(
        "SELECT 1 FROM ONLY {} WHERE " + IS_SEED + " AND migration_type = %s "
        "AND file_hash IS NOT DISTINCT FROM %s AND code_hash IS NOT DISTINCT FROM %s"
    ).format(table)
    asked = (entry.track == "seed", entry.version, entry.migration_type, entry.file_hash,
             entry.code_hash)  # fmt: skip
    return (insert, values), (read_back, asked)


def check_written(ok: bool, table: str) -> None:
    """NotWritten unless the runner's row reads back as written (`ok`)."""
    _check_written(ok, table)


def _check_written(ok: bool, table: str) -> None:
    if not ok:
        raise NotWritten(
            f"the runner's {table} row was not written: a trigger or rule on {table} ignores "
            "or changes it; remove it"
        )
