"""RevokeCertificate: a public certificate's revocation, published at once in its CA's CRL
and OCSP answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, update

from openacm.adapters.acme.client import AcmeFailure
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.adapters.store.schema import certificates
from openacm.config import IssuanceSettings
from openacm.domain.acme import is_acme_issued
from openacm.domain.certificates import CertificateRecord
from openacm.domain.errors import ConflictError, InternalServerError, ValidationError
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.acme.upstream import AcmeUpstream
from openacm.services.context import CallContext
from openacm.services.pki.builtin_ca import BuiltinCa, LoadedCa
from openacm.services.pki.crls import regenerate_crl
from openacm.services.pki.leaf_issuer import serial_hex

# The CA/Browser Forum Baseline Requirements (7.2.2) forbid certificateHold for TLS server
# certificates, and a revocation here is permanent (the API reference), so neither the hold
# nor its removal is accepted.
REFUSED_REASONS = ("CERTIFICATE_HOLD", "REMOVE_FROM_CRL")


class RevocationOperations:
    def __init__(
        self,
        db: Database,
        certificates_ops: CertificateOperations,
        ca: BuiltinCa,
        issuance: IssuanceSettings,
        acme: AcmeUpstream | None = None,
    ) -> None:
        self.db = db
        self.acme = acme
        self.certificates = certificates_ops
        self.ca = ca
        self.issuance = issuance

    def revoke_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateArn"]
        reason = params["RevocationReason"]
        if reason in REFUSED_REASONS:
            raise ValidationError(
                f"RevocationReason {reason} is not supported: revocation is permanent."
            )
        with self.db.write() as conn:
            record = self.certificates.load(conn, ctx, arn, "RevokeCertificate")
            if record.status == "REVOKED":
                raise ConflictError(f"Certificate {arn} is already revoked.")
            if record.type != "AMAZON_ISSUED" or record.serial is None:
                raise ValidationError(
                    f"Certificate {arn} cannot be revoked: only issued public certificates "
                    "can be revoked."
                )
            # An ACME certificate's key is its client's, like an exported one's.
            key_outside = record.exported or record.key_pair_origin == "ACME"
            if not (key_outside or record.export_option == "ENABLED"):
                raise ValidationError(
                    f"Certificate {arn} cannot be revoked: only exportable certificates can "
                    "be revoked."
                )
            if is_acme_issued(record.issuer_ca_id):  # the CA needs the certificate itself
                full = self.certificates.load(conn, ctx, arn, "RevokeCertificate", bodies=True)
                return self._revoke_upstream(conn, ctx, full, reason)
            issuing = self.ca.by_id.get(record.issuer_ca_id or "")
            if issuing is None:
                raise ValidationError(f"Certificate {arn} was not signed by a CA of openacm.")
            if not revoke_issued(conn, record, issuing, reason, self.issuance, now=ctx.now):
                # Revoked or deleted since it was read: answer as if it had been seen so.
                self.certificates.load(conn, ctx, arn, "RevokeCertificate")
                raise ConflictError(f"Certificate {arn} is already revoked.")
        issuing.ocsp.invalidate(int(record.serial.replace(":", ""), 16))
        return {"CertificateArn": arn}

    def _revoke_upstream(
        self, conn: Connection, ctx: CallContext, record: CertificateRecord, reason: str
    ) -> dict[str, Any]:
        """A certificate of the upstream ACME CA: the CA revokes it, in the transaction
        that marks it REVOKED here, so it is never REVOKED here and valid there (a rare
        operation: the write lock held over one ACME request is the price)."""
        if self.acme is None or record.certificate_pem is None:
            raise ValidationError(
                f"Certificate {record.arn} was issued by an ACME CA that is no longer configured."
            )
        revoked = conn.execute(
            update(certificates)
            .where(certificates.c.arn == record.arn, certificates.c.status != "REVOKED")
            .values(
                status="REVOKED",
                revoked_at=ctx.now,
                revocation_reason=reason,
                row_version=certificates.c.row_version + 1,
            )
        )
        if revoked.rowcount != 1:
            raise ConflictError(f"Certificate {record.arn} is already revoked.")
        try:
            self.acme.revoke(
                record.certificate_pem, reason, now=ctx.now, issuer_id=record.issuer_ca_id or ""
            )
        except AcmeFailure as failure:
            if failure.transient:
                raise InternalServerError(f"The ACME CA could not be reached: {failure}") from None
            raise ValidationError(f"The ACME CA refused the revocation: {failure}") from None
        return {"CertificateArn": record.arn}


def revoke_issued(
    conn: Connection,
    record: CertificateRecord,
    issuing: LoadedCa,
    reason: str,
    issuance: IssuanceSettings,
    *,
    now: float,
) -> bool:
    """Revoke an issued certificate of the builtin CA in the caller's transaction: the
    certificate, its serial, and its CA's CRL re-signed. False when it was revoked (or
    deleted) meanwhile. The caller invalidates the OCSP cache once the transaction commits.
    RevokeCertificate and the ACME server's revokeCert both end here."""
    assert record.serial is not None
    # Conditional on the row as it is when the update gets its lock: a revocation committed
    # meanwhile by another process (read committed) makes this one a conflict instead of
    # overwriting its time and reason.
    revoked = conn.execute(
        update(certificates)
        .where(certificates.c.arn == record.arn, certificates.c.status != "REVOKED")
        .values(
            status="REVOKED",
            revoked_at=now,
            revocation_reason=reason,
            row_version=certificates.c.row_version + 1,
        )
    )
    if revoked.rowcount != 1:
        return False
    serial = serial_hex(int(record.serial.replace(":", ""), 16))
    AuthorityStore(conn).revoke_serial(issuing.ca_id, serial, at=now, reason=reason)
    regenerate_crl(conn, issuing, now=now, validity_seconds=issuance.crl_validity_seconds)
    return True
