"""The checks `python -m ci` knows, and where each one's `Check` declaration lives."""

from __future__ import annotations

import importlib

from ci.checks.base import Check

# The checks `python -m ci` knows, in the order it runs them by default.
CHECKS = ("numbering", "checksums", "lint", "apply_empty", "apply_sample", "rollback_roundtrip")

# The checks that judge a database, not the migrations (run by hand or in a deploy, not by
# `python -m ci`); their options are config keys too.
DATABASE_CHECKS = ("precheck", "postcheck")

# The checks whose answer does not depend on the project's engine (`engine:` in the config):
# they read files, or a database named by its own option (--db, --database-url). Every other
# check takes --engine or refuses a project whose engine is not SQLite (ci.app.cli).
ENGINE_INDEPENDENT = ("numbering", "checksums", *DATABASE_CHECKS)

# Every section a config file may have: one per check, and `migrate:` for the deploy command's
# own keys (`group: true`), which no check knows, so they cannot sit at the top level.
SECTIONS = (*CHECKS, *DATABASE_CHECKS, "migrate")

# Keys of the deploy command a check reads where ci.migrate reads them (the top level, its
# `migrate:` section winning), as `runner_limits`, never as its own options: lint asks no file
# for a SET the runner makes on every migration. Known keys at the top level, for every check;
# refused in the check's own section (there they would not reach the runner).
RUNNER_KEYS = {"lint": ("lock_timeout", "statement_timeout")}

# "module:attribute" of each check's declaration (imported only when that check is wanted);
# lint's engine is the package ci/checks/lint/, its declaration ci/checks/lint_check.py.
DECLARED_IN = {name: f"ci.checks.{name}:CHECK" for name in CHECKS + DATABASE_CHECKS} | {
    "lint": "ci.checks.lint_check:CHECK"
}


def check_named(name: str) -> Check | None:
    """The declaration of check `name`, or None when this version does not have it."""
    module_name, _, attribute = DECLARED_IN[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None  # not installed in this version
        raise
    check: Check = getattr(module, attribute)
    return check


def declared(names: tuple[str, ...] = CHECKS) -> dict[str, Check]:
    """The declarations of the available checks of `names`, in that order."""
    return {name: check for name in names if (check := check_named(name)) is not None}
