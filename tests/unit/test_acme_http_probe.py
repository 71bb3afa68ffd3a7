"""openacm's own check of an HTTP validation redirect, against real loopback HTTP servers:
the name's web server (redirecting) and a stand-in for openacm's answer at RedirectTo."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openacm.adapters.acme.http01 import RedirectProbe
from openacm.domain.validation import HTTP01_PATH, HTTP01_PROBE
from tests.support.http_redirect import RedirectServer

NAME = "www.example.test"
REDIRECT_FROM = f"http://{NAME}{HTTP01_PATH}"
LABEL = "a" * 32


class _Answers(BaseHTTPRequestHandler):
    """openacm's side: the label at `<label>/openacm.probe`."""

    def do_GET(self) -> None:
        label, _, token = self.path.removeprefix(HTTP01_PATH).partition("/")
        body = label.encode() if token == HTTP01_PROBE else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


class _Dns:
    """The validation resolvers: the name is on loopback."""

    def addresses(self, name: str) -> tuple[str, ...]:
        return ("127.0.0.1",) if name == NAME else ()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def answers() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def web() -> Iterator[RedirectServer]:
    server = RedirectServer("127.0.0.1", _free_port()).start()
    yield server
    server.stop()


def test_the_redirect_is_seen_only_when_it_ends_at_openacms_answer(
    answers: int, web: RedirectServer
) -> None:
    probe = RedirectProbe(_Dns(), port=web.port, timeout=2)  # type: ignore[arg-type]
    redirect_to = f"http://127.0.0.1:{answers}{HTTP01_PATH}{LABEL}/"
    assert not probe.redirected(REDIRECT_FROM, redirect_to)  # no redirect yet: 404

    web.redirect(REDIRECT_FROM, redirect_to, status=301)
    assert probe.redirected(REDIRECT_FROM, redirect_to)

    # To another label: openacm answers, but not this name's.
    web.redirect(REDIRECT_FROM, f"http://127.0.0.1:{answers}{HTTP01_PATH}{'b' * 32}/")
    assert not probe.redirected(REDIRECT_FROM, redirect_to)

    # Through a host that is neither the name nor RedirectTo's: not followed.
    web.redirect(REDIRECT_FROM, f"http://localhost:{answers}{HTTP01_PATH}{LABEL}/")
    assert not probe.redirected(REDIRECT_FROM, redirect_to)


def test_a_name_without_a_web_server_is_not_redirected() -> None:
    probe = RedirectProbe(_Dns(), port=_free_port(), timeout=2)  # type: ignore[arg-type]
    assert not probe.redirected(REDIRECT_FROM, f"http://127.0.0.1:1{HTTP01_PATH}{LABEL}/")
    assert not probe.redirected(
        "http://unknown.example.test/.well-known/acme-challenge/", f"http://127.0.0.1:1/{LABEL}/"
    )
