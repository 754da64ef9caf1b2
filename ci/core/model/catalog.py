"""The migrations directory as records: each `Migration` with its rollback, and the `Catalog`.

What could not be placed while listing the directory is a `CatalogProblem`, a neutral record
(code, path, line, message, hint): each check that reports it turns it into its own finding.
"""

from __future__ import annotations

from pathlib import Path

from ci.core.findings import Finding, Record
from ci.core.model.directives import Directives
from ci.core.model.layout import SEED_FOLDER
from ci.core.model.sqlfile import SqlFile


class Migration(Record):
    """A numbered migration file (main or seed track) and its rollback file, if any."""

    FIELDS = ("file", "kind", "version", "slug", "rollback")
    # and its track, worked out once: asked for every migration on every start-up (pairing
    # applied rows with their files, what is pending)
    __slots__ = (*FIELDS, "track")

    def __init__(
        self,
        file: SqlFile,
        kind: str,  # "schema", "data" or "seed" (flat files in the root count as "schema")
        version: int,
        slug: str,
        rollback: SqlFile | None = None,
    ) -> None:
        self.file = file
        self.kind = kind
        self.version = version
        self.slug = slug
        self.rollback = rollback
        self.track = "seed" if kind == SEED_FOLDER else "main"  # track_of, inlined: per file

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def label(self) -> str:
        # label_of(self.track, ...) spelled out: a run asks each migration's label several times
        number = f"{self.version:04d}"
        return f"seed-{number}" if self.kind == SEED_FOLDER else number

    @property
    def directives(self) -> Directives:
        return self.file.directives


class CatalogProblem(Record):
    """An entry of the migrations directory that cannot be a migration file (a malformed name,
    an unknown folder, a symlink leaving the repository). Treated as immutable."""

    FIELDS = ("code", "path", "line", "message", "hint")
    __slots__ = FIELDS

    def __init__(
        self, code: str, path: str | None, line: int | None, message: str, hint: str = ""
    ) -> None:
        self.code = code
        self.path = path
        self.line = line
        self.message = message
        self.hint = hint

    def finding(self, check: str) -> Finding:
        """This problem as a finding of `check`, the check that reports it."""
        return Finding(check, self.code, self.path, self.line, self.message, self.hint)


class Catalog(Record):
    """Everything discovered under a migrations directory.

    `problems` holds what could not be placed (bad names, unknown folders, unreadable entries);
    the numbering check reports them, other checks report them only if they affect their work.
    `symlinks` holds the path (as text) of every listed entry that is a symbolic link.
    """

    FIELDS = ("root", "main", "seeds", "rollbacks", "problems", "symlinks")
    __slots__ = FIELDS

    def __init__(
        self,
        root: Path,
        main: list[Migration] | None = None,
        seeds: list[Migration] | None = None,
        rollbacks: dict[int, list[SqlFile]] | None = None,
        problems: list[CatalogProblem] | None = None,
        symlinks: set[str] | None = None,
    ) -> None:
        self.root = root
        self.main: list[Migration] = [] if main is None else main
        self.seeds: list[Migration] = [] if seeds is None else seeds
        self.rollbacks: dict[int, list[SqlFile]] = {} if rollbacks is None else rollbacks
        self.problems: list[CatalogProblem] = [] if problems is None else problems
        self.symlinks: set[str] = set() if symlinks is None else symlinks

    def duplicate_numbers(self) -> list[str]:
        """One line per migration whose number another file of its track uses already."""
        problems: list[str] = []
        for migrations in (self.main, self.seeds):
            seen: dict[int, Migration] = {}
            for m in migrations:
                if m.version in seen:
                    problems.append(
                        f"{m.path}: number {m.label} is also used by {seen[m.version].path}; "
                        "renumber one of them"
                    )
                seen.setdefault(m.version, m)
        return problems

    @property
    def head(self) -> int:
        return self.main[-1].version if self.main else 0

    def all_migrations(self) -> list[Migration]:
        return [*self.main, *self.seeds]

    def sql_files(self) -> list[SqlFile]:
        files = [m.file for m in self.all_migrations()]
        return files + [f for group in self.rollbacks.values() for f in group]

    def by_version(self, version: int) -> Migration | None:
        return next((m for m in self.main if m.version == version), None)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was
