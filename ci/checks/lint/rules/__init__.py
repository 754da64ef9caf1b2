"""The migration safety rules (MG5xx), one module each, and their registry.

Each rule lives in its own module (`mg501_mixed_change.py`, ...) whose docstring is its
documentation and whose `CASES` are its tests. `all_rules()` lists them in code order: the lint
engine runs them, the tests run their cases, the documentation is generated from them. How a
statement waives a rule (`-- noqa: MG503 <reason>`) is in `ci.checks.lint.noqa`.
"""

from __future__ import annotations

from ci.checks.lint.rules import (
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
from ci.checks.lint.rules.base import Rule

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


def all_rules() -> tuple[Rule, ...]:
    """Every safety rule, in code order (MG501 first)."""
    return RULES
