"""A real HTTP server standing for the web servers of names validated by HTTP: for each name
the test registers, it answers every request under `/.well-known/acme-challenge/` with a
redirect (301 or 302) to the same path under the name's RedirectTo, as a user's one-time
redirect rule does. Requests for other names get 404."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openacm.domain.validation import HTTP01_PATH, HTTP01_PROBE


class RedirectServer:
    def __init__(self, address: str, port: int) -> None:
        self.targets: dict[str, tuple[str, int]] = {}  # host → (RedirectTo, status)
        self.requests: list[str] = []  # "host path" of each request, for the test to read
        self.wrong: set[str] = set()  # hosts answering the CA's requests wrongly
        self.port = port
        self._server = ThreadingHTTPServer((address, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def redirect(
        self, redirect_from: str, redirect_to: str, status: int = 302, *, probe_only: bool = False
    ) -> None:
        """Redirect the name's challenge paths to `redirect_to`; with `probe_only`, only
        openacm's probe, every other path answered here with a wrong key authorization (a
        misconfigured server: openacm's check passes, the CA's fails)."""
        host = redirect_from.removeprefix("http://").split("/", 1)[0]
        self.targets[host.lower()] = (redirect_to, status)
        if probe_only:
            self.wrong.add(host.lower())

    def start(self) -> RedirectServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                server.requests.append(f"{host} {self.path}")
                target = server.targets.get(host)
                if target is None or not self.path.startswith(HTTP01_PATH):
                    self.send_error(404)
                    return
                redirect_to, status = target
                if host in server.wrong and not self.path.endswith(HTTP01_PROBE):
                    body = b"not-the-key-authorization"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(status)
                self.send_header("Location", redirect_to + self.path.removeprefix(HTTP01_PATH))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        return Handler
