"""The migration runner: the only code that opens SQLite connections.

Every migration runs in ONE transaction together with its `schema_version` row, started with
`BEGIN IMMEDIATE` so two runners serialise, and re-checks inside it whether the migration was
applied meanwhile. Statements come from `SqlFile.statements` and run one by one with
`Connection.execute` (never `executescript`, which commits on its own). `@no-transaction` and
`@batch` migrations commit as they go and leave a dirty mark until they finish (ci.db.batch).
"""

from __future__ import annotations

import importlib
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache, partial
from pathlib import Path
from typing import TextIO

from ci.core.errors import UsageError
from ci.core.findings import Record
from ci.core.model import Catalog, InputError, Migration, SqlFile, label_of, read_ahead
from ci.core.sqltext import Statement, checksum_matches, code_fingerprint
from ci.db import bookkeeping
from ci.db.bookkeeping import AppliedRow, DirtyMark, Entry
from ci.db.gatekeeper import (
    FIRST_WORD,
    NO_TRANSACTION_SAVEPOINT,
    REFUSE,
    Gate,
    GatedConnection,
    Screen,
    classify,
    foreign_keys_setting,
    gate_of,
)

__all__ = [
    "AppliedRow",
    "CannotRun",
    "DirtyMark",
    "MigrationFailed",
    "Outcome",
    "RunRefused",
    "Runaway",
    "Runner",
    "connect",
    "connect_for_reading",
    "load_setup",
    "reading",
]

# what a real run's outcome is called in a dry run
DRY_ACTIONS = {"applied": "would apply", "rolled back": "would roll back"}
DRY_RUN_PREFIX = "migration-guard-dry-run-"
# With a --statement-timeout, SQLite calls back every this many virtual-machine steps (well
# under a millisecond) to see whether the migration ran past its deadline. Measured on a
# statement that is nothing but VM steps (a 2,000,000-row recursive CTE): under 1% slower;
# 1,000 steps cost ~3%. A migration of ordinary size never reaches one callback.
PROGRESS_STEPS = 10_000


