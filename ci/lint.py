"""SQL lint: sqlfluff plus the migration safety rules of `ci.checks.lint_rules`.

`python -m ci.lint [FILES...]` lints the given migration files (pre-commit passes the staged ones),
or every `.sql` file under the migrations directory. sqlfluff (dialect `sqlite`, templater `raw`,
rules `core`, each overridable by the project's `.sqlfluff` or `pyproject.toml [tool.sqlfluff]`)
runs in this process with one `Linter` for all files, and is imported only here, only when there
is a file to lint. The safety rules work on the runner's statement split, so a statement sqlfluff
cannot parse is reported (`PRS`, with its line) and the others are still checked.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci.app.cli import run_one, run_program
from ci.checks import options
from ci.checks.base import Check
from ci.checks.lint_rules import RULES, run_rules
from ci.checks.lint_rules.base import DEFAULT_MIN_SQLITE, FileContext, version_text
from ci.checks.options import Option, whole_number
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding, Report
from ci.core.model import KNOWN_FOLDERS, InputError, SqlFile, missing_migrations_dir
from ci.core.sqltext import Statement, split_pieces

CHECK = "lint"
# A file that cannot be linted at all: binary, not UTF-8, empty, a bad directive.
INPUT_CODE = "MG500"
SQLFLUFF_DEFAULTS: dict[str, Any] = {
    "core": {"dialect": "sqlite", "templater": "raw", "rules": "core"},
    # A `-- @progress <query>` directive cannot be wrapped: comment lines may be long.
    "rules": {"layout.long_lines": {"ignore_comment_lines": True}},
}
SQLFLUFF_RULES_URL = "https://docs.sqlfluff.com/en/stable/reference/rules.html"
MAX_UNPARSABLE = 25  # statements skipped per file before sqlfluff gives up on the rest
# sqlfluff lints ~8 KB/s here (a 100 KB file: 13 s): above this a file gets only the safety rules,
# with a warning naming it, so a generated 50 MB data migration cannot stall a pre-commit hook
SQLFLUFF_MAX_BYTES = 1_000_000
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
_WHERE = re.compile(r"^(?P<path>.*?):(?P<line>\d+): (?P<message>.*)$")


def main(argv: Sequence[str] | None = None) -> int:
    return run_one(LINT, argv)


def _work(args: argparse.Namespace) -> Report:
    excluded: list[str] = []
    for item in args.exclude_rules:  # a list per option (config files give a list of lists)
        excluded.extend(item if isinstance(item, list) else rule_codes(item))
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
        exclude=frozenset(excluded),
        sqlfluff_max_bytes=args.sqlfluff_max_bytes,
    )
    # What was left out is always worth a line; that a base ref would narrow a run of every
    # file matters when the history fails it (a project turning lint on), not on a clean run.
    if scope is not None and (args.base_ref is not None or report.failed):
        print(scope, file=sys.stderr)
    return report


def rule_codes(text: str) -> list[str]:
    """`MG510, lt05` -> ["MG510", "LT05"]."""
    codes = [code.strip().upper() for code in text.split(",") if code.strip()]
    bad = [code for code in codes if not re.fullmatch(r"[A-Z]{2,3}\d*", code)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a rule code: {', '.join(bad)}")
    return codes


def parse_version(text: str) -> tuple[int, int, int]:
    """`3.31` / `3.31.1` -> (3, 31, 0) / (3, 31, 1); argparse turns the error into exit 2."""
    if not re.fullmatch(r"3\.\d+(?:\.\d+)?", text.strip()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a SQLite 3 version like 3.31.1")
    major, minor, *patch = (int(part) for part in text.strip().split("."))
    if minor < 7:  # YAML reads an unquoted 3.40 as the number 3.4
        raise argparse.ArgumentTypeError(
            f"'{text}' is older than SQLite 3.7.0 (in YAML, quote the version: \"3.40\")"
        )
    return (major, minor, patch[0] if patch else 0)


def lint(
    files: Sequence[Path],
    *,
    migrations_dir: Path,
    min_sqlite: tuple[int, int, int] = DEFAULT_MIN_SQLITE,
    sqlfluff: bool = True,
    exclude: frozenset[str] = frozenset(),
    sqlfluff_max_bytes: int = SQLFLUFF_MAX_BYTES,
) -> Report:
    """Lint FILES (or the whole migrations directory): one test case per file."""
    targets = select_files(files, migrations_dir)
    findings: dict[Path, list[Finding]] = {path: [] for path, _ in targets}
    seconds = dict.fromkeys(findings, 0.0)  # each file's own time, for its JUnit case
    contexts = []
    rules = tuple(rule for rule in RULES if rule.code not in exclude)
    for path, folder in targets:
        started = time.perf_counter()
        try:
            ctx = file_context(path, folder, min_sqlite)
        except InputError as error:
            findings[path].append(input_finding(path, error))
        else:
            if ctx.text.strip():
                contexts.append(ctx)  # comments only is a valid no-op migration: linted as usual
                findings[path].extend(run_rules(ctx, rules))
            else:
                findings[path].append(_zero_bytes(path, folder))
        seconds[path] += time.perf_counter() - started
    if sqlfluff and contexts:
        found_by_sqlfluff = sqlfluff_findings(
            contexts, exclude=exclude, max_bytes=sqlfluff_max_bytes, seconds=seconds
        )
        for path, found in found_by_sqlfluff.items():
            findings[path].extend(found)
    cases = [_case(path, found, seconds[path]) for path, found in findings.items()]
    return Report(CHECK, cases or [Case(name="no migration files to lint", classname=CHECK)])


def whole_directory(
    migrations_dir: Path, *, base_ref: str | None, every: bool
) -> tuple[list[Path], str | None]:
    """What a run without FILES lints, and a line saying so: every migration file, or with a
    base ref only those added or changed since the merge base of HEAD and that ref (committed
    or not), so that a history written in another style does not fail every pull request."""
    files = migration_files(migrations_dir)
    if every:
        return files, None
    if base_ref is None:
        return files, (
            f"{CHECK}: every file ({len(files)}): no --base-ref; with one, only the files "
            "changed since its merge base with HEAD"
        )
    from ci.core import gitrefs

    base = gitrefs.merge_base(base_ref, migrations_dir)
    before = gitrefs.list_files_at_commit(base, migrations_dir)
    changed = [
        path
        for path in files
        if before.get(path.relative_to(migrations_dir).as_posix()) != _blob_id_of(path)
    ]
    count = f"{len(changed)} file{'' if len(changed) == 1 else 's'}"
    return changed, (
        f"{CHECK}: {count} changed since merge base {base[:7]} of HEAD and {base_ref}; "
        "--all for every file"
    )


def _blob_id_of(path: Path) -> str | None:
    """Its git blob id; None when it cannot be read (linting it reports why)."""
    from ci.core.gitrefs import blob_id

    try:
        return blob_id(path.read_bytes())
    except OSError:
        return None


def migration_files(migrations_dir: Path) -> list[Path]:
    """Every `.sql` file of the migrations directory (flat, or in its known folders)."""
    if not migrations_dir.is_dir():
        raise missing_migrations_dir(migrations_dir)
    return [
        path
        for folder in (migrations_dir, *(migrations_dir / k for k in KNOWN_FOLDERS))
        if folder.is_dir()
        for path in sorted(folder.glob("*.sql"))
    ]


def select_files(files: Sequence[Path], migrations_dir: Path) -> list[tuple[Path, str]]:
    """The `.sql` files to lint with their folder kind; FILES outside the directory are skipped."""
    if not files:
        files = migration_files(migrations_dir)
    root = migrations_dir.resolve()
    selected = []
    for path in dict.fromkeys(files):
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):  # a symlink loop: reading it reports it, naming the file
            resolved = Path(path).parent.resolve() / Path(path).name
        relative = _relative(resolved, root)
        if relative is not None and path.suffix == ".sql":
            folder = relative.parts[0] if len(relative.parts) > 1 else "schema"
            selected.append((Path(path), folder if folder in KNOWN_FOLDERS else "other"))
    return selected


def _relative(path: Path, root: Path) -> Path | None:
    try:
        return path.relative_to(root)
    except ValueError:
        return None


def file_context(path: Path, folder: str, min_sqlite: tuple[int, int, int]) -> FileContext:
    """Read one file for the rules; unusable input raises InputError naming file and line."""
    sql_file = SqlFile(path)
    statements = tuple(sql_file.statements)
    return FileContext(
        path, folder, sql_file.text, statements, sql_file.directives, min_sqlite=min_sqlite
    )


def _zero_bytes(path: Path, folder: str) -> Finding:
    """A migration with nothing in it (0 bytes, or blanks) runs as a no-op; a warning, as it is
    more often a slip than a plan: a comment-only file says why it does nothing."""
    return Finding(
        CHECK,
        INPUT_CODE,
        str(path),
        None,
        f"empty file: it runs as a no-op {'rollback' if folder == 'rollback' else 'migration'}",
        "write its SQL, or a comment saying why it does nothing",
        "warning",
    )


def input_finding(path: Path, error: InputError) -> Finding:
    """An InputError (`path:line: message` or `path: message`) as a finding with its line."""
    text = str(error)
    match = _WHERE.match(text)
    if match and match["path"] == str(path):
        return Finding(CHECK, INPUT_CODE, str(path), int(match["line"]), match["message"])
    message = text.removeprefix(f"{path}: ")
    return Finding(CHECK, INPUT_CODE, str(path), None, message, "")


def _case(path: Path, findings: list[Finding], seconds: float) -> Case:
    findings = sorted(findings, key=lambda f: (f.line or 0, f.code))
    first = next((f.line for f in findings if f.is_error), None)
    return Case(
        name=str(path), classname=CHECK, time=seconds, path=str(path), line=first, findings=findings
    )


# --- sqlfluff ---------------------------------------------------------------------------------


def sqlfluff_findings(
    contexts: Sequence[FileContext],
    *,
    exclude: frozenset[str] = frozenset(),
    max_bytes: int = SQLFLUFF_MAX_BYTES,
    seconds: dict[Path, float] | None = None,
) -> dict[Path, list[Finding]]:
    """sqlfluff's violations for every file, from one in-process Linter; a file larger than
    `max_bytes` (0: no limit) gets a warning instead, and sqlfluff is not even imported for it.
    Each file's linting time is added to `seconds[path]` (loading sqlfluff is no file's)."""
    found: dict[Path, list[Finding]] = {}
    small = []
    for ctx in contexts:
        size = len(ctx.text.encode())
        if max_bytes and size > max_bytes:
            found[ctx.path] = [_too_big(ctx, size, max_bytes)]
        else:
            small.append(ctx)
    if not small:
        return found
    _import_sqlfluff()
    from sqlfluff.core import Linter

    configs = _ConfigCache(sorted(code for code in exclude if not code.startswith("MG")))
    linter = Linter(config=configs.for_directory(Path(".")))
    for ctx in small:
        started = time.perf_counter()
        found[ctx.path] = _lint_file(linter, ctx, configs.for_directory(ctx.path.parent))
        if seconds is not None:
            seconds[ctx.path] = seconds.get(ctx.path, 0.0) + time.perf_counter() - started
    return found


def _too_big(ctx: FileContext, size: int, limit: int) -> Finding:
    return Finding(
        CHECK,
        INPUT_CODE,
        str(ctx.path),
        None,
        f"{size:,} bytes, more than --sqlfluff-max-bytes ({limit:,}): sqlfluff skipped this "
        "file, the safety rules (MG5xx) ran",
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

    def __init__(self, exclude: Sequence[str] = ()) -> None:
        self._configs: dict[Path, Any] = {}
        self._exclude = list(exclude)

    def for_directory(self, directory: Path) -> Any:
        from sqlfluff.core import FluffConfig, SQLFluffUserError
        from sqlfluff.core.config.loader import load_config_up_to_path
        from sqlfluff.core.helpers.dict import nested_combine

        key = directory.resolve()
        if key not in self._configs:
            try:
                loaded = load_config_up_to_path(str(key))
                settings = nested_combine(SQLFLUFF_DEFAULTS, loaded)
                core = settings["core"]
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


def _lint_file(linter: Any, ctx: FileContext, config: Any) -> list[Finding]:
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
            unparsable += [_finding(ctx, v) for v in shown if v.rule_code() == "PRS"]
            break
        dialect = config.get("dialect")
        shown_bad = [v for v in shown if v.rule_code() == "PRS"][:1]
        unparsable += [_parse_finding(ctx, v, piece, dialect) for v in shown_bad]
        text = _skip_piece(text, piece)
    findings = [_finding(ctx, v) for v in shown if v.rule_code() != "PRS"]
    return unparsable + findings


def _finding(ctx: FileContext, violation: Any) -> Finding:
    code = violation.rule_code()
    return Finding(
        CHECK,
        code,
        str(ctx.path),
        violation.line_no,
        f"sqlfluff: {violation.desc().rstrip('.')}",
        f"see {code} at {SQLFLUFF_RULES_URL} (`sqlfluff fix` fixes most layout rules), "
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


# SQLite's errors that depend on the schema a statement runs against, not on its syntax: a
# statement that gets one is valid SQL. Any other error (a syntax error, "incomplete input",
# a rule SQLite's parser enforces itself) means SQLite rejects the statement wherever it runs.
_SCHEMA_ERRORS = re.compile(
    r"no such (?:table|column|view|index|trigger|function|collation sequence|module)\b"
    r"|unknown database\b|not authorized\b|.* already exists$|.* has no column named\b"
    r"|.* has \d+ columns but \d+ values were supplied$|ON CONFLICT clause does not match\b",
    re.IGNORECASE,
)
_NO_SUCH_TABLE = re.compile(r"no such table: (?:(main|temp)\.)?([^.]+)", re.IGNORECASE)
MAX_STUB_TABLES = 20


def sqlite_rejects(statement: str) -> str | None:
    """SQLite's error for a statement it cannot compile in any schema, or None if it can.

    The statement is compiled (`EXPLAIN`, never run) on a private in-memory database. A table
    it names that does not exist there is created (empty) and the statement compiled again:
    SQLite stops at its first error, and a missing table (the one in `CREATE TRIGGER ... ON t
    BEGIN ... END`) would hide a syntax error after it."""
    import sqlite3

    explained = re.match(r"\s*EXPLAIN\b", statement, re.IGNORECASE)
    sql = statement if explained else f"EXPLAIN {statement}"
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for _ in range(MAX_STUB_TABLES):
            conn.set_authorizer(_no_side_effects)
            try:
                conn.execute(sql).fetchall()
                return None
            except (sqlite3.ProgrammingError, sqlite3.Warning):
                return None  # it compiled; its parameters (:batch_size) are not bound here
            except sqlite3.Error as error:
                message = str(error)
            missing = _NO_SUCH_TABLE.fullmatch(message)
            if missing is None:
                return None if _SCHEMA_ERRORS.match(message) else message
            conn.set_authorizer(None)
            temp = "TEMP " if (missing[1] or "").lower() == "temp" else ""
            quoted = '"' + missing[2].replace('"', '""') + '"'
            conn.execute(f"CREATE {temp}TABLE {quoted} (_)")
        return None  # still a missing table: a name SQLite could resolve in a real schema
    except sqlite3.Error:
        return None  # the stand-in table could not be made: the error was about the schema
    finally:
        conn.close()


def _no_side_effects(action: int, *_: str | None) -> int:
    """Compiling a PRAGMA or an ATTACH may already act: refused (the statement compiled)."""
    import sqlite3

    if action in (sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


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


# The lint check as the app layer runs it (options declared as data; see ci/checks/base.py).
LINT = Check(
    CHECK,
    "SQL lint: sqlfluff plus migration safety rules (MG5xx).",
    (
        Option(
            "--min-sqlite-version",
            type=parse_version,
            default=DEFAULT_MIN_SQLITE,
            metavar="X.Y[.Z]",
            help="oldest SQLite the migrations must run on "
            f"(default {version_text(DEFAULT_MIN_SQLITE)}; rule MG510)",
        ),
        Option(
            "--exclude-rules",
            type=rule_codes,
            action="extend",
            default=[],
            metavar="CODES",
            help="comma-separated rules to turn off for every file: safety rules and sqlfluff "
            "codes alike (e.g. MG510,LT05); to waive one statement, use -- noqa: CODE",
        ),
        Option("--no-sqlfluff", action="store_true", help="run only the migration safety rules"),
        options.base_ref(
            "without FILES, lint only the migration files added or changed since the merge "
            "base of HEAD and REF (e.g. origin/main); given FILES are always linted"
        ),
        Option(
            "--all",
            action="store_true",
            help="lint every migration file, even with --base-ref (or base_ref: in the config)",
        ),
        Option(
            "--sqlfluff-max-bytes",
            type=whole_number("bytes", 0),
            default=SQLFLUFF_MAX_BYTES,
            metavar="BYTES",
            help="a larger file gets only the safety rules, with a warning "
            f"(default {SQLFLUFF_MAX_BYTES:_}; 0: no limit)",
        ),
    ),
    _work,
)

if __name__ == "__main__":
    raise SystemExit(run_program(main))
