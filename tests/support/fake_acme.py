"""Loopback ACME CAs for unit tests: one that answers every newAccount with `rateLimited` and
a Retry-After of 120 seconds, the way Let's Encrypt does when over its limits (RFC 8555 §6.6);
one with renewal information; one offering dns-persist-01, checking its records in real DNS."""

from __future__ import annotations

import base64
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dns.message
import dns.query
import dns.rdtypes.ANY.TXT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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


# -- a CA offering dns-persist-01 ---------------------------------------------------------------

_PERSIST = "dns-persist-01"


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _PersistHandler(BaseHTTPRequestHandler):
    """Just enough of an RFC 8555 CA for the order flow with dns-persist-01
    (draft-ietf-acme-dns-persist): each authorization offers that challenge (and dns-01,
    which this CA never finds valid), and answering it makes the CA read
    `_validation-persist.<name>` TXT from the test's DNS server, as a real CA would. JWS
    signatures are not checked: the CA only needs the account URL (`kid`) and the payload."""

    server: _PersistServer

    def log_message(self, *args: object) -> None:
        pass

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Replay-Nonce", "bm9uY2U")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: object, **headers: str) -> None:
        self._send(status, json.dumps(document).encode(), "application/json", **headers)

    def do_HEAD(self) -> None:
        self._send(200, b"", "application/json")

    def do_GET(self) -> None:
        base = self._base()
        directory = {"newNonce": f"{base}/nonce", "newAccount": f"{base}/account",
                     "newOrder": f"{base}/order"}  # fmt: skip
        self._json(200, directory)

    def do_POST(self) -> None:
        jws = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        protected = json.loads(_b64decode(jws["protected"]))
        payload = json.loads(_b64decode(jws["payload"])) if jws["payload"] else None
        kind, _, rest = self.path.strip("/").partition("/")
        with self.server.lock:
            handler = getattr(self, f"_post_{kind}")
            handler(rest, protected.get("kid", ""), payload)

    def _post_account(self, _: str, __: str, ___: object) -> None:
        self._json(201, {"status": "valid"}, Location=f"{self._base()}/account/1")

    def _post_order(self, order_id: str, account: str, payload: dict[str, Any] | None) -> None:
        if order_id:  # POST-as-GET of an order
            self._json(200, self._order(order_id))
            return
        assert payload is not None
        order_id = str(len(self.server.orders))
        names = [identifier["value"] for identifier in payload["identifiers"]]
        self.server.orders.append({"names": names, "account": account, "valid": [], "pem": ""})
        self.server.ordered.append(names)
        self._json(201, self._order(order_id), Location=f"{self._base()}/order/{order_id}")

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.server.orders[int(order_id)]
        base, names = self._base(), order["names"]
        status = "valid" if order["pem"] else (
            "ready" if len(order["valid"]) == len(names) else "pending"
        )  # fmt: skip
        document = {
            "status": status,
            "identifiers": [{"type": "dns", "value": name} for name in names],
            "authorizations": [f"{base}/authz/{order_id}/{i}" for i in range(len(names))],
            "finalize": f"{base}/finalize/{order_id}",
        }
        if order["pem"]:
            document["certificate"] = f"{base}/cert/{order_id}"
        return document

    def _post_authz(self, which: str, _: str, __: object) -> None:
        self._json(200, self._authz(which))

    def _authz(self, which: str) -> dict[str, Any]:
        order_id, index = which.split("/")
        order = self.server.orders[int(order_id)]
        name = order["names"][int(index)]
        base = self._base()
        state = order.get(f"authz-{index}", "pending")
        persist: dict[str, Any] = {
            "type": _PERSIST, "url": f"{base}/chall/{which}/persist", "status": state,
            "issuer-domain-names": list(self.server.issuers),
        }  # fmt: skip
        if state == "invalid":
            persist["error"] = {
                "type": "urn:ietf:params:acme:error:unauthorized",
                "detail": "no _validation-persist record for this account",
            }
        dns01 = {"type": "dns-01", "url": f"{base}/chall/{which}/dns", "status": "pending",
                 "token": "dG9rZW4tdGhhdC1pcy1uZXZlci12YWxpZGF0ZWQ"}  # fmt: skip
        offered = [persist, dns01] if self.server.offer_persist else [dns01]
        return {
            "identifier": {"type": "dns", "value": name.removeprefix("*.")},
            "status": state,
            "challenges": offered,
            **({"wildcard": True} if name.startswith("*.") else {}),
        }

    def _post_chall(self, which: str, account: str, _: object) -> None:
        order_id, index, _kind = which.split("/")
        order = self.server.orders[int(order_id)]
        name = order["names"][int(index)]
        valid = self.server.persist_record_found(name, account)
        order[f"authz-{index}"] = "valid" if valid else "invalid"
        if valid:
            order["valid"].append(index)
        authz = f"{self._base()}/authz/{order_id}/{index}"
        challenge = next(c for c in self._authz(f"{order_id}/{index}")["challenges"]
                         if c["url"].endswith(f"/{_kind}"))  # fmt: skip
        self._json(200, challenge, Link=f'<{authz}>;rel="up"')

    def _post_finalize(self, order_id: str, _: str, payload: dict[str, Any] | None) -> None:
        assert payload is not None
        order = self.server.orders[int(order_id)]
        if len(order["valid"]) != len(order["names"]):
            problem = {"type": "urn:ietf:params:acme:error:orderNotReady", "detail": "not ready"}
            self._send(403, json.dumps(problem).encode(), "application/problem+json")
            return
        order["pem"] = self.server.sign(x509.load_der_x509_csr(_b64decode(payload["csr"])))
        self._json(200, self._order(order_id), Location=f"{self._base()}/order/{order_id}")

    def _post_cert(self, order_id: str, _: str, __: object) -> None:
        pem = self.server.orders[int(order_id)]["pem"]
        self._send(200, pem.encode(), "application/pem-certificate-chain")


