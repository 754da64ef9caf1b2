"""What each statement of a migration does on the sample, measured for the production-impact
estimate (apply_sample --prod-stats): its time, the rows it changed, and the tables it read,
wrote, built an index on, created, dropped or renamed (SQLite's authorizer, through the
connection's gate, names them while each statement is compiled).

The statements run one by one as the runner runs them (the gate's rules, one transaction per
migration, `@no-transaction` in autocommit, `@batch` repeated with `:batch_size` until it changes
nothing), on a private copy of the sample that nothing else uses. The statements are timed (in
CPU time: Measurer.clock), and each statement's compiling (its EXPLAIN) on its own; so are a
@batch's commits and the runner's reads before its first batch. The runner's bookkeeping and
the row counts read between statements are not. Each statement's pages changed are counted
(ci.db.impact_io.Pages: what its commit will write), and the pages of each table of the sample
(dbstat) are read once, to scale them by production's.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ci.core.model import Migration
from ci.core.sqltext import Statement
from ci.db.batch import RowBound
from ci.db.engine import database_of
from ci.db.gate_bookkeeping import BOOKKEEPING_TABLES
from ci.db.gatekeeper import gate_of
from ci.db.impact_io import Pages
from ci.db.prodstats import dbstat_pages, row_counts, user_tables
from ci.db.statements import leading_foreign_keys, leading_word, temp_objects
from ci.db.tables import quoted

TRANSACTION, NO_TRANSACTION, BATCH = "transaction", "no-transaction", "batch"
MAX_BATCHES = 1_000_000  # a @batch that never ends was stopped by the run before this one
MIN_CACHE_PAGES = 10  # SQLite's own floor for cache_size

_READS = {sqlite3.SQLITE_READ}
_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_INDEXES = {sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_INDEX}
_EXPLAINED = frozenset(("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "SELECT", "CREATE"))
_DML = frozenset(("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"))
_INSERTS = frozenset(("INSERT", "REPLACE"))


class MeasureFailed(Exception):
    """A statement that ran in the check's own run did not run here (one line)."""


class StatementRun:
    """One statement on the sample (a @batch statement: all its batches together)."""

    __slots__ = (
        "before",
        "changes",
        "constant",
        "created",
        "dml",
        "dropped",
        "executions",
        "fixed",
        "indexed",
        "line",
        "pages",
        "reads",
        "renamed",
        "rows",
        "seconds",
        "sorts",
        "writes",
    )

    def __init__(self, line: int) -> None:
        self.line = line
        self.seconds = 0.0
        # the part of `seconds` that does not grow with the rows: compiling the statement
        # (timed as its EXPLAIN), once per execution (a @batch statement runs once per batch)
        self.fixed = 0.0
        self.executions = 1
        self.changes = 0  # rows changed, triggers' included (total_changes)
        self.reads: set[str] = set()  # tables (lower-case names, as they were when it ran)
        self.writes: set[str] = set()
        self.indexed: set[str] = set()  # tables it built an index on
        self.created: set[str] = set()
        self.dropped: set[str] = set()
        self.renamed: dict[str, str] = {}  # old name -> new name
        self.rows: dict[str, int] = {}  # sample rows of each table it touched, before or after
        self.before: dict[str, int] = {}  # sample rows of each table it touched, before it ran
        # it writes rows (INSERT, UPDATE, DELETE, REPLACE, WITH ...): none changed on the sample
        # says nothing of how many it changes in production
        self.dml = False
        # it only changes the schema (schema_only): its time does not grow with the rows
        self.constant = False
        self.pages = 0  # pages it changed: what its commit writes (ci.db.impact_io.Pages)
        self.sorts = False  # it builds an index: it sorts the table's rows (n log n)

    @property
    def touched(self) -> set[str]:
        return self.reads | self.writes | self.indexed


