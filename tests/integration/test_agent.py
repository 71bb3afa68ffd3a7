"""`openacm agent` as a real process against a real `openacm serve --dev`: it writes a private
certificate's files (modes, owners, a key that matches, a chain `openssl verify` accepts),
holds an association that blocks DeleteCertificate until `--release`, follows a renewal
played with the dev clock into a real TLS server that reloads and serves the new certificate,
selects certificates by tag (and lets go of those that lose it), and reports a key asked of a
certificate that cannot be exported as a configuration error."""

from __future__ import annotations

import grp
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import Tenant, _tenant, finish_server, start_server
from tests.integration.test_managed_renewal import into_renewal_window, move_clock, wait_renewal
from tests.integration.test_private_certificates import make_root_ca, request_private, wait_done
from tests.support import pki
from tests.support.server import OPENACM, REPO, OpenAcmServer, free_port
from tests.support.tls_reload_server import served_certificate, stop

pytestmark = pytest.mark.xdist_group("agent")


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    """A server of this module's own: the renewal test moves its clock."""
    env = {"OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS": "0.1"}
    started = start_server(tmp_path_factory.mktemp("agent"), "sqlite", env=env)
    yield started
    finish_server(started)


@pytest.fixture
def tenant(agent_server: OpenAcmServer) -> Iterator[Tenant]:
    move_clock(agent_server, reset=True)
    yield _tenant(agent_server)
    move_clock(agent_server, reset=True)


@pytest.fixture(scope="module")
def ca(agent_server: OpenAcmServer) -> tuple[Tenant, str, str]:
    """One tenant with one private root CA for the module (RSA key generation is slow)."""
    owner = _tenant(agent_server)
    ca_arn, root_pem = make_root_ca(owner)
    return owner, ca_arn, root_pem


def private_certificate(owner: Tenant, ca_arn: str, **extra: Any) -> tuple[str, str]:
    name = f"svc-{uuid.uuid4().hex[:8]}.corp.internal"
    arn = request_private(owner, ca_arn, name, **extra)
    assert wait_done(owner.acm, arn)["Status"] == "ISSUED"
    return arn, name


