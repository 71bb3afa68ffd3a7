"""UpdateCertificateOptions and the move of a certificate from email to DNS validation.

ACM's newest API lets an email-validated certificate move to DNS validation
(`Options.ValidationMethod = DNS`). The move is requested per name: the name keeps its email
validation as the active configuration, and ListCertificateDomainValidations shows the DNS
record as the requested one, until the move worker finds the record. Then DNS becomes the
name's active validation (SUCCESS); once every name has moved, the certificate's
ValidationMethod is DNS. A pending certificate whose names are all SUCCESS is then issued by
the validation worker, as any other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from openacm.adapters.dns.resolver import DnsChecker, DnsLookupError
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.email import EmailName, EmailStore, expedite
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import (
    VALIDATE_WORK,
    WORK_SCHEDULED,
    WorkItem,
    WorkQueue,
    lease_due_items,
)
from openacm.config import ValidationSettings
from openacm.domain.certificates import CertificateRecord
from openacm.domain.errors import InvalidStateError, ValidationError
from openacm.domain.validation import (
    PENDING,
    SUCCESS,
    ValidationRecord,
    chain_proves,
    validation_record,
)
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.acm.email_validation import EMAIL
from openacm.services.context import CallContext

log = logging.getLogger("openacm.validation")
MOVE_WORK = "move-to-dns"
DNS = "DNS"
BATCH_SIZE = 16
# The certificates whose move the worker follows: a pending request, or an issued
# certificate whose future renewals are to be DNS-validated.
MOVABLE_STATUSES = (PENDING, "ISSUED")


class OptionOperations:
    def __init__(
        self,
        db: Database,
        certificates: CertificateOperations,
        validation: ValidationSettings,
        validation_key: bytes,
    ) -> None:
        self.db = db
        self.certificates = certificates
        self.validation = validation
        self.validation_key = validation_key

    def update_certificate_options(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        options = params["Options"]
        moved = False
        with self.db.write() as conn:
            record = self.certificates.load(
                conn, ctx, params["CertificateArn"], "UpdateCertificateOptions"
            )
            _check_export(record, options.get("Export"))
            updated = record
            preference = options.get("CertificateTransparencyLoggingPreference")
            if preference and preference != record.options.get(
                "CertificateTransparencyLoggingPreference"
            ):
                updated = replace(
                    record,
                    options={
                        **record.options,
                        "CertificateTransparencyLoggingPreference": preference,
                    },
                )
            method = options.get("ValidationMethod")
            if method is not None:
                moved = self._request_move(conn, ctx, record, method)
            if updated is not record:
                CertificateStore(conn).replace(updated, None)
        if moved:
            WORK_SCHEDULED.notify()
        return {}

    def _request_move(
        self, conn: Any, ctx: CallContext, record: CertificateRecord, method: str
    ) -> bool:
        """Request the move of every name still validated by email; False when there is
        nothing to move (the certificate already uses `method`)."""
        if record.type != "AMAZON_ISSUED":
            raise ValidationError(
                f"Certificate {record.arn} is of type {record.type}: only certificates "
                "requested from ACM have a validation method."
            )
        if method == record.validation_method:
            return False
        if method != DNS or record.validation_method != EMAIL:
            raise ValidationError(
                f"The validation method of certificate {record.arn} can only move from EMAIL "
                f"to DNS, not from {record.validation_method} to {method}."
            )
        if record.status not in MOVABLE_STATUSES:
            raise InvalidStateError(
                f"Certificate {record.arn} is in state {record.status}: its validation "
                "method can no longer change."
            )
        store = EmailStore(conn)
        for name in store.names(record.arn).values():
            dns = validation_record(
                self.validation_key, record.account_id, name.domain_name, self.validation.zone
            )
            store.request_move(record.arn, name.domain_name, DNS, (dns.name, dns.value), ctx.now)
        WorkQueue(conn).schedule(
            MOVE_WORK, record.arn, due_at=ctx.now, deadline_at=None, now=ctx.now
        )
        return True


def _check_export(record: CertificateRecord, export: str | None) -> None:
    """The model's documentation: Export cannot be changed after the certificate is created."""
    if export is None:
        return
    current = record.export_option or "DISABLED"
    if export != current:
        raise ValidationError(
            f"You cannot update the value of Export after the certificate is created "
            f"(certificate {record.arn} has Export {current})."
        )


