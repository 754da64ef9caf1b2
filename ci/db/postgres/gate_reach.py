"""The PostgreSQL gatekeeper's rules about what reaches outside the database being migrated:
the functions it refuses in every run, and the extensions, languages and foreign servers it
refuses where nothing may reach out (a check's throwaway database, a dry run). Applied by
ci.db.postgres.gate_rules.decide, and to a pg_dump sample's DDL (ci.db.postgres.sample).

Refused in every run:
- functions that write the server's files, act on other sessions or release the runner's lock
  (REFUSED_FUNCTIONS);
- every function of the dblink family (any name starting `dblink`: dblink_exec,
  dblink_connect_u, dblink_send_query, ...): it works on another connection, whose writes
  commit on their own, whatever the migration's transaction does; also written in the body of
  a function the statement creates (a trigger or an index expression may call it later).

Refused on a check's throwaway database and in a dry run, where a migration must change
nothing but that database (the dry run's ROLLBACK takes back only its own transaction):
CREATE EXTENSION of one that reaches out (dblink, postgres_fdw, file_fdw, adminpack, the
untrusted languages plperlu, plpython3u, pltclu, ...), CREATE LANGUAGE of such a language or of
an untrusted one, CREATE FUNCTION in C or in an untrusted language (a C function can call a
library's entry point, dblink's included, without its extension), CREATE FOREIGN DATA WRAPPER,
CREATE SERVER, CREATE / ALTER USER MAPPING and IMPORT FOREIGN SCHEMA. A real run allows them:
installing an extension is part of a deploy, and its calls are what the first rule refuses.
"""

from __future__ import annotations

from pglast import ast

from ci.db.gate_screen import REFUSE, Verdict
from ci.db.postgres.gate_tree import called_functions, function_name, walk

SERVER_FILES = "reads or writes a file on the database server, outside this database"
OTHER_SESSIONS = "acts on the whole server or on other sessions, not on this database"
OTHER_DATABASES = (
    "works on another connection (another database, or this one outside the migration's "
    "transaction), whose writes commit on their own: nothing takes them back"
)
RUNNER_LOCK = (
    "releases the session's advisory locks, among them the runner's own, which makes two "
    "runners take turns"
)
DBLINK = "dblink"  # the prefix of every function of the dblink extension
REFUSED_FUNCTIONS = {
    **dict.fromkeys(("lo_import", "lo_export", "pg_file_write", "pg_file_rename",
                     "pg_file_unlink", "pg_file_sync"), SERVER_FILES),
    **dict.fromkeys(("pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_switch_wal",
                     "pg_terminate_backend", "pg_cancel_backend", "pg_create_restore_point",
                     "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
                     "pg_drop_replication_slot", "pg_backup_start", "pg_backup_stop"),
                    OTHER_SESSIONS),
    DBLINK: OTHER_DATABASES,  # and every name that starts so (refused_function)
    **dict.fromkeys(("pg_advisory_unlock", "pg_advisory_unlock_shared",
                     "pg_advisory_unlock_all"),
                    f"{RUNNER_LOCK} (a lock of the migration's own: pg_advisory_xact_lock)"),
}  # fmt: skip


def refused_function(tree: ast.Node) -> Verdict | None:
    """A refused function the statement calls; or a dblink function written in the body of a
    function it creates (only calling the others runs them)."""
    for name in called_functions(tree):
        why = REFUSED_FUNCTIONS.get(DBLINK if name.startswith(DBLINK) else name)
        if why is not None:
            return Verdict(REFUSE, f"{name}() is refused: it {why}")
    if isinstance(tree, ast.CreateFunctionStmt):
        for node in walk(tree):
            called = function_name(node)
            if called is not None and called.startswith(DBLINK):
                return Verdict(
                    REFUSE,
                    f"{called}() is refused, also in the body of a function: it {OTHER_DATABASES}",
                )
    return None


# --- what may reach out once installed --------------------------------------------------------

OTHER_SERVERS = "its functions connect to other databases, on this server or another"
UNTRUSTED = (
    "an untrusted language: its functions may do whatever the server's operating-system user "
    "can (its files, the network, other databases)"
)
# extension (or language) -> why it reaches outside the database
REACHING = {
    "dblink": OTHER_SERVERS,
    "postgres_fdw": OTHER_SERVERS,
    "file_fdw": "its foreign tables read the server's files and programs",
    "adminpack": "its functions write the server's files",
    **dict.fromkeys(("plperlu", "plpythonu", "plpython2u", "plpython3u", "pltclu"), UNTRUSTED),
}
FOREIGN = {
    "CreateFdwStmt": "CREATE FOREIGN DATA WRAPPER",
    "CreateForeignServerStmt": "CREATE SERVER",
    "CreateUserMappingStmt": "CREATE USER MAPPING",
    "AlterUserMappingStmt": "ALTER USER MAPPING",
    "ImportForeignSchemaStmt": "IMPORT FOREIGN SCHEMA",
}
FOREIGN_WHY = "it sets up connections to other databases or files (foreign data)"
INSTALLS = frozenset((*FOREIGN, "CreateExtensionStmt", "CreatePLangStmt", "CreateFunctionStmt"))
NATIVE = "a C function calls any entry point of a library on the server (dblink's among them)"


def reaching_out(tree: ast.Node) -> tuple[str, str] | None:
    """(what, why) when the statement installs something that reaches outside the database."""
    kind = type(tree).__name__
    if kind not in INSTALLS:  # most statements: one lookup (the check runs it on every one)
        return None
    if kind in FOREIGN:
        return FOREIGN[kind], FOREIGN_WHY
    if isinstance(tree, ast.CreateExtensionStmt) and tree.extname in REACHING:
        return f"CREATE EXTENSION {tree.extname}", REACHING[str(tree.extname)]
    if isinstance(tree, ast.CreatePLangStmt):
        name = str(tree.plname)
        if name in REACHING or (tree.plhandler and not tree.pltrusted):
            return f"CREATE LANGUAGE {name}", REACHING.get(name, UNTRUSTED)
    if isinstance(tree, ast.CreateFunctionStmt):
        language = _language(tree)
        if language == "c":
            return "CREATE FUNCTION ... LANGUAGE c", NATIVE
        if language in REACHING:
            return f"CREATE FUNCTION ... LANGUAGE {language}", REACHING[language]
    return None


def _language(tree: ast.CreateFunctionStmt) -> str | None:
    for option in tree.options or ():
        if option.defname == "language" and isinstance(option.arg, ast.String):
            return str(option.arg.sval).lower()
    return None


def contained(tree: ast.Node, *, dry_run: bool) -> Verdict | None:
    """The refusal, on a check's throwaway database or in a dry run (`dry_run`), of what
    would let a migration reach outside the database."""
    found = reaching_out(tree)
    if found is None:
        return None
    what, why = found
    if dry_run:
        where, then = (
            "in a dry run",
            (
                "what a migration does there, the dry run's ROLLBACK cannot take back; apply it in "
                "a real run (without --dry-run)"
            ),
        )
    else:
        where, then = (
            "in a check",
            (
                "a check must not reach outside its throwaway database; install it outside the "
                "migrations a check runs (by hand, on the real database)"
            ),
        )
    return Verdict(REFUSE, f"{what} is refused {where}: {why}, and {then}")
