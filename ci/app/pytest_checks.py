"""`pytest --migration-guard`: the checks `python -m ci` runs, as pytest items.

The checks and their options are the ones `python -m ci` would run with the same config file
(ci.app.run_all parses it), so the two never disagree. Items are named from the migrations
directory alone (no check runs while collecting); a check runs once, in the process that first
runs one of its items (once per xdist worker), and each item reads its share of the check's
Report: the cases whose file is its migration. `-k apply_empty` runs only apply_empty.

    schema/migrations::numbering                    whole-tree checks: one item each
    schema/migrations::apply_empty::0005            per-migration checks: one item per migration
    schema/migrations::apply_empty::seed-0001       (seeds too where the check applies them)
    schema/migrations::lint::rollback-0005          lint: one item per file, rollbacks included
    schema/migrations::apply_empty::tree            what is not about one migration: the database
                                                    after the last one (integrity, invariants,
                                                    snapshot), the sample, misplaced files

A finding fails its item with the finding's own text line; a warning passes it with a pytest
warning (warnings never fail a check; `-W error::ci.app.pytest_checks.MigrationGuardWarning`
makes them fail); a check that could not run errors every one of its items at setup, as JUnit
shows it as <error>; a migration the check did not reach is skipped with the check's reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from ci.app.cli import Collector, parse
from ci.app.registry import declared
from ci.app.run_all import build_parser, run_into, sample_given, selected_checks
from ci.core.findings import Case, Finding, Report
from ci.core.model import Catalog, InputError, discover
from ci.reports.text import text_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

WHOLE_TREE = ("numbering", "checksums")
TREE = "tree"  # the item of a per-migration check for what is not about one migration
RUNS = pytest.StashKey["CheckRuns"]()
LOCATIONS = "migration_guard_locations"


class MigrationGuardWarning(UserWarning):
    """A warning finding of a check: reported, and the item still passes."""


class CheckFailed(Exception):
    """An item's findings, one text line each (as `python -m ci` prints them)."""


@contextlib.contextmanager
def working_in(folder: Path) -> Iterator[None]:
    """The checks read the config's relative paths from where they run, as `python -m ci`
    does from the project root (contextlib.chdir is 3.11+)."""
    here = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


class Plan:
    """What `python -m ci` would run from `root` with `config_file`, and the migrations."""

    def __init__(self, root: Path, config_file: Path | None) -> None:
        self.root = root
        if config_file is not None and config_file.resolve().is_relative_to(root.resolve()):
            config_file = config_file.resolve().relative_to(root.resolve())  # as users name it
        self.config_file = config_file
        argv = [] if config_file is None else ["--config", str(config_file)]
        said = io.StringIO()
        with working_in(root), contextlib.redirect_stderr(said):
            try:
                args = parse(build_parser(declared(), None), argv)
                sample = sample_given(args, config_file)
                self.checks = selected_checks(args.checks, sample=sample)
            except SystemExit:  # the config file is unusable: parse said why, in one line
                raise pytest.UsageError(f"migration-guard: {said.getvalue().strip()}") from None
            except ValueError as error:  # an unknown check in `checks:`
                where = f"{config_file}: checks" if config_file else "checks"
                raise pytest.UsageError(f"migration-guard: {where}: {error}") from None
        self.migrations_dir: Path = (root / args.migrations_dir).resolve()
        try:
            self.catalog: Catalog | None = discover(self.migrations_dir)
        except InputError:  # no items per migration; every check will say why it cannot run
            self.catalog = None

    def item_names(self, check: str) -> dict[Path, str]:
        """The resolved file of each migration item of `check`, with the item's name."""
        names: dict[Path, str] = {}
        if self.catalog is None:
            return names
        taken: set[str] = set()

        def add(path: Path, name: str, slug: str) -> None:
            unique = name if name not in taken else f"{name}_{slug}"  # a duplicate number
            taken.add(unique)
            names[path.resolve()] = unique

        migrations = self.catalog.main if check == "rollback_roundtrip" else None
        for m in migrations or self.catalog.all_migrations():
            add(m.path, m.label, m.slug)
        for version, files in sorted(self.catalog.rollbacks.items()):
            for file in files:
                if check == "lint":
                    add(file.path, f"rollback-{version:04d}", file.path.stem)
                elif (owner := self.catalog.by_version(version)) is not None:
                    names[file.path.resolve()] = names.get(owner.path.resolve(), TREE)
        return names


