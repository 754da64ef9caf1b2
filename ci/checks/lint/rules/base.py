"""What every migration safety rule shares: the file it looks at, what it reports, its test cases.

A rule is a unit (one module, one `RULE`): a stable code, a one-line rationale, a docstring with an
anti-pattern and a best-practice example, a `check(ctx)` that yields `Hit`s, and `CASES` (failing,
passing and silenced SQL) that the test suite runs. Rules look at the runner's own statement
split (`ci.core.sqltext`), not at sqlfluff's parse tree: a statement sqlfluff cannot parse hides
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

from ci.core.model import Directives
from ci.core.sqltext import Statement

# A table or column name as SQLite accepts it: bare, "quoted", `quoted` or [quoted].
NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
QUALIFIED = rf"(?:{NAME}\s*\.\s*)?({NAME})"
DML_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
DDL_VERBS = ("CREATE", "ALTER", "DROP")

_STRING = re.compile(r"'(?:[^']|'')*(?:'|\Z)")
_WORD_OR_PAREN = re.compile(r"[\w$]+|[()]")

DEFAULT_MIN_SQLITE = (3, 35, 0)


# Rules search ~10 patterns per statement: re.search's own cache lookup cost more than the search
# on a 50 MB migration (650,000 statements).
_compiled = cache(re.compile)


def name_of(token: str) -> str:
    """A SQL name without its quotes, lower case: how SQLite compares table names."""
    if token[:1] in ('"', "`", "[") and len(token) >= 2:
        token = token[1:-1]
    return token.replace('""', '"').lower()


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class Sql:
    """One statement as rules see it: comments removed, strings blanked, whitespace folded."""

    statement: Statement
    index: int

    @cached_property
    def code(self) -> str:
        """Upper-cased statement text with every string literal replaced by ''."""
        return _STRING.sub("''", self.statement.code).upper()

    @property
    def keyword(self) -> str:
        return self.statement.keyword

    @property
    def line(self) -> int:
        return self.statement.line

    @cached_property
    def top_words(self) -> list[str]:
        """The words outside any parentheses, in order: the statement's own clauses."""
        depth, words = 0, []
        for token in _WORD_OR_PAREN.findall(self.code):
            if token == "(":
                depth += 1
            elif token == ")":
                depth = max(depth - 1, 0)
            elif depth == 0:
                words.append(token)
        return words

    @cached_property
    def verb(self) -> str:
        """What the statement does: its keyword, or for `WITH ...` the verb after the CTEs."""
        if self.keyword != "WITH":
            return self.keyword
        return next((w for w in self.top_words[1:] if w in (*DML_VERBS, "SELECT")), "WITH")

    def match(self, pattern: str) -> re.Match[str] | None:
        """`pattern` (upper case, regex) searched in the statement's code."""
        return _compiled(pattern).search(self.code)

    def after_verb(self) -> list[str]:
        words = self.top_words
        return words[words.index(self.verb) + 1 :] if self.verb in words else words


@dataclass(frozen=True)
class FileContext:
    """One migration file as the rules see it."""

    path: Path
    folder: str  # "schema", "data", "seed" or "rollback" (flat files count as "schema")
    text: str
    statements: tuple[Statement, ...]
    directives: Directives
    min_sqlite: tuple[int, int, int] = DEFAULT_MIN_SQLITE

    @cached_property
    def sql(self) -> list[Sql]:
        return [Sql(statement, index) for index, statement in enumerate(self.statements)]

    @cached_property
    def created_tables(self) -> dict[str, int]:
        """Tables created in this file: name -> index of the CREATE TABLE statement."""
        found: dict[str, int] = {}
        for sql in self.sql:
            match = sql.match(
                rf"^CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{QUALIFIED}"
            )
            if match:
                found.setdefault(name_of(match[1]), sql.index)
        return found

    @cached_property
    def rebuilds(self) -> list[Rebuild]:
        """The table rebuilds in this file, in every common shape: SQLite's own (CREATE new;
        INSERT INTO new SELECT ... FROM t; DROP t; ALTER new RENAME TO t), the old table
        renamed first (ALTER t RENAME TO old_t; CREATE t; INSERT INTO t SELECT ... FROM old_t;
        DROP old_t), rows copied out and back, and CREATE TABLE new AS SELECT."""
        return self._lineage.rebuilds

    @cached_property
    def kept_drops(self) -> frozenset[int]:
        """Indexes of the DROP TABLE statements whose rows survive: every row the dropped table
        held (its own, or rows copied into it from a table older than this file) was copied,
        before the drop, into the table that has that older table's name at the end of the
        file. A rebuild's drop and the drop of a scratch table are such drops."""
        return self._lineage.kept_drops

    @cached_property
    def _lineage(self) -> _Lineage:
        return _Lineage(self.sql)


@dataclass(frozen=True)
class Rebuild:
    """A table rebuilt in one file: `table` is its name before and after, `drops` the
    rebuild's DROP TABLE statements, `end` its last statement."""

    table: str
    drops: tuple[int, ...]
    end: int


