"""The ACME server of an ACM ACME endpoint, driven by real ACME clients (Debian's lego).

lego solves dns-01 through RFC 2136 updates to the test BIND server; openacm looks the TXT
record up against the same server (its validation resolvers). The certificate must verify
against the builtin CA's root, and ACM must list and describe it as an ACME certificate.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests.conftest import Tenant
from tests.support.acme_client import Endpoint, create_endpoint
from tests.support.bind import BindServer

needs_lego = pytest.mark.skipif(shutil.which("lego") is None, reason="lego is not installed")
needs_certbot = pytest.mark.skipif(
    shutil.which("certbot") is None or shutil.which("nsupdate") is None,
    reason="certbot and nsupdate are not installed",
)


def endpoint_url(tenant: Tenant, algorithms: list[str], **extra: Any) -> Endpoint:
    return create_endpoint(
        tenant.acm,
        CertificateAuthority={"PublicCertificateAuthority": {"AllowedKeyAlgorithms": algorithms}},
        **extra,
    )


def lego(
    bind: BindServer, endpoint: Endpoint, path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(path),
        "RFC2136_NAMESERVER": bind.nameserver_spec,
        "RFC2136_TSIG_KEY": bind.tsig_key_name,
        "RFC2136_TSIG_SECRET": bind.tsig_secret_b64,
        "RFC2136_TSIG_ALGORITHM": bind.tsig_algorithm + ".",
        "RFC2136_PROPAGATION_TIMEOUT": "20",
        "RFC2136_POLLING_INTERVAL": "1",
    }
    command = [
        "lego",
        "--server",
        endpoint.url,
        "--accept-tos",
        "--eab",
        "--kid",
        endpoint.eab[0],
        "--hmac",
        endpoint.eab[1],
        "--path",
        str(path),
        "--dns",
        "rfc2136",
        "--dns.resolvers",
        bind.nameserver_spec,
        "--dns.disable-cp",
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def verified_leaf(tenant: Tenant, chain: Path, tmp_path: Path) -> x509.Certificate:
    """The chain's leaf, once `openssl verify` accepts the chain under the builtin CA's root."""
    roots = tmp_path / "roots.pem"
    roots.write_text(httpx.get(f"{tenant.server.endpoint}/ca/roots.pem").text)
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(roots), "-untrusted", str(chain), str(chain)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return x509.load_pem_x509_certificates(chain.read_bytes())[0]


@needs_lego
def test_lego_obtains_a_certificate_listed_in_acm(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint = endpoint_url(
        pki_tenant, ["EC_prime256v1"], CertificateTags=[{"Key": "via", "Value": "acme"}]
    )
    arn = endpoint.arn
    name = f"lego-{uuid.uuid4().hex[:8]}.openacm-test.com"
    other = f"www.{name}"
    done = lego(
        bind_server,
        endpoint,
        tmp_path,
        "--email",
        "ops@openacm-test.com",
        "--key-type",
        "ec256",
        "--domains",
        name,
        "--domains",
        other,
        "run",
    )
    assert done.returncode == 0, done.stdout + done.stderr + pki_tenant.server.log()[-3000:]

    leaf = verified_leaf(pki_tenant, tmp_path / "certificates" / f"{name}.crt", tmp_path)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {name, other}

    acm = pki_tenant.acm
    # ACME certificates are listed only when asked for (the model's default leaves them out).
    assert acm.list_certificates()["CertificateSummaryList"] == []
    listed = acm.list_certificates(
        Includes={"keyTypes": ["EC_prime256v1"]}, CertificateKeyPairOrigins=["ACME"]
    )["CertificateSummaryList"]
    assert [summary["DomainName"] for summary in listed] == [name]
    described = acm.describe_certificate(CertificateArn=listed[0]["CertificateArn"])["Certificate"]
    assert described["Status"] == "ISSUED"
    assert described["AcmeEndpointArn"] == arn
    assert described["AcmeAccountId"]
    assert described["CertificateKeyPairOrigin"] == "ACME"
    assert format(leaf.serial_number, "x") in described["Serial"].replace(":", "")
    tags = acm.list_tags_for_certificate(CertificateArn=listed[0]["CertificateArn"])["Tags"]
    assert tags == [{"Key": "via", "Value": "acme"}]

    # lego revokes it with the account key; ACM and the CRL say so.
    revoked = lego(bind_server, endpoint, tmp_path, "--email", "ops@openacm-test.com",
                   "--domains", name, "revoke", "--reason", "4")  # fmt: skip
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    described = acm.describe_certificate(CertificateArn=listed[0]["CertificateArn"])["Certificate"]
    assert described["Status"] == "REVOKED"
    assert described["RevocationReason"] == "SUPERSEDED"


@needs_lego
def test_lego_with_a_key_the_endpoint_does_not_allow(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint = endpoint_url(pki_tenant, ["EC_prime256v1"])
    name = f"rsa-{uuid.uuid4().hex[:8]}.openacm-test.com"
    done = lego(
        bind_server, endpoint, tmp_path, "--email", "ops@openacm-test.com",
        "--key-type", "rsa2048", "--domains", name, "run",
    )  # fmt: skip
    assert done.returncode != 0
    assert "badPublicKey" in done.stdout + done.stderr
    listed = pki_tenant.acm.list_certificates(
        Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]}, CertificateKeyPairOrigins=["ACME"]
    )
    assert listed["CertificateSummaryList"] == []


# certbot's manual auth hook: the dns-01 TXT record, by RFC 2136 update to the test BIND.
CERTBOT_HOOK = """#!/bin/sh
nsupdate -y "{algorithm}:{key}:{secret}" <<END
server {address} {port}
zone {zone}
update add _acme-challenge.$CERTBOT_DOMAIN. 60 TXT "$CERTBOT_VALIDATION"
send
END
"""


@needs_certbot
def test_certbot_obtains_a_certificate(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint = endpoint_url(pki_tenant, ["EC_prime256v1", "EC_secp384r1"], Contact="REQUIRED")
    name = f"certbot-{uuid.uuid4().hex[:8]}.openacm-test.com"
    hook = tmp_path / "hook.sh"
    hook.write_text(
        CERTBOT_HOOK.format(
            algorithm=bind_server.tsig_algorithm,
            key=bind_server.tsig_key_name,
            secret=bind_server.tsig_secret_b64,
            address=bind_server.address,
            port=bind_server.port,
            zone="openacm-test.com",
        )
    )
    hook.chmod(0o755)
    command = ["certbot", "certonly", "--non-interactive", "--agree-tos"]
    command += ["-m", "ops@openacm-test.com", "--server", endpoint.url]
    command += ["--eab-kid", endpoint.eab[0], "--eab-hmac-key", endpoint.eab[1]]
    for option in ("config", "work", "logs"):
        command += [f"--{option}-dir", str(tmp_path / option)]
    command += ["--manual", "--preferred-challenges", "dns", "--manual-auth-hook", str(hook)]
    command += ["--key-type", "ecdsa", "--elliptic-curve", "secp384r1", "-d", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr + pki_tenant.server.log()[-3000:]

    chain = tmp_path / "config" / "live" / name / "fullchain.pem"
    leaf = verified_leaf(pki_tenant, chain, tmp_path)
    assert leaf.subject.rfc4514_string() == f"CN={name}"
    listed = pki_tenant.acm.list_certificates(
        Includes={"keyTypes": ["EC_secp384r1"]}, CertificateKeyPairOrigins=["ACME"]
    )["CertificateSummaryList"]
    assert [summary["DomainName"] for summary in listed] == [name]
    described = pki_tenant.acm.describe_certificate(CertificateArn=listed[0]["CertificateArn"])
    assert described["Certificate"]["AcmeEndpointArn"] == endpoint.arn
