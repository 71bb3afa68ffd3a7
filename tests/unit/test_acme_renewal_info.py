"""The acme issuer's store on both backends: the http-01 answers, and ACME Renewal
Information (RFC 9773): the certificate identifier, and the sweep that asks a CA (a loopback
one offering renewalInfo, whose window for the certificate has opened) and brings the
certificate's renewal forward."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from openacm.adapters.acme.client import _ReplacingOrder
from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.adapters.store.acme import AcmeHttpAnswers, AcmeRenewalInfo
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.schema import acme_renewal_info, certificates
from openacm.config import AcmeSettings
from openacm.domain.acme import acme_issuer_id, ari_certificate_id
from openacm.domain.validation import HTTP01_PROBE
from openacm.services.acme.renewal_info import RenewalInfoSweep
from openacm.services.acme.upstream import AcmeUpstream, http01_answer
from tests.conftest import IN_CI
from tests.support.fake_acme import RenewalInfoCa
from tests.support.server import (
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
)
from tests.unit.test_events_domain import record

DAY = 86400.0


def _certificate(serial: int, key_identifier: bytes, days: int = 90) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier(key_identifier, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )


def test_the_certificate_identifier_is_rfc_9773s_example() -> None:
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert (
        ari_certificate_id(_certificate(0x87654321, aki)) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    )


def test_a_certificate_without_an_authority_key_identifier_has_no_identifier() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no-aki.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    bare = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert ari_certificate_id(bare) == ""


@pytest.fixture
def ca() -> Iterator[RenewalInfoCa]:
    with RenewalInfoCa() as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A store migrated to head, on each backend."""
    url = f"sqlite:///{tmp_path / 'openacm.db'}"
    if request.param == "postgresql":
        reason = postgres_available()
        if reason:
            if IN_CI:
                pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
            pytest.skip(reason)
        url = create_postgres_database()
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_http01_answers_are_kept_per_label_and_token(db: Database) -> None:
    with db.write() as conn:
        AcmeHttpAnswers(conn).put("label1", "tokenA", "tokenA.thumbprint", 1.0)
        AcmeHttpAnswers(conn).put("label1", "tokenA", "tokenA.thumbprint", 2.0)  # again: one
        AcmeHttpAnswers(conn).put("label2", "tokenB", "tokenB.thumbprint", 1.0)
    assert http01_answer(db, "label1", "tokenA") == "tokenA.thumbprint"
    assert http01_answer(db, "label2", "tokenA") is None  # another name's path
    assert http01_answer(db, "label2", HTTP01_PROBE) == "label2"
    with db.write() as conn:
        AcmeHttpAnswers(conn).delete("label1", "tokenA")
    assert http01_answer(db, "label1", "tokenA") is None
    # An answer a crashed order left is dropped when the label's next one is published.
    with db.write() as conn:
        AcmeHttpAnswers(conn).put("label2", "tokenC", "tokenC.thumbprint", 500.0, stale_before=300)
    assert http01_answer(db, "label2", "tokenB") is None
    assert http01_answer(db, "label2", "tokenC") == "tokenC.thumbprint"


def test_the_sweep_brings_the_renewal_forward_when_the_ca_says(
    db: Database, ca: RenewalInfoCa
) -> None:
    settings = AcmeSettings(directory_url=ca.directory_url, regions=("*",))
    upstream = AcmeUpstream(
        db, EnvelopeCipher(MasterKey(os.urandom(32))), settings, b"k" * 32, "v.example", []
    )
    now = time.time()
    issuer_id = acme_issuer_id(ca.directory_url)
    leaf = _certificate(0x1234, b"\x01" * 20)
    pem = leaf.public_bytes(serialization.Encoding.PEM).decode()
    current = record(
        status="ISSUED", issuer_ca_id=issuer_id, certificate_pem=pem,
        not_before=now, not_after=now + 90 * DAY,
    )  # fmt: skip
    revoked = record(
        arn=current.arn + "-revoked", certificate_id="revoked", status="REVOKED",
        issuer_ca_id=issuer_id, certificate_pem=pem, not_before=now, not_after=now + 90 * DAY,
    )  # fmt: skip
    with db.write() as conn:
        for each in (current, revoked):
            CertificateStore(conn).insert(each, None)
            AcmeRenewalInfo(conn).track(each.arn, issuer_id, now)
    with db.read() as conn:
        acm_window = conn.execute(
            select(certificates.c.renewal_due_at).where(certificates.c.arn == current.arn)
        ).scalar_one()
    assert acm_window > now + DAY

    assert RenewalInfoSweep(db, upstream).run_once(now) == [current.arn]

    assert ca.asked == [ari_certificate_id(leaf)]
    with db.read() as conn:
        due = conn.execute(
            select(certificates.c.renewal_due_at).where(certificates.c.arn == current.arn)
        ).scalar_one()
        tracked = {row.arn: row for row in conn.execute(select(acme_renewal_info))}
    assert now - 2 * DAY <= due <= now - DAY + 1  # within the CA's window, not ACM's
    assert set(tracked) == {current.arn}  # the revoked certificate is no longer asked about
    assert tracked[current.arn].next_check_at == pytest.approx(now + 21600, abs=60)
    # Not asked again before the CA's Retry-After.
    assert RenewalInfoSweep(db, upstream).run_once(now + 120) == []
    assert len(ca.asked) == 1


def test_a_renewal_order_names_the_certificate_it_replaces() -> None:
    body = _ReplacingOrder(
        identifiers=[messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="example.com")],
        replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    )
    assert body.to_partial_json()["replaces"] == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
