"""`--engine` and `--server-url` (declared by ci.checks.options; the checks take them up
later): values parsed by a real argparse parser, the server URL's environment default."""

from __future__ import annotations

import argparse

import pytest

from ci.checks import options


def parser() -> argparse.ArgumentParser:
    built = argparse.ArgumentParser(prog="check", exit_on_error=False)
    options.add_all(built, (options.engine(), options.server_url()))
    return built


def test_engine_is_sqlite_or_postgresql_and_sqlite_by_default() -> None:
    assert parser().parse_args([]).engine == "sqlite"
    assert parser().parse_args(["--engine", "postgresql"]).engine == "postgresql"
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'mysql'"):
        parser().parse_args(["--engine", "mysql"])


@pytest.mark.parametrize(
    "url", ["postgresql://u@h:5432/db", "postgres://u:pw@h/db", "POSTGRESQL://h/db"]
)
def test_server_url_takes_postgresql_urls(url: str) -> None:
    assert parser().parse_args(["--server-url", url]).server_url == url


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/db", "h:5432", "postgresql:/h", ""])
def test_a_server_url_of_another_kind_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(argparse.ArgumentError) as raised:
        parser().parse_args(["--server-url", url])
    assert "expected a URL postgresql://" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_server_url_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(options.SERVER_URL_ENV, "postgresql://ci@db/postgres")
    given = parser().parse_args([]).server_url
    assert given is None  # read when used, not when the parser is built
    assert options.server_url_or_env(given) == "postgresql://ci@db/postgres"
    assert options.server_url_or_env("postgresql://flag@h/d") == "postgresql://flag@h/d"


def test_an_empty_environment_variable_is_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(options.SERVER_URL_ENV, "")
    assert options.server_url_or_env(None) is None
    monkeypatch.delenv(options.SERVER_URL_ENV)
    assert options.server_url_or_env(None) is None
