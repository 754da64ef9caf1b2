"""What differs between a committed PostgreSQL schema snapshot and the one the migrations
produce (both printed by ci.db.postgres.snapshot), in the words of SQLite's drift
(ci.db.fingerprint_diff.DRIFT): `column patients.phone created by the migrations but not in the
snapshot`, `index idx_vitals_mrn on vitals in the snapshot but not created by the migrations`.

A snapshot is read back as blocks: each starts with a `-- <kind> <name>` line after a blank
line, and runs to the next one. A table's block is compared column by column and constraint by
constraint, an enum's label by label; an object that went while another of its kind came with
the same text but for the name was renamed; any other block names its first differing line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ci.db.fingerprint_diff import DRIFT
from ci.db.postgres.snapshot import SECTIONS, TABLE_PARTS

VERSION = re.compile(r"^-- Written on PostgreSQL (\d+) ", re.MULTILINE)
KINDS = sorted({*SECTIONS, *TABLE_PARTS, "partitioned table", "foreign table"}, key=len)[::-1]
TABLE_KINDS = ("table", "partitioned table", "foreign table", "type")
SHOWN = 160  # characters of a definition shown in one difference
_LABEL = re.compile(r"'((?:[^']|'')*)'")


@dataclass
class Snapshot:
    """A snapshot file read back: the server major version that wrote it (None: not a
    PostgreSQL snapshot) and its blocks by title, in the file's order."""

    major: int | None
    blocks: dict[str, str] = field(default_factory=dict)


def parse_snapshot(text: str) -> Snapshot:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    version = VERSION.search(text.split("\n\n", 1)[0])
    snapshot = Snapshot(int(version[1]) if version else None)
    title: str | None = None
    lines: list[str] = []
    previous = ""
    for line in text.split("\n"):
        if line.startswith("-- ") and not previous.strip() and (title is not None or lines):
            _close(snapshot, title, lines)
            title, lines = line[3:].strip(), []
        else:
            lines.append(line)
        previous = line
    _close(snapshot, title, lines)
    return snapshot


def _close(snapshot: Snapshot, title: str | None, lines: list[str]) -> None:
    if title is None:  # the header
        return
    body = "\n".join(line.rstrip() for line in lines).strip("\n").removesuffix(";")
    key, number = title, 1
    while key in snapshot.blocks:  # never drop a block, even a title printed twice
        number += 1
        key = f"{title} ({number})"
    snapshot.blocks[key] = body


def describe_drift(expected: Snapshot, actual: Snapshot) -> list[str]:
    """One line per difference, in the order of the committed file, then new objects."""
    before, after = expected.blocks, actual.blocks
    gone = [t for t in before if t not in after]
    came = [t for t in after if t not in before]
    renamed = _renames(gone, came, before, after)
    lines = []
    for title in [*before, *(t for t in after if t not in before)]:
        old, new = before.get(title), after.get(title)
        if old == new or title in renamed.values():
            continue
        if title in renamed:
            lines.append(f"{title} renamed to {_name(renamed[title])}")
        elif new is None:
            lines.append(f"{title} {DRIFT.missing}")
        elif old is None:
            lines.append(f"{title} {DRIFT.extra}")
        else:
            lines += _changed(title, old, new)
    return lines


def _kind(title: str) -> str:
    return next((k for k in KINDS if title.startswith(k + " ")), "object")


def _name(title: str) -> str:
    """The object's name: `index a on t` -> `a`, `table t` -> `t`."""
    kind = _kind(title)
    name = title[len(kind) + 1 :]
    return name.split(" on ", 1)[0] if kind in TABLE_PARTS else name


def _renames(
    gone: list[str], came: list[str], before: dict[str, str], after: dict[str, str]
) -> dict[str, str]:
    """{old title: new title} for an object that went while one of the same kind came whose
    text is the same but for the name."""
    pairs: dict[str, str] = {}
    for old in gone:
        old_name = _name(old)
        for new in came:
            if new in pairs.values() or _kind(new) != _kind(old):
                continue
            if _swap(before[old], old_name, _name(new)) == after[new]:
                pairs[old] = new
                break
    return pairs


def _swap(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w$]){re.escape(old)}(?![\w$])", lambda _: new, text)


