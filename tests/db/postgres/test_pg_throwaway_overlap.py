"""A throwaway database created while the caller works (`meanwhile`, ci.db.postgres.throwaway):
the same guarantees as without it. The database is there once both are done; dropped when the
work raises, Ctrl-C included, also a real SIGINT to a real process, with no thread left
running; a CREATE DATABASE the server refuses meanwhile is the same one line as before."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci.db.outcomes import CannotRun
from ci.db.postgres import throwaway as throwaway_module
from ci.db.postgres.throwaway import throwaway
from tests.checks.engines import write
from tests.conftest import MIGRATIONS, REPO
from tests.db.postgres.test_pg_throwaway import database_exists, name_of
from tests.pg import server_url

# The URL's role, for its whole session, is a built-in role without CREATEDB: the server
# refuses the CREATE DATABASE (no role is made or altered for it).
NO_CREATEDB = "options=-c%20role%3Dpg_monitor"

# A child that creates a throwaway with work meanwhile that never ends by itself; it prints the
# database's name (before it exists), then "working" once the work has started (argv[2]
# "created": once the CREATE is done), and waits for the signal.
CHILD = """
import sys, time
from ci.db.postgres import throwaway as module
made = module.new_name
def named():
    name = made()
    print(name, flush=True)
    return name
module.new_name = named
def work(busy):
    while sys.argv[2] == "created" and busy():
        time.sleep(0.01)
    print("working", flush=True)
    time.sleep(120)
with module.throwaway(sys.argv[1], meanwhile=work):
    pass
"""


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the throwaways of this test are given (the real names, recorded)."""
    made: list[str] = []
    real = throwaway_module.new_name

    def recorded() -> str:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(throwaway_module, "new_name", recorded)
    return made


def creating_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, throwaway_module.Creating)]


def until_done(seen: list[bool]) -> Callable[[Callable[[], bool]], None]:
    def work(busy: Callable[[], bool]) -> None:
        while busy():
            time.sleep(0.001)
        seen.append(busy())

    return work


def raising(error: BaseException, when: str) -> Callable[[Callable[[], bool]], None]:
    """Work that raises `error` at once (most likely while the server is still creating the
    database: the CREATE is cancelled) or once it is "created" (the database is dropped)."""

    def work(busy: Callable[[], bool]) -> None:
        while when == "created" and busy():
            time.sleep(0.001)
        raise error

    return work


def test_the_database_is_there_once_the_work_and_the_create_are_done(
    pg_server_url: str,
) -> None:
    seen: list[bool] = []
    with throwaway(pg_server_url, meanwhile=until_done(seen)) as url:
        assert seen == [False]  # the work waited for the CREATE: busy() said when it ended
        assert database_exists(pg_server_url, name_of(url))
        assert not creating_threads()
    assert not database_exists(pg_server_url, name_of(url))


@pytest.mark.parametrize("when", ["at once", "created"])
@pytest.mark.parametrize("error", [RuntimeError("parse"), KeyboardInterrupt()])
def test_the_database_is_dropped_when_the_work_raises(
    error: BaseException, when: str, pg_server_url: str, names: list[str]
) -> None:
    with pytest.raises(type(error)), throwaway(pg_server_url, meanwhile=raising(error, when)):
        pass  # pragma: no cover - never reached
    assert len(names) == 1
    assert not database_exists(pg_server_url, names[0])
    assert not creating_threads()  # the CREATE was stopped and waited for


def test_a_create_refused_while_the_work_runs_is_the_same_one_line(
    pg_server_url: str, names: list[str]
) -> None:
    url = f"{pg_server_url}?{NO_CREATEDB}"
    seen: list[bool] = []
    with pytest.raises(CannotRun) as raised, throwaway(url, meanwhile=until_done(seen)):
        pass  # pragma: no cover - never reached
    with pytest.raises(CannotRun) as before, throwaway(url):  # without work meanwhile
        pass  # pragma: no cover - never reached
    assert seen == [False]
    assert str(raised.value) == str(before.value)
    assert "may not create databases" in str(raised.value) and "\n" not in str(raised.value)
    assert not any(database_exists(pg_server_url, name) for name in names)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        child.kill()
        child.wait()


@pytest.mark.parametrize("when", ["at once", "created"])
def test_ctrl_c_during_the_work_leaves_no_database_and_ends_the_process(
    when: str, pg_server_url: str, children: list[subprocess.Popen[str]]
) -> None:
    # "at once": most likely while the server is still creating it (the CREATE cancelled);
    # "created": after the CREATE, while the work goes on
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, pg_server_url, when],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(child)
    assert child.stdout is not None
    name = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "working", child.communicate()
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)  # no thread keeps it alive
    assert child.returncode != 0 and "KeyboardInterrupt" in stderr, stderr
    assert not database_exists(pg_server_url, name)


def test_a_check_whose_create_is_refused_says_one_line_and_exits_2(tmp_path: Path) -> None:
    root = write(tmp_path, "postgresql", {})
    url = f"{server_url()}?{NO_CREATEDB}"
    command = [sys.executable, "-m", "ci.apply_empty", "--engine", "postgresql",
               "--migrations-dir", str(root / MIGRATIONS), "--server-url", url]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "may not create databases" in lines[0], done.stderr


def test_a_second_ctrl_c_does_not_break_off_the_cleanup() -> None:
    """The first Ctrl-C starts the cleanup (stop the CREATE, drop the database); a second one
    during it broke it off and left the database behind (hostile pass): the cleanup now runs
    to its end, each step again from the start."""
    from ci.db.postgres.throwaway import to_the_end

    calls: list[str] = []

    def cleanup() -> None:
        calls.append("cleanup")
        if len(calls) < 3:
            raise KeyboardInterrupt  # Ctrl-C, twice, while it runs

    to_the_end(cleanup)
    assert calls == ["cleanup", "cleanup", "cleanup"]
