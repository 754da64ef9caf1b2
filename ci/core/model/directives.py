"""The `-- @word args` lines before a file's first statement, read into a `Directives` record.

An unknown word, a directive without its argument, or a directive line with an invisible
character (Unicode category Cf: a zero-width space pasted from a rendered page) before or in its
word is an InputError naming the file and line: such a line would otherwise be a plain comment,
and the directive would silently do nothing.
"""

from __future__ import annotations

from pathlib import Path

from ci.core.findings import Record
from ci.core.model.layout import InputError
from ci.core.sqltext import DIRECTIVE, LazyPattern, directive_lines, leading_comment_lines

KNOWN_DIRECTIVES = (
    "irreversible",
    "no-transaction",
    "batch",
    "progress",
    "allow-row-loss",
    "rewrites",
)
# one item of `-- @rewrites vitals(value, unit), devices`: a table, its columns or none (all)
# compiled when a @rewrites directive is read: not on every start-up (a no-op ci.migrate)
REWRITE_ITEM = LazyPattern(r'\s*(?P<table>"[^"]+"|[^\s(),"]+)\s*(?:\((?P<columns>[^()]*)\))?\s*')
ALL_COLUMNS = "*"


class Directives(Record):
    """The `-- @word args` lines of a file. Treated as immutable."""

    FIELDS = ("irreversible", "no_transaction", "batch", "progress", "allow_row_loss", "rewrites")
    __slots__ = FIELDS

    def __init__(
        self,
        irreversible: str | None = None,
        no_transaction: bool = False,
        batch: int | None = None,
        progress: str | None = None,
        allow_row_loss: frozenset[str] = frozenset(),
        rewrites: tuple[tuple[str, frozenset[str]], ...] = (),
    ) -> None:
        self.irreversible = irreversible
        self.no_transaction = no_transaction
        self.batch = batch
        self.progress = progress
        self.allow_row_loss = allow_row_loss
        # (lower-case table, lower-case columns or {"*"}) from `-- @rewrites table(col, ...)`
        self.rewrites = rewrites

    def allows_row_loss(self, table: str) -> bool:
        return "*" in self.allow_row_loss or table.lower() in self.allow_row_loss

    def declares_rewrite(self, table: str, column: str) -> bool:
        """Whether `-- @rewrites` declares that this migration changes values of the column."""
        table, column = table.lower(), column.lower()
        return any(
            name == table and (ALL_COLUMNS in columns or column in columns)
            for name, columns in self.rewrites
        )


def parse_directives(text: str, path: Path | str) -> Directives:
    """Read the `-- @word args` lines before the first statement; unknown words are errors."""
    found: dict[str, str] = {}
    rewrites: list[tuple[str, frozenset[str]]] = []
    _refuse_invisible_characters(text, path)
    for number, match in directive_lines(text):
        word, args = match["word"].lower(), match["args"]
        if word not in KNOWN_DIRECTIVES:
            raise InputError(f"{path}:{number}: {_unknown(word)}")
        args = _check_directive(word, args, path, number)
        if word == "rewrites":  # one line per table is fine: they add up
            rewrites.extend(parse_rewrites(args, path, number))
        found[word] = args
    return _directives_from(found, tuple(rewrites))


def _unknown(word: str) -> str:
    import difflib  # only for a misspelt directive: every start-up would pay its import

    known = ", ".join(f"@{w}" for w in KNOWN_DIRECTIVES)
    close = difflib.get_close_matches(word, KNOWN_DIRECTIVES, n=1)
    guess = f"did you mean @{close[0]}? " if close else ""
    return f"unknown directive @{word} ({guess}known: {known})"


def _refuse_invisible_characters(text: str, path: Path | str) -> None:
    """A `-- @word` line with a format character up to the end of its word: without it the line
    is a directive, with it a comment (or another word). Later arguments may hold such characters
    (an emoji's zero-width joiner in a reason)."""
    for number, line in leading_comment_lines(text):
        import unicodedata  # only for a file with directive lines, not on every start-up

        word_end = next((i for i in range(line.index("@"), len(line)) if line[i].isspace()), None)
        head = line[:word_end]
        hidden = sorted({c for c in head if unicodedata.category(c) == "Cf"})
        if not hidden:
            continue
        visible = "".join(c for c in line if unicodedata.category(c) != "Cf")
        if DIRECTIVE.match(visible) is None:
            continue
        names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in hidden)
        raise InputError(
            f"{path}:{number}: directive line has an invisible character ({names}) in or "
            f"before its name, which hides the directive: retype it as `{visible}`"
        )


def parse_rewrites(args: str, path: Path | str, number: int) -> list[tuple[str, frozenset[str]]]:
    """`vitals(value, unit), devices` -> [("vitals", {"value", "unit"}), ("devices", {"*"})]."""
    items: list[tuple[str, frozenset[str]]] = []
    position = 0
    while position < len(args):
        match = REWRITE_ITEM.match(args, position)
        end = match.end() if match else position
        if match is None or not match["table"] or (end < len(args) and args[end] != ","):
            raise InputError(
                f"{path}:{number}: @rewrites takes tables, each with the columns it changes: "
                "-- @rewrites vitals(value, unit), devices"
            )
        columns = match["columns"]
        names = [c.strip().strip('"').lower() for c in (columns or "").split(",")]
        if columns is not None and not all(names):
            raise InputError(f"{path}:{number}: @rewrites {match['table']}(...): a column is empty")
        table = match["table"].strip('"').lower()
        items.append((table, frozenset(names) if columns is not None else frozenset("*")))
        position = end + 1
    return items


def _check_directive(word: str, args: str, path: Path | str, number: int) -> str:
    if word == "batch" and not (args.isdigit() and int(args) > 0):
        raise InputError(f"{path}:{number}: @batch needs a positive row count (-- @batch 10000)")
    if word in ("irreversible", "progress", "allow-row-loss", "rewrites") and not args:
        raise InputError(f"{path}:{number}: @{word} needs an argument")
    return args


def _directives_from(
    found: dict[str, str], rewrites: tuple[tuple[str, frozenset[str]], ...]
) -> Directives:
    tables = found.get("allow-row-loss", "")
    return Directives(
        irreversible=found.get("irreversible"),
        no_transaction="no-transaction" in found,
        batch=int(found["batch"]) if "batch" in found else None,
        progress=found.get("progress"),
        allow_row_loss=frozenset(t.strip().lower() for t in tables.split(",") if t.strip()),
        rewrites=rewrites,
    )
