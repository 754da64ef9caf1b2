"""pre-commit hook `migration-checksums`: `python -m hooks.checksums [FILES]`.

A commit that touches only the lock file is checked too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.precommit import run_hook
from ci.core import lockfile


def main(argv: Sequence[str] | None = None) -> int:
    return run_hook(
        "checksums",
        argv,
        also=lambda args: [args.lock or lockfile.default_path(args.migrations_dir)],
    )


if __name__ == "__main__":
    raise SystemExit(main())
