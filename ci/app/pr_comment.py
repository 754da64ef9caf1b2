"""`python -m ci.app.pr_comment --body FILE` (`migration-guard pr-comment`): post the comment
that `python -m ci --pr-comment FILE` wrote on the pull request, or update the one posted before.

The comment to update is found by the body's first line, the hidden marker, matched at the start
of a comment only (a comment quoting it elsewhere is someone else's) and only among the comments
of the token's own user (`github-actions[bot]`, or `--author`): nothing else is ever changed, and
nothing is deleted. The comment must never fail the job, the checks' verdict decides: a token
without `pull-requests: write` (a pull request from a fork) puts the body in the job summary with
one notice; anything else that goes wrong is one warning. Exit 0 then, and 2 only for a body file
that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ci.app.github_api import (
    ApiError,
    Client,
    Policy,
    Response,
    next_page,
    retry_after,
    retryable,
)
from ci.app.parsers import ArgumentParser
from ci.reports.github import escape_data
from ci.reports.pr_comment import LIMIT, MARKER

DEFAULT_API = "https://api.github.com"
REPOSITORY = re.compile(r"(?!\.+/)[A-Za-z0-9_.-]+/(?!\.+$)[A-Za-z0-9_.-]+")  # not `..`
DEFAULT_AUTHOR = "github-actions[bot]"  # the user behind the job's GITHUB_TOKEN
TOKEN = re.compile(r"[!-~]+")  # printable ASCII, no spaces: what a header can carry
MAX_PAGES = 30  # 100 comments a page: a pull request with more is not searched further
TRUNCATED = "\n\n… (cut to GitHub's comment limit; the job summary has everything)\n"


class Target:
    """Where the comment goes: the API, `owner/name`, the pull request's number."""

    def __init__(self, api: str, repository: str, number: int) -> None:
        self.api = api
        self.repository = repository
        self.number = number

    @property
    def comments(self) -> str:
        return f"/repos/{self.repository}/issues/{self.number}/comments"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        body = args.body.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"pr-comment: {args.body}: cannot read: {_why(error)}", file=sys.stderr)
        return 2
    if not body.startswith(MARKER):
        print(f"pr-comment: {args.body}:1: not a comment from --pr-comment", file=sys.stderr)
        return 2
    repository = args.repo or os.environ.get("GITHUB_REPOSITORY", "")
    if repository and not REPOSITORY.fullmatch(repository):
        # it becomes part of the URL path the token is sent to
        print(f"pr-comment: repository {repository!r} is not owner/name", file=sys.stderr)
        return 2
    return post_safely(body, args)


def post_safely(body: str, args: argparse.Namespace) -> int:
    """`post`, with whatever escapes it said in one warning line without the token: the
    comment never fails the job, and a traceback could print the token."""
    try:
        return post(body, args)
    except Exception as error:  # the last line of defence, on purpose
        said = scrub(f"{type(error).__name__}: {error}", os.environ.get("GITHUB_TOKEN", ""))
        warning(f"could not post the pull-request comment: {said}")
        return 0


def scrub(text: str, token: str) -> str:
    """`text` without the token: as given, stripped, and as Python's repr shows it."""
    for form in {token, token.strip(), repr(token)[1:-1]}:
        if len(form) >= 4:  # a shorter "token" would blank out ordinary words
            text = text.replace(form, "***")
    return text


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(module="ci.app.pr_comment", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--body", type=Path, required=True, help="the comment (python -m ci --pr-comment)"
    )
    p.add_argument("--repo", help="owner/name (default: GITHUB_REPOSITORY)")
    p.add_argument("--pr", type=int, help="pull request number (default: the event's)")
    p.add_argument(
        "--author",
        default=DEFAULT_AUTHOR,
        help=f"login whose comment is updated: the token's user (default: {DEFAULT_AUTHOR})",
    )
    p.add_argument("--attempts", type=int, default=4, help="tries per request (4)")
    p.add_argument("--backoff", type=float, default=2.0, help="first wait in seconds, doubled (2)")
    p.add_argument("--deadline", type=float, default=120.0, help="give up after seconds (120)")
    return p