class CheckRuns:
    """Each check's Report, run the first time one of its items asks (once per process)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.names = {check: plan.item_names(check) for check in plan.checks}
        self._reports: dict[str, Report] = {}

    def report(self, check: str) -> Report:
        if check not in self._reports:
            collector = Collector({}, self.plan.config_file)
            with working_in(self.plan.root):
                run_into(check, collector)
            cases = [case for report in collector.reports for case in report.cases]
            self._reports[check] = Report(check, cases)
        return self._reports[check]

    def cases(self, check: str, item: str | None) -> list[Case]:
        """The cases of `check` that item `item` stands for (None: the whole check)."""
        cases = self.report(check).cases
        if item is None:
            return cases
        return [c for c in cases if self._item_of(check, c) in (item, None)]

    def _item_of(self, check: str, case: Case) -> str | None:
        """The item a case belongs to; None: to every item (the check could not run)."""
        if case.error is not None and case.path is None:
            return None
        if case.path is None:
            return TREE
        return self.names[check].get((self.plan.root / case.path).resolve(), TREE)


class CheckItem(pytest.Item):
    """One check (whole-tree) or one check on one migration."""

    def __init__(self, *, check: str, item: str | None, file: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.check = check
        self.item = item
        self.file = file
        self.cases: list[Case] = []
        # where the failure is, for the call's report (FindingLocations); the item's own
        # location is its migration file, fixed before it runs
        self.where: tuple[str, int | None, str] | None = None

    def setup(self) -> None:
        self.cases = self.config.stash[RUNS].cases(self.check, self.item)
        errors = [c.error for c in self.cases if c.error is not None]
        if errors:  # at setup: pytest's ERROR, as JUnit's <error>; the reason, no traceback
            pytest.fail(f"{self.check} could not run: " + "\n".join(errors), pytrace=False)

    def runtest(self) -> None:
        findings = [f for case in self.cases for f in case.findings]
        failed = [f for f in findings if f.is_error]
        if failed:
            self.where = self.finding_location(failed)
            raise CheckFailed("\n".join(text_line(f) for f in failed))
        for finding in findings:
            warn(finding, self.plan_root)
        if not self.cases and self.item != TREE:  # nothing outside the migrations: passed
            pytest.skip(f"{self.check} did not check {self.item} in this run")
        if self.cases and all(case.skipped is not None for case in self.cases):
            pytest.skip(self.cases[0].skipped or f"{self.check}: skipped")

    @property
    def plan_root(self) -> Path:
        return self.config.stash[RUNS].plan.root

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None
    ) -> str | TerminalRepr:
        """A finding is its own text line: no traceback of the plugin."""
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def finding_location(self, findings: list[Finding]) -> tuple[str, int | None, str] | None:
        """The first finding's file and line, as pytest's 0-based report location."""
        first = next((f for f in findings if f.path), None)
        if first is None:
            return None
        line = None if first.line is None else first.line - 1
        return Path(first.path or "").as_posix(), line, self.location[2]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        shown = self.check if self.item is None else f"{self.check} {self.item}"
        return self.file, None, shown


def warn(finding: Finding, root: Path) -> None:
    """A warning finding as a pytest warning located at its file and line (the location leads
    the warnings summary's line, so the message leaves it out)."""
    path = root / finding.path if finding.path else root
    line = text_line(finding)
    if finding.path:
        where = finding.path if finding.line is None else f"{finding.path}:{finding.line}"
        line = line.removeprefix(f"{where}: ")
    warnings.warn_explicit(
        line, MigrationGuardWarning, filename=str(path), lineno=finding.line or 1
    )


class FindingLocations:
    """Registered while the items run: a failing item's report is located at its first
    finding's file and line (what the terminal and JUnit's file/line attributes show)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        where = getattr(item, "where", None)
        if isinstance(item, CheckItem) and where is not None and report.when == "call":
            report.location = where
        return report


class CheckNode(pytest.Collector):
    """A per-migration check: its items are the migrations (and `tree`)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.children: list[pytest.Item | pytest.Collector] = []

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return self.children


class MigrationsNode(CheckNode):
    """The migrations directory: the checks' node, under the session."""


def collect(session: pytest.Session, config_file: Path | None) -> list[pytest.Item]:
    """Every check's items, after the plan was read (a bad config is a usage error)."""
    plan = Plan(session.config.rootpath, config_file)
    runs = session.config.stash[RUNS] = CheckRuns(plan)
    if not session.config.pluginmanager.has_plugin(LOCATIONS):
        session.config.pluginmanager.register(FindingLocations(), LOCATIONS)
    top = MigrationsNode.from_parent(
        session, name=_shown(plan), path=plan.migrations_dir, nodeid=_shown(plan)
    )
    items: list[pytest.Item] = []
    for check in plan.checks:
        if check in WHOLE_TREE:
            item = _item(top, check, check, None, plan.migrations_dir)
            top.children.append(item)
            items.append(item)
        else:
            node, its_items = _check_node(top, check, runs.names[check], plan.migrations_dir)
            top.children.append(node)
            items += its_items
    for collected in (top, *top.children):  # the terminal counts what collect reports say
        if isinstance(collected, CheckNode):
            report = pytest.CollectReport(collected.nodeid, "passed", None, collected.collect())
            session.ihook.pytest_collectreport(report=report)
    return items


def _check_node(
    top: MigrationsNode, check: str, names: dict[Path, str], folder: Path
) -> tuple[CheckNode, list[CheckItem]]:
    """A per-migration check's node: its migrations' items in run order, then `tree`."""
    node = CheckNode.from_parent(top, name=check, path=folder)
    files = {
        name: file for file, name in reversed(names.items())
    }  # a migration before its rollback
    files.pop(TREE, None)  # a rollback of a migration that is missing: under `tree`
    items = [
        _item(node, name, check, name, file)
        for name, file in [*sorted(files.items(), key=_order), (TREE, folder)]
    ]
    node.children += items
    return node, items


def _item(parent: CheckNode, name: str, check: str, item: str | None, file: Path) -> CheckItem:
    return CheckItem.from_parent(parent, name=name, check=check, item=item, file=file, path=file)


def _order(entry: tuple[str, Path]) -> tuple[int, str]:
    """Main track, then seeds, then rollbacks, each by number (as the checks run them)."""
    name = entry[0]
    return ({"seed": 1, "rollback": 2}.get(name.split("-")[0], 0), name)


def _shown(plan: Plan) -> str:
    """The migrations directory as a node id: relative to the rootdir where it is inside."""
    folder = plan.migrations_dir
    if not folder.is_relative_to(plan.root.resolve()):
        return folder.as_posix()
    shown = folder.relative_to(plan.root.resolve()).as_posix()
    return folder.name if shown == "." else shown  # the flat layout, at the rootdir itself
