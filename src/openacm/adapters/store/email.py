"""Persistence of email validation: each name's mail domain and DNS move, and the approval
mails (queued, sent, used, replaced)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from openacm.adapters.store.schema import (
    domain_validations,
    email_approvals,
    email_validations,
    work_items,
)


@dataclass(frozen=True)
class EmailName:
    """One name of an email-validated certificate, as stored."""

    domain_name: str
    mail_domain: str
    first_sent_at: float | None
    requested_method: str | None = None
    requested_record_name: str | None = None
    requested_record_value: str | None = None


@dataclass(frozen=True)
class Approval:
    context: str
    certificate_arn: str
    domain_name: str
    mail_domain: str
    purpose: str
    requested_at: float
    sent_at: float | None
    code_sha256: str | None
    expires_at: float | None
    used_at: float | None
    replaced_at: float | None


_e = email_validations.c
_a = email_approvals.c


class EmailStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- names -----------------------------------------------------------------------------

    def insert_names(self, arn: str, names: Sequence[EmailName], now: float) -> None:
        if not names:
            return
        self.conn.execute(
            insert(email_validations),
            [
                {
                    "certificate_arn": arn,
                    "domain_name": name.domain_name,
                    "mail_domain": name.mail_domain,
                    "first_sent_at": name.first_sent_at,
                    "updated_at": now,
                }
                for name in names
            ],
        )

    def names(self, arn: str) -> dict[str, EmailName]:
        rows = self.conn.execute(select(email_validations).where(_e.certificate_arn == arn)).all()
        return {
            row.domain_name: EmailName(
                row.domain_name,
                row.mail_domain,
                row.first_sent_at,
                row.requested_method,
                row.requested_record_name,
                row.requested_record_value,
            )
            for row in rows
        }

    def note_first_sent(self, arn: str, domain_name: str, now: float) -> None:
        """The first mail's time, once: renewals keep it (inventory §3.3)."""
        self.conn.execute(
            update(email_validations)
            .where(
                _e.certificate_arn == arn,
                _e.domain_name == domain_name,
                _e.first_sent_at.is_(None),
            )
            .values(first_sent_at=now, updated_at=now)
        )

    def request_move(
        self, arn: str, domain_name: str, method: str, record: tuple[str, str], now: float
    ) -> None:
        self.conn.execute(
            update(email_validations)
            .where(_e.certificate_arn == arn, _e.domain_name == domain_name)
            .values(
                requested_method=method,
                requested_record_name=record[0],
                requested_record_value=record[1],
                updated_at=now,
            )
        )

    def adopt_dns(self, arn: str, domain_name: str, record: tuple[str, str], now: float) -> None:
        """The name's DNS record was found: DNS is now its active validation, SUCCESS, and
        the move of this name is over."""
        self.conn.execute(
            update(domain_validations)
            .where(
                domain_validations.c.certificate_arn == arn,
                domain_validations.c.domain_name == domain_name,
            )
            .values(
                validation_method="DNS",
                record_name=record[0],
                record_value=record[1],
                status="SUCCESS",
                updated_at=now,
            )
        )
        self.end_move(arn, now, domain_name)

    def end_move(self, arn: str, now: float, domain_name: str | None = None) -> None:
        """No move under way any more: for one name, or for every name of the certificate."""
        statement = update(email_validations).where(_e.certificate_arn == arn)
        if domain_name is not None:
            statement = statement.where(_e.domain_name == domain_name)
        self.conn.execute(
            statement.values(
                requested_method=None,
                requested_record_name=None,
                requested_record_value=None,
                updated_at=now,
            )
        )

    # -- approval mails --------------------------------------------------------------------

    def queue(
        self, context: str, arn: str, domain_name: str, mail_domain: str, purpose: str, now: float
    ) -> None:
        self.conn.execute(
            insert(email_approvals).values(
                context=context,
                certificate_arn=arn,
                domain_name=domain_name,
                mail_domain=mail_domain,
                purpose=purpose,
                requested_at=now,
            )
        )

    def unsent(self, arn: str) -> list[Approval]:
        rows = self.conn.execute(
            select(email_approvals)
            .where(_a.certificate_arn == arn, _a.sent_at.is_(None), _a.replaced_at.is_(None))
            .order_by(_a.requested_at, _a.context)
        ).all()
        return [_approval(row) for row in rows]

    def any_sent(self, arn: str) -> bool:
        row = self.conn.execute(
            select(_a.context).where(_a.certificate_arn == arn, _a.sent_at.is_not(None)).limit(1)
        ).first()
        return row is not None

    def mark_sent(self, approval: Approval, code_sha256: str, *, now: float, ttl: float) -> bool:
        """Record a delivered mail; the approvals of the same name sent before are replaced
        (a resend's new token replaces the old one). False when the row was meanwhile
        replaced or sent by someone else."""
        sent = self.conn.execute(
            update(email_approvals)
            .where(
                _a.context == approval.context,
                _a.sent_at.is_(None),
                _a.replaced_at.is_(None),
            )
            .values(sent_at=now, code_sha256=code_sha256, expires_at=now + ttl)
        )
        if sent.rowcount != 1:
            return False
        self.conn.execute(
            update(email_approvals)
            .where(
                _a.certificate_arn == approval.certificate_arn,
                _a.domain_name == approval.domain_name,
                _a.context != approval.context,
                _a.sent_at.is_not(None),
                _a.used_at.is_(None),
                _a.replaced_at.is_(None),
            )
            .values(replaced_at=now)
        )
        return True

    def approval(self, context: str) -> Approval | None:
        row = self.conn.execute(select(email_approvals).where(_a.context == context)).first()
        return _approval(row) if row is not None else None

    def use(self, context: str, now: float) -> bool:
        """Mark the approval used; False when it was already used or replaced (a second POST,
        or two at once: only one UPDATE matches)."""
        result = self.conn.execute(
            update(email_approvals)
            .where(
                _a.context == context,
                _a.used_at.is_(None),
                _a.replaced_at.is_(None),
                _a.sent_at.is_not(None),
            )
            .values(used_at=now)
        )
        return bool(result.rowcount == 1)

    def abandon(self, context: str, now: float) -> None:
        """An unsent mail that will not be sent (its delivery kept failing)."""
        self.conn.execute(
            update(email_approvals)
            .where(_a.context == context, _a.sent_at.is_(None))
            .values(replaced_at=now)
        )

    def approved_names(self, arn: str, purpose: str, *, since: float) -> set[str]:
        """The names with an approval of `purpose` queued at or after `since` and used."""
        rows = self.conn.execute(
            select(_a.domain_name).where(
                _a.certificate_arn == arn,
                _a.purpose == purpose,
                _a.requested_at >= since,
                _a.used_at.is_not(None),
            )
        ).all()
        return {row.domain_name for row in rows}

    def retire_all(self, arn: str, now: float) -> None:
        """No approval of the certificate can be used or sent any more (it failed, moved to
        DNS or was validated)."""
        self.conn.execute(
            update(email_approvals)
            .where(_a.certificate_arn == arn, _a.used_at.is_(None), _a.replaced_at.is_(None))
            .values(replaced_at=now)
        )

    def delete(self, arn: str) -> None:
        self.conn.execute(delete(email_approvals).where(_a.certificate_arn == arn))
        self.conn.execute(delete(email_validations).where(_e.certificate_arn == arn))


def expedite(conn: Connection, kind: str, arn: str, now: float) -> None:
    """Make a scheduled work item due now (an approval arrived: no need to wait out the
    backoff). A leased item keeps its lease: its worker reschedules it and it is looked at
    again then."""
    conn.execute(
        update(work_items)
        .where(
            work_items.c.kind == kind,
            work_items.c.resource_arn == arn,
            work_items.c.due_at > now,
        )
        .values(due_at=now)
    )


def extend_deadline(conn: Connection, kind: str, arn: str, deadline_at: float) -> None:
    """Move a work item's deadline later (never earlier): a resent mail gives the request
    another 72 hours (the API reference of ResendValidationEmail)."""
    conn.execute(
        update(work_items)
        .where(
            work_items.c.kind == kind,
            work_items.c.resource_arn == arn,
            work_items.c.deadline_at < deadline_at,
        )
        .values(deadline_at=deadline_at)
    )


def _approval(row: Any) -> Approval:
    return Approval(
        row.context,
        row.certificate_arn,
        row.domain_name,
        row.mail_domain,
        row.purpose,
        row.requested_at,
        row.sent_at,
        row.code_sha256,
        row.expires_at,
        row.used_at,
        row.replaced_at,
    )
