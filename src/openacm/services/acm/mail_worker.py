"""The mail worker: delivers queued approval mails through SMTP, off the request path.

One work item per certificate with mail to send; it is leased like the validation worker's
items, so several server processes never send one mail twice at once. A delivery that fails
is retried with backoff through the work queue. When the first mail for a name of a new
request cannot be delivered (the server refuses every recipient, or stays unreachable for
`max_attempts` tries) the request fails with NO_AVAILABLE_CONTACTS, as ACM's does when it
finds no address to validate a name (inventory §2.2).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sized
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from openacm.adapters.dns.resolver import DnsChecker
from openacm.adapters.mail.messages import ApprovalMail, render
from openacm.adapters.mail.smtp import DeliveryError, SmtpSender
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.email import Approval, EmailStore
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import VALIDATE_WORK, WorkItem, WorkQueue, lease_due_items
from openacm.config import EmailSettings, Settings
from openacm.domain.certificates import CertificateRecord
from openacm.domain.email_validation import (
    NEW,
    NO_AVAILABLE_CONTACTS,
    RENEWAL,
    ApprovalToken,
    approval_url,
    code_digest,
    new_code,
    validation_emails,
)
from openacm.domain.validation import FAILED, PENDING
from openacm.services.acm.email_validation import MAIL_WORK
from openacm.services.acm.validation_move import MoveWorker
from openacm.services.pki.builtin_ca import public_base_url

log = logging.getLogger("openacm.mail")
# Certificates whose mail one tick sends: each delivery is an SMTP conversation.
BATCH_SIZE = 8
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class MailResult:
    arn: str
    outcome: str  # sent | retry | failed | gone | lost_lease


class MailWorker:
    def __init__(
        self, db: Database, sender: SmtpSender, settings: EmailSettings, base_url: str
    ) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.base_url = settings.approval_url.rstrip("/") or base_url
        self.owner = f"mailer-{uuid.uuid4().hex[:12]}"

    def run_once(self, now: float) -> list[MailResult]:
        items = lease_due_items(
            self.db, MAIL_WORK, self.owner, now=now, lease_seconds=LEASE_SECONDS, limit=BATCH_SIZE
        )
        results = []
        for item in items:
            try:
                results.append(self._deliver(item, now))
            except Exception:
                # One certificate's fault must not stop the others; the lease expires and
                # the item is taken again.
                log.exception("mail delivery step failed", extra={"arn": item.resource_arn})
        return results

    def _deliver(self, item: WorkItem, now: float) -> MailResult:
        arn = item.resource_arn
        with self.db.read() as conn:
            record = CertificateStore(conn).get(arn)
            unsent = EmailStore(conn).unsent(arn)
        if record is None or not unsent:
            with self.db.write() as conn:
                WorkQueue(conn).finish(item, self.owner, now)
            return MailResult(arn, "gone")
        failures: list[tuple[Approval, DeliveryError]] = []
        for approval in unsent:
            error = self._send_one(record, approval, now)
            if error is not None:
                log.warning(
                    "approval mail not delivered",
                    extra={"arn": arn, "domain": approval.domain_name, "error": str(error)},
                )
                failures.append((approval, error))
        with self.db.write() as conn:
            queue = WorkQueue(conn)
            if not queue.still_held(item, self.owner, now):
                return MailResult(arn, "lost_lease")
            if not failures:
                queue.finish(item, self.owner, now)
                if EmailStore(conn).unsent(arn):
                    # A resend queued while this item was leased: its schedule() found the
                    # item and left it, so it is scheduled again here, with fresh attempts.
                    queue.schedule(MAIL_WORK, arn, due_at=now, deadline_at=None, now=now)
                return MailResult(arn, "sent")
            exhausted = item.attempts + 1 >= self.settings.max_attempts
            if any(error.permanent for _, error in failures) or exhausted:
                return self._give_up(conn, item, record, [a for a, _ in failures], now)
            delay = min(
                self.settings.retry_initial * 2.0 ** min(item.attempts, 30),
                self.settings.retry_max,
            )
            queue.reschedule(item, self.owner, due_at=now + delay, now=now)
        return MailResult(arn, "retry")

    def _send_one(
        self, record: CertificateRecord, approval: Approval, now: float
    ) -> DeliveryError | None:
        token = ApprovalToken(approval.context, new_code())
        mail = ApprovalMail(
            requested_domain=record.domain_name or approval.domain_name,
            fqdn=approval.domain_name,
            account_id=record.account_id,
            region=record.region,
            certificate_arn=record.arn,
            approval_url=approval_url(self.base_url, token),
            renewal=approval.purpose == RENEWAL,
            recipients=validation_emails(approval.mail_domain),
        )
        try:
            self.sender.send(render(mail, self.settings.from_address))
        except DeliveryError as error:
            return error
        # The link works from the moment this commits; a crash before it leaves a mail whose
        # link is refused, and the retry sends another.
        with self.db.write() as conn:
            store = EmailStore(conn)
            if store.mark_sent(
                approval, code_digest(token.code), now=now, ttl=self.settings.token_ttl
            ):
                store.note_first_sent(record.arn, approval.domain_name, now)
        return None

    def _give_up(
        self,
        conn: Connection,
        item: WorkItem,
        record: CertificateRecord,
        undelivered: list[Approval],
        now: float,
    ) -> MailResult:
        """Stop trying. A new request with a name that never got a mail fails with
        NO_AVAILABLE_CONTACTS; an undeliverable resend only ends (the earlier mail's link
        still works)."""
        store = EmailStore(conn)
        names = store.names(record.arn)
        never_mailed = [
            approval
            for approval in undelivered
            if approval.purpose == NEW
            and approval.domain_name in names
            and names[approval.domain_name].first_sent_at is None
        ]
        WorkQueue(conn).finish(item, self.owner, now)
        if record.status != PENDING or not never_mailed:
            for approval in undelivered:
                store.abandon(approval.context, now)
            return MailResult(record.arn, "failed")
        failed = replace(record, status="FAILED", failure_reason=NO_AVAILABLE_CONTACTS)
        if CertificateStore(conn).replace(failed, None):
            ValidationStore(conn).set_all_pending(record.arn, FAILED, now)
            WorkQueue(conn).cancel(VALIDATE_WORK, record.arn)
            store.retire_all(record.arn, now)
            log.info("request failed: no mail could be delivered", extra={"arn": record.arn})
        return MailResult(record.arn, "failed")


def email_validation_work(
    db: Database, settings: Settings, dns: DnsChecker
) -> list[Callable[[float], Sized]]:
    """The background work email validation adds to every server process: delivering the
    approval mails, and following moves to DNS validation."""
    mailer = MailWorker(db, SmtpSender(settings.email), settings.email, public_base_url(settings))
    mover = MoveWorker(db, dns, settings.validation)
    return [mailer.run_once, mover.run_once]
