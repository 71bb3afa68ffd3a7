"""The second half of CreateCertificateAuthority: key generation, CREATING → PENDING_CERTIFICATE
or FAILED, and a CA deleted while its key was being generated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import PrivateCaRecord, PrivateCaStore, open_signer
from openacm.config import Quotas
from openacm.services.pca.authorities import CertificateAuthorities, LifecycleOperations

ARN = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/" + "2" * 36
CSR = x509.CertificateSigningRequestBuilder().subject_name(
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
)


@pytest.fixture
def lifecycle(tmp_path: Path) -> Iterator[LifecycleOperations]:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    db.migrate()
    yield LifecycleOperations(
        CertificateAuthorities(db, EnvelopeCipher(MasterKey(b"m" * 32)), Quotas())
    )
    db.dispose()


def creating(key_algorithm: str, signing_algorithm: str, **changes: object) -> PrivateCaRecord:
    record = PrivateCaRecord(
        arn=ARN,
        account_id="111122223333",
        region="us-east-1",
        ca_type="ROOT",
        status="CREATING",
        usage_mode="GENERAL_PURPOSE",
        key_algorithm=key_algorithm,
        signing_algorithm=signing_algorithm,
        key_storage_security_standard="FIPS_140_2_LEVEL_3_OR_HIGHER",
        configuration={},
        revocation={},
        created_at=1.0,
        last_state_change_at=1.0,
    )
    return record.changed(1.0, **changes)


def stored(lifecycle: LifecycleOperations) -> PrivateCaRecord:
    with lifecycle.db.read() as conn:
        record = PrivateCaStore(conn).get(ARN)
    assert record is not None
    return record


def test_generation_makes_the_ca_pending_with_a_sealed_key(lifecycle: LifecycleOperations) -> None:
    with lifecycle.db.write() as conn:
        PrivateCaStore(conn).insert(creating("ML_DSA_65", "ML_DSA_65"))
    lifecycle.complete_creation(creating("ML_DSA_65", "ML_DSA_65"), CSR)
    record = stored(lifecycle)
    assert record.status == "PENDING_CERTIFICATE"
    assert record.csr_pem is not None
    csr = x509.load_pem_x509_csr(record.csr_pem.encode())
    signer = open_signer(record, lifecycle.cas.cipher)
    assert csr.public_key() == signer.public_key
    assert csr.is_signature_valid


def test_a_key_that_cannot_be_generated_fails_the_ca(lifecycle: LifecycleOperations) -> None:
    with lifecycle.db.write() as conn:
        PrivateCaStore(conn).insert(creating("SM2", "SM3WITHSM2"))
    lifecycle.complete_creation(creating("SM2", "SM3WITHSM2"), CSR)
    record = stored(lifecycle)
    assert (record.status, record.failure_reason) == ("FAILED", "UNSUPPORTED_ALGORITHM")
    assert record.key_sealed is None
    with pytest.raises(ValueError, match="no key yet"):
        open_signer(record, lifecycle.cas.cipher)


def test_a_ca_deleted_while_creating_is_restorable_to_pending(
    lifecycle: LifecycleOperations,
) -> None:
    deleted = creating(
        "EC_prime256v1",
        "SHA256WITHECDSA",
        status="DELETED",
        status_before_deletion="CREATING",
        restorable_until=1e12,
    )
    with lifecycle.db.write() as conn:
        PrivateCaStore(conn).insert(deleted)
    lifecycle.complete_creation(creating("EC_prime256v1", "SHA256WITHECDSA"), CSR)
    record = stored(lifecycle)
    assert (record.status, record.status_before_deletion) == ("DELETED", "PENDING_CERTIFICATE")
    assert record.key_sealed is not None
