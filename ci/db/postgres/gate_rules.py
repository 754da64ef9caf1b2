"""The PostgreSQL gatekeeper's rules, written once as data: for each kind of statement (the node
type of PostgreSQL's own parse tree, through pglast) whether the runner runs it, ignores it with
a notice or refuses it, and why. ci.db.postgres.statements.PgGate applies them; the verdicts are
worded like the SQLite gatekeeper's (ci.db.gate_rules, ci.db.gate_bookkeeping).

Ignored with a notice (the runner owns the transaction and keeps its own records):
- BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION;
- a plain INSERT INTO schema_version; in a rollback file, a plain DELETE FROM schema_version.

Run, and set back after the file (`PgGate.restore`): SET and RESET without LOCAL (also ROLE and
SESSION AUTHORIZATION), set_config(..., false), DISCARD PLANS / SEQUENCES / TEMP. SET LOCAL ends
with the transaction.

Refused, in every run:
- COMMIT PREPARED, ROLLBACK PREPARED: they finish another session's transaction;
- RELEASE / ROLLBACK TO a savepoint the file did not open; any savepoint in a @no-transaction
  file;
- any other change to schema_version or schema_version_log: a write (also inside a CTE, a rule's
  action or an SQL function's body), TRUNCATE, ALTER, RENAME, DROP, an index, trigger, rule,
  policy or grant on them, a table or view of that name, a foreign key that references them, a
  table that inherits from them (INHERITS, PARTITION OF, ALTER TABLE ... INHERIT);
- pg_advisory_unlock, pg_advisory_unlock_shared, pg_advisory_unlock_all and DISCARD ALL: they
  release the runner's own session lock, which makes two runners take turns;
- ALTER ROLE ... SET (also ALTER USER, ALTER ROLE ALL, ... IN DATABASE): it changes the settings
  of every later session of the role on the whole server;
- ALTER SYSTEM, LOAD, CHECKPOINT, CREATE/DROP DATABASE, CREATE/ALTER/DROP TABLESPACE, LISTEN:
  they change the server for every database or session, or write outside this database;
- COPY: a server file or program is outside the database, and a file of statements carries no
  COPY data (STDIN) nor reads its output (STDOUT);
- functions that write the server's files, act on other sessions or reach other databases
  (lo_export, pg_terminate_backend, pg_reload_conf, every dblink* function, ...: see
  ci.db.postgres.gate_reach);
- ALTER DATABASE of a database other than the one being migrated.

Refused on a check's throwaway database only (they belong to the whole server and outlive it);
allowed in a real run, where creating the application's roles is part of a deploy: CREATE /
ALTER (without SET) / DROP ROLE, GRANT of a role, ALTER DATABASE, GRANT / COMMENT / OWNER /
RENAME on a database, tablespace or role, subscriptions.

Refused on a check's throwaway database only: SET / set_config of track_counts (the checks
find the tables a migration wrote by the statistics' write counters).

Refused on a check's throwaway database and in a dry run: extensions, languages, C functions
and foreign servers that reach outside the database (ci.db.postgres.gate_reach).

Refused outside a `-- @no-transaction` file, with that hint (the server would say "cannot run
inside a transaction block"): CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX
CONCURRENTLY / DATABASE / SYSTEM, VACUUM (not ANALYZE), CLUSTER without a table,
ALTER TYPE ... ADD VALUE on a server older than 12.

Not seen by a parse tree: what a PL/pgSQL function, a DO block or dynamic SQL does when it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from pglast import ast
from pglast.enums import (
    DiscardMode,
    ObjectType,
    ReindexObjectType,
    TransactionStmtKind,
    VariableSetKind,
)

from ci.db.gate_bookkeeping import bookkeeping_refused
from ci.db.gate_rules import NO_TRANSACTION_SAVEPOINT
from ci.db.gate_screen import IGNORE, REFUSE, Verdict
from ci.db.postgres.gate_reach import RUNNER_LOCK, contained, refused_function
from ci.db.postgres.gate_tree import bookkeeping_changes, called_functions, function_name, walk

RUNNER_DOC = "see 'What the runner does with your SQL' in docs/postgresql.md"


class GateState:
    """The rules that apply to one migration file's statements, and what its statements so far
    did (the savepoints it opened)."""

    __slots__ = (
        "database", "dry_run", "no_transaction", "rollback", "savepoints", "server", "throwaway"
    )  # fmt: skip

    def __init__(
        self,
        *,
        no_transaction: bool,
        rollback: bool,
        throwaway: bool,
        server: int = 150000,
        database: str = "",
        dry_run: bool = False,
    ) -> None:
        self.no_transaction = no_transaction  # each statement commits on its own
        self.rollback = rollback  # a rollback file: its DELETE of its own row is ignored
        self.throwaway = throwaway  # a check's throwaway database: nothing cluster-wide
        self.dry_run = dry_run  # rolled back at the end: nothing may reach outside (gate_reach)
        self.server = server  # the server's version number (150002)
        self.database = database  # the database migrated
        self.savepoints: list[str] = []  # opened by this file and not yet released

    def ran(self, tree: ast.Node) -> None:
        """A statement ran: a savepoint it opened or closed changes the stack."""
        if not isinstance(tree, ast.TransactionStmt) or tree.savepoint_name is None:
            return
        name, kind = tree.savepoint_name, tree.kind
        if kind == TransactionStmtKind.TRANS_STMT_SAVEPOINT:
            self.savepoints.append(name)
            return
        index = len(self.savepoints) - 1 - self.savepoints[::-1].index(name)
        # RELEASE closes the savepoint and every later one; ROLLBACK TO keeps it open
        rolled_back = kind == TransactionStmtKind.TRANS_STMT_ROLLBACK_TO
        del self.savepoints[index + rolled_back :]


Rule = Callable[[GateState, ast.Node, str], Verdict | None]


def decide(state: GateState, tree: ast.Node, words: str, *, names: bool = True) -> Verdict | None:
    """The verdict on one statement (None: run it). `words`: how it starts, as written
    (`START TRANSACTION`), for the messages. `names` false: no walk of the tree, its text
    names nothing they look for (ci.db.postgres.statements.may_name_watched)."""
    rule = RULES.get(type(tree).__name__)
    verdict = rule(state, tree, words) if rule is not None else None
    if verdict is None and names:
        verdict = _bookkeeping(state, tree) or refused_function(tree)
    if verdict is None and (state.throwaway or state.dry_run):
        verdict = contained(tree, dry_run=not state.throwaway)
    if verdict is None and state.throwaway and _sets_track_counts(tree, names=names):
        verdict = Verdict(REFUSE, f"setting track_counts is not allowed in a check: {UNCOUNTED}")
    return verdict or _fixed(state, tree, words)


# --- transactions and savepoints ------------------------------------------------------------

ENDS_OTHER = {
    TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
    TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}
SAVEPOINT_KINDS = {
    TransactionStmtKind.TRANS_STMT_SAVEPOINT: "SAVEPOINT",
    TransactionStmtKind.TRANS_STMT_RELEASE: "RELEASE",
    TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO",
}


def _transaction(state: GateState, tree: ast.TransactionStmt, words: str) -> Verdict | None:
    kind = TransactionStmtKind(tree.kind or 0)
    if kind in ENDS_OTHER:
        return Verdict(
            REFUSE,
            f"{ENDS_OTHER[kind]} {tree.gid!r} is refused: it finishes another session's "
            "prepared transaction, which is not the migration's to end",
        )
    if kind in SAVEPOINT_KINDS:
        return _savepoint(state, tree)
    why = (
        "each statement of a @no-transaction migration commits on its own"
        if state.no_transaction
        else "the runner runs each migration in its own transaction"
    )
    reason = (
        f"the runner ignores it: {why}"
        if state.no_transaction
        else "the runner owns the transaction and ignores it"
    )
    return Verdict(IGNORE, f"{words} ignored; {why}", reason)


def _savepoint(state: GateState, tree: ast.TransactionStmt) -> Verdict | None:
    if state.no_transaction:
        return Verdict(REFUSE, NO_TRANSACTION_SAVEPOINT)
    name = tree.savepoint_name
    if tree.kind == TransactionStmtKind.TRANS_STMT_SAVEPOINT or name in state.savepoints:
        return None
    return Verdict(
        REFUSE,
        f"{SAVEPOINT_KINDS[TransactionStmtKind(tree.kind or 0)]} {name}: no savepoint of that "
        "name was opened earlier in this file; a migration may release or roll back to only "
        "its own savepoints (the runner's transaction is not the file's to end)",
    )


# --- the runner's own tables ------------------------------------------------------------------


def _bookkeeping(state: GateState, tree: ast.Node) -> Verdict | None:
    for node, table, what in bookkeeping_changes(tree):
        if node is tree and table == "schema_version":
            if isinstance(tree, ast.InsertStmt):
                return Verdict(
                    IGNORE,
                    "INSERT INTO schema_version ignored; the runner records the migration itself",
                )
            if state.rollback and isinstance(tree, ast.DeleteStmt):
                return Verdict(
                    IGNORE,
                    "DELETE FROM schema_version ignored; the runner removes the rolled-back "
                    "migration's row itself",
                )
        return bookkeeping_refused(table, what)
    return None


# --- statements refused or allowed by kind ----------------------------------------------------

SERVER_WIDE = "it changes the server for every database and session"
OUTSIDE = "it writes outside the database being migrated"
# Refused in every run: node kind -> (what it is, why).
REFUSED = {
    "AlterSystemStmt": ("ALTER SYSTEM", "it rewrites the server's configuration for everyone"),
    "LoadStmt": ("LOAD", "a library loaded into the session cannot be unloaded, and changes "
                 "every later statement of the run"),
    "CheckPointStmt": ("CHECKPOINT", SERVER_WIDE),
    "CreatedbStmt": ("CREATE DATABASE", OUTSIDE),
    "DropdbStmt": ("DROP DATABASE", OUTSIDE),
    "CreateTableSpaceStmt": ("CREATE TABLESPACE", OUTSIDE + " (a directory on the server)"),
    "DropTableSpaceStmt": ("DROP TABLESPACE", OUTSIDE),
    "AlterTableSpaceOptionsStmt": ("ALTER TABLESPACE", SERVER_WIDE),
    "AlterRoleSetStmt": ("ALTER ROLE ... SET", "it changes the settings of every later session "
                         "of the role (or of every role), in every database on the server"),
    "ListenStmt": ("LISTEN", "the runner never reads notifications, and the session would "
                   "keep listening for the rest of the run"),
}  # fmt: skip
# Refused on a check's throwaway database: cluster-wide objects outlive it.
CLUSTER_WIDE = {
    "CreateRoleStmt": "CREATE ROLE",
    "AlterRoleStmt": "ALTER ROLE",
    "DropRoleStmt": "DROP ROLE",
    "GrantRoleStmt": "GRANT role",
    "AlterDatabaseStmt": "ALTER DATABASE",
    "AlterDatabaseSetStmt": "ALTER DATABASE",
    "AlterDatabaseRefreshCollStmt": "ALTER DATABASE",
    "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
    "AlterSubscriptionStmt": "ALTER SUBSCRIPTION",
    "DropSubscriptionStmt": "DROP SUBSCRIPTION",
}
SHARED_OBJECTS = frozenset(
    (ObjectType.OBJECT_DATABASE, ObjectType.OBJECT_TABLESPACE, ObjectType.OBJECT_ROLE)
)
NO_TRANSACTION_HINT = (
    "cannot run inside a transaction block, and the runner runs each migration in one: put it "
    "in a migration of its own whose first line is `-- @no-transaction`"
)
# A rollback file always runs in one transaction with the removal of its migration's row (a
# half-run rollback would leave the row saying "applied" over a half-undone schema).
ROLLBACK_NO_TRANSACTION_HINT = (
    "cannot run inside a transaction block, and a rollback file runs in one, with the removal "
    "of its migration's row: write it without CONCURRENTLY (the plain form holds its lock only "
    "while it runs), or roll forward with a new `-- @no-transaction` migration instead"
)


def _fixed(state: GateState, tree: ast.Node, words: str) -> Verdict | None:
    kind = type(tree).__name__
    if isinstance(tree, ast.DiscardStmt) and tree.target == DiscardMode.DISCARD_ALL:
        why = f"{RUNNER_LOCK}; DISCARD PLANS, SEQUENCES and TEMP reset the rest"
        return Verdict(REFUSE, f"DISCARD ALL is refused: it {why} ({RUNNER_DOC})")
    if kind in REFUSED:
        what, why = REFUSED[kind]
        return Verdict(REFUSE, f"{what} is refused: {why} ({RUNNER_DOC})")
    if state.throwaway and (kind in CLUSTER_WIDE or _on_shared_object(tree)):
        what = CLUSTER_WIDE.get(kind, words)
        return Verdict(
            REFUSE,
            f"{what} is not allowed in a check: roles, databases and tablespaces belong to the "
            "whole server and would outlive the check's throwaway database",
        )
    if not state.no_transaction:
        needs = needs_no_transaction(state, tree)
        if needs is not None:
            hint = ROLLBACK_NO_TRANSACTION_HINT if state.rollback else NO_TRANSACTION_HINT
            return Verdict(REFUSE, f"{needs} {hint}")
    return None


UNCOUNTED = (
    "the check finds the rows a migration changed by the server's write counters, which do not "
    "count while it is off"
)


def _sets_track_counts(tree: ast.Node, *, names: bool) -> bool:
    """SET [LOCAL] / RESET track_counts, or set_config('track_counts', ...) written out
    (`names` false: the text names no set_config, no walk)."""
    if isinstance(tree, ast.VariableSetStmt):
        return (tree.name or "").lower() == "track_counts"
    found = (_set_config_name(node) for node in walk(tree, created=False)) if names else ()
    return any((name or "").lower() == "track_counts" for name in found)


def _on_shared_object(tree: ast.Node) -> bool:
    """GRANT, COMMENT, OWNER TO, RENAME or SECURITY LABEL on a database, tablespace or role."""
    for attribute in ("objtype", "objectType", "renameType"):
        if getattr(tree, attribute, None) in SHARED_OBJECTS:
            return True
    return False


def needs_no_transaction(state: GateState, tree: ast.Node) -> str | None:
    """What the statement is when the server refuses to run it in a transaction block."""
    if isinstance(tree, ast.IndexStmt) and tree.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(tree, ast.DropStmt) and tree.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(tree, ast.ReindexStmt):
        return _reindex(tree)
    if isinstance(tree, ast.VacuumStmt) and tree.is_vacuumcmd:
        return "VACUUM"
    if isinstance(tree, ast.ClusterStmt) and tree.relation is None:
        return "CLUSTER without a table"
    if isinstance(tree, ast.AlterEnumStmt) and tree.oldVal is None and state.server < 120000:
        return "ALTER TYPE ... ADD VALUE (on a server older than PostgreSQL 12)"
    return None


WHOLE_DATABASE = (
    ReindexObjectType.REINDEX_OBJECT_DATABASE,
    ReindexObjectType.REINDEX_OBJECT_SYSTEM,
)


def _reindex(tree: ast.ReindexStmt) -> str | None:
    if any(param.defname == "concurrently" for param in tree.params or ()):
        return "REINDEX CONCURRENTLY"
    if tree.kind in WHOLE_DATABASE:
        return "REINDEX DATABASE/SYSTEM"
    return None


# --- statements with a rule of their own ------------------------------------------------------


def _copy(_: GateState, tree: ast.CopyStmt, __: str) -> Verdict:
    if tree.is_program or tree.filename is not None:
        where = "a program on the database server" if tree.is_program else "a server file"
        why = f"it {'reads' if tree.is_from else 'writes'} {where}, outside this database"
    elif tree.is_from:
        why = (
            "its rows would come from STDIN, which a file of statements does not carry (use INSERT)"
        )
    else:
        why = "its rows would go to STDOUT, where nobody reads them"
    return Verdict(REFUSE, f"COPY is refused: {why}")


def _alter_database(state: GateState, tree: ast.Node, words: str) -> Verdict | None:
    name = getattr(tree, "dbname", None)
    if name is None or name == state.database or state.throwaway:
        return None  # a check's throwaway database: the cluster-wide rule decides
    return Verdict(
        REFUSE,
        f"ALTER DATABASE {name} is refused: it is not the database being migrated "
        f"({state.database})",
    )


RULES: dict[str, Rule] = {
    "TransactionStmt": _transaction,  # type: ignore[dict-item]
    "CopyStmt": _copy,  # type: ignore[dict-item]
    "AlterDatabaseStmt": _alter_database,
    "AlterDatabaseSetStmt": _alter_database,
    "AlterDatabaseRefreshCollStmt": _alter_database,
}


# --- session settings -------------------------------------------------------------------------


def changes_settings(tree: ast.Node, *, names: bool = True) -> bool:
    """Whether the statement may change a session setting that must be set back after the
    file: SET / RESET without LOCAL (also ROLE and SESSION AUTHORIZATION), DISCARD, and any
    call of set_config (its third argument may be an expression; `names`: as for decide)."""
    if isinstance(tree, ast.VariableSetStmt):
        if tree.kind == VariableSetKind.VAR_SET_MULTI:  # SET TRANSACTION: this transaction's
            return tree.name == "SESSION CHARACTERISTICS"
        return not tree.is_local
    if isinstance(tree, ast.DiscardStmt):
        return True
    return names and "set_config" in called_functions(tree)


def custom_settings(tree: ast.Node) -> list[str]:
    """The custom settings (`app.tenant`: a name with a dot, which pg_settings does not list)
    the statement sets by name: SET / RESET, or set_config with the name written out."""
    if isinstance(tree, ast.VariableSetStmt):
        names = [tree.name or ""]
    else:
        names = [name for node in walk(tree, created=False) if (name := _set_config_name(node))]
    return [name for name in names if "." in name]


def _set_config_name(node: ast.Node) -> str | None:
    """The setting a `set_config('name', ...)` call names, if written out."""
    if function_name(node) != "set_config" or not isinstance(node, ast.FuncCall):
        return None
    first = node.args[0] if node.args else None
    if isinstance(first, ast.A_Const) and isinstance(first.val, ast.String):
        return str(first.val.sval)
    return None
