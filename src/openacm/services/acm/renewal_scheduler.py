"""Managed renewal: the sweep that starts renewals when their window opens.

Every server process runs it (services/background.py) every `sweep_interval_seconds`. One
sweep reads the due certificates (`CertificateStore.due_for_renewal`: one range scan of the
`renewal_due_at` index, which every write of a certificate keeps current) and, in one write
transaction, marks each one RenewalStatus PENDING_AUTO_RENEWAL and queues it for the
validation worker, which renews it (same ARN, new key pair): DNS-validated public
certificates after their CNAMEs are found again (services/acm/validation_worker.py), private
ones from their CA (services/acm/private_issuance.py).

Several processes may sweep at once: marking is conditional on the row's version, so one
process starts a given renewal and the others skip it; the work queue's lease makes one
process renew it. A crash after the mark leaves the work item queued, so the renewal goes on.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from openacm.adapters.store.certificates import CertificateStore, DueRenewal
from openacm.adapters.store.database import Database
from openacm.adapters.store.work import VALIDATE_WORK, WORK_SCHEDULED, WorkQueue
from openacm.config import RenewalSettings
from openacm.domain.renewal import PENDING_AUTO_RENEWAL
from openacm.services.acm.email_validation import EMAIL, start_email_renewal
from openacm.services.clock import interval_passed

log = logging.getLogger("openacm.renewal")


class RenewalScheduler:
    def __init__(self, db: Database, settings: RenewalSettings) -> None:
        self.db = db
        self.settings = settings
        self._swept_at: float | None = None

    def sweep_if_due(self, now: float) -> int:
        """A sweep when `sweep_interval_seconds` have passed since this process's last."""
        if not interval_passed(self._swept_at, now, self.settings.sweep_interval_seconds):
            return 0
        self._swept_at = now
        return self.run_once(now)

    def run_once(self, now: float) -> int:
        """Start the renewal of every certificate due at `now`; how many were started."""
        with self.db.read() as conn:
            due = CertificateStore(conn).due_for_renewal(
                now,
                retry_failed_after=self.settings.retry_failed_after_seconds,
                limit=self.settings.sweep_batch_size,
            )
        if not due:
            return 0
        started = []
        with self.db.write() as conn:
            store, queue = CertificateStore(conn), WorkQueue(conn)
            for record in due:
                if record.validation_method == EMAIL:
                    if self._start_by_email(conn, record, now):
                        started.append(record.arn)
                    continue
                if not store.set_renewal(
                    record.arn, PENDING_AUTO_RENEWAL, None, now, row_version=record.row_version
                ):
                    continue  # another process started it, or the certificate changed
                # The renewal may go on until the certificate expires, not longer.
                queue.schedule(
                    VALIDATE_WORK, record.arn, due_at=now, deadline_at=record.not_after, now=now
                )
                started.append(record.arn)
        if started:
            WORK_SCHEDULED.notify()
            log.info("renewals started", extra={"count": len(started)})
        return len(started)

    @staticmethod
    def _start_by_email(conn: Connection, due: DueRenewal, now: float) -> bool:
        """An email-validated certificate renews through approval mails to the same
        addresses (services/acm/email_validation.py); unless another process started it
        since the sweep read it (its row changed)."""
        record = CertificateStore(conn).get(due.arn)
        if record is None or record.row_version != due.row_version:
            return False
        return start_email_renewal(conn, record, now=now)
