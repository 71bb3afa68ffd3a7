"""The `openacm` command line (admin, serve, audit) and the audit trail, as operators use them.

Admin commands run against the server's storage both while it serves and while it is stopped;
settings come from options, OPENACM_* variables and a TOML file; `serve` guards plain HTTP and
speaks TLS 1.2+; secrets never sit in the data dir in clear; and every API call, accepted or
refused, leaves exactly one CloudTrail-format record, in DATA_DIR/audit.jsonl and in the store.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import ssl
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import pki
from tests.support.server import NO_RETRIES, OPENACM, REPO, OpenAcmServer, free_port

REDACTED = "**********"


# -- helpers --------------------------------------------------------------------------------


def _client(endpoint: str, key: tuple[str, str], **kwargs: Any) -> Any:
    kwargs.setdefault("config", NO_RETRIES)
    return boto3.session.Session().client(
        "acm",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        **kwargs,
    )


def _error_code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def _poll(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def _new_account_id() -> str:
    return "9" + "".join(random.choice("0123456789") for _ in range(11))


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENACM_", "AWS_"))}
    env.update(extra)
    return env


@dataclass
class Launched:
    """An `openacm serve` started with arguments of the test's choosing."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Launcher:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Launched] = []

    def serve(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        base_url: str,
        verify: Any = True,
        timeout: float = 60,  # as OpenAcmServer.start: starts are slow beside a loaded worker
    ) -> Launched:
        log = self.tmp_path / f"serve-{len(self.started)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*OPENACM, "serve", *args],
                stdout=out,
                stderr=out,
                env=_clean_env(**(env or {})),
                cwd=REPO,
            )
        launched = Launched(process, base_url, log)
        self.started.append(launched)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {process.returncode}:\n{launched.output()}"
                )
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1, verify=verify).status_code == 200:
                    return launched
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not become ready:\n{launched.output()}")

    def stop_all(self) -> None:
        for launched in self.started:
            if launched.process.poll() is None:
                launched.process.terminate()
                try:
                    launched.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    launched.process.kill()
                    launched.process.wait()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


def _admin_ok(server: OpenAcmServer, *args: str) -> str:
    done = server.admin(*args)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def _create_key(server: OpenAcmServer, account_id: str, *extra: str) -> tuple[str, str]:
    out = _admin_ok(
        server, "admin", "key", "create", "--account-id", account_id, "--output", "json", *extra
    )
    made = json.loads(out)
    return made["access_key_id"], made["secret_access_key"]


# -- accounts and keys ----------------------------------------------------------------------


