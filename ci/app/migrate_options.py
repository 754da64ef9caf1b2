"""ci.migrate's options: its parser, a plain command line read without it (ci.app.plain_args),
and the combinations it refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ci.app.plain_args import plain_args
from ci.core.model import DEFAULT_MIGRATIONS_DIR

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace

    Args = argparse.Namespace | SimpleNamespace

WARN_SLOW = 300.0  # --warn-slow's default (seconds)
BUSY_TIMEOUT = 30.0  # --busy-timeout's default (seconds)
# What a plain command line may hold (ci.app.plain_args: read without building the parser):
# the two paths and the store-true options of which no two exclude each other.
PLAIN_VALUES = {
    "--db": ("db", Path),
    "--migrations-dir": ("migrations_dir", Path),
    "--format": ("output_format", str),  # one of FORMATS, else the parser says so
}
PLAIN_FLAGS = {
    "--status": "status",
    "--no-backup": "no_backup",
    "--detect": "detect",
    "--verify": "verify",
    "--dry-run": "dry_run",
    "--resume": "resume",
    "--group": "group",
    "--allow-changed": "allow_changed",
}
DEFAULTS: dict[str, object] = {
    "db": None,
    "database_url": None,
    "migrations_dir": Path(DEFAULT_MIGRATIONS_DIR),  # ci.app.cli.parse's, when not given
    "config": None,
    "status": False,
    "rollback": None,
    "force_clean": False,
    "rehash": False,
    "baseline": None,
    "force": False,
    "detect": False,
    "verify": False,
    "dry_run": False,
    "target": None,
    "resume": False,
    "group": False,
    "allow_changed": False,
    "backup": None,
    "no_backup": False,
    "warn_slow": WARN_SLOW,
    "busy_timeout": BUSY_TIMEOUT,
    "statement_timeout": None,
    "lock_timeout": None,
    "server_url": None,
    "setup": None,
    "output_format": "text",
}
FORMATS = ("text", "json", "github")  # --format: text is today's output, byte for byte
POSTGRES_SCHEMES = ("postgresql", "postgres")  # --database-url (ci.db.engine.ENGINES has them)


def build_parser() -> argparse.ArgumentParser:
    from ci.app.cli import (  # not for a plain command line (ci.app.plain_args)
        ArgumentParser,
        add_busy_timeout,
        add_migrations_dir,
        add_statement_timeout,
        migration_number,
        seconds,
    )
    from ci.checks.options import SERVER_URL_ENV, postgres_url

    parser = ArgumentParser(
        module="ci.migrate",
        description="Apply raw-SQL migrations to a SQLite or PostgreSQL database, one "
        "transaction each.",
    )
    # one of the two is required, which combination_problem says: the config file may give it
    database = parser.add_mutually_exclusive_group()
    database.add_argument("--db", type=Path, help="the SQLite database file")
    database.add_argument(
        "--database-url",
        type=database_url,
        metavar="URL",
        help="a PostgreSQL database instead: postgresql://USER@HOST:PORT/DB (a password in "
        "it is never shown; better in ~/.pgpass or PGPASSWORD)",
    )
    add_migrations_dir(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: migration-guard.yaml if present); every key is also a flag",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="show applied and pending")
    action.add_argument(
        "--rollback",
        type=migration_number,
        metavar="N",
        help="undo applied main-track migrations from the newest down to and including N",
    )
    action.add_argument(
        "--force-clean",
        action="store_true",
        help="clear dirty marks left by an unfinished @no-transaction/@batch migration",
    )
    action.add_argument(
        "--rehash",
        action="store_true",
        help="accept comment-only edits of applied files: record their checksums now (any "
        "other edit is refused; logged)",
    )
    action.add_argument(
        "--baseline",
        type=migration_number,
        metavar="N",
        help="adopt an existing database: record main-track migrations up to N as applied "
        "without running them, after checking it has the shape they create",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --baseline: record them although the database differs (loudly, and logged)",
    )
    parser.add_argument(
        "--detect",
        action="store_true",
        help="with --status: say which pending migrations look already applied",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="re-read and re-hash every applied file, trusting no cached checksum",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="execute the plan in a transaction that is rolled back; change nothing",
    )
    parser.add_argument("--target", type=migration_number, metavar="N", help="apply up to N only")
    parser.add_argument(
        "--resume", action="store_true", help="finish the migration a dirty mark names, then go on"
    )
    parser.add_argument(
        "--group",
        action="store_true",
        help="apply the pending migrations in one transaction, all or none (a @batch or "
        "@no-transaction migration runs on its own between groups; seeds are a group of "
        "their own); ignored by --rollback when it comes from the config file",
    )
    parser.add_argument(
        "--allow-changed",
        action="store_true",
        help="go on although applied files were edited (loudly); not with --rollback",
    )
    backups = parser.add_mutually_exclusive_group()
    backups.add_argument(
        "--backup",
        type=Path,
        metavar="PATH",
        help="back up here before changing anything (default: <db>.bak-<UTC time> "
        "when the database has data; with --database-url a pg_dump archive, none by default)",
    )
    backups.add_argument("--no-backup", action="store_true", help="take no backup")
    parser.add_argument(
        "--warn-slow",
        type=seconds,
        default=WARN_SLOW,
        metavar="SECONDS",
        help="warn about each migration slower than this (default: 300)",
    )
    add_busy_timeout(
        parser, default=BUSY_TIMEOUT, help="wait this long for another process's lock (default: 30)"
    )
    add_statement_timeout(
        parser,
        default=None,
        help="stop and roll back a migration still running after this long (default: no "
        "limit; a @batch or @no-transaction one is left dirty, as after any failure)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="PostgreSQL: fail a migration's statement that waits longer than this for a "
        "lock held by another session (default: no limit)",
    )
    parser.add_argument(
        "--server-url",
        type=postgres_url,
        default=None,
        metavar="URL",
        help="with --database-url --baseline or --status --detect: PostgreSQL server where it "
        "builds what the migrations create, on a throwaway database (mg_...); default: "
        f"${SERVER_URL_ENV}",
    )
    parser.add_argument(
        "--setup",
        metavar="MODULE:FUNCTION",
        help="callable run on the connection first (register SQL functions, load extensions)",
    )
    parser.add_argument(
        "--format",
        dest="output_format",  # not `format`: the config file's `format` is the checks'
        choices=FORMATS,
        default="text",
        help="text (default); json: one document on stdout, the other lines on stderr; "
        "github: text, annotations and a step summary (command line only)",
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> Args:
    """The options: a plain command line read directly (ci.app.plain_args), any other by the
    parser over the config file (its values become defaults; flags win). A refused line or
    combination exits 2 with the parser's one line."""
    plain = plain_args(
        argv, flags=PLAIN_FLAGS, values=PLAIN_VALUES, defaults=DEFAULTS, required=("db",)
    )
    if (
        plain is not None
        and plain.output_format in FORMATS
        and combination_problem(plain, lambda: plain.group) is None
    ):
        return plain
    from ci.app.cli import parse

    parser = build_parser()
    args = parse(parser, argv)
    problem = combination_problem(args, lambda: _group_typed(parser, args, argv))
    if problem is not None:
        parser.error(problem)
    return args


