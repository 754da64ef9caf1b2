"""What differs between two PostgreSQL fingerprints, in words, one line per difference, worded
as SQLite's are (ci.db.fingerprint_diff, whose `Wording`s it takes and which words the columns
and the data): `index patients_mrn_idx on patients missing`, `view active_patients definition
changed`, `table vitals: 1,204 rows lost`.

What SQLite has no words for is said here: an object that went missing while another of its kind
appeared with the same definition was renamed (`sequence webauthn_devices_id_seq renamed to
webauthn_devices_id_seq1`); a constraint or index that lost its validity says so; an enum's
labels are compared one by one; a sequence's clauses and a table's options name what changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import overload

from ci.db.fingerprint_diff import DRIFT, REAPPLY, ROLLBACK, Wording, rows
from ci.db.fingerprint_diff import describe_differences as describe_columns_and_data
from ci.db.fingerprint_records import Fingerprint, SchemaObject, TablePrint

__all__ = ["DRIFT", "REAPPLY", "ROLLBACK", "Wording", "describe_differences"]

# kinds whose definition is long (a body, a query): said to have changed, not printed
LONG_DEFINITIONS = frozenset({"view", "materialized view", "function", "procedure", "aggregate"})
# what a table's parts are called when a whole definition is short enough to show
PART_KINDS = ("constraint", "index", "trigger", "policy", "rule", "statistics")
# a suffix that says an object is not (yet) trusted by the planner: what changed is its validity
INVALID = {"constraint": " NOT VALID", "index": " INVALID"}


def describe_differences(
    before: Fingerprint,
    after: Fingerprint,
    *,
    only: Iterable[str] | None = None,
    wording: Wording = ROLLBACK,
) -> list[str]:
    """What differs between two fingerprints, one reviewer-readable line per difference.

    `only` limits the comparison to these groups (those a step may have changed).
    """
    if only is None:  # a group read again is a new object: one carried over is the same one
        old_groups, new_groups = before.groups, after.groups
        keys = {k for k in old_groups.keys() | new_groups.keys()
                if old_groups.get(k) is not new_groups.get(k)}  # fmt: skip
    else:
        keys = set(only)
    gone = {k: before.groups[k] for k in keys if k in before.groups and k not in after.groups}
    came = {k: after.groups[k] for k in keys if k in after.groups and k not in before.groups}
    renamed = _renames(gone, came)
    lines = []
    for key in sorted(keys):
        old, new = before.groups.get(key), after.groups.get(key)
        if wording is not ROLLBACK:  # nextval is not transactional: only a rollback compares
            old, new = _without_value(old), _without_value(new)
        if old == new or key in renamed.values():
            continue
        if key in renamed:
            assert old is not None
            lines.append(f"{kind(old)} {old.name} renamed to {after.groups[renamed[key]].name}")
        elif new is None:
            assert old is not None
            lost = f" ({rows(old.rows)} lost)" if old.rows else ""
            lines.append(f"{kind(old)} {old.name} {wording.missing}{lost}")
        elif old is None:
            lines.append(f"{kind(new)} {new.name} {wording.extra}")
        else:
            lines += _group_differences(old, new, wording)
    return lines


@overload
def _without_value(group: TablePrint) -> TablePrint: ...
@overload
def _without_value(group: None) -> None: ...
def _without_value(group: TablePrint | None) -> TablePrint | None:
    """The group without a sequence's value (ci.db.postgres.fingerprint.with_sequence_values)."""
    if group is None or kind(group) != "sequence":
        return group
    return group._replace(digest=None)


def kind(group: TablePrint) -> str:
    """What the group is: `table`, `partitioned table`, `view`, `sequence`, `enum`, ..."""
    main = _main(group)
    if main is None:
        return "object"
    return main.sql if main.type == "table" else main.type


def _main(group: TablePrint) -> SchemaObject | None:
    return next(
        (o for o in group.objects if o.name == group.name and o.type not in ("comment", "option")),
        None,
    )


