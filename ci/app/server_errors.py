"""A PostgreSQL error that reached the top of a command: one line when it is the server's or
the machine's doing, not ours (a statement cancelled by another session, the server shut down
or out of space or connections, the connection lost), as a damaged SQLite file is. Anything
else psycopg raises (a query of ours the server cannot parse) is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys


def server_stopped(error: BaseException) -> str | None:
    """The line for `error` when the server stopped the work; None when it is not that."""
    psycopg = sys.modules.get("psycopg")  # not imported by a SQLite run: nothing to match
    if psycopg is None or not isinstance(error, psycopg.OperationalError):
        return None
    said = " ".join(str(error).split()) or type(error).__name__
    return f"PostgreSQL server: {said}; the work stopped before it finished: run it again"