def database_url(text: str) -> str:
    """--database-url's value: a postgresql:// or postgres:// URL."""
    import argparse

    scheme, sep, _ = text.partition("://")
    if not sep or scheme.lower() not in POSTGRES_SCHEMES:
        # the value itself is not repeated: it may hold a password
        raise argparse.ArgumentTypeError(
            "not a PostgreSQL URL: it must start with postgresql:// or postgres:// "
            "(postgresql://USER@HOST:PORT/DB)"
        )
    return text


# A rollback runs the rollback files against what the applied files did; an edited applied file
# no longer says what that was: with its `@irreversible` line removed, the plan would undo a
# migration declared impossible to undo when it ran (hostile repro 021b).
ROLLBACK_OVER_EDITS = (
    "--allow-changed does not go with --rollback (or --dry-run --rollback): a rollback undoes "
    "what the applied files did, and an edited one no longer says what that was; put the "
    "file back as it was applied (git), or, for an edit of comments or whitespace only, "
    "record it with --rehash first"
)


def combination_problem(args: Args, group_typed: Callable[[], bool]) -> str | None:
    """Why options do not go together (None: they do). `group_typed`: whether --group was on
    the command line, asked only when it matters."""
    problem = _engine_problem(args)
    if problem is not None:
        return problem
    if args.target is not None and args.rollback is not None:
        return "--target and --rollback do not go together"
    if args.allow_changed and args.rollback is not None:
        return ROLLBACK_OVER_EDITS
    if args.resume and (args.status or args.rollback is not None or args.dry_run):
        return "--resume goes with a plain run only"
    if args.baseline is not None and (args.target is not None or args.dry_run or args.resume):
        return "--baseline goes with none of --target, --dry-run, --resume"
    if args.rehash and (args.target is not None or args.dry_run or args.resume):
        return "--rehash goes with none of --target, --dry-run, --resume"
    if args.rehash and args.output_format != "text":
        return "--rehash prints text only (--format text)"
    if args.force and args.baseline is None:
        return "--force goes with --baseline only"
    if args.detect and not args.status:
        return "--detect goes with --status only"
    if "output_format" in args.set_in_config:
        return "--format is command line only for ci.migrate (output_format in the config file)"
    # `group: true` in the config file is meant for every deploy: the other actions ignore it
    if args.group and not applies(args) and group_typed():
        return (
            "--group goes with a plain run or --dry-run only (a rollback undoes one "
            "migration per transaction)"
        )
    return None


