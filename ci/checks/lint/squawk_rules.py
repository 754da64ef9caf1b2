"""squawk's rules as our findings: each squawk rule name, its code and its severity.

squawk (https://squawkhq.com) knows PostgreSQL's locks: which statement rewrites a table, which
blocks writes while it scans, which cannot run in a transaction. Each of its rules gets one code
of ours (MG7xx), so a finding reads, silences (`-- noqa: MG702 <reason>`), excludes
(`--exclude-rules MG718`) and reports like every other; the code's title and fix hint, in our
words, are its entry in `ci.core.codes_squawk`. A rule this table does not know yet (a newer squawk)
still surfaces, as MG799 with squawk's own name and message: never dropped.

Severity: the rules about locks, rewrites and broken deployed code are errors; the rules about
column types squawk prefers (bigint, identity, timestamptz, text) and other advice are warnings.

Style preferences (`STYLE_RULES`) take no lock and break no deployed code: a team picks its
column types once, and a history written with `int` and `varchar(n)` would repeat the same
advice on every table. They are off unless a project asks for them (`--include-rules MG718`).
The timeout rules (`TIMEOUT_RULES`) ask each file for a SET that the runner makes for every
migration when the project's config gives `lock_timeout` / `statement_timeout`.
"""

from __future__ import annotations

# A squawk rule this table does not list (a newer squawk than the one it was written for).
UNKNOWN_RULE_CODE = "MG799"
# What squawk reports when it cannot parse a statement.
SYNTAX_ERROR = "syntax-error"

ERROR, WARNING = "error", "warning"

# squawk rule name -> (our code, severity)
SQUAWK_RULES: dict[str, tuple[str, str]] = {
    SYNTAX_ERROR: ("MG700", ERROR),
    "adding-field-with-default": ("MG701", ERROR),
    "require-concurrent-index-creation": ("MG702", ERROR),
    "adding-foreign-key-constraint": ("MG703", ERROR),
    "constraint-missing-not-valid": ("MG704", ERROR),
    "adding-not-nullable-field": ("MG705", ERROR),
    "adding-required-field": ("MG706", ERROR),
    "changing-column-type": ("MG707", ERROR),
    "require-timeout-settings": ("MG708", ERROR),
    "require-lock-timeout": ("MG709", ERROR),
    "require-statement-timeout": ("MG710", WARNING),
    "disallowed-unique-constraint": ("MG711", ERROR),
    "ban-drop-column": ("MG712", ERROR),
    "ban-drop-table": ("MG713", ERROR),
    "renaming-column": ("MG714", ERROR),
    "renaming-table": ("MG715", ERROR),
    "prefer-robust-stmts": ("MG716", ERROR),
    "ban-concurrent-index-creation-in-transaction": ("MG717", ERROR),
    "prefer-bigint-over-int": ("MG718", WARNING),
    "prefer-bigint-over-smallint": ("MG719", WARNING),
    "prefer-identity": ("MG720", WARNING),
    "prefer-timestamp-tz": ("MG721", WARNING),
    "prefer-timestamptz": ("MG721", WARNING),  # squawk accepts both spellings
    "prefer-text-field": ("MG722", WARNING),
    "ban-char-field": ("MG723", WARNING),
    "require-concurrent-index-deletion": ("MG724", ERROR),
    "adding-serial-primary-key-field": ("MG725", ERROR),
    "ban-drop-database": ("MG726", ERROR),
    "ban-drop-not-null": ("MG727", ERROR),
    "transaction-nesting": ("MG728", ERROR),
    "unused-ignore": ("MG729", WARNING),
    "ban-create-domain-with-constraint": ("MG730", ERROR),
    "ban-alter-domain-with-add-constraint": ("MG731", ERROR),
    "ban-truncate-cascade": ("MG732", ERROR),
    "ban-uncommitted-transaction": ("MG733", ERROR),
    "require-enum-value-ordering": ("MG734", WARNING),
    "require-table-schema": ("MG735", WARNING),
    "identifier-too-long": ("MG736", ERROR),
    "require-concurrent-partition-detach": ("MG737", ERROR),
    "require-concurrent-reindex": ("MG738", ERROR),
    "prefer-repack": ("MG739", WARNING),
    "ban-drop-view": ("MG740", ERROR),
    "ban-drop-function": ("MG741", ERROR),
    "ban-drop-type": ("MG742", ERROR),
    "ban-drop-schema": ("MG743", ERROR),
    "ban-drop-sequence": ("MG744", ERROR),
    "ban-drop-domain": ("MG745", ERROR),
    "ban-drop-constraint": ("MG746", ERROR),
    "ban-drop-generated-expression": ("MG747", ERROR),
    "renaming-object": ("MG748", ERROR),
    "ban-set-schema": ("MG749", ERROR),
    "ban-alter-identity": ("MG750", ERROR),
    "ban-drop-extension": ("MG751", ERROR),
    "ban-alter-generated-expression": ("MG752", ERROR),
    "ban-drop-index": ("MG753", ERROR),
    "ban-set-default": ("MG754", ERROR),
    "ban-disable-trigger": ("MG755", ERROR),
    "ban-replica-identity": ("MG756", ERROR),
    "ban-drop-policy": ("MG757", ERROR),
    "ban-revoke": ("MG758", ERROR),
    "ban-replace-view-function": ("MG759", ERROR),
    "ban-alter-policy-condition": ("MG760", ERROR),
    "ban-alter-policy-roles": ("MG761", ERROR),
    "ban-create-policy": ("MG762", ERROR),
    "ban-alter-function-options": ("MG763", ERROR),
    "ban-alter-view-options": ("MG764", ERROR),
    "ban-alter-role-options": ("MG765", ERROR),
    "ban-alter-database-options": ("MG766", ERROR),
    "ban-alter-row-level-security": ("MG767", ERROR),
    "ban-new-write-restriction": ("MG768", ERROR),
    "ban-add-enum-value": ("MG769", ERROR),
    "ban-add-composite-attribute": ("MG770", ERROR),
    "ban-add-column": ("MG771", ERROR),
    "ban-detach-inheritance": ("MG772", ERROR),
    "ban-alter-sequence-values": ("MG773", ERROR),
    "ban-alter-system-options": ("MG774", ERROR),
    "ban-alter-extension": ("MG775", ERROR),
    "ban-drop-default": ("MG776", ERROR),
}

