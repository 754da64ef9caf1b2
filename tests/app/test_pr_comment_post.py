"""`python -m ci.app.pr_comment`: posting and updating the one comment, as a real subprocess
against a local fake of the GitHub REST API (tests/app/fake_github.py) on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.fake_github import BOT, NUMBER, REPOSITORY, TOKEN, State, fake_github
from tests.conftest import REPO

MARKER = "<!-- migration-guard -->"
BODY = f"{MARKER}\n### ✅ migration-guard: passed\n"


@pytest.fixture
def api() -> Iterator[tuple[str, State]]:
    with fake_github() as served:
        yield served


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str], summary: Path) -> None:
        self.code = done.returncode
        self.out = done.stdout
        self.err = done.stderr
        self.summary = summary.read_text(encoding="utf-8") if summary.exists() else ""


def post(
    url: str, tmp_path: Path, body: str = BODY, *args: str, event: object = "pr", **env: str
) -> Run:
    """The poster as the Action runs it: token, API URL, repository and event from the env."""
    (tmp_path / "comment.md").write_text(body, encoding="utf-8")
    payload = {"pull_request": {"number": NUMBER, "head": {"sha": "abc123"}}}
    (tmp_path / "event.json").write_text(json.dumps(payload if event == "pr" else {}), "utf-8")
    summary = tmp_path / "summary.md"
    environment = {
        **os.environ,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_STEP_SUMMARY": str(summary),
        **env,
    }
    command = [sys.executable, "-m", "ci.app.pr_comment", "--body", str(tmp_path / "comment.md")]
    done = subprocess.run(
        [*command, "--backoff", "0.01", *args],
        cwd=REPO, env=environment, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert TOKEN not in done.stdout + done.stderr  # the token is never printed
    assert "Traceback" not in done.stderr, done.stderr
    return Run(done, summary)


def test_created_then_updated_in_place(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    first = post(url, tmp_path)
    assert first.code == 0, first.out + first.err
    assert "comment created" in first.out
    second = post(url, tmp_path, f"{MARKER}\n### ❌ migration-guard: FAILED (1 error)\n")
    assert second.code == 0, second.out + second.err
    assert "comment updated" in second.out
    (comment,) = state.comments  # exactly one comment, with the second body
    assert comment["body"].startswith(f"{MARKER}\n### ❌")
    assert [m for m, _ in state.writes()] == ["POST", "PATCH"]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in state.requests)


def test_the_comment_is_found_on_page_three(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    state.page_size = 2
    for n in range(4):
        state.add(f"review comment {n}", login="alice")
    ours = state.add(f"{MARKER}\nold verdict")
    state.add("after", login="bob")
    run = post(url, tmp_path)
    assert run.code == 0, run.out + run.err
    pages = [p for m, p, _ in state.requests if m == "GET"]
    assert len(pages) == 3 and pages[-1].endswith("page=3")
    assert state.writes() == [("PATCH", f"/repos/{REPOSITORY}/issues/comments/{ours['id']}")]
    assert ours["body"] == BODY


def test_other_comments_are_never_touched(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    other_bot = state.add(f"{MARKER}\nanother tool's comment", login="renovate[bot]")
    quoting = state.add(f"> the bot wrote\n> {MARKER}\nwhy?", login=BOT)
    human = state.add(f"{MARKER}\npasted by a reviewer", login="alice")
    before = json.dumps(state.comments)
    run = post(url, tmp_path)
    assert run.code == 0, run.out + run.err
    assert [m for m, _ in state.writes()] == ["POST"]  # a new comment; nothing else written
    assert json.dumps(state.comments[:3]) == before
    assert [c["id"] for c in state.comments[:3]] == [other_bot["id"], quoting["id"], human["id"]]


def test_a_monorepo_marker_is_another_comment(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    state.add(BODY)
    run = post(url, tmp_path, "<!-- migration-guard: services/db -->\n### ✅ passed\n")
    assert run.code == 0, run.out + run.err
    assert len(state.comments) == 2 and state.comments[0]["body"] == BODY


def test_a_fork_falls_back_to_the_job_summary(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    state.read_only = True
    run = post(url, tmp_path)
    assert run.code == 0, run.out + run.err
    (line,) = run.out.splitlines()  # one line, a notice
    assert line.startswith("::notice title=migration-guard::no pull-request comment")
    assert "Resource not accessible by integration" in line and "fork" in line
    assert BODY in run.summary
    assert state.comments == []


def test_a_server_error_is_retried(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    state.fail = {"GET": [500, 503], "PATCH": [502]}
    state.add(BODY.replace("passed", "old"))
    run = post(url, tmp_path)
    assert run.code == 0, run.out + run.err
    assert "comment updated" in run.out
    assert [m for m, _, _ in state.requests] == ["GET", "GET", "GET", "PATCH", "PATCH"]
    assert state.comments[0]["body"] == BODY


def test_a_lost_reply_to_post_makes_no_second_comment(
    api: tuple[str, State], tmp_path: Path
) -> None:
    url, state = api
    state.lose_reply = {"POST"}  # the comment is made, the reply is a 502
    run = post(url, tmp_path)
    assert run.code == 0, run.out + run.err
    assert len(state.comments) == 1
    assert [m for m, _ in state.writes()] == ["POST", "PATCH"]  # looked again, found it


def test_an_api_that_stays_down_is_given_up(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    state.always = {"GET": 500}
    run = post(url, tmp_path, BODY, "--attempts", "3")
    assert run.code == 0, run.out + run.err  # the comment never fails the job
    (line,) = run.out.splitlines()
    assert line.startswith("::warning title=migration-guard::could not list the comments")
    assert len(state.requests) == 3


def test_retry_after_is_honoured_within_the_deadline(
    api: tuple[str, State], tmp_path: Path
) -> None:
    """A 429 asking for 60 s, with a deadline of 5 s: given up at once, not waited for."""
    url, state = api
    state.always = {"GET": 429}
    state.fail_headers = {"Retry-After": "60"}
    run = post(url, tmp_path, BODY, "--deadline", "5")
    assert run.code == 0 and "::warning" in run.out
    assert len(state.requests) == 1


def test_a_network_error_is_retried_then_warned(tmp_path: Path) -> None:
    with fake_github() as (url, _):
        pass  # served and closed: nothing listens on that port now
    run = post(url, tmp_path, BODY, "--attempts", "2")
    assert run.code == 0
    (line,) = run.out.splitlines()
    assert line.startswith("::warning title=migration-guard::") and "2 attempts" in line


def test_a_bad_token_is_a_warning(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    run = post(url, tmp_path, GITHUB_TOKEN="ghs_wrong_token")
    assert run.code == 0 and state.writes() == []
    assert "ghs_wrong_token" not in run.out + run.err
    assert "::warning title=migration-guard::could not list the comments: HTTP 401" in run.out


def test_not_a_pull_request(api: tuple[str, State], tmp_path: Path) -> None:
    url, state = api
    run = post(url, tmp_path, event="push")
    assert run.code == 0
    assert run.out.startswith("::notice title=migration-guard::not a pull request")
    assert state.requests == []


def test_a_missing_body_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ci.app.pr_comment", "--body", str(tmp_path / "none.md")],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "none.md: cannot read" in line


def test_a_repository_that_is_not_owner_name_is_refused(
    api: tuple[str, State], tmp_path: Path
) -> None:
    url, state = api
    for bad in ("octo/app/../../admin", "../..", "octo/.."):
        run = post(url, tmp_path, BODY, "--repo", bad)
        assert run.code == 2 and "is not owner/name" in run.err, bad
    assert state.requests == []


def test_a_link_to_another_host_is_not_followed(api: tuple[str, State], tmp_path: Path) -> None:
    """The token goes to the API's host only, whatever a Link header says."""
    url, state = api
    state.page_size = 1
    state.add("first", login="alice")
    state.add("second", login="alice")
    with fake_github() as (other_url, other):
        state_url = url
        # the fake names itself in its Link headers: point it at the other server
        from tests.app import fake_github as module

        original = module.Handler._page

        def elsewhere(self: module.Handler, page: int) -> tuple[int, object, dict[str, str]]:
            status, body, headers = original(self, page)
            if "Link" in headers:
                headers["Link"] = headers["Link"].replace(state_url, other_url)
            return status, body, headers

        module.Handler._page = elsewhere  # type: ignore[method-assign]
        try:
            run = post(url, tmp_path)
        finally:
            module.Handler._page = original  # type: ignore[method-assign]
    assert run.code == 0 and "not followed" in run.out
    assert other.requests == [] and state.writes() == []


