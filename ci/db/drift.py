"""Whether an applied migration's file is still as it was applied: the hashes its
`schema_version` row recorded against the file's bytes now, and how it was edited when not.

A file whose slug is not the one the row recorded (its `description`) is not an edited file
but another migration under a reused number (renumbered after it was applied): said as such.
An edited applied file is refused by a run (unless --allow-changed) and flagged by --status.
ci.migrate passes a stat cache (ci.core.statcache), which may vouch that a file is unchanged
without reading it; a file it does not vouch for is judged from its bytes, as without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ci.core.model import Catalog, InputError, Migration, SqlFile
from ci.core.sqltext import CHECKSUM_PREFIX, checksum_matches, same_statements
from ci.core.statcache import StatCache
from ci.db.bookkeeping import AppliedRow

EDITED = "EDITED"
REUSED = "NUMBER REUSED"
ONLY_COMMENTS = "only whitespace or comments changed"


def edited(
    catalog: Catalog,
    rows: Iterable[AppliedRow],
    hashes: StatCache | None = None,
    engine: str = "sqlite",
) -> list[tuple[Migration, str]]:
    """(migration, the line refusing it) per applied file whose bytes changed; `engine`'s
    scanner tells a comment edit from a statement edit."""
    files = {(m.track, m.version): m for m in catalog.all_migrations()}
    found: list[tuple[Migration, str]] = []
    for row in rows:
        m = files.get((row.track, row.version))
        if m is None or row.file_hash is None or unchanged(row.file_hash, m.file, hashes):
            continue
        found.append((m, _refusal(row, m, engine)))
    if hashes is not None:
        hashes.save()
    return found


def unchanged(recorded: str, file: SqlFile, hashes: StatCache | None) -> bool:
    """Whether the file's bytes have the recorded checksum. The stat cache may vouch for a
    `v1:` checksum (the only kind it keeps); it never condemns: the bytes decide then."""
    if hashes is not None:
        ours = recorded.strip().lower()
        if ours.startswith(CHECKSUM_PREFIX) and hashes.checksum(file) == ours:
            return True
    return checksum_matches(recorded, file.data)


def edited_lines(found: Iterable[tuple[Migration, str]]) -> list[str]:
    return [line for _, line in found]


def _refusal(row: AppliedRow, m: Migration, engine: str) -> str:
    if reused(row, m):
        return (
            f"{m.path}: {reuse_text(row, m)}; on a development database: recreate it, or check "
            f"out the commit before the renumbering, run --rollback {row.version} there, and "
            "come back"
        )
    kind = edit_kind(row, m.file, engine)
    accept = ""
    if kind == ONLY_COMMENTS:  # the one edit a database may take over: Flyway's `repair`
        accept = "; or, as only comments or whitespace changed, accept it with --rehash"
    return (
        f"{m.path}: edited after it was applied ({kind}); applied migrations must not change: "
        f"restore the file and put the change in a new migration{accept}"
    )


def reused(row: AppliedRow, m: Migration) -> bool:
    """Whether the row recorded another slug than the file's: another migration under the
    same number. Compared on letters and digits only: an older or foreign table may have
    recorded `add user phone` for `add_user_phone`; an empty description tells nothing."""
    recorded = _letters(row.description or "")
    return bool(recorded) and recorded != _letters(m.slug)


def _letters(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def reuse_text(row: AppliedRow, m: Migration) -> str:
    return (
        f"the database applied {row.label} '{row.description}', but {row.label} is now "
        f"'{m.slug}': the number was reused (renumbered after it was applied?)"
    )


def edit_kind(row: AppliedRow, file: SqlFile, engine: str = "sqlite") -> str:
    """How an applied file changed, as far as the recorded hashes can tell."""
    try:
        text = file.text
    except InputError:
        return "content changed; it is no longer valid UTF-8"
    if row.code_hash is None:
        return "content changed"
    if same_statements(row.code_hash, text, engine):
        return ONLY_COMMENTS
    return "statements changed"


def hash_state(
    row: AppliedRow,
    migration: Migration | None,
    hashes: StatCache | None = None,
    engine: str = "sqlite",
) -> str:
    """What --status says about an applied migration's file."""
    if migration is None:
        return "missing file (warning: the applied migration's file is gone)"
    if row.file_hash is None:
        return "no hash recorded"
    if unchanged(row.file_hash, migration.file, hashes):
        return "ok"
    if reused(row, migration):
        return f"{REUSED}: {migration.path}: {reuse_text(row, migration)}"
    return f"{EDITED}: {migration.path} ({edit_kind(row, migration.file, engine)})"
