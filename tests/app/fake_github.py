"""A local fake of the GitHub REST endpoints the pull-request comment uses, on loopback.

Issue comments only: list (paginated with Link headers, `page_size` per page whatever
per_page says), create, update. It checks the token, lets a token's user edit only their own
comments (as the job's GITHUB_TOKEN can), plays a read-only token (a fork's pull request: 403 on
writes), and fails on request with scripted statuses (`fail`), so retries can be counted, or
like a broken server (`raw`: a whole answer as bytes; `drip`: a body a byte at a time). Every
request is recorded (method, path, the Authorization header) for the tests to assert on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghs_fakeTOKEN0123456789secret"
BOT = "github-actions[bot]"
REPOSITORY = "octo/app"
NUMBER = 7


class State:
    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.page_size = 30
        self.read_only = False  # a fork's token: pull-requests: read
        self.fail: dict[str, list[int]] = {}  # method -> statuses to answer first, in order
        self.always: dict[str, int] = {}  # method -> status answered every time
        self.fail_headers: dict[str, str] = {}  # sent with the scripted failures (Retry-After)
        self.lose_reply: set[str] = set()  # method: do the work, then answer 502 (once)
        self.raw: dict[str, bytes] = {}  # method -> a whole HTTP answer written as it is
        self.drip = 0.0  # seconds between the bytes of a 200 answer that never ends in time
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Authorization)
        self.next_id = 1000
        self.lock = threading.Lock()

    def add(self, body: str, login: str = BOT) -> dict[str, Any]:
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
            "html_url": f"https://github.example/{REPOSITORY}/pull/{NUMBER}#c{self.next_id}",
        }
        self.next_id += 1
        self.comments.append(comment)
        return comment

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m in ("POST", "PATCH", "DELETE")]


class Handler(BaseHTTPRequestHandler):
    state: State
    server_url: str

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length)) if length else None
        with state.lock:
            state.requests.append((method, self.path, self.headers.get("Authorization", "")))
            raw = state.raw.get(method)
        if raw is not None or state.drip:
            return self._misbehave(raw)  # outside the lock: a drip holds its thread a while
        with state.lock:
            scripted = state.fail.get(method)
            status = scripted.pop(0) if scripted else state.always.get(method)
            if status is not None:
                return self._reply(status, {"message": "scripted failure"}, state.fail_headers)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._reply(401, {"message": "Bad credentials"})
            status, body, headers = self._route(method, payload)
            if method in state.lose_reply and status < 300:
                state.lose_reply.discard(method)
                return self._reply(502, {"message": "Bad Gateway"})
        self._reply(status, body, headers)

    def _misbehave(self, raw: bytes | None) -> None:
        """A broken server: `raw` as it is, or a 200 whose body comes a byte at a time."""
        self.close_connection = True
        if raw is not None:
            self.wfile.write(raw)
            return
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n")
        for _ in range(2000):  # bounded: 2000 bytes, then it stops by itself
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return  # the client hung up: what the test wants
            time.sleep(self.state.drip)

    def _route(self, method: str, payload: Any) -> tuple[int, Any, dict[str, str]]:
        url = urlsplit(self.path)
        listing = f"/repos/{REPOSITORY}/issues/{NUMBER}/comments"
        if url.path == listing and method == "GET":
            return self._page(int(parse_qs(url.query).get("page", ["1"])[0]))
        if self.state.read_only and method != "GET":
            return 403, {"message": "Resource not accessible by integration"}, {}
        if url.path == listing and method == "POST":
            return 201, self.state.add(payload["body"]), {}
        prefix = f"/repos/{REPOSITORY}/issues/comments/"
        if url.path.startswith(prefix) and method == "PATCH":
            return self._update(int(url.path[len(prefix) :]), payload["body"])
        return 404, {"message": "Not Found"}, {}

    def _page(self, page: int) -> tuple[int, Any, dict[str, str]]:
        size = self.state.page_size
        items = self.state.comments[(page - 1) * size : page * size]
        headers = {}
        if page * size < len(self.state.comments):
            path = f"/repos/{REPOSITORY}/issues/{NUMBER}/comments"
            headers["Link"] = f'<{self.server_url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return 200, items, headers

    def _update(self, comment_id: int, body: str) -> tuple[int, Any, dict[str, str]]:
        for comment in self.state.comments:
            if comment["id"] == comment_id:
                if comment["user"]["login"] != BOT:  # not the token's own comment
                    return 403, {"message": "Resource not accessible by integration"}, {}
                comment["body"] = body
                return 200, comment, {}
        return 404, {"message": "Not Found"}, {}

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def fake_github() -> Iterator[tuple[str, State]]:
    """(the API's base URL, its state), served from a thread while the block runs."""
    state = State()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = type("Bound", (Handler,), {"state": state, "server_url": url})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url, state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
