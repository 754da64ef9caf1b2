"""VACUUM under the gatekeeper: which VACUUM a statement is, and the ATTACH a plain VACUUM makes.

SQLite runs VACUUM by attaching a copy ('': a temporary file of SQLite's, deleted when done;
VACUUM INTO: the file named), opening a transaction on it and copying every table into it,
with statements of its own that SQLite's authorizer reports like a migration's. Which VACUUM a
statement is comes from the program SQLite compiles for it (ci.db.gate_classify.vacuum_into),
never from its text; the rules then decide only where the copy goes (ci.db.gate_rules).
"""

from __future__ import annotations

import sqlite3

from ci.db.gate_classify import vacuum_into
from ci.db.gate_screen import ScreenState

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a start-up
if TYPE_CHECKING:
    from collections.abc import Callable

_ATTACHED = getattr(sqlite3, "SQLITE_LIMIT_ATTACHED", 7)


def vacuum_screened(conn: sqlite3.Connection, screen: ScreenState, sql: str) -> Callable[[], None]:
    """Note in `screen` which VACUUM `sql` is (None: none), and let a plain VACUUM attach its
    temporary copy on a connection that allows no ATTACH (a check's, a dry run's:
    ci.db.connection.forbid_attach) while it runs; returns the call that forbids it again."""
    screen.vacuum = vacuum_into(sql) if screen.word == "VACUUM" else None
    setlimit = getattr(conn, "setlimit", None)  # Python 3.10 has none: nothing is forbidden
    if screen.vacuum is not False or setlimit is None or setlimit(_ATTACHED, -1) > 0:
        return _unchanged  # a negative limit only reads it
    setlimit(_ATTACHED, 1)
    return lambda: setlimit(_ATTACHED, 0)


def _unchanged() -> None:
    return None
