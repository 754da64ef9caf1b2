"""Reports under hostile conditions: file names from a pull request, stdout on a full disk,
GitHub's step files unwritable, one report file failing among several. Real processes and
real files (/dev/full is a real device that refuses every write with ENOSPC)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ci.core.findings import Case, Finding, Report
from ci.reports.pr_comment import to_pr_comment
from tests.conftest import FIRST, REPO, M, WriteTree, commit_locked, output, run_in

FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
# what a pull request may name a migration: newlines, HTML, a second marker, a fake verdict
HOSTILE = (
    "0002_a\n\n<!-- migration-guard -->\n\n<details>\n\n### ✅ migration-guard: passed\n\nx.sql"
)
UNDECODABLE = os.fsdecode(b"0002_x\xff.sql")  # legal on Linux; Python holds it as a surrogate


def _comment_of(name: str, *, links: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    for variable, value in (
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "o/r"),
        ("GITHUB_SHA", "abc123"),
    ):
        if links:
            monkeypatch.setenv(variable, value)
        else:
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    found = Finding("lint", "MG501", f"{M}/schema/{name}", 3, f"bad name {name!r}", "rename it")
    return to_pr_comment([Report("lint", [Case("lint", "lint", findings=[found])])])


@pytest.mark.parametrize("links", [False, True], ids=["code-span", "link"])
@pytest.mark.parametrize(
    "name",
    [HOSTILE, "0002_`x`` <b>.sql", "0002_\u202egpj.sql", "0002_a\u2028b\rc\x1b.sql", UNDECODABLE],
    ids=["newlines-html", "backticks", "rtl-override", "separators", "undecodable"],
)
def test_a_file_name_stays_inside_its_item(
    name: str, links: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _comment_of(name, links=links, monkeypatch=monkeypatch)
    lines = body.splitlines()
    assert sum(line.startswith("<!-- migration-guard") for line in lines) == 1, body
    assert "<details>" not in lines and not any(line.startswith("### ✅") for line in lines), body
    items = [line for line in lines if line.startswith("- ")]
    assert len(items) == 1 and "**MG501**" in items[0], body
    assert not any(ch in items[0] for ch in "\r\x1b\u2028\u202e"), items[0]
    body.encode("utf-8")  # no surrogate: the comment can be written and posted


def test_backticks_in_a_name_are_shown_inside_one_code_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _comment_of("0002_`x``.sql", links=False, monkeypatch=monkeypatch)
    assert f"```{M}/schema/0002_`x``.sql:3``` " in body, body


def test_a_newline_in_a_link_is_escaped_in_its_text_and_encoded_in_its_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _comment_of("0002_a\nb.sql", links=True, monkeypatch=monkeypatch)
    assert f"[{M}/schema/0002_a\\\\nb.sql:3](https://github.com/o/r/blob/abc123/" in body, body
    assert "0002_a%0Ab.sql#L3)" in body, body


def test_python_m_ci_comment_holds_a_hostile_name_inert(
    git_repo: Path, write_tree: WriteTree
) -> None:
    write_tree({**FIRST, f"{M}/schema/{HOSTILE}": "CREATE TABLE u (id INT);\n"})
    done = run_in(git_repo, "ci", "--format", "pr-comment")
    assert done.returncode == 1, output(done)
    lines = done.stdout.splitlines()
    assert "<details>" not in lines and "<!-- migration-guard -->" not in lines[1:], done.stdout


def test_format_pr_comment_names_the_config_as_the_file_does(
    git_repo: Path, write_tree: WriteTree
) -> None:
    write_tree({**FIRST, "c2/g.yaml": f"migrations_dir: {M}\n"})
    commit_locked(git_repo, "first")
    env = {"GITHUB_WORKSPACE": str(git_repo)}
    printed = run_in(git_repo, "ci", "--config", "c2/g.yaml", "--format", "pr-comment", **env)
    written = run_in(git_repo, "ci", "--config", "c2/g.yaml", "--pr-comment", "c.md", **env)
    assert printed.returncode == written.returncode == 0, output(printed) + output(written)
    first = (git_repo / "c.md").read_text(encoding="utf-8").splitlines()[0]
    assert first == "<!-- migration-guard: c2/g.yaml -->"
    assert printed.stdout.splitlines()[0] == first
    one = run_in(git_repo, "ci.numbering", "--config", "c2/g.yaml", "--format", "pr-comment", **env)
    assert one.stdout.splitlines()[0] == first, output(one)


def _undecodable_project(write_tree: WriteTree) -> Path:
    root = write_tree(FIRST)
    (root / M / "schema" / UNDECODABLE).write_text("CREATE TABLE u (id INT);\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("fmt", ["sarif", "gitlab", "pr-comment", "json", "text"])
def test_an_undecodable_file_name_in_every_format(
    fmt: str, git_repo: Path, write_tree: WriteTree
) -> None:
    _undecodable_project(write_tree)
    done = subprocess.run(
        [sys.executable, "-m", "ci", "--format", fmt],
        cwd=git_repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    said = done.stdout.decode("utf-8") + done.stderr.decode("utf-8")  # strict: valid UTF-8
    assert done.returncode == 1 and "Traceback" not in said, said
    if fmt in ("sarif", "gitlab", "json"):
        assert "0002_x\\\\xff.sql" in json.dumps(json.loads(done.stdout)), said
    else:
        assert "0002_x\\xff.sql" in said, said


def test_report_files_are_all_written_with_an_undecodable_name(
    git_repo: Path, write_tree: WriteTree
) -> None:
    _undecodable_project(write_tree)
    done = run_in(
        git_repo, "ci", "--sarif", "r.sarif", "--codequality", "r.json", "--pr-comment", "r.md"
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, output(done)
    sarif = json.loads((git_repo / "r.sarif").read_text(encoding="utf-8"))
    uris = [
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in sarif["runs"][0]["results"]
        for location in result.get("locations", [])
    ]
    assert any("0002_x%5Cxff.sql" in uri or "0002_x\\xff.sql" in uri for uri in uris), uris
    assert json.loads((git_repo / "r.json").read_text(encoding="utf-8"))
    assert "0002_x\\xff.sql" in (git_repo / "r.md").read_text(encoding="utf-8")


@needs_dev_full
def test_one_report_file_failing_does_not_stop_the_others(repo: Path) -> None:
    done = run_in(
        repo, "ci", "--sarif", str(FULL), "--codequality", "q.json", "--pr-comment", "c.md"
    )
    assert done.returncode == 2, output(done)
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: --sarif {FULL}: cannot write: No space left on device"
    ), output(done)
    assert json.loads((repo / "q.json").read_text(encoding="utf-8")) == []
    assert (repo / "c.md").read_text(encoding="utf-8").startswith("<!-- migration-guard")


def _to_full(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    with FULL.open("w") as full:
        return subprocess.run(
            [sys.executable, "-m", *command],
            cwd=cwd,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )


@needs_dev_full
@pytest.mark.parametrize("fmt", ["text", "json", "github", "pr-comment", "sarif", "gitlab"])
def test_python_m_ci_on_a_full_stdout_says_one_line_and_exits_2(fmt: str, repo: Path) -> None:
    done = _to_full(repo, "ci", "--format", fmt)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "error: could not write the report to stdout: No space left on device\n"
    ), done.stderr


@needs_dev_full
@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_migrate_on_a_full_stdout_applies_whole_and_exits_2(
    fmt: str, repo: Path, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    done = _to_full(repo, "ci.migrate", "--db", str(db), "--format", fmt)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.endswith(
        "error: could not write the report to stdout: No space left on device\n"
    ), done.stderr
    with sqlite3.connect(db) as connection:  # applied all the same
        assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_unwritable_github_files_are_a_warning_and_the_exit_code_stands(
    repo: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "out"
    done = run_in(repo, "ci", "--format", "github", GITHUB_OUTPUT=str(missing))
    assert done.returncode == 0 and "Traceback" not in done.stderr, output(done)
    assert f"warning: $GITHUB_OUTPUT {missing}: cannot write: No such file or directory" in (
        done.stderr
    )
    done = run_in(repo, "ci", "--format", "github", GITHUB_STEP_SUMMARY=str(tmp_path))
    assert done.returncode == 0 and "Traceback" not in done.stderr, output(done)
    assert f"warning: $GITHUB_STEP_SUMMARY {tmp_path}: cannot write: Is a directory" in (
        done.stderr
    )


@needs_dev_full
def test_migrate_names_the_step_summary_it_could_not_write(repo: Path, tmp_path: Path) -> None:
    done = run_in(
        repo,
        "ci.migrate",
        "--db",
        str(tmp_path / "app.db"),
        "--format",
        "github",
        GITHUB_STEP_SUMMARY=str(FULL),
    )
    assert done.returncode == 0, output(done)
    assert f"migrate: {FULL}: cannot write: No space left on device" in done.stderr
