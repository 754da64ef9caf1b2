"""Shared fixtures and helpers: every test runs isolated from the user's HOME and GitHub
environment; the trees, database readers and process runners most test files need are here.

Test files import the plain helpers from here (`from tests.conftest import M, tree, dump`); the
fixtures (`write_tree`, `git_repo`) pytest gives them by name.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ci.db.runner import Runner

REPO = Path(__file__).resolve().parent.parent
# The product's copy of shared/junit; CI clones the repository elsewhere, so never rely on shared/.
_SHARED_XSD = REPO.parent / "shared" / "junit" / "junit-10-ext-file-line.xsd"
_VENDORED_XSD = REPO / "tests" / "data" / "junit-10-ext-file-line.xsd"
JUNIT_XSD = _SHARED_XSD if _SHARED_XSD.is_file() else _VENDORED_XSD

# the PostgreSQL server fixtures (pg_server_url, pg_database_url) and the skip/fail rule
pytest_plugins = ["tests.pg"]


# The real-process suites that take more than a few seconds each, marked `slow` here (one list,
# not a line in each file): `python -m pytest -m "not slow"` is the fast inner loop; the default
# run (and .ci/run) runs them all.
SLOW_SUITES = (
    "tests/e2e/",  # real remotes, real pre-commit (which builds the hook environment), real push
    "tests/app/test_action.py",  # the action's steps, after its install step built a venv
    "tests/app/test_bench_smoke.py",  # the benchmark in quick mode
    "tests/app/test_bad_input.py",  # every check on every kind of bad input, a process each
    "tests/db/test_kill_trials.py",  # kill -9 at random moments, dozens of runs
    "tests/db/test_concurrency.py",  # runners started together, many trials
    "tests/db/test_runner_kill.py",  # two runners at once on 40 migrations
    "tests/db/test_runaway.py",  # runs stopped by their time limits, a second or more each
    "tests/db/test_group_slow.py",  # kill -9 inside groups, grouped runners at once, time limits
    "tests/app/test_pytest_plugin.py",  # real pytest processes on copies of the worked example
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW_SUITES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point HOME and the GitHub files at temp paths so a test never writes outside tmp."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path_factory.getbasetemp() / "pre-commit-cache"))
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "PRE_COMMIT_FROM_REF",
        "PRE_COMMIT_TO_REF",
        "PRE_COMMIT_LOCAL_BRANCH",  # a push without FROM/TO (its root commit) names only these
        "PRE_COMMIT_REMOTE_BRANCH",
        "PRE_COMMIT_REMOTE_NAME",
        "NO_COLOR",
        "FORCE_COLOR",
        "XDG_CACHE_HOME",  # the stat cache goes under the temporary HOME
        "MIGRATION_GUARD_NO_CACHE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    yield


# --- trees -----------------------------------------------------------------------------------

MIGRATIONS = "schema/migrations"  # the default migrations directory, relative to the repository
M = MIGRATIONS  # the short name, for paths written as f-strings
LOCK = "schema/migrations.lock"
# one migration and its rollback: the smallest tree every check passes
FIRST = {
    f"{M}/schema/0001_init.sql": "CREATE TABLE t (a INTEGER);\n",
    f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;\n",
}
# FIRST and a migration on each of the other tracks
TRACKS = {
    **FIRST,
    f"{M}/data/0002_fill.sql": "-- @irreversible backfill\nUPDATE t SET a = 1 WHERE a IS NULL;\n",
    f"{M}/seed/0001_defaults.sql": "INSERT OR IGNORE INTO t VALUES (1);\n",
}
# two tables and their rollbacks, with rows: the runner's base tree (pass it through `tree`)
BASE = {
    "schema/0001_patients.sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);\n",
    "schema/0002_vitals.sql": (
        "CREATE TABLE vitals (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  patient_id INTEGER REFERENCES patients(id),\n"
        "  hr INTEGER\n"
        ");\n"
        "INSERT INTO patients (id, mrn) VALUES (1, 'MRN-1'), (2, NULL);\n"
        "INSERT INTO vitals (patient_id, hr) VALUES (1, 60), (1, 61), (2, 70);\n"
    ),
    "rollback/0001_rollback.sql": "DROP TABLE patients;\n",
    "rollback/0002_rollback.sql": "DROP TABLE vitals;\nDELETE FROM patients;\n",
}


def tree(spec: Mapping[str, str | bytes]) -> dict[str, str | bytes]:
    """{"schema/0001_init.sql": "..."} -> the same files under schema/migrations/."""
    return {f"{MIGRATIONS}/{name}": text for name, text in spec.items()}


def seven(extra: dict[str, str] | None = None) -> dict[str, str | bytes]:
    """Seven schema migrations t1..t7 with their rollbacks (and `extra` files), under M."""
    spec: dict[str, str | bytes] = {}
    for n in range(1, 8):
        spec[f"schema/{n:04d}_t{n}.sql"] = (
            f"CREATE TABLE t{n} (x);\nINSERT INTO t{n} VALUES ({n});\n"
        )
        spec[f"rollback/{n:04d}_rollback.sql"] = f"DROP TABLE t{n};\n"
    return tree(spec | (extra or {}))


WriteTree = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture
def write_tree(tmp_path: Path) -> WriteTree:
    """Write {relative path: text or bytes} under tmp_path/repo and return that root.

    Paths are relative to the repository, e.g. "schema/migrations/schema/0001_init.sql".
    """
    root = tmp_path / "repo"

    def write(files: dict[str, str | bytes]) -> Path:
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        root.mkdir(parents=True, exist_ok=True)
        return root

    return write


# --- processes -------------------------------------------------------------------------------


def run_module(
    module: str,
    *args: str,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m <module> args` as a real process (for exit codes, tracebacks, kill -9).

    `env` adds variables to this process's environment; `timeout` fails a run that hangs."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def run_on_tree(
    module: str,
    root: Path,
    *args: str,
    migrations: str = MIGRATIONS,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m <module> --migrations-dir <root>/<migrations> args`, run in `cwd` (default:
    the tree itself); a run that hangs fails after `timeout` seconds."""
    where = str(root / migrations)
    return run_module(module, "--migrations-dir", where, *args, cwd=cwd or root, timeout=timeout)


