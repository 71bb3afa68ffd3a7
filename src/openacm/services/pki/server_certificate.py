"""The server's own TLS certificate, issued by the builtin CA to the server's host names.

A fresh installation listening beyond loopback speaks HTTPS at once with it. The certificate
and its key (sealed) live in the store, one entry per set of host names, so every worker
process, every node sharing the store and every restart serve the same certificate until it is
renewed; renewal follows the schedule of every other certificate (`renewal_start`).

Issuing happens in one write transaction that holds the store's write lock (SQLite) or an
advisory lock (PostgreSQL): whoever finds the certificate missing or due under the lock issues,
everyone else then finds the new one. The serial is recorded in `issued_serials` like any
other, so the OCSP responder answers "good" for it and it can be revoked.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import Connection, text

from openacm.adapters.ca.lint import throwaway_signed
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.domain.issuance import (
    LeafPublicKey,
    leaf_builder,
    new_serial_number,
    public_validity_window,
    renewal_start,
)
from openacm.services.pki.builtin_ca import BuiltinCa, LoadedCa
from openacm.services.pki.leaf_issuer import serial_hex
from openacm.services.pki.leaf_keys import generate_leaf_key

log = logging.getLogger("openacm.server_tls")

SECRET_PREFIX = "server-tls:"
KEY_ALGORITHM = "EC_prime256v1"
PG_SERVER_TLS_LOCK_ID = 0x0A_C0_0003
_MAX_COMMON_NAME = 64  # ub-common-name (RFC 5280 appendix A)
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_UNSPECIFIED_ADDRESSES = ("", "0.0.0.0", "::")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# -- host names -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerHostnames:
    """What the certificate names: DNS names and IP addresses, normalized and sorted."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[IpAddress, ...]

    @classmethod
    def parse(cls, names: Iterable[str]) -> ServerHostnames:
        """Names as an operator writes them; raises ValueError for one that is neither."""
        dns_names: set[str] = set()
        addresses: set[IpAddress] = set()
        for raw in names:
            address = _ip_address(raw)
            if address is not None:
                addresses.add(address)
            else:
                dns_names.add(_dns_name(raw))
        if not dns_names and not addresses:
            raise ValueError("the server certificate needs at least one host name")
        return cls(tuple(sorted(dns_names)), tuple(sorted(addresses, key=_address_order)))

    @property
    def texts(self) -> list[str]:
        return [*self.dns_names, *(str(address) for address in self.ip_addresses)]

    @property
    def store_name(self) -> str:
        """The store entry of the certificate for exactly these names."""
        digest = hashlib.sha256("\n".join(self.texts).encode()).hexdigest()
        return f"{SECRET_PREFIX}{digest[:32]}"

    @property
    def common_name(self) -> str:
        for name in self.texts:
            if len(name) <= _MAX_COMMON_NAME:
                return name
        raise ValueError(f"no host name of at most {_MAX_COMMON_NAME} characters")

    def subject_alternative_name(self) -> x509.SubjectAlternativeName:
        return x509.SubjectAlternativeName(
            [
                *(x509.DNSName(name) for name in self.dns_names),
                *(x509.IPAddress(address) for address in self.ip_addresses),
            ]
        )


def default_hostnames(configured: Iterable[str], listen_host: str) -> list[str]:
    """The configured names (default: the machine's FQDN) and the listen address when it is
    one specific address, since clients may dial exactly that."""
    names = list(configured) or [socket.getfqdn()]
    if listen_host not in _UNSPECIFIED_ADDRESSES:
        names.append(listen_host)
    return names


def _ip_address(raw: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(raw.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _address_order(address: IpAddress) -> tuple[int, int]:
    return address.version, int(address)


def _dns_name(raw: str) -> str:
    name = raw.strip().rstrip(".").lower()
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]  # a wildcard is allowed as the whole leftmost label
    if not labels or len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"not a host name or IP address: {raw!r} (use A-labels for IDNs)")
    return name