# Column-type preferences, not lock hazards: off unless `--include-rules` names their code.
STYLE_RULES = frozenset(
    {
        "prefer-bigint-over-int",
        "prefer-bigint-over-smallint",
        "prefer-identity",
        "prefer-timestamp-tz",
        "prefer-timestamptz",
        "prefer-text-field",
        "ban-char-field",
        # a new label goes last, which is what most ADD VALUEs mean; only code that compares
        # labels by their order cares
        "require-enum-value-ordering",
    }
)
STYLE_CODES = frozenset(SQUAWK_RULES[rule][0] for rule in STYLE_RULES)

# The codes that ask a file to SET a limit, each with the runner's config key that sets it for
# every migration (require-timeout-settings asks for both).
TIMEOUT_CODES: dict[str, tuple[str, ...]] = {
    "MG708": ("lock_timeout", "statement_timeout"),
    "MG709": ("lock_timeout",),
    "MG710": ("statement_timeout",),
}

# A rule whose finding only repeats another's on the same statement: a foreign key or UNIQUE
# added without NOT VALID is also "a constraint without NOT VALID" to squawk, one cause told
# twice (and UNIQUE cannot be NOT VALID at all: the other rule's fix is the one that works).
REPEATS: dict[str, frozenset[str]] = {
    "constraint-missing-not-valid": frozenset(
        {"adding-foreign-key-constraint", "disallowed-unique-constraint"}
    ),
}

# A rollback file exists to drop what its migration made: these rules are not run on rollback/.
DROPS_A_ROLLBACK_MAKES = (
    "ban-drop-column",
    "ban-drop-table",
    "ban-drop-view",
    "ban-drop-function",
    "ban-drop-type",
    "ban-drop-sequence",
    "ban-drop-domain",
    "ban-drop-constraint",
    "ban-drop-index",
    "ban-drop-extension",
    "ban-drop-policy",
    "ban-drop-not-null",
    "ban-drop-generated-expression",
    "ban-drop-default",
)

# ... and to rename back what its migration renamed: the name the code before it reads. The
# migration's own rename is where a reviewer weighs the rename; not run on rollback/ either.
RENAMES_A_ROLLBACK_UNDOES = ("renaming-column", "renaming-table", "renaming-object")

# ... and it runs in one transaction with the removal of its row: CONCURRENTLY cannot run there,
# so the advice to build or drop an index concurrently cannot be taken (the gatekeeper refuses
# it: MG790); the plain form is the rollback's only one.
CONCURRENTLY_A_ROLLBACK_CANNOT = (
    "require-concurrent-index-creation",
    "require-concurrent-index-deletion",
)


def code_and_severity(rule: str) -> tuple[str, str]:
    """Our code and severity for a squawk rule; MG799 (an error) for one we do not know."""
    return SQUAWK_RULES.get(rule, (UNKNOWN_RULE_CODE, ERROR))