class _Lineage:
    """Follows the rows of each table through a file's CREATE TABLE, INSERT ... SELECT,
    ALTER TABLE ... RENAME and DROP TABLE statements. A table older than the file is an
    "original"; every table knows which originals' rows it holds (copies are transitive)."""

    def __init__(self, sqls: list[Sql]) -> None:
        self._count = 0
        self.tables: dict[str, int] = {}  # name now -> table id
        self.original: dict[int, str] = {}  # id of a table older than the file -> its name
        self.holds: dict[int, set[int]] = {}  # table id -> the originals whose rows it holds
        self.touched: dict[int, int] = {}  # table id -> last statement that filled or named it
        drops: list[tuple[int, set[int]]] = []
        for sql in sqls:
            held = self._follow(sql)
            if held is not None:
                drops.append((sql.index, held))
        self.kept_drops = frozenset(i for i, held in drops if all(map(self._survives, held)))
        self.rebuilds = self._rebuilds(drops)

    def _id(self, name: str) -> int:
        """The table called `name` now; a name not seen yet is an original."""
        if name not in self.tables:
            table = self._new()
            self.tables[name], self.original[table] = table, name
            self.holds[table].add(table)
        return self.tables[name]

    def _new(self) -> int:
        self._count += 1
        self.holds[self._count] = set()
        return self._count

    def _follow(self, sql: Sql) -> set[int] | None:
        """Follow one statement; for a DROP TABLE, the originals whose rows the table held."""
        created = sql.match(
            rf"^CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?{QUALIFIED}"
        )
        if created:
            name = name_of(created[2])
            if created[1] and name in self.tables:
                return None  # a no-op: the table is there already
            table = self.tables[name] = self._new()
            self.touched[table] = sql.index
            if re.match(r"\s*(?:\([^;]*?\)\s*)?AS\s+(?:SELECT|WITH)\b", sql.code[created.end() :]):
                self._copy(sql, table)
            return None
        renamed = sql.match(rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+RENAME\s+TO\s+({NAME})")
        if renamed:
            table = self._id(name_of(renamed[1]))
            del self.tables[name_of(renamed[1])]
            self.tables[name_of(renamed[2])] = table
            self.touched[table] = sql.index
            return None
        target = insert_target(sql)
        if target is not None and "SELECT" in sql.code:
            self._copy(sql, self._id(target))
            return None
        dropped = drop_table(sql)
        if dropped is None:
            return None
        held = self.holds[self._id(dropped)]
        del self.tables[dropped]
        return set(held)

    def _copy(self, sql: Sql, into: int) -> None:
        for source in re.findall(rf"\b(?:FROM|JOIN)\s+{QUALIFIED}", sql.code):
            self.holds[into] |= self.holds[self._id(name_of(source))]
        self.touched[into] = sql.index

    def _survives(self, original: int) -> bool:
        """Whether the rows of `original` are, at the end, in the table that has its name."""
        now = self.tables.get(self.original[original])
        return now is not None and original in self.holds[now]

    def _rebuilds(self, drops: list[tuple[int, set[int]]]) -> list[Rebuild]:
        """A rebuild: at the end an original's name is on another table that holds its rows,
        and the original (or a table holding its rows) was dropped on the way."""
        found = []
        for table, name in self.original.items():
            now = self.tables.get(name)
            if now is None or now == table or table not in self.holds[now]:
                continue
            own = tuple(index for index, held in drops if table in held)
            if own:
                found.append(Rebuild(name, own, max(*own, self.touched[now])))
        return sorted(found, key=lambda rebuild: rebuild.end)


def drop_table(sql: Sql) -> str | None:
    """The table a `DROP TABLE` statement drops, or None."""
    match = sql.match(rf"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{QUALIFIED}")
    return name_of(match[1]) if match else None


def insert_target(sql: Sql) -> str | None:
    """The table an INSERT / REPLACE (possibly after a WITH) writes to, or None."""
    match = sql.match(rf"\b(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+{QUALIFIED}")
    return name_of(match[1]) if match and sql.verb in ("INSERT", "REPLACE") else None


def copies(sql: Sql, source: str, target: str) -> bool:
    """Whether `sql` is `INSERT INTO target ... SELECT ... FROM source`."""
    if insert_target(sql) != target or "SELECT" not in sql.code:
        return False
    sources = re.findall(rf"\bFROM\s+{QUALIFIED}", sql.code)
    return any(name_of(found) == source for found in sources)


@dataclass(frozen=True)
class Hit:
    """A rule's finding before it is attached to a file: the statement, what, and how to fix."""

    sql: Sql
    message: str
    hint: str


@dataclass(frozen=True)
class LintCase:
    """One test case of a rule, kept next to the rule as data.

    `expect` is "fail" (the rule reports the statement), "pass" (it does not) or "silenced" (it
    passes because of its `-- noqa: CODE` comment; without the comment it fails).
    """

    name: str
    folder: str
    sql: str
    expect: str
    min_sqlite: tuple[int, int, int] = DEFAULT_MIN_SQLITE


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    rationale: str
    doc: str
    check: Callable[[FileContext], Iterator[Hit]]
    cases: tuple[LintCase, ...] = field(default=())