class MigrationRun:
    """A migration's statements on the sample, and how it holds the write lock."""

    __slots__ = (
        "batch_pages",
        "batch_seconds",
        "batch_size",
        "batch_work",
        "batches",
        "migration",
        "mode",
        "reads_first",
        "sample_batch_size",
        "statements",
    )

    def __init__(self, migration: Migration, mode: str) -> None:
        self.migration = migration
        self.mode = mode
        self.statements: list[StatementRun] = []
        self.batch_size = migration.directives.batch
        self.sample_batch_size = self.batch_size  # fewer rows when the sample stands for more
        # @batch: (seconds, rows changed) of the statement in each batch that changed rows
        self.batch_work: list[tuple[float, int]] = []
        self.batch_pages: list[int] = []  # @batch: the pages each of those batches changed
        self.batches = 0  # @batch: batches that changed rows
        # @batch: the time of each batch that changed rows, its commit included (by the
        # Measurer's clock: the bench's real runs time them on a wall clock)
        self.batch_seconds: list[float] = []
        # @batch: what the runner reads before the first batch, outside the write lock (the
        # @progress query, the count of the statement's table that bounds a runaway)
        self.reads_first = 0.0

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.statements)


class Measurer:
    """Runs migrations on one connection, measuring each statement; keeps the row counts."""

    def __init__(
        self, conn: sqlite3.Connection, clock: Callable[[], float] = time.thread_time
    ) -> None:
        self.conn = conn
        # the statements' clock: this thread's CPU time. On the sample's copy they read and
        # write the operating system's cache and never wait for a disk, so their CPU time is
        # their time on a quiet machine, whatever else the machine runs meanwhile (a wall clock
        # there measured one statement 1 ms and 25 ms in two runs a minute apart); a commit,
        # which does wait for the disk, is timed apart (ci.db.impact_io.commit_cost).
        self.clock = clock
        self.database = database_of(conn)
        self.counts = row_counts(conn, user_tables(conn))
        self.counts = {k.lower(): v for k, v in self.counts.items()}
        self.scale = 1.0  # production rows / sample rows (scale_to)
        Pages.on_disk(conn)
        self.pages = Pages(conn)

    def sample_pages(self) -> dict[str, int]:
        """Pages of each table of the sample now, its indexes' included (lower-case names);
        empty when SQLite has no dbstat."""
        found = dbstat_pages(self.conn, user_tables(self.conn)) or {}
        return {t.lower(): table + index for t, (table, index) in found.items()}

    def sample_rows(self) -> dict[str, int]:
        """Rows of each table of the sample now (lower-case names)."""
        return dict(self.counts)

    def scale_to(self, scale: float) -> None:
        """Production is `scale` times the sample. Give the sample its share of SQLite's page
        cache: the cache this connection would have, divided by `scale` (a production table
        that does not fit in the cache is read from the file page by page; so is the sample's
        then, and its time per row grows as production's does). And run a `@batch N` with N /
        `scale` rows per batch, so that it takes as many batches as in production: what grows
        from batch to batch (rows a batch must skip again) grows on the sample too."""
        self.scale = scale
        if scale <= 1:
            return
        size = int(self.conn.execute("PRAGMA cache_size").fetchone()[0])
        page = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        cache_bytes = -size * 1024 if size < 0 else size * page
        shrunk = max(int(cache_bytes / scale), MIN_CACHE_PAGES * page)
        self.conn.execute(f"PRAGMA cache_size = -{max(shrunk // 1024, 1)}")

    def run(self, migration: Migration) -> MigrationRun:
        directives = migration.directives
        if directives.batch is not None:
            return self._batched(migration)
        mode = NO_TRANSACTION if directives.no_transaction else TRANSACTION
        measured = MigrationRun(migration, mode)
        temporary = set(temp_objects(self.conn))
        with self._foreign_keys(leading_foreign_keys(migration.file)):
            if mode == TRANSACTION:
                self.database.lock()
            gate = self.database.gate(no_transaction=mode == NO_TRANSACTION)
            try:
                for statement in migration.file.statements:
                    measured.statements.append(self._one(statement, gate.execute))
                self._drop_temporary(temporary)
            except BaseException:
                if self.conn.in_transaction:
                    self.database.rollback()
                raise
            finally:
                gate.restore()
            if mode == TRANSACTION:
                self.database.commit()
        return measured

    def _drop_temporary(self, kept: set[tuple[str, str]]) -> None:
        """The temporary objects the migration made go, as the runner drops them: a temp table
        left behind would shadow a main table of the same name in the next migration."""
        for kind, name in temp_objects(self.conn):
            if (kind, name) not in kept and not name.startswith("sqlite_"):
                self.conn.execute(f"DROP {kind.upper()} IF EXISTS temp.{quoted(name)}")

    def _batched(self, migration: Migration) -> MigrationRun:
        measured = MigrationRun(migration, BATCH)
        statement = migration.file.statements[0]
        size = measured.batch_size or 1
        if self.scale > 1:
            measured.sample_batch_size = size = max(1, round(size / self.scale))
        params = {"batch_size": size}
        total = StatementRun(statement.line)
        total.executions = 0
        measured.reads_first = self._reads_first(migration, statement)
        for _ in range(MAX_BATCHES):
            self.database.lock()
            one = self._one(statement, lambda s: self._bound(s, params), params)
            committing = self.clock()
            self.database.commit()
            held = one.seconds + self.clock() - committing
            _add(total, one)
            if not one.changes:
                break
            measured.batches += 1
            measured.batch_pages.append(one.pages)
            measured.batch_seconds.append(held)
            measured.batch_work.append((one.seconds - one.fixed, one.changes))
        measured.statements.append(total)
        return measured

    def _bound(self, statement: Statement, params: dict[str, int]) -> None:
        self.conn.execute(statement.sql, params)

    def _reads_first(self, migration: Migration, statement: Statement) -> float:
        """The runner's reads before a @batch's first batch (ci.db.batch), timed."""
        started = self.clock()
        query = migration.directives.progress
        if query:
            self.conn.execute(query).fetchall()
        RowBound(self.conn, statement)  # counts the rows of the statement's table
        return self.clock() - started

    def _compile_time(self, statement: Statement, params: dict[str, int] | None) -> float:
        """The statement's EXPLAIN, timed: compiling it (nothing runs). 0 for a statement that
        is not plain SQL on tables (a PRAGMA, a transaction statement) or will not explain."""
        if leading_word(statement) not in _EXPLAINED:
            return 0.0
        started = self.clock()
        try:
            # compiled and one step: the rows of the program are not fetched
            self.conn.execute(f"EXPLAIN {statement.sql}", params or {}).close()
        except sqlite3.Error:
            return 0.0
        return self.clock() - started

    def _one(
        self, statement: Statement, execute: object, params: dict[str, int] | None = None
    ) -> StatementRun:
        run = StatementRun(statement.line)
        run.fixed = self._compile_time(statement, params)
        before = set(self.counts)
        changes = self.conn.total_changes
        pages = self.pages.now()
        with self._watching(run):
            started = self.clock()
            refused = execute(statement)  # type: ignore[operator]
            run.seconds = self.clock() - started
        run.pages = max(self.pages.now() - pages, 0)  # autocommit: the pages it added only
        if refused:
            raise MigrationStopped(statement, str(refused))
        run.changes = self.conn.total_changes - changes
        self._recount(run, before)
        word = leading_word(statement)
        run.dml = word in _DML
        run.constant = schema_only(statement, run, before) or (word in _INSERTS and not run.reads)
        return run

    @contextmanager
    def _watching(self, run: StatementRun) -> Iterator[None]:
        def authorize(
            action: int, arg1: str | None, arg2: str | None, db: str | None, _: str | None
        ) -> int:
            if action == sqlite3.SQLITE_ALTER_TABLE:  # arg1 is the database, arg2 the table
                if arg1 == "main" and arg2:
                    run.writes.add(arg2.lower())
            elif db != "main":  # temp objects, and actions on no table
                pass
            elif action in _READS and arg1:
                run.reads.add(arg1.lower())
            elif action in _WRITES and arg1:
                run.writes.add(arg1.lower())
            elif action in _INDEXES and arg2:  # dropping an index frees each of its pages
                run.indexed.add(arg2.lower())
                run.sorts = run.sorts or action == sqlite3.SQLITE_CREATE_INDEX
            return sqlite3.SQLITE_OK

        with gate_of(self.conn).observing(authorize):
            yield
        for names in (run.reads, run.writes, run.indexed):
            names -= {n for n in names if _ignored(n)}

    def _recount(self, run: StatementRun, before: set[str]) -> None:
        """Row counts of what the statement wrote, created or renamed; what it dropped goes."""
        now = {t.lower(): t for t in user_tables(self.conn)}
        appeared, vanished = set(now) - before, before - set(now)
        if len(appeared) == 1 and len(vanished) == 1 and run.writes & vanished:
            run.renamed[vanished.pop()] = appeared.pop()
        run.created, run.dropped = appeared, vanished
        rows_before = {t: self.counts.get(t, 0) for t in run.touched}
        for old, new in run.renamed.items():
            self.counts[new] = self.counts.pop(old, 0)
        for gone in vanished:
            self.counts.pop(gone, None)
        recount = [now[t] for t in (run.writes | appeared) if t in now]
        for name, rows in row_counts(self.conn, recount).items():
            self.counts[name.lower()] = rows
        run.before = rows_before
        run.rows = {t: max(n, self.counts.get(t, 0)) for t, n in rows_before.items()}

    @contextmanager
    def _foreign_keys(self, setting: bool | None) -> Iterator[None]:
        """A leading PRAGMA foreign_keys is honoured outside the transaction, as the runner
        does (SQLite ignores it inside one)."""
        if setting is None:
            yield
            return
        before = bool(self.conn.execute("PRAGMA foreign_keys").fetchone()[0])
        self.conn.execute(f"PRAGMA foreign_keys = {'ON' if setting else 'OFF'}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA foreign_keys = {'ON' if before else 'OFF'}")


