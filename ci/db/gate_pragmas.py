"""The gatekeeper's pragma policy: which pragmas a migration may run, in a real run and in a
check's throwaway database, which connection settings the runner sets back after a migration, and
the rule (`pragma_rule`) that applies them to a statement SQLite reports as a PRAGMA.
"""

from __future__ import annotations

from ci.db.gate_screen import IGNORE, REFUSE, ScreenState, Verdict

ON_VALUES = frozenset(("ON", "1", "TRUE", "YES"))
OFF_VALUES = frozenset(("OFF", "0", "FALSE", "NO"))
SCHEMA_TABLES = frozenset(("sqlite_master", "sqlite_schema"))
DDL_WORDS = frozenset(("CREATE", "DROP", "ALTER"))

# Pragmas refused in every run when set (to a value REFUSED_SETTINGS refuses): each weakens the
# database for every later statement on the connection, the next migrations' included, or breaks
# it for other connections.
REFUSED_PRAGMAS = {
    "ignore_check_constraints": "it lets later statements, and the next migrations, write rows "
    "that break CHECK constraints",
    "writable_schema": "it edits SQLite's schema table directly; writing schema by hand on "
    "production is never a migration's job",
    "hard_heap_limit": "it can only ever lower the process's memory limit, so the runner could "
    "not set it back, and the next migrations would fail for lack of memory",
    "journal_mode": "without a rollback journal on disk a failing migration cannot be rolled "
    "back and a crash leaves the database malformed; SQLite keeps the mode for the rest of the "
    "run (it cannot be set back after the transaction's first write), so the next migrations "
    "would lose theirs too",
    "schema_version": "SQLite's schema cookie tells every other open connection that the schema "
    "changed; set by hand, an application connection open during the deploy keeps its old "
    "schema and writes into the wrong table",
}
# Which values of a REFUSED_PRAGMAS entry are refused (SQLite hands the authorizer the value
# unquoted; compared in upper case): ANY_VALUE, or only those listed; a pragma not listed here
# is refused when set to anything but off.
ANY_VALUE = None
REFUSED_SETTINGS: dict[str, frozenset[str] | None] = {
    # the other modes keep a rollback journal (or WAL) on disk: a migration stays atomic
    "journal_mode": frozenset(("OFF", "MEMORY")),
    "schema_version": ANY_VALUE,
}
# Connection settings a migration may change for its own statements: the runner reads each one
# before the migration changes it and sets it back after the migration, failed or not, so that
# it does not leak into the next one. Value: what to set back when SQLite cannot read the
# setting (None: it can be read).
RESTORED_PRAGMAS: dict[str, str | None] = {
    "recursive_triggers": None,
    "legacy_alter_table": None,
    "case_sensitive_like": "OFF",  # write-only: set back to SQLite's default
    "query_only": None,
    "trusted_schema": None,
    "cell_size_check": None,
    "automatic_index": None,
    "reverse_unordered_selects": None,
    "defer_foreign_keys": None,
    "analysis_limit": None,
    "cache_size": None,
    "cache_spill": None,
    "busy_timeout": None,
    "secure_delete": None,
    "synchronous": None,
    "mmap_size": None,
    "threads": None,
    "full_column_names": None,
    "short_column_names": None,
    "count_changes": None,
    "empty_result_callbacks": None,
    "checkpoint_fullfsync": None,
    "fullfsync": None,
    "wal_autocheckpoint": None,
    "journal_size_limit": None,
    "locking_mode": None,
    "max_page_count": None,  # a lower limit would make the next migrations fail "full"
    "soft_heap_limit": None,  # for the whole process
    "read_uncommitted": None,
}
# Per-connection settings deliberately neither set back nor refused, and why.
UNRESTORED_PRAGMAS = {
    "temp_store": "it only decides where temporary data is kept (memory or a file), not what any "
    "statement does; SQLite cannot change it inside a transaction, where the runner would set "
    "it back",
    "journal_mode": "the modes let through (DELETE, TRUNCATE, PERSIST; WAL only in a "
    "@no-transaction migration, SQLite refuses it in a transaction) all keep a journal on disk, "
    "so every later migration stays atomic; SQLite ignores a change back after the "
    "transaction's first write",
}

