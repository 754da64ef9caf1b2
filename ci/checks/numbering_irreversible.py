"""Numbering's MG112: a migration that declares `@irreversible` and has a rollback file too.

Numbering otherwise reads names only; this is the one finding that needs the migrations' text,
so it reads as little of it as it can (a peek, see `_may_hold_directives`): the check's budget
is a whole run on 1,000 migrations (docs/design.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ci.core.findings import Finding
from ci.core.model import Catalog, InputError
from ci.core.sqltext import directive_lines


def contradicted_rollbacks(catalog: Catalog, check: str) -> Iterator[Finding]:
    """MG112 for each migration that declares `@irreversible` and has a rollback file all the
    same: the two contradict each other (the round trip skips it, the runner would refuse it).
    Every paired migration is peeked at for this; only one that may hold a directive is read."""
    for m in catalog.main:
        rollback = m.rollback
        if rollback is None:
            continue
        if not _may_hold_directives(m.file.location):
            continue
        try:
            reason = m.directives.irreversible
        except InputError:
            continue  # unreadable, or a bad directive: checksums, lint and the runner say so
        if reason is None:
            continue
        paired = rollback.path.relative_to(catalog.root).as_posix()
        yield Finding(
            check,
            "MG112",
            str(m.path),
            _directive_line(m.file.text, "irreversible"),
            f"migration {m.label} declares `@irreversible` ({reason}), yet {paired} exists to "
            "undo it: the two contradict each other",
            f"if it cannot be undone, delete {paired}; if {paired} undoes it, remove the "
            "`-- @irreversible` line",
        )


PEEK = 4096  # bytes: a migration this short is read whole by the peek


def _may_hold_directives(location: str) -> bool:
    """False when the file surely has no directive: it is shorter than PEEK and has no `@`.
    A peek, not SqlFile's read: no fstat and a bounded read cost a quarter of it (~2 us a file
    instead of ~8), and numbering's budget is a whole run on 1,000 migrations. Opened
    non-blocking, so a FIFO named like a migration is no wait; a file the peek cannot read is
    left to the full read (True)."""
    try:
        fd = os.open(location, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            head = os.read(fd, PEEK)
        finally:
            os.close(fd)
    except OSError:
        return True
    return len(head) == PEEK or b"@" in head


def _directive_line(text: str, word: str) -> int | None:
    """The line of directive `word` in a file's text (directives are read case-blind)."""
    for number, match in directive_lines(text):
        if match["word"].lower() == word:
            return number
    return None
