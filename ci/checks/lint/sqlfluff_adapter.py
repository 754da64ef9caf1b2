"""sqlfluff in this process: one Linter for all files, its configuration, what it cannot parse.

sqlfluff (dialect `sqlite`, templater `raw`, rules `core`, each overridable by the project's
`.sqlfluff` or `pyproject.toml [tool.sqlfluff]`) is imported only here, only when there is a file
to lint. A statement sqlfluff cannot parse is reported (`PRS`, with its line: a warning when
SQLite accepts it), then replaced by a comment and the file linted again, so one bad statement
does not hide the rest of the file. A rule broken many times in a file is one finding on its
first line, with the count and the other lines (`ci.checks.lint.repeats`): a file written in
lower case is one CP01, not forty. Unparsable statements stay one finding each: each names its
own statement and what the engine's parser makes of it, which differ.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci.checks.lint.inputs import CHECK, INPUT_CODE
from ci.checks.lint.repeats import one_per_code
from ci.checks.lint.rules.base import FileContext
from ci.checks.lint.sqlite_syntax import sqlite_rejects
from ci.core.errors import UsageError
from ci.core.findings import Finding
from ci.core.sqltext import Statement, split_pieces

SQLFLUFF_DEFAULTS: dict[str, Any] = {
    "core": {"dialect": "sqlite", "templater": "raw", "rules": "core"},
    # A `-- @progress <query>` directive cannot be wrapped: comment lines may be long.
    "rules": {"layout.long_lines": {"ignore_comment_lines": True}},
}
# sqlfluff's dialect for each engine (a project's .sqlfluff may still name its own)
DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}
SQLFLUFF_RULES_URL = "https://docs.sqlfluff.com/en/stable/reference/rules.html"
MAX_UNPARSABLE = 25  # statements skipped per file before sqlfluff gives up on the rest
# sqlfluff lints ~8 KB/s here (a 100 KB file: 13 s): above this a file gets only the safety rules,
# with a warning naming it, so a generated 50 MB data migration cannot stall a pre-commit hook
SQLFLUFF_MAX_BYTES = 1_000_000
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)


def sqlfluff_findings(
    contexts: Sequence[FileContext],
    *,
    exclude: frozenset[str] = frozenset(),
    max_bytes: int = SQLFLUFF_MAX_BYTES,
    seconds: dict[Path, float] | None = None,
    engine: str = "sqlite",
) -> dict[Path, list[Finding]]:
    """sqlfluff's violations for every file, from one in-process Linter; a file larger than
    `max_bytes` (0: no limit) gets a warning instead, and sqlfluff is not even imported for it.
    Each file's linting time is added to `seconds[path]` (loading sqlfluff is no file's).
    `engine` picks the default dialect (`sqlite`, or `postgres` for postgresql)."""
    found: dict[Path, list[Finding]] = {}
    small = []
    for ctx in contexts:
        size = len(ctx.text.encode())
        if max_bytes and size > max_bytes:
            found[ctx.path] = [_too_big(ctx, size, max_bytes, engine)]
        else:
            small.append(ctx)
    if not small:
        return found
    _import_sqlfluff()
    from sqlfluff.core import Linter

    excluded = sorted(code for code in exclude if not code.startswith("MG"))
    configs = _ConfigCache(excluded, dialect=DIALECTS[engine])
    linter = Linter(config=configs.for_directory(Path(".")))
    for ctx in small:
        started = time.perf_counter()
        config = configs.for_directory(ctx.path.parent)
        found[ctx.path] = _lint_file(linter, ctx, config, engine)
        if seconds is not None:
            seconds[ctx.path] = seconds.get(ctx.path, 0.0) + time.perf_counter() - started
    return found


def _too_big(ctx: FileContext, size: int, limit: int, engine: str) -> Finding:
    others = "squawk and the safety rules" if engine == "postgresql" else "the safety rules (MG5xx)"
    return Finding(
        CHECK,
        INPUT_CODE,
        str(ctx.path),
        None,
        f"{size:,} bytes, more than --sqlfluff-max-bytes ({limit:,}): sqlfluff skipped this "
        f"file, {others} ran",
        "raise --sqlfluff-max-bytes (sqlfluff_max_bytes: in migration-guard.yaml; 0 = no limit) "
        "to lint it with sqlfluff, which takes about 2 minutes per MB",
        "warning",
    )


def _import_sqlfluff() -> None:
    """Import sqlfluff without the pytest it imports for its own test helpers when pytest is
    installed (0.15 s of the 1.5 s budget, docs/design.md); a process that already has pytest keeps
    it."""
    if "pytest" in sys.modules or "sqlfluff" in sys.modules:
        return
    sys.modules["pytest"] = None  # type: ignore[assignment]  # makes `import pytest` fail
    try:
        import sqlfluff.core  # noqa: F401
    finally:
        del sys.modules["pytest"]


class _ConfigCache:
    """One FluffConfig per directory: our defaults, then the project's `.sqlfluff` files."""

    def __init__(self, exclude: Sequence[str] = (), *, dialect: str = "sqlite") -> None:
        self._configs: dict[Path, Any] = {}
        self._exclude = list(exclude)
        self._defaults = {**SQLFLUFF_DEFAULTS, "core": {**SQLFLUFF_DEFAULTS["core"]}}
        self._defaults["core"]["dialect"] = dialect
        # PostgreSQL's dialect wins over a `.sqlfluff` that still says sqlite (a project moving
        # engines keeps it; sqlfluff would misread every statement): the engine is the project's
        self._engine_dialect = dialect if dialect != "sqlite" else None

    def for_directory(self, directory: Path) -> Any:
        from sqlfluff.core import FluffConfig, SQLFluffUserError
        from sqlfluff.core.config.loader import load_config_up_to_path
        from sqlfluff.core.helpers.dict import nested_combine

        key = directory.resolve()
        if key not in self._configs:
            try:
                loaded = load_config_up_to_path(str(key))
                settings = nested_combine(self._defaults, loaded)
                core = settings["core"]
                if self._engine_dialect is not None:
                    core["dialect"] = self._engine_dialect
                existing = core.get("exclude_rules") or []
                listed = existing if isinstance(existing, list) else [existing]
                excluded = [str(code) for code in listed] + self._exclude
                core["exclude_rules"] = ",".join(excluded) or None
                config = FluffConfig(configs=settings)
            except KeyError:  # how sqlfluff answers an unknown dialect
                dialect = settings["core"].get("dialect")
                raise UsageError(
                    f"sqlfluff configuration for {directory}: unknown dialect '{dialect}'"
                ) from None
            except (SQLFluffUserError, ValueError) as error:
                raise UsageError(f"sqlfluff configuration for {directory}: {error}") from None
            self._configs[key] = config
        return self._configs[key]


