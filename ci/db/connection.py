"""Opening a SQLite database the way every part of the tool does, and saying in one line what
is wrong with a database file that cannot be used (not SQLite, read-only, locked, ...).

The runner never opens a connection itself: it is handed one made here.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ci.core.errors import UsageError
from ci.db.outcomes import CannotRun
from ci.db.values import database_file

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:
    from ci.db.gate_screen import Authorizer
    from ci.db.gatekeeper import Gate


def connect(
    db: Path | str,
    *,
    setup: str | None = None,
    timeout: float = 30.0,
    durable: bool = True,
    readonly: bool = False,
    gated: bool = True,
) -> sqlite3.Connection:
    """Open a database the way every part of the tool does (autocommit; we BEGIN ourselves).

    The connection's one authorizer is its gate (ci.db.gatekeeper), with the stricter rules of a
    check on a throwaway database (durable=False); a --setup function's authorizer is kept
    and asked after the gate's rules. Raises CannotRun with one line for a file that is not
    SQLite, a missing directory, and so on.

    `gated=False` (read-only only): no gate, for a connection that only reads the database
    (--status, ci.postcheck): it runs no migration, and a gate that screens nothing installs a
    --setup function's authorizer as it is, which a plain connection does too.
    """
    path = Path(db)
    target = path.resolve().as_uri() + "?mode=ro" if readonly else str(path)
    try:
        conn = _open(target, timeout=timeout, readonly=readonly, gate=gated, check=not durable)
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


def _open(
    target: str, *, timeout: float, readonly: bool, gate: bool, check: bool
) -> sqlite3.Connection:
    if not gate:
        assert readonly, "only a read-only connection goes without a gate"
        return sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=True)
    conn = sqlite3.connect(
        target, timeout=timeout, isolation_level=None, uri=readonly, factory=GatedConnection
    )
    conn.check = check
    return conn


class GatedConnection(sqlite3.Connection):
    """A connection whose authorizer is its Gate (ci.db.gatekeeper): `set_authorizer` (a --setup
    function's) is kept and asked after the gate's rules instead of replacing them.

    The Gate is made, and its modules imported, when first asked for: by the first migration a
    run applies, before its first statement (ci.db.session). A run with nothing pending never
    asks, and saves their import (~11M instructions, 5% of a no-op start-up)."""

    check = False  # a check's throwaway database (connect(durable=False)): its stricter rules
    _gate: Gate | None = None
    _user: Authorizer | None = None  # a --setup function's authorizer, before there is a Gate

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            from ci.db.gatekeeper import Gate

            gate = Gate(self, check=self.check)
            gate.user = self._user  # already installed as the connection's authorizer
            self._gate = gate
        return self._gate

    def set_authorizer(self, authorizer_callback: Authorizer | None) -> None:
        if self._gate is not None:
            self._gate.keep_user_authorizer(authorizer_callback)
            return
        # what Gate.keep_user_authorizer does while the gate screens nothing: the user's own
        self._user = authorizer_callback
        sqlite3.Connection.set_authorizer(self, authorizer_callback)


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
        return connect(db, setup=setup, timeout=timeout, readonly=True, gated=False)
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


def database_name(conn: sqlite3.Connection) -> str:
    """database_file, or 'database' when even that cannot be read (in a message about an
    error, which must not fail itself)."""
    try:
        return database_file(conn)
    except sqlite3.Error:
        return "database"


def busy_timeout(conn: sqlite3.Connection) -> float | None:
    """The connection's busy timeout in seconds (None when it cannot be read)."""
    try:
        return float(conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000
    except sqlite3.Error:
        return None