class _PersistServer(ThreadingHTTPServer):
    lock: threading.Lock
    orders: list[dict[str, Any]]
    ordered: list[list[str]]
    issuers: tuple[str, ...]
    offer_persist: bool
    nameserver: tuple[str, int]
    ca_key: ec.EllipticCurvePrivateKey
    ca_certificate: x509.Certificate

    def persist_record_found(self, name: str, account: str) -> bool:
        """The draft's check, written here independently of openacm's: a TXT at
        `_validation-persist.<base name>` naming one of this CA's issuer domain names and
        the account, with `policy=wildcard` for a wildcard."""
        owner = f"_validation-persist.{name.removeprefix('*.')}."
        query = dns.message.make_query(owner, "TXT")
        response = dns.query.udp(query, self.nameserver[0], port=self.nameserver[1], timeout=3)
        for rrset in response.answer:
            for rdata in rrset:
                if not isinstance(rdata, dns.rdtypes.ANY.TXT.TXT):
                    continue
                issuer, *fields = (p.strip() for p in b"".join(rdata.strings).decode().split(";"))
                params = dict(field.split("=", 1) for field in fields if "=" in field)
                if (
                    issuer.lower() in self.issuers
                    and params.get("accounturi") == account
                    and (not name.startswith("*.") or params.get("policy") == "wildcard")
                ):
                    return True
        return False

    def sign(self, csr: x509.CertificateSigningRequest) -> str:
        now = datetime.datetime.now(datetime.UTC)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.ca_certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(san, critical=False)
            .add_extension(  # as every public CA's (RFC 9773 renewals identify it by it)
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode()
            for c in (certificate, self.ca_certificate)
        )


class DnsPersistCa:
    """`with DnsPersistCa(nameserver) as ca:` — a CA offering dns-persist-01 (issuer domain
    name `ca.issuer` unless told others), reading the records from the DNS server at
    `nameserver` (host, port); `offer_persist=False` offers dns-01 only. `ca.directory_url`,
    `ca.ordered` (the names of each newOrder), `ca.certificate_pem` (its root)."""

    def __init__(
        self,
        nameserver: tuple[str, int],
        issuers: tuple[str, ...] = ("persist-ca.test",),
        *,
        offer_persist: bool = True,
    ) -> None:
        self.nameserver = nameserver
        self.issuers = issuers
        self.offer_persist = offer_persist

    def __enter__(self) -> DnsPersistCa:
        server = _PersistServer(("127.0.0.1", 0), _PersistHandler)
        server.lock = threading.Lock()
        server.orders, server.ordered = [], []
        server.issuers = self.issuers
        server.offer_persist = self.offer_persist
        server.nameserver = self.nameserver
        server.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Persist Test Root")])
        now = datetime.datetime.now(datetime.UTC)
        server.ca_certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(server.ca_key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(server.ca_key, hashes.SHA256())
        )
        self._server = server
        self.ordered = server.ordered
        self.certificate_pem = server.ca_certificate.public_bytes(serialization.Encoding.PEM)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.directory_url = f"http://127.0.0.1:{server.server_address[1]}/dir"
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