def answer(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    """A whole HTTP answer, as a broken server or proxy might send it."""
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode("latin-1") + body


def only_a_warning(run: Run, *said: str) -> str:
    """The comment never fails the job: exit 0 and one warning line saying `said`."""
    assert run.code == 0, run.out + run.err
    (line,) = run.out.splitlines()
    assert line.startswith("::warning title=migration-guard::"), line
    assert all(part in line for part in said), line
    return line


@pytest.mark.parametrize("token", [f"{TOKEN}\r", f"{TOKEN}\r\n", f"  {TOKEN}\n"])
def test_a_token_with_a_line_end_is_stripped(
    api: tuple[str, State], tmp_path: Path, token: str
) -> None:
    """A token file with CRLF (`$(cat token)` keeps the \\r) works, and is never printed."""
    url, state = api
    run = post(url, tmp_path, GITHUB_TOKEN=token)
    assert run.code == 0 and "comment created" in run.out, run.out + run.err
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in state.requests)


@pytest.mark.parametrize("inside", ["\r", "\x1b", " ", "\u2019", "\x7f"])
def test_a_token_with_control_chars_inside_is_not_sent(
    api: tuple[str, State], tmp_path: Path, inside: str
) -> None:
    url, state = api
    secret = f"ghp_SECRET{inside}123"
    run = post(url, tmp_path, GITHUB_TOKEN=secret)
    line = only_a_warning(run, "GITHUB_TOKEN has spaces, control or non-ASCII characters")
    assert "SECRET" not in run.out + run.err and "123" not in line
    assert state.requests == [] and BODY in run.summary


