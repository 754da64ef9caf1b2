"""The pre-commit adapter the hooks in hooks/ use: pre-commit's call becomes one check run,
its arguments parsed once.

pre-commit passes file names (shuffled, possibly split over several processes) and, for
pre-push or `pre-commit run --from-ref A --to-ref B`, PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF.

- The hooks never rely on pre-commit's `files:` pattern to find the migrations: the directory
  comes from `--migrations-dir` or `migration-guard.yaml`, so a project that keeps them in
  `db/migrations` is checked, not skipped. A whole-directory hook runs `always_run`; it returns
  0 at once when the files pre-commit passed, or the files changed between FROM_REF and TO_REF,
  hold no migration, no lock and no config file.
- With TO_REF set, the hook judges that commit, not the working tree: pushing `main` while
  `feature` is checked out checks `main`. A push that holds the root commit (a first push) has
  no FROM/TO refs, only PRE_COMMIT_LOCAL_BRANCH: that ref is judged, every migration in it is
  new, and a ref git cannot resolve stops the hook with one line (exit 2), never a verdict on
  the working tree. The commit is checked out into a temporary git
  worktree (removed afterwards) and the check runs there, so file names in its output read as
  usual.
- With refs handed over, checks that declare `--base-ref` (read from the check's declaration, so
  a check that gains or loses an option needs no change here) get the remote's default branch
  as `--base-ref`, unless the command line or the config names one (`comparison_base`). FROM_REF
  only decides whether the push touches migrations at all.
- Every "To fix" a hook prints names a pre-commit command (ci/core/fixes.py): the user's shell has
  no `ci` module, only pre-commit's environment has it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ci.app import exits
from ci.app.config import DEFAULT_CONFIG
from ci.core import fixes
from ci.core.gitrefs import (
    RefError,
    changed_paths,
    checked_out,
    default_branch,
    hook_refs,
    pushed_commit,
)

# Besides migrations, a change to one of these files can change a verdict.
ALSO_CONCERNED = (".sql", ".lock", DEFAULT_CONFIG)


def run_hook(
    check: str,
    argv: Sequence[str] | None,
    *,
    also: Callable[[argparse.Namespace], Sequence[Path]] = lambda args: (),
) -> int:
    """Run check `check` on the whole directory, or return 0 when no FILES concern it.

    `also` names further paths that count as migrations for this check (e.g. the lock file).
    The check (and `ci.app.cli`) are imported only after the quick exit: a push that changes no SQL
    pays for a Python start and one `git diff`, not for loading the checks.
    """
    tokens = list(sys.argv[1:] if argv is None else argv)
    from_ref, to_ref = hook_refs()
    with fixes.run_by_pre_commit():  # "To fix" names pre-commit commands: no `ci` module there
        return _run_hook(check, tokens, from_ref, to_ref, also)


def _run_hook(
    name: str,
    tokens: list[str],
    from_ref: str | None,
    to_ref: str | None,
    also: Callable[[argparse.Namespace], Sequence[Path]],
) -> int:
    try:
        if to_ref and from_ref and not _pushes_migrations(from_ref, to_ref):
            return exits.CLEAN
        from ci.app.cli import parse, parser_of, reader_may_leave, run_declared
        from ci.app.program import as_terminated, stop_on_sigterm
        from ci.app.registry import check_named

        reader_may_leave()
        stop_on_sigterm()  # a killed hook leaves no scratch directory either
        check = check_named(name)
        assert check is not None, f"hook of a check this version lacks: {name}"
        with judged_commit(to_ref):
            args = parse(parser_of(check), tokens)  # parsed once: the check runs on these
            files = handed_files(args.files, from_ref, to_ref)
            if files and not _concerned(files, args, also(args)):
                return exits.CLEAN
            args.files = []  # the whole directory: a migration among FILES concerns it all
            if check.declares("--base-ref") and args.base_ref is None:
                args.base_ref = handed_over_base()
            return as_terminated(run_declared(check, args))
    except RefError as error:  # the refs pre-commit handed over (the check's own are its job)
        return could_not_run(name, error)


def handed_files(names: Sequence[str], from_ref: str | None, to_ref: str | None) -> list[Path]:
    """The files pre-commit passed, as far as they say what the push changed. A push that holds
    the root commit (TO without FROM) passes every file of the WORKING TREE: those name nothing
    about the pushed commit, so none are kept and the hook judges that commit's whole directory."""
    if to_ref is not None and from_ref is None:
        return []
    return [Path(name) for name in names]


