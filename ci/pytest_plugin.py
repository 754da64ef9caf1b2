"""The pytest plugin (entry point `pytest11`, name `migration_guard`): docs/pytest.md.

- `pytest --migration-guard` (or ini `migration_guard = true`) adds the checks `python -m ci`
  runs as test items (ci.app.pytest_checks); `--migration-guard-config FILE` (or ini
  `migration_guard_config`) names the config file, else `migration-guard.yaml` in the rootdir.
- Fixtures for application tests (ci.app.pytest_databases): `migrated_db(version=None,
  sample=None)` returns the path of a fresh copy of a database the real runner migrated (built
  once per session per version and sample); `migration_runner` steps one database up and down.

Every pytest run of a project that installed migration-guard loads this module, so it imports
nothing of `ci` at the top: with the option off it only registers its options and fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TYPE_CHECKING = False  # typing is imported by pytest already; this keeps the face uniform
if TYPE_CHECKING:
    from ci.app.pytest_databases import MigrationRunner, Project, Templates

DEFAULT_CONFIG = "migration-guard.yaml"  # ci.app.config.DEFAULT_CONFIG, not imported: start-up


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
    from ci.app.pytest_databases import MigrationError, Project

    try:
        return Project(pytestconfig.rootpath, config_file(pytestconfig))
    except MigrationError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def migration_guard_templates(
    migration_guard_project: Project, tmp_path_factory: pytest.TempPathFactory
) -> Templates:
    """The migrated databases of this session, each built once."""
    from ci.app.pytest_databases import Templates

    return Templates(migration_guard_project, tmp_path_factory.mktemp("migration-guard"))


@pytest.fixture
def migrated_db(migration_guard_templates: Templates, tmp_path: Path) -> Callable[..., Path]:
    """`migrated_db(version=None, sample=None)`: the path of this test's own copy of a database
    migrated to `version` (None: the head, and the seeds) from empty or from `sample` (a `.sql`
    fixture or a `.db` file, relative to the rootdir). Raises MigrationError naming the file
    and line when a migration fails."""
    made: list[Path] = []

    def make(version: int | None = None, sample: Path | str | None = None) -> Path:
        to = tmp_path / f"migrated-{len(made)}.db"
        made.append(migration_guard_templates.copy(version, sample, to))
        return to

    return make


@pytest.fixture
def migration_runner(migration_guard_project: Project, tmp_path: Path) -> Iterator[MigrationRunner]:
    """An empty database (`.db`) that the test steps with `.up_to(N)` and `.down_to(N)`: insert
    rows at one version, step over a data migration, assert what it made of them."""
    from ci.app.pytest_databases import MigrationError, MigrationRunner

    try:
        runner = MigrationRunner(migration_guard_project, tmp_path / "migration_runner.db")
    except MigrationError as error:  # the migrations directory cannot be read: one line
        pytest.fail(str(error), pytrace=False)
    yield runner
    runner.close()
