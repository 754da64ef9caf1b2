"""One database's round trip: apply each migration, roll it back, apply it again, and compare
the fingerprints of schema and data after each step (`RoundTrip`), with the findings when a
rollback does not undo its migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

from ci.checks.rollback_files import is_no_op, left_behind_advice, rollback_problem, shown
from ci.checks.roundtrip_values import Comparison, Watched
from ci.checks.roundtrip_values import compare as compare_values
from ci.checks.validate import case_name, not_run
from ci.core.findings import RUNAWAY, Case, Finding
from ci.core.model import InputError, Migration, read_ahead
from ci.db import runner
from ci.db.fingerprint import REAPPLY, ROLLBACK, Fingerprint, Tracker, rows
from ci.db.sqlite_hints import fix_for
from ci.db.value_images import Image

NAME = "rollback_roundtrip"
EMPTY, SAMPLE = "empty database", "sample data"


# What SQLite says when a migration creates something that is already there: on re-applying
# after the rollback, the rollback left it behind.
LEFT_BEHIND = re.compile(
    r"(?P<kind>table|index|view|trigger) (?P<name>\S+) already exists"
    r"|duplicate column name: (?P<column>\S+)",
    re.IGNORECASE,
)


def rows_lost(
    before: Fingerprint, rolled_back: Fingerprint, after: Fingerprint, changed: Iterable[str]
) -> list[str]:
    """Tables the migration did not create (they survive its rollback) with fewer rows after
    rolling it back and applying it again. The values of columns it adds, and the rows of tables
    it creates, are lost by any rollback by design, so only row counts of the others count."""
    lines = []
    for key in sorted(changed):
        old, new = before.groups.get(key), after.groups.get(key)
        if old is None or not old.rows or key not in rolled_back.groups:
            continue
        left = new.rows or 0 if new is not None else 0
        if left < old.rows:
            lines.append(f"table {old.name}: {rows(old.rows - left)} lost")
    return lines


# why a round trip stopped at a migration (the migrations after it are not run)
NOT_APPLIED = "could not be applied"
NOT_REAPPLIED = "could not be applied again after its rollback (MG405)"


@dataclass
class RoundTrip:
    """Apply, roll back, re-apply each migration on one database, comparing fingerprints."""

    run: runner.Runner
    classname: str
    selected: Set[int] | None
    database: str = EMPTY  # named in every finding: the same migration may fail on both
    cases: list[Case] = field(default_factory=list)
    stopped: bool = False  # a migration could not be applied: the rest were not run
    stopped_because: str = NOT_APPLIED  # why, in the not-run cases after it
    _watched: Watched | None = field(default=None, init=False)

    @property
    def watched(self) -> Watched:
        """The fingerprint tracker and row images, made (one full read of the database) for the
        first round trip: the migrations applied before it (not selected, or before a helper's
        share) are applied with no fingerprint at all."""
        if self._watched is None:
            self._watched = Watched(self.run.conn)
        return self._watched

    @property
    def tracker(self) -> Tracker:
        return self.watched.tracker

    def all(self, migrations: list[Migration], *, until: int | None = None) -> list[Case]:
        """Round-trip (or, when not selected, apply) the first `until` migrations (all when
        None); if one cannot be applied, every migration after it is a not-run case."""
        todo = migrations[:until]
        self.read_files(todo)
        for index, migration in enumerate(todo):
            if not self.one(migration):
                self.stopped = True
                why = f"not run: {migration.label} {self.stopped_because}"
                for case in not_run(NAME, self.run.catalog, migrations[index + 1 :], why):
                    case.classname = self.classname
                    self.cases.append(case)
                break
        return self.cases

    def read_files(self, migrations: list[Migration]) -> None:
        """Read the run's files (and the rollbacks it will run) before its first statement:
        read one at a time between the SQLite work, each costs ~4x as much (1,900 files:
        ~75 ms instead of ~20 ms); see read_ahead."""
        files = [m.file for m in migrations]
        files += [
            m.rollback
            for m in migrations
            if m.rollback is not None and (self.selected is None or m.version in self.selected)
        ]
        read_ahead(files)

    def case(self, migration: Migration) -> Case:
        case = Case(
            case_name(migration, self.run.catalog),
            self.classname,
            path=str(migration.path),
            kind=migration.kind,
        )
        self.cases.append(case)
        return case

    def fail(
        self, case: Case, code: str, path: str, line: int | None, message: str, hint: str
    ) -> None:
        case.findings.append(Finding(NAME, code, path, line, message, hint))
        case.path, case.line = path, line

    def failed(
        self, case: Case, code: str, failure: runner.MigrationFailed, what: str, hint: str
    ) -> None:
        """A failed apply or rollback: its own code, or MG311 when it ran away."""
        if isinstance(failure, runner.Runaway):
            code, hint = RUNAWAY, failure.hint
        self.fail(case, code, failure.path, failure.line, f"{what}: {failure.message}", hint)

    @property
    def on(self) -> str:
        return f"on the {self.database}"

    def apply(self, migration: Migration, case: Case | None, code: str, what: str) -> bool:
        """Apply under the tracker; a failure is reported on `case` (or a new one)."""
        try:
            with self.watched.watching():
                outcome = self.run.apply(migration)
        except runner.MigrationFailed as failure:
            case = case or self.case(migration)
            if code == "MG405" and not isinstance(failure, runner.Runaway):
                self.blame_rollback(case, migration, failure)
            else:
                hint = fix_for(failure.message, on_sample=self.database == SAMPLE)
                self.failed(case, code, failure, what, hint)
            return False
        if case is not None:
            case.time += outcome.seconds
            case.rows = outcome.rows
        return True

    def blame_rollback(
        self, case: Case, migration: Migration, failure: runner.MigrationFailed
    ) -> None:
        """Re-applying failed after the rollback succeeded: the finding is the rollback's."""
        path, message, hint = left_behind(migration, failure, self.on)
        self.fail(case, "MG405", path, None, message, hint)

    def one(self, migration: Migration) -> bool:
        """Round-trip one migration; False when the run cannot go on (it could not be applied)."""
        does_not_apply = f"{migration.label} does not apply {self.on}"
        if self.selected is not None and migration.version not in self.selected:
            return self.apply(migration, None, "MG301", does_not_apply)
        if self.unusable_rollback(migration) is not None:
            return self.apply(migration, None, "MG301", does_not_apply)
        case = self.case(migration)
        before = self.tracker.fingerprint, self.watched.images
        if not self.apply(migration, case, "MG301", does_not_apply):
            return False
        applied, changed_by_apply = (
            (self.tracker.fingerprint, self.watched.images),
            self.tracker.changed,
        )
        if not self.roll_back(migration, case):
            return True  # the failed rollback was undone: the database is as after the apply
        changed_by_rollback = self.tracker.changed
        restored = self.compare(
            case, migration, before, changed_by_apply | changed_by_rollback, "MG404"
        )
        if not self.apply(migration, case, "MG405", "re-applying"):
            self.stopped_because = NOT_REAPPLIED
            return False
        if restored:  # otherwise re-applying only shows the same damage again
            self.compare(
                case, migration, applied, changed_by_rollback | self.tracker.changed, "MG406"
            )
        return True

    def compare(
        self,
        case: Case,
        migration: Migration,
        expected: tuple[Fingerprint, Mapping[str, Image]],
        only: frozenset[str],
        code: str,
    ) -> bool:
        """Whether the database equals `expected` (on the groups that may differ); if not, a
        finding that says what differs. Columns whose values the migration or the rollback
        generate (the time now, random()) are left out, and said to be."""
        rollback = migration.rollback
        assert rollback is not None
        wording = ROLLBACK if code == "MG404" else REAPPLY
        found = self.tracker.now, self.watched.images
        files = [migration.file, rollback]
        comparison = compare_values(
            expected[0], found[0], (expected[1], found[1]), only, wording, files
        )
        differences = comparison.differences
        if not differences:
            note_left_out(case, f"{migration.label} {self.on}", migration, comparison)
            return True
        differences += comparison.left_out
        if code == "MG404":
            message = f"rolling back {migration.label} does not restore the {self.database}: "
            hint = f"make {shown(rollback.path)} undo exactly what {shown(migration.path)} does"
        else:
            message = (
                f"re-applying {migration.label} after its rollback {self.on} gives another result: "
            )
            hint = "the rollback leaves something the migration then trips over or skips"
        self.fail(case, code, str(rollback.path), None, message + "; ".join(differences), hint)
        return False

    def downward(self, migrations: list[Migration], top: int) -> list[Case]:
        """The migrations the sample data already had (up to `top`): from the newest down,
        rolling one back and applying it again must give the rows back; then it is rolled
        back for good, to check the one below. Stops at the first that cannot be undone."""
        start = len(self.cases)
        for migration in reversed([m for m in migrations if m.version <= top]):
            if migration.directives.irreversible is not None or not self.usable(migration):
                break
            if not self.back_and_forth(migration):
                break
        return self.cases[start:]

    def usable(self, migration: Migration) -> bool:
        try:
            rollback = migration.rollback
            return rollback is not None and bool(rollback.statements or is_no_op(migration))
        except InputError:
            return False

    def back_and_forth(self, migration: Migration) -> bool:
        case = self.case(migration)
        case.name += " (rolled back on the sample data)"
        before = self.tracker.fingerprint
        if not self.roll_back(migration, case):
            return False
        changed, rolled_back = self.tracker.changed, self.tracker.fingerprint
        if not self.apply(migration, case, "MG405", "re-applying"):
            self.stopped_because = NOT_REAPPLIED
            return False
        differences = rows_lost(
            before, rolled_back, self.tracker.now, changed | self.tracker.changed
        )
        if differences:
            assert migration.rollback is not None
            self.fail(
                case,
                "MG407",
                str(migration.rollback.path),
                None,
                f"rolling back {migration.label} on the sample data and applying it again "
                "loses rows: " + "; ".join(differences),
                f"make {shown(migration.rollback.path)} keep the rows (copy them in a rebuild)",
            )
        return self.roll_back(migration, case)

    def roll_back(self, migration: Migration, case: Case) -> bool:
        try:
            with self.watched.watching(start=True):
                outcome = self.run.rollback(migration)
        except runner.MigrationFailed as failure:
            what = f"rolling back {migration.label} {self.on} fails"
            self.failed(case, "MG403", failure, what, "fix the rollback statement on that line")
            return False
        case.time += outcome.seconds
        return True

    def unusable_rollback(self, migration: Migration) -> str | None:
        """Report a migration that cannot be round-tripped; None when it can."""
        reason = migration.directives.irreversible
        if reason is not None:
            self.case(migration).skipped = f"@irreversible: {reason}"
            return reason
        problem = rollback_problem(migration)
        if problem is None:
            return None
        why, code, path, message, hint = problem
        self.fail(self.case(migration), code, path, None, message, hint)
        return why


