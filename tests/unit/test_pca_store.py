"""The private CA store API the issuance side builds on, on a migrated SQLite database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from openacm.adapters.ca.algorithms import generate_private_key, private_key_der
from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import (
    IssuedCertificate,
    IssuedCertificateStore,
    PrivateCaRecord,
    PrivateCaStore,
    open_signer,
)

ARN = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/" + "1" * 36


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.dispose()


def record(cipher: EnvelopeCipher, **changes: object) -> PrivateCaRecord:
    key = generate_private_key("EC_prime256v1")
    base = PrivateCaRecord(
        arn=ARN,
        account_id="111122223333",
        region="us-east-1",
        ca_type="ROOT",
        status="PENDING_CERTIFICATE",
        usage_mode="GENERAL_PURPOSE",
        key_algorithm="EC_prime256v1",
        signing_algorithm="SHA384WITHECDSA",
        key_storage_security_standard="FIPS_140_2_LEVEL_3_OR_HIGHER",
        configuration={"KeyAlgorithm": "EC_prime256v1"},
        revocation={"OcspConfiguration": {"Enabled": True}},
        key_sealed=cipher.seal(private_key_der(key), ARN),
        csr_pem="csr",
        created_at=1.0,
        last_state_change_at=1.0,
    )
    return base.changed(1.0, **changes)


def test_ca_round_trip_signer_and_optimistic_replace(db: Database) -> None:
    cipher = EnvelopeCipher(MasterKey(b"k" * 32))
    with db.write() as conn:
        PrivateCaStore(conn).insert(record(cipher))
    with db.write() as conn:
        store = PrivateCaStore(conn)
        stored = store.get(ARN)
        assert stored is not None and stored.revocation == {"OcspConfiguration": {"Enabled": True}}
        assert store.owned(ARN, "111122223333") == stored
        assert store.owned(ARN, "999999999999") is None
        active = stored.changed(5.0, status="ACTIVE")
        assert active.last_state_change_at == 5.0
        assert store.replace(active)
        assert not store.replace(active)  # row_version moved on: a lost update is refused
    signer = open_signer(active, cipher)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    crl = signer.sign_crl(
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .next_update(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    )
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA384)
    assert crl.is_signature_valid(signer.public_key)


def test_issued_certificates_and_revoked_serials(db: Database) -> None:
    cipher = EnvelopeCipher(MasterKey(b"k" * 32))
    with db.write() as conn:
        PrivateCaStore(conn).insert(record(cipher))
        issued = IssuedCertificateStore(conn)
        for serial in ("0a", "0b", "0c"):
            issued.insert(
                IssuedCertificate(ARN, serial, f"{ARN}/certificate/{serial}", "pem", 1.0, 1.0, 9.0)
            )
        assert issued.revoke(ARN, "0b", "KEY_COMPROMISE", 3.0)
        assert not issued.revoke(ARN, "0b", "KEY_COMPROMISE", 4.0)  # already revoked
        assert not issued.revoke(ARN, "ff", "KEY_COMPROMISE", 4.0)  # unknown serial
        issued.revoke(ARN, "0a", "SUPERSEDED", 5.0)
    with db.read() as conn:
        issued = IssuedCertificateStore(conn)
        assert [c.serial for c in issued.revoked(ARN)] == ["0b", "0a"]
        one = issued.get(ARN, "0b")
        assert (
            one is not None
            and one.status == "REVOKED"
            and one.revocation_reason == ("KEY_COMPROMISE")
        )
        untouched = issued.get(ARN, "0c")
        assert untouched is not None and untouched.status == "ISSUED"


def test_gone_cas_are_purged_with_their_certificates(db: Database) -> None:
    cipher = EnvelopeCipher(MasterKey(b"k" * 32))
    with db.write() as conn:
        store = PrivateCaStore(conn)
        store.insert(record(cipher, status="DELETED", restorable_until=10.0))
        IssuedCertificateStore(conn).insert(
            IssuedCertificate(ARN, "01", f"{ARN}/certificate/01", "pem", 1.0, 1.0, 9.0)
        )
        assert store.count("111122223333", "us-east-1", not_gone_at=5.0) == 1
        assert store.count("111122223333", "us-east-1", not_gone_at=10.0) == 0
        assert store.purge_gone("111122223333", "us-east-1", now=5.0) == []
        purged = store.purge_gone("111122223333", "us-east-1", now=10.0)
        assert [gone.arn for gone in purged] == [ARN]
        assert store.get(ARN) is None
        assert IssuedCertificateStore(conn).get(ARN, "01") is None
