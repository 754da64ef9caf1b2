"""What `ci.new` numbers above besides the local files: the migrations of the branch this work is
merged into.

A branch behind `origin/main` does not have the migrations merged there since it forked; numbered
from its own files alone, its new migration takes a number `origin/main` already uses (MG108 at
review, or two files with one number after the merge). So the next number is above the highest
of the local files AND of the base ref's tip, track by track. The base ref is `--base-ref` (or
`base_ref` in the config), else the branch this work merges into as ci.checksums finds it
(`origin/HEAD`, else `origin/main` or `origin/master`, else a local `main` or `master`). Only
what git already has is read (`git ls-tree`, no fetch): run `git fetch` for a fresh answer.

ci.new never fails for want of git: without git, a repository, a commit (`git init` just now) or
the ref, it numbers from the local files and says in one line which of them was missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ci.core.model import MAIN_FOLDERS, SEED_FOLDER, parse_name, track_of

Numbers = dict[str, dict[int, int]]  # {track: {number: its zero-pad width}}


def numbers_at(ref: str, migrations_dir: Path) -> Numbers:
    """{track: {number: width}} of the migrations under `migrations_dir` at `ref`'s tip (the
    tip, not the merge base: a number merged there since this branch forked is taken)."""
    from ci.core import gitrefs

    numbers: Numbers = {}
    for relative in gitrefs.list_files(ref, migrations_dir):
        folder, _, name = relative.rpartition("/")
        parsed = parse_name(name)
        if parsed is None or folder not in ("", *MAIN_FOLDERS, SEED_FOLDER):
            continue  # rollbacks and stray files are not numbered migrations
        numbers.setdefault(track_of(folder), {})[parsed[0]] = len(name.split("_", 1)[0])
    return numbers


def highest(numbers: Numbers, track: str) -> tuple[int, int]:
    """(highest number, its width) of the track on the ref; (0, 0) when it has none."""
    found = numbers.get(track, {})
    top = max(found, default=0)
    return top, found.get(top, 0)


def base_numbers(migrations_dir: Path, base_ref: str | None) -> tuple[str | None, Numbers]:
    """(the ref consulted, its numbers), or (None, {}) with one stderr line saying why the
    local files alone decide."""
    from ci.core import gitrefs

    ref = base_ref or gitrefs.target_branch(migrations_dir)
    if ref is None:
        _local_only(_no_branch(migrations_dir))
        return None, {}
    try:
        return ref, numbers_at(ref, migrations_dir)
    except gitrefs.RefError as error:
        _local_only(str(error))
        return None, {}


LOOKED_FOR = "origin/HEAD, origin/main, origin/master, main or master"


def _no_branch(migrations_dir: Path) -> str:
    """Why no branch was found to number after, as precisely as git can tell: no git, no
    repository, a repository with no commit yet (`git init` just now: nothing to number above,
    so nothing is missing), or one without any of the branches looked for."""
    from ci.core import gitrefs

    try:
        root = gitrefs.repo_root(migrations_dir)
    except gitrefs.GitMissing:
        return "git is not installed, so no branch was read"
    except gitrefs.RefError:
        return f"{migrations_dir}: not inside a git repository, so no branch was read"
    try:
        gitrefs.resolve_ref("HEAD", root)
    except gitrefs.RefError:
        return f"the git repository at {root} has no commit yet and no {LOOKED_FOR}"
    return f"no branch to number after: no {LOOKED_FOR} in {root}; --base-ref REF names one"


def _local_only(reason: str) -> None:
    print(f"new: {reason}: numbered from the local files only", file=sys.stderr)
