"""The PostgreSQL engine behind the database seam (ci.db.engine): `ENGINE` opens a database by
its URL, a `PgDatabase` is one open database.

What a check needs and the runner has (transactions, the write lock, statements through the
gatekeeper, the runner's records, health) is here; fingerprints are ci.db.postgres.fingerprint's.
A throwaway database lives on a server (ci.db.postgres.throwaway, by --server-url), not at a
path: the path-based members stop with one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
from psycopg import errors, sql

from ci.db.fingerprint_records import Fingerprint
from ci.db.outcomes import CannotRun, runaway
from ci.db.postgres.bookkeeping import Tables
from ci.db.postgres.connect import PgConnection, label, open_target
from ci.db.postgres.execute import LOCK_KEY, PgGate, is_statement_timeout
from ci.db.records import AppliedRow, Entry

# the foreign keys not validated (added NOT VALID): the server vouches for every other one
UNVALIDATED_KEYS = """
SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,
       array(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY i),
       array(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY i)
FROM pg_constraint c WHERE c.contype = 'f' AND NOT c.convalidated ORDER BY 1, 2
"""
INVALID = """
SELECT 'index ' || indexrelid::regclass::text || ' is invalid (a CREATE INDEX CONCURRENTLY '
       || 'that failed?): drop it and create it again'
FROM pg_index WHERE NOT indisvalid
UNION ALL
SELECT 'constraint ' || conname || ' on ' || conrelid::regclass::text || ' is NOT VALID: '
       || 'existing rows were never checked (ALTER TABLE ... VALIDATE CONSTRAINT)'
FROM pg_constraint WHERE NOT convalidated AND contype IN ('c', 'f')
"""


class PgDatabase:
    """One PostgreSQL connection (autocommit; transactions are ours) through the seam."""

    error = psycopg.Error

    def __init__(self, conn: PgConnection, where: str) -> None:
        self.conn = conn
        self.where = where  # the URL without its password, for messages
        self.tables = Tables(conn)

    def close(self) -> None:
        self.conn.close()

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def lock(self) -> None:
        """BEGIN and the runner's lock for this transaction: two runners take turns here."""
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def gate(self, *, no_transaction: bool = False, rollback: bool = False) -> PgGate:
        conn = self.conn
        return PgGate(
            conn,
            no_transaction=no_transaction,
            rollback=rollback,
            throwaway=conn.throwaway,
            dry_run=conn.dry_run,
        )

    def query(self, text: str, limit: int) -> list[tuple[object, ...]]:
        """A user's query (an invariant) in a READ ONLY transaction: it cannot change a row."""
        idle = self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if idle:
            self.conn.execute("BEGIN READ ONLY")
        try:
            return [tuple(row) for row in self.conn.execute(text).fetchmany(limit)]
        finally:
            if idle:
                self.conn.execute("ROLLBACK")

    def time_limited(
        self, seconds: float | None, path: Path | str, line: int | None
    ) -> AbstractContextManager[None]:
        return _time_limited(self.conn, seconds, path, line)

    def fingerprint(self, *, content: bool = True) -> Fingerprint:
        from ci.db.postgres.fingerprint import fingerprint

        return fingerprint(self.conn, content=content)

    def schema_fingerprint(self) -> Fingerprint:
        from ci.db.postgres.fingerprint import schema_fingerprint

        return schema_fingerprint(self.conn)

    def integrity_problems(self, limit: int, *, verify_checks: bool = False) -> list[str]:
        """Invalid indexes and constraints never validated (the server keeps the rest)."""
        return [str(row[0]) for row in self.conn.execute(INVALID).fetchmany(limit)]

    def foreign_key_problems(self, limit: int) -> list[tuple[str, object, str]]:
        """Rows of NOT VALID foreign keys whose parent is missing: (table, ctid, parent)."""
        found: list[tuple[str, object, str]] = []
        for child, parent, columns, parents in self.conn.execute(UNVALIDATED_KEYS).fetchall():
            if len(found) >= limit:
                break
            query = sql.SQL(
                "SELECT c.ctid::text FROM {child} c WHERE {present} AND NOT EXISTS "
                "(SELECT 1 FROM {parent} p WHERE {same}) LIMIT %s"
            ).format(
                child=sql.SQL(child),  # regclass text: quoted and qualified as needed
                parent=sql.SQL(parent),
                present=sql.SQL(" AND ").join(
                    sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in columns
                ),
                same=sql.SQL(" AND ").join(
                    sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
                    for p, c in zip(parents, columns, strict=True)
                ),
            )
            for (ctid,) in self.conn.execute(query, (limit - len(found),)):
                found.append((str(child), ctid, str(parent)))
        return found

    def applied(self) -> list[AppliedRow]:
        return self.tables.read_applied(self.conn)

    def record(self, entry: Entry, *, ms: int, rows: int) -> None:
        from ci.db.bookkeeping import now_utc

        self.tables.record(self.conn, entry, ms=ms, rows=rows, at=now_utc())

    def unrecord(self, track: str, version: int) -> None:
        self.tables.unrecord(self.conn, track, version)


@contextmanager
def _time_limited(
    conn: PgConnection, seconds: float | None, path: Path | str, line: int | None
) -> Iterator[None]:
    """statement_timeout for the block; a statement it stops is the runner's Runaway."""
    if not seconds:
        yield
        return
    conn.execute(f"SET statement_timeout = {max(1, int(seconds * 1000))}")
    try:
        yield
    except errors.QueryCanceled as error:
        if not is_statement_timeout(error):
            raise
        raise runaway(path, line, seconds) from None
    finally:
        if not (conn.closed or conn.broken):
            conn.execute("RESET statement_timeout")


class PgEngine:
    """PostgreSQL: a database is a URL, postgresql://USER@HOST:PORT/DB."""

    name = "postgresql"

    def connect_target(
        self,
        db: Path | str,
        *,
        setup: str | None = None,
        timeout: float = 30.0,
        readonly: bool = False,
    ) -> PgDatabase:
        url = str(db)
        if setup is not None:
            raise CannotRun(f"{label(url)}: --setup is for SQLite connections only")
        conn = open_target(url)
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
        return PgDatabase(conn, label(url))

    def connect_throwaway(self, path: Path, *, setup: str | None = None) -> PgDatabase:
        raise CannotRun(_NOT_A_FILE)

    def clone(self, source: Path, path: Path, *, timeout: float) -> None:
        raise CannotRun(_NOT_A_FILE)


_NOT_A_FILE = (
    "a PostgreSQL check works on a throwaway database on a server (--server-url), not on a file"
)
ENGINE = PgEngine()
