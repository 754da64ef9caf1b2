"""Our own lint rules for PostgreSQL migrations: what squawk has no rule for, decided from
PostgreSQL's own parse tree (pglast), with the runner's gatekeeping function where they meet.

- MG790: a statement that cannot run inside a transaction block (VACUUM, REINDEX CONCURRENTLY,
  DROP INDEX CONCURRENTLY, CLUSTER without a table, DISCARD ALL, ...) in a file the runner runs
  in one transaction: a migration without `-- @no-transaction`, or any rollback file. The
  runner refuses it at deploy; lint asks the very function the runner's gatekeeper asks
  (`ci.db.postgres.gate_rules.needs_no_transaction`), so the two cannot disagree. CREATE
  INDEX CONCURRENTLY is left to squawk, which has a rule for it (MG717).
- MG792: any other statement the runner's gatekeeper refuses in every run (COPY, ALTER SYSTEM,
  DISCARD ALL, pg_advisory_unlock_all(), writes to the runner's tables, ...): lint asks the
  gatekeeper's own rules (`ci.db.postgres.gate_rules.decide`), statement by statement in one
  state as the runner does, so what the runner would refuse at deploy fails lint first. ALTER
  DATABASE is left out: whether it names the migrated database is known only at deploy.
- MG791 (a warning): VACUUM FULL and CLUSTER rewrite the whole table under an ACCESS EXCLUSIVE
  lock, so every read and write of the table waits until the rewrite ends, in a
  `@no-transaction` migration as in any other. squawk says so only for servers that have
  REPACK (its prefer-repack, MG739, when told PostgreSQL 19+): when it does, ours is dropped
  as a repeat (`without_repeats`).

A file PostgreSQL cannot parse gets nothing here: squawk reports its syntax error (MG700).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator

from pglast import ast

from ci.checks.lint.inputs import CHECK
from ci.checks.lint.noqa import silencing_scopes
from ci.checks.lint.rules.base import FileContext
from ci.core.codes import lookup
from ci.core.findings import Finding
from ci.core.sqltext import split_pieces as noqa_pieces
from ci.db.gate_screen import REFUSE
from ci.db.postgres.gate_rules import GateState, decide, needs_no_transaction
from ci.db.postgres.statements import PgStatement

NEEDS_NO_TRANSACTION = "MG790"
REWRITES_UNDER_LOCK = "MG791"
REFUSED_BY_THE_RUNNER = "MG792"
# the gatekeeper's verdict on these depends on the database a deploy names
DEPLOY_DEPENDENT = (
    ast.AlterDatabaseStmt,
    ast.AlterDatabaseSetStmt,
    ast.AlterDatabaseRefreshCollStmt,
)
# squawk's prefer-repack: the same warning as MG791, when squawk is told the server has REPACK
SQUAWK_REWRITE = "MG739"
OFF_WORDS = frozenset({"false", "off", "0", "no"})
IN_A_MIGRATION = "the runner runs each migration in one: it would refuse the file at deploy"
IN_A_ROLLBACK = "a rollback file runs in one, with the removal of its migration's row"
# a rollback cannot be split off into a @no-transaction file of its own
ROLLBACK_FIX = (
    "write it without CONCURRENTLY (the plain form holds its lock only while it runs), or roll "
    "forward with a new -- @no-transaction migration instead"
)


def pg_findings(ctx: FileContext, exclude: frozenset[str] = frozenset()) -> list[Finding]:
    """MG790 and MG791 in one file, minus the codes `exclude` turns off and those a statement's
    `-- noqa: MG79x <reason>` waives."""
    rollback = ctx.folder == "rollback"
    # a rollback file runs in one transaction with the removal of its row, whatever it declares
    in_transaction = rollback or not ctx.directives.no_transaction
    state = GateState(no_transaction=not in_transaction, rollback=rollback, throwaway=False)
    waivers = _waivers(ctx.text)
    found = []
    for statement in ctx.statements:
        # lint splits a PostgreSQL file with the server's parser, each statement with its tree;
        # a file the parser refuses is split without trees, and squawk's MG700 names its line
        tree = statement.tree if isinstance(statement, PgStatement) else None
        if tree is None:
            continue
        waived = waivers(statement.offset, statement.line)
        for code, message, severity in _hits(state, tree, in_transaction):
            if code not in exclude and code not in waived:
                fix = ROLLBACK_FIX if rollback and code == NEEDS_NO_TRANSACTION else None
                found.append(_finding(ctx, code, statement.line, message, severity, fix))
    return found


def without_repeats(findings: list[Finding]) -> list[Finding]:
    """One file's findings less our MG791 on a line where squawk's MG739 says the same."""
    squawk_lines = {f.line for f in findings if f.code == SQUAWK_REWRITE}
    return [f for f in findings if f.code != REWRITES_UNDER_LOCK or f.line not in squawk_lines]


def _hits(state: GateState, tree: ast.Node, in_transaction: bool) -> Iterator[tuple[str, str, str]]:
    """(code, message, severity) for one statement: refused in a transaction, else a rewrite."""
    if in_transaction and not isinstance(tree, ast.IndexStmt):  # squawk's MG717 has that one
        needs = needs_no_transaction(state, tree)
        if needs is not None:
            where = IN_A_ROLLBACK if state.rollback else IN_A_MIGRATION
            yield (
                NEEDS_NO_TRANSACTION,
                f"{needs} cannot run inside a transaction block, and {where}",
                "error",
            )
            return  # the runner refuses it: how it would lock is moot until it is moved
    refused = _refused(state, tree)
    if refused is not None:
        yield REFUSED_BY_THE_RUNNER, refused, "error"
        return
    rewrite = _rewrite(tree)
    if rewrite is not None:
        yield (
            REWRITES_UNDER_LOCK,
            f"{rewrite} rewrites the whole table under an ACCESS EXCLUSIVE lock: every read and "
            "write of the table waits until it ends",
            "warning",
        )


def _refused(state: GateState, tree: ast.Node) -> str | None:
    """Why the runner's gatekeeper refuses the statement in every run (None: it runs, or is
    ignored, or cannot run in a transaction: MG790's and squawk's MG717)."""
    if isinstance(tree, DEPLOY_DEPENDENT) or needs_no_transaction(state, tree) is not None:
        return None
    verdict = decide(state, tree, type(tree).__name__)
    return verdict.message if verdict is not None and verdict.kind == REFUSE else None


def _rewrite(tree: ast.Node) -> str | None:
    """VACUUM FULL or CLUSTER: the statements that rewrite a table holding its strongest lock."""
    if isinstance(tree, ast.ClusterStmt):
        return "CLUSTER"
    if isinstance(tree, ast.VacuumStmt) and tree.is_vacuumcmd:
        full = next((o for o in tree.options or () if o.defname == "full"), None)
        if full is not None and _switched_on(full):
            return "VACUUM FULL"
    return None


def _switched_on(option: ast.DefElem) -> bool:
    """`FULL`, `FULL true`, `FULL 1`, `FULL on`: on; `FULL false` / `off` / `0`: off."""
    arg = option.arg
    if arg is None:
        return True
    value = getattr(arg, "sval", None) or getattr(arg, "ival", None) or getattr(arg, "boolval", 0)
    return str(value).lower() not in OFF_WORDS


def _waivers(text: str) -> Callable[[int, int], set[str]]:
    """The codes a statement's `-- noqa:` comments waive, by its offset and first line.
    `silencing_scopes` files them under the statement's piece in the common split: found from
    the statement's first line, as a PostgreSQL piece starts with the blank lines and comments
    before it."""
    scopes = silencing_scopes(text)
    if not scopes:
        return lambda offset, line: set()
    offsets = [piece.offset for piece in noqa_pieces(text)]
    line_starts = [0, *(index + 1 for index, char in enumerate(text) if char == "\n")]

    def waived(offset: int, line: int) -> set[str]:
        start = max(offset, line_starts[line - 1])
        return scopes.get(offsets[bisect_right(offsets, start) - 1], set())

    return waived


def _finding(
    ctx: FileContext, code: str, line: int, message: str, severity: str, fix: str | None
) -> Finding:
    entry = lookup(code)
    if fix is None:
        fix = entry.hint if entry is not None else ""
    return Finding(
        CHECK,
        code,
        str(ctx.path),
        line,
        message,
        f"{fix}; or, if it is intended, -- noqa: {code} <reason>",
        severity,
    )
