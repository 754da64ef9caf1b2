"""What a PostgreSQL statement's parse tree (pglast, PostgreSQL's own parser) says it touches:
the runner's own tables it would change, the functions it calls. Read by the gatekeeper's rules
(ci.db.postgres.gate_rules); nothing here runs a statement.

The tree is walked whole, so a write hidden in a CTE (`WITH x AS (DELETE FROM schema_version
RETURNING 1) SELECT 1`), a rule's action, an SQL function's body or the static SQL of a
PL/pgSQL function or DO block is found wherever it is (not dynamic SQL: EXECUTE of a string).
Names come from the parser: unquoted identifiers are already folded to lower case, quoted ones
keep their case (`"Schema_Version"` is another table), so no spelling slips past.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType
from pglast.parser import ParseError, parse_plpgsql_json, parse_sql

BOOKKEEPING_TABLES = frozenset(("schema_version", "schema_version_log"))

# Nodes that change a table or put something on it: node kind -> (the attribute naming the
# table or tables, what the statement does to it).
TABLE_CHANGES = {
    "InsertStmt": ("relation", "inserts into it"),
    "UpdateStmt": ("relation", "updates it"),
    "DeleteStmt": ("relation", "deletes from it"),
    "MergeStmt": ("relation", "merges into it"),
    "TruncateStmt": ("relations", "truncates it"),
    "AlterTableStmt": ("relation", "alters it"),
    "RenameStmt": ("relation", "renames it"),
    "AlterObjectSchemaStmt": ("relation", "moves it to another schema"),
    "IndexStmt": ("relation", "creates an index on it"),
    "CreateTrigStmt": ("relation", "creates a trigger on it"),
    "RuleStmt": ("relation", "creates a rule on it"),
    "CreatePolicyStmt": ("table", "creates a policy on it"),
    "AlterPolicyStmt": ("table", "alters a policy on it"),
    "GrantStmt": ("objects", "changes who may change it"),
    "CreateStmt": ("relation", "creates a table of that name"),
    "ViewStmt": ("view", "creates a view of that name"),
    "IntoClause": ("rel", "creates a table of that name"),  # CREATE TABLE AS, SELECT INTO
    "Constraint": ("pktable", "adds a foreign key that references it (its rows could then no "
                   "longer be removed)"),
}  # fmt: skip
# Nodes that make another table a child of one: its rows would be read as the parent's by any
# query without ONLY (the runner's own queries use ONLY; the gate keeps the tables childless).
INHERITANCE = {
    "CreateStmt": ("inhRelations", "creates a table that inherits from it (INHERITS or "
                   "PARTITION OF)"),
    "AlterTableCmd": ("def_", "makes a table inherit from it (ALTER TABLE ... INHERIT)"),
}  # fmt: skip
# DROP of an object whose name (last part) is the table, or of one on a table (second to last).
DROPPED_TABLES = frozenset((
    ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_FOREIGN_TABLE,
))  # fmt: skip
DROPPED_ON_TABLE = frozenset(
    (ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_RULE, ObjectType.OBJECT_POLICY)
)


def walk(node: object, *, created: bool = True) -> Iterator[ast.Node]:
    """Every node of the tree under `node` (itself first), with the statements of the DO blocks
    it runs and, when `created`, of the functions it creates (they run when called)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(reversed(item))
        elif isinstance(item, ast.Node):
            yield item
            slots: dict[str, object] = type(item).__slots__  # type: ignore[attr-defined]
            stack.extend(getattr(item, name) for name in reversed(slots))
            if isinstance(item, ast.DoStmt) or (
                created and isinstance(item, ast.CreateFunctionStmt)
            ):
                stack.extend(body_statements(item))