def _engine_problem(args: Args) -> str | None:
    """No database, or two; options of one engine given with the other's database."""
    url = getattr(args, "database_url", None)
    if url is None and args.db is None:
        return "one of the arguments --db --database-url is required"
    if url is not None and args.db is not None:
        return "--db and --database-url do not go together (one database per run)"
    if url is None and getattr(args, "project_engine", None) == "postgresql":
        return (
            "--db is a SQLite database file, and the config file says engine: postgresql: "
            "give --database-url postgresql://USER@HOST:PORT/DB"
        )
    if _server_url_typed(args) and (url is None or (args.baseline is None and not args.detect)):
        return "--server-url goes with --database-url --baseline or --status --detect only"
    if url is None:
        if getattr(args, "lock_timeout", None) is not None:
            return "--lock-timeout goes with --database-url only (PostgreSQL)"
        return None
    sqlite_only = [option for option, given in (("--setup", args.setup is not None),) if given]
    if sqlite_only:
        return f"{', '.join(sqlite_only)} not available with --database-url (SQLite only for now)"
    return None


def _server_url_typed(args: Args) -> bool:
    """--server-url on the command line: the config file's `server_url` (the checks') is for
    a baseline to use when there is one, never a reason to refuse a run."""
    given = getattr(args, "server_url", None) is not None
    return given and "server_url" not in getattr(args, "set_in_config", {})


def _group_typed(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None
) -> bool:
    """Whether --group was on the command line. With `group: true` in the config file the
    parsed value is true either way (the file's value equals the flag's), so the command line
    is parsed again without the file's value: only in this rare case, never on a plain run."""
    if "group" not in args.set_in_config:
        return True
    parser.set_defaults(group=False)
    return bool(parser.parse_args(argv).group)


def applies(args: Args) -> bool:
    """Whether the options ask to apply migrations (for real or as a dry run)."""
    return not (
        args.status
        or args.force_clean
        or args.rehash
        or args.rollback is not None
        or args.baseline is not None
    )