def _renames(gone: dict[str, TablePrint], came: dict[str, TablePrint]) -> dict[str, str]:
    """{old key: new key} for each group that went while one of the same kind came that is the
    same but for the name."""
    pairs: dict[str, str] = {}
    for old_key, old in sorted(gone.items()):
        for new_key, new in sorted(came.items()):
            old, new = _without_value(old), _without_value(new)  # a rename keeps no value
            if new_key in pairs.values() or _outline(old) != _outline(new):
                continue
            if _renamed(old, new.name) == new:
                pairs[old_key] = new_key
                break
    return pairs


def _outline(group: TablePrint) -> tuple[object, ...]:
    """What a rename leaves as it was: a cheap test before the whole comparison."""
    return kind(group), len(group.objects), [c.name for c in group.columns], group[5:]


def _renamed(group: TablePrint, name: str) -> TablePrint:
    """The group as it reads after its name became `name` (in its parts' names and SQL too)."""

    def swap(text: str) -> str:
        return _swap_name(text, group.name, name)

    objects = tuple(sorted(SchemaObject(o.type, swap(o.name), swap(o.sql)) for o in group.objects))
    columns = tuple(c._replace(default=c.default and swap(c.default)) for c in group.columns)
    return group._replace(name=name, objects=objects, columns=columns)


def _swap_name(text: str, old: str, new: str) -> str:
    """`text` with the name `old` (as a whole word, quoted or not) replaced by `new`."""
    return re.sub(rf"(?<![\w$]){re.escape(old)}(?![\w$])", lambda _: new, text)


def _group_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    lines = _main_differences(old, new)
    lines += _option_differences(old, new)
    lines += _columns_and_data(old, new, wording)
    for part in PART_KINDS:
        lines += _part_differences(old, new, part, wording)
    lines += _comment_differences(old, new, wording)
    if kind(old) == "sequence" == kind(new) and None is not old.digest != new.digest is not None:
        # worded as SQLite's AUTOINCREMENT counters (ci.db.fingerprint_diff)
        lines.append(f"value of sequence {old.name}: {old.digest} {wording.was}, "
                     f"{new.digest} {wording.now}")  # fmt: skip
    if not lines:  # a difference no line above names: never silence
        lines.append(f"{kind(old)} {old.name}: definition differs")
    return lines


def _main_differences(old: TablePrint, new: TablePrint) -> list[str]:
    before, after = _main(old), _main(new)
    if before == after or before is None or after is None:
        return []
    what = f"{kind(old)} {old.name}"
    if before.type != after.type or before.type == "table":
        return [f"{what}: {kind(old)} -> {kind(new)}"]
    if before.type in LONG_DEFINITIONS:
        return [f"{what} definition changed"]
    if before.type == "enum":
        return _label_differences(what, before.sql, after.sql)
    if before.type == "sequence":
        return _clause_differences(what, before.sql, after.sql)
    return [f"{what}: {before.sql} -> {after.sql}"]


_LABEL = re.compile(r"'((?:[^']|'')*)'")


def _label_differences(what: str, before: str, after: str) -> list[str]:
    old = [label.replace("''", "'") for label in _LABEL.findall(before)]
    new = [label.replace("''", "'") for label in _LABEL.findall(after)]
    lost = [label for label in old if label not in new]
    found = [label for label in new if label not in old]
    if len(lost) == len(found) == 1 and old.index(lost[0]) == new.index(found[0]):
        return [f"{what}: label '{lost[0]}' renamed to '{found[0]}'"]
    lines = [f"{what}: label '{label}' missing" for label in lost]
    lines += [f"{what}: label '{label}' left behind" for label in found]
    if not lines:
        lines.append(f"{what}: labels in another order: {before} -> {after}")
    return lines


# where a sequence's definition (as ci.db.postgres.fingerprint_objects writes it) has a clause
_CLAUSE = re.compile(
    r" (?=AS |START WITH |INCREMENT BY |MINVALUE |MAXVALUE |CACHE |NO CYCLE|CYCLE"
    r"|OWNED BY |IDENTITY OF )(?<!NO )"
)