def _changed(title: str, old: str, new: str) -> list[str]:
    kind = _kind(title)
    if kind in TABLE_KINDS and old.split("\n", 1)[0].endswith("("):
        lines = _table_changes(_name(title), old, new)
        if lines:
            return lines
    if kind == "enum":
        return _label_changes(title, old, new)
    if "\n" not in old and "\n" not in new:
        return [f"{title}: {_short(old)} {DRIFT.was}, {_short(new)} {DRIFT.now}"]
    return [_first_line_changed(title, old, new)]


def _first_line_changed(title: str, old: str, new: str) -> str:
    was, now = old.split("\n"), new.split("\n")
    number = next(
        (i for i, (a, b) in enumerate(zip(was, now, strict=False)) if a != b),
        min(len(was), len(now)),
    )
    a = was[number].strip() if number < len(was) else "(end)"
    b = now[number].strip() if number < len(now) else "(end)"
    return (
        f"{title} definition changed at its line {number + 1}: "
        f"`{_short(a)}` {DRIFT.was}, `{_short(b)}` {DRIFT.now}"
    )


def _table_changes(table: str, old: str, new: str) -> list[str]:
    """A table's columns and constraints (inside CREATE TABLE) and its other statements."""
    before, after = _table_items(table, old), _table_items(table, new)
    lines = []
    for item in [*before, *(i for i in after if i not in before)]:
        was, now = before.get(item), after.get(item)
        if was == now:
            continue
        if now is None:
            lines.append(f"{item} {DRIFT.missing}")
        elif was is None:
            extra = DRIFT.extra_column if item.startswith("column ") else DRIFT.extra
            lines.append(f"{item} {extra}")
        else:
            lines.append(f"{item}: {_short(was)} {DRIFT.was}, {_short(now)} {DRIFT.now}")
    if not lines and list(before) != list(after):
        columns = [i for i in before if i.startswith("column ")]
        order = [i for i in after if i.startswith("column ")]
        lines.append(
            f"table {table}: columns in another order: "
            f"{_names(columns)} {DRIFT.was}, {_names(order)} {DRIFT.now}"
        )
    return lines


def _names(items: list[str]) -> str:
    return ", ".join(item.rsplit(".", 1)[-1] for item in items)


def _table_items(table: str, body: str) -> dict[str, str]:
    """{`column t.c` / `constraint k on t` / a statement: its definition}."""
    items: dict[str, str] = {}
    lines = body.split("\n")
    inside = lines[0].endswith("(")
    rest: list[str] = []
    for line in lines[1:] if inside else lines:
        if inside and line.startswith(")"):
            inside = False
            rest.append(line)  # `) PARTITION BY ...`: a statement of its own
        elif inside and line.strip():
            name, definition = _split_name(line.strip().rstrip(","))
            if name.startswith("CONSTRAINT "):
                cname, definition = _split_name(definition)
                items[f"constraint {cname} on {table}"] = definition
            else:
                items[f"column {table}.{name}"] = definition
        else:
            rest.append(line)
    for statement in "\n".join(rest).split(";\n"):
        if statement.strip():
            items[statement.strip().rstrip(";")] = ""
    return items


def _split_name(text: str) -> tuple[str, str]:
    """(`name`, the rest) of `name rest` or `"quoted name" rest`; `CONSTRAINT` is its own word."""
    if text.startswith("CONSTRAINT "):
        return "CONSTRAINT ", text[len("CONSTRAINT ") :]
    if text.startswith('"'):
        end = re.match(r'"(?:[^"]|"")*"', text)
        if end:
            return end[0][1:-1].replace('""', '"'), text[end.end() :].strip()
    name, _, rest = text.partition(" ")
    return name, rest


def _label_changes(title: str, old: str, new: str) -> list[str]:
    was = [label.replace("''", "'") for label in _LABEL.findall(old)]
    now = [label.replace("''", "'") for label in _LABEL.findall(new)]
    lines = [f"{title}: label '{label}' {DRIFT.missing}" for label in was if label not in now]
    lines += [f"{title}: label '{label}' {DRIFT.extra}" for label in now if label not in was]
    if not lines:
        labels = ", ".join(f"'{label}'" for label in was)
        order = ", ".join(f"'{label}'" for label in now)
        lines.append(f"{title}: labels in another order: {labels} {DRIFT.was}, {order} {DRIFT.now}")
    return lines


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."