class MigrationFailed(Exception):
    """A migration (or rollback) failed and was rolled back: `path:line: message`."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        # a @no-transaction or @batch migration is not rolled back: what of it stays committed
        # ("0002 is a @batch migration; its finished batches (10 rows) stay committed")
        self.left_dirty: str | None = None
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class Runaway(MigrationFailed):
    """A migration that would not end: still running after --statement-timeout (interrupted
    and rolled back), or a @batch that keeps changing rows it already changed."""

    def __init__(self, path: Path | str, line: int | None, message: str, hint: str) -> None:
        super().__init__(path, line, message)
        self.hint = hint


class RunRefused(Exception):
    """The run stops before changing anything: edited files, dirty marks, bad input, ..."""


class CannotRun(UsageError):
    """The database cannot be used at all: not SQLite, read-only, locked, missing directory."""


class Outcome(Record):
    """What happened to one migration: action is 'applied', 'rolled back', 'skipped' (another
    runner applied it first) or, in a dry run, 'would apply' / 'would roll back'.

    A plain record, not a frozen dataclass: one is made per migration (the performance budgets
    measure the
    per-migration cost of ci.migrate and ci.apply_empty)."""

    FIELDS = ("migration", "action", "rows", "seconds")
    __slots__ = FIELDS

    def __init__(self, migration: Migration, action: str, rows: int, seconds: float) -> None:
        self.migration = migration
        self.action = action
        self.rows = rows
        self.seconds = seconds


# --- connections -----------------------------------------------------------------------------


def connect(
    db: Path | str,
    *,
    setup: str | None = None,
    timeout: float = 30.0,
    durable: bool = True,
    readonly: bool = False,
) -> sqlite3.Connection:
    """Open a database the way every part of the tool does (autocommit; we BEGIN ourselves).

    The connection's one authorizer is its gate (ci.db.gatekeeper), with the stricter rules of a
    check on a throwaway database (durable=False); a --setup function's authorizer is kept
    and asked after the gate's rules. Raises CannotRun with one line for a file that is not
    SQLite, a missing directory, and so on.
    """
    path = Path(db)
    target = path.resolve().as_uri() + "?mode=ro" if readonly else str(path)
    try:
        conn = sqlite3.connect(
            target, timeout=timeout, isolation_level=None, uri=readonly, factory=GatedConnection
        )
        conn.gate = Gate(conn, check=not durable)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA foreign_keys = ON")
        if not durable:
            # a check's private database, thrown away afterwards: no fsync, the rollback journal
            # in memory, and the lock held until close (no lock/unlock and no change-counter read
            # per transaction; nothing else ever opens this file)
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA journal_mode = MEMORY")
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            # checks never write outside their temporary directory: no ATTACH, which
            # would create the attached file relative to the user's working directory
            forbid_attach(conn)
    except sqlite3.Error as error:
        raise CannotRun(explain(error, str(db), timeout)) from None
    if setup:
        function = load_setup(setup)
        try:
            function(conn)
        except Exception as error:  # the user's code: any failure is theirs, reported in one line
            conn.close()
            raise UsageError(f"--setup {setup} failed: {type(error).__name__}: {error}") from None
    return conn


@contextmanager
def private_copy(conn: sqlite3.Connection, name: str) -> Iterator[Path]:
    """A copy of the connection's main database in a new temporary directory (the system's,
    or TMPDIR), removed with everything in it when the block ends, whatever happens.

    Refused with one line when that directory lacks room for the copy, before writing."""
    import shutil  # only a dry run needs these (start-up time of every command)
    import tempfile

    size = database_size(conn)
    with tempfile.TemporaryDirectory(prefix=DRY_RUN_PREFIX) as tmp:
        free = shutil.disk_usage(tmp).free
        if size > free:
            raise CannotRun(
                f"{name}: the dry run works on a private copy ({size / 1e6:,.0f} MB) in "
                f"{Path(tmp).parent}, which has {free / 1e6:,.0f} MB free; point TMPDIR at a "
                "directory with room"
            )
        path = Path(tmp) / "dry-run.db"
        try:
            target = sqlite3.connect(path)
            try:
                conn.backup(target)
            finally:
                target.close()
        except sqlite3.Error as error:
            raise CannotRun(f"{name}: cannot copy the database for the dry run: {error}") from None
        yield path


def database_size(conn: sqlite3.Connection) -> int:
    """Bytes of the main database as this connection sees it (what a backup copies)."""
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    return pages * int(conn.execute("PRAGMA page_size").fetchone()[0])


def forbid_attach(conn: sqlite3.Connection) -> None:
    """Make ATTACH fail on this connection: a limit of 0 attached databases, which also stops
    VACUUM INTO and anything the gate does not screen (an invariant, a --setup function's SQL).
    The gate refuses a migration's ATTACH in a check in any case (Python 3.10 has no setlimit:
    there the gate alone refuses it)."""
    setlimit = getattr(conn, "setlimit", None)
    if setlimit is not None:
        setlimit(getattr(sqlite3, "SQLITE_LIMIT_ATTACHED", 7), 0)


def connect_for_reading(
    db: Path | str, *, setup: str | None = None, timeout: float = 30.0
) -> sqlite3.Connection:
    """A read-only connection; if a crashed writer left a hot journal, SQLite must roll it back
    first, which needs a read-write open (the database then reads as it was before the crash)."""
    try:
        return connect(db, setup=setup, timeout=timeout, readonly=True)
    except CannotRun as error:
        hot = Path(f"{db}-journal")
        if "read-only" not in str(error) or not hot.exists():
            raise
    return connect(db, setup=setup, timeout=timeout)


@contextmanager
def reading(
    db: Path | str, *, setup: str | None = None, timeout: float = 30.0
) -> Iterator[sqlite3.Connection]:
    """connect_for_reading, closed at the end, leaving no -wal/-shm files that were not there
    (ci.db.walfiles): read-only commands leave the directory as they found it."""
    from ci.db import walfiles

    before = walfiles.present(db)
    conn = connect_for_reading(db, setup=setup, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()
        walfiles.tidy(db, before)


def load_setup(spec: str) -> Callable[[sqlite3.Connection], None]:
    """`package.module:function` -> the callable; UsageError with one line if it is not one."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise UsageError(f"--setup {spec}: expected MODULE:FUNCTION, e.g. myapp.db:register")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project's own modules import
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise UsageError(
            f"--setup {spec}: cannot import {module_name}: {type(error).__name__}: {error}"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UsageError(f"--setup {spec}: {module_name} has no function {function_name}")
    return function  # type: ignore[no-any-return]


def explain(error: sqlite3.Error, db: str, timeout: float | None = None) -> str:
    """One line for an error that is about the database file, not about a migration."""
    text = str(error)
    if "file is not a database" in text or "file is encrypted" in text:
        return f"{db}: not a SQLite database"
    if "readonly" in text:
        return f"{db}: database is read-only (check the permissions of the file and its directory)"
    if "database is locked" in text or "database is busy" in text:
        waited = f" after waiting {timeout:g} s" if timeout is not None else ""
        return f"{db}: locked by another process; gave up{waited} (see --busy-timeout)"
    if "unable to open database file" in text:
        return f"{db}: cannot open the database file (does its directory exist?)"
    return f"{db}: {text}"


def describe(error: sqlite3.Error, statement: Statement) -> str:
    """The message for a failing statement (SQLite's own, made clearer where it is cryptic)."""
    text = str(error)
    if text.startswith("too many attached databases - max 0") or (
        text == "not authorized" and statement.keyword == "ATTACH"
    ):
        # VACUUM INTO attaches its target internally, so the same limit refuses it
        what = "VACUUM INTO" if statement.keyword == "VACUUM" else "ATTACH"
        return (
            f"{what} is not allowed in a check: the check works on a throwaway database in a "
            "temporary directory and must not create or change files outside it "
            f"(SQLite: {text})"
        )
    return text


def is_environmental(error: sqlite3.Error) -> bool:
    """Errors about the database file itself: they stop the run with exit 2, not a finding."""
    text = str(error)
    return any(
        s in text
        for s in (
            "database is locked",
            "database is busy",
            "readonly",
            "file is not a database",
            "disk is full",
            "disk I/O error",
            "unable to open database file",
        )
    )


# --- the runner ------------------------------------------------------------------------------


def entry_for(migration: Migration, *, with_code_hash: bool = True) -> Entry:
    """The bookkeeping identity and hashes of a migration file.

    The code hash only ever serves to say how an applied file was edited later; a check's
    throwaway database is never asked, so it goes without (it tokenises the whole file)."""
    return Entry(
        version=migration.version,
        migration_type=migration.kind,
        description=migration.slug,
        file_hash=migration.file.checksum,
        code_hash=_code_hash(migration.file.text) if with_code_hash else None,
    )


@lru_cache(maxsize=4096)
def _code_hash(text: str) -> str:
    """code_fingerprint, once per file text (a round trip applies each migration twice)."""
    return code_fingerprint(text)


class _Guard:
    """Runner.guard(): a plain context manager, not @contextmanager (entered once per migration).

    An error about the database file itself (locked, read-only, disk full, not a database)
    becomes CannotRun with one line; the transaction, if any, is rolled back first."""

    __slots__ = ("runner",)

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if not isinstance(error, sqlite3.Error) or not is_environmental(error):
            return  # no error, or not ours to translate: it propagates unchanged
        runner = self.runner
        runner.rollback_quietly()
        raise CannotRun(explain(error, runner.db_name(), runner._timeout())) from None


class Runner:
    """Apply and roll back the migrations of one catalog on one connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        catalog: Catalog,
        *,
        out: TextIO | None = None,
        warn_slow: float = 300.0,
        allow_changed: bool = False,
        progress_interval: float = 5.0,
        throwaway: bool = False,
        statement_timeout: float | None = None,
    ) -> None:
        self.conn = conn
        # a check's private database (connect(durable=False)), thrown away afterwards: the
        # successful apply/rollback rows of schema_version_log are skipped there (the log exists
        # to monitor production databases; dirty marks and failures are still written)
        self.throwaway = throwaway
        self.catalog = catalog
        self.out = out if out is not None else sys.stderr
        self.warn_slow = warn_slow
        self.allow_changed = allow_changed
        self.progress_interval = progress_interval
        self._ready = False
        self._warned: set[str] = set()
        # decides what a migration's transaction statements, pragmas, ... do (ci.db.gatekeeper)
        self.gate = gate_of(conn)
        # PRAGMA foreign_keys as last read or set here: the runner owns the setting while it
        # runs (a migration's own PRAGMA foreign_keys is ignored, see _screened), and reading it
        # again before every migration re-prepares the pragma after each schema change
        self._foreign_keys_on: bool | None = None
        # the statement an error about the database file (locked, disk full) stopped at
        self._stopped_at: Statement | None = None
        # on a throwaway database (nobody else writes to it): no seed is recorded since the last
        # reset, so a rollback step need not look for seeds (one query less per round trip step)
        self._no_seeds_recorded = False
        # --statement-timeout: each migration's deadline (set when it starts), and the one
        # SQLite's progress handler compares with, armed only while a migration's own
        # statement runs (the runner's bookkeeping is never interrupted halfway)
        self.statement_timeout = statement_timeout
        self._migration_deadline = math.inf
        self._deadline = math.inf
        if statement_timeout:
            conn.set_progress_handler(self._past_deadline, PROGRESS_STEPS)

    # --- bookkeeping ----------------------------------------------------------------------

    def entry(self, migration: Migration) -> Entry:
        """What this runner records for the migration (see entry_for)."""
        return entry_for(migration, with_code_hash=not self.throwaway)

    def ensure_bookkeeping(self) -> str:
        """Create or upgrade schema_version / schema_version_log ('none'/'created'/'upgraded')."""
        if self._ready:
            return "none"
        with self.guard():
            if bookkeeping.state(self.conn) == "current":
                self._ready = True
                return "none"
            self.begin()
            try:
                done = self._create_or_upgrade()
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback_quietly()
                raise
        self._ready = True
        if done == "upgraded":
            self.notice("upgraded the existing schema_version table in place (every row kept)")
        return done

    def _create_or_upgrade(self) -> str:
        kinds = {m.version: m.kind for m in self.catalog.main}
        try:
            return bookkeeping.create_or_upgrade(self.conn, kinds)
        except sqlite3.IntegrityError as error:
            raise RunRefused(
                f"cannot upgrade the existing schema_version table: {error} "
                "(two rows for the same version?)"
            ) from None
        except bookkeeping.UpgradeRefused as error:
            raise RunRefused(
                f"{self.db_name()}: cannot upgrade the existing schema_version table: {error}; "
                "nothing was changed (change that by hand first)"
            ) from None
        except sqlite3.Error as error:
            if is_environmental(error):
                raise
            raise RunRefused(
                f"{self.db_name()}: cannot upgrade the existing schema_version table: {error}; "
                "nothing was changed"
            ) from None

    def applied(self) -> list[AppliedRow]:
        with self.guard():
            return bookkeeping.read_applied(self.conn)

    def dirty(self) -> list[DirtyMark]:
        with self.guard():
            return bookkeeping.open_marks(self.conn)

    def pending(
        self, target: int | None = None, *, applied: list[AppliedRow] | None = None
    ) -> list[Migration]:
        """Main-track migrations not applied (up to target), then seeds if the run ends at head."""
        rows = self.applied() if applied is None else applied
        done = {(row.track, row.version) for row in rows}
        main = [
            m
            for m in self.catalog.main
            if (m.track, m.version) not in done and (target is None or m.version <= target)
        ]
        seeds: list[Migration] = []
        if target is None or target >= self.catalog.head:
            seeds = [m for m in self.catalog.seeds if (m.track, m.version) not in done]
        return main + seeds

    def current_version(self) -> int:
        return max((r.version for r in self.applied() if r.track == "main"), default=0)

    # --- checks before anything changes ---------------------------------------------------

    def preflight(self, target: int | None = None, *, resume: bool = False) -> list[Migration]:
        """Everything that must hold before the first change; returns the pending list.

        Raises RunRefused naming every problem at once: duplicate numbers, edited applied
        files, dirty marks (unless resuming), out-of-order pending files, unusable files.
        """
        self._foreign_keys_on = None  # read once per run: the caller may have changed it
        problems = self.duplicates()
        problems += self.edited_problems()
        marks = self.dirty()
        for mark in marks:
            # an early answer only: the decision that counts is taken again in the write lock
            # (open_or_reuse_mark), since the holder may change meanwhile
            self.refuse_unless_holder_gone(mark)
        if marks and not resume:
            problems += [dirty_message(mark) for mark in marks]
        applied = self.applied()  # one snapshot: another runner may be applying meanwhile
        self._warn_missing_files(applied)
        pending = self.pending(target, applied=applied)
        top = max((r.version for r in applied if r.track == "main"), default=0)
        problems += out_of_order(pending, top)
        self._read_ahead(pending)
        problems += [p for m in pending for p in file_problems(m.file, m)]
        if problems:
            raise RunRefused("\n".join(problems))
        return pending

    def _read_ahead(self, pending: list[Migration]) -> None:
        """model.read_ahead, plus the code hash recorded for each file (it tokenises the file)."""
        read_ahead(m.file for m in pending)
        if not self.throwaway:
            for migration in pending:
                with suppress(InputError):
                    _code_hash(migration.file.text)

    def _warn_missing_files(self, applied: list[AppliedRow]) -> None:
        present = {(m.track, m.version) for m in self.catalog.all_migrations()}
        for row in applied:
            line = (
                f"warning: {row.label} {row.description} is applied but its file is missing "
                f"from {self.catalog.root}"
            )
            if (row.track, row.version) not in present and line not in self._warned:
                self._warned.add(line)
                self.notice(line)

    def duplicates(self) -> list[str]:
        problems: list[str] = []
        for migrations in (self.catalog.main, self.catalog.seeds):
            seen: dict[int, Migration] = {}
            for m in migrations:
                if m.version in seen:
                    problems.append(
                        f"{m.path}: number {m.label} is also used by {seen[m.version].path}; "
                        "renumber one of them"
                    )
                seen.setdefault(m.version, m)
        return problems

    def edited_problems(self) -> list[str]:
        """Applied files whose bytes changed; warnings only with allow_changed."""
        lines = [
            f"{m.path}: edited after it was applied ({how}); applied migrations must not "
            "change: restore the file and put the change in a new migration"
            for m, how in self.edited()
        ]
        if lines and self.allow_changed:
            for line in lines:
                if line not in self._warned:  # preflight may run twice in one run
                    self._warned.add(line)
                    self.notice(f"WARNING: --allow-changed: {line}")
            return []
        return lines

    def edited(self) -> list[tuple[Migration, str]]:
        """(migration, 'statements changed' | 'only whitespace or comments changed'), per file."""
        files = {(m.track, m.version): m for m in self.catalog.all_migrations()}
        found: list[tuple[Migration, str]] = []
        for row in self.applied():
            m = files.get((row.track, row.version))
            if m is None or row.file_hash is None or checksum_matches(row.file_hash, m.file.data):
                continue
            found.append((m, edit_kind(row, m.file)))
        return found

    # --- apply / rollback -----------------------------------------------------------------

    def migrate(
        self,
        target: int | None = None,
        *,
        resume: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Apply what is pending (main track up to target, then seeds when at head).

        Stops at the first failure (MigrationFailed); what was applied before it stays applied.
        """
        pending = self.preflight(target, resume=resume)
        self.ensure_bookkeeping()
        outcomes: list[Outcome] = []
        if resume:
            pending = self._resume_first(pending)
        for migration in pending:
            outcome = self.apply(migration, resume=resume)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        return outcomes

    def _resume_first(self, pending: list[Migration]) -> list[Migration]:
        """The migrations of open dirty marks go first; a mark whose migration is gone fails."""
        files = {(m.track, m.version): m for m in self.catalog.all_migrations()}
        first: list[Migration] = []
        for mark in self.dirty():
            migration = files.get((mark.track, mark.version))
            if migration is None:
                raise RunRefused(
                    f"dirty mark for {mark.label} ({mark.description}) but its file is gone; "
                    "fix the database by hand, then --force-clean"
                )
            if migration not in first:
                first.append(migration)
        return first + [m for m in pending if m not in first]

    def apply(self, migration: Migration, *, resume: bool = False) -> Outcome:
        """Apply one migration atomically with its schema_version row (or as its directives say).

        `resume`: a dirty mark left by a process that has stopped may be taken over."""
        self._check_file(migration.file, migration)
        self.ensure_bookkeeping()
        if migration.track == "seed":
            self._no_seeds_recorded = False
        self.start_clock()
        directives = migration.directives
        if directives.batch is not None:
            from ci.db.batch import apply_batch

            outcome = apply_batch(self, migration, resume=resume)
        elif directives.no_transaction:
            outcome = self._apply_autocommit(migration, resume=resume)
        else:
            outcome = self._apply_transaction(migration)
        self.warn_if_slow(outcome)
        return outcome

    def rollback(self, migration: Migration) -> Outcome:
        """Run the migration's rollback file and remove its row, in one transaction."""
        file = migration.rollback
        if file is None:
            reason = migration.directives.irreversible
            why = f"@irreversible: {reason}" if reason else "no rollback file in rollback/"
            raise MigrationFailed(
                migration.path, None, f"cannot roll back {migration.label}: {why}"
            )
        self._check_file(file, None)
        self.ensure_bookkeeping()
        self.start_clock()
        return self._guarded(file, lambda on: self._rollback_in_transaction(migration, file, on))

    def _rollback_in_transaction(
        self, migration: Migration, file: SqlFile, enforced: bool
    ) -> Outcome:
        entry = self.entry(migration)
        started = time.perf_counter()
        self.begin()
        try:
            # asked before the file runs: a rollback file may delete its own schema_version
            # row (the seed document's habit), so the DELETE's row count could not tell
            if not bookkeeping.is_applied(self.conn, entry.track, entry.version):
                self.rollback_quietly()
                return Outcome(migration, "skipped", 0, 0.0)
            rows = self._run_file(file, rollback=True)
            if not enforced:
                self.foreign_key_check(file)
            seconds = time.perf_counter() - started
            with self.own_rows(file):
                bookkeeping.unrecord(self.conn, entry.track, entry.version)
                if not self.throwaway:
                    ms = int(seconds * 1000)
                    bookkeeping.log(self.conn, "rollback", entry, ms=ms, rows=rows)
                reset = self._reset_seeds_in_transaction()
            self.commit(file)
        except MigrationFailed as failure:
            self.rollback_quietly()
            self._log_failure(entry, failure, action="rollback-failed")
            raise
        except BaseException:
            self.rollback_quietly()
            raise
        self._announce_reset(reset)
        return Outcome(migration, "rolled back", rows, seconds)

    def rollback_plan(self, version: int) -> list[Migration]:
        """Applied main-track migrations from the newest down to and including `version`.

        Raises RunRefused listing every one that cannot be rolled back, before any change.
        """
        files = {m.version: m for m in self.catalog.main}
        rows = [r for r in self.applied() if r.track == "main" and r.version >= version]
        rows.sort(key=lambda r: r.version, reverse=True)
        problems: list[str] = []
        plan: list[Migration] = []
        for row in rows:
            m = files.get(row.version)
            if m is None:
                problems.append(
                    f"{row.label} ({row.description}) is applied but its migration file is "
                    "missing; cannot roll it back"
                )
            elif m.rollback is None:
                reason = m.directives.irreversible
                why = (
                    f"declared @irreversible ({reason})"
                    if reason
                    else f"has no rollback file (rollback/{row.version:04d}_rollback.sql)"
                )
                problems.append(f"{m.path}: {m.label} {why}; cannot roll back to {version:04d}")
            else:
                problems += rollback_problems(m)
                plan.append(m)
        if problems:
            raise RunRefused("\n".join(problems))
        return plan

    def rollback_to(
        self, version: int, *, on_outcome: Callable[[Outcome], None] | None = None
    ) -> list[Outcome]:
        """Undo every applied main-track migration >= version, newest first, each atomically."""
        self._foreign_keys_on = None  # read once per run: the caller may have changed it
        problems = self.edited_problems() + [dirty_message(m) for m in self.dirty()]
        if problems:
            raise RunRefused("\n".join(problems))
        outcomes: list[Outcome] = []
        for migration in self.rollback_plan(version):
            outcome = self.rollback(migration)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        return outcomes

    def _reset_seeds_in_transaction(self) -> list[Entry]:
        """Mark applied seeds as pending again (they are idempotent; nothing is executed).

        Seeds are never rolled back, but a main-track rollback may drop or empty the tables they
        filled, and which seed depends on which migration is unknown; so every main-track
        rollback step makes every applied seed pending, in the step's own transaction: a
        rollback that fails or is killed at the next step still leaves the bookkeeping true,
        and the seeds run again when a later run reaches the head of the main track.
        """
        if self.throwaway and self._no_seeds_recorded:
            return []
        seeds = bookkeeping.applied_seeds(self.conn)
        self._no_seeds_recorded = not seeds  # true whether this step commits or not
        for seed in seeds:
            bookkeeping.unrecord(self.conn, "seed", seed.version)
            bookkeeping.log(self.conn, "seed-reset", seed)
        return seeds

    def _announce_reset(self, seeds: list[Entry]) -> None:
        if seeds:
            labels = ", ".join(label_of("seed", seed.version) for seed in seeds)
            self.notice(f"seeds {labels} will run again when the database is back at head")

    # --- dry run --------------------------------------------------------------------------

    def dry_run(
        self,
        target: int | None = None,
        *,
        rollback_to: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        setup: str | None = None,
    ) -> tuple[list[Outcome], MigrationFailed | None]:
        """Run the plan for real on a private copy of the database; nothing here changes.

        The copy (SQLite's backup API, into a temporary directory deleted afterwards) goes
        through the very code a real run uses: one transaction per migration, a leading PRAGMA
        foreign_keys honoured outside it, foreign_key_check only where keys were off, dirty marks
        for @batch and @no-transaction. One transaction around the whole plan could do none of
        that, so its verdict differed; now the dry run fails if and only if the real run would,
        on the same file and line. `setup` is the --setup callable, run on the copy's connection
        as on the real one. Returns the outcomes ('would apply' / 'would roll back') and the
        first failure (after which nothing more is tried).
        """
        outcomes: list[Outcome] = []

        def seen(outcome: Outcome) -> None:
            action = DRY_ACTIONS.get(outcome.action, outcome.action)
            dry = Outcome(outcome.migration, action, outcome.rows, outcome.seconds)
            outcomes.append(dry)
            if on_outcome is not None:
                on_outcome(dry)

        with private_copy(self.conn, self.db_name()) as copy:
            conn = connect(copy, setup=setup, timeout=self._timeout() or 30.0)
            try:
                conn.execute("PRAGMA synchronous = OFF")  # deleted afterwards: no fsync needed
                # the one place the dry run differs: ATTACH and VACUUM INTO would create or change
                # files outside the copy, so they fail here (in a transaction they fail anyway)
                forbid_attach(conn)
                twin = self.twin(conn)
                try:
                    if rollback_to is not None:
                        twin.rollback_to(rollback_to, on_outcome=seen)
                    else:
                        twin.migrate(target, on_outcome=seen)
                except MigrationFailed as failure:
                    return outcomes, failure
            finally:
                conn.close()
        return outcomes, None

    def twin(self, conn: sqlite3.Connection) -> Runner:
        """A runner with this one's settings on another connection (the dry run's copy)."""
        return Runner(
            conn,
            self.catalog,
            out=self.out,
            warn_slow=self.warn_slow,
            allow_changed=self.allow_changed,
            progress_interval=self.progress_interval,
            throwaway=self.throwaway,
            statement_timeout=self.statement_timeout,
        )

    # --- dirty marks ----------------------------------------------------------------------

    def force_clean(self) -> list[DirtyMark]:
        """Clear every open dirty mark (the migrations stay not applied); returns them."""
        with self.guard():
            self.begin()
            try:
                marks = bookkeeping.open_marks(self.conn)
                for mark in marks:
                    # the one override for a holder that cannot be proven gone; never for one
                    # that is seen running (a third run could then start the same migration)
                    if mark.holder()[0] == bookkeeping.ALIVE:
                        raise CannotRun(being_applied_message(mark))
                    bookkeeping.clear_mark(self.conn, mark.id)
                    entry = Entry(
                        mark.version, mark.migration_type, mark.description, mark.file_hash
                    )
                    bookkeeping.log(self.conn, "force-clean", entry, rows=mark.rows_done)
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback_quietly()
                raise
        return marks

    # --- internals ------------------------------------------------------------------------

    def _apply_transaction(self, migration: Migration) -> Outcome:
        return self._guarded(migration.file, lambda on: self._in_transaction(migration, on))

    def _guarded(self, file: SqlFile, work: Callable[[bool], Outcome]) -> Outcome:
        """`work(foreign keys enforced)` under guard(), the file's leading PRAGMA foreign_keys
        honoured outside its transaction (in the common case, without a second context
        manager: this runs once per migration)."""
        setting = leading_foreign_keys(file)
        with self.guard():
            if setting is None or setting == self.foreign_keys_enforced():
                return work(self.foreign_keys_enforced())
            with self._foreign_keys(setting) as enforced:
                return work(enforced)

    def _in_transaction(self, migration: Migration, enforced: bool) -> Outcome:
        """The migration and its schema_version row in one transaction (see _apply_transaction)."""
        entry = self.entry(migration)
        file = migration.file
        started = time.perf_counter()
        self.begin()
        try:
            # on a throwaway database (nobody else writes to it) the check comes after a
            # failure instead (the unique identity index refuses a second row): one query
            # less per migration, each re-prepared after the DDL before it
            if not self.throwaway and bookkeeping.is_applied(self.conn, entry.track, entry.version):
                self.rollback_quietly()
                return Outcome(migration, "skipped", 0, 0.0)
            rows = self._run_file(file)
            if not enforced:
                self.foreign_key_check(file)
            seconds = time.perf_counter() - started
            ms = int(seconds * 1000)
            with self.own_rows(file):
                bookkeeping.record(self.conn, entry, ms=ms, rows=rows)
                if not self.throwaway:
                    bookkeeping.log(self.conn, "apply", entry, ms=ms, rows=rows)
            self.commit(file)
        except MigrationFailed as failure:
            self.rollback_quietly()
            if self._applied_already(entry):
                return Outcome(migration, "skipped", 0, 0.0)
            self._log_failure(entry, failure)
            raise
        except BaseException as error:
            self.rollback_quietly()
            if isinstance(error, sqlite3.IntegrityError) and self._applied_already(entry):
                return Outcome(migration, "skipped", 0, 0.0)
            raise
        return Outcome(migration, "applied", rows, seconds)

    def _applied_already(self, entry: Entry) -> bool:
        """After a failed apply on a throwaway database: whether it failed because the
        migration was applied already (it is then skipped, as the check before would have)."""
        return self.throwaway and bookkeeping.is_applied(self.conn, entry.track, entry.version)

    def _apply_autocommit(self, migration: Migration, *, resume: bool = False) -> Outcome:
        """@no-transaction: a dirty mark, each statement on its own, then the row and clear."""
        entry = self.entry(migration)
        file = migration.file
        started = time.perf_counter()
        with self.guard():
            mark = self.open_or_reuse_mark(entry, resume=resume)
            if mark is None:
                return Outcome(migration, "skipped", 0, 0.0)
            self._stopped_at = None
            what_ran = partial(self._statements_ran, file)
            again = "it runs the migration again from its first statement"
            before = self.conn.total_changes
            with self.says_dirty_if_stopped(migration, what_ran, again):
                try:
                    with self._foreign_keys(leading_foreign_keys(file)) as enforced:
                        rows = self._run_file(file)
                except MigrationFailed as failure:
                    # each statement before the failing one committed on its own; a failed
                    # statement's own changes are undone by SQLite and not counted
                    done = self.conn.total_changes - before
                    committed = _committed_before(file, failure.line)
                    self.fail_mark(mark, entry, failure, rows=done, committed=committed)
                    raise
                self.begin()
                try:
                    if not enforced:
                        self.foreign_key_check(file)
                    seconds = time.perf_counter() - started
                    ms = int(seconds * 1000)
                    with self.own_rows(file):
                        bookkeeping.record(self.conn, entry, ms=ms, rows=rows)
                        bookkeeping.clear_mark(self.conn, mark.id)
                        bookkeeping.log(self.conn, "apply", entry, ms=ms, rows=rows)
                    self.commit(file)
                except MigrationFailed as failure:
                    self.rollback_quietly()
                    committed = "all its statements stay committed"
                    self.fail_mark(mark, entry, failure, rows=rows, committed=committed)
                    raise
                except BaseException:
                    self.rollback_quietly()
                    raise
        return Outcome(migration, "applied", rows, seconds)

    @contextmanager
    def own_rows(self, file: SqlFile) -> Iterator[None]:
        """The runner's own writes for a migration: a row SQLite refused, or one a trigger
        ignored or changed (NotWritten), fails the migration; the caller rolls it back."""
        try:
            yield
        except bookkeeping.NotWritten as error:
            raise MigrationFailed(file.path, None, str(error)) from None
        except sqlite3.Error as error:
            if is_environmental(error):
                raise
            raise MigrationFailed(
                file.path, None, f"the runner could not write its own bookkeeping row: {error}"
            ) from None

    @contextmanager
    def says_dirty_if_stopped(
        self, migration: Migration, what_ran: Callable[[], str], then: str
    ) -> Iterator[None]:
        """A @no-transaction or @batch migration stopped by an error about the database file
        (locked by another process, disk full) has committed part of its work and left its
        dirty mark open: the one line says so, `what_ran()`, and what to run next."""
        try:
            yield
        except sqlite3.Error as error:
            if not is_environmental(error):
                raise
            self.rollback_quietly()
            kind = "@batch" if migration.directives.batch is not None else "@no-transaction"
            raise CannotRun(
                f"{explain(error, self.db_name(), self._timeout())}; the database is now dirty: "
                f"{migration.label} {migration.slug} ({kind}) did not finish: {what_ran()}; "
                "when no other process holds the database, run "
                f"python -m ci.migrate --db {self.db_name()} --resume ({then})"
            ) from None

    def _statements_ran(self, file: SqlFile) -> str:
        """After an error about the database file in a @no-transaction migration."""
        stopped = self._stopped_at
        if stopped is None:
            return "all its statements ran and stay committed, but it is not recorded as applied"
        return (
            f"the statements before {file.location}:{stopped.line} ran and stay committed, "
            "that one and the rest did not"
        )

    def open_or_reuse_mark(self, entry: Entry, *, resume: bool = False) -> DirtyMark | None:
        """In one transaction: None if already applied, else the open mark (new or resumed).

        An existing mark is taken over only when `resume` is asked and its holder has provably
        stopped, decided here, inside the write lock that takes it: otherwise two runners that
        both saw no holder (or the same dead one) could both start the migration.
        """
        self.begin()
        try:
            if bookkeeping.is_applied(self.conn, entry.track, entry.version):
                self.rollback_quietly()
                return None
            mark = bookkeeping.find_mark(self.conn, entry)
            if mark is None:
                mark = bookkeeping.open_mark(self.conn, entry)
            else:
                self.refuse_unless_holder_gone(mark)
                if not resume:
                    raise RunRefused(dirty_message(mark))
                label = f"{entry.version:04d}"
                self.notice(f"resuming {label} {entry.description} ({mark.rows_done} rows done)")
                bookkeeping.log(self.conn, "resume", entry, rows=mark.rows_done)
                bookkeeping.take_mark(self.conn, mark.id)
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback_quietly()
            raise
        return mark

    def refuse_unless_holder_gone(self, mark: DirtyMark) -> None:
        """CannotRun (one line) unless the process holding the mark has provably stopped."""
        state, why = mark.holder()
        if state == bookkeeping.ALIVE:
            raise CannotRun(being_applied_message(mark))
        if state != bookkeeping.GONE:
            raise CannotRun(unproven_holder_message(mark, why, self.db_name()))

    def fail_mark(
        self,
        mark: DirtyMark,
        entry: Entry,
        failure: MigrationFailed,
        *,
        committed: str,
        rows: int | None = None,
        batch: bool = False,
    ) -> None:
        """Keep the dirty mark open with the error (and the rows done, when given), log the
        failure, and say in it what stays committed (`committed`, e.g. 'the statements before
        line 3 stay committed')."""
        kind = "@batch" if batch else "@no-transaction"
        failure.left_dirty = f"{mark.label} is a {kind} migration; {committed}"
        try:
            self.begin()
            bookkeeping.update_mark(self.conn, mark.id, rows=rows, error=str(failure))
            bookkeeping.log(self.conn, "failed", entry, error=str(failure))
            self.conn.execute("COMMIT")
        except (sqlite3.Error, bookkeeping.NotWritten):
            self.rollback_quietly()

    def _log_failure(
        self, entry: Entry, failure: MigrationFailed, *, action: str = "failed"
    ) -> None:
        """Append the failure to the log in its own transaction (best effort)."""
        try:
            self.begin()
            bookkeeping.log(self.conn, action, entry, error=str(failure))
            self.conn.execute("COMMIT")
        except (sqlite3.Error, bookkeeping.NotWritten):
            self.rollback_quietly()

    def _run_file(self, file: SqlFile, *, rollback: bool = False) -> int:
        """Execute a file's statements in the current transaction (or autocommit); rows changed.

        Connection settings the file changed (RESTORED_PRAGMAS) are set back afterwards, and
        the temporary objects it created are dropped, also when a statement failed: they must
        not leak into the runner's bookkeeping or the next migration."""
        with self.temp_objects_dropped():
            return self._run_statements(file, rollback=rollback)

    def _run_statements(self, file: SqlFile, *, rollback: bool) -> int:
        before = self.conn.total_changes
        screen = self.gate.new_screen(
            no_transaction=file.directives.no_transaction, rollback=rollback
        )
        gate = self.gate
        gate.look_for_triggers()  # a trigger writing the runner's tables: every statement screened
        try:
            for statement in file.statements:
                word = leading_word(statement)
                if gate.screens(word, statement.raw):
                    self._screened(file, statement, word, screen)
                else:  # the common case: no authorizer call at all
                    self.execute_statement(file, statement, None)
        finally:
            if screen.saved:
                gate.restore(screen)
        return self.conn.total_changes - before

    @contextmanager
    def temp_objects_dropped(self) -> Iterator[None]:
        """Drop the temporary tables, views, triggers and indexes made inside the block.

        Each migration would run on a fresh connection if run on its own; in one run they
        share this one, and a temp table left behind would shadow the main table of the same
        name in the next migration (its UPDATE would change the copy), a temp trigger would
        fire in it. Objects that existed before (a --setup's) are left alone. Inside the
        migration's transaction the drops are part of it (SQLite's temp schema is
        transactional), so they commit or roll back with it."""
        kept = set(self.temp_objects())
        try:
            yield
        except BaseException:
            with suppress(sqlite3.Error):  # the migration's own error is the one to report
                self._drop_temp_objects(kept)
            raise
        self._drop_temp_objects(kept)

    def temp_objects(self) -> list[tuple[str, str]]:
        """(type, name) of every object in the temp schema, triggers first, tables last: the
        order they can be dropped in (dropping a table also drops its indexes and triggers)."""
        rows = self.conn.execute(
            "SELECT type, name FROM sqlite_temp_master "
            "WHERE type IN ('trigger', 'view', 'index', 'table') ORDER BY "
            "CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 WHEN 'index' THEN 2 ELSE 3 END"
        ).fetchall()
        return [(str(kind), str(name)) for kind, name in rows]

    def _drop_temp_objects(self, kept: set[tuple[str, str]]) -> None:
        for kind, name in self.temp_objects():
            if (kind, name) not in kept and not name.startswith("sqlite_"):
                quoted = '"' + name.replace('"', '""') + '"'
                self.conn.execute(f"DROP {kind.upper()} IF EXISTS temp.{quoted}")

    def _screened(self, file: SqlFile, statement: Statement, word: str, screen: Screen) -> None:
        """Run a statement that may be transaction control, a PRAGMA, an ATTACH or a change to
        the runner's own tables, as the gatekeeper decides from what SQLite says it is: run,
        ignored with a notice, or refused (the migration fails)."""
        screen.word = word
        screen.leading = word == "PRAGMA" and any(s is statement for s, _ in _leading(file))
        try:
            verdict = self.gate.run(screen, statement.sql, lambda: self.conn.execute(statement.sql))
        except sqlite3.Error as error:
            if is_environmental(error):
                raise
            raise MigrationFailed(file.path, statement.line, describe(error, statement)) from None
        if verdict is None:
            return
        if verdict.kind == REFUSE:
            raise MigrationFailed(file.path, statement.line, verdict.message)
        if verdict.message:
            self.notice(f"{file.location}:{statement.line}: notice: {verdict.message}")

    def execute_statement(
        self, file: SqlFile, statement: Statement, params: dict[str, int] | None
    ) -> sqlite3.Cursor:
        self._deadline = self._migration_deadline
        try:
            if params is None:
                return self.conn.execute(statement.sql)
            if self.gate.screens(leading_word(statement), statement.raw):
                return self._screened_batch(file, statement, params)
            return self.conn.execute(statement.sql, params)
        except sqlite3.Error as error:
            if is_environmental(error):
                self._stopped_at = statement  # a @no-transaction migration names it
                raise
            if str(error) == "interrupted":
                self._raise_interrupted(file, statement)
            raise MigrationFailed(file.path, statement.line, describe(error, statement)) from None
        finally:
            self._deadline = math.inf

    def _screened_batch(
        self, file: SqlFile, statement: Statement, params: dict[str, int]
    ) -> sqlite3.Cursor:
        """A @batch statement the gatekeeper must see (it names the runner's tables, or a
        trigger may write them): anything but running it fails the migration."""
        ran: list[sqlite3.Cursor] = []
        verdict = self.gate.run(
            self.gate.new_screen(),
            statement.sql,
            lambda: ran.append(self.conn.execute(statement.sql, params)),
        )
        if verdict is not None:
            raise MigrationFailed(file.path, statement.line, verdict.message or "not run")
        return ran[0]

    def start_clock(self) -> None:
        """A migration starts: with --statement-timeout, its deadline is set from now."""
        if self.statement_timeout:
            self._migration_deadline = time.monotonic() + self.statement_timeout

    @contextmanager
    def limited(self, path: Path | str, line: int | None) -> Iterator[None]:
        """The user's SQL that the runner's connection runs besides a migration's statements (a
        sample fixture, a @progress query): under the same --statement-timeout, counted from
        the last start_clock; past it, Runaway naming `path:line`."""
        self._deadline = self._migration_deadline
        try:
            yield
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
            if time.monotonic() <= self._deadline:
                raise KeyboardInterrupt from None  # Ctrl-C, swallowed by the progress handler
            raise runaway(path, line, self.statement_timeout) from None
        finally:
            self._deadline = math.inf

    def _past_deadline(self) -> bool:
        """SQLite's progress handler: True interrupts the running statement."""
        return time.monotonic() > self._deadline

    def _raise_interrupted(self, file: SqlFile, statement: Statement) -> None:
        """A statement was interrupted: by the deadline (Runaway), or by Ctrl-C, which the
        progress handler swallows (a Python callback cannot raise through SQLite)."""
        if time.monotonic() <= self._deadline:
            raise KeyboardInterrupt
        raise runaway(file.path, statement.line, self.statement_timeout) from None

    def commit(self, file: SqlFile) -> None:
        """COMMIT the migration's transaction; a deferred foreign key that is still violated
        fails it here (SQLite keeps the transaction open, so the caller rolls it back)."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.IntegrityError as error:
            self.foreign_key_check(file)  # names the rows when it can
            raise MigrationFailed(file.path, None, f"cannot commit: {error}") from None

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

    def _check_file(self, file: SqlFile, migration: Migration | None) -> None:
        problems = file_problems(file, migration)
        if problems:
            where, _, message = problems[0].removeprefix(str(file.path)).partition(": ")
            line = where.removeprefix(":")
            raise MigrationFailed(file.path, int(line) if line.isdigit() else None, message)

    def warn_if_slow(self, outcome: Outcome) -> None:
        if outcome.action == "applied" and outcome.seconds > self.warn_slow:
            self.notice(
                f"warning: {outcome.migration.label} {outcome.migration.path} took "
                f"{outcome.seconds:.1f} s (more than --warn-slow {self.warn_slow:g} s)"
            )

    def check_writable(self) -> None:
        """Fail now (CannotRun) if the database cannot be written: before a backup is taken."""
        with self.guard():
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            self.begin()
            try:
                self.conn.execute(
                    f"PRAGMA user_version = {version}"
                )  # a write that changes nothing
            finally:
                self.rollback_quietly()

    def begin(self) -> None:
        """BEGIN IMMEDIATE: take the write lock now, so two runners serialise here."""
        self.conn.execute("BEGIN IMMEDIATE")

    def rollback_quietly(self) -> None:
        if self.conn.in_transaction:
            # the transaction may already be gone (SQLite rolls back itself on some errors)
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def notice(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def guard(self) -> _Guard:
        """Turn errors about the database file (locked, read-only, ...) into CannotRun."""
        return _Guard(self)

    @contextmanager
    def _foreign_keys(self, setting: bool | None) -> Iterator[bool]:
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
        if self._foreign_keys_on is None:
            self._foreign_keys_on = bool(self.conn.execute("PRAGMA foreign_keys").fetchone()[0])
        return self._foreign_keys_on

    def _set_foreign_keys(self, on: bool) -> None:
        self._foreign_keys_on = None  # read back: SQLite ignores the pragma inside a transaction
        self.conn.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")

    def db_name(self) -> str:
        try:
            for _seq, name, file in self.conn.execute("PRAGMA database_list"):
                if name == "main":
                    return str(file) or ":memory:"
        except sqlite3.Error:
            pass
        return "database"

    def _timeout(self) -> float | None:
        try:
            return float(self.conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000
        except sqlite3.Error:
            return None


def runaway(path: Path | str, line: int | None, seconds: float | None) -> Runaway:
    """The finding for the user's SQL still running after --statement-timeout."""
    return Runaway(
        path,
        line,
        f"still running after --statement-timeout {seconds or 0:g} s; stopped (a statement "
        "that never ends, such as a recursive CTE without a stop, or one slower than the limit)",
        "make it end (a recursive CTE needs a WHERE that stops it), or raise "
        "--statement-timeout if it is only slow",
    )


@contextmanager
def time_limited(
    conn: sqlite3.Connection, seconds: float | None, path: Path | str, line: int | None
) -> Iterator[None]:
    """The user's SQL on a connection no Runner drives (an invariant a check runs on its
    database after the migrations): stopped after `seconds` (None: no limit) as a migration
    would be, with Runaway naming `path:line`. Fetch the rows inside the block."""
    if not seconds:
        yield
        return
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
    try:
        yield
    except sqlite3.OperationalError as error:
        if str(error) != "interrupted":
            raise
        if time.monotonic() <= deadline:
            raise KeyboardInterrupt from None  # Ctrl-C, swallowed by the progress handler
        raise runaway(path, line, seconds) from None
    finally:
        conn.set_progress_handler(None, 0)


# --- helpers on files ------------------------------------------------------------------------


def first_word(statement: Statement) -> str:
    """The statement's first word in upper case, after leading comments ('' if none): the
    same as `Statement.keyword`, without stripping the comments of the whole statement."""
    match = FIRST_WORD.match(statement.raw)
    return match[1].upper() if match else ""


def leading_word(statement: Statement) -> str:
    """first_word, from the keyword the split already found when that is a plain word (the
    same word then; they differ only where quotes or comments touch the first word)."""
    word = statement.keyword
    return word if word.isalpha() else first_word(statement)


def _leading(file: SqlFile) -> list[tuple[Statement, bool]]:
    """The PRAGMA foreign_keys = X statements before the first other statement of the file,
    with the setting each asks for (SQLite says what each is: any spelling, quoting, case)."""
    leading: list[tuple[Statement, bool]] = []
    for statement in file.statements:
        word = leading_word(statement)
        setting = foreign_keys_setting(word, statement.raw, statement.sql)
        if setting is None:
            break
        leading.append((statement, setting))
    return leading


def leading_foreign_keys(file: SqlFile) -> bool | None:
    """The foreign_keys setting the file asks for at its top (None: leave it as it is)."""
    leading = _leading(file)
    return leading[-1][1] if leading else None


def file_problems(file: SqlFile, migration: Migration | None) -> list[str]:
    """Why a file cannot be run, as `path[:line]: message` lines ([] when it can)."""
    try:
        statements = file.statements
        directives = file.directives
    except InputError as error:
        return [str(error)]
    # No statement (comments only, or 0 bytes) is a valid no-op: applied and recorded like any
    # other, so a numbering shared with other engines keeps no gap.
    if migration is not None and directives.no_transaction:
        refused = _savepoints(file, statements)
        if refused:
            return refused
    if migration is not None and directives.batch is not None:
        return _batch_problems(file, statements)
    return []


def rollback_problems(migration: Migration) -> list[str]:
    """Why `migration`'s rollback file cannot undo it: an empty rollback undoes only a no-op."""
    rollback = migration.rollback
    assert rollback is not None
    problems = file_problems(rollback, None)
    if problems or rollback.statements:
        return problems
    try:
        no_op = not migration.file.statements
    except InputError:
        no_op = False
    if no_op:
        return []
    return [
        f"{rollback.path}: empty rollback (no SQL statement) of {migration.label}, which "
        "changes the database; write the statements that undo it"
    ]


def _savepoints(file: SqlFile, statements: list[Statement]) -> list[str]:
    """A @no-transaction file's savepoint statements, refused before its first statement runs
    (each of its statements commits on its own: the run could not undo the ones before)."""
    return [
        f"{file.path}:{statement.line}: {NO_TRANSACTION_SAVEPOINT}"
        for statement in statements
        if leading_word(statement) in ("SAVEPOINT", "RELEASE", "ROLLBACK", "EXPLAIN")
        and (classify(statement.sql) or (0,))[0] == sqlite3.SQLITE_SAVEPOINT
    ][:1]


def _batch_problems(file: SqlFile, statements: list[Statement]) -> list[str]:
    if not statements:
        return [f"{file.path}: a @batch migration needs ONE DML statement; it has none"]
    if len(statements) != 1:
        return [
            f"{file.path}:{statements[1].line}: a @batch migration is ONE DML statement; "
            "move the others to their own migration"
        ]
    statement = statements[0]
    if ":batch_size" not in statement.code:
        return [
            f"{file.path}:{statement.line}: a @batch statement must use :batch_size "
            "(e.g. ... WHERE rowid IN (SELECT rowid FROM t WHERE ... LIMIT :batch_size))"
        ]
    if statement.keyword not in ("UPDATE", "DELETE", "INSERT", "REPLACE", "WITH"):
        return [
            f"{file.path}:{statement.line}: a @batch statement must be DML, not {statement.keyword}"
        ]
    return []


def edit_kind(row: AppliedRow, file: SqlFile) -> str:
    """How an applied file changed, as far as the recorded hashes can tell."""
    try:
        text = file.text
    except InputError:
        return "content changed; it is no longer valid UTF-8"
    if row.code_hash is None:
        return "content changed"
    if row.code_hash == code_fingerprint(text):
        return "only whitespace or comments changed"
    return "statements changed"


def out_of_order(pending: list[Migration], top: int) -> list[str]:
    """Pending main-track files numbered below the newest applied one."""
    return [
        f"{m.path}: {m.label} is not applied but {top:04d} already is; migrations apply "
        f"in order: renumber it above {top:04d}"
        for m in pending
        if m.track == "main" and m.version < top
    ]


def _committed_before(file: SqlFile, line: int | None) -> str:
    """What of a @no-transaction migration stays committed when the statement at `line` failed."""
    if line is None:
        return "all its statements stay committed"
    if sum(statement.line == line for statement in file.statements) > 1:
        # several statements start on that line: which one failed, the line cannot tell
        return f"the statements before the failing one on line {line} stay committed"
    if all(statement.line >= line for statement in file.statements):
        return "none of its statements was committed"
    return f"the statements before line {line} stay committed"


def being_applied_message(mark: DirtyMark) -> str:
    return (
        f"{mark.label} {mark.description} is being applied right now by {mark.holder_name} "
        f"(started at {mark.logged_at}); wait for it to finish"
    )


def unproven_holder_message(mark: DirtyMark, why: str, db: str | None = None) -> str:
    """A mark whose holder may still be running: only a person can tell, then --force-clean."""
    return (
        f"database is dirty: {mark.label} {mark.description} was started at "
        f"{mark.logged_at} by {mark.holder_name}, which {_unproven(why, db)}"
    )


def _unproven(why: str, db: str | None) -> str:
    command = f"python -m ci.migrate --db {db} --force-clean" if db else "with --force-clean"
    return (
        f"cannot be proven to have stopped ({why}); make sure that process is gone, then run "
        f"{command}"
    )


def dirty_message(mark: DirtyMark, db: str | None = None) -> str:
    """What to do about an open dirty mark: --resume only once its holder has provably stopped
    (while it runs, wait; when that cannot be told, a person checks and runs --force-clean)."""
    state, why = mark.holder()
    if state == bookkeeping.ALIVE:
        return being_applied_message(mark)
    error = f"; it failed with: {mark.error}" if mark.error else ""
    told = (
        f"database is dirty: {mark.label} {mark.description} started at {mark.logged_at} "
        f"and did not finish ({mark.rows_done:,} rows done){error}"
    )
    if state != bookkeeping.GONE:
        return f"{told}. It was started by {mark.holder_name}, which {_unproven(why, db)}"
    return (
        f"{told}. Run with --resume to finish it, or fix the database by hand and run with "
        "--force-clean"
    )