def post(body: str, args: argparse.Namespace) -> int:
    """Create or update the comment; always 0 (see the module's docstring)."""
    target = target_of(args)
    if target is None:
        notice("not a pull request: no comment posted")
        return 0
    token = os.environ.get("GITHUB_TOKEN", "").strip()  # a token file's CRLF, `$(cat token)`
    if not token:
        return fall_back(body, "no GITHUB_TOKEN in the environment", warn=True)
    if not TOKEN.fullmatch(token):  # never sent: an HTTP header cannot carry it
        why = "GITHUB_TOKEN has spaces, control or non-ASCII characters inside; not sent"
        return fall_back(body, why, warn=True)
    if len(body) > LIMIT:
        body = body[: LIMIT - len(TRUNCATED)] + TRUNCATED
    client = Client(target.api, token, Policy(args.attempts, args.backoff, args.deadline))
    try:
        return upsert(client, target, body, args.author)
    except ApiError as error:
        warning(f"could not post the pull-request comment: {error}")
        return 0


def upsert(client: Client, target: Target, body: str, author: str) -> int:
    marker = body.split("\n", 1)[0]
    attempt = 0
    while True:
        attempt += 1
        found = find(client, target, marker, author)
        if isinstance(found, Response):
            return failed(found, body, "list the comments")
        if found is not None:
            path = f"/repos/{target.repository}/issues/comments/{found}"
            return done(client.call("PATCH", path, {"body": body}), body, "updated")
        # POST is not retried blindly: a reply lost after GitHub made the comment would make a
        # second one. The next attempt looks for it first.
        try:
            created = client.call("POST", target.comments, {"body": body}, retry=False)
        except ApiError:
            if client.policy.wait(attempt, None):
                continue
            raise
        if retryable(created) and client.policy.wait(attempt, retry_after(created)):
            continue
        return done(created, body, "created")


def done(response: Response, body: str, verb: str) -> int:
    if not response.ok:
        return failed(response, body, "create the comment" if verb == "created" else "update it")
    url = response.data.get("html_url", "") if isinstance(response.data, dict) else ""
    print(f"pr-comment: comment {verb} {url}".rstrip())
    return 0


def find(client: Client, target: Target, marker: str, author: str) -> int | Response | None:
    """The id of `author`'s comment that starts with `marker` (the first one), None when there
    is none, or the failed response."""
    url: str | None = f"{target.comments}?per_page=100"
    for _ in range(MAX_PAGES):
        if url is None:
            return None
        page = client.call("GET", url)
        if not page.ok:
            return page
        if not isinstance(page.data, list):  # taken for "no comments", a second one is made
            shown = url.split("?")[0]
            raise ApiError(f"GET {shown}: HTTP {page.status} but not a list of comments")
        for comment in page.data:
            if ours(comment, marker, author):
                return int(comment["id"])
        url = next_page(page)
    if url is not None:
        notice(f"more than {MAX_PAGES} pages of comments: a new comment is posted")
    return None


def ours(comment: object, marker: str, author: str) -> bool:
    """Posted by `author`, and the marker is its whole first line."""
    if not isinstance(comment, dict) or type(comment.get("id")) is not int:  # True is an int
        return False
    user = comment.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    text = comment.get("body")
    if login != author or not isinstance(text, str):
        return False
    return text.split("\n", 1)[0].rstrip("\r") == marker


def failed(response: Response, body: str, doing: str) -> int:
    """403/404: the token may not write here (a fork's pull request): the job summary instead.
    Anything else: a warning. Exit 0 both ways."""
    if response.status in (403, 404):
        why = f"the token may not {doing} ({response.message}); a pull request from a fork?"
        return fall_back(body, why)
    warning(f"could not {doing}: {response.message}")
    return 0


def fall_back(body: str, why: str, *, warn: bool = False) -> int:
    """The comment goes to the job summary, and one line says why."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    where = "the comment is in the job summary"
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as out:
                out.write("\n" + body)
        except OSError as error:
            where = f"the job summary could not be written either: {_why(error)}"
    else:
        where = "no job summary to write it to (GITHUB_STEP_SUMMARY is not set)"
    (warning if warn else notice)(f"no pull-request comment: {why}; {where}")
    return 0


def target_of(args: argparse.Namespace) -> Target | None:
    api = os.environ.get("GITHUB_API_URL") or DEFAULT_API
    repository = args.repo or os.environ.get("GITHUB_REPOSITORY", "")
    number = args.pr if args.pr is not None else event_number()
    if not repository or number is None:
        return None
    return Target(api, repository, number)


def event_number() -> int | None:
    """The pull request's number from the event payload (pull_request, pull_request_target)."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        number = json.loads(Path(path).read_text(encoding="utf-8"))["pull_request"]["number"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return number if isinstance(number, int) else None


def notice(message: str) -> None:
    print(f"::notice title=migration-guard::{escape_data(message)}")


def warning(message: str) -> None:
    print(f"::warning title=migration-guard::{escape_data(message)}")


def _why(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


if __name__ == "__main__":
    raise SystemExit(main())
