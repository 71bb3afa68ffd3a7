"""What managed renewal tells people, through the event outbox (docs/events.md).

Every function is called inside the transaction that commits the change it reports, so an
event exists exactly when that change does.

- Renewed: `ACM Certificate Available` (RENEWAL) and the AWS Health renewal event closed.
- Waiting for the user (a CNAME missing, CAA forbidding): on each notice day, 45, 30, 15, 7, 3
  and 1 days before expiry (decision 1), one `ACM Certificate Renewal Action Required` and one
  open Health event, each notice day once even across crashes and processes (recorded in
  `expiry_notices` with the event).
- Refused by a private CA: the same pair (Health AWS_ACM_RENEWAL_FAILURE) when the refusal is
  first met in a renewal cycle, then on the notice days.

One renewal cycle's Health notices share one eventArn (AWS Health overwrites one timeline
event per renewal): the cycle is named by the NotAfter being renewed, so the notices are built
from the certificate as it was before the renewal.
"""

from __future__ import annotations

from sqlalchemy import Connection

from openacm.adapters.store.events import NoticeLog
from openacm.domain import events
from openacm.domain.certificates import CertificateRecord
from openacm.domain.renewal import notice_day_due
from openacm.services.events import (
    emit_available,
    emit_health_event,
    emit_renewal_action_required,
)

_DESCRIPTIONS = {
    "PENDING_DOMAIN_VALIDATION": (
        "openacm could not renew the certificate: the DNS validation records (CNAME) of one "
        "or more of its names were not found. Restore them before the certificate expires."
    ),
    "CAA_ERROR": (
        "openacm could not renew the certificate: a CAA record forbids openacm's CA to issue "
        "for one or more of its names."
    ),
}


def notify_renewed(
    conn: Connection, before: CertificateRecord, renewed: CertificateRecord, now: float
) -> None:
    """`renewed` is the certificate as committed; `before` as it was when renewal began."""
    emit_available(conn, renewed, events.RENEWAL, now)
    emit_health_event(
        conn,
        before,
        _health_code(before, None),
        "The certificate was renewed.",
        now,
        status_code=events.HEALTH_CLOSED,
        start_time=before.renewal_updated_at,
    )


def notify_waiting(conn: Connection, record: CertificateRecord, reason: str, now: float) -> None:
    """On a notice day not yet announced: the user must act for the renewal to happen."""
    if record.not_after is None:
        return
    day = notice_day_due(record.not_after, now, None)
    if day is not None:
        _notify_once(conn, record, reason, now, f"renewal-action:{int(record.not_after)}:{day}")


def notify_refused(conn: Connection, record: CertificateRecord, reason: str, now: float) -> None:
    """A private CA refused the renewal (reason PCA_*): the first time in this renewal cycle,
    then on the notice days."""
    if record.not_after is None:
        return
    _notify_once(conn, record, reason, now, f"renewal-refused:{int(record.not_after)}")
    notify_waiting(conn, record, reason, now)


def _notify_once(
    conn: Connection, record: CertificateRecord, reason: str, now: float, notice: str
) -> None:
    log = NoticeLog(conn)
    if log.sent(record.arn, notice):
        return
    event_id = emit_renewal_action_required(conn, record, reason, now)
    emit_health_event(
        conn,
        record,
        _health_code(record, reason),
        _DESCRIPTIONS.get(
            reason, f"openacm could not renew the certificate ({reason}); it needs action."
        ),
        now,
        start_time=record.renewal_updated_at,
    )
    log.record(record.arn, notice, event_id, now)


def _health_code(record: CertificateRecord, reason: str | None) -> str:
    if reason == "CAA_ERROR":
        return events.CAA_CHECK_FAILURE
    if record.type == "PRIVATE":
        return events.RENEWAL_FAILURE if reason else events.RENEWAL_STATE_CHANGE
    return events.RENEWAL_STATE_CHANGE
