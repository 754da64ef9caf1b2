"""How ci.db.schema_watch follows a file's statements as they run: which statement a trace
callback reports (`next_statement`), and the window in which the watch's callbacks are
installed (`Window`, `observing`).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from ci.core.sqltext import Statement
from ci.db.gatekeeper import gate_of


class Position:
    """Where the run is in a file: the index of the next statement, and where each text is."""

    def __init__(self) -> None:
        self.next = 0
        self.last: str | None = None
        self.compiled = False  # the authorizer was called since the last trace
        self.repeat: Statement | None = None  # a cached statement that may be compiled again
        self.indexes: dict[str, list[int]] | None = None  # made at the first gap only


def next_statement(statements: list[Statement], text: str, at: Position) -> Statement | None:
    """The statement of the file whose run the trace callback reports (None: one of the
    runner's own, or a trigger program of the last statement, reported with its text again).

    Usually the next one; a statement the runner did not run (a BEGIN it ignores) is skipped
    by finding the text at or after the next index. The same text again with no compilation
    since is a trigger program, or the next statement of that text run from Python's
    statement cache: that one is compiled again after its trace when the schema changed (a
    DROP TABLE after an identical one that dropped a TEMP twin), so it is kept as `at.repeat`
    for the names the authorizer gives next."""
    index = _index_of(statements, text, at)
    if text == at.last and not at.compiled:
        at.repeat = None if index is None else statements[index]
        return None
    if index is None:
        return None
    at.next, at.last = index + 1, text
    return statements[index]


def _index_of(statements: list[Statement], text: str, at: Position) -> int | None:
    index = at.next
    if index >= len(statements) or text != statements[index].sql:
        if at.indexes is None:
            at.indexes = {}
            for i, s in enumerate(statements):
                at.indexes.setdefault(s.sql, []).append(i)
        later = at.indexes.get(text, [])
        found = bisect_left(later, index)
        if found == len(later):
            return None
        index = later[found]
    return index


class Window:
    """The watch's authorizer and trace callback installed while the block runs; on leaving,
    `ended` is told that the file's last statement has run."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        authorize: object,
        trace: Callable[[str], None],
        ended: Callable[[], None],
    ) -> None:
        self.conn, self.authorize, self.trace, self.ended = conn, authorize, trace, ended
        self._observing: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        self.conn.set_trace_callback(self.trace)
        gate = gate_of(self.conn)
        # the common case (no other observer): the gate's own, not a second generator
        self._observing = (
            gate.observing(self.authorize)  # type: ignore[arg-type]
            if gate.observer is None
            else observing(self.conn, self.authorize)
        )
        self._observing.__enter__()

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        observed, self._observing = self._observing, None
        try:
            if error is None:
                self.ended()
        finally:
            self.conn.set_trace_callback(None)
            if observed is not None:
                observed.__exit__(None, None, None)


@contextmanager
def observing(conn: sqlite3.Connection, observer: object) -> Iterator[None]:
    """The gate's observing(observer); when another observer (a fingerprint Tracker) is watching
    already, both are told (the gate has one observer slot)."""
    gate = gate_of(conn)
    previous = gate.observer
    if previous is None:
        with gate.observing(observer):  # type: ignore[arg-type]
            yield
        return

    def both(
        action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        previous(action, arg1, arg2, db, src)
        return observer(action, arg1, arg2, db, src)  # type: ignore[operator, no-any-return]

    gate.observer = both
    try:
        yield
    finally:
        gate.observer = previous
