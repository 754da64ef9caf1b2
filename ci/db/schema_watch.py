"""`SchemaWatch`: the schema changes of each migration run on a connection, each attributed to
the statement responsible (ci.db.schema_changes classifies them).

Cheap by construction. A file without CREATE, ALTER, DROP or PRAGMA statements cannot reshape
anything: it runs with no callback at all. For the others, SQLite's authorizer (called while each
statement is compiled) names the tables and views a statement creates, drops or alters, and the
trace callback (called when a statement starts) says which statement those calls belonged to: the
runner executes the file's statements in order, so the n-th traced text equal to the next
statement's is that statement. Under the runner, both are installed only while the file's own
statements run (ci.db.statements opens the watch's window), not for the runner's BEGIN,
bookkeeping and COMMIT. Only the groups named are read again, schema only (no rows),
by rowid (ci.db.schema_shapes.SchemaRows).
A rename (`sqlite_rename_table`) may rewrite other objects' SQL: then every group is compared.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from ci.core.model import SqlFile
from ci.core.sqltext import LazyPattern, Statement
from ci.db.gatekeeper import Gate, gate_of
from ci.db.schema_additive import MAY_RESHAPE, additive, altered_tables, vacuums
from ci.db.schema_changes import Change, classify, needs_reading, only_harmless_additions
from ci.db.schema_dangling import dangling, gone_names, merged
from ci.db.schema_refill import copied_in, replaced, rows_key
from ci.db.schema_shapes import Objects, SchemaRows, Shape, fold, read_apart, read_now
from ci.db.schema_trace import Position, Window, next_statement

_NAMED_BY_ARG1 = frozenset(
    {
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,  # a virtual table (FTS5, R*Tree): arg2 is its module
        sqlite3.SQLITE_DROP_VTABLE,
    }
)
_NAMED_BY_ARG2 = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TRIGGER,
    }
)
_GONE = frozenset({"dropped", "renamed"})  # the names ci.db.schema_refill.replaced reports
_DROPS = frozenset({sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_VTABLE})
_INSERT = sqlite3.SQLITE_INSERT  # globals: the authorizer runs for every name compiled
_READ = sqlite3.SQLITE_READ
_UPDATE = sqlite3.SQLITE_UPDATE
_FUNCTION = sqlite3.SQLITE_FUNCTION
_PRAGMA = sqlite3.SQLITE_PRAGMA
_ALTER_TABLE = sqlite3.SQLITE_ALTER_TABLE
_CREATE_TEMP_TABLE = sqlite3.SQLITE_CREATE_TEMP_TABLE
_CREATES = {
    sqlite3.SQLITE_CREATE_TABLE: "created",
    sqlite3.SQLITE_CREATE_VTABLE: "virtual",
}
_OBJECT_KIND = {
    sqlite3.SQLITE_CREATE_INDEX: "index",
    sqlite3.SQLITE_DROP_INDEX: "index",
    sqlite3.SQLITE_CREATE_TRIGGER: "trigger",
    sqlite3.SQLITE_DROP_TRIGGER: "trigger",
}
_BROAD_FUNCTIONS = frozenset({"sqlite_rename_table", "sqlite_rename_column"})
_STRING = LazyPattern(r"'(?:[^']|'')*'")
_COLUMN_ALTER = LazyPattern(
    r"ALTER\s+TABLE\s+.+?\s+(?:ADD|DROP|RENAME)\s+(?!TO\b)", re.IGNORECASE | re.DOTALL
)
_RENAME_TO = LazyPattern(
    r"\bRENAME\s+TO\s+(\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|[\w$]+)", re.IGNORECASE
)


class Seen:
    """What one migration's statements changed, in order: (statement, names). A name is
    ("table", group) for a table or view the statement created, dropped or altered,
    ("group", group) for one whose index or trigger it changed, and ("index", name) /
    ("trigger", name) for that index or trigger; for ci.db.schema_refill, ("dropped", t),
    ("created", t), ("virtual", t), ("renamed", old) with ("renamed to", new), ("inserted", t)
    and ("read", t) (a TEMP table's name as "temp.t")."""

    def __init__(self, file: SqlFile | None) -> None:
        self.file = file
        self.steps: list[tuple[Statement, set[tuple[str, str]]]] = []
        self.broad = False
        self.renames: list[Statement] = []  # the statements that may rewrite other objects

    def responsible(self, change: Change) -> Statement | None:
        """The last statement that named what changed: the index or trigger itself, else its
        table (reshaped, else any of its objects changed)."""
        wanted = [("table", change.group), ("group", change.group)]
        if change.part is not None and change.part.startswith("column "):
            found = self._naming_column(change.group, change.part[7:])
            if found is None:  # a rebuild: not an ALTER of another column (nor its noqa)
                found = self._reshaping_whole(change.group)
            if found is not None:
                return found
        elif change.part is not None:
            kind, _, name = change.part.partition(" ")
            wanted.insert(0, (kind, name))
        for key in wanted:
            found = next((s for s, names in reversed(self.steps) if key in names), None)
            if found is not None:
                return found
        return self._renaming(change)

    def _renaming(self, change: Change) -> Statement | None:
        """For an object no statement named (a foreign key or trigger a RENAME rewrote): the
        last rename to the table the change names, else the last rename."""
        for statement in reversed(self.renames):
            if any(f" {name}" in change.detail for _, name in _renamed_to(statement)):
                return statement
        return self.renames[-1] if self.renames else None

    def _naming_column(self, group: str, column: str) -> Statement | None:
        """The last statement reshaping `group` whose code names `column` (ADD COLUMN x):
        comments and string literals left out, where a word is no column's name."""
        word = re.compile(rf"(?<![\w$]){re.escape(column)}(?![\w$])", re.IGNORECASE)
        for statement, names in reversed(self.steps):
            if ("table", group) not in names or not word.search(statement.raw):
                continue  # the raw text first: most statements do not name it at all
            if word.search(_STRING.sub("''", statement.code)):
                return statement
        return None

    def _reshaping_whole(self, group: str) -> Statement | None:
        """The last statement reshaping `group` other than an ALTER of one named column."""
        for statement, names in reversed(self.steps):
            if ("table", group) in names and not _COLUMN_ALTER.match(statement.code):
                return statement
        return None

    def dropped(self) -> bool:
        """Whether a statement dropped or renamed away a table (maybe to create it again)."""
        return any(k in _GONE for _, names in self.steps for k, _ in names)

    def replaced(self) -> dict[str, bool]:
        """The tables dropped or renamed away: whether their rows are back (schema_refill)."""
        if not self.dropped():
            return {}  # nothing went away (most migrations): nothing to replay
        return replaced(self.steps)

    @property
    def groups(self) -> set[str]:
        """The groups reshaped or with an index or trigger changed."""
        return {n for _, names in self.steps for k, n in names if k in ("table", "group")}


class SchemaWatch:
    """The schema fingerprint of one connection, moved on by each migration watched.

    ```
    watch = SchemaWatch(conn)
    with watch.watching(migration.file) as seen:
        runner.apply(migration)
    changes = watch.changes(seen)
    ```
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._shapes: dict[Objects, Shape] = {}
        self._rows = SchemaRows(conn)
        self.groups = self._rows.shapes(None, self._shapes)
        # the tables altered by the additive files not watched since the last read (None: none)
        self._behind: set[str] | None = None

    def watching(
        self, file: SqlFile, *, by_runner: bool = False, risky_only: bool = False
    ) -> Watching:
        """Record, per statement of `file`, the groups it reshapes while the block runs
        (`with watch.watching(file) as seen: ...`).

        `by_runner`: the block applies the file with the runner (ci.db.statements), which
        opens the watch around the file's own statements only. `risky_only`: only changes
        with a finding code will be asked for; a file that can only add to the schema
        (ci.db.schema_additive) has none, and is neither followed nor read after."""
        followed = not (risky_only and additive(file))
        if not followed:
            self._behind = altered_tables(file) | (self._behind or set())
        elif self._behind is not None:
            self._catch_up()
        if vacuums(file):  # after the catch-up: the refresh after the file reads every row
            self._rows.renumbered()
        return Watching(self.conn, file, by_runner=by_runner, followed=followed)

    def _catch_up(self) -> None:
        """Before a watched file: read what the additive files run since changed (the tables
        they altered, the rows they added), the schema the next changes are compared with."""
        names, self._behind = self._behind or set(), None
        read = self._rows.refresh(names)
        fresh = self._rows.shapes(read, self._shapes)
        for name in read:
            if name in fresh:
                self.groups[name] = fresh[name]
            else:
                self.groups.pop(name, None)

    def changes(self, seen: Seen, *, risky_only: bool = False) -> list[Change]:
        """The schema changes since the last call, each with its statement's line
        (`risky_only`: only those with a finding code, the others neither attributed nor
        returned: a run without a changelog needs no line for them)."""
        if seen.file is None or not (seen.steps or seen.broad):
            return []
        names = None if seen.broad else seen.groups
        self._rows.refresh(names)
        fresh = self._rows.shapes(names, self._shapes)
        if names is None:
            before, after = self.groups, fresh
        else:
            # only the groups named differ: `before` holds just those (all classify and
            # needs_reading look at), `after` is the whole schema, updated in place
            after = self.groups
            before = {name: after[name] for name in names if name in after}
            for name in names:
                if name in fresh:
                    after[name] = fresh[name]
                else:
                    after.pop(name, None)
            if risky_only and not before:
                return []  # only new groups: each change is a creation, none is risky
            if risky_only and not seen.dropped() and only_harmless_additions(before, after):
                return []  # an index or a trigger added (most DDL on existing tables)
        # columns, indexes and keys only where the comparison needs them: the schema after
        # is the database's now; the one before is rebuilt apart from its SQL (rare: a table
        # rebuild, DROP or RENAME COLUMN of a table whose shape was never needed before)
        replaced = seen.replaced()
        old_side, new_side = needs_reading(before, after, names)
        new_side |= {k for k in replaced if k in after and k in before}  # "rebuilt (columns: )"
        for key in new_side:
            after[key] = read_now(self.conn, after[key], self._shapes)
        for key in old_side:
            before[key] = read_apart(before[key], self._shapes)
        copied = None if seen.broad else copied_in(seen.file)
        changes = classify(before, after, names, copied, replaced)
        # a group not named may be gone only after a rename (names None): the common path
        # looks at the groups the migration named, not at the whole schema
        gone = gone_names(after, names if names is not None else (*before, *seen.groups))
        if gone:  # SQLite compiles what still uses them: only after a drop (or rename away)
            changes = merged(changes, dangling(self.conn, before, after, gone))
        self.groups = after
        if risky_only:
            changes = [change for change in changes if change.code is not None]
        attributed = [_attributed(change, seen) for change in changes]
        return sorted(attributed, key=lambda c: c.line or 0)


class Watching:
    """SchemaWatch.watching(): a plain context manager, not @contextmanager (entered once per
    migration). Its `seen` is known from the start: the callbacks fill it as the file runs."""

    __slots__ = ("gate", "repeated", "seen", "window")

    def __init__(
        self, conn: sqlite3.Connection, file: SqlFile, *, by_runner: bool, followed: bool = True
    ) -> None:
        self.window: Window | None = None
        self.gate: Gate | None = None
        if not followed or not any(s.keyword in MAY_RESHAPE for s in file.statements):
            self.seen = Seen(None)
            return
        self.seen, self.window, self.repeated = _watched(conn, file)
        if by_runner and not file.directives.batch:  # ci.db.batch runs its statements itself
            # only while the file's own statements run (ci.db.statements opens the window):
            # the runner's BEGIN, COMMIT and bookkeeping around them are never a statement
            # of the file, and were a third of the callbacks (and three quarters of the traces)
            self.gate = gate_of(conn)

    def __enter__(self) -> Seen:
        window = self.window
        if window is not None:
            if self.gate is not None:
                self.gate.statements_watch = window
            else:
                window.__enter__()
        return self.seen

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        window = self.window
        if window is None:
            return
        if self.gate is not None:
            self.gate.statements_watch = None
        else:
            window.__exit__(kind, error, trace)
        if error is None:
            self.repeated()


def _watched(conn: sqlite3.Connection, file: SqlFile) -> tuple[Seen, Window, Callable[[], None]]:
    """The Seen of `file`, the window whose callbacks fill it, and the call that files the
    names compiled after a repeated text once the file has run."""
    seen = Seen(file)
    statements = file.statements
    pending: set[tuple[str, str]] = set()
    broad: list[bool] = []
    position = Position()

    def authorize(
        action: int, arg1: str | None, arg2: str | None, db: str | None, _: object
    ) -> int:
        # the commonest actions first (the writes to sqlite_master a DDL statement makes),
        # constants as module globals: it runs for every name any statement compiles
        if action == _UPDATE:
            pass  # nothing to learn: a DDL statement rewriting sqlite_master's rows
        elif action == _READ:  # where rows put back come from (ci.db.schema_refill)
            if arg1 and db and not arg1.startswith("sqlite_"):
                pending.add(("read", rows_key(arg1, db)))
        elif action == _INSERT:  # rows put back into a table dropped before
            if arg1 and db and not arg1.startswith("sqlite_"):  # not the schema's
                pending.add(("inserted", rows_key(arg1, db)))
        elif action == _FUNCTION:  # a rename, which rewrites other objects' SQL
            if arg2 in _BROAD_FUNCTIONS:
                broad.append(True)
        elif action in _NAMED_BY_ARG1:
            if arg1 and db == "main":
                pending.add(("table", fold(arg1)))
                if action in _DROPS:
                    pending.add(("dropped", fold(arg1)))
                elif action in _CREATES:
                    pending.add(("created", fold(arg1)))
                    pending.add((_CREATES[action], fold(arg1)))
        elif action == _CREATE_TEMP_TABLE:  # a copy kept for the rebuild
            if arg1:
                pending.add(("created", rows_key(arg1, "temp")))
        elif action in _NAMED_BY_ARG2:  # arg1: the index or trigger, arg2: its table
            if arg2 and db == "main":
                pending.add(("group", fold(arg2)))
                if arg1:
                    pending.add((_OBJECT_KIND[action], fold(arg1)))
        elif action == _ALTER_TABLE:
            if arg2 and arg1 == "main":
                pending.add(("table", fold(arg2)))
        elif action == _PRAGMA and (arg1 or "").lower() == "writable_schema":
            broad.append(True)  # a writable_schema edit may change anything
        position.compiled = True
        return sqlite3.SQLITE_OK

    def repeated() -> None:
        """Names compiled after a repeated text's trace: maybe its statement's (a blame
        on the next statement too, if it named them, is later and wins)."""
        if position.repeat is not None and pending:
            seen.steps.append((position.repeat, set(pending)))
        position.repeat = None

    def trace(text: str) -> None:
        repeated()
        statement = next_statement(statements, text, position)
        if statement is not None:
            names = set(pending)
            if broad:
                seen.broad = True
                seen.renames.append(statement)
                names |= _moved(names, _renamed_to(statement))
            if names:
                seen.steps.append((statement, names))
        pending.clear()
        broad.clear()
        position.compiled = False

    def ended() -> None:
        """The file's last statement has run: what is compiled from here on is the
        runner's (as its next own statement's trace said when the watch covered it)."""
        repeated()
        pending.clear()
        broad.clear()
        position.compiled = False

    return seen, Window(conn, authorize, trace, ended), repeated


def _attributed(change: Change, seen: Seen) -> Change:
    statement = seen.responsible(change)
    if statement is None:
        return change
    return change._replace(line=statement.line, offset=statement.offset)


def _moved(names: set[tuple[str, str]], to: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """A RENAME TO's names: the table "renamed" away, and the name it is "renamed to"."""
    if not to:
        return to
    gone = {("renamed", n) for k, n in names if k == "table"}
    return to | gone | {("renamed to", n) for _, n in to}


def _renamed_to(statement: Statement) -> set[tuple[str, str]]:
    """The new name of `ALTER TABLE x RENAME TO y` (its authorizer calls name only x)."""
    match = _RENAME_TO.search(statement.code)
    if match is None:
        return set()
    name = match[1]
    if name[0] in '"`[':
        name = name[1:-1].replace('""', '"')
    return {("table", fold(name))}
