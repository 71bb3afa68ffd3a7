"""CRLs and OCSP of private CAs (`services/pca/revocation.py`) on a migrated SQLite database,
for an EC CA and an ML-DSA CA; serial parsing of RevokeCertificate; audit report rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from openacm.adapters.ca.algorithms import PrivateCaSigner, generate_private_key, private_key_der
from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import IssuedCertificateStore, PrivateCaRecord, PrivateCaStore
from openacm.adapters.store.pca_operations import PcaIssuanceStore, issued_certificates
from openacm.config import IssuanceSettings
from openacm.services.pca.audit_reports import render, report_rows
from openacm.services.pca.certificates import normalized_serial
from openacm.services.pca.issuance import PrivateCertificateIssuer
from openacm.services.pca.keys import PrivateCaKeys
from openacm.services.pca.revocation import PrivateCaRevocation
from tests.unit.test_pca_issuer import (
    ARN,
    CA_ID,
    END_ENTITY,
    NOW,
    activate,
    leaf_csr,
    pending_ca,
    request_for,
)

REVOCATION = {
    "CrlConfiguration": {"Enabled": True, "ExpirationInDays": 2, "CrlType": "COMPLETE"},
    "OcspConfiguration": {"Enabled": True},
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def cipher() -> EnvelopeCipher:
    return EnvelopeCipher(MasterKey(b"k" * 32))


def mldsa_ca(cipher: EnvelopeCipher) -> PrivateCaRecord:
    key = generate_private_key("ML_DSA_44")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PQ Root")])
    csr = PrivateCaSigner(key, "ML_DSA_44").sign_csr(
        x509.CertificateSigningRequestBuilder().subject_name(name)
    )
    return pending_ca(cipher, REVOCATION).changed(
        NOW,
        key_algorithm="ML_DSA_44",
        signing_algorithm="ML_DSA_44",
        key_sealed=cipher.seal(private_key_der(key), ARN),
        csr_pem=csr.public_bytes(Encoding.PEM).decode(),
    )


def issue_leaf(
    db: Database, issuer: PrivateCertificateIssuer, ca: PrivateCaRecord
) -> x509.Certificate:
    with db.write() as conn:
        return issuer.issue(
            conn,
            ca,
            request_for(ca, leaf_csr(), END_ENTITY, 30),
            signing_algorithm=ca.signing_algorithm,
            now=NOW,
        ).certificate


def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1())
    return builder.build().public_bytes(Encoding.DER)


@pytest.mark.parametrize("family", ["ec", "mldsa"])
def test_crl_and_ocsp_follow_revocation(
    db: Database,
    cipher: EnvelopeCipher,
    family: str,
) -> None:
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    revocation = PrivateCaRevocation(db, issuer)
    ca = activate(
        db, issuer, pending_ca(cipher, REVOCATION) if family == "ec" else mldsa_ca(cipher)
    )
    assert ca.certificate_pem is not None
    ca_certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    leaf = issue_leaf(db, issuer, ca)
    with db.write() as conn:
        PrivateCaStore(conn).replace(ca)  # the stored row catches up with ACTIVE

    first = x509.load_der_x509_crl(_crl(revocation, NOW))
    assert first.is_signature_valid(ca_certificate.public_key())  # type: ignore[arg-type]
    assert first.next_update_utc is not None
    assert (first.next_update_utc - first.last_update_utc).days == 2
    assert len(first) == 0
    answer = ocsp.load_der_ocsp_response(_ocsp(revocation, ocsp_request(leaf, ca_certificate), NOW))
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD

    with db.write() as conn:
        serial = format(leaf.serial_number, "x")
        assert IssuedCertificateStore(conn).revoke(ARN, serial, "KEY_COMPROMISE", NOW + 1)
        revocation.regenerate_crl(conn, ca, now=NOW + 1)
    revocation.invalidate(ARN, leaf.serial_number)
    second = x509.load_der_x509_crl(_crl(revocation, NOW + 2))
    assert second.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    number = second.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == 2
    answer = ocsp.load_der_ocsp_response(
        _ocsp(revocation, ocsp_request(leaf, ca_certificate), NOW + 2)
    )
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    if family == "mldsa":
        assert isinstance(ca_certificate.public_key(), mldsa.MLDSA44PublicKey)

    # Served unchanged until half its validity has passed, then signed again: by the
    # background, or by the first request that finds it due.
    assert _crl(revocation, NOW + 3600) == _crl(revocation, NOW + 2)
    assert revocation.refresh_due(NOW + 3600) == 0
    assert revocation.refresh_due(NOW + 1.01 * 24 * 3600) == 1
    assert revocation.refresh_due(NOW + 1.01 * 24 * 3600) == 0
    third = x509.load_der_x509_crl(_crl(revocation, NOW + 1.02 * 24 * 3600))
    assert third.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
    fourth = x509.load_der_x509_crl(_crl(revocation, NOW + 2.6 * 24 * 3600))
    assert fourth.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 4


def _crl(revocation: PrivateCaRevocation, now: float) -> bytes:
    der = revocation.current_crl(CA_ID, now=now)
    assert der is not None
    return der


def _ocsp(revocation: PrivateCaRevocation, request: bytes, now: float) -> bytes:
    der = revocation.ocsp_response(CA_ID, request, now=now)
    assert der is not None
    return der


def test_nothing_published_without_configuration_or_for_unknown_ids(
    db: Database,
    cipher: EnvelopeCipher,
) -> None:
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    revocation = PrivateCaRevocation(db, issuer)
    ca = activate(db, issuer, pending_ca(cipher, {}))
    with db.write() as conn:
        PrivateCaStore(conn).replace(ca)
    assert revocation.current_crl(CA_ID, now=NOW) is None
    assert revocation.ocsp_response(CA_ID, b"", now=NOW) is None
    assert revocation.current_crl("../../etc/passwd", now=NOW) is None
    with db.read() as conn:
        assert PcaIssuanceStore(conn).ca_arn_for_id("%") is None


def test_a_pending_root_finds_its_id_before_any_issuance(
    db: Database,
    cipher: EnvelopeCipher,
) -> None:
    with db.write() as conn:
        PrivateCaStore(conn).insert(pending_ca(cipher, REVOCATION))
    with db.read() as conn:
        assert PcaIssuanceStore(conn).ca_arn_for_id(CA_ID) == ARN
    # No certificate yet: nothing to sign a CRL as.
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    assert PrivateCaRevocation(db, issuer).current_crl(CA_ID, now=NOW) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4C:2B:00:1f", "4c2b001f"),
        ("00ab", "ab"),
        (" 0a ", "a"),
        ("0", "0"),
        ("", None),
        ("xyz", None),
        ("12-34", None),
    ],
)
def test_certificate_serial_forms(text: str, expected: str | None) -> None:
    assert normalized_serial(text) == expected


def test_audit_report_rows_in_json_and_csv(
    db: Database,
    cipher: EnvelopeCipher,
) -> None:
    issuer = PrivateCertificateIssuer(
        PrivateCaKeys(cipher, IssuanceSettings()), "http://pki.example"
    )
    ca = activate(db, issuer, pending_ca(cipher, {}))
    leaf = issue_leaf(db, issuer, ca)
    with db.write() as conn:
        IssuedCertificateStore(conn).revoke(
            ARN, format(leaf.serial_number, "x"), "SUPERSEDED", NOW + 60
        )
        issued = issued_certificates(conn, ARN)
    rows = sorted(report_rows("111122223333", issued), key=lambda row: str(row["subject"]))
    assert [row["subject"] for row in rows] == ["CN=Private Root", "CN=svc.internal"]
    assert rows[1]["revocationReason"] == "SUPERSEDED"
    assert rows[1]["revokedAt"] == "2026-09-21T14:14:20+0000"
    assert rows[1]["serial"].replace(":", "").lstrip("0") == format(leaf.serial_number, "x")
    assert orjson.loads(render(rows, "JSON")) == rows
    parsed = list(csv.DictReader(io.StringIO(render(rows, "CSV").decode())))
    assert parsed[0]["revokedAt"] == "" and parsed[1]["revocationReason"] == "SUPERSEDED"
