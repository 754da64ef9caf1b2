"""squawk on PostgreSQL migrations: run its binary, turn its violations into our findings.

squawk ships as a binary in the `squawk-cli` wheel (the `postgresql` extra), found next to this
Python (its virtualenv's `bin/`) or on PATH; without it a PostgreSQL project's lint cannot run
(exit 2, one line saying how to install it), while a SQLite project never needs it.

squawk does not know our directives. The runner wraps each file in one transaction unless it
declares `-- @no-transaction`, so squawk is told exactly that: files that run in a transaction
are linted with `--assume-in-transaction` (an index built CONCURRENTLY there is reported: it
cannot run), and `@no-transaction` files without it (no advice to leave a transaction they are
not in). A rollback file exists to drop what its migration made and to rename back what it
renamed, so squawk's drop and rename rules are not run on `rollback/`. One squawk process
per such group of files; its JSON lines and columns are 0-based. squawk honours its own
`-- squawk-ignore <rule>` comments and `.squawk.toml`; our `-- noqa: MG7xx <reason>` works as
for the safety rules (`ci.checks.lint.noqa`). What is left is cut to what a reviewer acts on:
style rules only when asked for, no timeout advice when the runner sets the limit, one finding
per rule and file (`ci.checks.lint.squawk_repeats`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from argparse import ArgumentTypeError
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci.checks.lint.inputs import CHECK
from ci.checks.lint.noqa import silencing_scopes
from ci.checks.lint.rules.base import FileContext
from ci.checks.lint.squawk_repeats import one_per_rule
from ci.checks.lint.squawk_rules import (
    CONCURRENTLY_A_ROLLBACK_CANNOT,
    DROPS_A_ROLLBACK_MAKES,
    RENAMES_A_ROLLBACK_UNDOES,
    STYLE_CODES,
    SYNTAX_ERROR,
    TIMEOUT_CODES,
    code_and_severity,
)
from ci.checks.options import seconds
from ci.core.codes import lookup
from ci.core.errors import UsageError
from ci.core.extra import HOOK_DEPENDENCIES
from ci.core.findings import Finding
from ci.core.sqltext import split_pieces

INSTALL = "pip install 'migration-guard[postgresql]'"
SQUAWK_DOCS_URL = "https://squawkhq.com/docs"


def squawk_binary() -> str:
    """The squawk executable: next to this Python (its virtualenv), else on PATH."""
    name = "squawk.exe" if sys.platform == "win32" else "squawk"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise UsageError(
            f"engine postgresql lints with squawk, which is not installed: {INSTALL} "
            f"(in a pre-commit hook: additional_dependencies: {HOOK_DEPENDENCIES})"
        )
    return found


def squawk_findings(
    contexts: Sequence[FileContext],
    *,
    exclude: frozenset[str] = frozenset(),
    include: frozenset[str] = frozenset(),
    runner_sets: frozenset[str] = frozenset(),
) -> dict[Path, list[Finding]]:
    """squawk's violations of every file as findings, one per rule and file (`squawk_repeats`),
    minus those a `-- noqa: MG7xx` silences, the codes `exclude` turns off, the style rules
    `include` does not name, and the timeout rules whose limits the runner sets itself
    (`runner_sets`: its config keys `lock_timeout`, `statement_timeout` given)."""
    binary = squawk_binary()
    violations: dict[Path, list[dict[str, Any]]] = {ctx.path: [] for ctx in contexts}
    for arguments, group, stdin in _runs(contexts):
        paths = [] if stdin is not None else [str(ctx.path) for ctx in group]
        for violation in _run(binary, arguments, paths, stdin):
            violations[_file_of(violation, group)].append(violation)
    off = exclude | (STYLE_CODES - include) | _set_by_the_runner(runner_sets)
    found: dict[Path, list[Finding]] = {}
    for ctx in contexts:
        statements = _statements(ctx, violations[ctx.path])
        silenced = _silenced(ctx, violations[ctx.path], statements)
        kept = [
            (str(violation.get("rule_name")), statement, finding)
            for index, (violation, statement) in enumerate(
                zip(violations[ctx.path], statements, strict=True)
            )
            for finding in (_finding(ctx, violation),)
            if finding.code not in off and index not in silenced
        ]
        found[ctx.path] = one_per_rule(kept)
    return found


def limits_set(runner_limits: Mapping[str, object]) -> frozenset[str]:
    """The runner's config keys (`lock_timeout`, `statement_timeout`) that give it a limit: a
    number of seconds it reads as one (0 is no statement_timeout; a bad value is ci.migrate's
    to refuse, and sets nothing)."""
    given = set()
    for key, value in runner_limits.items():
        try:
            limit = seconds(str(value))
        except ArgumentTypeError:
            continue
        if limit > 0 or key == "lock_timeout":  # the runner sets a lock_timeout of 0 as 1 ms
            given.add(key)
    return frozenset(given)


def _set_by_the_runner(runner_sets: frozenset[str]) -> frozenset[str]:
    """The timeout codes whose every limit the runner sets on each migration: redundant."""
    return frozenset(code for code, keys in TIMEOUT_CODES.items() if runner_sets.issuperset(keys))


def _file_of(violation: dict[str, Any], group: list[FileContext]) -> Path:
    """The file of a violation: squawk names it as given, less a leading `./`."""
    if len(group) == 1:
        return group[0].path
    named = Path(str(violation.get("file"))).resolve()
    for ctx in group:
        if ctx.path.resolve() == named:
            return ctx.path
    raise UsageError(f"squawk reported a file it was not given: {violation.get('file')}")


# squawk reads its path arguments as glob patterns: a file named with these goes in by stdin
_GLOB = frozenset("*?[]{}")


def _runs(
    contexts: Sequence[FileContext],
) -> list[tuple[tuple[str, ...], list[FileContext], str | None]]:
    """The squawk runs that lint `contexts`: (arguments, files, text for stdin or None).

    Files share a run when they share the arguments that describe how the runner runs them.
    squawk trusts a file of ONE statement to run outside a transaction (as some tools run
    such a file), but our runner wraps it too: a transactional file that mentions CONCURRENTLY
    is linted alone, from stdin, with an empty statement and a SELECT appended after its last
    line (its own lines and columns unchanged), so squawk sees it in its transaction."""
    groups: dict[tuple[str, ...], list[FileContext]] = {}
    alone: list[tuple[tuple[str, ...], list[FileContext], str | None]] = []
    for ctx in contexts:
        outside = _outside_a_transaction(ctx)
        # said either way: a project's .squawk.toml may set assume_in_transaction
        arguments: tuple[str, ...] = (
            "--no-assume-in-transaction" if outside else "--assume-in-transaction",
        )
        if ctx.folder == "rollback":
            undoing = (
                *DROPS_A_ROLLBACK_MAKES,
                *RENAMES_A_ROLLBACK_UNDOES,
                *CONCURRENTLY_A_ROLLBACK_CANNOT,
            )
            arguments += ("--exclude=" + ",".join(undoing),)
        wrapped = not outside and "concurrently" in ctx.text.lower()
        # a @batch file's :batch_size is no parameter PostgreSQL knows: squawk reads the number
        batch = ctx.directives.batch is not None and ctx.folder != "rollback"
        if wrapped or batch or _GLOB & set(str(ctx.path)):
            text = sized(ctx.text) if batch else ctx.text
            text = text + "\n;\nSELECT 1;\n" if wrapped else text
            alone.append(((*arguments, "--stdin-filepath", str(ctx.path)), [ctx], text))
        else:
            groups.setdefault(arguments, []).append(ctx)
    return [(arguments, group, None) for arguments, group in groups.items()] + alone


def _outside_a_transaction(ctx: FileContext) -> bool:
    """Whether the runner runs the file's statements each on its own: a `@no-transaction`
    migration. A rollback file always runs in one transaction with the removal of its
    migration's row, whatever it declares."""
    return ctx.directives.no_transaction and ctx.folder != "rollback"


