"""ACM's ACME endpoints (issue 9): the endpoint record, its ARN and URL, and its API view.

An endpoint is an ACME server (RFC 8555) of one account and region whose certificates come
from a certificate authority of openacm. The record is what CreateAcmeEndpoint stored and
UpdateAcmeEndpoint changed; the view is the model's `AcmeEndpoint` / `AcmeEndpointSummary`
structure (the two have the same members).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openacm.domain.arn import Arn
from openacm.domain.errors import ValidationError
from openacm.domain.tags import Tag

# The model's PublicKeyAlgorithm enum: what an endpoint backed by the builtin public CA may be
# asked to certify. An endpoint created without AllowedKeyAlgorithms allows them all.
PUBLIC_KEY_ALGORITHMS = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")
ACTIVE = "ACTIVE"
# Where the private CA's ARN is kept in the stored CertificateAuthority (never shown in ACM's
# views, whose union has no such member).
PRIVATE_CA_MEMBER = "openacm:PrivateCertificateAuthorityArn"
DEFAULT_CONTACT = "NOT_REQUIRED"


@dataclass(frozen=True)
class AcmeEndpointRecord:
    arn: str
    endpoint_id: str
    account_id: str
    region: str
    status: str
    authorization_behavior: str
    contact: str
    # The model's CertificateAuthority union, as the caller gave it once normalised
    # (`normalise_authority`): {"PublicCertificateAuthority": {"AllowedKeyAlgorithms": [...]}}.
    certificate_authority: dict[str, Any]
    certificate_tags: tuple[Tag, ...]
    created_at: float
    updated_at: float
    failure_reason: str | None = None

    @property
    def private_ca_arn(self) -> str | None:
        """The ACM-PCA CA the endpoint issues from instead of the builtin public CA
        (openacm's PutAcmeEndpointCertificateAuthority; beyond ACM's model)."""
        arn = self.certificate_authority.get(PRIVATE_CA_MEMBER)
        return str(arn) if arn else None

    @property
    def allowed_key_algorithms(self) -> tuple[str, ...]:
        public = self.certificate_authority.get("PublicCertificateAuthority") or {}
        return tuple(public.get("AllowedKeyAlgorithms") or PUBLIC_KEY_ALGORITHMS)


def acme_endpoint_arn(partition: str, region: str, account_id: str, endpoint_id: str) -> str:
    return str(Arn(partition, "acm", region, account_id, f"acme-endpoint/{endpoint_id}"))


def endpoint_url(base_url: str, endpoint_id: str) -> str:
    """The ACME directory URL clients are given (RFC 8555 §7.1.1)."""
    return f"{base_url.rstrip('/')}/acme/{endpoint_id}/directory"


def normalise_authority(authority: Mapping[str, Any]) -> dict[str, Any]:
    """The CertificateAuthority union with its one member, the allowed key algorithms
    de-duplicated in the caller's order and defaulted to all of them when absent.

    The protocol layer has checked the shape (a union with a known member, enum values); what
    is left is the service's rule that the union names exactly one authority."""
    members = [name for name, value in authority.items() if value is not None]
    if members != ["PublicCertificateAuthority"]:
        raise ValidationError(
            "CertificateAuthority must contain exactly one member: PublicCertificateAuthority"
        )
    requested = authority["PublicCertificateAuthority"].get("AllowedKeyAlgorithms") or []
    algorithms = list(dict.fromkeys(requested)) or list(PUBLIC_KEY_ALGORITHMS)
    return {"PublicCertificateAuthority": {"AllowedKeyAlgorithms": algorithms}}


def endpoint_view(record: AcmeEndpointRecord, base_url: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "AcmeEndpointArn": record.arn,
        "EndpointUrl": endpoint_url(base_url, record.endpoint_id),
        "Status": record.status,
        "AuthorizationBehavior": record.authorization_behavior,
        "Contact": record.contact,
        "CertificateAuthority": {
            member: value
            for member, value in record.certificate_authority.items()
            if member != PRIVATE_CA_MEMBER
        },
        "CreatedAt": record.created_at,
        "UpdatedAt": record.updated_at,
    }
    if record.certificate_tags:
        view["CertificateTags"] = [tag.to_api() for tag in record.certificate_tags]
    if record.failure_reason:
        view["FailureReason"] = record.failure_reason
    return view


def tags_document(tags: Sequence[Tag]) -> list[list[str | None]]:
    """CertificateTags as stored (JSON): [[key, value], ...] in the caller's order."""
    return [[tag.key, tag.value] for tag in tags]


def tags_from_document(document: Sequence[Sequence[str | None]]) -> tuple[Tag, ...]:
    return tuple(Tag(str(key), value) for key, value in document)
