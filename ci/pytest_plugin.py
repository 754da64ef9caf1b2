"""The pytest plugin (entry point `pytest11`, name `migration_guard`): docs/pytest.md.

- `pytest --migration-guard` (or ini `migration_guard = true`) adds the checks `python -m ci`
  runs as test items (ci.app.pytest_checks); `--migration-guard-config FILE` (or ini
  `migration_guard_config`) names the config file, else `migration-guard.yaml` in the rootdir.
- Fixtures for application tests (ci.app.pytest_databases; ci.app.pytest_pg for a config that
  says `engine: postgresql`): `migrated_db(version=None, sample=None)` returns a fresh copy
  (SQLite: a path; PostgreSQL: a URL) of a database the real runner migrated (built once per
  session per version and sample); `migration_runner` steps one database up and down.

Every pytest run of a project that installed migration-guard loads this module, so it imports
nothing of `ci` at the top: with the option off it only registers its options and fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from ci.app.pytest_databases import MigrationRunner, Project, Templates
    from ci.app.pytest_pg import PgMigrationRunner, PgTemplates

DEFAULT_CONFIG = "migration-guard.yaml"  # ci.app.config.DEFAULT_CONFIG, not imported: start-up
POSTGRESQL = "postgresql"  # the config's `engine:` whose fixtures are ci.app.pytest_pg's


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migration-guard", "migration-guard: migrations as test items")
    group.addoption(
        "--migration-guard",
        action="store_true",
        default=None,
        dest="migration_guard",
        help="run the checks `python -m ci` runs (migration-guard.yaml) as test items",
    )
    group.addoption(
        "--migration-guard-config",
        metavar="FILE",
        default=None,
        dest="migration_guard_config",
        help="the migration-guard config file (default: migration-guard.yaml in the rootdir)",
    )
    parser.addini("migration_guard", "run the migration checks as test items", type="bool")
    parser.addini(
        "migration_guard_config",
        "the migration-guard config file, relative to the rootdir",
        type="string",
        default="",
    )


def enabled(config: pytest.Config) -> bool:
    option = config.getoption("migration_guard")
    return bool(config.getini("migration_guard") if option is None else option)


def config_file(config: pytest.Config) -> Path | None:
    """The command line's file (from where pytest started), the ini's (from the rootdir), or
    migration-guard.yaml in the rootdir when it exists."""
    given: str | None = config.getoption("migration_guard_config")
    if given:
        return config.invocation_params.dir / given
    ini = str(config.getini("migration_guard_config"))
    if ini:
        return config.rootpath / ini
    default = config.rootpath / DEFAULT_CONFIG
    return default if default.is_file() else None


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if enabled(config):
        from ci.app.pytest_checks import collect

        items[:0] = collect(session, config_file(config))


@pytest.fixture(scope="session")
def migration_guard_project(pytestconfig: pytest.Config) -> Project:
    """Where the migrations are, from the migration-guard config file."""
    from ci.app.pytest_databases import Project

    return one_line(lambda: Project(pytestconfig.rootpath, config_file(pytestconfig)))


@pytest.fixture(scope="session")
def migration_guard_server(migration_guard_project: Project) -> str | None:
    """The PostgreSQL server of a project whose config says `engine: postgresql` (None for a
    SQLite one): the config's `server_url:` or $MIGRATION_GUARD_SERVER_URL, reached once."""
    if migration_guard_project.engine != POSTGRESQL:
        return None
    from ci.app.pytest_pg import server_of

    return one_line(lambda: server_of(migration_guard_project))


@pytest.fixture(scope="session")
def migration_guard_templates(
    migration_guard_project: Project,
    migration_guard_server: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Templates | PgTemplates]:
    """The migrated databases of this session, each built once."""
    if migration_guard_server is not None:
        from ci.app.pytest_pg import PgTemplates

        templates = PgTemplates(migration_guard_project, migration_guard_server)
        yield templates
        templates.close()  # the session's end, failed tests or not
        return
    from ci.app.pytest_databases import Templates

    yield Templates(migration_guard_project, tmp_path_factory.mktemp("migration-guard"))


@pytest.fixture
def migrated_db(
    migration_guard_templates: Templates | PgTemplates, tmp_path: Path
) -> Iterator[Callable[..., Path | str]]:
    """`migrated_db(version=None, sample=None)`: this test's own copy of a database migrated
    to `version` (None: the head, and the seeds) from empty or from `sample` (relative to the
    rootdir): SQLite, its path (`sample` a `.sql` fixture or a `.db` file); PostgreSQL, its
    URL (`sample` a `.sql` fixture or a pg_dump archive), dropped after the test. Raises
    MigrationError naming the file and line when a migration fails."""
    templates = migration_guard_templates
    if templates.project.engine == POSTGRESQL:
        pg = cast("PgTemplates", templates)
        with ExitStack() as made:  # this test's copies, dropped also when it failed
            yield lambda version=None, sample=None: pg.copy(version, sample, made)
        return
    sqlite = cast("Templates", templates)
    copies: list[Path] = []

    def make(version: int | None = None, sample: Path | str | None = None) -> Path:
        to = tmp_path / f"migrated-{len(copies)}.db"
        copies.append(sqlite.copy(version, sample, to))
        return to

    yield make


@pytest.fixture
def migration_runner(
    migration_guard_project: Project, migration_guard_server: str | None, tmp_path: Path
) -> Iterator[MigrationRunner | PgMigrationRunner]:
    """An empty database that the test steps with `.up_to(N)` and `.down_to(N)`: insert rows
    at one version, step over a data migration, assert what it made of them. SQLite: `.db`,
    its path; PostgreSQL: `.url`, dropped after the test."""
    with ExitStack() as made:  # its database dropped also when the test failed
        project, server = migration_guard_project, migration_guard_server
        # a migrations directory that cannot be read, a database not made: one line
        runner = one_line(lambda: new_runner(project, server, tmp_path, made))
        made.callback(runner.close)
        yield runner


def new_runner(
    project: Project, server_url: str | None, tmp_path: Path, made: ExitStack
) -> MigrationRunner | PgMigrationRunner:
    """SQLite: a file in the test's folder; PostgreSQL: a throwaway dropped when `made` ends."""
    if server_url is None:
        from ci.app.pytest_databases import MigrationRunner

        return MigrationRunner(project, tmp_path / "migration_runner.db")
    from ci.app.pytest_pg import PgMigrationRunner, fresh

    catalog = project.catalog()
    return PgMigrationRunner(made.enter_context(fresh(server_url)), catalog)


T = TypeVar("T")


def one_line(work: Callable[[], T]) -> T:
    """`work()`; its MigrationError fails the test with that one line (no traceback, and no
    "during handling of the above exception" chain either: pytest.fail is raised after)."""
    from ci.app.pytest_databases import MigrationError

    try:
        return work()
    except MigrationError as error:
        message = str(error)
    pytest.fail(message, pytrace=False)
