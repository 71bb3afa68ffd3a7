"""An ACME endpoint's own resources (issue 9): external account bindings and domain
validations, their ARNs, their API views, and which names a domain validation authorizes.

Both live under their endpoint's ARN:
`arn:aws:acm:<region>:<account>:acme-endpoint/<endpoint-id>/acme-external-account-binding/<id>`
and `.../acme-domain-validation/<id>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openacm.domain.errors import ValidationError
from openacm.domain.validation import ValidationRecord

BINDING = "acme-external-account-binding"
DOMAIN_VALIDATION = "acme-domain-validation"

# The model's TimeType, in seconds.
_TIME_UNITS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}
# How far ahead a binding may expire: ten years, so the sum stays a sane timestamp.
MAX_BINDING_LIFETIME_SECONDS = 10 * 365 * 86400

# AcmeDomainValidationStatus and its failure reasons (the model's enums).
VALIDATING = "VALIDATING"
VALID = "VALID"
INVALID = "INVALID"
ENABLED = "ENABLED"
SCOPE_MEMBERS = ("ExactDomain", "Subdomains", "Wildcards")


def sub_resource_arn(endpoint_arn: str, kind: str, ident: str) -> str:
    return f"{endpoint_arn}/{kind}/{ident}"


def endpoint_arn_of(arn: str, kind: str) -> str | None:
    """The endpoint ARN a binding's or domain validation's ARN lies under, or None when the
    ARN is not of that kind."""
    head, sep, ident = arn.rpartition(f"/{kind}/")
    return head if sep and ident and "/" not in ident else None


def expiry_of(expiration: Mapping[str, Any] | None, now: float) -> float | None:
    """ExpiresAt of a binding created at `now` with the model's Expiration {Value, Type}."""
    if not expiration:
        return None
    seconds = int(expiration["Value"]) * _TIME_UNITS[expiration["Type"]]
    if seconds > MAX_BINDING_LIFETIME_SECONDS:
        raise ValidationError("Expiration must be at most 3650 days.")
    return now + seconds


@dataclass(frozen=True)
class ExternalAccountBinding:
    arn: str
    binding_id: str  # the KeyId clients send (RFC 8555 §7.3.4 `kid`)
    endpoint_arn: str
    role_arn: str
    mac_key_sealed: bytes
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    created_at: float
    updated_at: float

    def refusal(self, now: float) -> str | None:
        """Why this binding cannot register an account now, or None when it can."""
        if self.revoked_at is not None:
            return "the external account binding was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "the external account binding has expired"
        return None

    def view(self) -> dict[str, Any]:
        """The model's AcmeExternalAccountBinding (and its summary: the same members)."""
        view: dict[str, Any] = {
            "AcmeExternalAccountBindingArn": self.arn,
            "AcmeEndpointArn": self.endpoint_arn,
            "RoleArn": self.role_arn,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
        }
        for member, value in (
            ("ExpiresAt", self.expires_at),
            ("RevokedAt", self.revoked_at),
            ("LastUsedAt", self.last_used_at),
        ):
            if value is not None:
                view[member] = value
        return view


# -- domain validations -----------------------------------------------------------------------


def domain_scope(options: Mapping[str, Any]) -> dict[str, str]:
    """The DnsPrevalidation's DomainScope with every member said: absent members are DISABLED,
    and a scope without any member is the exact domain only (what a domain validation means
    when nothing more is asked)."""
    given = options.get("DomainScope") or {}
    scope = {member: given.get(member) or "DISABLED" for member in SCOPE_MEMBERS}
    if not given:
        scope["ExactDomain"] = ENABLED
    if ENABLED not in scope.values():
        raise ValidationError("DomainScope must enable at least one of " + ", ".join(SCOPE_MEMBERS))
    return scope


def dns_prevalidation(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """The one member of the PrevalidationOptions union openacm (and the model) has."""
    dns = options.get("DnsPrevalidation")
    if not isinstance(dns, Mapping) or len([v for v in options.values() if v is not None]) != 1:
        raise ValidationError(
            "PrevalidationOptions must contain exactly one member: DnsPrevalidation"
        )
    return dns


def scope_covers(domain: str, scope: Mapping[str, str], name: str) -> bool:
    """Whether a VALID domain validation of `domain` with `scope` authorizes `name`:
    ExactDomain the domain itself, Subdomains every name under it (any depth), Wildcards
    `*.domain` (and `*.<subdomain>` when Subdomains is enabled too)."""
    name = name.lower().rstrip(".")
    if name.startswith("*."):
        if scope.get("Wildcards") != ENABLED:
            return False
        base = name[2:]
        return base == domain or (
            scope.get("Subdomains") == ENABLED and base.endswith("." + domain)
        )
    if name == domain:
        return scope.get("ExactDomain") == ENABLED
    return scope.get("Subdomains") == ENABLED and name.endswith("." + domain)


@dataclass(frozen=True)
class DomainValidation:
    arn: str
    endpoint_arn: str
    domain_name: str
    scope: dict[str, str]
    hosted_zone_id: str | None
    record: ValidationRecord
    status: str
    failure_reason: str | None
    failure_message: str | None
    created_at: float
    updated_at: float

    def covers(self, name: str) -> bool:
        return self.status == VALID and scope_covers(self.domain_name, self.scope, name)

    def view(self) -> dict[str, Any]:
        """The model's AcmeDomainValidation (and its summary: the same members)."""
        details: dict[str, Any] = {
            "DomainScope": dict(self.scope),
            "ResourceRecord": self.record.to_api(),
        }
        if self.hosted_zone_id:
            details["HostedZoneId"] = self.hosted_zone_id
        view: dict[str, Any] = {
            "AcmeDomainValidationArn": self.arn,
            "AcmeEndpointArn": self.endpoint_arn,
            "DomainName": self.domain_name,
            "PrevalidationType": "DNS_PREVALIDATION",
            "PrevalidationDetails": {"DnsPrevalidation": details},
            "Status": self.status,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
        }
        if self.failure_reason:
            view["FailureDetails"] = {
                "Reason": self.failure_reason,
                "Message": self.failure_message or "",
            }
        return view


def uncovered(names: Sequence[str], validations: Sequence[DomainValidation]) -> list[str]:
    """The names no VALID domain validation of the endpoint authorizes."""
    return [name for name in names if not any(v.covers(name) for v in validations)]
