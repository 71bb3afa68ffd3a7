"""AWS Private CA issuing through boto3 against a running server, on SQLite and PostgreSQL:
a root built entirely through the API (Create → GetCertificateAuthorityCsr → IssueCertificate
RootCACertificate/V1 → Import), a subordinate signed by it, an end-entity certificate from the
subordinate; `openssl verify` accepts the chain; a revocation shows in the CRL and in OCSP
answers checked by `openssl`."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from openacm.adapters.ca.private_issuance import pkix_findings
from openacm.adapters.store.schema import private_ca_certificates
from tests.conftest import Tenant, finish_server, start_server
from tests.integration.test_pca_lifecycle import create_ca, error_of, status_of
from tests.integration.test_pca_sharing import policy_for
from tests.integration.test_revocation import IssuedPki, _status_line

TEMPLATE = "arn:aws:acm-pca:::template/{}"
ROOT_TEMPLATE = TEMPLATE.format("RootCACertificate/V1")
SUB_TEMPLATE = TEMPLATE.format("SubordinateCACertificate_PathLen0/V1")
LEAF_TEMPLATE = TEMPLATE.format("EndEntityCertificate/V1")
REVOCATION = {
    "CrlConfiguration": {"Enabled": True, "ExpirationInDays": 3},
    "OcspConfiguration": {"Enabled": True},
}


def leaf_csr(name: str = "svc.example.internal") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def issue(
    pca: Any, ca_arn: str, csr: bytes | str, template: str, validity: dict[str, Any], **extra: Any
) -> str:
    response = pca.issue_certificate(
        CertificateAuthorityArn=ca_arn,
        Csr=csr,
        SigningAlgorithm=extra.pop("SigningAlgorithm", "SHA256WITHECDSA"),
        TemplateArn=template,
        Validity=validity,
        **extra,
    )
    arn: str = response["CertificateArn"]
    assert arn.startswith(f"{ca_arn}/certificate/")
    return arn


def get(pca: Any, ca_arn: str, certificate_arn: str) -> dict[str, Any]:
    answer: dict[str, Any] = pca.get_certificate(
        CertificateAuthorityArn=ca_arn, CertificateArn=certificate_arn
    )
    return answer


def root_through_api(pca: Any, **extra: Any) -> tuple[str, x509.Certificate]:
    """A ROOT CA made ACTIVE with a certificate it issued to itself."""
    arn = create_ca(pca, **extra)
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    certificate_arn = issue(pca, arn, csr, ROOT_TEMPLATE, {"Type": "YEARS", "Value": 10})
    answer = get(pca, arn, certificate_arn)
    assert "CertificateChain" not in answer
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=answer["Certificate"]
    )
    assert status_of(pca, arn) == "ACTIVE"
    return arn, x509.load_pem_x509_certificate(answer["Certificate"].encode())


@dataclass
class Hierarchy:
    root_arn: str
    sub_arn: str
    root: x509.Certificate
    sub: x509.Certificate


def hierarchy(pca: Any) -> Hierarchy:
    root_arn, root = root_through_api(pca)
    sub_arn = create_ca(
        pca,
        "SUBORDINATE",
        key="RSA_2048",
        signing="SHA256WITHRSA",
        subject={"CommonName": "Example Issuing CA", "Organization": "Example"},
        RevocationConfiguration=REVOCATION,
    )
    sub_csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=sub_arn)["Csr"]
    sub_certificate_arn = issue(pca, root_arn, sub_csr, SUB_TEMPLATE, {"Type": "YEARS", "Value": 5})
    sub_answer = get(pca, root_arn, sub_certificate_arn)
    assert x509.load_pem_x509_certificate(sub_answer["CertificateChain"].encode()) == root
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=sub_arn,
        Certificate=sub_answer["Certificate"],
        CertificateChain=sub_answer["CertificateChain"],
    )
    sub = x509.load_pem_x509_certificate(sub_answer["Certificate"].encode())
    return Hierarchy(root_arn, sub_arn, root, sub)


def write_pki(tenant: Tenant, workdir: Path, h: Hierarchy, leaf: x509.Certificate) -> IssuedPki:
    workdir.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (workdir / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (workdir / "issuer.pem").write_bytes(h.sub.public_bytes(pem))
    (workdir / "root.pem").write_bytes(h.root.public_bytes(pem))
    (workdir / "cas.pem").write_bytes(h.root.public_bytes(pem) + h.sub.public_bytes(pem))
    return IssuedPki(tenant, h.sub_arn, workdir, leaf, h.sub, h.root)


def test_three_level_hierarchy_verifies_and_revocation_shows_in_crl_and_ocsp(
    tenant: Tenant, tmp_path: Path
) -> None:
    pca = tenant.client("acm-pca")
    h = hierarchy(pca)
    leaf_arn = issue(
        pca,
        h.sub_arn,
        leaf_csr(),
        LEAF_TEMPLATE,
        {"Type": "DAYS", "Value": 30},
        SigningAlgorithm="SHA256WITHRSA",
    )
    answer = get(pca, h.sub_arn, leaf_arn)
    leaf = x509.load_pem_x509_certificate(answer["Certificate"].encode())
    assert x509.load_pem_x509_certificates(answer["CertificateChain"].encode()) == [h.sub, h.root]
    for certificate in (h.root, h.sub, leaf):
        assert [f for f in pkix_findings(certificate) if f.severity == "ERROR"] == []

    pki = write_pki(tenant, tmp_path / "pki", h, leaf)
    verified = pki.openssl("verify", "-CAfile", "root.pem", "-untrusted", "issuer.pem", "leaf.pem")
    assert "leaf.pem: OK" in verified.stdout
    assert _status_line(pki.ocsp_post()) == "good"
    before = pki.crl("before.crl")
    assert before.get_revoked_certificate_by_serial_number(leaf.serial_number) is None
    assert pki.verify_with_crl("before.crl.pem").returncode == 0

    colon_serial = ":".join(f"{b:02x}" for b in leaf.serial_number.to_bytes(16, "big"))
    pca.revoke_certificate(
        CertificateAuthorityArn=h.sub_arn,
        CertificateSerial=colon_serial,
        RevocationReason="KEY_COMPROMISE",
    )
    error = error_of(
        lambda: pca.revoke_certificate(
            CertificateAuthorityArn=h.sub_arn,
            CertificateSerial=format(leaf.serial_number, "x"),
            RevocationReason="KEY_COMPROMISE",
        )
    )
    assert error["Code"] == "RequestAlreadyProcessedException"

    after = pki.crl("after.crl")
    entry = after.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    refused = pki.verify_with_crl("after.crl.pem")
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    ocsp_text = pki.ocsp_post()
    assert _status_line(ocsp_text) == "revoked"
    assert "Reason: keyCompromise" in ocsp_text
    # The GET form of RFC 6960 A.1 answers the same.
    response = pki.ocsp_get(pki.ocsp_request("req.der", nonce=False))
    assert _status_line(pki.ocsp_check_response(response.content, "get.der")) == "revoked"


def test_idempotency_token_answers_the_first_certificate(sqlite_tenant: Tenant) -> None:
    pca = sqlite_tenant.client("acm-pca")
    root_arn, _root = root_through_api(pca)
    csr = leaf_csr()
    validity = {"Type": "DAYS", "Value": 10}
    first = issue(pca, root_arn, csr, LEAF_TEMPLATE, validity, IdempotencyToken="t-1")
    assert issue(pca, root_arn, csr, LEAF_TEMPLATE, validity, IdempotencyToken="t-1") == first
    # Another request under the same token is another certificate.
    other = issue(pca, root_arn, leaf_csr(), LEAF_TEMPLATE, validity, IdempotencyToken="t-1")
    assert other != first
    assert issue(pca, root_arn, csr, LEAF_TEMPLATE, validity) != first


def test_refusals_of_the_model(sqlite_tenant: Tenant) -> None:
    pca = sqlite_tenant.client("acm-pca")
    pending = create_ca(pca)
    validity = {"Type": "DAYS", "Value": 10}

    def code(**params: Any) -> str:
        call = {
            "CertificateAuthorityArn": pending,
            "Csr": leaf_csr(),
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Validity": validity,
            **params,
        }
        return str(error_of(lambda: pca.issue_certificate(**call))["Code"])

    # A CA without its certificate issues nothing but its own root certificate.
    assert code() == "InvalidStateException"
    assert code(TemplateArn=ROOT_TEMPLATE) == "InvalidArgsException"  # not its own CSR
    not_a_ca = f"arn:aws:acm-pca:us-east-1:{sqlite_tenant.account_id}:certificate/abc"
    assert code(CertificateAuthorityArn=not_a_ca) == "InvalidArnException"
    missing = pending.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert code(CertificateAuthorityArn=missing) == "ResourceNotFoundException"

    root_arn, root = root_through_api(pca)
    assert code(CertificateAuthorityArn=root_arn, Csr=b"not a csr") == "MalformedCSRException"
    assert code(CertificateAuthorityArn=root_arn, SigningAlgorithm="SHA256WITHRSA") == (
        "InvalidArgsException"
    )
    assert code(
        CertificateAuthorityArn=root_arn, TemplateArn="arn:aws:acm-pca:::template/X/V1"
    ) == ("InvalidArnException")
    assert code(CertificateAuthorityArn=root_arn, Validity={"Type": "YEARS", "Value": 50}) == (
        "ValidationException"
    )

    unknown = f"{root_arn}/certificate/abcdef"
    error = error_of(lambda: get(pca, root_arn, unknown))
    assert error["Code"] == "ResourceNotFoundException"
    assert error_of(lambda: get(pca, root_arn, not_a_ca))["Code"] == "InvalidArnException"
    for serial, expected in (
        ("abcdef", "ResourceNotFoundException"),
        ("xyz", "InvalidRequestException"),
    ):
        error = error_of(
            lambda serial=serial: pca.revoke_certificate(
                CertificateAuthorityArn=root_arn,
                CertificateSerial=serial,
                RevocationReason="UNSPECIFIED",
            )
        )
        assert error["Code"] == expected
    own = error_of(
        lambda: pca.revoke_certificate(
            CertificateAuthorityArn=root_arn,
            CertificateSerial=format(root.serial_number, "x"),
            RevocationReason="UNSPECIFIED",
        )
    )
    assert own["Code"] == "InvalidRequestException"

    # A DISABLED CA may revoke but not issue.
    leaf_arn = issue(pca, root_arn, leaf_csr(), LEAF_TEMPLATE, validity)
    pca.update_certificate_authority(CertificateAuthorityArn=root_arn, Status="DISABLED")
    assert code(CertificateAuthorityArn=root_arn) == "InvalidStateException"
    pca.revoke_certificate(
        CertificateAuthorityArn=root_arn,
        CertificateSerial=leaf_arn.rsplit("/", 1)[1],
        RevocationReason="SUPERSEDED",
    )
    # No CRL or OCSP configured: nothing served.
    ca_id = root_arn.rsplit("/", 1)[1]
    assert httpx.get(f"{sqlite_tenant.server.endpoint}/crl/{ca_id}.crl").status_code == 404
    assert (
        httpx.post(f"{sqlite_tenant.server.endpoint}/ocsp/{ca_id}", content=b"x").status_code == 404
    )


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_lifetime_quota_holds_under_concurrent_issuance(tmp_path: Path, backend: str) -> None:
    """Twelve callers at once against a CA with room for four more certificates: exactly four
    are issued, each with its own serial, the others answered LimitExceededException."""
    server = start_server(tmp_path, backend, env={"OPENACM_QUOTA_PRIVATE_CERTIFICATES_PER_CA": "5"})
    try:
        _account, key = server.new_account()
        pca = server.client("acm-pca", key=key)
        root_arn, _root = root_through_api(pca)  # the root's own certificate counts
        csrs = [leaf_csr(f"c{index}.internal") for index in range(12)]

        def attempt(csr: bytes) -> str:
            try:
                return issue(pca, root_arn, csr, LEAF_TEMPLATE, {"Type": "DAYS", "Value": 1})
            except ClientError as error:
                return str(error.response["Error"]["Code"])

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(attempt, csrs))
        issued = [answer for answer in answers if answer.startswith("arn:")]
        assert len(issued) == 4 and len(set(issued)) == 4, answers
        assert sorted(set(answers) - set(issued)) == ["LimitExceededException"], answers
        rows = server.query(
            select(private_ca_certificates.c.serial).where(
                private_ca_certificates.c.ca_arn == root_arn
            )
        )
        assert len(rows) == 5
    finally:
        finish_server(server)


def test_audit_report_lists_issued_and_revoked_certificates(sqlite_tenant: Tenant) -> None:
    pca = sqlite_tenant.client("acm-pca")
    root_arn, root = root_through_api(pca)
    validity = {"Type": "DAYS", "Value": 10}
    kept = issue(pca, root_arn, leaf_csr("kept.internal"), LEAF_TEMPLATE, validity)
    revoked = issue(pca, root_arn, leaf_csr("gone.internal"), LEAF_TEMPLATE, validity)
    pca.revoke_certificate(
        CertificateAuthorityArn=root_arn,
        CertificateSerial=revoked.rsplit("/", 1)[1],
        RevocationReason="CESSATION_OF_OPERATION",
    )
    created = pca.create_certificate_authority_audit_report(
        CertificateAuthorityArn=root_arn,
        S3BucketName="audit-bucket",
        AuditReportResponseFormat="JSON",
    )
    report_id = created["AuditReportId"]
    ca_id = root_arn.rsplit("/", 1)[1]
    assert created["S3Key"] == f"audit-report/{ca_id}/{report_id}.json"
    described = pca.describe_certificate_authority_audit_report(
        CertificateAuthorityArn=root_arn, AuditReportId=report_id
    )
    assert described["AuditReportStatus"] == "SUCCESS"
    assert described["S3BucketName"] == "audit-bucket"
    assert described["S3Key"] == created["S3Key"]
    response = httpx.get(f"{sqlite_tenant.server.endpoint}/{created['S3Key']}", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    rows = {row["certificateArn"]: row for row in response.json()}
    assert {kept, revoked} <= set(rows)
    assert len(rows) == 3  # the root's own certificate, issued by IssueCertificate, counts
    assert rows[kept]["revokedAt"] is None and rows[kept]["subject"] == "CN=kept.internal"
    assert rows[revoked]["revocationReason"] == "CESSATION_OF_OPERATION"
    assert rows[revoked]["revokedAt"].endswith("+0000")
    root_serial = format(root.serial_number, "x")
    assert any(r["serial"].replace(":", "").lstrip("0") == root_serial for r in rows.values())

    csv_report = pca.create_certificate_authority_audit_report(
        CertificateAuthorityArn=root_arn,
        S3BucketName="audit-bucket",
        AuditReportResponseFormat="CSV",
    )
    text = httpx.get(f"{sqlite_tenant.server.endpoint}/{csv_report['S3Key']}", timeout=10).text
    lines = text.splitlines()
    assert lines[0].startswith("awsAccountId,certificateArn,serial,subject,")
    assert len(lines) == 4

    def refusal(call: Any) -> str:
        return str(error_of(call)["Code"])

    assert (
        refusal(
            lambda: pca.describe_certificate_authority_audit_report(
                CertificateAuthorityArn=root_arn,
                AuditReportId="00000000-0000-0000-0000-000000000000",
            )
        )
        == "ResourceNotFoundException"
    )
    assert (
        refusal(
            lambda: pca.create_certificate_authority_audit_report(
                CertificateAuthorityArn=root_arn,
                S3BucketName="Bad_Bucket",
                AuditReportResponseFormat="CSV",
            )
        )
        == "InvalidArgsException"
    )
    pending = create_ca(pca)
    assert (
        refusal(
            lambda: pca.create_certificate_authority_audit_report(
                CertificateAuthorityArn=pending,
                S3BucketName="audit-bucket",
                AuditReportResponseFormat="CSV",
            )
        )
        == "InvalidStateException"
    )
    unknown_id = "00000000-0000-0000-0000-000000000000"
    missing = f"{sqlite_tenant.server.endpoint}/audit-report/{ca_id}/{unknown_id}.json"
    assert httpx.get(missing, timeout=10).status_code == 404


def test_a_ca_shared_through_its_policy_issues_to_the_other_account(
    sqlite_tenant: Tenant,
) -> None:
    """PutPolicy granting IssueCertificate and GetCertificate: the other account issues and
    reads its certificate; what the policy does not grant (revocation) stays refused."""
    owner = sqlite_tenant.client("acm-pca")
    root_arn, root = root_through_api(owner)
    other_account, other_key = sqlite_tenant.server.new_account()
    other = sqlite_tenant.server.client("acm-pca", key=other_key)
    validity = {"Type": "DAYS", "Value": 10}
    denied = error_of(lambda: issue(other, root_arn, leaf_csr(), LEAF_TEMPLATE, validity))
    assert denied["Code"] == "AccessDeniedException"

    owner.put_policy(
        ResourceArn=root_arn, Policy=policy_for(root_arn, f"arn:aws:iam::{other_account}:root")
    )
    certificate_arn = issue(other, root_arn, leaf_csr(), LEAF_TEMPLATE, validity)
    answer = get(other, root_arn, certificate_arn)
    assert x509.load_pem_x509_certificate(answer["CertificateChain"].encode()) == root
    assert get(owner, root_arn, certificate_arn)["Certificate"] == answer["Certificate"]
    refused = error_of(
        lambda: other.revoke_certificate(
            CertificateAuthorityArn=root_arn,
            CertificateSerial=certificate_arn.rsplit("/", 1)[1],
            RevocationReason="UNSPECIFIED",
        )
    )
    assert refused["Code"] == "AccessDeniedException"


def test_aws_cli_builds_a_three_level_hierarchy(tenant: Tenant, tmp_path: Path) -> None:
    """Root → subordinate → end-entity with nothing but the aws CLI, as a user would, and
    `openssl verify` accepts the chain."""

    def cli(*args: str) -> Any:
        return tenant.aws_json("acm-pca", *args)

    def create(ca_type: str, name: str) -> str:
        configuration = tmp_path / f"{name}.json"
        configuration.write_text(
            '{"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",'
            f' "Subject": {{"CommonName": "{name}", "Organization": "CLI"}}}}'
        )
        arn: str = cli(
            "create-certificate-authority",
            "--certificate-authority-type", ca_type,
            "--certificate-authority-configuration", f"file://{configuration}",
        )["CertificateAuthorityArn"]  # fmt: skip
        csr = tmp_path / f"{name}.csr"
        csr.write_text(
            cli("get-certificate-authority-csr", "--certificate-authority-arn", arn)["Csr"]
        )
        return arn

    def issue_with(issuer: str, csr: Path, template: str, validity: str) -> dict[str, Any]:
        certificate_arn = cli(
            "issue-certificate",
            "--certificate-authority-arn", issuer,
            "--csr", f"fileb://{csr}",
            "--signing-algorithm", "SHA256WITHECDSA",
            "--template-arn", template,
            "--validity", validity,
        )["CertificateArn"]  # fmt: skip
        answer: dict[str, Any] = cli(
            "get-certificate",
            "--certificate-authority-arn", issuer,
            "--certificate-arn", certificate_arn,
        )  # fmt: skip
        return answer

    def install(arn: str, answer: dict[str, Any], name: str) -> None:
        (tmp_path / f"{name}.pem").write_text(answer["Certificate"])
        args = [
            "--certificate-authority-arn",
            arn,
            "--certificate",
            f"fileb://{tmp_path}/{name}.pem",
        ]
        if "CertificateChain" in answer:
            (tmp_path / f"{name}-chain.pem").write_text(answer["CertificateChain"])
            args += ["--certificate-chain", f"fileb://{tmp_path}/{name}-chain.pem"]
        tenant.aws("acm-pca", "import-certificate-authority-certificate", *args)

    root = create("ROOT", "cli-root")
    install(
        root,
        issue_with(root, tmp_path / "cli-root.csr", ROOT_TEMPLATE, "Value=10,Type=YEARS"),
        "cli-root",
    )
    sub = create("SUBORDINATE", "cli-sub")
    install(
        sub,
        issue_with(root, tmp_path / "cli-sub.csr", SUB_TEMPLATE, "Value=5,Type=YEARS"),
        "cli-sub",
    )
    (tmp_path / "leaf.csr").write_bytes(leaf_csr("svc.cli.internal"))
    leaf = issue_with(sub, tmp_path / "leaf.csr", LEAF_TEMPLATE, "Value=30,Type=DAYS")
    (tmp_path / "leaf.pem").write_text(leaf["Certificate"])
    (tmp_path / "leaf-chain.pem").write_text(leaf["CertificateChain"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", "cli-root.pem",
         "-untrusted", "leaf-chain.pem", "leaf.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert x509.load_pem_x509_certificates(leaf["CertificateChain"].encode())[-1] == (
        x509.load_pem_x509_certificate((tmp_path / "cli-root.pem").read_bytes())
    )
