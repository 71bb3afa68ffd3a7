"""Private certificates requested through ACM (RequestCertificate with
CertificateAuthorityArn): when the CA will not sign, and the FailureReason ACM then shows.

ACM answers such a request with an ARN at once and fails the certificate afterwards when the
CA cannot issue it, naming why with the PCA_* values of its FailureReason (and, for a renewal,
RenewalStatusReason) enum; inventory §7 lists which exception of the CA maps to which value.
Pure: the service reads the CA and its permissions, this decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from openacm.domain.arn import parse_arn
from openacm.domain.errors import InvalidArnError
from openacm.domain.pca import ACTIVE

# What the CA's owner grants ACM's service principal (CreatePermission) for ACM to issue and
# renew from a CA of the same account (the ACM-PCA user guide, "Assign permissions").
ACM_PERMISSION_ACTIONS = frozenset({"IssueCertificate", "GetCertificate", "ListPermissions"})
# What a resource policy must grant another account for ACM to issue from a shared CA.
SHARED_CA_ACTIONS = frozenset({"IssueCertificate", "GetCertificate"})


@dataclass(frozen=True)
class IssuingCa:
    """What the decision needs to know about the CA named in the request."""

    status: str  # as every call sees it (EXPIRED derived from NotAfter)
    key_algorithm: str
    not_after: float | None
    may_issue: bool  # ACM's permission (same account) or the policy's grant (shared CA)
    issued_count: int
    lifetime_quota: int


def key_family(key_algorithm: str) -> str:
    """RSA_2048 → RSA, EC_prime256v1 → EC, ML_DSA_65 → ML_DSA, SM2 → SM2."""
    return (
        key_algorithm.rsplit("_", 1)[0]
        if key_algorithm.startswith("ML_DSA")
        else (key_algorithm.split("_", 1)[0])
    )


def private_issuance_refusal(
    ca: IssuingCa | None, *, key_algorithm: str, not_after: float
) -> str | None:
    """None when the CA will sign a certificate of `key_algorithm` ending at `not_after`;
    else the FailureReason (PCA_*) ACM shows."""
    if ca is None:
        return "PCA_RESOURCE_NOT_FOUND"  # unknown, or deleted past its restoration window
    if ca.status != ACTIVE:
        return "PCA_INVALID_STATE"
    if not ca.may_issue:
        return "PCA_ACCESS_DENIED"
    if key_family(key_algorithm) != key_family(ca.key_algorithm):
        return "PCA_INVALID_ARGS"  # the key family must match the CA's (inventory §7)
    if ca.not_after is None or not_after > ca.not_after:
        return "PCA_INVALID_DURATION"  # the CA certificate must outlive the certificate
    if ca.issued_count >= ca.lifetime_quota:
        return "PCA_LIMIT_EXCEEDED"
    return None


def check_certificate_authority_arn(arn: str) -> None:
    """InvalidArnException unless `arn` names a certificate authority (the model's pattern
    already holds: `arn:…:acm-pca:<region>:<account>:…`)."""
    parsed = parse_arn(arn)
    if parsed.resource_type != "certificate-authority" or not parsed.resource_id:
        raise InvalidArnError(f"String '{arn}' is not a valid ARN")


def issuing_ca_in_scope(arn: str, *, partition: str, region: str) -> bool:
    """A CA ACM may use for a certificate of `partition` and `region`: ACM-PCA is regional,
    so another region's CA is an invalid ARN for this request (FailureReason PCA_INVALID_ARN)."""
    parsed = parse_arn(arn)
    return parsed.partition == partition and parsed.region == region
