"""What an ACME server fetches to validate http-01 (RFC 8555 §8.3) and tls-alpn-01 (RFC 8737)
challenges: the HTTP resource, and the TLS certificate offered for the `acme-tls/1` protocol.

Both connect to an address the caller looked up (through the installation's validation
resolvers), never to whatever the system resolver says; neither follows redirects.
"""

from __future__ import annotations

import socket
import ssl

import httpx
from cryptography import x509

ACME_TLS_ALPN = "acme-tls/1"
# A key authorization is under 100 bytes; a challenge answer larger than this is not one.
MAX_HTTP01_BODY = 8192


class ChallengeFetchError(Exception):
    """The address could not be reached, or did not speak the protocol as asked."""


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def fetch_http01(address: str, port: int, name: str, token: str, *, timeout: float) -> str:
    """The body of http://<name>/.well-known/acme-challenge/<token>, asked of `address`."""
    url = f"http://{_host(address)}:{port}/.well-known/acme-challenge/{token}"
    try:
        with httpx.stream(
            "GET", url, headers={"Host": name}, timeout=timeout, follow_redirects=False
        ) as answer:
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_HTTP01_BODY:
                    break
            status = answer.status_code
    except httpx.HTTPError as exc:
        raise ChallengeFetchError(f"{url}: {type(exc).__name__}") from exc
    if status != 200:
        raise ChallengeFetchError(f"{url} answered {status}")
    return body[:MAX_HTTP01_BODY].decode("utf-8", "replace")


def fetch_tls_alpn01(address: str, port: int, name: str, *, timeout: float) -> x509.Certificate:
    """The certificate `address` offers for `name` (SNI) over the acme-tls/1 protocol."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is self-signed by design
    context.set_alpn_protocols([ACME_TLS_ALPN])
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            if tls.selected_alpn_protocol() != ACME_TLS_ALPN:
                raise ChallengeFetchError(f"{address}:{port} did not negotiate {ACME_TLS_ALPN}")
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise ChallengeFetchError(f"{address}:{port}: {exc}") from exc
    if der is None:
        raise ChallengeFetchError(f"{address}:{port} offered no certificate")
    return x509.load_der_x509_certificate(der)
