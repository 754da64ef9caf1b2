"""The `postgresql` extra (pyproject.toml): what a PostgreSQL project needs installed beyond
the SQLite tool, and the one line that says so when it is missing (a pre-commit hook's own
environment, typically), for every command and check."""

from __future__ import annotations

# the modules of the `postgresql` extra (pyproject.toml), imported only for a PostgreSQL project
POSTGRESQL_EXTRA = frozenset({"psycopg", "psycopg_binary", "pglast"})
HOOK_DEPENDENCIES = "['psycopg[binary]>=3.1', 'pglast>=7', 'squawk-cli>=2']"


def missing_extra(module: str) -> str:
    """What to install when a PostgreSQL project runs without the postgresql extra."""
    return (
        f"a PostgreSQL project needs the postgresql extra ({module} is not installed): "
        "pip install 'migration-guard[postgresql]'; in a pre-commit hook: "
        f"additional_dependencies: {HOOK_DEPENDENCIES}"
    )