# The pragmas a migration may run in a check (deny by default). The checks run on a throwaway
# database in a temporary directory: a pragma that writes elsewhere, edits the schema table
# behind SQLite's back or changes how the throwaway database is stored would make the check's
# verdict differ from production, or leave files behind. Value: may it be given an argument
# that changes something ("set"), or only be read ("read")?  Listed in docs/checks/apply.md.
CHECK_PRAGMAS: dict[str, str] = {
    # what migrations themselves use: keys, the table-rebuild procedure, introspection
    "foreign_keys": "set",  # the runner honours it at the top of a file (ignored elsewhere)
    "foreign_key_check": "set",
    "foreign_key_list": "set",
    "defer_foreign_keys": "set",
    "legacy_alter_table": "set",
    "recursive_triggers": "set",
    "case_sensitive_like": "set",
    "ignore_check_constraints": "read",  # setting it is refused in every run (REFUSED_PRAGMAS)
    "integrity_check": "set",
    "quick_check": "set",
    "table_info": "set",
    "table_xinfo": "set",
    "table_list": "set",
    "index_list": "set",
    "index_info": "set",
    "index_xinfo": "set",
    "user_version": "set",  # a field of the database header, migrated like the schema
    "application_id": "set",
    "optimize": "set",  # ANALYZE where useful: inside the database
    "analysis_limit": "set",
    "collation_list": "read",
    "function_list": "read",
    "module_list": "read",
    "pragma_list": "read",
    "database_list": "read",
    "compile_options": "read",
    "encoding": "read",
    "page_size": "read",
    "page_count": "read",
    "freelist_count": "read",
    "schema_version": "read",  # setting it corrupts the schema cache of other connections
    "journal_mode": "read",
    "synchronous": "read",
    "locking_mode": "read",
    "cache_size": "read",
    "auto_vacuum": "read",
    "busy_timeout": "read",
}
# Why the most dangerous pragmas are refused, in the finding (others get the generic reason).
REFUSED_BECAUSE = {
    "writable_schema": "it edits SQLite's schema table directly; a new connection may then "
    "find the database malformed, which the migrating connection does not notice",
    "temp_store_directory": "it makes SQLite write temporary files outside the check's "
    "temporary directory",
    "data_store_directory": "it makes SQLite write files outside the check's temporary directory",
}
RULES_DOC = "see 'Pragmas in the checks' in docs/checks/apply.md"
PRAGMAS_DOC = "see 'What the runner does with your SQL' in docs/runner.md"


def pragma_rule(screen: ScreenState, name: str | None, value: str | None) -> Verdict | None:
    """The rule for a PRAGMA `name` (`value`: its argument, None when it is read)."""
    pragma = (name or "").lower()
    if pragma == "foreign_keys" and value is not None:
        if screen.leading:
            return Verdict(IGNORE, "")  # honoured before the transaction (no notice)
        return Verdict(
            IGNORE,
            "PRAGMA foreign_keys has no effect inside a transaction; the runner restores "
            "foreign_keys after the migration",
        )
    shown = f"PRAGMA {pragma}" + (f" = {value}" if value is not None else "")
    if not screen.check:
        if value is not None and is_refused_setting(pragma, value):
            return Verdict(REFUSE, f"{shown} is refused: {REFUSED_PRAGMAS[pragma]} ({PRAGMAS_DOC})")
        return None
    # a check refuses these too: neither is on its list of pragmas that may be set
    allowed = CHECK_PRAGMAS.get(pragma)
    if allowed == "set" or (allowed == "read" and value is None):
        return None
    because = REFUSED_BECAUSE.get(pragma, "it is not on the checks' list of allowed pragmas")
    return Verdict(REFUSE, f"{shown} is not allowed in a check: {because} ({RULES_DOC})")


def is_refused_setting(pragma: str, value: str) -> bool:
    """Whether setting `pragma` (lower case) to `value` is refused in a real run."""
    if pragma not in REFUSED_PRAGMAS:
        return False
    if pragma not in REFUSED_SETTINGS:
        return value.upper() not in OFF_VALUES
    refused = REFUSED_SETTINGS[pragma]
    return refused is ANY_VALUE or value.upper() in refused


def schema_table_write(screen: ScreenState, name: str) -> Verdict | None:
    """A write to SQLite's schema table `name` in a check, or None. DDL writes the schema table
    too, and so does SQLite when a statement first uses a table-valued function (`SELECT * FROM
    pragma_table_info('t')`): that is SQLite's own bookkeeping, not the file's. The file can
    write the schema table only while writable_schema is on (SQLite refuses it otherwise), so
    only then is a report one."""
    if (
        screen.check
        and screen.schema_writable
        and name in SCHEMA_TABLES
        and screen.word not in DDL_WORDS
    ):
        return Verdict(
            REFUSE,
            f"writing {name} is not allowed in a check: " + REFUSED_BECAUSE["writable_schema"],
        )
    return None
