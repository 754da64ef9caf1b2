"""The schema snapshot of a PostgreSQL database: every user object, printed as SQL in a stable
order, one block per object, each block opened by a `-- <kind> <name>` line that names it.

It is printed from the catalog fingerprint (ci.db.postgres.fingerprint), so it holds what the
rollback round trip compares, read the same way: definitions by the server's own deparsers
(pg_get_indexdef, pg_get_viewdef, pg_get_functiondef, pg_get_triggerdef, ...) under fixed
settings, no OIDs, the runner's tables and extensions' members left out. Two runs, or two
servers of one major version, print the same text; the header names that major version, since
the deparsers' spelling may change between major versions.

Not `pg_dump --schema-only`: it may be missing where the check runs (a CI runner with only the
Python package), it refuses servers newer than itself, its text (header, SET lines, dependency
order) changes with the pg_dump version and with unrelated objects, and it prints owners and
grants with the role names of the server it ran on.

Grants are printed without the owner's own rights and without the grantor (the role that runs
the check owns everything, and is named differently on each server).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ci.db.fingerprint_records import Column, Fingerprint, SchemaObject, TablePrint

if TYPE_CHECKING:
    import psycopg

FIRST_LINE = (
    "-- Schema snapshot: the schema the migrations produce (runner bookkeeping left out).\n"
)
VERSION_LINE = "-- Written on PostgreSQL {major} by"
HEADER = (
    FIRST_LINE
    + VERSION_LINE
    + " `python -m ci.apply_empty --engine postgresql --write-snapshot`;\n"
    "-- a difference fails apply_empty. Definitions as the server prints them.\n"
)
# the order of the sections of the file: a table's indexes, triggers, ... follow the table
SECTIONS = (
    "schema",
    "extension",
    "collation",
    "enum",
    "domain",
    "type",
    "sequence",
    "table",
    "view",
    "materialized view",
    "function",
    "procedure",
    "aggregate",
    "event trigger",
)
# a table's parts printed as objects of their own, after it
TABLE_PARTS = ("index", "trigger", "policy", "rule", "statistics")
# COMMENT ON's word for a kind the fingerprint names otherwise
COMMENT_KINDS = {"partitioned table": "TABLE", "enum": "TYPE"}
# kinds whose name is a signature, `f(integer)`: printed as it is, never quoted whole
ROUTINES = ("function", "procedure", "aggregate")
PRIVILEGES = {
    "r": "SELECT",
    "a": "INSERT",
    "w": "UPDATE",
    "d": "DELETE",
    "D": "TRUNCATE",
    "x": "REFERENCES",
    "t": "TRIGGER",
    "U": "USAGE",
    "m": "MAINTAIN",
    "X": "EXECUTE",
    "C": "CREATE",
    "c": "CONNECT",
    "T": "TEMPORARY",
}
# ALTER COLUMN ... SET <word> for each column option of the fingerprint
COLUMN_SETTINGS = {
    "storage": "STORAGE",
    "statistics target": "STATISTICS",
    "compression": "COMPRESSION",
}
PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_$]*$")


def snapshot_text(conn: psycopg.Connection[Any]) -> str:
    """The snapshot file of the database `conn` is connected to."""
    from ci.db.postgres.fingerprint import schema_fingerprint

    major = conn.info.server_version // 10000
    return render(schema_fingerprint(conn), major)


def render(printed: Fingerprint, major: int) -> str:
    blocks = sorted(
        (place, block) for group in printed.groups.values() for place, block in _blocks(group)
    )
    return HEADER.format(major=major) + "".join(f"\n{block}" for _, block in blocks)


def _blocks(group: TablePrint) -> list[tuple[tuple[int, str, int, str], str]]:
    """(where it sorts, its text) of the group's object and of its table's parts."""
    main = _main(group)
    kind = _kind(main)
    ranked = "table" if kind in ("partitioned table", "foreign table") else kind
    section = SECTIONS.index(ranked) if ranked in SECTIONS else len(SECTIONS)
    comments = {o.name: o.sql for o in group.objects if o.type == "comment"}
    text = _block(f"{kind} {group.name}", _statements(group, main, kind, comments))
    blocks = [((section, group.name, 0, ""), text)]
    for o in group.objects:
        if o.type in TABLE_PARTS:
            comment = comments.get(f"on {o.type} {o.name}")
            statements = _part(o, _sql_name(group.name), comment)
            place = (section, group.name, 1 + TABLE_PARTS.index(o.type), o.name)
            blocks.append((place, _block(f"{o.type} {o.name} on {group.name}", statements)))
    return blocks


def _block(title: str, statements: list[str]) -> str:
    return f"-- {title}\n" + "".join(f"{s};\n" for s in statements)


def _main(group: TablePrint) -> SchemaObject:
    return next(
        (o for o in group.objects if o.name == group.name and o.type not in ("comment", "option")),
        SchemaObject("object", group.name, ""),
    )


def _kind(main: SchemaObject) -> str:
    """`table`, `partitioned table`, `view`, `enum`, ... (a table's main object says which)."""
    return main.sql if main.type == "table" else main.type


def _statements(
    group: TablePrint, main: SchemaObject, kind: str, comments: dict[str, str]
) -> list[str]:
    name = group.name if kind in ROUTINES else _sql_name(group.name)
    options = {o.name: o.sql for o in group.objects if o.type == "option"}
    if main.type == "table" or (kind == "type" and group.columns):
        statements = [_create_table(group, kind, options)]
    elif kind == "default privileges":
        return _default_privileges(group.name, main.sql)
    else:
        statements = [_create(kind, name, main.sql)]
    if kind in ROUTINES or kind == "schema":
        statements += _privileges(f"{'SCHEMA' if kind == 'schema' else 'ROUTINE'} {name}", options)
    else:
        statements += _table_options(name, options)
    # the comments of the table's parts printed on their own go with them (_part)
    own = {f"on {o.type} {o.name}" for o in group.objects if o.type in TABLE_PARTS}
    for target, text in sorted(comments.items()):
        if target not in own:
            statements.append(_comment(target, text, group.name, kind))
    return statements


def _create(kind: str, name: str, definition: str) -> str:
    """The statement that creates a non-table object, from the fingerprint's definition."""
    if kind in ("function", "procedure"):
        return definition.rstrip()  # pg_get_functiondef: a whole CREATE OR REPLACE
    if kind in ("view", "materialized view"):
        return f"CREATE {kind.upper()} {name} AS\n{definition.rstrip().rstrip(';')}"
    if kind == "aggregate":
        return f"CREATE AGGREGATE {name} {definition.removeprefix('AGGREGATE ')}"
    if kind == "enum":
        return f"CREATE TYPE {name} AS {definition}"
    # schema, domain, range or composite type, sequence, extension, collation, event trigger
    return f"CREATE {kind.upper()} {name} {definition}".rstrip()


def _create_table(group: TablePrint, kind: str, options: dict[str, str]) -> str:
    """CREATE TABLE with its columns (in their order) and constraints (by name)."""
    lines = [f"    {_column(column)}" for column in group.columns]
    lines += [
        f"    CONSTRAINT {_ident(o.name)} {o.sql}" for o in group.objects if o.type == "constraint"
    ]
    persistence = " UNLOGGED" if options.get("persistence") == "UNLOGGED" else ""
    what = {"type": "TYPE", "foreign table": "FOREIGN TABLE"}.get(kind, "TABLE")
    opening = f"CREATE{persistence} {what} {_sql_name(group.name)} ("
    if what == "TYPE":
        opening = f"CREATE TYPE {_sql_name(group.name)} AS ("
    closing = ")"
    if "partitioned by" in options:
        closing += f" PARTITION BY {options['partitioned by']}"
    if "inherits" in options:
        parents = ", ".join(_sql_name(p) for p in options["inherits"].split(", "))
        closing += f" INHERITS ({parents})"
    return "\n".join([opening, ",\n".join(lines), closing]) if lines else opening + closing


def _column(column: Column) -> str:
    default = column.default
    text = f"{_ident(column.name)} {column.type}"
    if default is not None:
        text += f" {default}" if default.startswith("GENERATED ") else f" DEFAULT {default}"
    return text + (" NOT NULL" if column.notnull else "")


def _table_options(name: str, options: dict[str, str]) -> list[str]:
    statements = []
    partition = options.get("partition of")
    if partition is not None:
        parent, _, bound = partition.partition(" FOR VALUES ")
        bound = f"FOR VALUES {bound}" if bound else "DEFAULT"
        parent = parent.removesuffix(" DEFAULT")
        parent = ", ".join(_sql_name(p) for p in parent.split(", "))
        statements.append(f"ALTER TABLE {parent} ATTACH PARTITION {name} {bound}")
    for word in options.get("row level security", "").split(", "):
        if word:
            statements.append(f"ALTER TABLE {name} {word} ROW LEVEL SECURITY")
    if "storage parameters" in options:
        statements.append(f"ALTER TABLE {name} SET ({options['storage parameters']})")
    if "privileges" in options:
        statements += _grants(name, options["privileges"])
    if "replica identity" in options:
        statements.append(f"ALTER TABLE {name} REPLICA IDENTITY {options['replica identity']}")
    if "clustered on" in options:
        statements.append(f"ALTER TABLE {name} CLUSTER ON {options['clustered on']}")
    for option, value in options.items():
        part, _, what = option.rpartition(": ")
        if part.startswith("index "):
            index = _ident(part.removeprefix("index "))
            statements.append(f"ALTER INDEX {index} SET ({value})")
        elif part.startswith("column "):
            statements += _column_option(name, _ident(part.removeprefix("column ")), what, value)
    return statements


def _column_option(table: str, column: str, what: str, value: str) -> list[str]:
    """ALTER COLUMN ... SET STORAGE / STATISTICS / COMPRESSION, or the column's GRANTs."""
    if what == "privileges":
        return _grants(table, value, f" ({column})")
    return [f"ALTER TABLE {table} ALTER COLUMN {column} SET {COLUMN_SETTINGS[what]} {value}"]


def _privileges(target: str, options: dict[str, str]) -> list[str]:
    """A routine's or schema's rights when not the default: PUBLIC's taken, then the
    GRANTs."""
    if "privileges" not in options:
        return []
    return [f"REVOKE ALL ON {target} FROM PUBLIC", *_grants(target, options["privileges"])]


def _default_privileges(name: str, acl: str) -> list[str]:
    """ALTER DEFAULT PRIVILEGES: `name` is `[FOR ROLE r ][IN SCHEMA s ]ON TABLES`."""
    scope, _, objects = f" {name}".rpartition(" ON ")
    statements = _grants(objects, acl)
    if not statements:  # only rights taken away
        return [f"ALTER DEFAULT PRIVILEGES{scope} REVOKE ALL ON {objects} FROM PUBLIC"]
    return [f"ALTER DEFAULT PRIVILEGES{scope} {statement}" for statement in statements]


def _grants(name: str, acl: str, columns: str = "") -> list[str]:
    """`GRANT SELECT ON t TO reporting` for each role's rights, but the owner's own: the items
    of an ACL read `grantee=rights/grantor`, the owner being the grantor of its own."""
    statements = []
    for item in acl.split(", "):
        grantee, _, rest = item.partition("=")
        rights, _, grantor = rest.partition("/")
        if grantee == grantor:
            continue
        words = [PRIVILEGES.get(letter, letter) + columns for letter in rights if letter != "*"]
        option = " WITH GRANT OPTION" if "*" in rights else ""
        who = grantee or "PUBLIC"
        statements.append(f"GRANT {', '.join(words)} ON {name} TO {who}{option}")
    return statements


def _part(part: SchemaObject, table: str, comment: str | None) -> list[str]:
    """An index, trigger, policy, rule or extended statistics of `table`."""
    sql = part.sql
    statements = []
    if part.type == "policy":
        statements.append(f"CREATE POLICY {_ident(part.name)} ON {table} AS {sql}")
    elif part.type == "trigger":
        created, state = _trigger_state(sql)
        statements.append(created)
        if state:
            statements.append(f"ALTER TABLE {table} {state} TRIGGER {_ident(part.name)}")
    else:
        statements.append(sql.rstrip().rstrip(";"))
    if comment is not None:
        on = f" ON {table}" if part.type == "trigger" else ""
        what = f"{part.type.upper()} {_ident(part.name)}{on}"
        statements.append(f"COMMENT ON {what} IS {_literal(comment)}")
    return statements


def _trigger_state(sql: str) -> tuple[str, str]:
    """pg_get_triggerdef's statement and the state the fingerprint appended (DISABLED, ...)."""
    for state in ("DISABLE", "ENABLE REPLICA", "ENABLE ALWAYS"):
        suffix = " DISABLED" if state == "DISABLE" else f" {state}"
        if sql.endswith(suffix):
            return sql.removesuffix(suffix), state
    return sql, ""


def _comment(target: str, text: str, group: str, kind: str) -> str:
    """A comment of the group (`group`: its display name, `kind`: its kind) as COMMENT ON:
    `on column patients.mrn` -> `COMMENT ON COLUMN patients.mrn IS '...'`."""
    words = target.removeprefix("on ")
    literal = _literal(text)
    if words.startswith(f"column {group}."):
        column = _ident(words[len(f"column {group}.") :])
        return f"COMMENT ON COLUMN {_sql_name(group)}.{column} IS {literal}"
    if words.startswith("constraint "):
        constraint = _ident(words.removeprefix("constraint "))
        return f"COMMENT ON CONSTRAINT {constraint} ON {_sql_name(group)} IS {literal}"
    if words.startswith("index "):  # the index of a PRIMARY KEY or UNIQUE constraint
        return f"COMMENT ON INDEX {_ident(words.removeprefix('index '))} IS {literal}"
    if words == f"{kind} {group}":
        name = group if kind in ROUTINES else _sql_name(group)
        return f"COMMENT ON {COMMENT_KINDS.get(kind, kind.upper())} {name} IS {literal}"
    return f"-- comment {words}: {literal}"  # a comment on something else: shown, not lost


def _sql_name(display: str) -> str:
    """A display name (`patients`, `audit.log`, `Mixed Case`) as SQL names it: quoted where
    it must be. The schema is the part before the first dot, as the fingerprint joins them."""
    schema, dot, name = display.partition(".")
    return f"{_ident(schema)}.{_ident(name)}" if dot else _ident(display)


def _ident(name: str) -> str:
    return name if PLAIN_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
