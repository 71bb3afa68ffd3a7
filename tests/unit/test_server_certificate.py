"""The server's own certificate: its names, its profile, and when it is renewed.

Runs against a real store (SQLite in a temporary directory) and a real builtin CA, with a
clock the tests move, so renewal on the schedule of every other certificate is seen without
waiting months.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from openacm.adapters.store.schema import installation_secrets, issued_serials
from openacm.config import Settings
from openacm.domain.issuance import renewal_start
from openacm.runtime import Runtime
from openacm.services.pki.server_certificate import (
    ServerCertificate,
    ServerHostnames,
    default_hostnames,
)
from tests.conftest import IN_CI
from tests.support.server import (
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
)

# -- names ------------------------------------------------------------------------------------


def test_names_are_normalized_sorted_and_deduplicated() -> None:
    parsed = ServerHostnames.parse(
        ["API.Example.COM.", "10.0.0.2", "api.example.com", "[2001:db8::1]", "10.0.0.1", "*.a.b"]
    )
    assert parsed.dns_names == ("*.a.b", "api.example.com")
    assert parsed.ip_addresses == (
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("10.0.0.2"),
        ipaddress.ip_address("2001:db8::1"),
    )
    assert parsed.texts == ["*.a.b", "api.example.com", "10.0.0.1", "10.0.0.2", "2001:db8::1"]
    # The store entry depends on the set of names, not on how they were written.
    again = ServerHostnames.parse(
        ["10.0.0.1", "[2001:db8::1]", "*.A.B", "10.0.0.2", "api.example.com"]
    )
    assert again.store_name == parsed.store_name
    assert ServerHostnames.parse(["api.example.com"]).store_name != parsed.store_name


@pytest.mark.parametrize("bad", ["not a name", "-lead.example", "a..b", "", "é.example", "a" * 64])
def test_what_is_neither_a_name_nor_an_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a host name or IP address"):
        ServerHostnames.parse([bad])


def test_no_names_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one host name"):
        ServerHostnames.parse([])


def test_default_names_and_the_listen_address() -> None:
    assert default_hostnames([], "0.0.0.0") == [socket.getfqdn()]
    assert default_hostnames([], "::") == [socket.getfqdn()]
    assert default_hostnames(["a.example"], "10.1.2.3") == ["a.example", "10.1.2.3"]
    assert default_hostnames(["a.example"], "127.0.0.1") == ["a.example", "127.0.0.1"]


def test_the_common_name_is_the_first_name_that_fits() -> None:
    long_label = "x" * 60
    parsed = ServerHostnames.parse([f"{long_label}.example.com", "short.example"])
    assert parsed.common_name == "short.example"
    assert ServerHostnames.parse(["192.0.2.7"]).common_name == "192.0.2.7"


# -- issuing and renewing ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Installation:
    runtime: Runtime
    clock: Clock

    def certificates(self, *names: str) -> ServerCertificate:
        return ServerCertificate(
            self.runtime.db,
            self.runtime.cipher,
            self.runtime.builtin_ca(),
            ServerHostnames.parse(names),
            max_validity_days=None,
            clock=self.clock,
        )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    database_url = None
    if request.param == "postgresql":
        reason = postgres_available()
        if reason:
            if IN_CI:
                pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
            pytest.skip(reason)
        database_url = create_postgres_database()
    data_dir: Path = tmp_path_factory.mktemp("server-certificate")
    runtime = Runtime.open(Settings(data_dir=data_dir, database_url=database_url))
    yield Installation(runtime, Clock())
    runtime.close()
    if database_url:
        drop_postgres_database(database_url)


def test_the_certificate_follows_the_leaf_profile_with_ip_addresses(
    installation: Installation,
) -> None:
    served = installation.certificates("svc.example.test", "192.0.2.10").current()
    certificate = served.certificate
    issuing = installation.runtime.builtin_ca().intermediate_for("EC_prime256v1")
    certificate.verify_directly_issued_by(issuing.certificate)
    assert served.chain_pem.endswith(issuing.certificate_pem)

    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["svc.example.test"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.10")]
    assert certificate.subject.rfc4514_string() == "CN=svc.example.test"
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"

    extensions = {type(e.value): e for e in certificate.extensions}
    assert x509.CertificatePolicies not in extensions  # the names were not validated
    assert extensions[x509.BasicConstraints].critical
    assert not extensions[x509.BasicConstraints].value.ca
    usage = extensions[x509.KeyUsage].value
    assert usage.digital_signature and not usage.key_encipherment
    assert ExtendedKeyUsageOID.SERVER_AUTH in extensions[x509.ExtendedKeyUsage].value
    for linked in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        assert linked in extensions
    assert extensions[x509.AuthorityKeyIdentifier].value.key_identifier == (
        issuing.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    )
    assert served.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_the_stored_certificate_is_served_until_its_renewal_is_due(
    installation: Installation, caplog: pytest.LogCaptureFixture
) -> None:
    certificates = installation.certificates("renewal.example.test")
    caplog.set_level(logging.INFO, logger="openacm.server_tls")
    first = certificates.current()
    assert [r.message for r in caplog.records] == ["issued the server's TLS certificate"]
    # Another process (a new instance) finds the same certificate.
    assert installation.certificates("renewal.example.test").current() == first

    start = renewal_start(
        first.certificate.not_valid_before_utc, first.certificate.not_valid_after_utc
    )
    installation.clock.now = start.timestamp() - 60
    assert certificates.current().serial == first.serial
    installation.clock.now = start.timestamp() + 1
    try:
        renewed = certificates.current()
    finally:
        installation.clock.now = time.time()
    assert renewed.serial != first.serial
    assert renewed.certificate.not_valid_after_utc > first.certificate.not_valid_after_utc
    assert installation.certificates("renewal.example.test").current() == renewed

    record = caplog.records[-1]
    assert record.message == "renewed the server's TLS certificate"
    assert record.replaced_serial == first.serial  # type: ignore[attr-defined]
    assert record.serial == renewed.serial  # type: ignore[attr-defined]
    assert record.sans == ["renewal.example.test"]  # type: ignore[attr-defined]
    for logged in caplog.records:
        assert "PRIVATE KEY" not in str(logged.__dict__)

    # Both serials are the CA's, issued, owned by the store entry (OCSP answers "good").
    with installation.runtime.db.read() as conn:
        rows = conn.execute(
            select(issued_serials.c.serial, issued_serials.c.state).where(
                issued_serials.c.certificate_arn == certificates.hostnames.store_name
            )
        ).all()
    assert sorted(rows) == sorted([(first.serial, "issued"), (renewed.serial, "issued")])


def test_renew_replaces_it_at_once_and_other_names_have_their_own(
    installation: Installation,
) -> None:
    certificates = installation.certificates("forced.example.test")
    first = certificates.current()
    forced = certificates.renew()
    assert forced.serial != first.serial
    assert certificates.current() == forced
    other = installation.certificates("forced.example.test", "other.example.test").current()
    assert other.serial != forced.serial
    assert certificates.current() == forced


def test_the_key_is_sealed_in_the_store(installation: Installation) -> None:
    served = installation.certificates("sealed.example.test").current()
    with installation.runtime.db.read() as conn:
        sealed = conn.execute(select(installation_secrets.c.sealed)).scalars().all()
    body = served.private_key_pem.splitlines()[1]
    assert sealed and all(body not in bytes(value) for value in sealed)


def test_processes_starting_together_issue_one_certificate(installation: Installation) -> None:
    """Workers (and nodes) that all find no certificate at start agree on one."""
    names = ("together.example.test", "192.0.2.77")
    serials: list[str] = []

    def start_a_worker() -> None:
        serials.append(installation.certificates(*names).current().serial)

    workers = [threading.Thread(target=start_a_worker) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(serials) == 6 and len(set(serials)) == 1
    with installation.runtime.db.read() as conn:
        owned = conn.execute(
            select(issued_serials.c.serial).where(
                issued_serials.c.certificate_arn == ServerHostnames.parse(names).store_name
            )
        ).all()
    assert [row.serial for row in owned] == serials[:1]