def test_account_create_list_and_duplicate(sqlite_server: OpenAcmServer) -> None:
    server = sqlite_server  # running: admin commands work alongside it
    account_id = _new_account_id()
    out = _admin_ok(
        server, "admin", "account", "create", "--account-id", account_id, "--name", "cli-test"
    )
    assert out.strip() == account_id

    duplicate = server.admin("admin", "account", "create", "--account-id", account_id)
    assert duplicate.returncode == 1
    assert duplicate.stdout == ""
    assert f"account {account_id} exists already" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    malformed = server.admin("admin", "account", "create", "--account-id", "12345")
    assert malformed.returncode == 1
    assert "12 digits" in malformed.stderr and "Traceback" not in malformed.stderr

    too_long = server.admin("admin", "account", "create", "--name", "n" * 300)
    assert too_long.returncode == 1
    assert "at most 256 characters" in too_long.stderr and "Traceback" not in too_long.stderr

    generated = _admin_ok(server, "admin", "account", "create").strip()
    assert generated.isdigit() and len(generated) == 12 and generated != account_id

    table = _admin_ok(server, "admin", "account", "list").splitlines()
    assert table[0].split() == ["ACCOUNT_ID", "NAME", "CREATED"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[account_id][1] == "cli-test"
    assert rows[generated][1] == generated  # the name defaults to the id
    assert time.strptime(rows[account_id][2], "%Y-%m-%dT%H:%M:%SZ")

    listed = [
        json.loads(line)
        for line in _admin_ok(server, "admin", "account", "list", "--output", "json").splitlines()
    ]
    by_id = {row["account_id"]: row for row in listed}
    assert by_id[account_id]["name"] == "cli-test"
    assert set(by_id[account_id]) == {"account_id", "name", "created"}
    assert generated in by_id
    assert len(by_id) == len(table) - 1


def test_access_keys_create_list_disable_enable(sqlite_server: OpenAcmServer) -> None:
    server = sqlite_server
    account_id = _admin_ok(server, "admin", "account", "create").strip()

    made = server.admin("admin", "key", "create", "--account-id", account_id, "--user-name", "ci")
    assert made.returncode == 0, made.stderr
    fields = dict(line.split(": ", 1) for line in made.stdout.splitlines())
    assert set(fields) == {"access_key_id", "secret_access_key", "account_id", "user_name"}
    assert fields["account_id"] == account_id and fields["user_name"] == "ci"
    key = (fields["access_key_id"], fields["secret_access_key"])
    assert len(key[1]) >= 20
    assert "will not be shown again" in made.stderr

    for args in (
        ("admin", "key", "list"),
        ("admin", "key", "list", "--account-id", account_id),
        ("admin", "key", "list", "--output", "json"),
        ("admin", "key", "list", "--account-id", account_id, "--output", "json"),
    ):
        listing = _admin_ok(server, *args)
        assert key[0] in listing
        assert key[1] not in listing, f"{args} shows the secret"
    rows = [
        json.loads(line)
        for line in _admin_ok(
            server, "admin", "key", "list", "--account-id", account_id, "--output", "json"
        ).splitlines()
    ]
    assert [(r["access_key_id"], r["user_name"], r["status"]) for r in rows] == [
        (key[0], "ci", "Active")
    ]
    assert "secret_access_key" not in rows[0]
    # The secret is kept sealed: not even the database file holds it in clear.
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            assert key[1].encode() not in path.read_bytes(), path

    acm = server.client(key=key)
    assert acm.list_certificates()["CertificateSummaryList"] == []

    for user_name in ("u" * 65, "two words", ""):
        refused = server.admin(
            "admin", "key", "create", "--account-id", account_id, "--user-name", user_name
        )
        assert refused.returncode == 1, user_name
        assert "a user name is 1 to 64" in refused.stderr and "Traceback" not in refused.stderr

    nobody = server.admin("admin", "key", "create", "--account-id", "999999999990")
    assert nobody.returncode == 1 and "no account 999999999990" in nobody.stderr

    disabled = server.admin("admin", "key", "disable", key[0])
    assert disabled.returncode == 0 and "Inactive" in disabled.stdout
    # The server trusts what it read about a key for up to 5 s.
    assert _poll(lambda: _error_code(acm.list_certificates) is not None, timeout=7.5)
    assert _error_code(acm.list_certificates) == "UnrecognizedClientException"
    listing = _admin_ok(server, "admin", "key", "list", "--account-id", account_id)
    assert "Inactive" in listing

    enabled = server.admin("admin", "key", "enable", key[0])
    assert enabled.returncode == 0 and "Active" in enabled.stdout
    assert _poll(lambda: _error_code(acm.list_certificates) is None, timeout=7.5)
    assert "Active" in _admin_ok(server, "admin", "key", "list", "--account-id", account_id)

    unknown = server.admin("admin", "key", "disable", "AKIADOESNOTEXIST0000")
    assert unknown.returncode == 1 and "no access key AKIADOESNOTEXIST0000" in unknown.stderr


def test_carried_over_key_works_with_boto3(sqlite_server: OpenAcmServer) -> None:
    server = sqlite_server
    account_id = _admin_ok(server, "admin", "account", "create").strip()
    key_id = "AKIACARRY" + uuid.uuid4().hex[:11].upper()
    secret = base64.b64encode(os.urandom(30)).decode()
    made = _create_key(server, account_id, "--access-key-id", key_id, "--secret-access-key", secret)
    assert made == (key_id, secret)

    acm = server.client(key=(key_id, secret))
    issued = pki.issue("carried.example.com", sans=["carried.example.com"])
    arn = acm.import_certificate(**issued.import_args())["CertificateArn"]
    assert arn.startswith(f"arn:aws:acm:us-east-1:{account_id}:certificate/")
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainName"] == (
        "carried.example.com"
    )
    # The same id and a wrong secret is refused.
    wrong = server.client(key=(key_id, secret + "x"))
    assert _error_code(wrong.list_certificates) == "InvalidSignatureException"

    again = server.admin(
        "admin", "key", "create", "--account-id", account_id, "--access-key-id", key_id
    )
    assert again.returncode == 1 and f"access key {key_id} exists already" in again.stderr


