"""Whether an applied migration's file is still as it was applied: the hashes its
`schema_version` row recorded against the file's bytes now, and how it was edited when not.

An edited applied file is refused by a run (unless --allow-changed) and flagged by --status.
"""

from __future__ import annotations

from collections.abc import Iterable

from ci.core.model import Catalog, InputError, Migration, SqlFile
from ci.core.sqltext import checksum_matches, code_fingerprint
from ci.db.bookkeeping import AppliedRow

EDITED = "EDITED"


def edited(catalog: Catalog, rows: Iterable[AppliedRow]) -> list[tuple[Migration, str]]:
    """(migration, 'statements changed' | 'only whitespace or comments changed'), per file."""
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    found: list[tuple[Migration, str]] = []
    for row in rows:
        m = files.get((row.track, row.version))
        if m is None or row.file_hash is None or checksum_matches(row.file_hash, m.file.data):
            continue
        found.append((m, edit_kind(row, m.file)))
    return found


def edited_lines(found: Iterable[tuple[Migration, str]]) -> list[str]:
    return [
        f"{m.path}: edited after it was applied ({how}); applied migrations must not "
        "change: restore the file and put the change in a new migration"
        for m, how in found
    ]


def edit_kind(row: AppliedRow, file: SqlFile) -> str:
    """How an applied file changed, as far as the recorded hashes can tell."""
    try:
        text = file.text
    except InputError:
        return "content changed; it is no longer valid UTF-8"
    if row.code_hash is None:
        return "content changed"
    if row.code_hash == code_fingerprint(text):
        return "only whitespace or comments changed"
    return "statements changed"


def hash_state(row: AppliedRow, migration: Migration | None) -> str:
    """What --status says about an applied migration's file."""
    if migration is None:
        return "missing file (warning: the applied migration's file is gone)"
    if row.file_hash is None:
        return "no hash recorded"
    if checksum_matches(row.file_hash, migration.file.data):
        return "ok"
    return f"{EDITED}: {migration.path} ({edit_kind(row, migration.file)})"
