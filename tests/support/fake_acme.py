"""A loopback ACME CA that answers every newAccount with `rateLimited` and a Retry-After of
120 seconds, the way Let's Encrypt does when over its limits (RFC 8555 §6.6)."""

from __future__ import annotations

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _RateLimitingHandler(BaseHTTPRequestHandler):
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


class RateLimitingCa:
    """`with RateLimitingCa() as directory_url:` — the CA runs inside the block."""

    def __enter__(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimitingHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/dir"

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _RenewalInfoHandler(BaseHTTPRequestHandler):
    """Just enough of a CA for ACME Renewal Information: a directory with `renewalInfo`,
    nonces, newAccount, and each certificate's renewal window (suggested in the past: the CA
    wants it renewed now). The identifiers asked about are kept in `server.asked`."""

    def log_message(self, *args: object) -> None:
        pass

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _json(self, status: int, document: object, **headers: str) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Replay-Nonce", "bm9uY2U")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        base = self._base()
        if self.path.startswith("/renewal-info/"):
            self.server.asked.append(self.path.removeprefix("/renewal-info/"))  # type: ignore[attr-defined]
            now = datetime.datetime.now(datetime.UTC)
            window = {
                "start": (now - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self._json(200, {"suggestedWindow": window}, **{"Retry-After": "21600"})
            return
        self._json(
            200,
            {
                "newNonce": f"{base}/nonce",
                "newAccount": f"{base}/account",
                "newOrder": f"{base}/order",
                "revokeCert": f"{base}/revoke",
                "renewalInfo": f"{base}/renewal-info",
            },
        )

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Replay-Nonce", "bm9uY2U")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._json(201, {"status": "valid"}, Location=f"{self._base()}/account/1")


class RenewalInfoCa:
    """`with RenewalInfoCa() as ca:` — `ca.directory_url`, and `ca.asked`: the certificate
    identifiers whose renewal information was fetched."""

    def __enter__(self) -> RenewalInfoCa:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RenewalInfoHandler)
        self.asked: list[str] = []
        self._server.asked = self.asked  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.directory_url = f"http://127.0.0.1:{self._server.server_address[1]}/dir"
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
