"""Retry-After of an ACME CA's error answer reaches the caller (RFC 8555 §6.6: a rateLimited
client must wait as long as told). The CA here is a loopback HTTP server that answers every
newAccount with `rateLimited` and a Retry-After, the way Let's Encrypt does when over limits."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openacm.adapters.acme.client import (
    AcmeClient,
    AcmeFailure,
    new_account_key,
    retry_after_seconds,
)
from openacm.domain.acme import failure_reason


class _RateLimitingCa(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "newNonce": f"{self._base()}/nonce",
                "newAccount": f"{self._base()}/account",
                "newOrder": f"{self._base()}/order",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Replay-Nonce", "bm9uY2U")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(
            {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many accounts"}
        ).encode()
        self.send_response(429)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Replay-Nonce", "bm9uY2Uy")
        self.send_header("Retry-After", "120")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def rate_limiting_ca() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimitingCa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dir"
    finally:
        server.shutdown()
        server.server_close()


def test_a_rate_limited_answer_carries_its_retry_after(rate_limiting_ca: str) -> None:
    client = AcmeClient(rate_limiting_ca, new_account_key())
    with pytest.raises(AcmeFailure) as refused:
        client.register(["mailto:ops@example.com"])
    assert refused.value.transient
    assert refused.value.retry_after == 120.0
    assert failure_reason(refused.value.problem_type) == "OTHER"


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
    assert retry_after_seconds("30", now=now) == 30.0
    assert retry_after_seconds("Fri, 04 Dec 2026 12:01:00 GMT", now=now) == 60.0
    assert retry_after_seconds("Fri, 04 Dec 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None
