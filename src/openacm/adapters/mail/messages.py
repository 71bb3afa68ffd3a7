"""Approval mails from Jinja2 templates (shipped in the package), text and HTML alternatives.

The text follows ACM's published template (inventory §3.3, user guide L1058–1120) so that a
parser written for ACM's mails reads ours: the subject "Certificate request for <domain>",
the Domain / AWS account ID / AWS Region name / Certificate Identifier lines, the approval
link. openacm's own name replaces Amazon's where a sender is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_ENV = Environment(
    loader=PackageLoader("openacm.adapters.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class ApprovalMail:
    requested_domain: str  # the certificate's DomainName
    fqdn: str  # the name this mail approves
    account_id: str
    region: str
    certificate_arn: str
    approval_url: str
    renewal: bool
    recipients: tuple[str, ...]


def subject_of(mail: ApprovalMail) -> str:
    return f"Certificate request for {mail.fqdn}"


def render(mail: ApprovalMail, from_address: str) -> EmailMessage:
    fields = {
        "requested_domain": mail.requested_domain,
        "fqdn": mail.fqdn,
        "account_id": mail.account_id,
        "region_name": mail.region,
        "certificate_identifier": mail.certificate_arn,
        "approval_url": mail.approval_url,
        "renewal": mail.renewal,
    }
    message = EmailMessage()
    message["Subject"] = subject_of(mail)
    message["From"] = from_address
    message["To"] = ", ".join(mail.recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    message.set_content(_ENV.get_template("approval.txt").render(fields))
    message.add_alternative(_ENV.get_template("approval.html").render(fields), subtype="html")
    return message