def body_statements(node: ast.CreateFunctionStmt | ast.DoStmt) -> list[ast.Node]:
    """The statements written in a function's or DO block's body as a string (`AS $$ ... $$`):
    LANGUAGE sql, or the static SQL of PL/pgSQL (dynamic EXECUTE strings stay unseen). A BEGIN
    ATOMIC body is in the tree already; other languages' bodies are opaque here."""
    options = node.args if isinstance(node, ast.DoStmt) else node.options
    values = {option.defname: option.arg for option in options or ()}
    language, body = values.get("language"), values.get("as")
    if isinstance(body, tuple):  # a function's: (body,) or (object file, symbol)
        body = body[0] if len(body) == 1 else None
    if not isinstance(body, ast.String):
        return []
    name = str(language.sval).lower() if isinstance(language, ast.String) else "plpgsql"
    if name == "sql":
        return _statements(str(body.sval))
    if name == "plpgsql":
        queries = _plpgsql_queries(node, str(body.sval))
        return [tree for query in queries for tree in _statements(query)]
    return []


def _statements(text: str) -> list[ast.Node]:
    try:
        return [raw.stmt for raw in parse_sql(text) if raw.stmt is not None]
    except ParseError:
        return []  # an expression, not a statement; or the server will say so


def _plpgsql_queries(node: ast.CreateFunctionStmt | ast.DoStmt, body: str) -> list[str]:
    """The SQL text of every statement and expression in a PL/pgSQL body (PostgreSQL's own
    PL/pgSQL parser, through pglast; a body it cannot compile out of context gives none)."""
    tag = "$mg$"
    while tag in body:
        tag = tag[:-1] + "g$"
    setof = getattr(getattr(node, "returnType", None), "setof", False)
    returns = "SETOF record" if setof else "trigger"
    wrapped = (
        f"DO {tag}{body}{tag}"
        if isinstance(node, ast.DoStmt)
        else f"CREATE FUNCTION mg() RETURNS {returns} LANGUAGE plpgsql AS {tag}{body}{tag}"
    )
    try:
        tree = json.loads(parse_plpgsql_json(wrapped))
    except (ParseError, ValueError):
        return []
    queries: list[str] = []
    stack: list[object] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            query = item.get("query")
            if isinstance(query, str):
                queries.append(query)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return queries


def bookkeeping_name(relation: object) -> str | None:
    """The runner's table `relation` names, or None."""
    if isinstance(relation, ast.RangeVar) and relation.relname in BOOKKEEPING_TABLES:
        return str(relation.relname)
    return None


def bookkeeping_changes(tree: ast.Node) -> Iterator[tuple[ast.Node, str, str]]:
    """(node, table, what it does to it) for each change of the runner's tables in `tree`."""
    for node in walk(tree):
        kind = type(node).__name__
        for changes in (TABLE_CHANGES, INHERITANCE):
            if kind in changes:
                attribute, what = changes[kind]
                value = getattr(node, attribute)
                for relation in value if isinstance(value, tuple | list) else (value,):
                    name = bookkeeping_name(relation)
                    if name is not None:
                        yield node, name, f"this statement {what}"
        if isinstance(node, ast.RenameStmt) and node.newname in BOOKKEEPING_TABLES:
            yield node, str(node.newname), "this statement renames something to that name"
        elif isinstance(node, ast.DropStmt):
            for name in dropped_bookkeeping(node):
                yield node, name, "this statement drops it or something on it"


def dropped_bookkeeping(drop: ast.DropStmt) -> list[str]:
    """The runner's tables a DROP removes, or removes a trigger, rule or policy from."""
    if drop.removeType in DROPPED_TABLES:
        position = -1
    elif drop.removeType in DROPPED_ON_TABLE:
        position = -2
    else:
        return []
    found = []
    for name in drop.objects or ():
        parts = [str(part.sval) for part in name if isinstance(part, ast.String)]
        if len(parts) >= -position and parts[position] in BOOKKEEPING_TABLES:
            found.append(parts[position])
    return found


def function_name(node: ast.Node) -> str | None:
    """The (unqualified, lower case) name of the function a FuncCall node calls."""
    if not isinstance(node, ast.FuncCall) or not node.funcname:
        return None
    last = node.funcname[-1]
    return str(last.sval).lower() if isinstance(last, ast.String) else None


def called_functions(tree: ast.Node) -> Iterator[str]:
    """The names of the functions the statement calls now (function_name): not those in the
    bodies of functions it creates (only calling them runs them)."""
    for node in walk(tree, created=False):
        name = function_name(node)
        if name is not None:
            yield name
