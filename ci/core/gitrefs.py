"""The migrations directory as it was at a git ref: names, blob ids and bytes, without a checkout.

Two git processes at most per question: `git ls-tree` for the names and `git cat-file --batch`
for every blob at once (never one process per file). A ref that does not exist, a directory
outside any repository or a missing `git` raise `RefError` (an `InputError`: exit 2, one line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path

from ci.core.model import InputError

ZERO_SHA = "0" * 40
FILE_MODES = ("100644", "100755")  # plain blobs; links (120000) and submodules are not SQL files


class RefError(InputError):
    """A ref or repository that git cannot answer for (exit 2)."""


class GitMissing(RefError):
    """No `git` to run: said as such, not as "not inside a git repository"."""


def _git(
    cwd: Path, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, env=env
        )
    except FileNotFoundError:
        raise GitMissing("git is not installed (needed for --base-ref)") from None
    except OSError as error:
        raise RefError(f"{cwd}: cannot run git: {error.strerror}") from None
    if done.returncode != 0:
        message = os.fsdecode(done.stderr).strip().splitlines()
        raise RefError(f"git {args[0]} failed in {cwd}: {message[-1] if message else 'error'}")
    return done.stdout


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def repo_root(path: Path) -> Path:
    """The top of the work tree that holds `path` (which need not exist)."""
    start = _existing_ancestor(path)
    try:
        out = _git(start, "rev-parse", "--show-toplevel")
    except GitMissing:
        raise
    except RefError:
        raise RefError(f"{path}: not inside a git repository (needed for --base-ref)") from None
    return Path(os.fsdecode(out.rstrip(b"\n")))


def resolve_ref(ref: str, cwd: Path) -> str:
    """The commit id a ref names, or RefError naming the ref."""
    if not ref or ref.startswith("-"):
        raise RefError(f"'{ref}' is not a git ref")
    start = _existing_ancestor(cwd)
    repo_root(start)  # a clear message when there is no repository at all
    try:
        out = _git(
            start, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
    except RefError:
        raise RefError(
            f"git ref '{ref}' does not exist (fetch it, e.g. git fetch origin)"
        ) from None
    return out.decode().strip()


def merge_base(ref: str, directory: Path) -> str:
    """The commit a branch is compared with: the merge base of HEAD and `ref`, not the tip of
    `ref`. A branch that is behind `main` has not deleted `main`'s newer migrations; it simply
    does not have them yet. Says once on stderr which commit that is, when it is not the tip."""
    root = repo_root(_existing_ancestor(directory))
    return _merge_base(ref, resolve_ref(ref, root), root)


@cache
def _merge_base(ref: str, commit: str, root: Path) -> str:
    try:
        head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").decode().strip()
    except RefError:
        return commit  # no commit yet on this branch: everything on it is new since `ref`
    if head == commit:
        return commit
    try:
        base = _git(root, "merge-base", head, commit).decode().strip()
    except RefError:
        raise RefError(_no_merge_base(ref, root)) from None
    if base != commit:  # the tip itself needs no note: it is what the user named
        print(f"compared with merge base {base[:7]} of HEAD and {ref}", file=sys.stderr)
    return base


def _no_merge_base(ref: str, root: Path) -> str:
    message = f"HEAD and '{ref}' have no common history (git merge-base found none)"
    if _git(root, "rev-parse", "--is-shallow-repository").strip() == b"true":
        message += (
            "; this is a shallow clone: fetch the history (git fetch --unshallow; in GitHub "
            "Actions actions/checkout with fetch-depth: 0, in GitLab CI GIT_DEPTH: 0)"
        )
    return message


DEFAULT_BRANCHES = ("main", "master")


def default_branch(cwd: Path, remotes: Iterable[str]) -> str | None:
    """The branch work is merged into, as a remote-tracking ref such as `origin/main`: for the
    first of `remotes` that has one, its default branch (`<remote>/HEAD`, which `git clone`
    records), else `<remote>/main` or `<remote>/master` (a remote added with `git remote add`
    has no `<remote>/HEAD` until `git remote set-head <remote> --auto`). None when no remote has
    one, or outside a repository. Local branches do not count: a local `main` may be far behind
    what the remote has merged."""
    try:
        root = repo_root(cwd)
    except RefError:
        return None
    for remote in dict.fromkeys(remotes):
        for name in ("HEAD", *DEFAULT_BRANCHES):
            ref = f"refs/remotes/{remote}/{name}"
            with suppress(RefError):
                _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
                if name != "HEAD":
                    return f"{remote}/{name}"
                # the branch it points at, as users name it in messages: origin/main
                return _git(root, "symbolic-ref", "--quiet", "--short", ref).decode().strip()
    return None


def _prefix(directory: Path) -> tuple[Path, str]:
    """(repository root, directory relative to it as 'a/b/' or '' for the root)."""
    root = repo_root(directory)
    target = Path(os.path.realpath(directory))
    try:
        relative = target.relative_to(root).as_posix()
    except ValueError:
        raise RefError(f"{directory}: not inside the git repository at {root}") from None
    return root, "" if relative == "." else relative + "/"


def list_files(ref: str, directory: Path) -> dict[str, str]:
    """{path relative to `directory` (posix): blob id} for every file under it at `ref`.

    A directory that did not exist at `ref` gives an empty dict; a bad ref raises RefError.
    """
    return list_files_at_commit(resolve_ref(ref, directory), directory)


def list_base_files(ref: str, directory: Path) -> dict[str, str]:
    """`list_files` at the merge base of HEAD and `ref`: what a `--base-ref` compares with."""
    return list_files_at_commit(merge_base(ref, directory), directory)


def list_files_at_commit(commit: str, directory: Path) -> dict[str, str]:
    """`list_files` for a commit id."""
    root, prefix = _prefix(directory)
    pathspec = [prefix] if prefix else []
    out = _git(root, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *pathspec)
    files: dict[str, str] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, blob = meta.decode().split(" ")
        if kind == "blob" and mode in FILE_MODES:
            files[os.fsdecode(name)[len(prefix) :]] = blob
    return files


def tracked_files(directory: Path) -> set[str] | None:
    """The paths below `directory` (relative to it, posix) that git's index holds: what a
    commit made now would contain. None outside a repository."""
    try:
        root, prefix = _prefix(directory)
    except RefError:
        return None
    pathspec = [prefix] if prefix else []
    out = _git(root, "ls-files", "-z", "--full-name", "--", *pathspec)
    return {os.fsdecode(name)[len(prefix) :] for name in out.split(b"\0") if name}


def blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes (`git hash-object`): comparing it with a ref's
    listing tells whether a working-tree file differs from the file at that ref, with no git
    process per file."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def read_blobs(directory: Path, blobs: Iterable[str]) -> dict[str, bytes]:
    """{blob id: bytes} for the given blob ids, from ONE `git cat-file --batch` process."""
    wanted = sorted(set(blobs))
    if not wanted:
        return {}
    out = _git(
        repo_root(directory), "cat-file", "--batch", stdin="\n".join(wanted).encode() + b"\n"
    )
    contents: dict[str, bytes] = {}
    position = 0
    for blob in wanted:
        end = out.index(b"\n", position)
        header = out[position:end].decode().split(" ")
        position = end + 1
        if len(header) != 3:  # "<id> missing"
            raise RefError(f"git object {blob} is missing from the repository")
        size = int(header[2])
        contents[blob] = out[position : position + size]
        position += size + 1  # the content is followed by a newline
    return contents


def files_at(ref: str, directory: Path, *, only: Iterable[str] | None = None) -> dict[str, bytes]:
    """{path relative to `directory`: bytes} at `ref`, optionally only for the paths in `only`."""
    listing = list_files(ref, directory)
    if only is not None:
        keep = set(only)
        listing = {path: blob for path, blob in listing.items() if path in keep}
    data = read_blobs(directory, listing.values())
    return {path: data[blob] for path, blob in listing.items()}


def export_tree(ref: str, directory: Path, destination: Path) -> Path:
    """Write the files under `directory` at `ref` below `destination`; return `destination`."""
    for relative, data in files_at(ref, directory).items():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    destination.mkdir(parents=True, exist_ok=True)
    return destination


def changed_paths(from_ref: str, to_ref: str, cwd: Path | None = None) -> list[str]:
    """Paths (from the repository root) changed on `to_ref` since its merge base with
    `from_ref`: what pre-commit itself passes to a hook at pre-push."""
    root = repo_root(cwd or Path.cwd())
    older, newer = resolve_ref(from_ref, root), resolve_ref(to_ref, root)  # names a bad ref
    out = _git(root, "diff", "--name-only", "--no-renames", "-z", f"{older}...{newer}")
    return [os.fsdecode(name) for name in out.split(b"\0") if name]


@contextmanager
def checked_out(ref: str, cwd: Path, destination: Path) -> Iterator[tuple[Path, Path]]:
    """A detached git worktree of `ref` at `destination`, removed afterwards; yields (the
    repository's root, the worktree). A real worktree, not an export: checks that compare with
    a base ref run git inside it. The repository's hooks (post-checkout) do not run, and Git LFS
    files stay pointers (no download on every push)."""
    root = repo_root(cwd)
    commit = resolve_ref(ref, root)
    no_hooks = ("-c", "core.hooksPath=/dev/null")
    add = ("worktree", "add", "--quiet", "--detach", str(destination), commit)
    _git(root, *no_hooks, *add, env={**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"})
    try:
        yield root, destination
    finally:
        with suppress(RefError):  # already gone: `git worktree prune` forgets it
            _git(root, "worktree", "remove", "--force", str(destination))


def hook_refs(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(PRE_COMMIT_FROM_REF, PRE_COMMIT_TO_REF) when pre-commit set them; a new branch's
    all-zero FROM_REF (pre-push of a branch the remote does not have) counts as unset.

    A push that holds the root commit (a repository's first push, or a branch with no ancestor
    on the remote) gets no FROM/TO refs: pre-commit runs the hooks on all files and names the
    pushed ref only in PRE_COMMIT_LOCAL_BRANCH. That ref is the commit to judge (TO), with
    nothing to compare with (FROM None): never the working tree."""
    env = os.environ if environ is None else environ
    from_ref = env.get("PRE_COMMIT_FROM_REF") or None
    to_ref = env.get("PRE_COMMIT_TO_REF") or None
    if from_ref is not None and from_ref.strip("0") == "":
        from_ref = None
    if to_ref is None:
        to_ref = env.get("PRE_COMMIT_LOCAL_BRANCH") or None
    return from_ref, to_ref


def pushed_commit(ref: str, cwd: Path) -> str:
    """The commit id of the ref a push hands over, or RefError saying the hook cannot tell
    what is pushed (and will not judge the working tree instead)."""
    try:
        return resolve_ref(ref, cwd)
    except GitMissing:
        raise
    except RefError:
        raise RefError(
            f"cannot tell which commit is pushed: git ref '{ref}' does not exist (pre-commit "
            "named it); not judging the working tree instead"
        ) from None


def merging_in(directory: Path) -> set[str]:
    """During a `git merge` (MERGE_HEAD exists): the paths below `directory` whose working-tree
    bytes are those of the side being merged in. Such a file belongs to that side even though
    HEAD's merge base lacks it (a rebase has it at the merge base already): e.g. main's rollback
    kept when both branches wrote `rollback/0006_rollback.sql`. Empty when no merge is under
    way or outside a repository."""
    try:
        root = repo_root(directory)
        theirs = _git(root, "rev-parse", "-q", "--verify", "MERGE_HEAD^{commit}").decode().strip()
        listing = list_files_at_commit(theirs, directory)
    except RefError:
        return set()
    return {path for path, blob in listing.items() if _working_blob(directory / path) == blob}


def _working_blob(path: Path) -> str | None:
    try:
        return blob_id(path.read_bytes())
    except OSError:
        return None


# ---- the branch this one merges into, when no --base-ref is given -----------------------------


def target_branch(directory: Path) -> str | None:
    """The branch this work will be merged into, found without a `--base-ref`: the remote's
    default branch (`<remote>/HEAD`, set by `git clone`), else `<remote>/main` or
    `<remote>/master`, for the current branch's remote (or `origin`); with no remote, a local
    `main` or `master`. None when there is none (or no repository).

    The current branch's upstream is not used: a pushed feature branch tracks its own remote
    copy, and being pushed there does not make a migration merged."""
    try:
        root = repo_root(directory)
    except RefError:
        return None
    remote_branch = default_branch(root, [_current_remote(root)])
    if remote_branch is not None:
        return remote_branch
    for name in DEFAULT_BRANCHES:
        with suppress(RefError):
            _git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}^{{commit}}")
            return name
    return None


def _current_remote(root: Path) -> str:
    with suppress(RefError):
        branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD").decode().strip()
        remote = _git(root, "config", f"branch.{branch}.remote").decode().strip()
        if remote and remote != ".":
            return remote
    return "origin"


def merged_paths(directory: Path) -> tuple[str | None, set[str]] | None:
    """(the target branch, the paths below `directory` at the merge base of HEAD and it); with
    no target branch (None), the paths at HEAD: a file not committed yet is new work. None
    outside a repository, or when git cannot tell (a shallow clone without the merge base):
    then nothing is known to be unmerged."""
    try:
        repo_root(directory)
    except RefError:
        return None
    ref = target_branch(directory)
    if ref is None:
        try:
            head = resolve_ref("HEAD", directory)
        except RefError:
            return None, set()  # no commit yet: everything is new
        return None, set(list_files_at_commit(head, directory))
    try:
        return ref, set(list_files_at_commit(merge_base(ref, directory), directory))
    except RefError:
        return None
