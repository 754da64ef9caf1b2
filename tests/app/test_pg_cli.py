"""PostgreSQL through the whole product: `engine: postgresql` in the config file, a check that
cannot run on it saying so, `python -m ci --if-server-reachable`, and the worked PostgreSQL
example through the runner and the database commands on the real server."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ci.__main__ import main as run_all
from ci.app import server_probe
from ci.app.cli import refuse_engine
from ci.app.config import ConfigError
from ci.app.registry import ENGINE_INDEPENDENT
from ci.checksums import main as checksums
from ci.migrate import main as migrate
from ci.numbering import main as numbering
from ci.postcheck import main as postcheck
from ci.precheck import main as precheck
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "postgresql"
CONFIG = EXAMPLE / "migration-guard.yaml"
MIGRATIONS = EXAMPLE / "migrations"
UNREACHABLE = "postgresql://postgres:s3cret@127.0.0.1:1/postgres"
ENV = "MIGRATION_GUARD_SERVER_URL"


def parser_of(check: str, *, engine: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ci.{check}")
    if engine:
        parser.add_argument("--engine")
    return parser


def test_a_check_without_the_engine_refuses_a_postgresql_project_naming_the_key() -> None:
    with pytest.raises(ConfigError) as refused:
        refuse_engine(parser_of("apply_empty", engine=False), "apply_empty", "postgresql", CONFIG)
    assert str(refused.value) == (
        f"{CONFIG}: engine: postgresql: not available on postgresql in this version (SQLite only)"
    )
    with pytest.raises(ConfigError, match=r"^--engine postgresql: "):
        refuse_engine(parser_of("apply_empty", engine=False), "apply_empty", "postgresql", None)


@pytest.mark.parametrize(
    ("check", "engine", "takes_engine"),
    [
        ("apply_empty", "sqlite", False),
        ("apply_empty", None, False),
        ("lint", "postgresql", True),
        ("migrate", "postgresql", False),  # not a check: its database says the engine
        ("new", "postgresql", False),
        *[(name, "postgresql", False) for name in ENGINE_INDEPENDENT],
    ],
)
def test_what_runs_on_any_engine_is_not_refused(
    check: str, engine: str | None, takes_engine: bool
) -> None:
    refuse_engine(parser_of(check, engine=takes_engine), check, engine, CONFIG)


def test_the_file_checks_accept_the_example_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    config = ["--config", str(CONFIG.relative_to(REPO))]
    assert numbering(config) == 0
    assert checksums(config) == 0
    assert "engine" not in capsys.readouterr().err


def test_the_runner_takes_the_example_config(
    pg_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    config = ["--config", str(CONFIG.relative_to(REPO)), "--database-url", pg_database_url]
    assert migrate(config) == 0
    assert migrate([*config, "--status"]) == 0
    assert "engine" not in capsys.readouterr().err


def test_the_runner_refuses_a_sqlite_file_for_a_postgresql_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--db x.db` in a project whose config says `engine: postgresql` would run PostgreSQL
    migrations on a new SQLite file (a newcomer did: a syntax error at the first SET); it is
    refused in one line before anything is created."""
    monkeypatch.chdir(REPO)
    db = tmp_path / "oops.db"
    with pytest.raises(SystemExit) as stopped:
        migrate(["--config", str(CONFIG.relative_to(REPO)), "--db", str(db)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "the config file says engine: postgresql: give --database-url" in err
    assert not db.exists()


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository, with no server URL in the environment."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv(ENV, raising=False)


def test_if_server_reachable_without_a_url_skips_in_one_line(
    no_server: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    junit = tmp_path / "j.xml"
    assert run_all(["--config", str(CONFIG), "--if-server-reachable", "--junit", str(junit)]) == 0
    said = capsys.readouterr()
    assert said.err.count("\n") == 1, said.err
    assert "skipped the checks that need a PostgreSQL server (apply_empty, apply_sample, " \
        "rollback_roundtrip) of" in said.err  # fmt: skip
    assert f"no server URL (--server-url or ${ENV})" in said.err
    # what reads only the files still runs (a newcomer's lint was skipped with the rest)
    assert "OK numbering: 1 passed" in said.out and "3 skipped" in said.out, said.out
    report = junit.read_text()
    assert 'name="numbering"' in report and 'skipped="3"' in report, report  # and say so
    assert "skipped 1 in apply_empty: no server URL" in said.out, said.out


def test_if_server_reachable_without_the_extra_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lint needs the extra too: with a URL or without, nothing runs (it failed without one)."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(server_probe, "extra_installed", lambda: False)
    for url in (None, UNREACHABLE):
        if url is None:
            monkeypatch.delenv(ENV, raising=False)
        else:
            monkeypatch.setenv(ENV, url)
        assert run_all(["--config", str(CONFIG), "--if-server-reachable"]) == 0
        said = capsys.readouterr()
        assert said.out == "" and "the postgresql extra is not installed" in said.err, said


def test_if_server_reachable_in_the_config_file_is_a_key_of_python_m_ci(
    no_server: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """It made every check refuse the file ("unknown key")."""
    config = tmp_path / "mg.yaml"
    config.write_text(CONFIG.read_text() + "if_server_reachable: true\n", encoding="utf-8")
    migrations = REPO / "examples/postgresql/migrations"
    assert run_all(["--config", str(config), "--migrations-dir", str(migrations)]) == 0
    said = capsys.readouterr()
    assert "OK numbering, checksums, lint" in said.out or "numbering: 1 passed" in said.out, said
    assert "unknown key" not in said.err, said.err


def test_if_server_reachable_with_only_server_free_checks_says_nothing(
    no_server: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(CONFIG), "--if-server-reachable", "--checks", "numbering"]
    assert run_all(argv) == 0
    assert capsys.readouterr().err == ""


def test_if_server_reachable_with_only_server_checks_runs_nothing(
    no_server: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(CONFIG), "--if-server-reachable", "--checks", "apply_empty"]
    assert run_all(argv) == 0
    said = capsys.readouterr()
    assert said.out == "" and "(apply_empty)" in said.err


def test_if_server_reachable_with_a_server_that_does_not_answer_skips_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(ENV, UNREACHABLE)
    assert run_all(["--config", str(CONFIG), "--if-server-reachable"]) == 0
    said = capsys.readouterr()
    err = said.err
    assert err.count("\n") == 1 and "cannot connect" in err and "s3cret" not in err
    assert "OK numbering: 1 passed" in said.out and "OK lint:" in said.out, said.out


def test_without_the_option_a_server_that_does_not_answer_is_not_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(ENV, UNREACHABLE)
    run_all(["--config", str(CONFIG), "--checks", "numbering"])
    assert "skipped" not in capsys.readouterr().err


def test_if_server_reachable_changes_nothing_on_sqlite(
    no_server: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", "schema/migration-guard.yaml", "--checks", "numbering"]
    assert run_all([*argv, "--if-server-reachable"]) == 0
    assert "OK numbering" in capsys.readouterr().out


@pytest.mark.postgresql
def test_if_server_reachable_runs_the_checks_when_the_server_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pg_server_url: str
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(ENV, pg_server_url)
    argv = ["--config", str(CONFIG), "--checks", "numbering,checksums,lint"]
    assert run_all([*argv, "--if-server-reachable"]) == 0
    captured = capsys.readouterr()
    assert "skipped" not in captured.err
    assert "OK numbering, checksums, lint" in captured.out


def test_the_example_is_linted_with_the_postgres_dialect(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    assert run_all(["--config", str(CONFIG), "--checks", "lint"]) == 0
    out = capsys.readouterr().out
    assert "cannot parse" not in out and "dialect sqlite" not in out


def test_the_example_through_the_runner_and_the_database_commands(
    pg_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--database-url", pg_database_url]
    assert migrate([*url, "--migrations-dir", str(MIGRATIONS)]) == 0
    assert "OK: database at 0008 (head 0008, seeds seed-0001..seed-0002)" in capsys.readouterr().out
    assert precheck(url) == 0
    invariants = ["--invariants", str(EXAMPLE / "invariants.sql")]
    assert postcheck([*url, "--expect-version", "8", *invariants]) == 0
    lock = ["--lock", str(EXAMPLE / "migrations.lock")]
    assert checksums([*url, "--migrations-dir", str(MIGRATIONS), *lock]) == 0
    capsys.readouterr()
    assert migrate([*url, "--migrations-dir", str(MIGRATIONS), "--rollback", "1"]) == 0
    assert postcheck([*url, "--expect-version", "0"]) == 0
