"""The options checks declare, as data, and the value types they parse with.

An `Option` is what `parser.add_argument(*flags, **kwargs)` would be given; the app layer builds
parsers (and knows the config keys: each option's dest) from these records, so a check never
imports the command-line layer. The value types turn a bad value into one line and exit 2 (from
argparse) or a config error naming the key.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from ci.core.model import DEFAULT_MIGRATIONS_DIR

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any


class Option:
    """One option of a check: argparse's flags and keyword arguments. A plain class: the
    start-up of numbering and checksums is budgeted (no `dataclasses`)."""

    __slots__ = ("flags", "kwargs")

    def __init__(self, *flags: str, **kwargs: Any) -> None:
        self.flags = flags
        self.kwargs = kwargs

    @property
    def dest(self) -> str:
        """The option's name in the parsed options and in the config file."""
        explicit = self.kwargs.get("dest")
        if explicit is not None:
            return str(explicit)
        longest = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return longest.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser, **changes: Any) -> argparse.Action:
        """Declare the option on `parser` (`changes` override its keyword arguments)."""
        return parser.add_argument(*self.flags, **{**self.kwargs, **changes})

    def __repr__(self) -> str:
        return f"Option{self.flags!r}"


def add_all(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    """Declare each of `options` on `parser`, in order."""
    for option in options:
        option.add_to(parser)


def ascii_only(text: str) -> str:
    """`text` for int() / float(), which would also read other scripts' digits (`٣` is 3 to
    them): a number on a command line or in a config file is written in ASCII. ValueError
    otherwise."""
    if not text.isascii():
        raise ValueError(text)
    return text


def seconds(text: str) -> float:
    """argparse type of every SECONDS option (--busy-timeout, --warn-slow): a number >= 0."""
    try:
        value = float(ascii_only(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got '{text}'") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got '{text}'")
    return value


def time_limit(text: str) -> float | None:
    """argparse type of --statement-timeout: seconds >= 0, where 0 means no limit (None)."""
    return seconds(text) or None


def whole_number(unit: str, minimum: int) -> Callable[[str], int]:
    """argparse type of a count option (--sqlfluff-max-bytes, --jobs): a whole number >=
    `minimum`, `1_000_000` allowed; argparse turns the error into one line and exit 2."""

    def parse_count(text: str) -> int:
        try:
            value = int(ascii_only(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {unit}, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {unit} >= {minimum}, got '{text}'")
        return value

    return parse_count


def migration_number(text: str) -> int:
    """argparse type of every migration number option (--target, --rollback, --baseline,
    --expect-version): digits 0-9 only."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a migration number, got '{text}'")
    return int(text)


def busy_timeout(*, default: float, help: str) -> Option:
    """`--busy-timeout SECONDS`: how long opening the user's database waits for another
    process's lock before giving up with one line and exit 2 (every command that has one)."""
    return Option("--busy-timeout", type=seconds, default=default, metavar="SECONDS", help=help)


def statement_timeout(*, default: float | None, help: str) -> Option:
    """`--statement-timeout SECONDS`: the most one migration may run before it is stopped and
    reported (0: no limit). The checks and `ci.migrate` take it; also a config key."""
    return Option(
        "--statement-timeout", type=time_limit, default=default, metavar="SECONDS", help=help
    )


def migrations_dir(*, default: Path | None = None) -> Option:
    """`--migrations-dir DIR`: the migrations root (every command that reads migrations)."""
    return Option(
        "--migrations-dir",
        type=Path,
        default=default,
        help=f"migrations root (default: {DEFAULT_MIGRATIONS_DIR})",
    )


# `--invariants FILE`, as postcheck and the database checks all take it.
INVARIANTS = Option(
    "--invariants",
    type=Path,
    default=None,
    metavar="FILE",
    help="queries, each after '-- invariant: <name>', that must return no rows",
)


def base_ref(help: str) -> Option:
    """`--base-ref REF`: the branch a check compares with (a pre-commit hook hands it over)."""
    return Option("--base-ref", metavar="REF", default=None, help=help)


# The engines a project may pick (`engine:` in migration-guard.yaml); SQLite is the default.
ENGINES = ("sqlite", "postgresql")
POSTGRES_SCHEMES = ("postgresql", "postgres")
# Where `--server-url` comes from when not given: a CI secret, never a committed file (the URL
# may carry a password).
SERVER_URL_ENV = "MIGRATION_GUARD_SERVER_URL"


def engine(
    help: str = "database engine of the migrations: sqlite (default) or postgresql",
) -> Option:
    """`--engine sqlite|postgresql`: the engine the project's migrations are written for (also
    the config key `engine`; default sqlite)."""
    return Option("--engine", choices=ENGINES, default="sqlite", help=help)


def postgres_url(text: str) -> str:
    """argparse type of --server-url: a postgresql:// (or postgres://) URL. The message never
    repeats the value: it may carry a password."""
    scheme, separator, _ = text.partition("://")
    if not separator or scheme.lower() not in POSTGRES_SCHEMES:
        raise argparse.ArgumentTypeError("expected a URL postgresql://USER@HOST:PORT/DB")
    return text


def server_url() -> Option:
    """`--server-url URL`: a PostgreSQL server where the database checks may create and drop
    their throwaway databases (`mg_...`); default: the environment variable SERVER_URL_ENV,
    read by `server_url_or_env` when the options are used, not when the parser is built."""
    return Option(
        "--server-url",
        type=postgres_url,
        default=None,
        metavar="URL",
        help="PostgreSQL server where the checks create and drop throwaway databases "
        f"(mg_...; the role needs CREATEDB); default: ${SERVER_URL_ENV}",
    )


def server_url_or_env(given: str | None) -> str | None:
    """The `--server-url` given (flag or config), else $MIGRATION_GUARD_SERVER_URL, else None.
    An empty variable counts as unset (CI systems export unset secrets as '')."""
    return given or os.environ.get(SERVER_URL_ENV) or None
