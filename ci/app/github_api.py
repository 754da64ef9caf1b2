"""A small GitHub REST client on urllib: JSON in and out, bounded retries, the token kept safe.

Standard library only, on purpose: the Action installs nothing for the comment step, and the
four calls it makes (list comments, follow pages, create, update) need no more. Retries are for
what passes on its own: 5xx, 429, a rate-limit 403 (it carries Retry-After or a zero remaining
quota) and network errors; each waits longer (exponential backoff, Retry-After honoured up to a
cap) and the whole is bounded by a number of attempts and a deadline, so a dead API ends the
step in bounded time: the deadline bounds the whole run, reads included (a watchdog shuts the
socket of a server that drips its answer a byte at a time, which no per-read timeout catches).
An answer is read up to MAX_ANSWER bytes only, and one that is too long, not JSON or not of the
expected shape is a bad answer (ApiError), never a traceback. The token goes in an unredirected
header: a redirect to another host never carries it, and no message here ever contains it
(`scrub`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

RETRY_AFTER_CAP = 60.0  # seconds: a longer Retry-After is waited this long, then tried again
REQUEST_TIMEOUT = 20.0  # seconds for one read; the deadline bounds them all
MAX_ANSWER = 10 * 1024 * 1024  # bytes: a page of 100 comments of 65,536 characters is far below


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

    def remaining(self) -> float:
        """Seconds left before the deadline (0 once it has passed)."""
        return max(0.0, self.deadline - (time.monotonic() - self.started))


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
            except BadAnswer as error:  # a server that answers nonsense will not mend by retrying
                raise ApiError(f"{method} {_shown(url)}: {error}") from None
            except (OSError, HTTPException, ValueError) as error:
                problem = f"{method} {_shown(url)}: {self.scrub(_reason(error))}"
                if not retry or not self.policy.wait(attempt, None):
                    raise ApiError(f"{problem} (after {attempt} attempts)") from None
                continue
            if not (retry and retryable(response)):
                return response
            if not self.policy.wait(attempt, retry_after(response)):
                return response

    def scrub(self, text: str) -> str:
        """`text` without the token, whatever library wrote it (a header's repr, say)."""
        return text.replace(self._token, "***") if self._token else text

    def _once(self, method: str, url: str, body: object) -> Response:
        left = self.policy.remaining()
        if left <= 0:
            raise TimeoutError(f"the deadline of {self.policy.deadline:g} s has passed")
        watchdog = Watchdog(left)
        passed = f"the deadline of {self.policy.deadline:g} s has passed"
        try:
            response = self._exchange(method, url, body, watchdog)
        except (OSError, HTTPException, BadAnswer) as error:
            if watchdog.fired:  # whatever broke, the shut socket is why
                raise TimeoutError(passed) from error
            raise
        finally:
            watchdog.cancel()
        if watchdog.fired:  # a read cut short by the shutdown can look like a whole answer
            raise TimeoutError(passed)
        return response

    def _exchange(self, method: str, url: str, body: object, watchdog: Watchdog) -> Response:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "migration-guard")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        handlers = (_Watched(watchdog), _WatchedTLS(watchdog), _ReadsOnlyRedirected())
        opener = urllib.request.build_opener(*handlers)
        timeout = min(REQUEST_TIMEOUT, watchdog.seconds)
        try:
            with opener.open(request, timeout=timeout) as reply:
                return _response(reply.status, dict(reply.headers.items()), _capped(reply))
        except urllib.error.HTTPError as error:
            with error:
                return _response(error.code, dict(error.headers.items()), _capped(error))


class BadAnswer(Exception):
    """The server answered, but not with something to use: too long, not JSON, a wrong shape."""


class Watchdog:
    """Shuts the request's socket down when the deadline passes. A per-read timeout alone lets a
    server that sends one byte a second hold the step for ever; the shutdown ends a blocked read
    at once (it sees the end of the stream) whatever phase the request is in."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to stop
        sock.shutdown(socket.SHUT_RDWR)


class _ReadsOnlyRedirected(urllib.request.HTTPRedirectHandler):
    """A redirected write is not followed: urllib would turn a POST into a GET, whose 200 said
    "comment created" for a comment never made. The 3xx is then the answer (a warning)."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if req.get_method() not in ("GET", "HEAD"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Watched(urllib.request.HTTPHandler):
    """urllib's HTTP handler, with each connection's socket handed to the watchdog."""

    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPConnection, self.watchdog), req)


class _WatchedTLS(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = _connection(http.client.HTTPSConnection, self.watchdog)
        return self.do_open(factory, req, context=getattr(self, "_context", None))


def _connection(base: type[http.client.HTTPConnection], watchdog: Watchdog) -> Any:
    class Connection(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    return Connection


def _capped(reply: Any) -> bytes:
    """The answer's body, at most MAX_ANSWER bytes: a huge answer is refused, not held."""
    raw: bytes = reply.read(MAX_ANSWER + 1)
    if len(raw) > MAX_ANSWER:
        raise BadAnswer(f"the answer is longer than {MAX_ANSWER // (1024 * 1024)} MB")
    left = getattr(reply, "length", None)
    if isinstance(left, int) and left > 0:  # read(n) returns a short body without a word
        raise http.client.IncompleteRead(raw, left)
    return raw


def _response(status: int, headers: dict[str, str], raw: bytes) -> Response:
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        if 200 <= status < 300:  # a success must say what happened: unusable is bad
            raise BadAnswer(f"HTTP {status} but the answer is not JSON ({_kind(error)})") from None
        data = None  # a proxy's HTML error page: the status says enough
    return Response(status, {k.lower(): v for k, v in headers.items()}, data)


def _kind(error: BaseException) -> str:
    return "nested too deeply" if isinstance(error, RecursionError) else type(error).__name__


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
