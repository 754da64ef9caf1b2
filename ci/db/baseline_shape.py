"""What `ci.migrate --baseline N` decides and says on either engine: which migrations it
records, whether the database already has a row for one, how the database's schema compares
with what the migrations create (only the shape: tables, columns, indexes, foreign keys, views,
triggers; never the rows), and the lines it prints. The engines build the expected schema and
write the rows (ci.db.baseline on SQLite, ci.db.postgres.baseline).

Objects the user's database has and the migrations do not create (an application's own tables,
an extra index) are fine: they are named in a note and left alone. Anything the migrations
create that is missing or different is a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TextIO

from ci.core.model import Catalog, InputError, Migration
from ci.db.fingerprint_diff import Wording, describe_differences
from ci.db.fingerprint_records import Fingerprint, TablePrint
from ci.db.outcomes import MigrationFailed, RunRefused
from ci.db.records import AppliedRow
from ci.db.tables import APPLIED_BY, TABLE

# how a difference reads: what the migrations create -> what the database has
IN_DATABASE = Wording(
    missing="missing",
    extra="only in the database",
    extra_column="only in the database",
)
BASELINE_BY = f"{APPLIED_BY} (baseline: recorded, not run)"
Describe = Callable[..., list[str]]  # a describe_differences (each engine words its objects)


class Comparison(NamedTuple):
    """The user's database against what the migrations create."""

    differences: list[str]  # missing or different: a mismatch
    extras: list[str]  # only in the user's database: fine, said in a note

    def note(self, span: str) -> str:
        names = ", ".join(self.extras)
        return f"note: {names}: in the database but not created by {span}; left alone"


# --- which migrations a baseline records ----------------------------------------------------


def chosen_migrations(catalog: Catalog, version: int) -> list[Migration]:
    """The main-track migrations up to `version`; RunRefused (one line) when there is none
    numbered `version`, when one below it is missing, or when `version` is beyond the head."""
    if version > catalog.head:
        raise RunRefused(
            f"--baseline {version:04d} is beyond the head ({catalog.head:04d}) of {catalog.root}"
        )
    chosen = [m for m in catalog.main if m.version <= version]
    numbers = {m.version for m in chosen}
    first = min(numbers, default=version)
    missing = [n for n in range(first, version + 1) if n not in numbers]
    if missing:
        names = ", ".join(f"{n:04d}" for n in missing)
        raise RunRefused(
            f"--baseline {version:04d}: no migration file numbered {names} in {catalog.root}; "
            "a baseline records only migrations whose files are there"
        )
    return chosen


def span_of(chosen: Sequence[Migration]) -> str:
    return f"{chosen[0].label}..{chosen[-1].label}"


def clash_line(rows: list[AppliedRow], where: object, chosen: Sequence[Migration]) -> str | None:
    """One line if `rows` (the database's schema_version) has one for a chosen migration."""
    wanted = {m.version for m in chosen}
    clash = sorted(r.version for r in rows if r.track == "main" and r.version in wanted)
    if not clash:
        return None
    names = ", ".join(f"{v:04d}" for v in clash)
    verb = "is" if len(clash) == 1 else "are"
    return (
        f"{where}: {names} {verb} already applied (in {TABLE}); --baseline records only "
        "migrations the database has no row for (see --status)"
    )


# --- what the migrations create -------------------------------------------------------------


def apply_to_learn(apply: Callable[[Migration], object], migration: Migration, where: str) -> None:
    """`apply(migration)` on the scratch database (`where`: what it is, for the line); its
    failure refuses the baseline in one line: nothing of the user's database was changed."""
    try:
        apply(migration)
    except (MigrationFailed, InputError) as failure:
        raise RunRefused(
            f"{failure} (while applying it to {where} to learn what it creates; nothing was "
            "changed)"
        ) from None


def learn(
    step: Callable[[Migration], Fingerprint], chosen: Sequence[Migration], start: Fingerprint
) -> tuple[Fingerprint, list[Migration]]:
    """The shape `chosen` create, each applied by `step` (which returns the scratch database's
    shape after it; `start` is its shape before any), and those that changed none of it: a
    data migration, whose work on rows no shape can prove done (what --status --detect calls
    "cannot be told from the schema")."""
    printed, unprovable = start, []
    for migration in chosen:
        after = step(migration)
        if after == printed:
            unprovable.append(migration)
        printed = after
    return printed, unprovable


