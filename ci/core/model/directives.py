"""The `-- @word args` lines before a file's first statement, read into a `Directives` record.

An unknown word or a directive without its argument is an InputError naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

from ci.core.findings import Record
from ci.core.model.layout import InputError
from ci.core.sqltext import directive_lines

KNOWN_DIRECTIVES = ("irreversible", "no-transaction", "batch", "progress", "allow-row-loss")


class Directives(Record):
    """The `-- @word args` lines of a file. Treated as immutable."""

    FIELDS = ("irreversible", "no_transaction", "batch", "progress", "allow_row_loss")
    __slots__ = FIELDS

    def __init__(
        self,
        irreversible: str | None = None,
        no_transaction: bool = False,
        batch: int | None = None,
        progress: str | None = None,
        allow_row_loss: frozenset[str] = frozenset(),
    ) -> None:
        self.irreversible = irreversible
        self.no_transaction = no_transaction
        self.batch = batch
        self.progress = progress
        self.allow_row_loss = allow_row_loss

    def allows_row_loss(self, table: str) -> bool:
        return "*" in self.allow_row_loss or table.lower() in self.allow_row_loss


def parse_directives(text: str, path: Path | str) -> Directives:
    """Read the `-- @word args` lines before the first statement; unknown words are errors."""
    found: dict[str, str] = {}
    for number, match in directive_lines(text):
        word, args = match["word"].lower(), match["args"]
        if word not in KNOWN_DIRECTIVES:
            known = ", ".join(f"@{w}" for w in KNOWN_DIRECTIVES)
            raise InputError(f"{path}:{number}: unknown directive @{word} (known: {known})")
        found[word] = _check_directive(word, args, path, number)
    return _directives_from(found)


def _check_directive(word: str, args: str, path: Path | str, number: int) -> str:
    if word == "batch" and not (args.isdigit() and int(args) > 0):
        raise InputError(f"{path}:{number}: @batch needs a positive row count (-- @batch 10000)")
    if word in ("irreversible", "progress", "allow-row-loss") and not args:
        raise InputError(f"{path}:{number}: @{word} needs an argument")
    return args


def _directives_from(found: dict[str, str]) -> Directives:
    tables = found.get("allow-row-loss", "")
    return Directives(
        irreversible=found.get("irreversible"),
        no_transaction="no-transaction" in found,
        batch=int(found["batch"]) if "batch" in found else None,
        progress=found.get("progress"),
        allow_row_loss=frozenset(t.strip().lower() for t in tables.split(",") if t.strip()),
    )
