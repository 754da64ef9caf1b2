"""Which files a PostgreSQL check parses ahead while the server creates its throwaway database
(ci.checks.pg_engine.throwaway_connection, `ahead`): those it runs, in the order it first runs
them. The checks run in this process through their `main`; the real parse_ahead is called,
its arguments recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from ci import apply_empty, apply_sample, rollback_roundtrip
from ci.core.model import SqlFile
from ci.db.postgres import parse_ahead as parse_ahead_module
from tests.checks.engines import engine_args, write
from tests.conftest import MIGRATIONS

PG = "postgresql"
ORDER = [
    "schema/0001_patients.sql",
    "rollback/0001_rollback.sql",
    "schema/0002_vitals.sql",
    "rollback/0002_rollback.sql",
]


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Per throwaway database, the files parsed ahead (relative to the migrations dir)."""
    calls: list[list[str]] = []
    real = parse_ahead_module.parse_ahead

    def recorded(files: Iterable[SqlFile], busy: Callable[[], bool], **options: int) -> int:
        files = list(files)
        calls.append([Path(f.location).relative_to(root_of(f)).as_posix() for f in files])
        return real(files, busy, **options)

    monkeypatch.setattr(parse_ahead_module, "parse_ahead", recorded)
    return calls


def root_of(file: SqlFile) -> Path:
    return Path(file.location).parent.parent


def run(main: Callable[[list[str]], int], root: Path, *args: str) -> int:
    return main(["--migrations-dir", str(root / MIGRATIONS), *engine_args(PG), *args])


def test_apply_empty_parses_its_migrations_ahead_in_order(
    tmp_path: Path, asked: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(apply_empty.main, write(tmp_path, PG, {})) == 0, capsys.readouterr()
    assert asked == [[name for name in ORDER if name.startswith("schema/")]]


def test_apply_sample_parses_every_migration_it_may_run(
    tmp_path: Path, asked: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, PG, {})
    assert run(apply_sample.main, root, "--sample", str(root / "sample.sql")) == 0, (
        capsys.readouterr()
    )
    assert asked == [[name for name in ORDER if name.startswith("schema/")]]


def test_the_round_trip_parses_each_migration_then_its_rollback(
    tmp_path: Path, asked: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, PG, {})
    done = run(rollback_roundtrip.main, root, "--jobs", "1", "--sample", str(root / "sample.sql"))
    assert done == 0, capsys.readouterr()
    assert asked == [ORDER, ORDER]  # the empty database's part, then the sample's
