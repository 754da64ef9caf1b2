"""Which files a lint run covers: the given ones, every migration file, or those changed.

Without FILES, lint covers every `.sql` file of the migrations directory (flat, or in its known
folders), or with a base ref only those added or changed since the merge base of HEAD and that
ref. Given FILES outside the migrations directory, or not ending in `.sql`, are skipped. A file is
in the directory where its name is, as for the runner: a symlink to a file elsewhere in the
repository is linted (the runner applies it), one that loops or leaves the repository is one
finding in the runner's words (the runner refuses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ci.checks.lint.inputs import CHECK
from ci.core.model import KNOWN_FOLDERS, InputError, missing_migrations_dir
from ci.core.model.discovery import symlink_problem


def whole_directory(
    migrations_dir: Path, *, base_ref: str | None, every: bool
) -> tuple[list[Path], str | None]:
    """What a run without FILES lints, and a line saying so: every migration file, or with a
    base ref only those added or changed since the merge base of HEAD and that ref (committed
    or not), so that a history written in another style does not fail every pull request."""
    files = migration_files(migrations_dir)
    if every:
        return files, None
    if base_ref is None:
        return files, (
            f"{CHECK}: every file ({len(files)}): no --base-ref; with one, only the files "
            "changed since its merge base with HEAD"
        )
    from ci.core import gitrefs

    base = gitrefs.merge_base(base_ref, migrations_dir)
    before = gitrefs.list_files_at_commit(base, migrations_dir)
    changed = [
        path
        for path in files
        if before.get(path.relative_to(migrations_dir).as_posix()) != _blob_id_of(path)
    ]
    count = f"{len(changed)} file{'' if len(changed) == 1 else 's'}"
    return changed, (
        f"{CHECK}: {count} changed since merge base {base[:7]} of HEAD and {base_ref}; "
        "--all for every file"
    )


def _blob_id_of(path: Path) -> str | None:
    """Its git blob id; None when it cannot be read (linting it reports why)."""
    from ci.core.gitrefs import blob_id

    try:
        return blob_id(path.read_bytes())
    except OSError:
        return None


def migration_files(migrations_dir: Path) -> list[Path]:
    """Every `.sql` file of the migrations directory (flat, or in its known folders)."""
    if not migrations_dir.is_dir():
        raise missing_migrations_dir(migrations_dir)
    return [
        path
        for folder in (migrations_dir, *(migrations_dir / k for k in KNOWN_FOLDERS))
        if folder.is_dir()
        for path in sorted(folder.glob("*.sql"))
    ]


def select_files(files: Sequence[Path], migrations_dir: Path) -> list[tuple[Path, str]]:
    """The `.sql` files to lint with their folder kind; FILES outside the directory are skipped."""
    if not files:
        files = migration_files(migrations_dir)
    root = migrations_dir.resolve()
    selected = []
    for path in dict.fromkeys(files):
        # where the name is, not where a symlink leads: the runner lists names
        relative = _relative(Path(path).parent.resolve() / Path(path).name, root)
        if relative is not None and path.suffix == ".sql":
            folder = relative.parts[0] if len(relative.parts) > 1 else "schema"
            selected.append((Path(path), folder if folder in KNOWN_FOLDERS else "other"))
    return selected


def refuse_bad_link(path: Path, migrations_dir: Path) -> None:
    """Raise InputError, in the runner's words, for a symlink it refuses: one that loops or
    leaves the repository."""
    problem = symlink_problem(migrations_dir, path)
    if problem is not None:
        _, message, hint = problem
        raise InputError(f"{path}: {message}; {hint}")


def _relative(path: Path, root: Path) -> Path | None:
    try:
        return path.relative_to(root)
    except ValueError:
        return None