# -- the certificate --------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedCertificate:
    """One issued server certificate with its chain and key, as kept (sealed) in the store."""

    hostnames: ServerHostnames
    certificate: x509.Certificate
    chain_pem: str  # the certificate, then its issuing CA (clients have the root)
    private_key_pem: bytes

    @property
    def serial(self) -> str:
        return serial_hex(self.certificate.serial_number)

    @property
    def sha256_fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    def pem_bundle(self) -> bytes:
        """Chain and key in one PEM document, the form `SSLContext.load_cert_chain` takes."""
        return self.chain_pem.encode() + self.private_key_pem

    def renewal_due(self, now: float) -> bool:
        start = renewal_start(
            self.certificate.not_valid_before_utc, self.certificate.not_valid_after_utc
        )
        return datetime.fromtimestamp(now, UTC) >= start

    def log_fields(self) -> dict[str, object]:
        """What a log line may say about it: never anything of the key."""
        return {
            "subject": self.certificate.subject.rfc4514_string(),
            "sans": self.hostnames.texts,
            "serial": self.serial,
            "not_after": self.certificate.not_valid_after_utc.isoformat(),
            "sha256_fingerprint": self.sha256_fingerprint,
        }

    def to_document(self) -> bytes:
        return json.dumps(
            {
                "hostnames": self.hostnames.texts,
                "chain_pem": self.chain_pem,
                "private_key_pem": self.private_key_pem.decode(),
            }
        ).encode()

    @classmethod
    def from_document(cls, document: bytes) -> ServedCertificate:
        fields = json.loads(document)
        chain_pem = str(fields["chain_pem"])
        return cls(
            hostnames=ServerHostnames.parse(fields["hostnames"]),
            certificate=x509.load_pem_x509_certificate(chain_pem.encode()),
            chain_pem=chain_pem,
            private_key_pem=str(fields["private_key_pem"]).encode(),
        )


