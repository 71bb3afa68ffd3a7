"""Email validation, ACM's second method (inventory §3.3, PRODUCT.md decision 3): who gets the
approval mail for a name, and the single-use approval tokens the mail carries.

Pure rules: no I/O. The store keeps only a token's SHA-256, so a database dump approves
nothing; the context in the link is a random public id that finds the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from openacm.domain.names import email_validation_domain, is_same_or_subdomain

# The five common system addresses (decision 3; WHOIS contacts are not used since June 2024).
MAILBOXES: Final = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
# Each mail's token expires after 72 hours (inventory §3.3, L1048).
APPROVAL_TTL_SECONDS: Final = 72 * 3600.0
NEW: Final = "new"
RENEWAL: Final = "renewal"
# FailureReason when no mail could be delivered for a name (inventory §2.2).
NO_AVAILABLE_CONTACTS: Final = "NO_AVAILABLE_CONTACTS"


def mail_domain(validation_domain: str, registrable_domain: str | None) -> str:
    """The domain after the @ of the approval addresses for a ValidationDomain.

    ACM strips one leading "*." or "www." (www.example.com -> admin@example.com,
    *.test.example.com -> admin@test.example.com). The stripped name must still be within the
    registrable domain: for "www.example" with registrable domain "www.example" stripping
    would address mail to a public suffix, which nobody's mailbox answers for.
    """
    stripped = email_validation_domain(validation_domain)
    if stripped == validation_domain:
        return validation_domain
    if registrable_domain is not None and not is_same_or_subdomain(stripped, registrable_domain):
        return validation_domain
    return stripped


def validation_emails(domain: str) -> tuple[str, ...]:
    """The five addresses approval mail for `domain` goes to, in ACM's order of listing."""
    return tuple(f"{mailbox}@{domain}" for mailbox in MAILBOXES)


@dataclass(frozen=True)
class ApprovalToken:
    """What one approval mail carries: `context` finds the approval, `code` proves the mail
    was read. Only `digest` is stored."""

    context: str
    code: str

    @property
    def digest(self) -> str:
        return code_digest(self.code)


def new_context() -> str:
    """The public id of an approval, fixed when its mail is queued."""
    return uuid.uuid4().hex


def new_code() -> str:
    """The secret of one mail, drawn when it is sent (only its digest is stored)."""
    return secrets.token_urlsafe(32)


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def code_matches(code: str, digest: str) -> bool:
    """Constant-time comparison, so the digest cannot be probed byte by byte."""
    return hmac.compare_digest(code_digest(code), digest)


def approval_url(base_url: str, token: ApprovalToken) -> str:
    """The link in the mail: ACM's `/approvals?code=…&context=…` on this installation."""
    query = urlencode({"code": token.code, "context": token.context})
    return f"{base_url.rstrip('/')}/approvals?{query}"


def csrf_token(key: bytes, nonce: str, context: str) -> str:
    """The approval form's anti-forgery value: bound to the browser's cookie nonce and to the
    approval, so a form another site posts (without the SameSite cookie) is refused."""
    message = b"approval-csrf\x00" + nonce.encode() + b"\x00" + context.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def csrf_matches(key: bytes, nonce: str, context: str, offered: str) -> bool:
    return bool(nonce) and hmac.compare_digest(csrf_token(key, nonce, context), offered)


def approval_state(
    *,
    used_at: float | None,
    replaced_at: float | None,
    expires_at: float | None,
    now: float,
) -> str:
    """Whether an approval may still be used: "valid", "used", "replaced" or "expired"."""
    if used_at is not None:
        return "used"
    if replaced_at is not None:
        return "replaced"
    if expires_at is None or now >= expires_at:
        return "expired"
    return "valid"
