"""What the numbering check compares with besides the files: the migrations of a base ref
(`--base-ref`, MG108), or, without one, the migrations already merged into the branch this
work merges into (which of two files with one number is this branch's new one, MG101).
"""

from __future__ import annotations

from pathlib import Path

from ci.core.model import MAIN_FOLDERS, SEED_FOLDER, parse_name, track_of


class Base:
    """What a base ref (e.g. origin/main) already has: its migration paths and highest numbers."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.paths: set[str] = set()
        self.head: dict[str, int] = {"main": 0, "seed": 0}

    def add(self, relative: str, *, taken_only: bool = False) -> None:
        """Count `relative` in; `taken_only`: its number is taken, but this branch's file of
        that name is not the ref's (it was written here, under the same name)."""
        folder, _, name = relative.rpartition("/")
        parsed = parse_name(name)
        if parsed is None or folder not in ("", *MAIN_FOLDERS, SEED_FOLDER):
            return  # rollbacks, stray files: not numbered migrations
        track = track_of(folder)
        if not taken_only:
            self.paths.add(relative)
        self.head[track] = max(self.head[track], parsed[0])


def base_at(ref: str, migrations_dir: Path) -> Base:
    """What `ref` has (names only, `git ls-tree`), for MG108: a migration is new when neither
    the merge base of HEAD and `ref` nor the tip of `ref` has it, and a new one must be numbered
    above the highest number on the tip of `ref` (another branch may have taken it).

    A file on the tip is never new work of this branch: a branch behind `ref` has not deleted
    `ref`'s newer files, and in the middle of `git merge ref` (or after it) they are `ref`'s,
    however HEAD stands. So when two files clash, the one to rename is always this branch's."""
    from ci.core import gitrefs

    base = Base(ref)
    merge_base = gitrefs.merge_base(ref, migrations_dir)
    merged = gitrefs.list_files_at_commit(merge_base, migrations_dir)
    for relative in merged:
        base.add(relative)
    if merge_base != gitrefs.resolve_ref(ref, migrations_dir):
        tip = gitrefs.list_files(ref, migrations_dir)
        own = _written_here(migrations_dir, {p: b for p, b in tip.items() if p not in merged})
        for relative in tip:
            base.add(relative, taken_only=relative in own)
    return base


def _written_here(migrations_dir: Path, tip_only: dict[str, str]) -> set[str]:
    """Of the files only the tip of the base ref has ({path: blob}), those this directory holds
    with other content: this branch's own file that happens to have the same name. Only these
    few files are read (checksums ignore a BOM and line endings, as everywhere)."""
    from ci.core import gitrefs
    from ci.core.sqltext import checksum

    present = {p: b for p, b in tip_only.items() if (migrations_dir / p).is_file()}
    blobs = gitrefs.read_blobs(migrations_dir, present.values())
    return {
        relative
        for relative, blob in present.items()
        if _checksum_of(migrations_dir / relative) != checksum(blobs[blob])
    }


def _checksum_of(path: Path) -> str | None:
    from ci.core.sqltext import checksum

    try:
        return checksum(path.read_bytes())
    except OSError:
        return None  # unreadable: not known to be the base ref's file


def merged_files(migrations_dir: Path) -> tuple[str, set[str]] | None:
    """Without --base-ref: (what the paths are, the migration paths already merged), to tell
    which of two files with one number is new on this branch. The paths are those of the
    merge base with the branch this work merges into (found as ci.checksums finds it:
    origin/HEAD, origin/main, ...), else, with no such branch, those committed at HEAD. None
    when git cannot tell (no repository, no commit)."""
    from ci.core import gitrefs

    found = gitrefs.merged_paths(migrations_dir)
    if found is None:
        return None
    ref, paths = found
    return (f"on {ref}" if ref else "committed"), paths