def output(done: subprocess.CompletedProcess[str]) -> str:
    """What a process said, on both streams (for assertion messages and searches)."""
    return done.stdout + done.stderr


def run_in(cwd: Path, module: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module> args` in a scratch repository, with this checkout's `ci` and `hooks`
    importable; `env` adds variables."""
    return run_module(module, *args, cwd=cwd, env={"PYTHONPATH": str(REPO), **env})


# --- files and git ---------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    """Run git in a real repository; raise with its output on failure."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty real git repository (branch main) at tmp_path/repo."""
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "commit.gpgsign", "false")
    return root


def write(root: Path, files: Mapping[str, str]) -> None:
    """Write {relative path: text} under an existing directory (a clone, a work tree)."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path, with its bytes: a tree to compare before/after."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def commit_locked(root: Path, message: str) -> str:
    """Update the lock, commit everything; the new commit's id."""
    done = run_in(root, "ci.checksums", "--update")
    assert done.returncode == 0, output(done)
    commit_all(root, message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(git_repo: Path, write_tree: WriteTree) -> Path:
    """A git repository whose main has one commit: FIRST and its lock. (A test file that needs
    another repository defines its own `repo`.)"""
    write_tree(FIRST)
    commit_locked(git_repo, "first migration")
    return git_repo


def clone_of_bare_remote(tmp_path: Path) -> Path:
    """An empty working copy (branch main) at tmp_path/work whose origin is a bare repository
    at tmp_path/remote.git. Made with `git init` + `git remote add`, so there is no
    origin/HEAD until the first push."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "config", "commit.gpgsign", "false")
    git(work, "remote", "add", "origin", str(remote))
    return work


# --- pre-commit ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hook_rev() -> str:
    """This checkout's HEAD: the rev pre-commit installs the hooks from (the committed ones)."""
    return git(REPO, "rev-parse", "HEAD").strip()


# seconds: the first pre-commit call installs the hook environment (pip, sqlfluff)
HOOK_TIMEOUT = 600


def run_with_hooks(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """A command that may run pre-commit and its hooks (git commit, git push, pre-commit)."""
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=HOOK_TIMEOUT,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def pre_commit_config(rev: str, hook_ids: tuple[str, ...]) -> str:
    """A .pre-commit-config.yaml that takes `hook_ids` from this checkout at `rev`."""
    hooks = "".join(f"      - id: {hook_id}\n" for hook_id in hook_ids)
    return f"repos:\n  - repo: {REPO}\n    rev: {rev}\n    hooks:\n{hooks}"


# --- databases -------------------------------------------------------------------------------


# a healthy database: patients and vitals, one row each, every reference resolved
HEALTHY = (
    "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT);"
    "CREATE TABLE vitals (id INTEGER PRIMARY KEY, patient_id INTEGER REFERENCES patients(id));"
    "INSERT INTO patients VALUES (1, 'A');"
    "INSERT INTO vitals VALUES (1, 1);"
)
# the worked example's sample data, for a database at its sample version
EXAMPLE_SAMPLE = REPO / "schema" / "sample" / "sample_data.sql"


def make_db(path: Path, sql: str) -> Path:
    """A database file built by running `sql` as a script (the tool itself never does that)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(sql)
    finally:
        conn.close()
    return path


def load_sample(db: Path) -> None:
    """What a tester does by hand: run sample_data.sql on a database at its sample version."""
    from ci.core.sqltext import split_statements

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        for statement in split_statements(EXAMPLE_SAMPLE.read_text(encoding="utf-8")):
            if statement.code:
                conn.execute(statement.sql)
        conn.execute("COMMIT")
    finally:
        conn.close()


def query(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def dump(db: Path) -> str:
    """The database's .dump, without the append-only attempt log (a failure adds one row)."""
    conn = sqlite3.connect(db)
    try:
        return "\n".join(line for line in conn.iterdump() if "schema_version_log" not in line)
    finally:
        conn.close()


def versions(db: Path) -> list[tuple[str, int]]:
    """(migration_type, version) of each schema_version row, in the order they were written."""
    rows = query(db, "SELECT migration_type, version FROM schema_version ORDER BY rowid")
    return [(str(t), int(str(v))) for t, v in rows]


def log_actions(db: Path) -> list[tuple[str, int | None]]:
    """(action, version) of each schema_version_log row, oldest first."""
    rows = query(db, "SELECT action, version FROM schema_version_log ORDER BY id")
    return [(str(a), None if v is None else int(str(v))) for a, v in rows]


def make_runner(root: Path, db: Path, **options: object) -> tuple[Runner, io.StringIO]:
    """A Runner on `db` for the tree at root/schema/migrations, and what it prints."""
    from ci.core.model import discover
    from ci.db.runner import Runner, connect

    out = io.StringIO()
    conn = connect(db)
    runner = Runner(conn, discover(root / MIGRATIONS), out=out, **options)  # type: ignore[arg-type]
    return runner, out
