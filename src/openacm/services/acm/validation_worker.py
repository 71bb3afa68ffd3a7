"""The validation worker: takes pending certificates through leases, checks their DNS records,
checks CAA, and hands validated ones to the issuer.

Every server process runs one; the work-item leases (adapters/store/work.py) make sure two
processes never work on one certificate at once, and the issuer commits only while the lease
is held, so a certificate is issued once even with several processes on one database.

A leased batch goes through in steps, each over the whole batch: one read of the records;
the DNS lookups of all of them at once (a small thread pool: lookups mostly wait on the
network); one write transaction that records what the lookups found, reschedules or ends
what cannot be issued now and plans the serials of the rest; the signatures; one write
transaction that commits them. SQLite has a single writer, so on a busy server the number
of write transactions, more than the CPU, is what bounds issuance.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from openacm.adapters.acme.client import AcmeFailure
from openacm.adapters.acme.http01 import RedirectProbe
from openacm.adapters.dns.resolver import CnameChain, DnsChecker, DnsLookupError
from openacm.adapters.store.acme import AcmeRenewalInfo
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import VALIDATE_WORK, WorkItem, WorkQueue, lease_due_items
from openacm.config import IssuanceSettings, ValidationSettings
from openacm.domain.acme import dns_persist_proves
from openacm.domain.acme import failure_reason as acme_failure_reason
from openacm.domain.caa import CaaRecord, caa_permits
from openacm.domain.certificates import CertificateRecord, DomainValidation
from openacm.domain.renewal import FAILED as RENEWAL_FAILED
from openacm.domain.renewal import (
    PENDING_AUTO_RENEWAL,
)
from openacm.domain.renewal import PENDING_VALIDATION as RENEWAL_PENDING_VALIDATION
from openacm.domain.renewal import SUCCESS as RENEWAL_SUCCESS
from openacm.domain.validation import (
    FAILED,
    HTTP,
    PENDING,
    SUCCESS,
    ValidationRecord,
    base_name,
    chain_proves,
    is_dns_persist_owner,
)
from openacm.services.acm.email_validation import EMAIL, email_renewal_approvals
from openacm.services.acm.private_issuance import AcmPrivateIssuer, is_private_work
from openacm.services.acm.renewal_events import notify_renewed, notify_waiting
from openacm.services.acme.upstream import AcmeIssued, AcmeUpstream
from openacm.services.events import emit_available
from openacm.services.pki.leaf_issuer import (
    IssuanceRefused,
    LeafIssuer,
    PlannedLeaf,
    SignedLeaf,
    with_certificate,
)
from openacm.services.pki.leaf_keys import LeafPrivateKey

log = logging.getLogger("openacm.validation")
ISSUED = "ISSUED"

# Lookups of one batch in flight at once. Each waits on the nameserver (tens of milliseconds
# for a remote resolver), so a few threads cut a batch's wait several times; but building and
# parsing a query costs dnspython about 0.4 ms of CPU under the GIL, so against a fast
# nameserver more threads would only add thread switches.
DNS_THREADS = 4
# ACME orders of one batch in flight at once: an order mostly waits for the CA to validate
# and sign, so a few at a time multiply throughput; more would only queue at the CA.
ORDER_THREADS = 8
# A batch is sized to take about this long, from what recent batches took per certificate:
# enough to share each transaction among many certificates, little enough that several
# processes share a burst evenly and the first certificate of a batch does not wait long for
# the last (an RSA key generated on demand takes tens of milliseconds). The DNS lookups and
# ACME orders are not counted: a slow nameserver or CA must not shrink the batches.
BATCH_TARGET_SECONDS = 0.25
# How fast the seconds-per-certificate estimate follows cheaper batches; it follows costlier
# ones at once, so that a run of slow certificates does not wait behind one big lease.
_SMOOTHING = 0.3


@dataclass(frozen=True)
class StepResult:
    """What one look at a certificate decided (for logs and tests)."""

    arn: str
    outcome: str  # issued | renewed | pending | timed_out | failed | gone | lost_lease


@dataclass
class _Check:
    """What the lookups found for one leased certificate, and what is to become of it."""

    item: WorkItem
    record: CertificateRecord
    validations: tuple[DomainValidation, ...]  # as checked now
    newly_validated: tuple[str, ...]  # domain names that turned SUCCESS in this check
    verdict: str  # ready | pending | error | caa_failed | refused
    reason: str | None = None

    @property
    def renewal(self) -> bool:
        """A managed renewal of an issued certificate, not a first issuance."""
        return self.record.status == ISSUED


class ValidationWorker:
    def __init__(
        self,
        db: Database,
        dns: DnsChecker,
        issuer: LeafIssuer,
        validation: ValidationSettings,
        issuance: IssuanceSettings,
        private: AcmPrivateIssuer | None = None,
        acme: AcmeUpstream | None = None,
    ) -> None:
        self.db = db
        self.acme = acme
        self.dns = dns
        self.issuer = issuer
        self.private = private
        self.validation = validation
        self.issuance = issuance
        # HTTP validation: the redirect each name needs, checked before the CA is asked.
        self.http_probe = RedirectProbe(dns, port=acme.settings.http_port) if acme else None
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._lookups = ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="openacm-dns")
        self._orders = ThreadPoolExecutor(ORDER_THREADS, thread_name_prefix="openacm-acme")
        self._seconds_per_item = 0.0  # 0 until a batch was timed
        # Of the batch in progress: time spent waiting on DNS lookups and ACME CAs, which the
        # batch sizing leaves out (a slow nameserver or CA must not shrink the batches).
        self._waiting_seconds = 0.0

    def run_once(self, now: float) -> list[StepResult]:
        """Lease the due certificates and take each one step further."""
        items = lease_due_items(
            self.db,
            VALIDATE_WORK,
            self.owner,
            now=now,
            lease_seconds=self.validation.lease_seconds,
            limit=self.batch_limit(),
        )
        if not items:
            return []
        started = time.monotonic()
        self._waiting_seconds = 0.0
        try:
            results = self._step_batch(items, now)
        except Exception:
            # A failed transaction must not stop the worker; the batch is retried later.
            log.exception("validation batch failed", extra={"items": len(items)})
            results = [self._retry_after_failure(item, now) for item in items]
        self._time_batch(time.monotonic() - started - self._waiting_seconds, len(items))
        return results

    def batch_limit(self) -> int:
        """How many certificates to lease at once (see BATCH_TARGET_SECONDS)."""
        if self._seconds_per_item <= 0:
            return self.validation.batch_size
        fitting = int(BATCH_TARGET_SECONDS / self._seconds_per_item)
        return max(1, min(self.validation.batch_size, fitting))

    def _time_batch(self, seconds: float, items: int) -> None:
        latest = seconds / items
        if latest >= self._seconds_per_item:
            self._seconds_per_item = latest
        else:
            self._seconds_per_item += _SMOOTHING * (latest - self._seconds_per_item)

    # -- one batch ---------------------------------------------------------------------------

    def _step_batch(self, items: Sequence[WorkItem], now: float) -> list[StepResult]:
        results: dict[int, StepResult] = {}
        gone: list[WorkItem] = []
        timed_out: list[tuple[WorkItem, CertificateRecord]] = []
        to_check: list[tuple[WorkItem, CertificateRecord, tuple[DomainValidation, ...]]] = []
        private: list[tuple[WorkItem, CertificateRecord]] = []
        with self.db.read() as conn:
            for item in items:
                record = CertificateStore(conn).get(item.resource_arn)
                if record is not None and self.private and is_private_work(record):
                    private.append((item, record))  # no validation: the CA decides
                elif record is None or not (record.status == PENDING or is_public_renewal(record)):
                    gone.append(item)
                elif item.deadline_at is not None and now >= item.deadline_at:
                    timed_out.append((item, record))
                else:
                    validations = ValidationStore(conn).list(item.resource_arn)
                    if record.status == ISSUED:
                        validations = _renewal_validations(conn, record, validations)
                    to_check.append((item, record, validations))
        looking_up = time.monotonic()
        checks = list(self._lookups.map(lambda args: self._check(*args), to_check))
        self._waiting_seconds = time.monotonic() - looking_up
        ready = [check for check in checks if check.verdict == "ready"]
        # Regions whose public issuer is an ACME CA: issued by it, after the builtin batch.
        upstream = [check for check in ready if self.acme and self.acme.handles(check.record)]
        planned = self._prepare([check for check in ready if check not in upstream], now)
        with self.db.write() as conn:
            planned = self._record_checks(conn, now, gone, timed_out, checks, planned, results)
        signed: list[tuple[_Check, SignedLeaf]] = []
        unsigned: list[tuple[_Check, PlannedLeaf]] = []
        for check, leaf in planned:
            try:
                signed.append((check, self.issuer.sign(leaf, now=now)))
            except Exception:
                log.exception("signing failed", extra={"arn": check.record.arn})
                unsigned.append((check, leaf))
        if signed or unsigned:
            with self.db.write() as conn:
                self._commit(conn, now, signed, unsigned, results)
        if upstream:
            ordering = time.monotonic()
            self._issue_upstream(upstream, now, results)
            self._waiting_seconds += time.monotonic() - ordering
        if private and self.private:
            outcomes = self.private.issue_batch(private, self.owner, now)
            for item, record in private:
                results[item.item_id] = StepResult(record.arn, outcomes[item.item_id])
        return [results[item.item_id] for item in items]

    def _prepare(self, ready: list[_Check], now: float) -> list[tuple[_Check, PlannedLeaf]]:
        """Keys and to-be-signed certificates for the validated certificates; one the linter
        refuses, or whose preparation fails, changes verdict instead."""
        if not ready:
            return []
        keys = self.issuer.keys_for([check.record for check in ready])
        planned = []
        for check, key in zip(ready, keys, strict=True):
            record = replace(check.record, validations=check.validations)
            if check.renewal:
                # Same ARN, new key: the new certificate has not been exported yet.
                record = replace(
                    record,
                    renewal_status=RENEWAL_SUCCESS,
                    renewal_status_reason=None,
                    renewal_updated_at=now,
                    exported=False,
                )
            try:
                planned.append((check, self.issuer.prepare(record, key, now=now)))
            except IssuanceRefused as refusal:
                log.error("issuance refused", extra={"arn": record.arn, "reason": str(refusal)})
                check.verdict, check.reason = "refused", str(refusal)
            except Exception:
                log.exception("preparing the certificate failed", extra={"arn": record.arn})
                check.verdict = "error"
        return planned

    def _record_checks(
        self,
        conn: Connection,
        now: float,
        gone: list[WorkItem],
        timed_out: list[tuple[WorkItem, CertificateRecord]],
        checks: list[_Check],
        planned: list[tuple[_Check, PlannedLeaf]],
        results: dict[int, StepResult],
    ) -> list[tuple[_Check, PlannedLeaf]]:
        """In one transaction: what the lookups found, the end of what will never be issued,
        the next look at what is still pending, and the serials of what is to be signed.
        Returns the planned certificates this worker may go on to sign."""
        queue = WorkQueue(conn)
        held = queue.held([*gone, *(item for item, _ in timed_out), *(c.item for c in checks)],
                          self.owner, now)  # fmt: skip
        for item in gone:
            queue.finish(item, self.owner, now)
            results[item.item_id] = StepResult(item.resource_arn, "gone")
        for item, record in timed_out:
            if record.status == ISSUED:  # the renewal's deadline is the certificate's expiry
                results[item.item_id] = self._end_renewal(
                    conn, item, record, held, now, "PENDING_DOMAIN_VALIDATION"
                )
                continue
            results[item.item_id] = self._end(
                conn, item, record, held, now, "VALIDATION_TIMED_OUT", None, "timed_out"
            )
        validations = ValidationStore(conn)
        for check in checks:
            item, arn = check.item, check.record.arn
            if item.item_id not in held:
                results[item.item_id] = StepResult(arn, "lost_lease")
                continue
            # A name once SUCCESS for this request stays so, whatever becomes of the rest. The
            # names of a certificate about to be signed turn SUCCESS in the transaction that
            # issues it (`_commit`): a client waiting for every name to be validated (the
            # aws CLI's `wait certificate-validated`) then finds the certificate ISSUED too.
            if check.verdict != "ready":
                self._record_validated(validations, check, now)
            if check.renewal and check.verdict in ("pending", "caa_failed"):
                # The user must act (restore a CNAME, fix CAA): the renewal waits, retried
                # until the certificate expires.
                reason = (
                    "CAA_ERROR" if check.verdict == "caa_failed" else ("PENDING_DOMAIN_VALIDATION")
                )
                self._renewal_waits(conn, check.record, reason, now)
                queue.reschedule(item, self.owner, due_at=self._retry_due(item, now), now=now)
                results[item.item_id] = StepResult(arn, "pending")
            elif check.renewal and check.verdict == "refused":
                results[item.item_id] = self._end_renewal(
                    conn, item, check.record, held, now, "OTHER"
                )
            elif check.verdict in ("pending", "error"):
                queue.reschedule(item, self.owner, due_at=self._retry_due(item, now), now=now)
                results[item.item_id] = StepResult(arn, "pending")
            elif check.verdict == "caa_failed":
                log.info("CAA refused issuance", extra={"arn": arn, "reason": check.reason})
                results[item.item_id] = self._end(
                    conn, item, check.record, held, now, "FAILED", "CAA_ERROR", "failed"
                )
            elif check.verdict == "refused":
                results[item.item_id] = self._end(
                    conn, item, check.record, held, now, "FAILED", "OTHER", "failed"
                )
        to_sign = []
        for check, leaf in planned:
            if check.item.item_id in held:
                self.issuer.plan(conn, leaf, now=now)
                to_sign.append((check, leaf))
        return to_sign

    def _commit(
        self,
        conn: Connection,
        now: float,
        signed: list[tuple[_Check, SignedLeaf]],
        unsigned: list[tuple[_Check, PlannedLeaf]],
        results: dict[int, StepResult],
    ) -> None:
        """In one transaction: the signed certificates of the batch, each only while its
        lease is still held (checked here, in the committing transaction)."""
        queue = WorkQueue(conn)
        held = queue.held([check.item for check, _ in [*signed, *unsigned]], self.owner, now)
        issued = []
        validations = ValidationStore(conn)
        for check, leaf in signed:
            arn = check.record.arn
            outcome = self.issuer.commit(conn, leaf, now=now, still_mine=check.item.item_id in held)
            if outcome.issued:
                self._record_validated(validations, check, now)
                if check.renewal:  # with the commit
                    notify_renewed(conn, check.record, leaf.issued, now)
                else:
                    emit_available(conn, leaf.issued, "ISSUANCE", now)
                issued.append(check.item)
                results[check.item.item_id] = StepResult(
                    arn, "renewed" if check.renewal else "issued"
                )
                log.info("certificate issued", extra={"arn": arn, "serial": outcome.serial})
            else:
                results[check.item.item_id] = StepResult(arn, "lost_lease")
        queue.finish_many(issued, self.owner, now)
        for check, planned in unsigned:
            self.issuer.abandon(conn, planned, now=now)
            item = check.item
            result = StepResult(check.record.arn, "lost_lease")
            if item.item_id in held:
                self._record_validated(validations, check, now)
                queue.reschedule(item, self.owner, due_at=self._retry_due(item, now), now=now)
                result = StepResult(check.record.arn, "pending")
            results[item.item_id] = result

    def _issue_upstream(
        self, ready: list[_Check], now: float, results: dict[int, StepResult]
    ) -> None:
        """Validated certificates of acme regions: one ACME order each (network, outside any
        transaction, a few at once), then one transaction storing what came of them while
        leases are held."""
        acme = self.acme
        assert acme is not None
        # The orders run under the batch's leases, up to ORDER_THREADS at once: no group of
        # orders starts that could end after them; the rest go back to the queue, due at once.
        budget = self.validation.lease_seconds - acme.settings.order_timeout
        started = time.monotonic()
        lease_ends = started + self.validation.lease_seconds
        outcomes: list[tuple[_Check, LeafPrivateKey | None, AcmeIssued | AcmeFailure | None]] = []
        for first in range(0, len(ready), ORDER_THREADS):
            group = ready[first : first + ORDER_THREADS]
            if outcomes and time.monotonic() - started > budget:
                outcomes.extend((check, None, None) for check in group)
                continue
            keys = self.issuer.keys_for([check.record for check in group])
            results_of_group = self._orders.map(
                lambda check, key: acme.try_issue(
                    check.record,
                    key,
                    now=now,
                    must_end_by=lease_ends,
                    persist=all(is_dns_persist_owner(v.record_name) for v in check.validations),
                ),
                group,
                keys,
            )
            outcomes.extend(zip(group, keys, results_of_group, strict=True))
        with self.db.write() as conn:
            held = WorkQueue(conn).held([check.item for check in ready], self.owner, now)
            for check, key, result in outcomes:
                results[check.item.item_id] = self._store_upstream(
                    conn, check, key, result, held, now
                )

    def _store_upstream(
        self,
        conn: Connection,
        check: _Check,
        key: LeafPrivateKey | None,
        outcome: AcmeIssued | AcmeFailure | None,
        held: set[int],
        now: float,
    ) -> StepResult:
        assert self.acme is not None
        item, record = check.item, check.record
        if item.item_id not in held:
            return StepResult(record.arn, "lost_lease")
        queue = WorkQueue(conn)
        if outcome is None or key is None:  # deferred: no time left under this lease
            log.info("ACME order deferred to the next batch", extra={"arn": record.arn})
            self._record_validated(ValidationStore(conn), check, now)
            queue.reschedule(item, self.owner, due_at=now, now=now)
            return StepResult(record.arn, "pending")
        if isinstance(outcome, AcmeFailure):
            if outcome.transient:
                self._record_validated(ValidationStore(conn), check, now)
                due = self._retry_due(item, now)
                if outcome.retry_after is not None:  # the CA's Retry-After, never sooner
                    due = max(due, now + outcome.retry_after)
                queue.reschedule(item, self.owner, due_at=due, now=now)
                return StepResult(record.arn, "pending")
            reason = acme_failure_reason(outcome.problem_type)
            if check.renewal:
                return self._end_renewal(conn, item, record, held, now, reason)
            return self._end(conn, item, record, held, now, "FAILED", reason, "failed")
        updated = replace(record, validations=check.validations)
        if check.renewal:  # same ARN, new key, as the builtin path (`_prepare`)
            updated = replace(
                updated, renewal_status=RENEWAL_SUCCESS, renewal_status_reason=None,
                renewal_updated_at=now, exported=False,
            )  # fmt: skip
        issued = replace(
            with_certificate(updated, outcome.certificate, outcome.chain_pem, now=now),
            issuer_ca_id=outcome.issuer_id,
        )
        if not CertificateStore(conn).replace(issued, self.acme.sealed_key(key, record.arn)):
            return StepResult(record.arn, "lost_lease")
        self._record_validated(ValidationStore(conn), check, now)
        if outcome.renewal_info:  # the CA's renewal information is asked for from now on
            AcmeRenewalInfo(conn).track(record.arn, outcome.issuer_id, now)
        if check.renewal:
            notify_renewed(conn, record, issued, now)
        else:
            emit_available(conn, issued, "ISSUANCE", now)
        queue.finish(item, self.owner, now)
        log.info("certificate issued by the ACME CA", extra={"arn": record.arn})
        return StepResult(record.arn, "renewed" if check.renewal else "issued")

    @staticmethod
    def _record_validated(validations: ValidationStore, check: _Check, now: float) -> None:
        for domain_name in check.newly_validated:
            validations.set_status(check.record.arn, domain_name, SUCCESS, now)

    # -- checks (in the lookup threads) -------------------------------------------------------

    def _check(
        self, item: WorkItem, record: CertificateRecord, validations: tuple[DomainValidation, ...]
    ) -> _Check:
        try:
            chains: dict[str, CnameChain | None] = {}  # apex and wildcard share one record
            checked = tuple(self._check_name(record, v, chains) for v in validations)
            newly_validated = tuple(
                after.domain_name
                for before, after in zip(validations, checked, strict=True)
                if after.status == SUCCESS and before.status != SUCCESS
            )
            check = _Check(item, record, checked, newly_validated, "pending")
            if all(v.status == SUCCESS for v in checked):
                # The ACME CA checks CAA for its own identity (a refusal comes back as caa).
                upstream = self.acme is not None and self.acme.handles(record)
                refusal = None if upstream else self._caa_refusal(record)
                if refusal is None:
                    check.verdict = "ready"
                elif refusal != "retry":
                    check.verdict, check.reason = "caa_failed", refusal
            return check
        except Exception:
            # One certificate's fault must not stop the others; it is retried later.
            log.exception("validation check failed", extra={"arn": record.arn})
            return _Check(item, record, validations, (), "error")

    def _check_name(
        self,
        record: CertificateRecord,
        validation: DomainValidation,
        chains: dict[str, CnameChain | None],
    ) -> DomainValidation:
        """Look the name's CNAME up now. A name once SUCCESS for this request stays so; a
        new request always looks again, so a deleted record stops new issuance."""
        if validation.status == SUCCESS or not validation.record_name:
            return validation
        if validation.validation_method == HTTP:
            redirected = self.http_probe is not None and self.http_probe.redirected(
                validation.record_name, validation.record_value or ""
            )
            return replace(validation, status=SUCCESS) if redirected else validation
        if is_dns_persist_owner(validation.record_name):
            return self._check_persist(record, validation)
        expected = ValidationRecord(validation.record_name, validation.record_value or "")
        if validation.record_name not in chains:
            try:
                chains[validation.record_name] = self.dns.cname_chain(
                    validation.record_name.rstrip("."), stop_under=(self.validation.zone,)
                )
            except DnsLookupError as exc:
                log.info("DNS lookup failed", extra={"arn": record.arn, "error": str(exc)})
                chains[validation.record_name] = None
        chain = chains[validation.record_name]
        if chain is None or not chain_proves(expected, chain.targets, too_long=chain.too_long):
            return validation
        return replace(validation, status=SUCCESS)

    def _check_persist(
        self, record: CertificateRecord, validation: DomainValidation
    ) -> DomainValidation:
        """dns-persist-01: a TXT at the name's `_validation-persist` owner that binds it to
        the CA and account of the record shown, as the CA will read it."""
        owner = validation.record_name or ""
        try:
            found = self.dns.txt_values(owner.rstrip("."))
        except DnsLookupError as exc:
            log.info("DNS lookup failed", extra={"arn": record.arn, "error": str(exc)})
            return validation
        # The CA reads `persistUntil` on its own clock, the wall clock (not `--dev`'s).
        proven = dns_persist_proves(
            validation.record_value or "", validation.domain_name, found, time.time()
        )
        return replace(validation, status=SUCCESS) if proven else validation

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

    # -- bookkeeping --------------------------------------------------------------------------

    def _retry_due(self, item: WorkItem, now: float) -> float:
        delay: float = min(
            self.validation.retry_initial * 2.0 ** min(item.attempts, 30),
            self.validation.retry_max,
        )
        due = now + delay
        if item.deadline_at is not None:
            due = min(due, item.deadline_at)
        return due

    def _retry_after_failure(self, item: WorkItem, now: float) -> StepResult:
        try:
            with self.db.write() as conn:
                WorkQueue(conn).reschedule(
                    item, self.owner, due_at=self._retry_due(item, now), now=now
                )
        except Exception:
            # The lease then simply expires and the item is taken again.
            log.exception("rescheduling failed", extra={"arn": item.resource_arn})
        return StepResult(item.resource_arn, "pending")

    @staticmethod
    def _renewal_waits(
        conn: Connection, record: CertificateRecord, reason: str, now: float
    ) -> None:
        """RenewalStatus PENDING_VALIDATION with why (written once, not on every retry), and
        the notice of the day if it is a notice day."""
        if (
            record.renewal_status != RENEWAL_PENDING_VALIDATION
            or record.renewal_status_reason != reason
        ):
            CertificateStore(conn).set_renewal(
                record.arn, RENEWAL_PENDING_VALIDATION, reason, now, row_version=record.row_version
            )
        notify_waiting(conn, record, reason, now)

    def _end_renewal(
        self,
        conn: Connection,
        item: WorkItem,
        record: CertificateRecord,
        held: set[int],
        now: float,
        reason: str,
    ) -> StepResult:
        """A renewal that will not happen: FAILED with why; the current certificate stays
        until it expires."""
        if item.item_id not in held:
            return StepResult(record.arn, "lost_lease")
        if not CertificateStore(conn).set_renewal(
            record.arn, RENEWAL_FAILED, reason, now, row_version=record.row_version
        ):
            return StepResult(record.arn, "lost_lease")
        WorkQueue(conn).finish(item, self.owner, now)
        return StepResult(record.arn, "failed")

    def _end(
        self,
        conn: Connection,
        item: WorkItem,
        record: CertificateRecord,
        held: set[int],
        now: float,
        status: str,
        failure_reason: str | None,
        outcome: str,
    ) -> StepResult:
        """Close a request that will never be issued, if this worker still holds it."""
        if item.item_id not in held:
            return StepResult(record.arn, "lost_lease")
        ended = replace(record, status=status, failure_reason=failure_reason)
        if not CertificateStore(conn).replace(ended, None):
            return StepResult(record.arn, "lost_lease")
        # DomainStatus has no "timed out": names that never validated are FAILED.
        ValidationStore(conn).set_all_pending(record.arn, FAILED, now)
        WorkQueue(conn).finish(item, self.owner, now)
        return StepResult(record.arn, outcome)


def is_public_renewal(record: CertificateRecord) -> bool:
    """An issued public certificate whose managed renewal is under way."""
    return (
        record.type == "AMAZON_ISSUED"
        and record.status == ISSUED
        and record.renewal_status in (PENDING_AUTO_RENEWAL, RENEWAL_PENDING_VALIDATION)
    )


def _renewal_validations(
    conn: Connection, record: CertificateRecord, validations: tuple[DomainValidation, ...]
) -> tuple[DomainValidation, ...]:
    """What a renewal must prove, name by name. Every name proves itself again (inventory
    §9): by DNS, the CNAMEs must still exist (looked up afresh); by email, the renewal's own
    approval mails must have been approved since the renewal began."""
    if record.validation_method != EMAIL or record.renewal_updated_at is None:
        return tuple(replace(v, status=PENDING) for v in validations)
    approvals = email_renewal_approvals(conn, record.arn, since=record.renewal_updated_at)
    return tuple(replace(v, status=approvals.get(v.domain_name, PENDING)) for v in validations)
