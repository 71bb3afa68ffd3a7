"""What ACME problem documents (RFC 8555 §6.7) mean for a certificate request: the
FailureReason ACM's API reports, and whether trying again later can help."""

from __future__ import annotations

import hashlib

ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"
# `issuer_ca_id` of a certificate the upstream ACME CA issued (the builtin CA's are its ids):
# what RevokeCertificate forwards to the CA.
ACME_ISSUER_ID = "acme"


def acme_issuer_id(directory_url: str) -> str:
    """`issuer_ca_id` of a certificate one of several upstream CAs issued: which CA revokes
    it (a short digest: the column holds 64 characters, a directory URL may hold more)."""
    return f"{ACME_ISSUER_ID}:{hashlib.sha256(directory_url.encode()).hexdigest()[:24]}"


def is_acme_issued(issuer_ca_id: str | None) -> bool:
    return issuer_ca_id is not None and (
        issuer_ca_id == ACME_ISSUER_ID or issuer_ca_id.startswith(f"{ACME_ISSUER_ID}:")
    )


# The CA refuses the name itself, or CAA forbids it: trying again cannot help.
_FAILURE_REASONS = {
    "rejectedIdentifier": "DOMAIN_NOT_ALLOWED",
    "unsupportedIdentifier": "DOMAIN_NOT_ALLOWED",
    "caa": "CAA_ERROR",
}
# Passing conditions at the CA or on the way to it: the order is tried again later.
_TRANSIENT = frozenset(
    {"rateLimited", "serverInternal", "badNonce", "connection", "dns", "orderNotReady"}
)


def problem_code(problem_type: str | None) -> str:
    """`urn:ietf:params:acme:error:caa` → `caa`; anything else as it came ("" for none)."""
    return (problem_type or "").removeprefix(ACME_ERROR_PREFIX)


def failure_reason(problem_type: str | None) -> str:
    """The FailureReason of a request the CA refused with this problem."""
    return _FAILURE_REASONS.get(problem_code(problem_type), "OTHER")


def is_transient(problem_type: str | None) -> bool:
    return problem_code(problem_type) in _TRANSIENT
