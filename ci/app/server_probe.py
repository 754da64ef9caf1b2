"""`python -m ci --if-server-reachable`: run a PostgreSQL project's checks only when its server
answers, else say in one line why they were skipped and exit 0.

For a command that must work on any machine (the README's first one runs the worked PostgreSQL
example beside the SQLite one): a machine without a server skips the example, visibly, instead
of failing; a machine with one runs every check. On a SQLite project the option changes
nothing. In CI, leave it out: there a missing server must fail the run, not skip it.
"""

from __future__ import annotations

import argparse

from ci.checks.options import SERVER_URL_ENV, server_url_or_env

OPTION = "--if-server-reachable"
PROBE_SECONDS = 3  # a machine without a server answers at once; a wrong host is given this long


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        OPTION,
        action="store_true",
        help="on engine postgresql: when no server URL is set or the server does not answer, "
        "skip every check with one line and exit 0 (not for CI)",
    )


def skip_reason(args: argparse.Namespace, where: str) -> str | None:
    """Why the run is skipped (one line), or None when it runs: the option not given, a SQLite
    project, or a PostgreSQL server that answered."""
    if not getattr(args, "if_server_reachable", False):
        return None
    if getattr(args, "engine", "sqlite") != "postgresql":
        return None
    url = server_url_or_env(getattr(args, "server_url", None))
    skipped = f"skipped the PostgreSQL checks of {where}"
    if url is None:
        return f"{skipped}: no server URL (--server-url or ${SERVER_URL_ENV})"
    why = unreachable(url)
    return None if why is None else f"{skipped}: {why}"


def unreachable(url: str) -> str | None:
    """Why the server at `url` cannot be used (one line, no password), or None."""
    try:
        from ci.db.postgres.connect import open_target
    except ImportError:  # the driver is the postgresql extra's
        return "the postgresql extra is not installed (pip install 'migration-guard[postgresql]')"
    from ci.db.outcomes import CannotRun

    try:
        open_target(url, connect_timeout=PROBE_SECONDS, database_required=False).close()
    except CannotRun as error:
        return str(error)
    return None
