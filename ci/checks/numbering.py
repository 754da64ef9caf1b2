"""The numbering check (`python -m ci.numbering`): gaps and reuse, names, rollback pairing.

Reads names, and of main-track migrations only what says whether they declare `@irreversible`:
one without a rollback file must (MG107), one with a rollback file must not (MG112); of the
latter, a file under 4 KiB without an `@` is only peeked at. Never opens a database. Every
finding of a run is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ci.checks import options
from ci.checks.base import Check
from ci.checks.numbering_base import Base, base_at, merged_files
from ci.checks.numbering_irreversible import contradicted_rollbacks
from ci.checks.numbering_upstream import Upstream, bring_in_hint, upstream_numbers
from ci.core.findings import Finding, Report
from ci.core.model import (
    ROLLBACK_FOLDER,
    Catalog,
    InputError,
    Migration,
    SqlFile,
    discover,
    label_of,
)

NAME = "numbering"
Known = tuple[str, set[str]]  # (where they are, e.g. "on origin/main"; migration paths)


def find_problems(
    catalog: Catalog,
    *,
    base: Base | None = None,
    merged: Known | None = None,
    upstream: Callable[[], Upstream | None] = lambda: None,
) -> list[Finding]:
    """Every numbering finding of a catalog, in a stable order. `merged`: without a base,
    (where, paths) of the migrations already merged (see merged_files): of two files with one
    number, the one not among them is this branch's and is the one to renumber. `upstream`:
    asked at a gap, the numbers on the integration branch (ci.checks.numbering_upstream)."""
    findings = [_printable(problem.finding(NAME)) for problem in catalog.problems]
    renumbered: set[Path] = set()
    known = (f"on {base.ref}", base.paths) if base is not None else merged
    for track, migrations in (("main", catalog.main), ("seed", catalog.seeds)):
        found = _track_problems(catalog.root, track, migrations, base, known, renumbered)
        findings += [*found, *_gaps(migrations, upstream)]
    findings += _rollback_problems(catalog)
    findings += _missing_rollbacks(catalog, skip=renumbered)
    findings += contradicted_rollbacks(catalog, NAME)
    findings += _broken_links(catalog)
    return findings


def _track_problems(
    root: Path,
    track: str,
    migrations: list[Migration],
    base: Base | None,
    known: Known | None,
    renumbered: set[Path],
) -> Iterator[Finding]:
    if not migrations:
        return
    highest = max(m.version for m in migrations)
    free = iter(range(max(highest, base.head[track] if base else 0) + 1, 10**9))
    if base is not None:
        kept = {m.version: m for m in migrations if _relative(root, m.path) in base.paths}
        for m in migrations:
            if _relative(root, m.path) not in base.paths and m.version <= base.head[track]:
                renumbered.add(m.path)
                yield _behind_base(m, base, track, next(free), keeps=kept.get(m.version))
    yield from _duplicates(root, migrations, known, renumbered, free)


def _behind_base(
    m: Migration, base: Base, track: str, number: int, *, keeps: Migration | None
) -> Finding:
    """MG108 for `m`; `keeps`: the base ref's file with the same number, if this tree has it
    (after `git merge`): the rollback file of that number is then the base ref's, not m's."""
    head = label_of(track, base.head[track])
    rollback = ""
    if track == "main" and keeps is None:
        rollback = " (and its rollback file)"
    elif track == "main" and keeps is not None:
        own = f"{ROLLBACK_FOLDER}/{number:0{len(_number(m))}d}_rollback.sql"
        theirs = f"{ROLLBACK_FOLDER}/{_number(keeps)}_rollback.sql"
        rollback = f", with its own rollback file {own} ({theirs} undoes {keeps.path.name})"
    return Finding(
        NAME,
        "MG108",
        str(m.path),
        None,
        f"new migration {m.label} is numbered at or below {head}, the highest on {base.ref} "
        "(another branch took the number; git merges both files without a conflict)",
        f"{_first_merge(base.ref, m, track, keeps)}rename it to {_renamed(m, number)}{rollback}"
        + _renumber_command(m),
    )


def _first_merge(ref: str, m: Migration, track: str, keeps: Migration | None) -> str:
    """Before this tree has the base ref's file of that number, a rename alone leaves a gap
    (MG102, which the commit hook refuses): the base ref's migrations must come in first. Git
    then meets two rollback files of that number (add/add); the one to keep is the base ref's,
    so the user's rollback text is put aside first, to become the renamed rollback file."""
    if keeps is not None:
        return ""
    merge = f"bring {ref} in first (`git merge {ref}` or `git rebase {ref}`"
    if track == "main":
        own = f"{ROLLBACK_FOLDER}/{_number(m)}_rollback.sql"
        merge += f"; copy your {own} aside before: it will conflict and {ref}'s copy is kept"
    merge += f"; the lock file conflicts too: take {ref}'s and lock your renamed file again"
    return f"{merge}), then "


