"""A small GitHub REST client on urllib: JSON in and out, bounded retries, the token kept safe.

Standard library only, on purpose: the Action installs nothing for the comment step, and the
four calls it makes (list comments, follow pages, create, update) need no more. Retries are for
what passes on its own: 5xx, 429, a rate-limit 403 (it carries Retry-After or a zero remaining
quota) and network errors; each waits longer (exponential backoff, Retry-After honoured up to a
cap) and the whole is bounded by a number of attempts and a deadline, so a dead API ends the
step in bounded time. The token goes in an unredirected header: a redirect to another host never
carries it, and no message here ever contains it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

RETRY_AFTER_CAP = 60.0  # seconds: a longer Retry-After is waited this long, then tried again
REQUEST_TIMEOUT = 20.0  # seconds for one request


class Policy:
    """How hard to try: `attempts` per request, the first wait `backoff` seconds (doubled each
    time), and no waiting past `deadline` seconds from the first request."""

    def __init__(self, attempts: int = 4, backoff: float = 2.0, deadline: float = 120.0) -> None:
        self.attempts = max(1, attempts)
        self.backoff = max(0.0, backoff)
        self.deadline = deadline
        self.started = time.monotonic()
        self.sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, retry_after: float | None) -> bool:
        """Sleep before attempt `attempt + 1`; False when the attempts or the deadline are spent."""
        if attempt >= self.attempts:
            return False
        delay = self.backoff * 2 ** (attempt - 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
        if time.monotonic() - self.started + delay > self.deadline:
            return False
        self.sleep(delay)
        return True


class Response:
    def __init__(self, status: int, headers: dict[str, str], data: Any) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.data = data

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """GitHub's own words for a failure (`Resource not accessible by integration`)."""
        said = self.data.get("message") if isinstance(self.data, dict) else None
        return f"HTTP {self.status}" + (f": {said}" if isinstance(said, str) and said else "")


class ApiError(Exception):
    """The request could not be made at all (network) or kept failing; says which and why."""


class Client:
    def __init__(self, api: str, token: str, policy: Policy) -> None:
        self.api = api.rstrip("/")
        self._token = token
        self.policy = policy

    def __repr__(self) -> str:  # never the token, whatever prints this object
        return f"Client({self.api!r})"

    def call(
        self, method: str, path_or_url: str, body: object = None, *, retry: bool = True
    ) -> Response:
        """One request with retries (one try only with `retry=False`); a response (any status)
        once it is final. ApiError when the network failed every time or the URL is not the
        API's."""
        url = path_or_url if "://" in path_or_url else self.api + path_or_url
        if not same_origin(url, self.api):
            raise ApiError(f"{method} {url}: not on {self.api}; not followed")
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._once(method, url, body)
            except (OSError, HTTPException) as error:
                problem = f"{method} {_shown(url)}: {_reason(error)}"
                if not retry or not self.policy.wait(attempt, None):
                    raise ApiError(f"{problem} (after {attempt} attempts)") from None
                continue
            if not (retry and retryable(response)):
                return response
            if not self.policy.wait(attempt, retry_after(response)):
                return response

    def _once(self, method: str, url: str, body: object) -> Response:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "migration-guard")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as reply:
                return _response(reply.status, dict(reply.headers.items()), reply.read())
        except urllib.error.HTTPError as error:
            with error:
                return _response(error.code, dict(error.headers.items()), error.read())


def _response(status: int, headers: dict[str, str], raw: bytes) -> Response:
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None  # a proxy's HTML error page: the status says enough
    return Response(status, {k.lower(): v for k, v in headers.items()}, data)


def retryable(response: Response) -> bool:
    """5xx, 429, and a 403 that is a rate limit rather than a missing permission."""
    if response.status >= 500 or response.status == 429:
        return True
    limited = response.headers.get("x-ratelimit-remaining") == "0"
    return response.status == 403 and (limited or "retry-after" in response.headers)


def retry_after(response: Response) -> float | None:
    """Retry-After in seconds (GitHub sends seconds), or until x-ratelimit-reset."""
    value = response.headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    reset = response.headers.get("x-ratelimit-reset")
    if reset is not None and response.headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


def next_page(response: Response) -> str | None:
    """The `rel="next"` URL of a Link header, or None on the last page."""
    for part in response.headers.get("link", "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


def same_origin(url: str, api: str) -> bool:
    """The token is only ever sent to the API's own scheme, host and port."""
    a, b = urlsplit(url), urlsplit(api)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and a.scheme in ("http", "https")


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    return str(reason) or type(error).__name__
