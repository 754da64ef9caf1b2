"""pre-commit hook `migration-apply-sample`: `python -m hooks.apply_sample [FILES]`.

Runs on the whole migrations directory (the answer depends on all of it), and returns 0 at once
when none of the staged FILES is a migration.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.precommit import run_hook


def main(argv: Sequence[str] | None = None) -> int:
    return run_hook("apply_sample", argv)


if __name__ == "__main__":
    raise SystemExit(main())