@dataclass(frozen=True)
class MoveResult:
    arn: str
    outcome: str  # moved | pending | gone | lost_lease


class MoveWorker:
    """Looks up the DNS records of names moving from email to DNS validation."""

    def __init__(self, db: Database, dns: DnsChecker, validation: ValidationSettings) -> None:
        self.db = db
        self.dns = dns
        self.validation = validation
        self.owner = f"mover-{uuid.uuid4().hex[:12]}"
        self._lookups = ThreadPoolExecutor(2, thread_name_prefix="openacm-move-dns")

    def run_once(self, now: float) -> list[MoveResult]:
        items = lease_due_items(
            self.db,
            MOVE_WORK,
            self.owner,
            now=now,
            lease_seconds=self.validation.lease_seconds,
            limit=BATCH_SIZE,
        )
        results = []
        for item in items:
            try:
                results.append(self._step(item, now))
            except Exception:
                log.exception("validation move step failed", extra={"arn": item.resource_arn})
        return results

    def _step(self, item: WorkItem, now: float) -> MoveResult:
        arn = item.resource_arn
        with self.db.read() as conn:
            record = CertificateStore(conn).get(arn)
            moving = [n for n in EmailStore(conn).names(arn).values() if n.requested_method == DNS]
        if record is None or record.status not in MOVABLE_STATUSES or not moving:
            with self.db.write() as conn:
                if record is not None and record.status not in MOVABLE_STATUSES:
                    EmailStore(conn).end_move(arn, now)
                WorkQueue(conn).finish(item, self.owner, now)
            return MoveResult(arn, "gone")
        found = [
            n for n, ok in zip(moving, self._lookups.map(self._found, moving), strict=True) if ok
        ]
        with self.db.write() as conn:
            queue = WorkQueue(conn)
            if not queue.still_held(item, self.owner, now):
                return MoveResult(arn, "lost_lease")
            store = EmailStore(conn)
            for name in found:
                assert name.requested_record_name and name.requested_record_value
                store.adopt_dns(
                    arn,
                    name.domain_name,
                    (name.requested_record_name, name.requested_record_value),
                    now,
                )
            if len(found) < len(moving):
                delay = min(
                    self.validation.retry_initial * 2.0 ** min(item.attempts, 30),
                    self.validation.retry_max,
                )
                queue.reschedule(item, self.owner, due_at=now + delay, now=now)
                return MoveResult(arn, "pending")
            # Every name has moved: the certificate is DNS-validated from now on, and its
            # approval links are void.
            CertificateStore(conn).replace(replace(record, validation_method=DNS), None)
            store.retire_all(arn, now)
            queue.cancel("email", arn)
            queue.finish(item, self.owner, now)
            if record.status == PENDING and all(
                v.status == SUCCESS for v in ValidationStore(conn).list(arn)
            ):
                expedite(conn, VALIDATE_WORK, arn, now)
        WORK_SCHEDULED.notify()
        log.info("validation moved to DNS", extra={"arn": arn})
        return MoveResult(arn, "moved")

    def _found(self, name: EmailName) -> bool:
        assert name.requested_record_name and name.requested_record_value
        expected = ValidationRecord(name.requested_record_name, name.requested_record_value)
        try:
            chain = self.dns.cname_chain(
                expected.name.rstrip("."), stop_under=(self.validation.zone,)
            )
        except DnsLookupError as exc:
            log.info("DNS lookup failed", extra={"name": expected.name, "error": str(exc)})
            return False
        return chain_proves(expected, chain.targets, too_long=chain.too_long)
