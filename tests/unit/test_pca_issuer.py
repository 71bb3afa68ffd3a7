"""The private CA issuing core (`services/pca/issuance.py`) on a migrated SQLite database:
a root signs its own CSR, then end-entity certificates; serials, ARNs, chain, revocation
URLs, the lifetime quota."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from openacm.adapters.ca.algorithms import PrivateCaSigner, generate_private_key, private_key_der
from openacm.adapters.ca.private_issuance import PrivateCertificateRequest
from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import IssuedCertificateStore, PrivateCaRecord, PrivateCaStore
from openacm.config import IssuanceSettings
from openacm.domain import pca
from openacm.domain.errors import InvalidArgsError, InvalidStateError, LimitExceededError
from openacm.domain.pca_validity import ValidityPeriod
from openacm.services.pca.issuance import (
    PrivateCertificateIssuer,
    revocation_urls,
    serial_of_certificate_arn,
    validity_window,
)
from openacm.services.pca.keys import PrivateCaKeys

CA_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
ARN = f"arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/{CA_ID}"
NOW = 1_790_000_000.0
ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"
END_ENTITY = "arn:aws:acm-pca:::template/EndEntityCertificate/V1"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def cipher() -> EnvelopeCipher:
    return EnvelopeCipher(MasterKey(b"k" * 32))


def pending_ca(cipher: EnvelopeCipher, revocation: dict[str, object]) -> PrivateCaRecord:
    key = generate_private_key("EC_prime256v1")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Private Root")])
    csr = PrivateCaSigner(key, "SHA256WITHECDSA").sign_csr(
        x509.CertificateSigningRequestBuilder().subject_name(name)
    )
    return PrivateCaRecord(
        arn=ARN,
        account_id="111122223333",
        region="us-east-1",
        ca_type="ROOT",
        status=pca.PENDING_CERTIFICATE,
        usage_mode="GENERAL_PURPOSE",
        key_algorithm="EC_prime256v1",
        signing_algorithm="SHA256WITHECDSA",
        key_storage_security_standard="FIPS_140_2_LEVEL_3_OR_HIGHER",
        configuration={},
        revocation=dict(revocation),
        key_sealed=cipher.seal(private_key_der(key), ARN),
        csr_pem=csr.public_bytes(Encoding.PEM).decode(),
        created_at=NOW,
        last_state_change_at=NOW,
    )


def leaf_csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc.internal")])
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.PEM)
    )


def request_for(
    ca: PrivateCaRecord, csr: bytes, template: str, days: int
) -> PrivateCertificateRequest:
    window = validity_window(ca, template, ValidityPeriod("DAYS", days), None, now=NOW)
    return PrivateCertificateRequest(csr=csr, validity=window, template_arn=template)


def activate(
    db: Database, issuer: PrivateCertificateIssuer, ca: PrivateCaRecord
) -> PrivateCaRecord:
    """Root → its own certificate → ACTIVE, as the API path does it."""
    assert ca.csr_pem is not None
    with db.write() as conn:
        PrivateCaStore(conn).insert(ca)
        root = issuer.issue(
            conn,
            ca,
            request_for(ca, ca.csr_pem.encode(), ROOT_TEMPLATE, 3650),
            signing_algorithm=ca.signing_algorithm,
            now=NOW,
        )
    assert root.chain_pem == ""
    certificate = root.certificate
    assert certificate.issuer == certificate.subject
    return ca.changed(
        NOW,
        status=pca.ACTIVE,
        certificate_pem=root.certificate_pem,
        serial=root.serial,
        not_before=certificate.not_valid_before_utc.timestamp(),
        not_after=certificate.not_valid_after_utc.timestamp(),
    )


def test_root_then_end_entity_recorded_with_chain_urls_and_count(
    db: Database, cipher: EnvelopeCipher
) -> None:
    revocation = {
        "CrlConfiguration": {"Enabled": True, "CustomCname": "crl.example.internal"},
        "OcspConfiguration": {"Enabled": True},
    }
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example:8080/"
    )
    ca = activate(db, issuer, pending_ca(cipher, revocation))
    with db.write() as conn:
        issued = issuer.issue(
            conn,
            ca,
            request_for(ca, leaf_csr(), END_ENTITY, 30),
            signing_algorithm="SHA384WITHECDSA",
            now=NOW,
        )
        assert issuer.issued_count(conn, ARN) == 2
    certificate = issued.certificate
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA384)
    assert issued.serial == format(certificate.serial_number, "x")
    assert issued.certificate_arn == f"{ARN}/certificate/{issued.serial}"
    assert serial_of_certificate_arn(ARN, issued.certificate_arn) == issued.serial
    assert issued.chain_pem == ca.certificate_pem
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name == [
        x509.UniformResourceIdentifier(f"http://crl.example.internal/crl/{CA_ID}.crl")
    ]
    access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    ocsp = [d for d in access.value if d.access_method == AuthorityInformationAccessOID.OCSP]
    assert ocsp[0].access_location.value == f"http://pki.example:8080/ocsp/{CA_ID}"
    with db.read() as conn:
        stored = IssuedCertificateStore(conn).get(ARN, issued.serial)
    assert stored is not None and stored.certificate_arn == issued.certificate_arn


def test_lifetime_quota_counts_every_issued_certificate(
    db: Database, cipher: EnvelopeCipher
) -> None:
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example", certificates_per_ca=2
    )
    ca = activate(db, issuer, pending_ca(cipher, {}))
    with db.write() as conn:
        issuer.issue(
            conn,
            ca,
            request_for(ca, leaf_csr(), END_ENTITY, 1),
            signing_algorithm="SHA256WITHECDSA",
            now=NOW,
        )
    with pytest.raises(LimitExceededError), db.write() as conn:
        issuer.issue(
            conn,
            ca,
            request_for(ca, leaf_csr(), END_ENTITY, 1),
            signing_algorithm="SHA256WITHECDSA",
            now=NOW,
        )


def test_refusals_root_template_foreign_csr_algorithm_and_missing_certificate(
    db: Database, cipher: EnvelopeCipher
) -> None:
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    ca = pending_ca(cipher, {})
    with db.write() as conn:
        PrivateCaStore(conn).insert(ca)
        with pytest.raises(InvalidArgsError, match="own certificate signing request"):
            issuer.issue(
                conn,
                ca,
                request_for(ca, leaf_csr(), ROOT_TEMPLATE, 30),
                signing_algorithm="SHA256WITHECDSA",
                now=NOW,
            )
        with pytest.raises(InvalidArgsError, match="cannot be used with key type"):
            issuer.issue(
                conn,
                ca,
                request_for(ca, leaf_csr(), ROOT_TEMPLATE, 30),
                signing_algorithm="SHA256WITHRSA",
                now=NOW,
            )
        with pytest.raises(InvalidStateError):
            validity_window(ca, END_ENTITY, ValidityPeriod("DAYS", 30), None, now=NOW)
        subordinate = ca.changed(NOW, ca_type="SUBORDINATE")
        assert ca.csr_pem is not None
        with pytest.raises(InvalidArgsError, match="ROOT certificate authority"):
            issuer.issue(
                conn,
                subordinate,
                request_for(subordinate, ca.csr_pem.encode(), ROOT_TEMPLATE, 30),
                signing_algorithm="SHA256WITHECDSA",
                now=NOW,
            )


def test_revocation_urls_follow_the_configuration(cipher: EnvelopeCipher) -> None:
    ca = pending_ca(cipher, {})
    assert revocation_urls(ca, "http://h:1").crl_url is None
    omitted = ca.changed(
        NOW,
        revocation={
            "CrlConfiguration": {
                "Enabled": True,
                "CrlDistributionPointExtensionConfiguration": {"OmitExtension": True},
            },
            "OcspConfiguration": {"Enabled": True, "OcspCustomCname": "ocsp.example"},
        },
    )
    urls = revocation_urls(omitted, "http://h:1")
    assert urls.crl_url is None
    assert urls.ocsp_url == f"http://ocsp.example/ocsp/{CA_ID}"
    assert serial_of_certificate_arn(ARN, f"{ARN}/certificate/zz") is None
    assert serial_of_certificate_arn(ARN, "arn:aws:acm-pca:x") is None


def test_a_permanently_deleted_ca_takes_its_counter_crl_and_reports_along(
    db: Database, cipher: EnvelopeCipher
) -> None:
    from openacm.adapters.store.pca_operations import (
        AuditReport,
        AuditReportStore,
        PcaIssuanceStore,
    )

    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    ca = activate(db, issuer, pending_ca(cipher, {}))
    with db.write() as conn:
        AuditReportStore(conn).insert(
            AuditReport(CA_ID, ARN, "SUCCESS", "JSON", "bucket", "audit-report/x.json", NOW)
        )
        PrivateCaStore(conn).remove_permanently(ca.arn)
    with db.read() as conn:
        assert issuer.issued_count(conn, ARN) == 0
        assert PcaIssuanceStore(conn).ca_arn_for_id(CA_ID) is None
        assert AuditReportStore(conn).by_id(CA_ID) is None


def test_a_refused_request_takes_no_place_of_the_quota(
    db: Database, cipher: EnvelopeCipher
) -> None:
    """ACM issues inside its own transaction and goes on after a refusal (to record the
    failure): the refused request must not have counted."""
    from openacm.domain.errors import MalformedCSRError

    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    ca = activate(db, issuer, pending_ca(cipher, {}))
    window = request_for(ca, leaf_csr(), END_ENTITY, 30).validity
    with db.write() as conn:
        with pytest.raises(MalformedCSRError):
            issuer.issue(
                conn,
                ca,
                PrivateCertificateRequest(csr=b"garbage", validity=window),
                signing_algorithm="SHA256WITHECDSA",
                now=NOW,
            )
        assert issuer.issued_count(conn, ARN) == 1  # the root's own certificate only