def _duplicates(
    root: Path,
    migrations: list[Migration],
    known: Known | None,
    renumbered: set[Path],
    free: Iterator[int],
) -> Iterator[Finding]:
    by_version: dict[int, list[Migration]] = {}
    for m in migrations:
        by_version.setdefault(m.version, []).append(m)
    merged = known[1] if known is not None else set()
    for group in by_version.values():
        if len(group) < 2:
            continue
        # the file already merged keeps the number, else the one with the rollback
        group.sort(key=lambda m: (_relative(root, m.path) not in merged, m.rollback is None))
        first = group[0]
        for m in group[1:]:
            if m.path in renumbered:
                continue
            renumbered.add(m.path)
            also = _relative(root, first.path)
            if known is not None and also in merged and _relative(root, m.path) not in merged:
                also += f", which is {known[0]}; this file is new on this branch"
            yield Finding(
                NAME,
                "MG101",
                str(m.path),
                None,
                f"number {m.label} is used twice in the {m.track} track (also {also})",
                f"if it is applied nowhere yet, rename it to {_renamed(m, next(free))}"
                + (" (and its rollback file)" if m.track == "main" else "")
                + _renumber_command(m),
            )


def _renumber_command(m: Migration) -> str:
    """The command that does the rename (and the lock), when the user's shell has one."""
    from ci.core import fixes  # only when a number clashes (start-up of the clean run)

    command = fixes.renumber(str(m.path))
    return f"; {command} does the renaming" if command else ""


def _gaps(
    migrations: list[Migration], upstream: Callable[[], Upstream | None]
) -> Iterator[Finding]:
    previous = 0
    seen: set[int] = set()
    for m in migrations:
        if m.version in seen:
            continue
        seen.add(m.version)
        if m.version > previous + 1:
            missing = _span(m.track, previous + 1, m.version - 1)
            after = f"follows {label_of(m.track, previous)}" if previous else "is the first"
            hint = bring_in_hint(upstream(), m.track, range(previous + 1, m.version)) or (
                f"if {m.label} is applied nowhere yet, rename it to {_renamed(m, previous + 1)}; "
                "if a file was deleted, restore it"
            )
            yield Finding(
                NAME,
                "MG102",
                str(m.path),
                None,
                f"gap: {m.label} {after}, so {missing} missing (numbers are never skipped)",
                hint,
            )
        previous = m.version


def _span(track: str, first: int, last: int) -> str:
    if first == last:
        return f"{label_of(track, first)} is"
    return f"{label_of(track, first)} to {label_of(track, last)} are"


def _rollback_problems(catalog: Catalog) -> Iterator[Finding]:
    main: dict[int, Migration] = {}
    for m in catalog.main:
        if m.rollback is not None or m.version not in main:
            main[m.version] = m  # of duplicates, the one the model gave the rollback
    seeds = {m.version for m in catalog.seeds}
    for version, files in sorted(catalog.rollbacks.items()):
        migration = main.get(version)
        if migration is None:
            why = f"there is no main-track migration {version:04d}"
            if version in seeds:
                why += " (seeds have no rollbacks)"
            for orphan in files:
                yield Finding(
                    NAME,
                    "MG106",
                    str(orphan.path),
                    None,
                    f"rollback file without a migration: {why}",
                    "give it the number of the migration it undoes, or delete it",
                )
            continue
        for extra in files[1:]:
            yield Finding(
                NAME,
                "MG110",
                str(extra.path),
                None,
                f"second rollback file for {migration.label} "
                f"({_relative(catalog.root, files[0].path)} is the one used)",
                "merge the two into one rollback file",
            )
        slug = files[0].name.split("_", 1)[1][: -len(".sql")]
        if slug not in ("rollback", migration.slug):
            yield Finding(
                NAME,
                "MG111",
                str(files[0].path),
                None,
                f"rollback file does not name its migration {migration.path.name} "
                "(left over from a renumbering?)",
                f"rename it to {ROLLBACK_FOLDER}/{_number(migration)}_rollback.sql "
                f"or {ROLLBACK_FOLDER}/{_number(migration)}_{migration.slug}.sql",
                severity="warning",
            )


