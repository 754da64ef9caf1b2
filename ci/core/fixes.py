"""The commands a "To fix" hint names, spelled so they work where the user ran the check.

- Under pre-commit (the `hooks/` entry points say so with `run_by_pre_commit()`), the `ci`
  package lives in pre-commit's own environment, not the user's: `python -m ci.checksums` would
  fail with "No module named 'ci'". The lock is then written by the manual-stage hooks
  `migration-lock-update` and `migration-lock-rehash`, and the hint says to list them in
  `.pre-commit-config.yaml` when that file does not mention them yet. The lock update also
  names `python -m ci.checksums --update`, in brackets, for a user who installed
  migration-guard in their own environment as well (then that command works in the shell).
- Run as the console command (`migration-guard checksums`): `migration-guard checksums --update`.
- Otherwise: `python -m ci.checksums --update`.

The location options the user gave on the command line (`--migrations-dir`, `--lock`,
`--config`) are repeated in the console forms, so the command acts on the same directory; those
the config file set are not (the command the user runs next reads the same file), and the hooks
read them from their own `args:` or the config file.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ci.core.model import DEFAULT_MIGRATIONS_DIR

UPDATE_HOOK = "migration-lock-update"
REHASH_HOOK = "migration-lock-rehash"
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
CONSOLE = "migration-guard"
CONSOLE_NAMES = {"rollback_roundtrip": "rollback"}  # the rest: the module, `_` as `-`

_by_pre_commit: ContextVar[bool] = ContextVar("by_pre_commit", default=False)


@contextmanager
def run_by_pre_commit() -> Iterator[None]:
    """Within this block (a hook entry point's call), hints name pre-commit commands."""
    token = _by_pre_commit.set(True)
    try:
        yield
    finally:
        _by_pre_commit.reset(token)


def by_pre_commit() -> bool:
    return _by_pre_commit.get()


def where(
    *,
    migrations_dir: Path | None = None,
    lock: Path | None = None,
    config: Path | None = None,
    from_config: Collection[str] = (),
) -> list[str]:
    """The location options to repeat in a console command (none for the defaults).
    `from_config`: the options the config file gave (`args.set_in_config`); the command the
    user runs next reads the same file, so repeating them would only be noise."""
    options: list[str] = []
    if "migrations_dir" in from_config:
        migrations_dir = None
    if "lock" in from_config:
        lock = None
    if migrations_dir is not None and migrations_dir != Path(DEFAULT_MIGRATIONS_DIR):
        options += ["--migrations-dir", str(migrations_dir)]
    if lock is not None:
        options += ["--lock", str(lock)]
    if config is not None:
        options += ["--config", str(config)]
    return options


def command(module: str, *args: str, location: Sequence[str] = ()) -> str:
    """`python -m ci.<module> ...` or `migration-guard <module> ...`, as the user ran us."""
    import shlex  # only when a hint is written

    words = [*location, *args]
    if Path(sys.argv[0]).name == CONSOLE:
        name = CONSOLE_NAMES.get(module, module.replace("_", "-"))
        return " ".join([CONSOLE, name, *map(shlex.quote, words)])
    return " ".join(["python", "-m", f"ci.{module}", *map(shlex.quote, words)])


def lock_update(location: Sequence[str] = ()) -> str:
    """The command that adds new files to the lock and refreshes this branch's own entries.
    The hook form runs on `--all-files`: without it pre-commit hides unstaged edits from the
    hook, and the lock would be made for the old text."""
    module = command("checksums", "--update", location=location)
    if by_pre_commit():
        return _hook_command(UPDATE_HOOK, "--all-files", alternative=module)
    return module


def lock_rehash(relative: str, location: Sequence[str] = ()) -> str:
    """The command that rewrites the entry of one file (`relative`: as the user names it)."""
    if by_pre_commit():
        return _hook_command(REHASH_HOOK, "--files", relative)
    return command("checksums", "--rehash", relative, location=location)


def new_migration(location: Sequence[str] = ()) -> str | None:
    """`ci.new` with its two required arguments as placeholders (`<schema|data|seed> <slug>`),
    or None under pre-commit (a hook cannot be given a kind and a slug)."""
    if by_pre_commit():
        return None
    return f"{command('new', location=location)} <schema|data|seed> <slug>"


def renumber(path: str, location: Sequence[str] = ()) -> str | None:
    """`ci.new --renumber FILE` (moves an unmerged migration and its rollback to the next free
    number), or None under pre-commit (the shell has no `ci` module)."""
    if by_pre_commit():
        return None
    return command("new", "--renumber", path, location=location)


def _hook_command(hook_id: str, *args: str, alternative: str | None = None) -> str:
    """The manual hook's command, chainable with `&& git commit` (notes follow in brackets).
    `alternative`: the module command, for a user who installed migration-guard in their own
    environment too (pre-commit's copy is not importable from the shell, theirs is)."""
    text = " ".join(["pre-commit", "run", hook_id, "--hook-stage", "manual", *args])
    notes = []
    if not _listed_in_pre_commit_config(hook_id):
        notes.append(f"list `- id: {hook_id}` in {PRE_COMMIT_CONFIG} first")
    if alternative is not None:
        notes.append(f"or, with migration-guard installed in your environment: {alternative}")
    return f"{text} ({'; '.join(notes)})" if notes else text


def _listed_in_pre_commit_config(hook_id: str) -> bool:
    """Whether the project's pre-commit config names the hook (pre-commit runs hooks from the
    repository's top level, where that file is)."""
    try:
        return hook_id in Path(PRE_COMMIT_CONFIG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def numbering_against(ref: str, location: Sequence[str] = ()) -> str | None:
    """`ci.numbering --base-ref REF`, or None under pre-commit (no hook takes a ref)."""
    if by_pre_commit():
        return None
    return command("numbering", "--base-ref", ref, location=location)
