"""Private CAs with their keys in a PKCS#11 token (SoftHSM2): `[issuance]
private_ca_key_storage = "pkcs11"` makes CreateCertificateAuthority generate the key pair inside
the token, never in the store; the CA's CSR is signed there; algorithms a token cannot hold are
refused before anything is written."""

from __future__ import annotations

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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from openacm.adapters.store.schema import private_cas
from openacm.services.pca.keys import private_ca_key_label
from tests.conftest import IN_CI, Tenant, _tenant, finish_server, start_server
from tests.integration.test_pca_issue import (
    LEAF_TEMPLATE,
    REVOCATION,
    get,
    issue,
    leaf_csr,
    root_through_api,
)
from tests.integration.test_pkcs11_ca import TOKEN_LABEL, _token_directory
from tests.integration.test_private_certificates import make_root_ca, request_private, wait_done
from tests.integration.test_revocation import IssuedPki, _status_line
from tests.support.server import OpenAcmServer
from tests.support.softhsm import TEST_PIN, softhsm_module, softhsm_unavailable

SUBJECT = {"CommonName": "Token Root", "Organization": "Example"}


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    reason = softhsm_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the PKCS#11 tests: {reason}")
        pytest.skip(reason)
    tmp_path = tmp_path_factory.mktemp("pca-token")
    env = {
        "OPENACM_ISSUANCE_PRIVATE_CA_KEY_STORAGE": "pkcs11",
        "OPENACM_ISSUANCE_PKCS11_MODULE": str(softhsm_module()),
        "OPENACM_ISSUANCE_PKCS11_TOKEN_LABEL": TOKEN_LABEL,
        "OPENACM_ISSUANCE_PKCS11_PIN": TEST_PIN,
        **_token_directory(tmp_path),
    }
    started = start_server(tmp_path, "sqlite", env=env)
    yield started
    finish_server(started)


@pytest.fixture
def token_tenant(token_server: OpenAcmServer) -> Tenant:
    return _tenant(token_server)


def create_ca(pca: Any, key: str, signing: str) -> str:
    arn: str = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": key,
            "SigningAlgorithm": signing,
            "Subject": SUBJECT,
        },
    )["CertificateAuthorityArn"]
    deadline = time.monotonic() + 60
    while True:
        described = pca.describe_certificate_authority(CertificateAuthorityArn=arn)
        if described["CertificateAuthority"]["Status"] != "CREATING":
            assert described["CertificateAuthority"]["Status"] == "PENDING_CERTIFICATE"
            return arn
        assert time.monotonic() < deadline
        time.sleep(0.1)


def token_labels(server: OpenAcmServer) -> list[str]:
    listed = subprocess.run(
        ["pkcs11-tool", "--module", str(softhsm_module()), "--token-label", TOKEN_LABEL,
         "--login", "--pin", TEST_PIN, "--list-objects", "--type", "privkey"],
        capture_output=True, text=True, check=True, env=server.process_env(),
    )  # fmt: skip
    return [
        line.split(":", 1)[1].strip()
        for line in listed.stdout.splitlines()
        if line.strip().startswith("label:")
    ]


@pytest.mark.parametrize(
    ("key", "signing", "public_type"),
    [
        ("RSA_2048", "SHA512WITHRSA", rsa.RSAPublicKey),
        ("EC_secp521r1", "SHA512WITHECDSA", ec.EllipticCurvePublicKey),
        ("EC_prime256v1", "SHA256WITHECDSA", ec.EllipticCurvePublicKey),
    ],
)
def test_ca_key_is_generated_in_the_token(
    token_tenant: Tenant, key: str, signing: str, public_type: type
) -> None:
    pca = token_tenant.client("acm-pca")
    arn = create_ca(pca, key, signing)
    csr = x509.load_pem_x509_csr(
        pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"].encode()
    )
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), public_type)
    digest = signing.split("WITH")[0].lower()
    assert csr.signature_hash_algorithm is not None
    assert csr.signature_hash_algorithm.name == digest
    stored = token_tenant.server.query(
        select(private_cas.c.key_storage, private_cas.c.key_sealed).where(private_cas.c.arn == arn)
    )
    assert stored == [("pkcs11", None)]
    assert private_ca_key_label(arn) in token_labels(token_tenant.server)


@pytest.mark.parametrize(
    ("key", "signing"),
    [("ML_DSA_65", "ML_DSA_65"), ("RSA_2048", "SHA256WITHRSA_PSS")],
)
def test_what_a_token_cannot_hold_is_refused_before_anything_is_written(
    token_tenant: Tenant, key: str, signing: str
) -> None:
    pca = token_tenant.client("acm-pca")
    with pytest.raises(ClientError) as refused:
        pca.create_certificate_authority(
            CertificateAuthorityType="ROOT",
            CertificateAuthorityConfiguration={
                "KeyAlgorithm": key,
                "SigningAlgorithm": signing,
                "Subject": SUBJECT,
            },
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidArgsException"
    assert "PKCS#11" in error["Message"]
    assert pca.list_certificate_authorities()["CertificateAuthorities"] == []


@pytest.mark.parametrize(("key", "signing"), [("EC_secp384r1", "SHA384WITHECDSA")])
def test_a_token_ca_signs_its_root_certificates_crls_and_ocsp(
    token_tenant: Tenant, tmp_path: Path, key: str, signing: str
) -> None:
    """The root self-signed in the token with RootCACertificate/V1, and a private certificate
    through ACM that openssl verifies against it."""
    ca_arn, root_pem = make_root_ca(token_tenant, key=key, signing=signing)
    root = x509.load_pem_x509_certificate(root_pem.encode())
    assert root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha384"

    name = f"svc-{uuid.uuid4().hex[:8]}.corp.internal"
    arn = request_private(token_tenant, ca_arn, name, KeyAlgorithm="EC_prime256v1")
    detail = wait_done(token_tenant.acm, arn)
    assert detail["Status"] == "ISSUED", detail
    got = token_tenant.acm.get_certificate(CertificateArn=arn)
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "leaf.pem").write_text(got["Certificate"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "leaf.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr

    stored = token_tenant.server.query(
        select(private_cas.c.key_storage, private_cas.c.key_sealed).where(
            private_cas.c.arn == ca_arn
        )
    )
    assert stored == [("pkcs11", None)]


def test_a_token_ca_signs_crls_and_ocsp_answers(token_tenant: Tenant, tmp_path: Path) -> None:
    pca = token_tenant.client("acm-pca")
    ca_arn, root = root_through_api(pca, RevocationConfiguration=REVOCATION)  # EC P-256
    leaf_arn = issue(pca, ca_arn, leaf_csr(), LEAF_TEMPLATE, {"Type": "DAYS", "Value": 30})
    leaf = x509.load_pem_x509_certificate(get(pca, ca_arn, leaf_arn)["Certificate"].encode())
    workdir = tmp_path / "pki"
    workdir.mkdir()
    pem = serialization.Encoding.PEM
    for name in ("issuer.pem", "root.pem", "cas.pem"):
        (workdir / name).write_bytes(root.public_bytes(pem))
    (workdir / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    pki = IssuedPki(token_tenant, ca_arn, workdir, leaf, root, root)
    assert _status_line(pki.ocsp_post()) == "good"

    pca.revoke_certificate(
        CertificateAuthorityArn=ca_arn,
        CertificateSerial=format(leaf.serial_number, "x"),
        RevocationReason="KEY_COMPROMISE",
    )
    crl = pki.crl("after.crl")
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    assert _status_line(pki.ocsp_post()) == "revoked"