def _clause_differences(what: str, before: str, after: str) -> list[str]:
    def clauses(sql: str) -> dict[str, str]:
        found = {}
        for clause in _CLAUSE.split(sql):
            word = clause.split(" ", 1)[0]
            found[{"NO": "CYCLE", "IDENTITY": "OWNED"}.get(word, word)] = clause
        return found

    old, new = clauses(before), clauses(after)
    return [
        f"{what}: {old.get(key, 'not owned')} -> {new.get(key, 'not owned')}"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ]


def _by_name(group: TablePrint, type_: str) -> dict[str, str]:
    return {o.name: o.sql for o in group.objects if o.type == type_ and o.name != group.name}


def _option_differences(old: TablePrint, new: TablePrint) -> list[str]:
    before, after = _by_name(old, "option"), _by_name(new, "option")
    return [
        f"{_option_owner(old, option)}: {what} {before.get(option, 'none')} -> "
        f"{after.get(option, 'none')}"
        for option in sorted(set(before) | set(after))
        if before.get(option) != after.get(option)
        for what in [option.rpartition(": ")[2]]
    ]


def _option_owner(group: TablePrint, option: str) -> str:
    """What an option is set on: the group, or one of its columns (`column t.a: storage`) or
    indexes (`index t_pkey: storage parameters`)."""
    part = option.rpartition(": ")[0]  # (a column's name may hold ": ")
    if not part:
        return f"{kind(group)} {group.name}"
    if part.startswith("column "):
        return f"column {group.name}.{part.removeprefix('column ')}"
    return f"{part} on {group.name}"


def _columns_and_data(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    """Columns and rows in SQLite's words: the groups reduced to them (and one object, the
    same on both sides, so a table is called a table)."""
    if not (old.columns or new.columns or old.rows is not None):
        return []
    main = (SchemaObject("table", old.name, ""),)
    before = TablePrint(old.name, main, old.columns, rows=old.rows, digest=old.digest)
    after = TablePrint(old.name, main, new.columns, rows=new.rows, digest=new.digest)
    return describe_columns_and_data(
        Fingerprint({"group": before}), Fingerprint({"group": after}), wording=wording
    )


def _part_differences(old: TablePrint, new: TablePrint, part: str, wording: Wording) -> list[str]:
    """A table's indexes, constraints, triggers, policies or rules: missing, left behind,
    renamed (the same definition under another name), invalid, or changed."""
    before, after = _by_name(old, part), _by_name(new, part)
    table = old.name
    gone = sorted(set(before) - set(after))
    came = sorted(set(after) - set(before))
    lines = []
    for name in gone:
        twin = next((c for c in came if _swap_name(before[name], name, c) == after[c]), None)
        if twin is None:
            lines.append(f"{part} {name} on {table} {wording.missing}")
        else:
            came.remove(twin)
            lines.append(f"{part} {name} on {table} renamed to {twin}")
    lines += [f"{part} {name} on {table} {wording.extra}" for name in came]
    for name in sorted(set(before) & set(after)):
        if before[name] != after[name]:
            lines.append(f"{part} {name} on {table}: {_change(part, before[name], after[name])}")
    return lines


def _change(part: str, before: str, after: str) -> str:
    suffix = INVALID.get(part)
    if suffix and before.removesuffix(suffix) == after.removesuffix(suffix):
        invalid = suffix.strip()
        return f"{invalid} -> valid" if before.endswith(suffix) else f"valid -> {invalid}"
    return f"{before} -> {after}"


def _comment_differences(old: TablePrint, new: TablePrint, wording: Wording) -> list[str]:
    before, after = _by_name(old, "comment"), _by_name(new, "comment")
    lines = []
    for target in sorted(set(before) | set(after)):
        was, now = before.get(target), after.get(target)
        if was == now:
            continue
        if now is None:
            lines.append(f"comment {target} {wording.missing}")
        elif was is None:
            lines.append(f"comment {target} {wording.extra}")
        else:
            lines.append(f"comment {target} changed: {was!r} {wording.was}, {now!r} {wording.now}")
    return lines
