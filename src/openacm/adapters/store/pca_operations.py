"""Persistence of what private CAs do after their creation: the per-CA issuance counter and
current CRL (`private_ca_issuance`), and audit reports (`private_ca_audit_reports`).

Kept apart from `pca.py` (the CA rows) so the issuing side reads as one unit; the issued
certificates themselves stay in `private_ca_certificates` (`pca.IssuedCertificateStore`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openacm.adapters.store.pca import IssuedCertificate
from openacm.adapters.store.schema import (
    private_ca_audit_reports,
    private_ca_certificates,
    private_ca_issuance,
    private_cas,
)

# A CA id is the UUID at the end of its ARN; anything else never names a CA (and never reaches
# a LIKE pattern).
_CA_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def ca_id_of(ca_arn: str) -> str:
    """The id of `arn:…:certificate-authority/<id>`: what public URLs name the CA by."""
    return ca_arn.rsplit("/", 1)[-1]


def is_ca_id(text: str) -> bool:
    return _CA_ID.fullmatch(text) is not None


# Issuing runs these on every certificate: built once, so each call only binds values.
_RESERVE = (
    update(private_ca_issuance)
    .where(
        private_ca_issuance.c.ca_arn == bindparam("arn"),
        private_ca_issuance.c.issued_count < bindparam("limit"),
    )
    .values(issued_count=private_ca_issuance.c.issued_count + 1)
)
_ISSUED_COUNT = select(private_ca_issuance.c.issued_count).where(
    private_ca_issuance.c.ca_arn == bindparam("arn")
)


@dataclass(frozen=True)
class StoredCrl:
    ca_arn: str
    der: bytes
    this_update: float
    next_update: float


class PcaIssuanceStore:
    """The `private_ca_issuance` row of each CA, created on first use."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def ensure(self, ca_arn: str) -> None:
        """Create the CA's row if missing; concurrent first issuances both succeed (insert
        that ignores a conflict, in the dialect's own words)."""
        values = {
            "ca_arn": ca_arn,
            "ca_id": ca_id_of(ca_arn),
            "issued_count": 0,
            "crl_number": 0,
        }
        if self.conn.dialect.name == "postgresql":
            pg = postgresql.insert(private_ca_issuance).values(values)
            self.conn.execute(pg.on_conflict_do_nothing(index_elements=["ca_arn"]))
        else:
            lite = sqlite.insert(private_ca_issuance).values(values)
            self.conn.execute(lite.on_conflict_do_nothing(index_elements=["ca_arn"]))

    def reserve(self, ca_arn: str, limit: int) -> bool:
        """Count one more certificate for the CA if it has issued fewer than `limit`; False at
        the limit. One UPDATE, which also locks the row until the caller's transaction ends
        (PostgreSQL; SQLite's writers are serialised already), so two issuers cannot both take
        the last certificate of the quota; a rolled-back issuance gives its place back."""
        if self.conn.execute(_RESERVE, {"arn": ca_arn, "limit": limit}).rowcount == 1:
            return True
        if self.conn.execute(_ISSUED_COUNT, {"arn": ca_arn}).first() is not None:
            return False  # the row is there: the CA is at its limit
        self.ensure(ca_arn)  # the CA's first certificate
        return bool(self.conn.execute(_RESERVE, {"arn": ca_arn, "limit": limit}).rowcount == 1)

    def issued_count(self, ca_arn: str) -> int:
        count = self.conn.execute(_ISSUED_COUNT, {"arn": ca_arn}).scalar_one_or_none()
        return int(count or 0)

    # -- CRLs -----------------------------------------------------------------------------

    def next_crl_number(self, ca_arn: str) -> int:
        """The CA's next CRL number (RFC 5280 5.2.3: increasing). The UPDATE locks the row,
        so a CRL signer that waited here reads the revocations committed meanwhile."""
        self.ensure(ca_arn)
        t = private_ca_issuance.c
        self.conn.execute(
            update(private_ca_issuance)
            .where(t.ca_arn == ca_arn)
            .values(crl_number=t.crl_number + 1)
        )
        number = self.conn.execute(select(t.crl_number).where(t.ca_arn == ca_arn)).scalar_one()
        return int(number)

    def store_crl(self, ca_arn: str, der: bytes, this_update: float, next_update: float) -> None:
        t = private_ca_issuance.c
        self.conn.execute(
            update(private_ca_issuance)
            .where(t.ca_arn == ca_arn)
            .values(crl_der=der, crl_this_update=this_update, crl_next_update=next_update)
        )

    def crl(self, ca_arn: str) -> StoredCrl | None:
        t = private_ca_issuance.c
        row = self.conn.execute(
            select(t.crl_der, t.crl_this_update, t.crl_next_update).where(t.ca_arn == ca_arn)
        ).first()
        if row is None or row.crl_der is None:
            return None
        return StoredCrl(ca_arn, bytes(row.crl_der), row.crl_this_update, row.crl_next_update)

    def crl_due(self, now: float) -> list[str]:
        """CAs whose stored CRL is past half its validity (signed again before nextUpdate)."""
        t = private_ca_issuance.c
        rows = self.conn.execute(
            select(t.ca_arn).where(
                t.crl_der.is_not(None), t.crl_this_update + t.crl_next_update <= 2 * now
            )
        ).all()
        return [str(row.ca_arn) for row in rows]

    def ca_arn_for_id(self, ca_id: str) -> str | None:
        """The ARN of the CA a public URL names. Its issuance row answers in one indexed
        lookup; a CA that never issued has none, and is found among the CA rows."""
        if not is_ca_id(ca_id):
            return None
        t = private_ca_issuance.c
        arn = self.conn.execute(select(t.ca_arn).where(t.ca_id == ca_id)).scalar_one_or_none()
        if arn is not None:
            return str(arn)
        arn = self.conn.execute(
            select(private_cas.c.arn).where(
                private_cas.c.arn.like(f"%:certificate-authority/{ca_id}")
            )
        ).scalar_one_or_none()
        return None if arn is None else str(arn)