# --- comparing -------------------------------------------------------------------------------


def shape_of(printed: Fingerprint) -> Fingerprint:
    """The fingerprint with column types compared as SQLite reads them: `integer` and
    `INTEGER` declare the same column (a database built by hand rarely spells them alike)."""
    groups = {}
    for key, group in printed.groups.items():
        columns = tuple(c._replace(type=" ".join(c.type.upper().split())) for c in group.columns)
        groups[key] = group._replace(columns=columns)
    return Fingerprint(groups)


def compare(
    expected: Fingerprint, real: Fingerprint, *, describe: Describe = describe_differences
) -> Comparison:
    """What the migrations create (`expected`) against the user's database (`real`)."""
    trimmed: dict[str, TablePrint] = {}
    extras: list[str] = []
    for key, group in sorted(real.groups.items()):
        wanted = expected.groups.get(key)
        if wanted is None:
            extras.append(f"{group.kind} {group.name}")
            continue
        trimmed[key], extra = _without_extra_objects(group, wanted)
        extras += extra
    differences = describe(
        expected, Fingerprint(trimmed), only=expected.groups, wording=IN_DATABASE
    )
    return Comparison(differences, extras)


def _without_extra_objects(group: TablePrint, wanted: TablePrint) -> tuple[TablePrint, list[str]]:
    """The group without the indexes and triggers the migrations do not create (those are
    extras), so that only the rest counts as a difference."""
    names = {(o.type, o.name.lower()) for o in wanted.objects}
    keep, extras = [], []
    for o in group.objects:
        if o.type in ("index", "trigger") and (o.type, o.name.lower()) not in names:
            extras.append(f"{o.type} {o.name}")
        else:
            keep.append(o)
    wanted_indexes = {i.name.lower() for i in wanted.indexes}
    indexes = tuple(i for i in group.indexes if i.origin != "c" or i.name.lower() in wanted_indexes)
    return group._replace(objects=tuple(keep), indexes=indexes), extras


# --- what it says ----------------------------------------------------------------------------


def refused(
    comparison: Comparison,
    where: object,
    span: str,
    n: int,
    *,
    force: bool,
    out: TextIO,
    err: TextIO,
) -> bool:
    """Say what the comparison found: the extras in a note, then the differences as a refusal
    (True: nothing is to be written), or, with `force`, as warnings before the rows are."""
    if comparison.extras:
        print(comparison.note(span), file=out)
    if comparison.differences and not force:
        _refuse(comparison.differences, where, span, n, err)
        return True
    _warn_forced(comparison.differences, span, err)
    return False


def _refuse(differences: list[str], where: object, span: str, n: int, err: TextIO) -> None:
    print(
        f"migrate: {where} does not have the shape {span} create (migrations -> database):",
        file=err,
    )
    for line in differences:
        print(f"  {line}", file=err)
    print(
        f"migrate: nothing was changed; make the database match, or record {span} anyway "
        f"with --baseline {n} --force",
        file=err,
    )


def _warn_forced(differences: list[str], span: str, err: TextIO) -> None:
    for line in differences:
        print(
            f"migrate: WARNING: --force: recording {span} although the database differs: {line}",
            file=err,
        )


def forced_note(forced_over: Sequence[str]) -> str | None:
    """The log line's `error`: the log has no column for "forced"; error is its free-text
    column, and a forced baseline is the one whose error says what was overridden."""
    if not forced_over:
        return None
    return f"--force: recorded although the database differs: {'; '.join(forced_over)}"


def warn_unprovable(unprovable: Sequence[Migration], err: TextIO) -> None:
    """One WARNING per migration recorded although the schema cannot show it ran. A warning,
    not a refusal that --force lifts: naming N is already the user's statement about 0001..N,
    and --force would also wave through shape differences the user has not seen."""
    for m in unprovable:
        print(
            f"migrate: WARNING: {m.label} ({m.path.name}) changes no table, index, view or "
            "trigger: recorded as applied without proof that it ran here (what it does to rows "
            "cannot be told from the schema)",
            file=err,
        )


def recorded_line(span: str, at: str) -> str:
    return (
        f"OK: recorded {span} as applied without running them; database at {at} (seeds are "
        "not recorded: the next migrate that reaches the head runs them)"
    )