class MigrationStopped(MeasureFailed):
    def __init__(self, statement: Statement, why: str) -> None:
        super().__init__(f"line {statement.line}: {why}")


def _add(total: StatementRun, one: StatementRun) -> None:
    total.seconds += one.seconds
    total.fixed += one.fixed
    total.executions += 1
    total.changes += one.changes
    total.pages += one.pages
    total.dml = one.dml
    for table, rows in one.before.items():
        total.before.setdefault(table, rows)
    for name in ("reads", "writes", "indexed"):
        getattr(total, name).update(getattr(one, name))
    for table, rows in one.rows.items():
        total.rows[table] = max(total.rows.get(table, 0), rows)


_SCHEMA_WORDS = frozenset(("CREATE", "DROP", "ALTER"))
# ALTER TABLE forms that rewrite only the schema's text in sqlite_schema, whatever the rows.
# ADD COLUMN with a CHECK or a generated column is tested against every row (SQLite 3.37+),
# DROP COLUMN rewrites every row: both are scaled.
_NAME = r'(?:"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[^\s.(]+)'
_ALTER = re.compile(rf"ALTER\s+TABLE\s+(?:{_NAME}\s*\.\s*)?{_NAME}\s+(\w+)", re.IGNORECASE)
_READS_EVERY_ROW = re.compile(r"\b(CHECK|GENERATED)\b|\bAS\s*\(", re.IGNORECASE)


def schema_only(statement: Statement, run: StatementRun, tables: set[str]) -> bool:
    """Whether the statement only changes the schema: a CREATE, DROP or ALTER that reads, writes
    and indexes no row of a table of the database (`tables`, lower-case) -- CREATE TABLE (not AS
    SELECT), CREATE/DROP VIEW and TRIGGER, ALTER TABLE RENAME, and ADD COLUMN without CHECK or
    generated column. Its time does not grow with the rows, so it is not scaled. CREATE INDEX
    (reads every row), DROP TABLE / DROP INDEX (free every page), DROP COLUMN are not."""
    if leading_word(statement) not in _SCHEMA_WORDS or run.reads & tables or run.indexed:
        return False
    if not run.writes & tables:
        return True
    alter = _ALTER.match(statement.code)
    action = alter.group(1).upper() if alter else ""  # none: DROP TABLE, which frees its pages
    if action == "ADD":
        return not _READS_EVERY_ROW.search(statement.code)
    return action == "RENAME"


def _ignored(name: str) -> bool:
    return name.startswith("sqlite_") or name in BOOKKEEPING_TABLES
