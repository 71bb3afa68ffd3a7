"""Email validation (issue 7): starting it for a request or a renewal, ResendValidationEmail,
and what the approval page does with a token.

The request path only queues the mails (rows in `email_approvals` and a work item); the mail
worker (`mail_worker.py`) renders and delivers them, with retries. An approval marks its name
SUCCESS; once every name is, the validation worker's item is made due at once and the
certificate is issued exactly as a DNS-validated one (CAA, lint, the same signer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.email import EmailName, EmailStore, expedite, extend_deadline
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import VALIDATE_WORK, WORK_SCHEDULED, WorkQueue
from openacm.config import ValidationSettings
from openacm.domain.certificates import CertificateRecord, DomainValidation
from openacm.domain.email_validation import (
    NEW,
    RENEWAL,
    approval_state,
    code_matches,
    mail_domain,
    new_context,
    validation_emails,
)
from openacm.domain.errors import InvalidDomainValidationOptionsError, InvalidStateError
from openacm.domain.names import NamePolicy
from openacm.domain.validation import PENDING, SUCCESS
from openacm.services.context import CallContext

if TYPE_CHECKING:  # certificates.py reads the email details of this module at run time
    from openacm.services.acm.certificates import CertificateOperations

EMAIL = "EMAIL"
MAIL_WORK = "email"
# The validation worker's kind (services/acm/requests.py), repeated here so that this module
# does not import the request module, which imports this one.


# -- starting email validation (inside the caller's transaction) -------------------------------


def start_email_validation(
    conn: Connection,
    record: CertificateRecord,
    validations: Sequence[DomainValidation],
    names: NamePolicy,
    *,
    now: float,
) -> None:
    """Record each name's mail domain and queue one approval mail per requested name (also
    for names that are subdomains of each other: inventory §3.3)."""
    store = EmailStore(conn)
    email_names = [
        EmailName(
            v.domain_name,
            mail_domain(v.validation_domain, names.registrable_domain(v.domain_name)),
            first_sent_at=None,
        )
        for v in validations
    ]
    store.insert_names(record.arn, email_names, now)
    for name in email_names:
        store.queue(new_context(), record.arn, name.domain_name, name.mail_domain, NEW, now)
    WorkQueue(conn).schedule(MAIL_WORK, record.arn, due_at=now, deadline_at=None, now=now)


def start_email_renewal(conn: Connection, record: CertificateRecord, *, now: float) -> bool:
    """Begin the renewal of an email-validated certificate (the renewal sweep calls this 45
    days before expiry): one renewal-variant mail per name, to the same addresses, RenewalStatus
    PENDING_VALIDATION, and the certificate queued for the validation worker, which renews it
    once every name is approved (`email_renewal_approvals`) and fails the renewal at expiry.
    The certificate's own validations stay as they are (it is still ISSUED); the first mail's
    timestamp is kept (inventory §3.3). False, with nothing done, when the certificate changed
    since `record` was read."""
    if not CertificateStore(conn).set_renewal(
        record.arn, PENDING, "PENDING_DOMAIN_VALIDATION", now, row_version=record.row_version
    ):
        return False
    store = EmailStore(conn)
    for name in store.names(record.arn).values():
        store.queue(new_context(), record.arn, name.domain_name, name.mail_domain, RENEWAL, now)
    queue = WorkQueue(conn)
    queue.schedule(MAIL_WORK, record.arn, due_at=now, deadline_at=None, now=now)
    queue.schedule(VALIDATE_WORK, record.arn, due_at=now, deadline_at=record.not_after, now=now)
    return True


def _renewal_approved(conn: Connection, arn: str) -> bool:
    """Every name of the certificate's renewal under way approved."""
    record = CertificateStore(conn).get(arn)
    if record is None or record.renewal_updated_at is None:
        return False
    approvals = email_renewal_approvals(conn, arn, since=record.renewal_updated_at)
    return all(status == SUCCESS for status in approvals.values())


def email_renewal_approvals(conn: Connection, arn: str, *, since: float) -> dict[str, str]:
    """Each name's state in the email renewal begun at `since`: SUCCESS once a renewal mail
    of it was approved, else PENDING_VALIDATION (for RenewalSummary and the scheduler)."""
    store = EmailStore(conn)
    approved = store.approved_names(arn, RENEWAL, since=since)
    return {name: SUCCESS if name in approved else PENDING for name in store.names(arn)}


