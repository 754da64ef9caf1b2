"""One lint run: the files it covers, the safety rules and sqlfluff on each, one case per file.

The safety rules work on the runner's statement split, so a statement sqlfluff cannot parse is
reported (`PRS`, with its line) and the others are still checked. Each file's case carries its
own time (sqlfluff's loading is the check's, not a file's).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci.checks.lint.files import refuse_bad_link, select_files, whole_directory
from ci.checks.lint.inputs import CHECK, empty_file, file_context, input_finding
from ci.checks.lint.noqa import silencing_scopes
from ci.checks.lint.options import excluded_codes
from ci.checks.lint.rules import RULES
from ci.checks.lint.rules.base import DEFAULT_MIN_SQLITE, FileContext, Rule
from ci.checks.lint.sqlfluff_adapter import SQLFLUFF_MAX_BYTES, sqlfluff_findings
from ci.checks.pg_engine import splitter_for
from ci.core.findings import Case, Finding, Report
from ci.core.model import InputError

# Our safety rules that hold whatever the engine, and that squawk has no rule for: on PostgreSQL
# these run beside squawk's; the others are about SQLite (squawk covers their PostgreSQL sides).
ANY_ENGINE_RULES = frozenset({"MG501", "MG502", "MG504"})


def run(args: argparse.Namespace) -> Report:
    """Lint what the options ask for: FILES, or the migrations directory (maybe narrowed to the
    files changed since a base ref), saying on stderr what was left out."""
    files, scope = args.files, None
    if not files:
        files, scope = whole_directory(args.migrations_dir, base_ref=args.base_ref, every=args.all)
        if not files:
            print(scope, file=sys.stderr)
            return Report(CHECK, [Case(name="no migration changed to lint", classname=CHECK)])
    report = lint(
        files,
        migrations_dir=args.migrations_dir,
        min_sqlite=args.min_sqlite_version,
        sqlfluff=not args.no_sqlfluff,
        exclude=excluded_codes(args.exclude_rules),
        sqlfluff_max_bytes=args.sqlfluff_max_bytes,
        engine=args.engine,
        include=excluded_codes(args.include_rules),
        runner_limits=getattr(args, "runner_limits", {}),
    )
    # What was left out is always worth a line; that a base ref would narrow a run of every
    # file matters when the history fails it (a project turning lint on), not on a clean run.
    if scope is not None and (args.base_ref is not None or report.failed):
        print(scope, file=sys.stderr)
    return report


def lint(
    files: Sequence[Path],
    *,
    migrations_dir: Path,
    min_sqlite: tuple[int, int, int] = DEFAULT_MIN_SQLITE,
    sqlfluff: bool = True,
    exclude: frozenset[str] = frozenset(),
    sqlfluff_max_bytes: int = SQLFLUFF_MAX_BYTES,
    engine: str = "sqlite",
    include: frozenset[str] = frozenset(),
    runner_limits: Mapping[str, object] | None = None,
) -> Report:
    """Lint FILES (or the whole migrations directory): one test case per file. On PostgreSQL
    squawk's rules replace the SQLite ones (squawk must be installed: checked first);
    `include` turns on its style rules, `runner_limits` are the runner's config keys
    (`lock_timeout`, `statement_timeout`): limits no file needs to SET."""
    targets = select_files(files, migrations_dir)
    if engine == "postgresql" and targets:
        from ci.checks.lint.squawk_adapter import squawk_binary

        squawk_binary()  # missing: one line saying how to install it, before any work
    findings: dict[Path, list[Finding]] = {path: [] for path, _ in targets}
    # dollar quotes and nested comments on PostgreSQL; a syntax error is squawk's to report
    splitter = splitter_for(engine, lenient=True)
    seconds = dict.fromkeys(findings, 0.0)  # each file's own time, for its JUnit case
    contexts = []
    rules = tuple(
        rule
        for rule in RULES
        if rule.code not in exclude and (engine == "sqlite" or rule.code in ANY_ENGINE_RULES)
    )
    for path, folder in targets:
        started = time.perf_counter()
        try:
            refuse_bad_link(path, migrations_dir)
            ctx = file_context(path, folder, min_sqlite, splitter)
        except InputError as error:
            findings[path].append(input_finding(path, error))
        else:
            if ctx.text.strip():
                contexts.append(ctx)  # comments only is a valid no-op migration: linted as usual
                findings[path].extend(run_rules(ctx, rules))
                if engine == "postgresql":
                    findings[path].extend(_pg_rules(ctx, exclude))
            else:
                findings[path].append(empty_file(path, folder))
        seconds[path] += time.perf_counter() - started
    if engine == "postgresql" and contexts:
        _add(findings, _squawk(contexts, exclude, include, runner_limits or {}, seconds))
        findings = {path: _without_repeats(found) for path, found in findings.items()}
    if sqlfluff and contexts:
        found_by_sqlfluff = sqlfluff_findings(
            contexts, exclude=exclude, max_bytes=sqlfluff_max_bytes, seconds=seconds, engine=engine
        )
        _add(findings, found_by_sqlfluff)
    cases = [_case(path, found, seconds[path]) for path, found in findings.items()]
    return Report(CHECK, cases or [Case(name="no migration files to lint", classname=CHECK)])


def _squawk(
    contexts: Sequence[FileContext],
    exclude: frozenset[str],
    include: frozenset[str],
    runner_limits: Mapping[str, object],
    seconds: dict[Path, float],
) -> dict[Path, list[Finding]]:
    """squawk's findings; its time (one squawk process for many files) shared among them."""
    from ci.checks.lint.squawk_adapter import limits_set, squawk_findings

    started = time.perf_counter()
    found = squawk_findings(
        contexts, exclude=exclude, include=include, runner_sets=limits_set(runner_limits)
    )
    share = (time.perf_counter() - started) / len(contexts)
    for ctx in contexts:
        seconds[ctx.path] += share
    return found


def _pg_rules(ctx: FileContext, exclude: frozenset[str]) -> list[Finding]:
    """Our rules for what squawk has no rule for (pglast: imported on PostgreSQL only)."""
    from ci.checks.lint.pg_rules import pg_findings

    return pg_findings(ctx, exclude)


def _without_repeats(found: list[Finding]) -> list[Finding]:
    from ci.checks.lint.pg_rules import without_repeats

    return without_repeats(found)


def _add(findings: dict[Path, list[Finding]], found: dict[Path, list[Finding]]) -> None:
    for path, more in found.items():
        findings[path].extend(more)


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
                    CHECK,
                    rule.code,
                    str(ctx.path),
                    hit.sql.line,
                    hit.message,
                    f"{hit.hint}; or, if it is intended, -- noqa: {rule.code} <reason>",
                )
            )
    return sorted(findings, key=lambda f: (f.line or 0, f.code))


def _case(path: Path, findings: list[Finding], seconds: float) -> Case:
    findings = sorted(findings, key=lambda f: (f.line or 0, f.code))
    first = next((f.line for f in findings if f.is_error), None)
    return Case(
        name=str(path), classname=CHECK, time=seconds, path=str(path), line=first, findings=findings
    )
