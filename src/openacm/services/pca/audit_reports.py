"""CreateCertificateAuthorityAuditReport and DescribeCertificateAuthorityAuditReport.

AWS writes the report to the caller's S3 bucket under `audit-report/<ca id>/<report id>.json`
(or `.csv`). openacm writes nothing to S3: it writes the same file under
`<data dir>/audit-reports/` and serves it at `<public url>/<S3Key>`; the answer's S3BucketName
is the bucket named in the request, recorded as given, and its S3Key the path of that URL.
The report id is a random UUID, so the URL is as hard to guess as an S3 pre-signed one; it is
served without a signature like the CRLs beside it (docs/private-ca.md).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
from cryptography import x509

from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import IssuedCertificate, PrivateCaRecord
from openacm.adapters.store.pca_operations import (
    AuditReport,
    AuditReportStore,
    ca_id_of,
    is_ca_id,
    issued_certificates,
)
from openacm.domain import pca
from openacm.domain.errors import RequestInProgressError, ResourceNotFoundError
from openacm.services.context import CallContext
from openacm.services.pca.authorities import CertificateAuthorities

__all__ = ["AuditReportOperations", "AuditReports", "report_rows"]

log = logging.getLogger("openacm.pca")

# The columns of AWS's report, in its order (the AWS Private CA guide's sample). `templateArn`
# is not among them: openacm does not record which template issued a certificate.
REPORT_FIELDS: Final = (
    "awsAccountId",
    "certificateArn",
    "serial",
    "subject",
    "notBefore",
    "notAfter",
    "issuedAt",
    "revokedAt",
    "revocationReason",
)
EXTENSIONS: Final = {"JSON": "json", "CSV": "csv"}
# A report still CREATING this long after it started lost its process: FAILED.
STALE_CREATING_SECONDS: Final = 10 * 60.0


def _timestamp(epoch: float | None) -> str | None:
    # AWS's form: 2020-02-26T18:39:57+0000.
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _colon_serial(serial: str) -> str:
    text = serial if len(serial) % 2 == 0 else "0" + serial
    return ":".join(text[i : i + 2] for i in range(0, len(text), 2))


def report_rows(account_id: str, issued: list[IssuedCertificate]) -> list[dict[str, Any]]:
    """One row per certificate, issued and revoked alike, with AWS's column names."""
    rows = []
    for entry in issued:
        certificate = x509.load_pem_x509_certificate(entry.certificate_pem.encode())
        rows.append(
            {
                "awsAccountId": account_id,
                "certificateArn": entry.certificate_arn,
                "serial": _colon_serial(entry.serial),
                "subject": certificate.subject.rfc4514_string(),
                "notBefore": _timestamp(entry.not_before),
                "notAfter": _timestamp(entry.not_after),
                "issuedAt": _timestamp(entry.issued_at),
                "revokedAt": _timestamp(entry.revoked_at),
                "revocationReason": entry.revocation_reason,
            }
        )
    return rows


def render(rows: list[dict[str, Any]], response_format: str) -> bytes:
    if response_format == "JSON":
        return orjson.dumps(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue().encode()


def effective_status(report: AuditReport, now: float) -> str:
    if report.status == "CREATING" and now - report.created_at > STALE_CREATING_SECONDS:
        return "FAILED"
    return report.status


class AuditReports:
    """Where reports live: `<data dir>/audit-reports/<S3Key>`."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self.db = db
        self.root = data_dir / "audit-reports"

    def path_of(self, s3_key: str) -> Path:
        return self.root / s3_key

    def write(self, s3_key: str, content: bytes) -> None:
        path = self.path_of(s3_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: a reader never sees half a report.
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(content)
        os.replace(partial, path)

    def served_file(self, ca_id: str, file_name: str) -> tuple[Path, str] | None:
        """The report file `/audit-report/<ca id>/<file name>` names and its media type, if
        it is a finished report (names are checked before any path is built)."""
        report_id, _, extension = file_name.rpartition(".")
        if not is_ca_id(ca_id) or not is_ca_id(report_id) or extension not in ("json", "csv"):
            return None
        with self.db.read() as conn:
            stored = AuditReportStore(conn).by_id(report_id)
        if stored is None or stored.status != "SUCCESS":
            return None
        if stored.s3_key != f"audit-report/{ca_id}/{file_name}":
            return None
        media = "application/json" if extension == "json" else "text/csv"
        return self.path_of(stored.s3_key), media


class AuditReportOperations:
    def __init__(self, authorities: CertificateAuthorities, reports: AuditReports) -> None:
        self.cas = authorities
        self.db = authorities.db
        self.reports = reports

    def create_certificate_authority_audit_report(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Record the report as CREATING (a second request meanwhile is
        RequestInProgressException), write it outside any transaction, then SUCCESS (or
        FAILED, logged). The answer comes once the file is there."""
        pca.check_bucket_name(params["S3BucketName"])
        response_format = params["AuditReportResponseFormat"]
        with self.db.write() as conn:
            ca = self.cas.load(
                conn,
                ctx,
                params["CertificateAuthorityArn"],
                "CreateCertificateAuthorityAuditReport",
            )
            store = AuditReportStore(conn)
            if any(effective_status(r, ctx.now) == "CREATING" for r in store.creating(ca.arn)):
                raise RequestInProgressError(
                    "An audit report is already being created for this certificate authority."
                )
            report_id = str(uuid.uuid4())
            report = AuditReport(
                report_id=report_id,
                ca_arn=ca.arn,
                status="CREATING",
                response_format=response_format,
                s3_bucket_name=params["S3BucketName"],
                s3_key=f"audit-report/{ca_id_of(ca.arn)}/{report_id}.{EXTENSIONS[response_format]}",
                created_at=ctx.now,
            )
            store.insert(report)
        self._complete(ca, report)
        return {"AuditReportId": report.report_id, "S3Key": report.s3_key}

    def _complete(self, ca: PrivateCaRecord, report: AuditReport) -> None:
        try:
            with self.db.read() as conn:
                issued = issued_certificates(conn, ca.arn)
            self.reports.write(
                report.s3_key, render(report_rows(ca.account_id, issued), report.response_format)
            )
            status = "SUCCESS"
        except Exception:  # the report exists: it must end FAILED, as in AWS
            log.exception("audit report %s of %s failed", report.report_id, ca.arn)
            status = "FAILED"
        with self.db.write() as conn:
            AuditReportStore(conn).set_status(report.report_id, status)

    def describe_certificate_authority_audit_report(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            ca = self.cas.load(
                conn,
                ctx,
                params["CertificateAuthorityArn"],
                "DescribeCertificateAuthorityAuditReport",
            )
            report = AuditReportStore(conn).get(ca.arn, params["AuditReportId"])
        if report is None:
            raise ResourceNotFoundError(
                f"Could not find audit report {params['AuditReportId']} of {ca.arn}."
            )
        return {
            "AuditReportStatus": effective_status(report, ctx.now),
            "S3BucketName": report.s3_bucket_name,
            "S3Key": report.s3_key,
            "CreatedAt": report.created_at,
        }