def with_email_details(
    conn: Connection, arn: str, validations: tuple[DomainValidation, ...]
) -> tuple[DomainValidation, ...]:
    """The validations with ValidationEmails filled in for the names validated by email."""
    if not any(v.validation_method == EMAIL for v in validations):
        return validations
    email_names = EmailStore(conn).names(arn)
    return tuple(
        replace(v, validation_emails=validation_emails(email_names[v.domain_name].mail_domain))
        if v.validation_method == EMAIL and v.domain_name in email_names
        else v
        for v in validations
    )


def forget_email_validation(conn: Connection, arn: str) -> None:
    """DeleteCertificate: the names, the approval links (void from now on) and queued mail."""
    EmailStore(conn).delete(arn)
    WorkQueue(conn).cancel(MAIL_WORK, arn)


def email_validation_summary(validation: DomainValidation, name: EmailName) -> dict[str, Any]:
    """ListCertificateDomainValidations' summary of a name validated by email (or moved from
    it): the active configuration, and the requested one while a move is under way."""
    active: dict[str, Any] = {
        "ValidationMethod": validation.validation_method,
        "ValidationStatus": validation.status,
    }
    if validation.validation_method == EMAIL:
        active["ValidationChallenge"] = {
            "EmailValidationChallenge": {
                "ValidationEmails": list(validation_emails(name.mail_domain)),
                "ValidationDomain": validation.validation_domain,
            }
        }
    elif validation.record_name and validation.record_value:
        active["ValidationChallenge"] = {
            "DnsValidationChallenge": {
                "ResourceRecord": {
                    "Name": validation.record_name,
                    "Type": "CNAME",
                    "Value": validation.record_value,
                }
            }
        }
    summary: dict[str, Any] = {
        "DomainName": validation.domain_name,
        "ActiveValidationConfiguration": active,
    }
    if name.requested_method and name.requested_record_name and name.requested_record_value:
        summary["RequestedValidationConfiguration"] = {
            "ValidationMethod": name.requested_method,
            "ValidationChallenge": {
                "DnsValidationChallenge": {
                    "ResourceRecord": {
                        "Name": name.requested_record_name,
                        "Type": "CNAME",
                        "Value": name.requested_record_value,
                    }
                }
            },
            "ValidationStatus": PENDING,
        }
    return summary


# -- the approval page --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalView:
    """What the approval page shows. `state`: valid | approved | used | replaced | expired |
    invalid (unknown, tampered or for another certificate) | closed (the certificate is no
    longer waiting for this approval)."""

    state: str
    context: str = ""
    domain_name: str = ""
    requested_domain: str = ""
    certificate_arn: str = ""
    account_id: str = ""
    region: str = ""
    renewal: bool = False


INVALID = ApprovalView("invalid")