def note_left_out(case: Case, what: str, migration: Migration, comparison: Comparison) -> None:
    """Nothing else differs: say which columns were not compared, as a warning, on the line of
    the statement that generates their values when one does (`what`: the migration and the
    database, as the finding names them)."""
    if comparison.left_out:
        message = f"{what}: " + "; ".join(comparison.left_out)
        path, line = comparison.left_out_at or (str(migration.path), None)
        case.findings.append(
            Finding(
                NAME, "MG314", path, line, message,
                "nothing to do if those values may differ; give them a fixed value to have "
                "them compared", severity="warning",
            )
        )  # fmt: skip


def left_behind(
    migration: Migration, failure: runner.MigrationFailed, on: str
) -> tuple[str, str, str]:
    """(path, message, hint) of MG405 when re-applying fails after the rollback succeeded: the
    rollback left something behind (the migration applied on this very database a moment ago),
    so the finding is the rollback's, naming what it did not drop when SQLite says so."""
    rollback = migration.rollback
    assert rollback is not None
    where = failure.path if failure.line is None else f"{failure.path}:{failure.line}"
    message = (
        f"re-applying {migration.label} after its rollback {on} fails at {where}: {failure.message}"
    )
    left = LEFT_BEHIND.search(failure.message)
    thing = None
    if left is not None:
        thing = f"column {left['column']}" if left["column"] else (
            f"{left['kind'].lower()} {left['name']}")  # fmt: skip
    said, hint = left_behind_advice(thing, rollback.path, migration.path)
    message += said
    return str(rollback.path), message, hint
