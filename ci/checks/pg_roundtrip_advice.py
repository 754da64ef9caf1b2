"""What the PostgreSQL round trip advises when a rollback left something behind: the object the
server's error names (MG405), and for an enum label, which no rollback can drop, how to build
the type again (MG404 and MG405)."""

from __future__ import annotations

import re
from pathlib import Path

from ci.checks.rollback_files import left_behind_advice, shown

# What the server says when a migration creates something that is already there: re-applying
# after the rollback, the rollback left it behind.
LEFT_BEHIND = re.compile(
    r"(?P<kind>relation|type|function|procedure|schema|extension|sequence|trigger|index)"
    r' "?(?P<name>[^"\s]+)"? (?:for relation "[^"]+" )?already exists'
    r'|column "(?P<column>[^"]+)" of relation "(?P<table>[^"]+)" already exists'
)

# an enum label the rollback did not remove: PostgreSQL has no ALTER TYPE ... DROP VALUE
LABEL_LEFT = re.compile(r"^enum \S+: label '.*' left behind$")
LABEL_KEPT = re.compile(r'enum label ".*" already exists')


def label_hint(rollback: str) -> str:
    return (
        f"PostgreSQL cannot drop an enum label: make {rollback} build the type again without "
        "it (docs/postgresql.md, 'Rolling back a new enum label'), or, to keep the label, "
        "declare -- @irreversible <reason> in the migration and delete the rollback file"
    )


def with_label_advice(hint: str, differences: list[str], rollback: str) -> str:
    """The MG404 advice `hint`, for differences that hold an enum label the rollback left: the
    rebuild's advice instead when that is all there is, added to it when there is more."""
    labels = sum(1 for difference in differences if LABEL_LEFT.search(difference))
    if not labels:
        return hint
    return label_hint(rollback) if labels == len(differences) else f"{hint}; {label_hint(rollback)}"


def reapply_advice(
    error: str, rollback: Path, migration: Path, *, adds_label: bool
) -> tuple[str, str]:
    """(what to add to the MG405 message, its "To fix") for re-applying `migration` after
    `rollback` failed with the server's `error`; `adds_label`: the migration adds an enum
    label (one it renames, the rollback renames back)."""
    left = LEFT_BEHIND.search(error)
    thing = None
    if left is not None:
        thing = f"column {left['table']}.{left['column']}" if left["column"] else (
            f"{left['kind']} {left['name']}")  # fmt: skip
    said, hint = left_behind_advice(thing, rollback, migration)
    if adds_label and LABEL_KEPT.search(error):
        hint = label_hint(shown(rollback))
    return said, hint
