"""Shared fixtures: every test runs isolated from the user's HOME and GitHub environment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The product's copy of shared/junit; CI clones the repository elsewhere, so never rely on shared/.
_SHARED_XSD = REPO.parent / "shared" / "junit" / "junit-10-ext-file-line.xsd"
_VENDORED_XSD = REPO / "tests" / "data" / "junit-10-ext-file-line.xsd"
JUNIT_XSD = _SHARED_XSD if _SHARED_XSD.is_file() else _VENDORED_XSD


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
        "NO_COLOR",
        "FORCE_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    yield


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


def run_module(
    module: str, *args: str, cwd: Path | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -m <module> args` as a real process (for exit codes, tracebacks, kill -9)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        check=check,
    )
