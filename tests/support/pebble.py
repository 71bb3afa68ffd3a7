"""A real Pebble ACME CA (Debian `pebble`) on 127.0.0.1 for tests: its own ports, its own TLS
certificate (made here, trusted through `ca_bundle`), DNS-01 lookups against the test BIND
server, and a domain blocklist so a test can see the CA refuse a name (rejectedIdentifier).

Use the session fixture `pebble_server` (one per pytest-xdist worker; it needs
`bind_server`). Pebble makes a new root at every start: `root_pem()` fetches it from the
management interface, for verifying the chains it issues.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.bind import IN_CI, BindServer, _die_with_parent

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
ADDRESS = "127.0.0.1"
BLOCKED_DOMAIN = "blocked.openacm-test.com"


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ADDRESS, 0))
        return int(sock.getsockname()[1])


def _self_signed_tls(work_dir: Path) -> tuple[Path, Path]:
    """Pebble's HTTPS certificate for 127.0.0.1/localhost (self-signed: it is its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test listener")])
    now = datetime.datetime.now(datetime.UTC)
    from ipaddress import ip_address

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address(ADDRESS))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = work_dir / "tls.pem", work_dir / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class PebbleServer:
    def __init__(
        self,
        dns_server: str,
        work_dir: Path | None = None,
        *,
        eab_keys: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`eab_keys` (key id → base64url HMAC key) makes external account binding required;
        `env` adds to (or overrides) the PEBBLE_* settings below."""
        self.dns_server = dns_server
        self.eab_keys = dict(eab_keys or {})
        self.env = dict(env or {})
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="openacm-pebble-"))
        self.port = _free_tcp_port()
        self.management_port = _free_tcp_port()
        # Where Pebble's VA sends http-01 requests (a CA's port 80): a test's redirect server.
        self.http_port = _free_tcp_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.ca_bundle = ""

    @property
    def directory_url(self) -> str:
        return f"https://{ADDRESS}:{self.port}/dir"

    @property
    def log(self) -> str:
        path = self.work_dir / "pebble.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 15.0) -> PebbleServer:
        cert, key = _self_signed_tls(self.work_dir)
        self.ca_bundle = str(cert)
        config = {
            "pebble": {
                "listenAddress": f"{ADDRESS}:{self.port}",
                "managementListenAddress": f"{ADDRESS}:{self.management_port}",
                "certificate": str(cert),
                "privateKey": str(key),
                "httpPort": self.http_port,
                # Unused (tls-alpn-01 is never answered), but Pebble wants a port to dial.
                "tlsPort": 5001,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": bool(self.eab_keys),
                "externalAccountMACKeys": self.eab_keys,
                "domainBlocklist": [BLOCKED_DOMAIN],
            }
        }
        (self.work_dir / "pebble.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",  # no random 0-15 s wait before each validation
            "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce: the tests want one path
            "PEBBLE_AUTHZREUSE": "0",  # every order validates afresh, as a renewal must
            # A second root and chain, offered as Link rel="alternate" (preferred_chain).
            "PEBBLE_ALTERNATE_ROOTS": "1",
            **self.env,
        }
        with (self.work_dir / "pebble.log").open("wb") as log:
            self._process = subprocess.Popen(
                [PEBBLE, "-config", str(self.work_dir / "pebble.json"),
                 "-dnsserver", self.dns_server, "-strict"],
                stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent,
            )  # fmt: skip
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"pebble exited:\n{self.log}")
            try:
                self._get(f"https://{ADDRESS}:{self.port}/dir")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pebble did not start:\n{self.log}")

    def _get(self, url: str) -> bytes:
        context = ssl.create_default_context(cafile=self.ca_bundle)
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            body: bytes = response.read()
            return body

    def root_pem(self, index: int = 0) -> bytes:
        """A root Pebble issues under (made at its start): 0 tops the default chain, 1 the
        alternate one."""
        return self._get(f"https://{ADDRESS}:{self.management_port}/roots/{index}")

    def root_name(self, index: int) -> str:
        root = x509.load_pem_x509_certificate(self.root_pem(index))
        return str(root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def certificate_status(self, serial_number: int) -> dict[str, object]:
        """Pebble's view of one certificate it issued ("Status": "Valid" or "Revoked")."""
        body = self._get(
            f"https://{ADDRESS}:{self.management_port}/cert-status-by-serial/{serial_number:x}"
        )
        answer: dict[str, object] = json.loads(body)
        return answer

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def halt(self) -> None:
        """The CA goes down; its files stay (a client's trust bundle among them)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@pytest.fixture(scope="session")
def pebble_server(bind_server: BindServer) -> Iterator[PebbleServer]:
    if not os.access(PEBBLE, os.X_OK):
        reason = f"{PEBBLE} is not installed (apt-get install pebble)"
        if IN_CI:
            pytest.fail(f"CI must run the ACME tests: {reason}")
        pytest.skip(reason)
    server = PebbleServer(bind_server.nameserver_spec).start()
    try:
        yield server
    finally:
        server.stop()
