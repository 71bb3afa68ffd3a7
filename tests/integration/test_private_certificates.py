"""Private certificates through ACM: RequestCertificate with CertificateAuthorityArn issues from
an openacm private CA built entirely through the ACM-PCA API; the CA's refusals become ACM's
PCA_* failure reasons; ExportCertificate and RenewCertificate (same ARN, new key)."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import Tenant
from tests.integration.test_pca_sharing import policy_for

PASSPHRASE = b"private passphrase"
ACM_ACTIONS = ["IssueCertificate", "GetCertificate", "ListPermissions"]
DONE = ("ISSUED", "FAILED")


def _error(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error: dict[str, Any] = caught.value.response["Error"]
    return error


def _template(tenant: Tenant, name: str) -> str:
    return f"arn:aws:acm-pca:::template/{name}"


def _issued_pem(pca: Any, ca_arn: str, certificate_arn: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            got = pca.get_certificate(
                CertificateAuthorityArn=ca_arn, CertificateArn=certificate_arn
            )
            return str(got["Certificate"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "RequestInProgressException":
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def make_root_ca(
    tenant: Tenant,
    *,
    key: str = "RSA_2048",
    signing: str = "SHA256WITHRSA",
    validity: dict[str, Any] | None = None,
    permit_acm: bool = True,
) -> tuple[str, str]:
    """An ACTIVE root CA made only through the API: its CSR signed by itself with
    RootCACertificate/V1, then imported. Returns (CA ARN, root PEM)."""
    pca = tenant.client("acm-pca")
    arn = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": key,
            "SigningAlgorithm": signing,
            "Subject": {"CommonName": f"Private root {uuid.uuid4().hex[:8]}", "Organization": "T"},
        },
    )["CertificateAuthorityArn"]
    deadline = time.monotonic() + 60
    while (
        pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"][
            "Status"
        ]
        == "CREATING"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    issued = pca.issue_certificate(
        CertificateAuthorityArn=arn,
        Csr=csr.encode(),
        SigningAlgorithm=signing,
        TemplateArn=_template(tenant, "RootCACertificate/V1"),
        Validity=validity or {"Type": "YEARS", "Value": 5},
    )["CertificateArn"]
    root_pem = _issued_pem(pca, arn, issued)
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=root_pem.encode()
    )
    if permit_acm:
        pca.create_permission(
            CertificateAuthorityArn=arn, Principal="acm.amazonaws.com", Actions=ACM_ACTIONS
        )
    return arn, root_pem


def wait_done(acm: Any, arn: str, *, renewal: bool = False) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        detail: dict[str, Any] = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        if renewal:
            if detail.get("RenewalSummary", {}).get("RenewalStatus") in ("SUCCESS", "FAILED"):
                return detail
        elif detail["Status"] in DONE:
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.1)


def request_private(tenant: Tenant, ca_arn: str, name: str, **extra: Any) -> str:
    arn: str = tenant.acm.request_certificate(
        DomainName=name,
        SubjectAlternativeNames=[name, f"api.{name}"],
        CertificateAuthorityArn=ca_arn,
        **extra,
    )["CertificateArn"]
    return arn


def _verify(root_pem: str, leaf_pem: str, chain_pem: str, tmp_path: Path) -> None:
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "leaf.pem").write_text(leaf_pem)
    (tmp_path / "chain.pem").write_text(chain_pem)
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    ("ca_key", "signing", "key_algorithm"),
    [
        ("RSA_2048", "SHA256WITHRSA", "RSA_2048"),
        ("EC_secp384r1", "SHA384WITHECDSA", "EC_prime256v1"),
    ],
)
def test_private_certificate_is_issued_exported_and_verifies(
    tenant: Tenant, tmp_path: Path, ca_key: str, signing: str, key_algorithm: str
) -> None:
    ca_arn, root_pem = make_root_ca(tenant, key=ca_key, signing=signing)
    name = f"svc-{uuid.uuid4().hex[:8]}.corp.internal"  # private names need no public suffix
    arn = request_private(tenant, ca_arn, name, KeyAlgorithm=key_algorithm)
    detail = wait_done(tenant.acm, arn)
    assert detail["Status"] == "ISSUED", detail
    assert detail["Type"] == "PRIVATE"
    assert detail["CertificateAuthorityArn"] == ca_arn
    assert detail["SubjectAlternativeNames"] == [name, f"api.{name}"]
    assert detail["KeyAlgorithm"] == key_algorithm.replace("_", "-")
    got = tenant.acm.get_certificate(CertificateArn=arn)
    certificate = x509.load_pem_x509_certificate(got["Certificate"].encode())
    _verify(root_pem, got["Certificate"], got["CertificateChain"], tmp_path)

    exported = tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    key = serialization.load_pem_private_key(exported["PrivateKey"].encode(), PASSPHRASE)
    assert key.public_key() == certificate.public_key()

    # ACM-PCA sees the serial as one of its CA's certificates.
    serial = format(certificate.serial_number, "x")
    pca = tenant.client("acm-pca")
    pca_certificate_arn = f"{ca_arn}/certificate/{serial}"
    assert _issued_pem(pca, ca_arn, pca_certificate_arn) == got["Certificate"]


def test_validity_is_395_days(tenant: Tenant) -> None:
    ca_arn, _root = make_root_ca(tenant)
    arn = request_private(tenant, ca_arn, f"v-{uuid.uuid4().hex[:8]}.corp.internal")
    detail = wait_done(tenant.acm, arn)
    assert detail["Status"] == "ISSUED"
    days = (detail["NotAfter"] - detail["IssuedAt"]).total_seconds() / 86400
    assert 394.9 < days <= 395.01


def test_ca_refusals_become_pca_failure_reasons(tenant: Tenant) -> None:
    pca = tenant.client("acm-pca")
    ca_arn, _root = make_root_ca(tenant)
    name = f"r-{uuid.uuid4().hex[:8]}.corp.internal"

    mismatch = request_private(tenant, ca_arn, name, KeyAlgorithm="EC_prime256v1")
    assert wait_done(tenant.acm, mismatch)["FailureReason"] == "PCA_INVALID_ARGS"

    no_permission, _ = make_root_ca(tenant, permit_acm=False)
    denied = request_private(tenant, no_permission, name)
    assert wait_done(tenant.acm, denied)["FailureReason"] == "PCA_ACCESS_DENIED"

    short, _ = make_root_ca(tenant, validity={"Type": "DAYS", "Value": 30})
    too_long = request_private(tenant, short, name)
    assert wait_done(tenant.acm, too_long)["FailureReason"] == "PCA_INVALID_DURATION"

    pca.update_certificate_authority(CertificateAuthorityArn=ca_arn, Status="DISABLED")
    disabled = request_private(tenant, ca_arn, name)
    detail = wait_done(tenant.acm, disabled)
    assert (detail["Status"], detail["FailureReason"]) == ("FAILED", "PCA_INVALID_STATE")

    unknown = ca_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    missing = request_private(tenant, unknown, name)
    assert wait_done(tenant.acm, missing)["FailureReason"] == "PCA_RESOURCE_NOT_FOUND"

    elsewhere = ca_arn.replace(":us-east-1:", ":eu-west-1:")
    other_region = request_private(tenant, elsewhere, name)
    assert wait_done(tenant.acm, other_region)["FailureReason"] == "PCA_INVALID_ARN"

    not_a_ca = ca_arn.replace("certificate-authority/", "something/")
    error = _error(
        tenant.acm.request_certificate, DomainName=name, CertificateAuthorityArn=not_a_ca
    )
    assert error["Code"] == "InvalidArnException"


def test_a_ca_shared_by_policy_issues_for_the_other_account(tenant: Tenant) -> None:
    ca_arn, _root = make_root_ca(tenant, permit_acm=False)
    other_account, other_key = tenant.server.new_account()
    other_acm = tenant.server.client("acm", key=other_key)
    name = f"s-{uuid.uuid4().hex[:8]}.corp.internal"
    before = other_acm.request_certificate(DomainName=name, CertificateAuthorityArn=ca_arn)
    assert wait_done(other_acm, before["CertificateArn"])["FailureReason"] == "PCA_ACCESS_DENIED"

    pca = tenant.client("acm-pca")
    pca.put_policy(ResourceArn=ca_arn, Policy=policy_for(ca_arn, other_account))
    after = other_acm.request_certificate(DomainName=name, CertificateAuthorityArn=ca_arn)
    detail = wait_done(other_acm, after["CertificateArn"])
    assert detail["Status"] == "ISSUED", detail
    assert detail["CertificateAuthorityArn"] == ca_arn


def test_renew_certificate(tenant: Tenant) -> None:
    ca_arn, _root = make_root_ca(tenant)
    arn = request_private(tenant, ca_arn, f"n-{uuid.uuid4().hex[:8]}.corp.internal")
    first = wait_done(tenant.acm, arn)
    assert "RenewalSummary" not in first

    error = _error(tenant.acm.renew_certificate, CertificateArn=arn)
    assert error["Code"] == "ValidationException"
    assert "exported" in error["Message"]

    old_key = tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    tenant.acm.renew_certificate(CertificateArn=arn)
    renewed = wait_done(tenant.acm, arn, renewal=True)
    summary = renewed["RenewalSummary"]
    assert summary["RenewalStatus"] == "SUCCESS"
    assert summary["UpdatedAt"] >= first["IssuedAt"]
    assert renewed["Status"] == "ISSUED"
    assert renewed["Serial"] != first["Serial"]
    assert renewed["CertificateArn"] == arn
    new_key = tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    assert new_key["PrivateKey"] != old_key["PrivateKey"]
    assert new_key["Certificate"] != old_key["Certificate"]

    # A CA that cannot sign any more fails the renewal; the current certificate stays.
    tenant.client("acm-pca").update_certificate_authority(
        CertificateAuthorityArn=ca_arn, Status="DISABLED"
    )
    tenant.acm.renew_certificate(CertificateArn=arn)
    failed = wait_done(tenant.acm, arn, renewal=True)
    assert failed["RenewalSummary"]["RenewalStatus"] == "FAILED"
    assert failed["RenewalSummary"]["RenewalStatusReason"] == "PCA_INVALID_STATE"
    assert failed["Status"] == "ISSUED"
    assert tenant.acm.get_certificate(CertificateArn=arn)["Certificate"] == new_key["Certificate"]