def test_a_drip_fed_answer_is_cut_at_the_deadline(api: tuple[str, State], tmp_path: Path) -> None:
    """A byte every 50 ms never trips the per-read timeout; the deadline ends the read."""
    url, state = api
    state.drip = 0.05  # 2000 bytes: 100 s, well past the deadline and near post()'s timeout
    run = post(url, tmp_path, BODY, "--deadline", "1", "--attempts", "1")
    only_a_warning(run, "GET", "comments: the deadline of 1 s has passed")
    assert state.writes() == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"[" * 200_000, "not JSON (nested too deeply)"),  # RecursionError in json
        (b'["\xff"]', "not JSON (UnicodeDecodeError)"),
        (b"<html>proxy</html>", "not JSON (JSONDecodeError)"),
        (b'{"message": "hi"}', "not a list of comments"),
        (b" " * (10 * 1024 * 1024 + 1), "longer than 10 MB"),
    ],
    ids=["deep", "not-utf8", "html", "a-dict", "huge"],
)
def test_a_bad_listing_is_a_warning_not_a_new_comment(
    api: tuple[str, State], tmp_path: Path, body: bytes, said: str
) -> None:
    """A 200 that cannot be used is a bad answer: taken for "no comments yet" it would post a
    second comment; read whole, a huge one costs its size in memory."""
    url, state = api
    state.raw = {"GET": answer(body)}
    only_a_warning(run := post(url, tmp_path), "could not post", said)
    assert state.writes() == [] and run.summary == ""


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]", "IncompleteRead"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", "got more than"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "got more than 100 headers"),
        (b"NOT HTTP AT ALL\r\n\r\n", "BadStatusLine"),
        (b"", "Remote end closed connection"),
    ],
    ids=["incomplete", "line-too-long", "too-many-headers", "bad-status", "closed"],
)
def test_a_broken_answer_is_retried_then_one_warning(
    api: tuple[str, State], tmp_path: Path, raw: bytes, said: str
) -> None:
    url, state = api
    state.raw = {"GET": raw}
    only_a_warning(post(url, tmp_path, BODY, "--attempts", "2"), "(after 2 attempts)")
    assert [m for m, _, _ in state.requests] == ["GET", "GET"]


def test_tls_to_a_plain_server_is_one_warning(api: tuple[str, State], tmp_path: Path) -> None:
    url, _ = api
    run = post(url.replace("http://", "https://"), tmp_path, BODY, "--attempts", "1")
    only_a_warning(run, "could not post", "SSL")


def test_an_api_url_that_cannot_be_parsed_is_one_warning(tmp_path: Path) -> None:
    """The last line of defence: whatever escapes the client is one warning, not a traceback."""
    run = post("http://[::1", tmp_path)
    only_a_warning(run, "could not post the pull-request comment", "ValueError")


def test_scrub_removes_every_form_of_the_token() -> None:
    from ci.app.pr_comment import scrub

    said = f"Invalid header value b'Bearer {TOKEN}\\r' {TOKEN}"
    assert TOKEN not in scrub(said, TOKEN + "\r") and "***" in scrub(said, TOKEN + "\r")
    assert scrub("a b", "") == "a b"  # no token: nothing to remove


def test_a_redirected_create_is_not_taken_for_done(api: tuple[str, State], tmp_path: Path) -> None:
    """urllib turns a redirected POST into a GET: its 200 said "comment created" for nothing."""
    url, state = api
    listing = f"{url}/repos/{REPOSITORY}/issues/{NUMBER}/comments"
    state.raw = {"POST": answer(b"", "302 Found", f"Location: {listing}\r\n")}
    run = post(url, tmp_path)
    only_a_warning(run, "could not create the comment: HTTP 302")
    assert "created" not in run.out and state.comments == []