def _run(
    binary: str, arguments: tuple[str, ...], paths: list[str], stdin: str | None
) -> list[dict[str, Any]]:
    """squawk's JSON violations for `paths` (or `stdin`); exit 1 means it found some, anything
    else that it could not run (a bad `.squawk.toml`, say): one line, exit 2."""
    command = [binary, "--reporter", "json", *arguments, *(["--", *paths] if paths else [])]
    try:
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, encoding="utf-8", check=False
        )
    except OSError as error:
        raise UsageError(f"cannot run squawk ({binary}): {error.strerror}") from None
    try:
        violations = json.loads(done.stdout or "[]")
    except ValueError:
        violations = None
    # exit 1 with violations is squawk's "found some"; exit 1 without any is how it reports a
    # configuration it cannot read (a bad .squawk.toml), which must not pass as clean
    if (
        done.returncode not in (0, 1)
        or not isinstance(violations, list)
        or (done.returncode == 1 and not violations)
    ):
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[0]
        raise UsageError(f"squawk could not run (exit {done.returncode}): {said}")
    return violations


def _finding(ctx: FileContext, violation: dict[str, Any]) -> Finding:
    rule = str(violation.get("rule_name") or "unnamed")
    code, severity = code_and_severity(rule)
    message = str(violation.get("message") or "").strip().rstrip(".")
    entry = lookup(code)
    fix = entry.hint if entry is not None else "see squawk's page of the rule"
    page = "" if rule == SYNTAX_ERROR else f"; see {SQUAWK_DOCS_URL}/{rule}"
    return Finding(
        CHECK,
        code,
        str(ctx.path),
        # squawk counts lines from 0; past the last line only in what was appended to a file
        min(int(violation.get("line") or 0) + 1, ctx.text.count("\n") + 1),
        f"squawk {rule}: {message}",
        f"{fix}{page}; or, if it is intended, -- noqa: {code} <reason>",
        severity,
    )


def _statements(ctx: FileContext, violations: list[dict[str, Any]]) -> list[int | None]:
    """The offset of the statement each of `violations` points into (None: past the file's
    text, in what was appended to it)."""
    starts = [0, *(i + 1 for i, c in enumerate(ctx.text) if c == "\n")]
    pieces = split_pieces(ctx.text)
    found: list[int | None] = []
    for violation in violations:
        line = min(int(violation.get("line") or 0), len(starts) - 1)
        at = starts[line] + int(violation.get("column") or 0)
        piece = next((p for p in pieces if p.offset <= at < p.offset + len(p.raw)), None)
        found.append(None if piece is None else piece.offset)
    return found


def _silenced(
    ctx: FileContext, violations: list[dict[str, Any]], statements: list[int | None]
) -> set[int]:
    """The indexes of `violations` whose statement waives their code with `-- noqa: MG7xx`."""
    scopes = silencing_scopes(ctx.text)
    if not scopes:
        return set()
    silenced = set()
    for index, (violation, statement) in enumerate(zip(violations, statements, strict=True)):
        code, _ = code_and_severity(str(violation.get("rule_name")))
        if statement is not None and code in scopes.get(statement, set()):
            silenced.add(index)
    return silenced


def sized(text: str) -> str:
    """A @batch file as squawk can parse it: `:batch_size` written as a number."""
    from ci.db.postgres.batch_file import sized_text  # psycopg: only for a @batch file

    return sized_text(text, 1)
