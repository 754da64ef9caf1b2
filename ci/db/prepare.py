"""Bringing the runner's own tables to the current shape before a run records anything: create
them in a new database, or upgrade an older `schema_version` in place (ci.db.upgrade, imported
only then: a run on a current database never needs it, a new one only creates).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from ci.db import bookkeeping
from ci.db.connection import is_environmental
from ci.db.outcomes import RunRefused
from ci.db.session import Session
from ci.db.tables import CREATE_INDEX, CREATE_LOG, CREATE_TABLE, LOG_TABLE, TABLE, UpgradeRefused


def prepare_tables(session: Session, kinds: Mapping[int, str]) -> str:
    """create_or_upgrade in a transaction of its own on the runner's connection; a table the
    upgrade cannot keep, or that SQLite refuses, stops the run (RunRefused, nothing changed)."""
    with session.guard():
        session.begin()
        try:
            done = _refused_in_one_line(session, kinds)
            session.conn.execute("COMMIT")
        except BaseException:
            session.rollback_quietly()
            raise
    if done == "upgraded":
        session.notice("upgraded the existing schema_version table in place (every row kept)")
    return done


def _refused_in_one_line(session: Session, kinds: Mapping[int, str]) -> str:
    db = session.db_name()
    try:
        return create_or_upgrade(session.conn, kinds)
    except sqlite3.IntegrityError as error:
        raise RunRefused(
            f"cannot upgrade the existing schema_version table: {error} "
            "(two rows for the same version?)"
        ) from None
    except UpgradeRefused as error:
        raise RunRefused(
            f"{db}: cannot upgrade the existing schema_version table: {error}; "
            "nothing was changed (change that by hand first)"
        ) from None
    except sqlite3.Error as error:
        if is_environmental(error):
            raise
        raise RunRefused(
            f"{db}: cannot upgrade the existing schema_version table: {error}; nothing was changed"
        ) from None


def create_or_upgrade(conn: sqlite3.Connection, kinds: Mapping[int, str]) -> str:
    """Bring the tables to the current shape inside the caller's transaction.

    Returns what was done: 'none', 'created' or 'upgraded' (an older `schema_version`, e.g. the
    seed document's `version INTEGER PRIMARY KEY`, rebuilt keeping every row and column;
    `kinds` maps main-track versions to 'schema'/'data' for rows that do not say).
    """
    found = bookkeeping.state(conn)
    if found == "current":
        return "none"
    _refuse_a_foreign_log(conn)
    _refuse_foreign_keys_from_ours(conn)
    conn.execute(CREATE_LOG)
    if found == "legacy":
        from ci.db.upgrade import upgrade  # once in a database's life

        upgrade(conn, kinds)
        bookkeeping.log(conn, "upgrade", None)
        return "upgraded"
    if not bookkeeping.columns(conn, TABLE):
        conn.execute(CREATE_TABLE.format(extra=""))
        conn.execute(CREATE_INDEX)
    return "created"


def _refuse_a_foreign_log(conn: sqlite3.Connection) -> None:
    """Before anything is created or rebuilt."""
    have = bookkeeping.columns(conn, LOG_TABLE)
    if have and not bookkeeping.is_our_log(have):
        raise UpgradeRefused(bookkeeping.foreign_log(have))


def _refuse_foreign_keys_from_ours(conn: sqlite3.Connection) -> None:
    """Before an existing schema_version or schema_version_log is adopted (upgraded or kept):
    a foreign key from it to a table of the application lets a migration's change to that
    table delete or change the runner's rows (ON DELETE CASCADE, SET NULL) or fail the runner's
    own writes, without the migration naming the runner's tables."""
    for table in (TABLE, LOG_TABLE):
        for row in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,)):
            _id, _seq, parent, column, to, _on_update, on_delete = row[:7]
            target = f"{parent}({to})" if to else str(parent)
            raise UpgradeRefused(
                f"table {table}: column {column} refers to {target} by a foreign key "
                f"(ON DELETE {on_delete}): a change to {parent} would change or delete the "
                f"runner's rows; rebuild {table} without it"
            )