def test_admin_commands_while_the_server_is_stopped(fresh_server: OpenAcmServer) -> None:
    server = fresh_server
    server.stop()
    assert server.process is not None and server.process.poll() is not None
    account_id = _new_account_id()
    _admin_ok(server, "admin", "account", "create", "--account-id", account_id)
    key = _create_key(server, account_id)
    assert account_id in _admin_ok(server, "admin", "account", "list")
    assert key[0] in _admin_ok(server, "admin", "key", "list")

    server.start()
    acm = server.client(key=key)
    assert acm.list_certificates()["CertificateSummaryList"] == []
    # ... and a key disabled while the server is down is refused once it is up.
    server.stop()
    _admin_ok(server, "admin", "key", "disable", key[0])
    server.start()
    assert _error_code(server.client(key=key).list_certificates) == "UnrecognizedClientException"


# -- settings -------------------------------------------------------------------------------


def test_environment_variables_take_effect(tmp_path: Path, launcher: Launcher) -> None:
    port = free_port()
    data_dir = tmp_path / "from-env"
    launched = launcher.serve(
        [],
        env={
            "OPENACM_PORT": str(port),
            "OPENACM_DATA_DIR": str(data_dir),
            "OPENACM_DEV": "1",
            "OPENACM_QUOTA_IMPORTED_CERTIFICATES": "2",
        },
        base_url=f"http://127.0.0.1:{port}",
    )
    assert (data_dir / "master.key").exists() and (data_dir / "openacm.db").exists()
    acm = _client(launched.base_url, ("test", "test"))
    for number in range(2):
        issued = pki.issue(f"quota{number}.example.com")
        acm.import_certificate(**issued.import_args())
    with pytest.raises(ClientError) as refused:
        acm.import_certificate(**pki.issue("quota2.example.com").import_args())
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "limit of 2 imported certificates" in refused.value.response["Error"]["Message"]
    listed = acm.list_certificates(Includes={"keyTypes": ["RSA_2048"]})
    assert len(listed["CertificateSummaryList"]) == 2
    acm.close()


