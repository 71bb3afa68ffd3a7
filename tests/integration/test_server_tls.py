"""The server's own TLS certificate, issued by the builtin CA, as operators and clients meet it.

A fresh install that listens beyond loopback (or is told `--self-tls`) speaks HTTPS at once;
clients verify it with the root that `openacm ca bundle` prints; every worker and every
restart present the same certificate until it is renewed, and a running server presents the
renewed one without a restart. Its key is never on disk in clear.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.server import NO_RETRIES, OPENACM, REPO, free_port

ISSUED = "issued the server's TLS certificate"
LOADED = "serving the server's TLS certificate"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENACM_", "AWS_"))}
    env.update(extra)
    return env


def _openacm(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*OPENACM, *args, "--data-dir", str(data_dir)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.stderr}"
    return done


def _fetch_root(data_dir: Path, into: Path) -> Path:
    into.write_text(_openacm("ca", "bundle", data_dir=data_dir).stdout)
    return into


@dataclass
class TlsServer:
    """`openacm serve` speaking HTTPS with its self-issued certificate."""

    data_dir: Path
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"serve-{self.port}.log"

    def start(self, probe_root: Path | None) -> TlsServer:
        """Start and wait until /readyz answers over TLS, its chain verified by `probe_root` if
        given (not its names: tests check those themselves)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *OPENACM,
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    *self.args,
                ],
                stdout=log,
                stderr=log,
                # Checks every half second, so a renewal shows within a test's patience.
                env=_env(OPENACM_ISSUANCE_SERVER_TLS_CHECK_SECONDS="0.5", **self.env),
                cwd=REPO,
            )
        deadline = time.monotonic() + 60  # parallel test workers make starts slow
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}:\n{self.log()}")
            try:
                verify: Any = False
                if probe_root:
                    verify = _verifying(probe_root)
                    verify.check_hostname = False
                url = f"https://127.0.0.1:{self.port}/readyz"
                if httpx.get(url, verify=verify, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()  # no test owns it yet: leave nothing listening behind
        raise AssertionError(f"serve did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self, message: str) -> list[dict[str, Any]]:
        records = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("message") == message:
                    records.append(record)
        return records


def _verifying(root: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(root))


def _served_certificate(
    port: int, context: ssl.SSLContext, server_hostname: str = "localhost"
) -> x509.Certificate:
    """The certificate a new TLS connection to 127.0.0.1:port is given (and has verified)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _poll(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _verify_failure(call: Callable[[], Any]) -> str:
    with pytest.raises(Exception) as failed:
        call()
    return repr(failed.value) + repr(failed.value.__context__)


@dataclass
class Installation:
    data_dir: Path
    root: Path
    server: TlsServer


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """A fresh install: `ca bundle` first (which creates the CA), then two workers on
    127.0.0.1 with --self-tls for the name localhost."""
    base = tmp_path_factory.mktemp("server-tls")
    data_dir = base / "data"
    root = _fetch_root(data_dir, base / "root.pem")
    server = TlsServer(
        data_dir, ["--dev", "--self-tls", "--tls-hostname", "localhost", "--workers", "2"]
    )
    server.start(probe_root=root)
    yield Installation(data_dir, root, server)
    server.stop()


# -- trusting it ------------------------------------------------------------------------------


def test_ca_bundle_is_the_root_and_ca_list_shows_the_hierarchy(installation: Installation) -> None:
    roots = x509.load_pem_x509_certificates(installation.root.read_bytes())
    assert len(roots) == 1
    root = roots[0]
    assert root.subject == root.issuer
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Printing it again gives the same root: the first call created the hierarchy, once.
    assert _openacm("ca", "bundle", data_dir=installation.data_dir).stdout == (
        installation.root.read_text()
    )

    table = _openacm("ca", "list", data_dir=installation.data_dir).stdout.splitlines()
    assert table[0].split() == ["CA_ID", "ROLE", "SUBJECT", "KEY_TYPE", "NOT_AFTER", "SHA256"]
    rows = {
        row["role"]: row
        for row in map(
            json.loads,
            _openacm(
                "ca", "list", "--output", "json", data_dir=installation.data_dir
            ).stdout.splitlines(),
        )
    }
    assert set(rows) == {"root", "rsa", "ecdsa"} and len(table) == 4
    assert rows["root"]["sha256"] == root.fingerprint(hashes.SHA256()).hex(":").upper()
    assert rows["root"]["subject"] == root.subject.rfc4514_string()
    assert rows["ecdsa"]["key_type"] == "EC_secp384r1"
    assert rows["rsa"]["key_type"].startswith("RSA_")


def test_clients_verify_the_server_with_the_bundle_and_only_with_it(
    installation: Installation,
) -> None:
    root, port = installation.root, installation.server.port
    for host in ("localhost", "127.0.0.1"):  # a DNS name and the listen address (an IP SAN)
        answer = httpx.get(f"https://{host}:{port}/healthz", verify=_verifying(root), timeout=5)
        assert answer.status_code == 200 and answer.text == "ok\n"
    refused = _verify_failure(lambda: httpx.get(f"https://localhost:{port}/healthz", timeout=5))
    assert "CERTIFICATE_VERIFY_FAILED" in refused

    def acm(**kwargs: Any) -> Any:
        return boto3.session.Session().client(
            "acm",
            endpoint_url=f"https://localhost:{port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=NO_RETRIES,
            **kwargs,
        )

    assert acm(verify=str(root)).list_certificates()["CertificateSummaryList"] == []
    with pytest.raises(botocore.exceptions.SSLError):
        acm().list_certificates()

    # The aws CLI, configured as the README says: AWS_CA_BUNDLE names the root.
    aws = str(Path(sys.executable).parent / "aws")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(installation.data_dir),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    command = [aws, "--endpoint-url", f"https://localhost:{port}", "acm", "list-certificates"]
    trusted = subprocess.run(
        command, env={**env, "AWS_CA_BUNDLE": str(root)}, capture_output=True, text=True
    )
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout) == {"CertificateSummaryList": []}
    untrusted = subprocess.run(command, env=env, capture_output=True, text=True)
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_openssl_verifies_the_served_chain_with_the_bundle(
    installation: Installation, tmp_path: Path
) -> None:
    shown = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{installation.server.port}",
            "-servername",
            "localhost",
            "-showcerts",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    served = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", shown, re.S)
    # The leaf and its issuing CA; clients bring the root.
    assert len(served) == 2
    leaf_pem, intermediate_pem = tmp_path / "leaf.pem", tmp_path / "intermediate.pem"
    leaf_pem.write_text(served[0])
    intermediate_pem.write_text(served[1])
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(installation.root),
            "-untrusted",
            str(intermediate_pem),
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "localhost",
            str(leaf_pem),
        ],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0 and f"{leaf_pem}: OK" in verified.stdout, verified.stderr

    leaf = x509.load_pem_x509_certificate(served[0].encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    public_key = leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"


def test_every_worker_serves_the_one_stored_certificate(installation: Installation) -> None:
    context = _verifying(installation.root)
    serials = {
        _served_certificate(installation.server.port, context).serial_number for _ in range(30)
    }
    assert len(serials) == 1
    serial = format(serials.pop(), "x")
    # One process issued it; both workers loaded that very certificate.
    issued = installation.server.log_records(ISSUED)
    assert [record["serial"] for record in issued] == [serial]
    assert issued[0]["sans"] == ["localhost", "127.0.0.1"]
    assert issued[0]["subject"] == "CN=localhost"
    assert re.fullmatch(r"[0-9a-f]{64}", issued[0]["sha256_fingerprint"])
    loaded = installation.server.log_records(LOADED)
    assert len(loaded) == 2 and {record["serial"] for record in loaded} == {serial}
    assert "PRIVATE KEY" not in installation.server.log()


def test_the_key_is_never_on_disk_in_clear(installation: Installation) -> None:
    from openacm.config import Settings
    from openacm.runtime import Runtime
    from openacm.services.pki.server_certificate import ServerCertificate, ServerHostnames

    runtime = Runtime.open(Settings(data_dir=installation.data_dir), prepare=False)
    try:
        served = ServerCertificate(
            runtime.db,
            runtime.cipher,
            runtime.builtin_ca(),
            ServerHostnames.parse(["localhost", "127.0.0.1"]),
            max_validity_days=None,
        ).current()
    finally:
        runtime.close()
    key = serialization.load_pem_private_key(served.private_key_pem, password=None)
    served_now = _served_certificate(installation.server.port, _verifying(installation.root))
    assert served.certificate == served_now  # what the test unsealed is what is served
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    secret_body = served.private_key_pem.splitlines()[1]  # a line of the PEM's base64
    for path in installation.data_dir.parent.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert der not in content and secret_body not in content, path


# -- renewal and restarts ---------------------------------------------------------------------


def test_renewal_reaches_a_running_server_and_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    root = _fetch_root(data_dir, tmp_path / "root.pem")
    context = _verifying(root)
    args = ["--self-tls", "--tls-hostname", "localhost", "--workers", "2"]
    server = TlsServer(data_dir, args).start(probe_root=root)
    try:
        first = _served_certificate(server.port, context).serial_number
        renewed = _openacm("ca", "renew-server-certificate", data_dir=data_dir).stdout.split()
        assert renewed[1] == "localhost,127.0.0.1"
        second = int(renewed[0], 16)
        assert second != first

        def all_workers_present_it() -> bool:
            return all(
                _served_certificate(server.port, context).serial_number == second for _ in range(20)
            )

        # No restart: each worker loads the renewed certificate at its next check.
        assert _poll(all_workers_present_it, timeout=15), server.log()
        loaded = [record["serial"] for record in server.log_records(LOADED)]
        assert loaded == [format(first, "x")] * 2 + [renewed[0]] * 2
    finally:
        server.stop()

    again = TlsServer(data_dir, args).start(probe_root=root)
    try:
        assert _served_certificate(again.port, context).serial_number == second
        assert again.log_records(ISSUED) == []
    finally:
        again.stop()


def test_renew_without_a_server_certificate_says_so(tmp_path: Path) -> None:
    done = _openacm("ca", "renew-server-certificate", data_dir=tmp_path, check=False)
    assert done.returncode == 1
    assert "no server certificate" in done.stderr and "Traceback" not in done.stderr


# -- when TLS is on ---------------------------------------------------------------------------


def test_beyond_loopback_without_a_certificate_it_speaks_https(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    root = _fetch_root(data_dir, tmp_path / "root.pem")
    # 0.0.0.0, reached through 127.0.0.1: no --tls-cert, so the builtin CA's certificate,
    # for the machine's FQDN by default (no IP SAN for the unspecified address).
    server = TlsServer(data_dir, ["--host", "0.0.0.0"]).start(probe_root=None)
    try:
        fqdn = socket.getfqdn()
        served = _served_certificate(server.port, _verifying(root), server_hostname=fqdn)
        names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [fqdn.lower()]
        assert names.get_values_for_type(x509.IPAddress) == []
        plain = _verify_failure(
            lambda: httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        )
        assert "RemoteProtocolError" in plain or "ReadError" in plain or "ConnectError" in plain
    finally:
        server.stop()

    # Names from the environment, comma-separated.
    env = {"OPENACM_TLS_HOSTNAMES": "localhost, api.openacm.test"}
    named = TlsServer(data_dir, ["--host", "0.0.0.0"], env=env).start(probe_root=root)
    try:
        served = _served_certificate(named.port, _verifying(root))
        names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["api.openacm.test", "localhost"]
    finally:
        named.stop()


def test_insecure_http_and_loopback_stay_plain_http(tmp_path: Path) -> None:
    for args in (["--host", "0.0.0.0", "--insecure-http"], ["--dev"]):
        port = free_port()
        log = tmp_path / f"plain-{port}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*OPENACM, "serve", "--port", str(port), "--data-dir", str(tmp_path), *args],
                stdout=out,
                stderr=out,
                env=_env(),
                cwd=REPO,
            )
        try:
            assert _poll(lambda port=port: _plain_answers(port), 30), log.read_text()  # type: ignore[misc]
            assert "server's TLS certificate" not in log.read_text()
        finally:
            process.terminate()
            process.wait(timeout=10)


def _plain_answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--self-tls", "--insecure-http"], "--self-tls goes with neither"),
        (["--host", "0.0.0.0", "--tls-hostname", "not a name!"], "not a host name"),
    ],
)
def test_refused_combinations(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [*OPENACM, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path), *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