# -- audit reports --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport:
    report_id: str
    ca_arn: str
    status: str
    response_format: str
    s3_bucket_name: str
    s3_key: str
    created_at: float


class AuditReportStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, report: AuditReport) -> None:
        self.conn.execute(insert(private_ca_audit_reports).values(_report_row(report)))

    def get(self, ca_arn: str, report_id: str) -> AuditReport | None:
        t = private_ca_audit_reports.c
        row = self.conn.execute(
            select(private_ca_audit_reports).where(t.ca_arn == ca_arn, t.report_id == report_id)
        ).first()
        return None if row is None else AuditReport(**dict(row._mapping))

    def by_id(self, report_id: str) -> AuditReport | None:
        row = self.conn.execute(
            select(private_ca_audit_reports).where(
                private_ca_audit_reports.c.report_id == report_id
            )
        ).first()
        return None if row is None else AuditReport(**dict(row._mapping))

    def creating(self, ca_arn: str) -> list[AuditReport]:
        t = private_ca_audit_reports.c
        rows = self.conn.execute(
            select(private_ca_audit_reports).where(t.ca_arn == ca_arn, t.status == "CREATING")
        ).all()
        return [AuditReport(**dict(row._mapping)) for row in rows]

    def ids_for(self, ca_arn: str, limit: int) -> list[str]:
        """The CA's report ids, newest first (the console's list; ACM-PCA has no List)."""
        t = private_ca_audit_reports.c
        query = (
            select(t.report_id)
            .where(t.ca_arn == ca_arn)
            .order_by(t.created_at.desc(), t.report_id)
            .limit(limit)
        )
        return list(self.conn.execute(query).scalars())

    def set_status(self, report_id: str, status: str) -> None:
        t = private_ca_audit_reports.c
        self.conn.execute(
            update(private_ca_audit_reports).where(t.report_id == report_id).values(status=status)
        )


def _report_row(report: AuditReport) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "ca_arn": report.ca_arn,
        "status": report.status,
        "response_format": report.response_format,
        "s3_bucket_name": report.s3_bucket_name,
        "s3_key": report.s3_key,
        "created_at": report.created_at,
    }


def issued_certificates(conn: Connection, ca_arn: str) -> list[IssuedCertificate]:
    """Every certificate the CA issued, revoked or not, by issue time (the audit report)."""
    t = private_ca_certificates.c
    rows = conn.execute(
        select(private_ca_certificates).where(t.ca_arn == ca_arn).order_by(t.issued_at, t.serial)
    ).all()
    return [IssuedCertificate(**dict(row._mapping)) for row in rows]
