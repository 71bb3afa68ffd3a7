"""The validation worker: takes pending certificates through leases, checks their DNS records,
checks CAA, and hands validated ones to the issuer.

Every server process runs one; the work-item leases (adapters/store/work.py) make sure two
processes never work on one certificate at once, and the issuer commits only while the lease
is held, so a certificate is issued once even with several processes on one database.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace

from openacm.adapters.dns.resolver import DnsChecker, DnsLookupError
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import WorkItem, WorkQueue
from openacm.config import IssuanceSettings, ValidationSettings
from openacm.domain.caa import CaaRecord, caa_permits
from openacm.domain.certificates import CertificateRecord, DomainValidation
from openacm.domain.validation import (
    FAILED,
    PENDING,
    SUCCESS,
    ValidationRecord,
    base_name,
    chain_proves,
)
from openacm.services.acm.requests import VALIDATE_WORK
from openacm.services.pki.leaf_issuer import IssuanceRefused, LeafIssuer

log = logging.getLogger("openacm.validation")


@dataclass(frozen=True)
class StepResult:
    """What one look at a certificate decided (for logs and tests)."""

    arn: str
    outcome: str  # issued | pending | timed_out | failed | gone | lost_lease


class ValidationWorker:
    def __init__(
        self,
        db: Database,
        dns: DnsChecker,
        issuer: LeafIssuer,
        validation: ValidationSettings,
        issuance: IssuanceSettings,
    ) -> None:
        self.db = db
        self.dns = dns
        self.issuer = issuer
        self.validation = validation
        self.issuance = issuance
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"

    def run_once(self, now: float) -> list[StepResult]:
        """Lease the due certificates and take each one step further."""
        with self.db.write() as conn:
            items = WorkQueue(conn).lease_due(
                VALIDATE_WORK,
                self.owner,
                now=now,
                lease_seconds=self.validation.lease_seconds,
                limit=self.validation.batch_size,
            )
        results = []
        for item in items:
            try:
                results.append(self.step(item, now))
            except Exception:
                # One certificate's fault must not stop the others; it is retried later.
                log.exception("validation step failed", extra={"arn": item.resource_arn})
                self._retry_later(item, now)
        return results

    def step(self, item: WorkItem, now: float) -> StepResult:
        with self.db.read() as conn:
            record = CertificateStore(conn).get(item.resource_arn)
            validations = ValidationStore(conn).list(item.resource_arn)
        if record is None or record.status != PENDING:
            self._finish(item, now)
            return StepResult(item.resource_arn, "gone")
        if item.deadline_at is not None and now >= item.deadline_at:
            return self._end(item, record, now, "VALIDATION_TIMED_OUT", None, "timed_out")
        checked = [self._check_name(record, validation, now) for validation in validations]
        if not all(v.status == SUCCESS for v in checked):
            self._retry_later(item, now)
            return StepResult(record.arn, "pending")
        refusal = self._caa_refusal(record)
        if refusal == "retry":
            self._retry_later(item, now)
            return StepResult(record.arn, "pending")
        if refusal:
            log.info("CAA refused issuance", extra={"arn": record.arn, "reason": refusal})
            return self._end(item, record, now, "FAILED", "CAA_ERROR", "failed")
        try:
            outcome = self.issuer.issue(
                replace(record, validations=tuple(checked)),
                now=now,
                still_mine=lambda conn: WorkQueue(conn).still_held(item, self.owner, now),
            )
        except IssuanceRefused as refusal:
            log.error("issuance refused", extra={"arn": record.arn, "reason": str(refusal)})
            return self._end(item, record, now, "FAILED", "OTHER", "failed")
        if not outcome.issued:
            return StepResult(record.arn, "lost_lease")
        self._finish(item, now)
        log.info("certificate issued", extra={"arn": record.arn, "serial": outcome.serial})
        return StepResult(record.arn, "issued")

    # -- checks -----------------------------------------------------------------------------

    def _check_name(
        self, record: CertificateRecord, validation: DomainValidation, now: float
    ) -> DomainValidation:
        """Look the name's CNAME up now. A name once SUCCESS for this request stays so; a
        new request always looks again, so a deleted record stops new issuance."""
        if validation.status == SUCCESS or not validation.record_name:
            return validation
        expected = ValidationRecord(validation.record_name, validation.record_value or "")
        try:
            chain = self.dns.cname_chain(
                validation.record_name.rstrip("."), stop_under=(self.validation.zone,)
            )
        except DnsLookupError as exc:
            log.info("DNS lookup failed", extra={"arn": record.arn, "error": str(exc)})
            return validation
        if not chain_proves(expected, chain.targets, too_long=chain.too_long):
            return validation
        with self.db.write() as conn:
            ValidationStore(conn).set_status(record.arn, validation.domain_name, SUCCESS, now)
        return replace(validation, status=SUCCESS)

    def _caa_refusal(self, record: CertificateRecord) -> str | None:
        """None when CAA lets openacm issue for every name, "retry" when a lookup failed
        (RFC 8659 forbids issuing then; it is usually transient), else why not."""
        for name in record.names:
            wildcard = name.startswith("*.")
            try:
                answer = self.dns.caa_records(base_name(name))
            except DnsLookupError:
                return "retry"
            records = [CaaRecord(r.flags, r.tag, r.value) for r in answer.records]
            decision = caa_permits(
                records, ca_identities=self.issuance.caa_identities, wildcard=wildcard
            )
            if not decision.allowed:
                return f"{name}: {decision.reason}"
        return None

    # -- bookkeeping ------------------------------------------------------------------------

    def _retry_later(self, item: WorkItem, now: float) -> None:
        delay = min(
            self.validation.retry_initial * (2 ** min(item.attempts, 30)),
            self.validation.retry_max,
        )
        due = now + delay
        if item.deadline_at is not None:
            due = min(due, item.deadline_at)
        with self.db.write() as conn:
            WorkQueue(conn).reschedule(item, self.owner, due_at=due, now=now)

    def _finish(self, item: WorkItem, now: float) -> None:
        with self.db.write() as conn:
            WorkQueue(conn).finish(item, self.owner, now)

    def _end(
        self,
        item: WorkItem,
        record: CertificateRecord,
        now: float,
        status: str,
        failure_reason: str | None,
        outcome: str,
    ) -> StepResult:
        """Close a request that will never be issued, if this worker still holds it."""
        with self.db.write() as conn:
            queue = WorkQueue(conn)
            if not queue.still_held(item, self.owner, now):
                return StepResult(record.arn, "lost_lease")
            ended = replace(record, status=status, failure_reason=failure_reason)
            if not CertificateStore(conn).replace(ended, None):
                return StepResult(record.arn, "lost_lease")
            # DomainStatus has no "timed out": names that never validated are FAILED.
            ValidationStore(conn).set_all_pending(record.arn, FAILED, now)
            queue.finish(item, self.owner, now)
        return StepResult(record.arn, outcome)