def _missing_rollbacks(catalog: Catalog, *, skip: set[Path]) -> Iterator[Finding]:
    # a file told to take another number leaves the rollback file of its old number behind,
    # for the file that keeps the number
    left_behind = {m.version for m in catalog.main if m.path in skip and m.rollback is not None}
    for m in catalog.main:
        if m.rollback is not None or m.path in skip or m.version in left_behind:
            continue
        try:
            if m.directives.irreversible is not None:
                continue
        except InputError as error:
            yield _input_finding(m.file, error)
            continue
        expected = f"{ROLLBACK_FOLDER}/{_number(m)}_rollback.sql"
        yield Finding(
            NAME,
            "MG107",
            str(m.path),
            None,
            f"migration {m.label} has no rollback file ({expected})",
            f"write {expected} that undoes it, or declare `-- @irreversible <reason>` "
            "at the top of the migration",
        )


def _broken_links(catalog: Catalog) -> Iterator[Finding]:
    links = catalog.symlinks  # from discover's listing: no lstat per file
    if not links:
        return
    for file in catalog.sql_files():
        if file.location in links and not file.path.exists():
            yield Finding(
                NAME,
                "MG109",
                str(file.path),
                None,
                "broken symlink: the file it points to does not exist",
                "replace the link with the file, or delete it",
            )


def _input_finding(file: SqlFile, error: InputError) -> Finding:
    """An InputError ('path:line: message') as a finding with its own path and line."""
    text, path, line = str(error), str(file.path), None
    if text.startswith(path + ":"):
        where, _, message = text[len(path) + 1 :].partition(": ")
        if where.isdigit():
            line, text = int(where), message
        else:
            text = text[len(path) + 1 :].strip()
    return _printable(Finding(NAME, "MG109", path, line, text, "fix the file"))


def _printable(finding: Finding) -> Finding:
    """Finding text that can be printed even when a file name is not valid UTF-8."""

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    return Finding(
        finding.check,
        finding.code,
        clean(finding.path),
        finding.line,
        clean(finding.message) or "",
        clean(finding.hint) or "",
        finding.severity,
    )


def _has_twins(catalog: Catalog) -> bool:
    """Whether a number is used twice in a track (then git is asked which file is merged)."""
    return any(
        len({m.version for m in track}) < len(track) for track in (catalog.main, catalog.seeds)
    )


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _number(m: Migration) -> str:
    return m.path.name.split("_", 1)[0]


def _renamed(m: Migration, number: int) -> str:
    width = len(_number(m))
    return f"{number:0{width}d}_{m.slug}.sql"


def check(migrations_dir: Path, *, base_ref: str | None = None) -> Report:
    """The numbering report for a directory (and, with `base_ref`, against that ref)."""
    catalog = discover(migrations_dir)
    base = base_at(base_ref, migrations_dir) if base_ref else None
    merged = merged_files(migrations_dir) if base is None and _has_twins(catalog) else None
    upstream = upstream_numbers(migrations_dir, base_ref)
    findings = find_problems(catalog, base=base, merged=merged, upstream=upstream)
    count = len(catalog.main) + len(catalog.seeds)
    return Report.from_findings(NAME, findings, passed=f"{count} migrations numbered in sequence")


CHECK = Check(
    NAME,
    "Numbering gaps and reuse, names, and rollback pairing.",
    (
        options.base_ref(
            "git ref of the target branch (e.g. origin/main): a migration that is new since "
            "REF must be numbered above REF's highest number"
        ),
    ),
    lambda a: check(a.migrations_dir, base_ref=a.base_ref),
)