class ApprovalDesk:
    """The approval page's two actions. A GET only looks (`view`); only `approve` (the form's
    POST, CSRF-checked by the page) changes anything."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def view(self, context: str, code: str, now: float) -> ApprovalView:
        with self.db.read() as conn:
            return self._judge(conn, context, code, now)

    def approve(self, context: str, code: str, now: float) -> ApprovalView:
        with self.db.write() as conn:
            view = self._judge(conn, context, code, now)
            if view.state != "valid":
                return view
            store = EmailStore(conn)
            if not store.use(context, now):  # another POST won the race
                return replace(view, state="used")
            if view.renewal:
                # Every name approved: the validation worker renews at once (it reads the
                # approvals itself, `email_renewal_approvals`).
                if _renewal_approved(conn, view.certificate_arn):
                    expedite(conn, VALIDATE_WORK, view.certificate_arn, now)
            else:
                validations = ValidationStore(conn)
                validations.set_status(view.certificate_arn, view.domain_name, SUCCESS, now)
                if all(v.status == SUCCESS for v in validations.list(view.certificate_arn)):
                    # The validation worker checks CAA and issues; no need to wait for its
                    # backoff.
                    expedite(conn, VALIDATE_WORK, view.certificate_arn, now)
        WORK_SCHEDULED.notify()
        return replace(view, state="approved")

    @staticmethod
    def _judge(conn: Connection, context: str, code: str, now: float) -> ApprovalView:
        approval = EmailStore(conn).approval(context) if context else None
        if approval is None or approval.code_sha256 is None:
            return INVALID
        # A code from another mail (of this or any other certificate) does not match: tokens
        # are bound to their certificate and name by the row the context finds.
        if not code or not code_matches(code, approval.code_sha256):
            return INVALID
        record = CertificateStore(conn).get(approval.certificate_arn)
        if record is None:
            return INVALID
        view = ApprovalView(
            "valid",
            context=context,
            domain_name=approval.domain_name,
            requested_domain=record.domain_name or approval.domain_name,
            certificate_arn=record.arn,
            account_id=record.account_id,
            region=record.region,
            renewal=approval.purpose == RENEWAL,
        )
        state = approval_state(
            used_at=approval.used_at,
            replaced_at=approval.replaced_at,
            expires_at=approval.expires_at,
            now=now,
        )
        if state != "valid":
            return replace(view, state=state)
        waiting = record.status == PENDING or (
            approval.purpose == RENEWAL and record.renewal_status == PENDING
        )
        if not waiting or record.validation_method != EMAIL:
            return replace(view, state="closed")
        return view


# -- ResendValidationEmail ----------------------------------------------------------------------


class EmailOperations:
    def __init__(
        self,
        db: Database,
        certificates: CertificateOperations,
        names: NamePolicy,
        validation: ValidationSettings,
    ) -> None:
        self.db = db
        self.certificates = certificates
        self.names = names
        self.validation = validation

    def resend_validation_email(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Queue a new approval mail for one name. The ValidationDomain given is used for
        this mail only (inventory §3.3); the new token replaces the old one when it is sent,
        and the request has another 72 hours from now (the API reference)."""
        domain = params["Domain"].lower()
        with self.db.write() as conn:
            record = self.certificates.load(
                conn, ctx, params["CertificateArn"], "ResendValidationEmail"
            )
            purpose = self._purpose(record)
            self._check_pending_name(conn, record, domain, purpose)
            chosen = self.names.validation_domains(
                [domain],
                [{"DomainName": domain, "ValidationDomain": params["ValidationDomain"]}],
            )[domain]
            target = mail_domain(chosen, self.names.registrable_domain(domain))
            EmailStore(conn).queue(new_context(), record.arn, domain, target, purpose, ctx.now)
            WorkQueue(conn).schedule(
                MAIL_WORK, record.arn, due_at=ctx.now, deadline_at=None, now=ctx.now
            )
            if purpose == NEW:
                extend_deadline(conn, VALIDATE_WORK, record.arn, ctx.now + self.validation.timeout)
        WORK_SCHEDULED.notify()
        return {}

    @staticmethod
    def _purpose(record: CertificateRecord) -> str:
        if record.type != "AMAZON_ISSUED" or record.validation_method != EMAIL:
            raise InvalidStateError(
                f"Certificate {record.arn} is not validated by email; there is no validation "
                "email to resend."
            )
        if record.status == PENDING:
            return NEW
        if record.status == "ISSUED" and record.renewal_status == PENDING:
            return RENEWAL
        raise InvalidStateError(
            f"Certificate {record.arn} is in state {record.status}: validation email can be "
            "resent only while the certificate is pending validation."
        )

    @staticmethod
    def _check_pending_name(
        conn: Connection, record: CertificateRecord, domain: str, purpose: str
    ) -> None:
        for validation in ValidationStore(conn).list(record.arn):
            if validation.domain_name != domain:
                continue
            # A renewal re-validates names whose first validation succeeded.
            pending = validation.status == PENDING or purpose == RENEWAL
            if not pending or validation.validation_method != EMAIL:
                raise InvalidStateError(
                    f"The domain {domain} of certificate {record.arn} is not pending email "
                    f"validation (status {validation.status})."
                )
            moving = EmailStore(conn).names(record.arn).get(domain)
            if moving is not None and moving.requested_method is not None:
                raise InvalidStateError(
                    f"The domain {domain} of certificate {record.arn} is moving to "
                    f"{moving.requested_method} validation."
                )
            return
        raise InvalidDomainValidationOptionsError(
            f"The domain {domain} is not one of the domain names of certificate {record.arn}."
        )
