"""`python -m ci --if-server-reachable`: run a PostgreSQL project's checks that need its server
only when it answers, else say in one line which were skipped and why; the checks that read only
the files (numbering, checksums, lint) run either way.

For a command that must work on any machine (the README's first one runs the worked PostgreSQL
example beside the SQLite one): a machine without a server skips what needs it, visibly, instead
of failing; a machine with one runs every check. On a SQLite project the option changes
nothing. In CI, leave it out: there a missing server must fail the run, not skip it.
"""

from __future__ import annotations

import argparse

from ci.checks.options import SERVER_URL_ENV, server_url_or_env

OPTION = "--if-server-reachable"
PROBE_SECONDS = 3  # a machine without a server answers at once; a wrong host is given this long
NO_EXTRA = "the postgresql extra is not installed (pip install 'migration-guard[postgresql]')"


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        OPTION,
        action="store_true",
        help="on engine postgresql: when no server URL is set or the server does not answer, "
        "skip the checks that need one with one line; numbering, checksums and lint still run "
        "(not for CI)",
    )


def skip_reason(args: argparse.Namespace, where: str) -> str | None:
    """Why the checks that need the server are skipped (one line), or None when they run: the
    option not given, a SQLite project, or a PostgreSQL server that answered."""
    if not getattr(args, "if_server_reachable", False):
        return None
    if getattr(args, "engine", "sqlite") != "postgresql":
        return None
    if not extra_installed():  # first: without it lint cannot run either
        return NO_EXTRA
    url = server_url_or_env(getattr(args, "server_url", None))
    if url is None:
        return f"no server URL (--server-url or ${SERVER_URL_ENV})"
    return unreachable(url)


def extra_installed() -> bool:
    """Whether the postgresql extra's packages can be imported (without importing them)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("psycopg", "pglast"))


# the checks that read only the files: they run without a server (and need the extra only)
SERVER_FREE = ("numbering", "checksums", "lint")


def without_server(checks: list[str], why: str, where: str) -> tuple[list[str], str]:
    """The checks that still run without the server, and the line that says what was skipped
    and why ("" when nothing was). Without the postgresql extra nothing runs: lint and the
    split need it too."""
    if why == NO_EXTRA:
        return [], f"skipped the PostgreSQL checks of {where}: {why}"
    left = [check for check in checks if check in SERVER_FREE]
    gone = ", ".join(check for check in checks if check not in SERVER_FREE)
    if not gone:
        return left, ""
    return left, f"skipped the checks that need a PostgreSQL server ({gone}) of {where}: {why}"


def unreachable(url: str) -> str | None:
    """Why the server at `url` cannot be used (one line, no password), or None."""
    try:
        from ci.db.postgres.connect import open_target
    except ImportError:  # the driver is the postgresql extra's
        return NO_EXTRA
    from ci.db.outcomes import CannotRun

    try:
        open_target(url, connect_timeout=PROBE_SECONDS, database_required=False).close()
    except CannotRun as error:
        return str(error)
    return None