def could_not_run(check: str, error: RefError) -> int:
    """One line and exit 2, as the checks do for a ref they cannot read."""
    print(f"{check}: {error}", file=sys.stderr)
    return exits.COULD_NOT_RUN


def handed_over_base() -> str | None:
    """The `--base-ref` a check that declares one gets (see `comparison_base`) when pre-commit
    handed over refs and neither the command line nor the config gave one; else None."""
    from_ref, to_ref = hook_refs()
    if from_ref is None and to_ref is None:
        return None
    return comparison_base(from_ref)


def comparison_base(from_ref: str | None) -> str | None:
    """The branch the pushed commit is compared with: the remote's default branch.

    "Applied" and "numbered above the highest" are about the branch everything is merged into,
    not about the previous push of the same branch: a file that came with `git merge
    origin/main` (or a rebase onto it) is not new work, and a file that only the remote copy of
    this feature branch has is applied nowhere. FROM_REF (the remote's previous tip of the
    pushed branch) is used only when the remote has no default branch git knows of, with a note.
    """
    remotes = [os.environ.get("PRE_COMMIT_REMOTE_NAME") or "origin", "origin"]
    branch = default_branch(Path.cwd(), remotes)
    if branch is not None or from_ref is None:
        return branch
    print(
        f"no default branch known for {' or '.join(dict.fromkeys(remotes))} "
        f"(<remote>/HEAD, /main or /master): comparing with the remote's previous tip "
        f"{from_ref[:7]}; set base_ref in {DEFAULT_CONFIG} to name your integration branch",
        file=sys.stderr,
    )
    return from_ref


@contextmanager
def judged_commit(to_ref: str | None) -> Iterator[None]:
    """Run the body in a checkout of `to_ref` (same subfolder), or in place when it is None."""
    if to_ref is None:
        yield
        return
    here = Path.cwd()
    commit = pushed_commit(to_ref, here)
    with (
        tempfile.TemporaryDirectory(prefix="migration-guard-") as tmp,
        checked_out(commit, here, Path(tmp) / "tree") as (root, tree),
    ):
        saved = {k: os.environ.pop(k) for k in _GIT_LOCATION if k in os.environ}
        os.chdir(tree / here.resolve().relative_to(root))
        try:
            yield
        finally:
            os.chdir(here)
            os.environ.update(saved)


# git sets these for some hooks; inside the temporary worktree they would point git back at
# the user's own index and working tree.
_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


def _pushes_migrations(from_ref: str, to_ref: str) -> bool:
    """Whether the pushed commits change a migration, a lock or the config (cheap: names only,
    before any checkout). Any `.sql` counts: the config that names the directory is read later,
    from the pushed commit."""
    return any(path.endswith(ALSO_CONCERNED) for path in changed_paths(from_ref, to_ref))


def _concerned(files: list[Path], args: argparse.Namespace, extra: Sequence[Path]) -> bool:
    from ci.app.cli import touches_migrations

    if touches_migrations(files, args.migrations_dir):
        return True
    wanted = {path.resolve() for path in extra}
    return any(f.name == DEFAULT_CONFIG or f.resolve() in wanted for f in files)


def stage(path: Path) -> int:
    """`git add` a lock file a manual hook wrote; 0, or 2 with git's one line. pre-commit fails
    a hook after which a tracked file differs from the index ("files were modified by this
    hook"), so `pre-commit run <hook> && git commit` would stop there; and the next commit needs
    the new lock anyway."""
    import subprocess

    done = subprocess.run(["git", "add", "--", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["error"]
        print(f"{path}: git add failed: {lines[-1]}", file=sys.stderr)
        return exits.COULD_NOT_RUN
    print(f"{path}: staged for the next commit (git add)", file=sys.stderr)
    return exits.CLEAN
