"""CRLs and OCSP for private CAs, on the builtin CA's machinery (`adapters/ca/revocation.py`:
`build_crl`, `OcspResponder`).

A CA whose RevocationConfiguration enables CRLs has its CRL at `/crl/<ca id>.crl`: signed
again in the transaction of every revocation, and again past half its validity
(`ExpirationInDays`) by the background work of any process, or by the request that fetches it
first, so a served CRL is never past its nextUpdate. A CA with OCSP enabled
answers at `/ocsp/<ca id>` (RFC 6960, GET and POST), signed by the CA itself; the status is
read from the store on every request, so a revocation in any process shows at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from openacm.adapters.ca.revocation import (
    REVOCATION_REASONS,
    OcspResponder,
    RevokedSerial,
    SerialStatus,
    build_crl,
)
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import IssuedCertificateStore, PrivateCaRecord, PrivateCaStore
from openacm.adapters.store.pca_operations import PcaIssuanceStore, ca_id_of
from openacm.domain import pca
from openacm.services.pca.issuance import PrivateCertificateIssuer, revocation_urls, serial_hex

__all__ = ["PrivateCaRevocation", "crl_enabled", "ocsp_enabled"]

_DAY: Final = 24 * 3600.0


def crl_enabled(ca: PrivateCaRecord) -> bool:
    return bool((ca.revocation.get("CrlConfiguration") or {}).get("Enabled"))


def ocsp_enabled(ca: PrivateCaRecord) -> bool:
    return bool((ca.revocation.get("OcspConfiguration") or {}).get("Enabled"))


def crl_validity_seconds(ca: PrivateCaRecord) -> float:
    crl = ca.revocation.get("CrlConfiguration") or {}
    return float(crl.get("ExpirationInDays") or pca.DEFAULT_CRL_EXPIRATION_DAYS) * _DAY


@dataclass(frozen=True)
class _Responder:
    certificate_serial: int
    responder: OcspResponder


class PrivateCaRevocation:
    """The revocation side of every private CA of this installation (one per process)."""

    def __init__(self, db: Database, issuer: PrivateCertificateIssuer) -> None:
        self.db = db
        self.issuer = issuer
        self._responders: dict[str, _Responder] = {}
        self._lock = threading.Lock()

    # -- CRL ------------------------------------------------------------------------------

    def regenerate_crl(self, conn: Connection, ca: PrivateCaRecord, *, now: float) -> bytes:
        """Sign and store a new CRL of `ca` in the caller's transaction; its DER."""
        if ca.certificate_pem is None:
            raise ValueError(f"{ca.arn} has no certificate to sign a CRL with")
        counters = PcaIssuanceStore(conn)
        # The number first: it locks the CA's row, so the revocations read next include every
        # one committed while this transaction waited.
        crl_number = counters.next_crl_number(ca.arn)
        revoked = [
            RevokedSerial(
                serial_number=int(entry.serial, 16),
                revoked_at=datetime.fromtimestamp(entry.revoked_at or now, UTC),
                reason=REVOCATION_REASONS.get(entry.revocation_reason or "UNSPECIFIED"),
            )
            for entry in IssuedCertificateStore(conn).revoked(ca.arn)
            # RFC 5280 3.3: an entry may go once the certificate has expired.
            if entry.not_after > now
        ]
        validity = crl_validity_seconds(ca)
        this_update = datetime.fromtimestamp(now, UTC)
        partitioned = (ca.revocation.get("CrlConfiguration") or {}).get("CrlType") == "PARTITIONED"
        crl = build_crl(
            self.issuer.signer(ca),
            x509.load_pem_x509_certificate(ca.certificate_pem.encode()),
            revoked,
            crl_number=crl_number,
            this_update=this_update,
            next_update=this_update + timedelta(seconds=validity),
            # One partition holds every certificate: it names the URL they all carry.
            partition_url=revocation_urls(ca, self.issuer.public_base_url).crl_url
            if partitioned
            else None,
        )
        der = crl.public_bytes(serialization.Encoding.DER)
        counters.store_crl(ca.arn, der, now, now + validity)
        return der

    def current_crl(self, ca_id: str, *, now: float) -> bytes | None:
        """The CRL served for `ca_id`, or None when no CA there publishes one. Past half its
        validity it is signed again (in the request: CRLs are fetched rarely and cached)."""
        with self.db.read() as conn:
            ca = _published_ca(conn, ca_id, now)
            if ca is None or not crl_enabled(ca):
                return None
            stored = PcaIssuanceStore(conn).crl(ca.arn)
        if stored is not None and now < (stored.this_update + stored.next_update) / 2:
            return stored.der
        with self.db.write() as conn:
            return self.regenerate_crl(conn, ca, now=now)

    def refresh_due(self, now: float) -> int:
        """Sign again every stored CRL past half its validity (the background's job, so a CRL
        nobody fetches is still current when someone does); how many."""
        with self.db.read() as conn:
            due = PcaIssuanceStore(conn).crl_due(now)
        done = 0
        for arn in due:
            with self.db.write() as conn:
                # Re-checked inside the write: another process may have just done it.
                if arn not in PcaIssuanceStore(conn).crl_due(now):
                    continue
                ca = _published_ca(conn, ca_id_of(arn), now)
                if ca is None or not crl_enabled(ca):
                    continue
                self.regenerate_crl(conn, ca, now=now)
                done += 1
        return done

    # -- OCSP -----------------------------------------------------------------------------

    def ocsp_response(self, ca_id: str, request_der: bytes, *, now: float) -> bytes | None:
        """The DER OCSP response of `ca_id`'s responder, or None when it has none."""
        with self.db.read() as conn:
            ca = _published_ca(conn, ca_id, now)
        if ca is None or not ocsp_enabled(ca) or ca.certificate_pem is None:
            return None
        responder = self._responder(ca)
        return responder.respond(
            request_der,
            lambda serial: self._status(ca.arn, serial),
            datetime.fromtimestamp(now, UTC),
        )

    def invalidate(self, ca_arn: str, serial_number: int) -> None:
        """Forget this process's cached OCSP answers about a serial whose status changed."""
        with self._lock:
            entry = self._responders.get(ca_arn)
        if entry is not None:
            entry.responder.invalidate(serial_number)

    def _responder(self, ca: PrivateCaRecord) -> OcspResponder:
        assert ca.certificate_pem is not None
        certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
        with self._lock:
            entry = self._responders.get(ca.arn)
            # A new CA certificate (renewal) gets a responder naming it.
            if entry is None or entry.certificate_serial != certificate.serial_number:
                entry = _Responder(
                    certificate.serial_number, OcspResponder(certificate, self.issuer.signer(ca))
                )
                self._responders[ca.arn] = entry
        return entry.responder

    def _status(self, ca_arn: str, serial_number: int) -> SerialStatus:
        with self.db.read() as conn:
            entry = IssuedCertificateStore(conn).get(ca_arn, serial_hex(serial_number))
        if entry is None:
            return SerialStatus("unknown")
        if entry.revoked_at is not None:
            return SerialStatus(
                "revoked",
                revoked_at=datetime.fromtimestamp(entry.revoked_at, UTC),
                reason=REVOCATION_REASONS.get(entry.revocation_reason or "UNSPECIFIED"),
            )
        return SerialStatus("good")


def _published_ca(conn: Connection, ca_id: str, now: float) -> PrivateCaRecord | None:
    """The CA a public URL names, if it still publishes: it has a certificate and is not past
    its restoration window. A DISABLED, EXPIRED or DELETED (restorable) CA keeps publishing:
    the certificates it issued are still out there."""
    arn = PcaIssuanceStore(conn).ca_arn_for_id(ca_id)
    ca = None if arn is None else PrivateCaStore(conn).get(arn)
    if ca is None or ca.certificate_pem is None:
        return None
    if pca.is_gone(ca.status, ca.restorable_until, now):
        return None
    return ca