def server_certificate_builder(
    hostnames: ServerHostnames,
    public_key: LeafPublicKey,
    issuing: LoadedCa,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    """The leaf profile of `leaf_builder`, with two differences: the SAN lists IP addresses
    too, and the CA/B domain-validated policy is left out, because these names were configured
    by the operator, not validated.

    The profile's extensions are taken from a throwaway-signed `leaf_builder` certificate, so
    this certificate follows that profile as it evolves.
    """
    profile = throwaway_signed(
        leaf_builder(
            common_name=hostnames.common_name,
            names=hostnames.dns_names,
            public_key=public_key,
            issuer=issuing.certificate,
            serial_number=serial_number,
            not_before=not_before,
            not_after=not_after,
            urls=issuing.urls,
        ),
        issuing.signer.public_key,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(profile.subject)
        .issuer_name(profile.issuer)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension in profile.extensions:
        if isinstance(extension.value, x509.CertificatePolicies):
            continue
        value: x509.ExtensionType = extension.value
        if isinstance(value, x509.SubjectAlternativeName):
            value = hostnames.subject_alternative_name()
        builder = builder.add_extension(value, critical=extension.critical)
    return builder


class ServerCertificate:
    """The certificate this server presents for `hostnames`: kept, renewed when due."""

    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        ca: BuiltinCa,
        hostnames: ServerHostnames,
        *,
        max_validity_days: int | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.ca = ca
        self.hostnames = hostnames
        self.max_validity_days = max_validity_days
        self.clock = clock

    @property
    def _issuing(self) -> LoadedCa:
        return self.ca.intermediate_for(KEY_ALGORITHM)

    def current(self) -> ServedCertificate:
        """The stored certificate, or a new one when none is stored or its renewal is due."""
        return self._ensure(self._outdated)

    def renew(self) -> ServedCertificate:
        """A new certificate now (say, after the key may have leaked); running servers load it
        at their next check."""
        stale = self._stored()
        return self._ensure(
            lambda served: stale is None or served.serial == stale.serial or self._outdated(served)
        )

    def _outdated(self, served: ServedCertificate) -> bool:
        # A certificate of another issuing CA (a re-created hierarchy) no longer verifies.
        issuer_changed = served.certificate.issuer != self._issuing.certificate.subject
        return issuer_changed or served.renewal_due(self.clock())

    def _ensure(self, replace: Callable[[ServedCertificate], bool]) -> ServedCertificate:
        stored = self._stored()
        if stored is not None and not replace(stored):
            return stored
        with self.db.write() as conn:
            if not self.db.is_sqlite:
                # SQLite's BEGIN IMMEDIATE already admits one writer at a time.
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_SERVER_TLS_LOCK_ID}
                )
            store = AuthorityStore(conn)
            sealed = store.secret(self.hostnames.store_name)
            stored = self._unseal(sealed) if sealed is not None else None
            if stored is not None and not replace(stored):
                return stored  # another process issued it while we waited for the lock
            issued = self._issue(conn, replacing=stored)
        log.info(
            "renewed the server's TLS certificate"
            if stored
            else "issued the server's TLS certificate",
            extra={**issued.log_fields(), "replaced_serial": stored.serial if stored else None},
        )
        return issued

    def _issue(self, conn: Connection, *, replacing: ServedCertificate | None) -> ServedCertificate:
        """Sign a new certificate and store it, inside the caller's locked transaction.

        Unlike LeafIssuer, the serial is planned in the same transaction as the signed
        certificate: a certificate whose transaction does not commit never left this process,
        so there is nothing the CA would have to account for.
        """
        now = self.clock()
        issuing = self._issuing
        key = generate_leaf_key(KEY_ALGORITHM)
        not_before, not_after = public_validity_window(
            datetime.fromtimestamp(now, UTC), self.max_validity_days
        )
        serial_number = new_serial_number()
        builder = server_certificate_builder(
            self.hostnames, key.public_key(), issuing, serial_number, not_before, not_after
        )
        planned = throwaway_signed(builder, issuing.signer.public_key)
        serial = serial_hex(serial_number)
        store = AuthorityStore(conn)
        # issued_serials names the owner of a serial; here that is the store entry.
        store.plan_serial(
            issuing.ca_id,
            serial,
            self.hostnames.store_name,
            not_after=not_after.timestamp(),
            tbs_sha256=hashlib.sha256(planned.tbs_certificate_bytes).hexdigest(),
            now=now,
        )
        certificate = issuing.signer.sign_certificate(builder)
        issued = ServedCertificate(
            hostnames=self.hostnames,
            certificate=certificate,
            chain_pem=certificate.public_bytes(serialization.Encoding.PEM).decode()
            + issuing.certificate_pem,
            private_key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        sealed = self.cipher.seal(issued.to_document(), _context(self.hostnames.store_name))
        if replacing is None:
            store.insert_secret(self.hostnames.store_name, sealed, now)
        else:
            store.update_secret(self.hostnames.store_name, sealed, now)
        store.mark_serial(issuing.ca_id, serial, "issued", now)
        return issued

    def _stored(self) -> ServedCertificate | None:
        with self.db.read() as conn:
            sealed = AuthorityStore(conn).secret(self.hostnames.store_name)
        return self._unseal(sealed) if sealed is not None else None

    def _unseal(self, sealed: bytes) -> ServedCertificate:
        return ServedCertificate.from_document(
            self.cipher.open(sealed, _context(self.hostnames.store_name))
        )


def stored_hostnames(db: Database, cipher: EnvelopeCipher) -> list[ServerHostnames]:
    """The host names of every server certificate in the store (one entry per set of names)."""
    with db.read() as conn:
        store = AuthorityStore(conn)
        sealed = [(name, store.secret(name)) for name in store.secret_names(SECRET_PREFIX)]
    return [
        ServedCertificate.from_document(cipher.open(value, _context(name))).hostnames
        for name, value in sealed
        if value is not None
    ]


def _context(store_name: str) -> str:
    return f"installation-secret:{store_name}"