def test_config_file_takes_effect(tmp_path: Path, launcher: Launcher) -> None:
    port = free_port()
    data_dir = tmp_path / "from-config"
    config = tmp_path / "openacm.toml"
    config.write_text(
        f'port = {port}\ndata-dir = "{data_dir}"\ndev = true\n\n'
        "[quotas]\nimported_certificates = 1\ntags_per_resource = 2\n"
    )
    launched = launcher.serve(["--config", str(config)], base_url=f"http://127.0.0.1:{port}")
    acm = _client(launched.base_url, ("test", "test"))
    arn = acm.import_certificate(**pki.issue("config.example.com").import_args())["CertificateArn"]
    assert _error_code(
        lambda: acm.import_certificate(**pki.issue("config2.example.com").import_args())
    ) == ("LimitExceededException")
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "a"}, {"Key": "b"}])
    assert (
        _error_code(lambda: acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "c"}]))
        == "TooManyTagsException"
    )
    acm.close()
    # The admin commands read the same file (OPENACM_CONFIG names it too).
    listed = subprocess.run(
        [*OPENACM, "admin", "account", "list", "--output", "json"],
        env=_clean_env(OPENACM_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert listed.returncode == 0, listed.stderr
    assert "000000000000" in [json.loads(line)["account_id"] for line in listed.stdout.splitlines()]
    # The command line wins over the file.
    other_port = free_port()
    second = launcher.serve(
        ["--config", str(config), "--port", str(other_port)],
        base_url=f"http://127.0.0.1:{other_port}",
    )
    assert httpx.get(f"{second.base_url}/healthz", timeout=5).status_code == 200


def test_tls_cert_and_key_go_together(tmp_path: Path) -> None:
    # (A non-loopback address without a certificate now serves the builtin CA's own
    # certificate: test_server_tls.py.)
    lone = tmp_path / "lone.pem"
    lone.write_bytes(pki.issue("lone.example.com").cert_pem)
    done = subprocess.run(
        [*OPENACM, "serve", "--data-dir", str(tmp_path), "--tls-cert", str(lone)],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode != 0 and "--tls-cert and --tls-key go together" in done.stderr


# -- TLS ------------------------------------------------------------------------------------


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    ca = pki.issue("openacm test CA", is_ca=True, key=pki.shared_key("EC_secp384r1"))
    server = pki.issue(
        "localhost",
        sans=["localhost"],
        ips=["127.0.0.1"],
        issuer=ca,
        key=pki.shared_key("EC_prime256v1"),
    )
    files = TlsFiles(tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key")
    files.ca.write_bytes(ca.cert_pem)
    files.cert.write_bytes(server.cert_pem)
    files.key.write_bytes(server.key_pem)
    files.key.chmod(0o600)
    return files


def _handshake(port: int, ca: Path, maximum: ssl.TLSVersion) -> str:
    """The TLS version agreed with 127.0.0.1:port by a client offering at most `maximum`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = maximum
    context.set_ciphers("ALL:@SECLEVEL=0")  # let the client really offer TLS 1.1
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return str(tls.version())


def _tls11_server(files: TlsFiles) -> tuple[int, threading.Thread]:
    """A server that accepts TLS 1.1: proves the client of `_handshake` can speak it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept_one() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


def test_https_with_tls_12_or_later(
    tmp_path: Path, tls_files: TlsFiles, launcher: Launcher
) -> None:
    port = free_port()
    verify = ssl.create_default_context(cafile=str(tls_files.ca))
    launched = launcher.serve(
        [
            "--dev",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "tls"),
            "--tls-cert",
            str(tls_files.cert),
            "--tls-key",
            str(tls_files.key),
        ],
        base_url=f"https://localhost:{port}",
        verify=verify,
    )
    acm = _client(launched.base_url, ("test", "test"), verify=str(tls_files.ca))
    issued = pki.issue("tls.example.com", sans=["tls.example.com"])
    arn = acm.import_certificate(**issued.import_args())["CertificateArn"]
    assert acm.get_certificate(CertificateArn=arn)["Certificate"] == issued.cert_pem.decode()
    # An untrusted server certificate is refused by the client, as it should be.
    untrusting = _client(launched.base_url, ("test", "test"), verify=True)
    with pytest.raises(botocore.exceptions.SSLError):
        untrusting.list_certificates()
    for client in (acm, untrusting):
        client.close()  # no idle keep-alive connection holds up the server's shutdown

    assert _handshake(port, tls_files.ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert _handshake(port, tls_files.ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    control_port, control = _tls11_server(tls_files)
    assert _handshake(control_port, tls_files.ca, ssl.TLSVersion.TLSv1_1) == "TLSv1.1"
    control.join(timeout=5)
    with pytest.raises(ssl.SSLError):
        _handshake(port, tls_files.ca, ssl.TLSVersion.TLSv1_1)

    # The audit record says the call came over TLS.
    records = [
        json.loads(line) for line in (tmp_path / "tls" / "audit.jsonl").read_text().splitlines()
    ]
    imports = [r for r in records if r["eventName"] == "ImportCertificate"]
    assert imports and all("tlsDetails" in r for r in imports)


def test_health_endpoints_need_no_signature(sqlite_server: OpenAcmServer) -> None:
    healthz = httpx.get(f"{sqlite_server.endpoint}/healthz", timeout=5)
    assert healthz.status_code == 200 and healthz.text.strip() == "ok"
    readyz = httpx.get(f"{sqlite_server.endpoint}/readyz", timeout=5)
    assert readyz.status_code == 200 and readyz.json() == {"ready": True}


# -- secrets at rest ------------------------------------------------------------------------


def _needles(key: ec.EllipticCurvePrivateKey) -> dict[str, bytes]:
    """Every form in which this private key could be found in clear."""
    found: dict[str, bytes] = {}
    for name, fmt in (
        ("pkcs8", serialization.PrivateFormat.PKCS8),
        ("traditional", serialization.PrivateFormat.TraditionalOpenSSL),
    ):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        body = pem.splitlines()[1:-1]
        found[f"{name} PEM body"] = b"".join(body)
        for index, line in enumerate(body):
            found[f"{name} PEM line {index}"] = line
        found[f"{name} DER"] = der
        found[f"{name} DER base64"] = base64.b64encode(der)
        # What boto3 sends on the wire: base64 of the PEM (its key part, past the header).
        found[f"{name} PEM base64"] = base64.b64encode(pem)[48:-48]
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    found["scalar"] = scalar
    found["scalar hex"] = scalar.hex().encode()
    return found


def test_no_private_key_in_clear_in_the_data_dir(fresh_server: OpenAcmServer) -> None:
    server = fresh_server
    master_key = server.data_dir / "master.key"
    assert master_key.stat().st_mode & 0o777 == 0o600

    key = pki.new_key("EC_prime256v1")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    issued = pki.issue("secret.example.com", sans=["secret.example.com"], key=key)
    acm = server.client()
    arn = acm.import_certificate(**issued.import_args(Tags=[{"Key": "k"}]))["CertificateArn"]
    acm.describe_certificate(CertificateArn=arn)
    acm.get_certificate(CertificateArn=arn)
    # Refused imports carry the key too: nothing of it may be logged.
    mismatched = pki.issue("other.example.com")
    assert _error_code(
        lambda: acm.import_certificate(Certificate=mismatched.cert_pem, PrivateKey=issued.key_pem)
    ) == ("ValidationException")
    padded = issued.key_pem + b"\n" * 6000
    assert _error_code(
        lambda: acm.import_certificate(Certificate=issued.cert_pem, PrivateKey=padded)
    ) == ("ValidationException")
    # A re-import under the same ARN.
    acm.import_certificate(**issued.import_args(CertificateArn=arn))
    server.stop()  # flushes the audit writer and closes the database

    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"openacm.db", "audit.jsonl", "master.key"} <= names
    assert any(name.startswith("server-") and name.endswith(".log") for name in names)
    needles = _needles(key)
    for path in files:
        content = path.read_bytes()
        for what, needle in needles.items():
            assert needle not in content, f"{what} of the private key found in {path.name}"
    # The audit log has the import, with the key redacted.
    records = [
        json.loads(line) for line in (server.data_dir / "audit.jsonl").read_text().splitlines()
    ]
    imports = [r for r in records if r["eventName"] == "ImportCertificate"]
    assert len(imports) == 4
    assert all(r["requestParameters"]["privateKey"] == REDACTED for r in imports)


# -- the audit trail ------------------------------------------------------------------------


@dataclass
class Call:
    name: str
    request_id: str
    error: str | None
    status: int


def _recorded(action: Callable[[], Any], name: str) -> Call:
    try:
        response = action()
    except ClientError as exc:
        meta = exc.response["ResponseMetadata"]
        return Call(name, meta["RequestId"], exc.response["Error"]["Code"], meta["HTTPStatusCode"])
    meta = response["ResponseMetadata"]
    return Call(name, meta["RequestId"], None, meta["HTTPStatusCode"])


def _raw_call(server: OpenAcmServer, name: str, body: dict[str, Any], key: tuple[str, str]) -> Call:
    data = json.dumps(body).encode()
    request = AWSRequest(
        "POST",
        server.endpoint + "/",
        data=data,
        headers={
            "X-Amz-Target": f"CertificateManager.{name}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials(*key), "acm", "us-east-1").add_auth(request)
    response = httpx.post(
        server.endpoint + "/", content=data, headers=dict(request.prepare().headers.items())
    )
    error = response.json().get("__type") if response.status_code != 200 else None
    return Call(name, response.headers["x-amzn-RequestId"], error, response.status_code)


def _audit_lines(server: OpenAcmServer) -> list[dict[str, Any]]:
    path = server.data_dir / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_call_writes_one_cloudtrail_record(fresh_server: OpenAcmServer) -> None:
    server = fresh_server
    account_id = _admin_ok(server, "admin", "account", "create").strip()
    key = _create_key(server, account_id, "--user-name", "auditor")
    acm = server.client(key=key)
    loose = _client(
        server.endpoint,
        key,
        config=NO_RETRIES.merge(Config(parameter_validation=False)),
    )
    issued = pki.issue("audit.example.com", sans=["audit.example.com"])
    missing = f"arn:aws:acm:us-east-1:{account_id}:certificate/{uuid.uuid4()}"

    imported = acm.import_certificate(**issued.import_args(Tags=[{"Key": "env", "Value": "audit"}]))
    arn = imported["CertificateArn"]
    calls = [Call("ImportCertificate", imported["ResponseMetadata"]["RequestId"], None, 200)]
    calls.append(_recorded(acm.list_certificates, "ListCertificates"))
    calls.append(
        _recorded(lambda: acm.describe_certificate(CertificateArn=arn), "DescribeCertificate")
    )
    calls.append(_recorded(lambda: acm.get_certificate(CertificateArn=arn), "GetCertificate"))
    calls.append(
        _recorded(
            lambda: acm.add_tags_to_certificate(
                CertificateArn=arn, Tags=[{"Key": "team", "Value": "x"}]
            ),
            "AddTagsToCertificate",
        )
    )
    calls.append(
        _recorded(lambda: acm.describe_certificate(CertificateArn=missing), "DescribeCertificate")
    )
    calls.append(
        _recorded(
            lambda: acm.import_certificate(
                Certificate=b"not a certificate", PrivateKey=issued.key_pem
            ),
            "ImportCertificate",
        )
    )
    calls.append(_recorded(lambda: loose.delete_certificate(), "DeleteCertificate"))
    calls.append(_raw_call(server, "ListCertificates", {}, (key[0], "wrong-secret")))
    calls.append(_raw_call(server, "NoSuchOperation", {}, key))
    calls.append(
        _recorded(
            lambda: loose.request_certificate(DomainName="x.example.com", ValidationMethod="HTTP"),
            "RequestCertificate",
        )
    )
    calls.append(_recorded(lambda: acm.delete_certificate(CertificateArn=arn), "DeleteCertificate"))

    expected_errors = [
        None,
        None,
        None,
        None,
        None,
        "ResourceNotFoundException",
        "ValidationException",
        "ValidationException",
        "InvalidSignatureException",
        "UnknownOperationException",
        "NotImplementedException",
        None,
    ]
    assert [c.error for c in calls] == expected_errors
    assert [c.status for c in calls] == [
        501 if c.error == "NotImplementedException" else 400 if c.error else 200 for c in calls
    ]

    # Read-only calls are batched for up to 0.2 s.
    assert _poll(lambda: len(_audit_lines(server)) >= len(calls), timeout=5)
    time.sleep(0.3)
    records = _audit_lines(server)
    assert len(records) == len(calls), "one record per call, no more, no less"
    by_request = {r["requestID"]: r for r in records}
    assert len(by_request) == len(records)
    for call in calls:
        record = by_request[call.request_id]
        assert record["eventSource"] == "acm.amazonaws.com"
        assert record["eventName"] == call.name
        assert record["eventType"] == "AwsApiCall"
        assert time.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
        uuid.UUID(record["eventID"])
        assert record["readOnly"] == call.name.startswith(("Describe", "List", "Get", "Search"))
        if call.error is None:
            assert "errorCode" not in record
        else:
            assert record["errorCode"] == call.error
            assert record["errorMessage"] or call.error == "UnknownOperationException"
        identity = record["userIdentity"]
        if call.error == "InvalidSignatureException":
            # Not authenticated: the call is not attributed to any account.
            assert "accountId" not in identity and record["recipientAccountId"] is None
            continue
        assert record["awsRegion"] == "us-east-1"
        assert identity["type"] == "IAMUser"
        assert identity["accountId"] == account_id
        assert identity["accessKeyId"] == key[0]
        assert identity["arn"] == f"arn:aws:iam::{account_id}:user/auditor"
        assert identity["userName"] == "auditor"
        assert record["recipientAccountId"] == account_id

    record = by_request[calls[0].request_id]
    parameters = record["requestParameters"]
    assert set(parameters) == {"certificate", "privateKey", "tags"}
    assert parameters["privateKey"] == REDACTED
    assert parameters["tags"] == [{"key": "env", "value": "audit"}]
    assert record["responseElements"] == {"certificateArn": arn}
    assert by_request[calls[2].request_id]["requestParameters"] == {"certificateArn": arn}
    assert by_request[calls[2].request_id]["responseElements"] is None
    assert by_request[calls[4].request_id]["requestParameters"] == {
        "certificateArn": arn,
        "tags": [{"key": "team", "value": "x"}],
    }
    refused_import = by_request[calls[6].request_id]
    assert refused_import["requestParameters"]["privateKey"] == REDACTED
    assert refused_import["errorMessage"]
    text = (server.data_dir / "audit.jsonl").read_text()
    key_body = b"".join(issued.key_pem.splitlines()[1:-1]).decode()
    assert (
        key_body[:40] not in text and base64.b64encode(issued.key_pem).decode()[40:100] not in text
    )

    # The same records through the CLI.
    searched = [
        json.loads(line)
        for line in _admin_ok(
            server, "audit", "search", "--event-name", "ImportCertificate"
        ).splitlines()
    ]
    assert {r["requestID"] for r in searched} == {calls[0].request_id, calls[6].request_id}
    for record in searched:
        assert record == by_request[record["requestID"]]
    refused = [
        json.loads(line)
        for line in _admin_ok(
            server,
            "audit",
            "search",
            "--error-code",
            "ValidationException",
            "--account-id",
            account_id,
        ).splitlines()
    ]
    assert {r["requestID"] for r in refused} == {calls[6].request_id, calls[7].request_id}

    tail = [json.loads(line) for line in _admin_ok(server, "audit", "tail", "-n", "5").splitlines()]
    assert [r["requestID"] for r in tail] == [c.request_id for c in calls[-5:]]
    assert all(r == by_request[r["requestID"]] for r in tail)
