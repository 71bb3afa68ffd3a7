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
from tests.support.bind import BindServer

pytestmark = pytest.mark.skipif(shutil.which("lego") is None, reason="lego is not installed")


def endpoint_url(tenant: Tenant, algorithms: list[str], **extra: Any) -> tuple[str, str]:
    acm = tenant.acm
    arn = acm.create_acme_endpoint(
        AuthorizationBehavior="PRE_APPROVED",
        CertificateAuthority={"PublicCertificateAuthority": {"AllowedKeyAlgorithms": algorithms}},
        **extra,
    )["AcmeEndpointArn"]
    url: str = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]["EndpointUrl"]
    return arn, url


def lego(
    bind: BindServer, directory: str, path: Path, *args: str
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
        directory,
        "--accept-tos",
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


def test_lego_obtains_a_certificate_listed_in_acm(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    arn, directory = endpoint_url(
        pki_tenant, ["EC_prime256v1"], CertificateTags=[{"Key": "via", "Value": "acme"}]
    )
    name = f"lego-{uuid.uuid4().hex[:8]}.openacm-test.com"
    other = f"www.{name}"
    done = lego(
        bind_server,
        directory,
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

    chain = tmp_path / "certificates" / f"{name}.crt"
    roots = tmp_path / "roots.pem"
    roots.write_text(httpx.get(f"{pki_tenant.server.endpoint}/ca/roots.pem").text)
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(roots), "-untrusted", str(chain), str(chain)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
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


def test_lego_with_a_key_the_endpoint_does_not_allow(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    _, directory = endpoint_url(pki_tenant, ["EC_prime256v1"])
    name = f"rsa-{uuid.uuid4().hex[:8]}.openacm-test.com"
    done = lego(
        bind_server, directory, tmp_path, "--email", "ops@openacm-test.com",
        "--key-type", "rsa2048", "--domains", name, "run",
    )  # fmt: skip
    assert done.returncode != 0
    assert "badPublicKey" in done.stdout + done.stderr
    listed = pki_tenant.acm.list_certificates(
        Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]}, CertificateKeyPairOrigins=["ACME"]
    )
    assert listed["CertificateSummaryList"] == []