def toml_value(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers and lists are TOML too


def write_config(
    path: Path,
    server: OpenAcmServer,
    key: tuple[str, str],
    entries: list[dict[str, Any]],
    *,
    target: str = "web-1",
    poll: float = 300,
    aws_environment: bool = False,
) -> Path:
    """Credentials in the file (the secret through a variable), or, with aws_environment,
    none: botocore finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (run_agent sets them)."""
    lines = [
        f"endpoint_url = {toml_value(server.endpoint)}",
        'region = "us-east-1"',
        f"target = {toml_value(target)}",
        f"poll_interval_seconds = {poll}",
        "reload_timeout_seconds = 30",
        f"state_dir = {toml_value(str(path.parent / 'state'))}",
    ]
    if not aws_environment:
        lines += [
            "[credentials]",
            f"access_key_id = {toml_value(key[0])}",
            'secret_access_key_env = "AGENT_TEST_SECRET"',
        ]
    for entry in entries:
        lines.append("[[certificates]]")
        for name, value in entry.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items())
                lines.append(f"{name} = {{ {inner} }}")
            else:
                lines.append(f"{name} = {toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def agent_env(key: tuple[str, str], aws_environment: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENACM_", "AWS_"))}
    # No stray AWS configuration of the machine: only what the test gives.
    env.update(
        AGENT_TEST_SECRET=key[1],
        P12_PASSPHRASE="p12 passphrase",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    if aws_environment:
        env.update(AWS_ACCESS_KEY_ID=key[0], AWS_SECRET_ACCESS_KEY=key[1])
    return env


def run_agent(
    config: Path, key: tuple[str, str], *args: str, aws_environment: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPENACM, "agent", "--config", str(config), *args],
        env=agent_env(key, aws_environment),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def consumer(tenant: Tenant, name: str = "web-1") -> str:
    return f"arn:openacm:deploy:us-east-1:{tenant.account_id}:target/{name}"


def delete_error(acm: Any, arn: str) -> str | None:
    try:
        acm.delete_certificate(CertificateArn=arn)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def spki(key_or_cert: Any) -> bytes:
    return key_or_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- files, association, release ----------------------------------------------------------


def test_the_agent_deploys_holds_and_releases(ca: tuple[Tenant, str, str], tmp_path: Path) -> None:
    owner, ca_arn, root_pem = ca
    arn, _name = private_certificate(owner, ca_arn)
    out = tmp_path / "tls"
    out.mkdir()
    group = grp.getgrgid(1).gr_name  # any group but root's: the owner change must show
    config = write_config(
        tmp_path / "agent.toml",
        owner.server,
        owner.key,
        [
            {
                "arn": arn,
                "certificate": str(out / "cert.pem"),
                "chain": {"path": str(out / "chain.pem"), "mode": "0640"},
                "fullchain": str(out / "fullchain.pem"),
                "key": {"path": str(out / "key.pem"), "mode": "0640", "group": group},
                "pkcs12": {"path": str(out / "bundle.p12"), "passphrase_env": "P12_PASSPHRASE"},
            }
        ],
    )

    first = run_agent(config, owner.key, "--once")
    assert first.returncode == 0, first.stderr
    assert "DEPLOYED" in first.stdout and arn in first.stdout
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes == {
        "cert.pem": 0o644,
        "chain.pem": 0o640,
        "fullchain.pem": 0o644,
        "key.pem": 0o640,
        "bundle.p12": 0o600,
    }
    assert (out / "key.pem").stat().st_gid == 1
    # The key is in clear only at its path, nowhere else in the directory or the logs.
    assert not any(p.name.startswith(".") for p in out.iterdir())
    assert "PRIVATE KEY" not in first.stdout + first.stderr

    certificate = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((out / "key.pem").read_bytes(), password=None)
    assert spki(key) == spki(certificate)
    assert (out / "fullchain.pem").read_text().startswith((out / "cert.pem").read_text())
    (tmp_path / "root.pem").write_text(root_pem)
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(out / "chain.pem"), str(out / "cert.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    p12 = subprocess.run(
        ["openssl", "pkcs12", "-in", str(out / "bundle.p12"), "-passin", "pass:p12 passphrase",
         "-nokeys", "-clcerts"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert p12.returncode == 0, p12.stderr
    assert x509.load_pem_x509_certificate(p12.stdout.encode()) == certificate

    detail = owner.acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["InUseBy"] == [consumer(owner)]
    assert detail["Serial"] == pki.acm_serial(certificate)
    assert delete_error(owner.acm, arn) == "ResourceInUseException"

    # A second pass (a restart) finds nothing to do: no rewrite.
    inode = (out / "key.pem").stat().st_ino
    second = run_agent(config, owner.key, "--once")
    assert second.returncode == 0, second.stderr
    assert "DEPLOYED" not in second.stdout
    assert (out / "key.pem").stat().st_ino == inode

    released = run_agent(config, owner.key, "--release")
    assert released.returncode == 0, released.stderr
    assert "RELEASED" in released.stdout
    assert owner.acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == []
    assert delete_error(owner.acm, arn) is None
    assert (out / "cert.pem").exists()  # files stay: the service may still be running


# -- renewal into a real TLS server --------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    files = {
        "dir": tmp_path / "tls",
        "pid": tmp_path / "tls-server.pid",
        "reloads": tmp_path / "reloads.log",
    }
    files["dir"].mkdir()
    yield files
    stop(files["pid"])


def wait_for(check: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, AssertionError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_renewal_reaches_the_tls_server(
    tenant: Tenant, tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    ca_arn, _root = make_root_ca(tenant)
    arn, _name = private_certificate(tenant, ca_arn)
    out, port = tls_files["dir"], free_port()
    reload = [
        str(Path(OPENACM[0])), "-m", "tests.support.tls_reload_server", "reload",
        "--cert", str(out / "fullchain.pem"), "--key", str(out / "key.pem"),
        "--port", str(port), "--pid-file", str(tls_files["pid"]),
        "--reloads", str(tls_files["reloads"]),
    ]  # fmt: skip
    config = write_config(
        tmp_path / "agent.toml",
        tenant.server,
        tenant.key,
        [
            {
                "arn": arn,
                "fullchain": str(out / "fullchain.pem"),
                "key": str(out / "key.pem"),
                "reload": reload,
            }
        ],
        poll=0.5,
    )
    agent = subprocess.Popen(
        [*OPENACM, "agent", "--config", str(config)],
        env=agent_env(tenant.key),
        stdout=(tmp_path / "agent.out").open("w"),
        stderr=(tmp_path / "agent.err").open("w"),
        cwd=REPO,
    )
    try:
        served = wait_for(lambda: served_certificate(port), what="the TLS server")
        before = tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]
        assert pki.acm_serial(served) == before["Serial"]
        assert before["InUseBy"] == [consumer(tenant)]
        assert before["RenewalEligibility"] == "ELIGIBLE"  # in use, through the agent

        into_renewal_window(tenant.server, before)
        after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"))
        assert after["RenewalSummary"]["RenewalStatus"] == "SUCCESS", after["RenewalSummary"]
        assert after["Serial"] != before["Serial"]

        renewed = wait_for(
            lambda: (c := served_certificate(port)) and pki.acm_serial(c) == after["Serial"] and c,
            what="the renewed certificate on the TLS server",
        )
        key = serialization.load_pem_private_key((out / "key.pem").read_bytes(), password=None)
        assert spki(key) == spki(renewed) != spki(served)  # a new key pair, deployed with it
        assert "reloaded" in tls_files["reloads"].read_text()
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=30)
    logs = (tmp_path / "agent.err").read_text()
    assert code == 0, logs
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    deployed = [e for e in events if e.get("message") == "deployed"]
    assert [e["serial"] for e in deployed] == [before["Serial"], after["Serial"]]
    assert sum(e.get("message") == "reloaded" for e in events) == 2
    state = json.loads((tmp_path / "state" / "web-1.json").read_text())
    assert [r["serial"] for r in state["deployed"]] == [after["Serial"]]
    assert not state["deployed"][0]["reload_pending"]
    assert "PRIVATE KEY" not in logs + (tmp_path / "agent.out").read_text()


# -- by tag; errors that are the configuration's ------------------------------------------


def test_tags_select_and_a_key_of_an_imported_certificate_is_a_config_error(
    ca: tuple[Tenant, str, str], tmp_path: Path
) -> None:
    owner, ca_arn, _root = ca
    tag = {"Key": "deploy", "Value": f"web-{uuid.uuid4().hex[:6]}"}
    tagged = [private_certificate(owner, ca_arn, Tags=[tag])[0] for _ in range(2)]
    private_certificate(owner, ca_arn)  # untagged: not deployed
    leaf = pki.issue(f"{uuid.uuid4().hex[:8]}.example.com", sans=["x.example.com"])
    imported = owner.acm.import_certificate(**leaf.import_args())["CertificateArn"]
    out = tmp_path / "tls"
    out.mkdir()
    entries = [
        {
            "tag": f"deploy={tag['Value']}",
            "certificate": str(out / "{id}.crt"),
            "key": str(out / "{id}.key"),
        },
        {"name": "imported", "arn": imported, "fullchain": str(out / "imported.pem"),
         "key": str(out / "imported.key")},
    ]  # fmt: skip
    config = write_config(
        tmp_path / "agent.toml", owner.server, owner.key, entries, target="tags",
        aws_environment=True,
    )  # fmt: skip

    done = run_agent(config, owner.key, "--once", aws_environment=True)
    assert done.returncode == 1, done.stdout + done.stderr  # reported, not crashed
    assert "Traceback" not in done.stderr
    assert "CONFIG-ERROR  imported" in done.stderr and "cannot be exported" in done.stderr
    assert not (out / "imported.pem").exists()
    ids = sorted(arn.rsplit("/", 1)[1] for arn in tagged)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{i}.crt" for i in ids] + [f"{i}.key" for i in ids]
    )
    for arn in tagged:
        detail = owner.acm.describe_certificate(CertificateArn=arn)["Certificate"]
        assert detail["InUseBy"] == [consumer(owner, "tags")]

    # The tag removed from one: the next pass lets it go (and keeps the other).
    owner.acm.remove_tags_from_certificate(CertificateArn=tagged[0], Tags=[tag])
    again = run_agent(config, owner.key, "--once", aws_environment=True)
    assert f"RELEASED  tag:deploy={tag['Value']}  {tagged[0]}" in again.stdout
    assert owner.acm.describe_certificate(CertificateArn=tagged[0])["Certificate"]["InUseBy"] == []
    kept = owner.acm.describe_certificate(CertificateArn=tagged[1])["Certificate"]
    assert kept["InUseBy"] == [consumer(owner, "tags")]


def test_an_unusable_config_file_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('region = "us-east-1"\ntarget = "x"\nstate_dir = "/tmp"\n')
    done = run_agent(config, ("k", "s"), "--once")
    assert done.returncode == 2
    assert "at least one certificate" in done.stderr and "Traceback" not in done.stderr
