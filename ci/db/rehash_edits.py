"""What `ci.migrate --rehash` accepts, on either engine: which applied files were edited in
comments or whitespace only, what their rewritten row and its log line say, and the lines the
run prints. The engines only write (ci.db.rehash on SQLite, ci.db.postgres.rehash).

An applied file whose statements and directives are unchanged (ci.core.sqltext.same_statements,
judged against the statement fingerprint the row recorded when it was applied) is accepted. Any
other edit, a reused number, or a row that recorded no fingerprint (an older table) refuses the
whole run with the line a plain run gives: the next run would refuse anyway.
"""

from __future__ import annotations

from ci.core.model import Catalog, InputError, Migration
from ci.core.sqltext import same_statements
from ci.db import drift
from ci.db.outcomes import RunRefused
from ci.db.records import AppliedRow, Entry
from ci.db.tables import LOG_TABLE

TYPE_CHECKING = False  # not typing's own (start-up time of every deploy)
if TYPE_CHECKING:
    from typing import TextIO

Edit = tuple[Migration, AppliedRow]


def harmless_edits(catalog: Catalog, rows: list[AppliedRow], engine: str = "sqlite") -> list[Edit]:
    """(migration, its row) per edited applied file; RunRefused naming every other edit.
    `engine`: whose tokens the recorded fingerprint was taken with (ci.core.sqltokens)."""
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    edits: list[Edit] = []
    refused: list[str] = []
    for row in rows:
        m = files.get((row.track, row.version))
        if m is None or row.file_hash is None or drift.unchanged(row.file_hash, m.file, None):
            continue
        if drift.reused(row, m) or not _same_statements(row, m, engine):
            (line,) = drift.edited_lines(drift.edited(catalog, [row], engine=engine))
            refused.append(f"{line} (--rehash accepts only comment or whitespace edits)")
        else:
            edits.append((m, row))
    if refused:
        raise RunRefused("\n".join(refused))
    return edits


def _same_statements(row: AppliedRow, m: Migration, engine: str) -> bool:
    try:
        return same_statements(row.code_hash, m.file.text, engine)
    except InputError:  # no longer valid UTF-8: not provably the same statements
        return False


def rehashed(m: Migration, row: AppliedRow) -> tuple[Entry, str]:
    """The row's entry with the file's checksum now, and the note its `rehash` log line keeps
    (the log's free-text column is `error`): the checksum it replaces."""
    entry = Entry(row.version, row.migration_type, row.description, m.file.checksum)
    return entry, f"was {row.file_hash}: only comments or whitespace changed"


def report(edits: list[Edit], *, out: TextIO) -> None:
    """One line per rewritten row (or one saying there was none)."""
    if not edits:
        print("no applied migration was edited; nothing to rehash", file=out)
    for m, row in edits:
        print(
            f"rehashed {m.label} {m.path}: only comments or whitespace changed; recorded "
            f"checksum {row.file_hash} -> {m.file.checksum} (logged in {LOG_TABLE})",
            file=out,
        )
