"""pre-commit hook `migration-numbering`: `python -m hooks.numbering [FILES]`."""

from __future__ import annotations

from collections.abc import Sequence

from ci.app.precommit import run_hook


def main(argv: Sequence[str] | None = None) -> int:
    return run_hook("numbering", argv)


if __name__ == "__main__":
    raise SystemExit(main())
