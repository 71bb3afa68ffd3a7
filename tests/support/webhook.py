"""A real webhook receiver for event tests: an HTTP server in a thread that checks each POST's
X-Openacm-Signature (HMAC-SHA256 of the body) the way a user's receiver would, and keeps what
it accepted. It can be taken down (its port closed) and brought back on the same port, or told
to answer every POST with an error status."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.server import free_port


class WebhookReceiver:
    def __init__(self, secret: str, *, tls: ssl.SSLContext | None = None) -> None:
        self.secret = secret
        self.tls = tls  # serve HTTPS with this context
        self.port = free_port()
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        self.posts = 0
        self.fail_with: int | None = None  # answer every POST with this status
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hooks/acm"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: the sender's connections are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.posts += 1
            if self.fail_with is not None:
                return self.fail_with
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if path != "/hooks/acm" or not hmac.compare_digest(
                expected, headers.get("X-Openacm-Signature", "")
            ):
                self.bad_signatures += 1
                return 401
            self.events.append(json.loads(body))
            self.headers.append(headers)
            return 204

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.received()
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook did not receive what was expected: {events}")
            time.sleep(0.05)


def about(
    arn: str, detail_type: str, action: str | None = None
) -> Callable[[dict[str, Any]], bool]:
    """A predicate: the event is `detail_type` about `arn` (with `action`, if given)."""

    def matches(event: dict[str, Any]) -> bool:
        return (
            event["resources"] == [arn]
            and event["detail-type"] == detail_type
            and (action is None or event["detail"].get("Action") == action)
        )

    return matches
