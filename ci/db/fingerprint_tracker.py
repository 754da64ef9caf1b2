"""`Tracker` keeps the fingerprint of one connection current while migrations run on it.

Reading every table after every migration would cost O(tables) per step and O(N^2) over a run, so
SQLite's authorizer, which is called while each statement is compiled (trigger bodies and
foreign-key actions included), reports which tables a step writes and which objects it creates,
drops or alters; only those groups are read again. Setting an authorizer expires every prepared
statement, so statements the driver has cached are compiled, and reported, again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from ci.db.fingerprint_data import with_data
from ci.db.fingerprint_records import HEADER_PRAGMAS, Fingerprint, TablePrint
from ci.db.fingerprint_schema import (
    EXCLUDED_GROUPS,
    MASTER_TABLES,
    Rows,
    read_groups,
    read_header,
    read_statistics,
)
from ci.db.gatekeeper import gate_of

_IGNORED = MASTER_TABLES | EXCLUDED_GROUPS

_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_NAMED_BY_ARG1 = {
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_CREATE_VTABLE,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_DROP_VTABLE,
}
_NAMED_BY_ARG2 = {
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_TRIGGER,
}
_WRITE, _ARG1, _ARG2, _ALTER, _MAYBE_BROAD, _ANALYZE = range(6)
# what the Tracker's authorizer does with each action code (one dict look-up per call)
_AUTHORIZER_KINDS = {
    **dict.fromkeys(_WRITES, _WRITE),
    **dict.fromkeys(_NAMED_BY_ARG1, _ARG1),
    **dict.fromkeys(_NAMED_BY_ARG2, _ARG2),
    sqlite3.SQLITE_ALTER_TABLE: _ALTER,
    sqlite3.SQLITE_FUNCTION: _MAYBE_BROAD,
    sqlite3.SQLITE_PRAGMA: _MAYBE_BROAD,
    sqlite3.SQLITE_ANALYZE: _ANALYZE,
}
# pragmas that run ANALYZE
_ANALYZE_PRAGMAS = frozenset({"optimize"})
SEQUENCE = "sqlite_sequence"
# ALTER TABLE ... RENAME rewrites the SQL of other objects (views, triggers, foreign keys).
_BROAD_FUNCTIONS = frozenset({"sqlite_rename_table", "sqlite_rename_column"})


def _is_broad(action: int, arg1: str | None, arg2: str | None) -> bool:
    """Whether a step may have changed objects it does not name: re-read everything."""
    if action == sqlite3.SQLITE_FUNCTION:
        return arg2 in _BROAD_FUNCTIONS
    return action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() == "writable_schema"


class Tracker:
    """The fingerprint of one connection, kept current by reading only what each step touched.

    ```
    tracker = Tracker(conn)
    before = tracker.fingerprint
    with tracker.watch():
        runner.apply(migration)
    tracker.changed  # the groups that step may have changed
    ```
    """

    def __init__(self, conn: sqlite3.Connection, *, content: bool = True) -> None:
        self.conn = conn
        self.content = content
        self._shapes: dict[Rows, TablePrint] = {}
        self._groups = read_groups(conn, None, content=content, shapes=self._shapes)
        # read again only after a step that names one of its pragmas: no cost per step
        self._header = read_header(conn)
        # likewise after ANALYZE or a step on sqlite_stat1/4; not read without content
        self._statistics = read_statistics(conn) if content else None
        self._shared = False  # a Fingerprint handed out holds self._groups: copy before a change
        self.changed: frozenset[str] = frozenset()
        # per changed group, what the last step may have written to its rows (see `watch`)
        self.columns_written: Mapping[str, frozenset[str] | None] = {}

    @property
    def fingerprint(self) -> Fingerprint:
        """The fingerprint now, which later steps do not change."""
        self._shared = True
        return Fingerprint(self._groups, self._header, self._statistics)

    @property
    def now(self) -> Fingerprint:
        """The fingerprint now, to compare at once: the next step changes it (no copy)."""
        return Fingerprint(MappingProxyType(self._groups), self._header, self._statistics)

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Record what the statements run inside the block touch; refresh afterwards.

        `columns_written` then says, per changed group, which values of its existing rows the
        step may have changed: None for any (rows inserted or deleted, the table created,
        dropped or altered), a set of lower-case columns when it was only UPDATEd (trigger
        bodies and foreign-key actions are compiled, and reported, with the statement), an
        empty set when only an index or trigger of it was created or dropped."""
        touched: set[str] = set()  # groups with an object created, dropped or altered
        reshaped: set[str] = set()  # ... with the table or view itself created, dropped, altered
        written: set[str] = set()  # tables whose rows may have changed
        updated: dict[str, set[str]] = {}  # table: the columns an UPDATE names
        whole: set[str] = set()  # tables rows were inserted into or deleted from
        broad: list[bool] = []
        header: list[bool] = []  # a step named user_version or application_id
        analyzed: list[bool] = []  # a step ran ANALYZE
        kinds = _AUTHORIZER_KINDS

        def authorize(
            action: int, arg1: str | None, arg2: str | None, db: str | None, _: str | None
        ) -> int:
            kind = kinds.get(action)
            if kind is None:  # most calls: reading a column, SELECT, a transaction
                pass
            elif kind == _WRITE:
                if arg1 and db == "main":
                    table = arg1.lower()
                    written.add(table)
                    if action == sqlite3.SQLITE_UPDATE and arg2:
                        updated.setdefault(table, set()).add(arg2.lower())
                    else:
                        whole.add(table)
            elif kind == _ARG1:
                if arg1 and db == "main":
                    touched.add(arg1.lower())
                    reshaped.add(arg1.lower())
            elif kind == _ARG2:  # an index or trigger: arg2 is its table
                if arg2 and db == "main":
                    touched.add(arg2.lower())
            elif kind == _ALTER:
                if arg2 and arg1 == "main":  # arg1 is the database; the 5th argument a column
                    touched.add(arg2.lower())
                    reshaped.add(arg2.lower())
            elif kind == _ANALYZE:
                analyzed.append(True)
            elif _is_broad(action, arg1, arg2):
                broad.append(True)
            elif action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in HEADER_PRAGMAS:
                header.append(True)
            elif action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _ANALYZE_PRAGMAS:
                analyzed.append(True)
            return sqlite3.SQLITE_OK

        try:
            with gate_of(self.conn).observing(authorize):  # the connection's one authorizer
                yield
        finally:
            if header or broad:
                self._header = read_header(self.conn)
            if self.content and (analyzed or broad or _on_statistics(touched | written)):
                self._statistics = read_statistics(self.conn)
            if broad:
                self._refresh_all()
            else:
                self._refresh(touched, reshaped, written)
            self.columns_written = _columns_written(
                self.changed, updated, whole | reshaped, bool(broad)
            )

    def _refresh_all(self) -> None:
        fresh = read_groups(self.conn, None, content=self.content, shapes=self._shapes)
        keys = set(fresh) | set(self._groups)
        self.changed = frozenset(k for k in keys if fresh.get(k) != self._groups.get(k))
        self._groups, self._shared = fresh, False

    def _refresh(self, touched: set[str], reshaped: set[str], written: set[str]) -> None:
        touched -= _IGNORED
        written -= _IGNORED
        if SEQUENCE in written:  # the step set AUTOINCREMENT counters itself: read them again
            written |= {k for k, g in self._groups.items() if g.sequence is not None}
        self.changed = frozenset(touched | written)
        if not self.changed:
            return
        if self._shared:
            self._groups, self._shared = dict(self._groups), False
        groups = self._groups
        # a table only written to keeps its shape: read its rows again, not its schema
        touched |= {key for key in written if key not in groups}
        # only an index or trigger created or dropped, no row written: the rows stay as they were
        same_rows = touched - reshaped - written
        shapes = read_groups(self.conn, touched, content=None, shapes=self._shapes)
        for key in touched:
            shape = shapes.get(key)
            if shape is None:
                groups.pop(key, None)
                continue
            old = groups.get(key) if key in same_rows else None
            if old is not None and old.columns == shape.columns and old.name == shape.name:
                groups[key] = TablePrint(*shape[:5], *old[5:])
            else:
                groups[key] = with_data(self.conn, shape, self.content)
        for key in written - touched:
            groups[key] = with_data(self.conn, groups[key], self.content)


def _columns_written(
    changed: frozenset[str], updated: dict[str, set[str]], whole: set[str], broad: bool
) -> dict[str, frozenset[str] | None]:
    """Tracker.columns_written of one step (`whole`: the rows or the shape changed)."""
    return {
        key: None if broad or key in whole else frozenset(updated.get(key, ())) for key in changed
    }


def _on_statistics(names: set[str]) -> bool:
    """Whether a step wrote, created or dropped sqlite_stat1/4 (dropping a table or index
    deletes its statistics)."""
    return any(name.startswith("sqlite_stat") for name in names)
