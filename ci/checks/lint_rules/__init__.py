"""Migration safety rules for `ci.lint`: the registry and the code that runs them.

Each rule lives in its own module (`mg501_mixed_change.py`, ...) whose docstring is its
documentation and whose `CASES` are its tests. A statement silences a rule with a comment naming
its code, `-- noqa: MG503 <reason>`, anywhere in the statement, on the comment lines directly above
it, or at the end of its last line. A bare `-- noqa` (which silences sqlfluff) does not silence
these rules: a safety exception has to name what it waives.
"""

from __future__ import annotations

from ci.checks.lint_rules import (
    mg501_mixed_change,
    mg502_unbounded_write,
    mg503_destructive_ddl,
    mg504_seed_idempotent,
    mg505_add_not_null,
    mg506_outside_transaction,
    mg507_rebuild_fk_check,
    mg508_explicit_transaction,
    mg509_unsafe_statement,
    mg510_sqlite_version,
    mg511_batch_shape,
)
from ci.checks.lint_rules.base import FileContext, Rule, silencing_scopes
from ci.core.findings import Finding

RULES: tuple[Rule, ...] = (
    mg501_mixed_change.RULE,
    mg502_unbounded_write.RULE,
    mg503_destructive_ddl.RULE,
    mg504_seed_idempotent.RULE,
    mg505_add_not_null.RULE,
    mg506_outside_transaction.RULE,
    mg507_rebuild_fk_check.RULE,
    mg508_explicit_transaction.RULE,
    mg509_unsafe_statement.RULE,
    mg510_sqlite_version.RULE,
    mg511_batch_shape.RULE,
)


def run_rules(ctx: FileContext, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every rule's findings for one file, minus the statements that silence them."""
    scopes = silencing_scopes(ctx.text)
    findings = []
    for rule in rules:
        for hit in rule.check(ctx):
            if rule.code in scopes.get(hit.sql.statement.offset, set()):
                continue
            findings.append(
                Finding(
                    "lint",
                    rule.code,
                    str(ctx.path),
                    hit.sql.line,
                    hit.message,
                    f"{hit.hint}; or, if it is intended, -- noqa: {rule.code} <reason>",
                )
            )
    return sorted(findings, key=lambda f: (f.line or 0, f.code))