def _lint_file(linter: Any, ctx: FileContext, config: Any, engine: str) -> list[Finding]:
    """Lint one file; each statement sqlfluff cannot parse is reported, then skipped, and the
    file linted again, so that one bad statement does not hide the rest of the file."""
    limit = int(config.get("large_file_skip_byte_limit") or 0)
    if limit and len(ctx.text.encode()) > limit:
        return [_skipped(ctx, limit)]
    text, unparsable = ctx.text, []
    for _ in range(MAX_UNPARSABLE + 1):
        linted = linter.lint_string(text, fname=str(ctx.path), config=config)
        shown = linted.get_violations(filter_warning=False)
        bad = [v for v in linted.violations if v.rule_code() == "PRS"]
        if not bad:
            break
        piece = _piece_at(text, bad[0].line_no, bad[0].line_pos)
        if piece is None:  # not inside a statement: report sqlfluff's own words, stop there
            unparsable += [_finding(ctx, v, config) for v in shown if v.rule_code() == "PRS"]
            break
        dialect = config.get("dialect")
        shown_bad = [v for v in shown if v.rule_code() == "PRS"][:1]
        judge = _parse_finding if engine == "sqlite" else _postgres_parse_finding
        unparsable += [judge(ctx, v, piece, dialect) for v in shown_bad]
        text = _skip_piece(text, piece)
    findings = one_per_code(_finding(ctx, v, config) for v in shown if v.rule_code() != "PRS")
    return unparsable + findings


