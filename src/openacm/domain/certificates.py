"""An ACM certificate as the API shows it: the record, its views, and the rules read from it.

Pure data and rules; the store persists `CertificateRecord`, the service builds responses
from its views. Times are epoch seconds, as on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openacm.domain.renewal import renewal_eligibility
from openacm.domain.validation import record_type

# Response spelling of key algorithms: DescribeCertificate and ListCertificates answer
# "RSA-2048" / "EC-prime256v1" (inventory §1.2, §4.2), while requests and filters use the
# model's enum "RSA_2048".
_RESPONSE_KEY_ALGORITHM = {
    "RSA_1024": "RSA-1024",
    "RSA_2048": "RSA-2048",
    "RSA_3072": "RSA-3072",
    "RSA_4096": "RSA-4096",
    "EC_prime256v1": "EC-prime256v1",
    "EC_secp384r1": "EC-secp384r1",
    "EC_secp521r1": "EC-secp521r1",
}

# Without a keyTypes filter, ListCertificates returns only these key types, and only
# certificates with at least one domain (inventory §1.3).
DEFAULT_LIST_KEY_TYPES = ("RSA_1024", "RSA_2048")
# Without a CertificateKeyPairOrigins filter, ACME-origin certificates are left out (model doc).
DEFAULT_LIST_KEY_PAIR_ORIGINS = ("AWS_MANAGED", "CUSTOMER_PROVIDED")


def response_key_algorithm(enum_name: str) -> str:
    return _RESPONSE_KEY_ALGORITHM.get(enum_name, enum_name)


def effective_status(status: str, not_after: float | None, now: float) -> str:
    """An issued certificate past its NotAfter is EXPIRED, whether or not a job noticed yet."""
    if status == "ISSUED" and not_after is not None and now > not_after:
        return "EXPIRED"
    return status


@dataclass(frozen=True)
class DomainValidation:
    """One requested name of an AMAZON_ISSUED certificate and its validation state."""

    domain_name: str
    validation_domain: str
    validation_method: str
    status: str
    record_name: str | None = None
    record_value: str | None = None
    # Email validation: the addresses approval mail goes to (issue 7).
    validation_emails: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        option: dict[str, Any] = {
            "DomainName": self.domain_name,
            "ValidationDomain": self.validation_domain,
            "ValidationStatus": self.status,
            "ValidationMethod": self.validation_method,
        }
        if self.validation_emails:
            option["ValidationEmails"] = list(self.validation_emails)
        if self.validation_method == "HTTP" and self.record_name and self.record_value:
            # HTTP validation (acme issuer): the redirect is kept where DNS keeps its CNAME.
            option["HttpRedirect"] = {
                "RedirectFrom": self.record_name,
                "RedirectTo": self.record_value,
            }
        elif self.record_name and self.record_value:
            option["ResourceRecord"] = {
                "Name": self.record_name,
                "Type": record_type(self.record_name),
                "Value": self.record_value,
            }
        return option


@dataclass
class CertificateRecord:
    arn: str
    certificate_id: str
    account_id: str
    region: str
    type: str
    status: str
    domain_name: str | None
    names: tuple[str, ...]
    key_algorithm: str
    key_usages: tuple[str, ...]
    extended_key_usages: tuple[tuple[str, str], ...]
    serial: str | None
    not_before: float | None
    not_after: float | None
    created_at: float
    certificate_pem: str | None
    chain_pem: str | None
    facts: Mapping[str, Any]
    imported_at: float | None = None
    issued_at: float | None = None
    revoked_at: float | None = None
    revocation_reason: str | None = None
    in_use_by: tuple[str, ...] = ()
    # Whether any association exists, as stored with the certificate: listings show InUse
    # without loading the consumers' ARNs (in_use_by, which DescribeCertificate loads).
    associated: bool = False
    exported: bool = False
    export_option: str | None = None
    managed_by: str | None = None
    key_pair_origin: str = "CUSTOMER_PROVIDED"
    # As stored; what the API shows is computed when asked (renewal_eligibility_at).
    renewal_eligibility: str = "INELIGIBLE"
    renewal_status: str | None = None
    validation_method: str | None = None
    acme_endpoint_arn: str | None = None
    acme_account_id: str | None = None
    options: Mapping[str, str] = field(
        default_factory=lambda: {"CertificateTransparencyLoggingPreference": "ENABLED"}
    )
    failure_reason: str | None = None
    issuer_ca_id: str | None = None
    certificate_authority_arn: str | None = None
    renewal_status_reason: str | None = None
    renewal_updated_at: float | None = None
    # Loaded only by the calls that show them (DescribeCertificate).
    validations: tuple[DomainValidation, ...] = ()
    row_version: int = 1

    @property
    def in_use(self) -> bool:
        return self.associated or bool(self.in_use_by)

    def renewal_eligibility_at(self, now: float) -> str:
        return renewal_eligibility(
            self.type, self.status_at(now), in_use=self.in_use, exported=self.exported
        )

    @property
    def has_domain(self) -> bool:
        return bool(self.names)

    def status_at(self, now: float) -> str:
        return effective_status(self.status, self.not_after, now)

    @property
    def subject_alternative_names(self) -> list[str]:
        """The certificate's SANs once it exists; the requested names before."""
        if "subject_alternative_names" in self.facts:
            return list(self.facts["subject_alternative_names"])
        return list(self.names)

    def domain_validation_options(self) -> list[dict[str, Any]]:
        if self.validations:
            return [validation.to_api() for validation in self.validations]
        # Imported certificates carry no validation data: each name with only DomainName.
        return [{"DomainName": name} for name in self.names]

    def detail(self, now: float) -> dict[str, Any]:
        """DescribeCertificate's CertificateDetail."""
        detail: dict[str, Any] = {
            "CertificateArn": self.arn,
            "DomainName": self.domain_name,
            "SubjectAlternativeNames": self.subject_alternative_names or None,
            "ManagedBy": self.managed_by,
            "DomainValidationOptions": self.domain_validation_options() or None,
            "Serial": self.serial,
            "Subject": self.facts.get("subject"),
            "Issuer": self.facts.get("issuer"),
            "CreatedAt": self.created_at,
            "IssuedAt": self.issued_at,
            "ImportedAt": self.imported_at,
            "Status": self.status_at(now),
            "RevokedAt": self.revoked_at,
            "RevocationReason": self.revocation_reason,
            "NotBefore": self.not_before,
            "NotAfter": self.not_after,
            "KeyAlgorithm": response_key_algorithm(self.key_algorithm),
            "SignatureAlgorithm": self.facts.get("signature_algorithm"),
            "InUseBy": list(self.in_use_by),
            "Type": self.type,
            "KeyUsages": [{"Name": name} for name in self.key_usages],
            "ExtendedKeyUsages": [{"Name": n, "OID": oid} for n, oid in self.extended_key_usages],
            "FailureReason": self.failure_reason,
            "RenewalEligibility": self.renewal_eligibility_at(now),
            "Options": dict(self.options),
            "CertificateAuthorityArn": self.certificate_authority_arn,
            "RenewalSummary": self.renewal_summary(),
            "CertificateKeyPairOrigin": self.key_pair_origin,
            "AcmeEndpointArn": self.acme_endpoint_arn,
            "AcmeAccountId": self.acme_account_id,
        }
        return detail

    def renewal_summary(self) -> dict[str, Any] | None:
        """DescribeCertificate's RenewalSummary, once a renewal has been attempted."""
        if self.renewal_status is None:
            return None
        return {
            "RenewalStatus": self.renewal_status,
            "DomainValidationOptions": self.domain_validation_options(),
            "RenewalStatusReason": self.renewal_status_reason,
            "UpdatedAt": self.renewal_updated_at,
        }

    def summary(self, now: float) -> dict[str, Any]:
        """ListCertificates' CertificateSummary."""
        sans = self.subject_alternative_names
        return {
            "CertificateArn": self.arn,
            "DomainName": self.domain_name,
            "SubjectAlternativeNameSummaries": sans[:100] or None,
            "HasAdditionalSubjectAlternativeNames": len(sans) > 100,
            "Status": self.status_at(now),
            "Type": self.type,
            "KeyAlgorithm": response_key_algorithm(self.key_algorithm),
            "KeyUsages": list(self.key_usages),
            "ExtendedKeyUsages": [name for name, _ in self.extended_key_usages] or ["NONE"],
            "ExportOption": self.export_option,
            "InUse": self.in_use,
            "Exported": self.exported,
            "RenewalEligibility": self.renewal_eligibility_at(now),
            "NotBefore": self.not_before,
            "NotAfter": self.not_after,
            "CreatedAt": self.created_at,
            "IssuedAt": self.issued_at,
            "ImportedAt": self.imported_at,
            "RevokedAt": self.revoked_at,
            "ManagedBy": self.managed_by,
            "CertificateKeyPairOrigin": self.key_pair_origin,
        }

    def search_result(self, now: float) -> dict[str, Any]:
        """SearchCertificates' CertificateSearchResult."""
        return {
            "CertificateArn": self.arn,
            "X509Attributes": {
                "Issuer": self.facts.get("issuer_dn"),
                "Subject": self.facts.get("subject_dn"),
                "SubjectAlternativeNames": list(self.facts.get("general_names", ())) or None,
                "ExtendedKeyUsages": [name for name, _ in self.extended_key_usages] or None,
                "KeyAlgorithm": self.key_algorithm,
                "KeyUsages": list(self.key_usages) or None,
                "SerialNumber": self.serial,
                "NotAfter": self.not_after,
                "NotBefore": self.not_before,
            },
            "CertificateMetadata": {
                "AcmCertificateMetadata": {
                    "CreatedAt": self.created_at,
                    "Exported": self.exported,
                    "ImportedAt": self.imported_at,
                    "InUse": self.in_use,
                    "IssuedAt": self.issued_at,
                    "RenewalEligibility": self.renewal_eligibility_at(now),
                    "RevokedAt": self.revoked_at,
                    "Status": self.status_at(now),
                    "RenewalStatus": self.renewal_status,
                    "Type": self.type,
                    "ExportOption": self.export_option,
                    "ManagedBy": self.managed_by,
                    "ValidationMethod": self.validation_method,
                    "CertificateKeyPairOrigin": self.key_pair_origin,
                    "AcmeEndpointArn": self.acme_endpoint_arn,
                    "AcmeAccountId": self.acme_account_id,
                }
            },
        }
