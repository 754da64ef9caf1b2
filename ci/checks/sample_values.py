"""apply_sample's data findings: what one migration did to the rows and values of the sample.

For every table the migration changed (the fingerprint Tracker knows which), the image before is
compared with the image after (ci.db.value_diff), keyed by primary key: rows lost (MG308, unless
`-- @allow-row-loss`), values replaced by others (MG312) and values turned NULL (MG313), unless
`-- @rewrites table(col, ...)` declares them. A NULL given a value is a backfill: nothing is lost,
nothing is reported. A table renamed (it keeps its b-tree) is the same table, and so is a table
dropped when one the same migration created holds all its rows (a copy under another name): its
values are compared, declared under either name; otherwise it has lost its rows. A rebuild that
keeps the name is compared as the same table, its rowids paired in order only because it was
rebuilt (a row deleted and another inserted in place is a row lost).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ci.checks.sample import Sample
from ci.core.findings import Finding
from ci.core.model import InputError, Migration
from ci.db.fingerprint import rows
from ci.db.value_diff import ColumnDiff, TableDiff, diff, key_text, keys_text
from ci.db.value_images import Image, shown

NAME = "apply_sample"


def data_findings(
    migration: Migration,
    before: Mapping[str, Image],
    after: Mapping[str, Image],
    changed: Iterable[str],
    sample: Sample,
) -> list[Finding]:
    """The findings of one migration on the sample, table by table (sorted). The images hold
    the tables whose rows the migration wrote, on the columns it wrote (ci.db.value_before):
    a table only UPDATEd is compared on those columns, one no statement wrote not at all."""
    changed = sorted(changed)
    created = [after[key] for key in changed if key not in before and key in after]
    findings: list[Finding] = []
    for key in changed:
        old = before.get(key)
        if old is None or not old.count:
            continue
        new = after.get(key)
        names: tuple[str, ...] = (old.name,)
        if new is None:  # dropped, or renamed / copied under another name: the same table
            new = _renamed(old, created) or next((i for i in created if kept_in(old, i)), None)
            if new is None:
                how = "table dropped" + "".join(
                    f"; {image.name} does not hold its rows" for image in created
                )
                findings += _lost(migration, sample, old.name, old.count, None, how)
                continue
            names += (new.name,)
        change = diff(old, new, renumbered_ok=rebuilt(old, new))
        if change.lost:
            findings += _lost(migration, sample, old.name, change.lost, change, None)
        findings += _value_findings(migration, sample, change, names)
    return findings


def _renamed(old: Image, created: list[Image]) -> Image | None:
    """The table `old` became by RENAME TO: the one that kept its b-tree."""
    if not old.rootpage:  # not known, or a virtual table's 0
        return None
    return next((image for image in created if image.rootpage == old.rootpage), None)


def rebuilt(old: Image, new: Image) -> bool:
    """Whether the rows were copied into a new table (its b-tree is another), which may have
    renumbered their rowids: only then are rowid rows paired in rowid order."""
    return old.rootpage is None or old.rootpage != new.rootpage


def kept_in(old: Image, new: Image) -> bool:
    """Whether `new` holds every row of `old` (renamed, or copied under another name), on at
    least one common column besides the key: its values are then compared as the same table's."""
    old_columns = {c.lower() for c in old.columns} - set(old.key)
    if old_columns and not old_columns & {c.lower() for c in new.columns}:
        return False
    return not diff(old, new, renumbered_ok=rebuilt(old, new)).lost


def _lost(
    migration: Migration,
    sample: Sample,
    table: str,
    lost: int,
    change: TableDiff | None,
    dropped: str | None,
) -> list[Finding]:
    if migration.directives.allows_row_loss(table):
        return []
    how = f" ({dropped})" if dropped else ""
    examples = ""
    if change is not None and change.lost_examples:
        examples = f" ({keys_text(change.key, change.lost_examples, change.lost)})"
    return [
        Finding(
            NAME,
            "MG308",
            str(migration.path),
            responsible_line(migration, table),
            f"table {table}: {rows(lost)} lost{how or examples} in {migration.label} on the "
            f"sample {sample.path}",
            f"keep the rows or declare -- @allow-row-loss {table}",
        )
    ]


def _value_findings(
    migration: Migration, sample: Sample, change: TableDiff, names: tuple[str, ...]
) -> list[Finding]:
    """MG312/MG313 for the values changed that no `@rewrites` declares under one of the
    table's `names` (its name before and after a rename)."""
    table = change.name
    undeclared = {
        name: column
        for name, column in change.columns.items()
        if not any(migration.directives.declares_rewrite(t, name) for t in names)
    }
    changed = {n: c for n, c in undeclared.items() if c.changed}
    nulled = {n: c for n, c in undeclared.items() if c.nulled}
    findings = []
    where = f"in {migration.label} on the sample {sample.path}"
    if changed:
        parts = "; ".join(_changed_part(change.key, n, c) for n, c in changed.items())
        findings.append(
            Finding(
                NAME, "MG312", str(migration.path), responsible_line(migration, table, changed),
                f"table {table}: values changed {where}: {parts}",
                f"keep the values, or declare -- @rewrites {_declaration(table, changed)}",
            )
        )  # fmt: skip
    if nulled:
        parts = "; ".join(
            f"{n}: {rows(c.nulled)} ({keys_text(change.key, c.nulled_examples, c.nulled)})"
            for n, c in nulled.items()
        )
        findings.append(
            Finding(
                NAME, "MG313", str(migration.path), responsible_line(migration, table, nulled),
                f"table {table}: values turned NULL {where}: {parts}",
                f"keep the values, or declare -- @rewrites {_declaration(table, nulled)}",
            )
        )  # fmt: skip
    return findings


def _changed_part(key: tuple[str, ...], name: str, column: ColumnDiff) -> str:
    examples = [e for e in column.examples if e[1] is not None and e[2] is not None]
    shown_examples = ", ".join(
        f"{key_text(key, k)}: {shown(was)} -> {shown(now)}" for k, was, now in examples
    )
    more = ", ..." if column.changed > len(examples) else ""
    return f"{name}: {rows(column.changed)} ({shown_examples}{more})"


def _declaration(table: str, columns: Mapping[str, ColumnDiff]) -> str:
    return f"{table}({', '.join(columns)})"


def responsible_line(migration: Migration, table: str, columns: Iterable[str] = ()) -> int | None:
    """The line of the first statement that writes, drops or alters `table` by name, preferring
    one that also names one of `columns` (None when none does by name: a trigger or a foreign
    key action did it)."""
    pattern = re.compile(
        r"^(?:WITH\b.*?\)\s*)?(?:UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|(?:INSERT(?:\s+OR\s+\w+)?|"
        r"REPLACE)\s+INTO|DROP\s+TABLE|ALTER\s+TABLE|TRUNCATE(?:\s+TABLE)?)\s+"
        # PostgreSQL's IF EXISTS, ONLY (not the table's inheritors) and its default schema
        r"(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:(?:main|public)\s*\.\s*)?[\"`\[]?"
        + re.escape(table)
        + r"[\"`\]]?(?:\s|\(|;|$)",
        re.IGNORECASE | re.DOTALL,
    )
    try:
        statements = [s for s in migration.file.statements if pattern.search(s.code)]
    except InputError:  # it was applied, so it was read; no line rather than a traceback
        return None
    names = [re.compile(rf"\b{re.escape(c)}\b", re.IGNORECASE) for c in columns]
    naming = (s.line for s in statements if any(n.search(s.code) for n in names))
    return next(naming, statements[0].line if statements else None)