def _finding(ctx: FileContext, violation: Any, config: Any) -> Finding:
    code = violation.rule_code()
    # the dialect named: without a .sqlfluff file, sqlfluff's own command refuses to run
    fix = f"sqlfluff fix --dialect {config.get('dialect')} {ctx.path}"
    return Finding(
        CHECK,
        code,
        str(ctx.path),
        violation.line_no,
        f"sqlfluff: {violation.desc().rstrip('.')}",
        f"see {code} at {SQLFLUFF_RULES_URL} (`{fix}` fixes most layout rules), "
        f"or end the line with -- noqa: {code}",
        "warning" if violation.warning else "error",
    )


def _parse_finding(ctx: FileContext, violation: Any, piece: Statement, dialect: str) -> Finding:
    """sqlfluff's dialect has gaps (a column without a type, a keyword SQLite takes as a name):
    SQLite decides. A statement it accepts is a warning naming the gap; one it rejects too
    stays an error, with SQLite's own words."""
    code = piece.code.rstrip(";")
    first_line = code[:60] + ("..." if len(code) > 60 else "")
    rejected = sqlite_rejects(code)
    cannot = f"sqlfluff (dialect {dialect}) cannot parse this statement"
    if rejected is None:
        return Finding(
            CHECK,
            "PRS",
            str(ctx.path),
            violation.line_no,
            f"{cannot}; SQLite accepts it: {first_line}",
            "none needed (a gap in sqlfluff's dialect); -- noqa: PRS hides this warning",
            "warning",
        )
    return Finding(
        CHECK,
        "PRS",
        str(ctx.path),
        violation.line_no,
        f"{cannot} and SQLite rejects it too ({rejected}): {first_line}",
        "fix the syntax",
        "warning" if violation.warning else "error",
    )


def _postgres_parse_finding(
    ctx: FileContext, violation: Any, piece: Statement, dialect: str
) -> Finding:
    """On PostgreSQL, squawk parses every statement with PostgreSQL's grammar (a syntax error
    there is MG700): a statement sqlfluff's dialect cannot parse is a gap of sqlfluff's."""
    code = piece.code.rstrip(";")
    first_line = code[:60] + ("..." if len(code) > 60 else "")
    return Finding(
        CHECK,
        "PRS",
        str(ctx.path),
        violation.line_no,
        f"sqlfluff (dialect {dialect}) cannot parse this statement; squawk checks its syntax "
        f"(MG700): {first_line}",
        "none needed when squawk reports no MG700 here; -- noqa: PRS hides this warning",
        "warning",
    )


def _skipped(ctx: FileContext, limit: int) -> Finding:
    return Finding(
        CHECK,
        INPUT_CODE,
        str(ctx.path),
        None,
        f"larger than sqlfluff's large_file_skip_byte_limit ({limit} bytes): sqlfluff skipped "
        "it, the safety rules ran",
        "raise large_file_skip_byte_limit in .sqlfluff to lint it",
        "warning",
    )


def _piece_at(text: str, line: int, column: int) -> Statement | None:
    """The statement (with its leading comments) that holds `line:column`, if it has code."""
    starts = [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]
    offset = starts[min(line, len(starts)) - 1] + max(column, 1) - 1
    for piece in split_pieces(text):
        if piece.offset <= offset < piece.offset + len(piece.raw) and piece.keyword:
            return piece
    return None


def _skip_piece(text: str, piece: Statement) -> str:
    """`text` with the statement replaced by a comment, keeping every line where it was and
    what follows on its last line in the same column (so line lengths do not change)."""
    lead = _LEADING.match(piece.raw)
    start = piece.offset + (lead.end() if lead else 0)
    end = piece.offset + len(piece.raw)
    last_line = text[start:end].rsplit("\n", 1)[-1]
    comment = "/*" + " " * (len(last_line) - 4) + "*/"
    return text[:start] + "\n" * text.count("\n", start, end) + comment + text[end:]
