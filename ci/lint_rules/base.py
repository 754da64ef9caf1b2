"""What every migration safety rule shares: the file it looks at, what it reports, its test cases.

A rule is a unit (one module, one `RULE`): a stable code, a one-line rationale, a docstring with an
anti-pattern and a best-practice example, a `check(ctx)` that yields `Hit`s, and `CASES` (failing,
passing and silenced SQL) that the test suite runs. Rules look at the runner's own statement
split (`ci.sqltext`), not at sqlfluff's parse tree: a statement sqlfluff cannot parse hides nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

from ci.model import Directives
from ci.sqltext import Statement, split_pieces

# A table or column name as SQLite accepts it: bare, "quoted", `quoted` or [quoted].
NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
QUALIFIED = rf"(?:{NAME}\s*\.\s*)?({NAME})"
DML_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
DDL_VERBS = ("CREATE", "ALTER", "DROP")

_STRING = re.compile(r"'(?:[^']|'')*(?:'|\Z)")
_WORD_OR_PAREN = re.compile(r"[\w$]+|[()]")
_NOQA = re.compile(r"\bnoqa\s*:\s*(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)", re.IGNORECASE)
_COMMENT = re.compile(
    r"""(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
      | '(?:[^']|'')*(?:'|\Z) | "(?:[^"]|"")*(?:"|\Z)
      | `(?:[^`]|``)*(?:`|\Z) | \[[^\]]*(?:\]|\Z)""",
    re.VERBOSE | re.DOTALL,
)

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
        """SQLite's table rebuild: CREATE new; INSERT INTO new SELECT ... FROM old; DROP old;
        ALTER TABLE new RENAME TO old (https://sqlite.org/lang_altertable.html#otheralter)."""
        found = []
        for rename in self.sql:
            match = rename.match(rf"^ALTER\s+TABLE\s+{QUALIFIED}\s+RENAME\s+TO\s+({NAME})")
            if not match:
                continue
            new, old = name_of(match[1]), name_of(match[2])
            create = self.created_tables.get(new)
            drop = next((s.index for s in self.sql if drop_table(s) == old), None)
            copy = next((s.index for s in self.sql if copies(s, old, new)), None)
            if create is not None and drop is not None and copy is not None:
                found.append(Rebuild(old, new, create, copy, drop, rename.index))
        return found


@dataclass(frozen=True)
class Rebuild:
    old: str
    new: str
    create: int
    copy: int
    drop: int
    rename: int


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


def noqa_codes(text: str) -> set[str]:
    """Codes named in `noqa: CODE[,CODE]` comments of `text` (comments only, not strings)."""
    codes: set[str] = set()
    for match in _COMMENT.finditer(text):
        if match["comment"]:
            for noqa in _NOQA.finditer(match["comment"]):
                codes.update(c.strip().upper() for c in noqa["codes"].split(","))
    return codes


def silencing_scopes(text: str) -> dict[int, set[str]]:
    """For each statement offset, the codes its `-- noqa:` comments silence.

    A statement's scope is its own text, the comment lines directly above it, and the rest of its
    last line (`DROP TABLE x; -- noqa: MG503`), but not the rest of the previous statement's line.
    """
    if "noqa" not in text.lower():  # most files: no second split of a (possibly huge) file
        return {}
    pieces = split_pieces(text)
    scopes: dict[int, set[str]] = {}
    for index, piece in enumerate(pieces):
        own = piece.raw
        if piece.offset > 0 and text[piece.offset - 1] != "\n" and "\n" in own:
            own = own[own.index("\n") :]
        tail = pieces[index + 1].raw.split("\n", 1)[0] if index + 1 < len(pieces) else ""
        scopes[piece.offset] = noqa_codes(own + "\n" + tail)
    return scopes
