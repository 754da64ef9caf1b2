"""Whether a migration's rollback can be run at all, before a round trip runs it: missing
(MG401), unreadable or empty (MG402; a comment-only rollback of a migration that does nothing
either is fine), and the names advice gives the files.
"""

from __future__ import annotations

import re
from pathlib import Path

from ci.core.model import InputError, Migration

IRREVERSIBLE_IN_TEXT = re.compile(r"--\s*@irreversible\b", re.IGNORECASE)

ADD_ROLLBACK = "add rollback/{number}_rollback.sql, or declare -- @irreversible <reason>"


def is_no_op(migration: Migration) -> bool:
    """A migration without a statement (comments only, or 0 bytes) changes nothing: its empty
    rollback undoes exactly that, so the round trip passes. An unreadable file is not one."""
    try:
        return not migration.file.statements
    except InputError:
        return False


def shown(path: Path) -> str:
    """A migration or rollback file as advice names it: with its folder, as the two share a
    name in the usual layout (`rollback/0003_users.sql`, `schema/0003_users.sql`)."""
    return f"{path.parent.name}/{path.name}"


def left_behind_advice(thing: str | None, rollback: Path, migration: Path) -> tuple[str, str]:
    """(what the MG405 message adds, its "To fix") when re-applying `migration` after `rollback`
    failed: naming `thing`, what the database said is already there, when it said what."""
    if thing is None:
        return "", (
            f"{shown(rollback)} leaves something behind that {shown(migration)} trips over: make "
            "it undo everything the migration does"
        )
    hint = f"make {shown(rollback)} drop {thing}, as it undoes {shown(migration)}"
    return f": the rollback did not drop {thing}", hint


def rollback_problem(migration: Migration) -> tuple[str, str, str, str, str] | None:
    """(why, code, path, message, hint) when the rollback of a reversible `migration` is
    missing, unreadable or empty; None when it can be run."""
    rollback = migration.rollback
    if rollback is None:
        number = f"{migration.version:04d}"
        message = f"{migration.label} has no rollback file"
        return "missing", "MG401", str(migration.path), message, ADD_ROLLBACK.format(number=number)
    try:
        empty = not rollback.statements
    except InputError as error:
        return (
            "unreadable",
            "MG402",
            str(rollback.path),
            str(error),
            "save the rollback as UTF-8 SQL",
        )
    if empty and not is_no_op(migration):
        message = (
            f"the rollback of {migration.label} is empty (no SQL statement), so it undoes nothing"
        )
        return "empty", "MG402", str(rollback.path), message, _empty_rollback_hint(migration)
    return None


def _empty_rollback_hint(migration: Migration) -> str:
    """What to do with an empty rollback; a newcomer put `-- @irreversible` in the rollback
    file, where it means nothing: say where the directive goes."""
    rollback = migration.rollback
    if rollback is not None and IRREVERSIBLE_IN_TEXT.search(rollback.text):
        return (
            f"write the statements that undo the migration; or, if it cannot be undone, move "
            f"'-- @irreversible <reason>' to the migration file {shown(migration.path)} (in the "
            "rollback file it means nothing)"
        )
    return (
        "write the statements that undo the migration; if it cannot be undone, put "
        f"'-- @irreversible <reason>' in {shown(migration.path)} and delete the rollback file"
    )
