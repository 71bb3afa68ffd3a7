"""AWS Private CA rules: CA states and what each refuses, algorithms, subjects, revocation
configuration, CSR contents and the checks on an imported CA certificate.

Pure: no I/O. The service layer reads and writes the store; everything it must decide about a
certificate authority is decided here.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier

from openacm.domain.errors import (
    ApiError,
    InvalidArgsError,
    InvalidStateError,
    RequestInProgressError,
)

# -- the error codes of the ACM-PCA model that ACM has not got ------------------------------


class CertificateMismatchError(ApiError):
    code = "CertificateMismatchException"


class MalformedCertificateError(ApiError):
    code = "MalformedCertificateException"


class InvalidRequestError(ApiError):
    code = "InvalidRequestException"


class InvalidPolicyError(ApiError):
    code = "InvalidPolicyException"


class PermissionAlreadyExistsError(ApiError):
    code = "PermissionAlreadyExistsException"


class LockoutPreventedError(ApiError):
    code = "LockoutPreventedException"


class ConcurrentModificationError(ApiError):
    code = "ConcurrentModificationException"


class InvalidNextTokenError(ApiError):
    code = "InvalidNextTokenException"


class RequestAlreadyProcessedError(ApiError):
    code = "RequestAlreadyProcessedException"


class RequestFailedError(ApiError):
    code = "RequestFailedException"


# -- states ----------------------------------------------------------------------------------

CREATING = "CREATING"
PENDING_CERTIFICATE = "PENDING_CERTIFICATE"
ACTIVE = "ACTIVE"
DISABLED = "DISABLED"
EXPIRED = "EXPIRED"
FAILED = "FAILED"
DELETED = "DELETED"

DAY_SECONDS = 24 * 3600
DEFAULT_DELETION_DAYS = 30
IDEMPOTENCY_WINDOW_SECONDS = 5 * 60
# Key generation takes seconds; a CA still CREATING after this has lost its generator.
CREATION_TIMEOUT_SECONDS = 10 * 60
DEFAULT_CRL_EXPIRATION_DAYS = 7


@dataclass(frozen=True)
class StateRule:
    """The states an operation works in; the action noun goes into AWS's refusal text."""

    allowed: frozenset[str]
    action: str
    # CREATING is answered RequestInProgressException by the operations that wait for it.
    in_progress_while_creating: bool = False


# The state rule of IssueCertificate with a root template (`STATE_RULES`).
ROOT_SELF_ISSUE = "IssueCertificate/RootCACertificate"

_NOT_DELETED = frozenset({PENDING_CERTIFICATE, ACTIVE, DISABLED, EXPIRED, FAILED, CREATING})

STATE_RULES: Mapping[str, StateRule] = {
    "GetCertificateAuthorityCsr": StateRule(
        frozenset({PENDING_CERTIFICATE, ACTIVE, DISABLED, EXPIRED}), "CSR retrieval", True
    ),
    # AWS's status table: the CA certificate can be updated when ACTIVE or EXPIRED (and the
    # first one installed when PENDING_CERTIFICATE), not when DISABLED.
    "ImportCertificateAuthorityCertificate": StateRule(
        frozenset({PENDING_CERTIFICATE, ACTIVE, EXPIRED}), "certificate import", True
    ),
    "GetCertificateAuthorityCertificate": StateRule(
        frozenset({ACTIVE, DISABLED, EXPIRED}), "certificate retrieval"
    ),
    # "Your private CA must be in the ACTIVE or DISABLED state before you can update it."
    "UpdateCertificateAuthority": StateRule(frozenset({ACTIVE, DISABLED}), "update"),
    # AWS: "A private CA can be deleted if it is in the PENDING_CERTIFICATE, CREATING,
    # EXPIRED, DISABLED, or FAILED state"; an ACTIVE CA is disabled first.
    "DeleteCertificateAuthority": StateRule(
        frozenset({PENDING_CERTIFICATE, CREATING, EXPIRED, DISABLED, FAILED}), "deletion"
    ),
    "RestoreCertificateAuthority": StateRule(frozenset({DELETED}), "restoration"),
    "TagCertificateAuthority": StateRule(_NOT_DELETED, "tagging"),
    "UntagCertificateAuthority": StateRule(_NOT_DELETED, "untagging"),
    "ListTags": StateRule(_NOT_DELETED, "listing tags"),
    "CreatePermission": StateRule(_NOT_DELETED, "permission changes"),
    "DeletePermission": StateRule(_NOT_DELETED, "permission changes"),
    "ListPermissions": StateRule(_NOT_DELETED, "listing permissions"),
    "PutPolicy": StateRule(_NOT_DELETED, "policy changes"),
    "DeletePolicy": StateRule(_NOT_DELETED, "policy changes"),
    "GetPolicy": StateRule(_NOT_DELETED, "policy retrieval"),
    # -- the issuing side ---------------------------------------------------------------
    # "Your private CA must be in the ACTIVE state to issue certificates."
    "IssueCertificate": StateRule(frozenset({ACTIVE}), "issuance"),
    # A root signs its own CSR (RootCACertificate/V1) before it has a certificate, as AWS's
    # root CA procedure does: the only issuance a PENDING_CERTIFICATE CA may make.
    ROOT_SELF_ISSUE: StateRule(frozenset({PENDING_CERTIFICATE, ACTIVE}), "issuance"),
    "GetCertificate": StateRule(
        frozenset({PENDING_CERTIFICATE, ACTIVE, DISABLED, EXPIRED}), "certificate retrieval", True
    ),
    # AWS's status table: certificates can be revoked while the CA is ACTIVE or DISABLED.
    "RevokeCertificate": StateRule(frozenset({ACTIVE, DISABLED}), "revocation"),
    "CreateCertificateAuthorityAuditReport": StateRule(
        frozenset({ACTIVE, DISABLED, EXPIRED}), "audit report creation"
    ),
    "DescribeCertificateAuthorityAuditReport": StateRule(_NOT_DELETED, "audit report retrieval"),
}


def check_state(operation: str, status: str) -> None:
    """Refuse `operation` on a CA in `status` as AWS does; operations without a rule (describe,
    list) work in every state."""
    rule = STATE_RULES.get(operation)
    if rule is None or status in rule.allowed:
        return
    if status == CREATING and rule.in_progress_while_creating:
        raise RequestInProgressError("The certificate authority is still being created.")
    # AWS's text for deletion ("The certificate authority is not in a valid state for
    # deletion."), with each operation's action.
    raise InvalidStateError(f"The certificate authority is not in a valid state for {rule.action}.")


def effective_status(
    stored: str, not_after: float | None, now: float, *, created_at: float | None = None
) -> str:
    """What every call sees.

    An ACTIVE or DISABLED CA whose certificate has expired is EXPIRED; the stored status stays,
    because a new certificate brings the CA back to it ("resets the status to ACTIVE unless it
    was set to DISABLED before the certificate expired"). A CA still CREATING long after its
    creation lost its key generation (the process died): FAILED."""
    if stored in (ACTIVE, DISABLED) and not_after is not None and not_after <= now:
        return EXPIRED
    if (
        stored == CREATING
        and created_at is not None
        and now - created_at > CREATION_TIMEOUT_SECONDS
    ):
        return FAILED
    return stored


def failure_reason(stored: str, stored_reason: str | None, effective: str) -> str | None:
    """FailureReason of a FAILED CA: the recorded one, or REQUEST_TIMED_OUT for a creation
    that never finished."""
    if effective != FAILED:
        return None
    if stored == CREATING:
        return "REQUEST_TIMED_OUT"
    return stored_reason or "OTHER"


def requested_status(requested: str) -> str:
    """UpdateCertificateAuthority's Status: only ACTIVE or DISABLED (the CA's own state, ACTIVE
    or DISABLED, is the operation's state rule)."""
    if requested not in (ACTIVE, DISABLED):
        raise InvalidArgsError(
            f"The status can only be set to ACTIVE or DISABLED, not {requested}."
        )
    return requested


def deletion_window(days: int | None, status: str, now: float) -> float:
    """RestorableUntil of a CA deleted now (every deletable state keeps the window: a CA
    deleted while PENDING_CERTIFICATE is restored to PENDING_CERTIFICATE, AWS's API reference)."""
    check_state("DeleteCertificateAuthority", status)
    return now + (days if days is not None else DEFAULT_DELETION_DAYS) * DAY_SECONDS


def is_gone(status: str, restorable_until: float | None, now: float) -> bool:
    """A DELETED CA past its window is permanently deleted: it exists for no call."""
    return status == DELETED and restorable_until is not None and restorable_until <= now


# -- algorithms ------------------------------------------------------------------------------

_RSA_SIGNING = (
    "SHA256WITHRSA",
    "SHA384WITHRSA",
    "SHA512WITHRSA",
    "SHA256WITHRSA_PSS",
    "SHA384WITHRSA_PSS",
    "SHA512WITHRSA_PSS",
)
_EC_SIGNING = ("SHA256WITHECDSA", "SHA384WITHECDSA", "SHA512WITHECDSA")

SIGNING_ALGORITHMS_FOR_KEY: Mapping[str, tuple[str, ...]] = {
    "RSA_2048": _RSA_SIGNING,
    "RSA_3072": _RSA_SIGNING,
    "RSA_4096": _RSA_SIGNING,
    "EC_prime256v1": _EC_SIGNING,
    "EC_secp384r1": _EC_SIGNING,
    "EC_secp521r1": _EC_SIGNING,
    "ML_DSA_44": ("ML_DSA_44",),
    "ML_DSA_65": ("ML_DSA_65",),
    "ML_DSA_87": ("ML_DSA_87",),
    "SM2": ("SM3WITHSM2",),
}
# The SM2/SM3 pair exists only in AWS's China regions; cryptography cannot produce it either.
CHINA_ONLY_ALGORITHMS = frozenset({"SM2", "SM3WITHSM2"})


def check_algorithms(key_algorithm: str, signing_algorithm: str, region: str) -> None:
    if key_algorithm in CHINA_ONLY_ALGORITHMS or signing_algorithm in CHINA_ONLY_ALGORITHMS:
        name = key_algorithm if key_algorithm in CHINA_ONLY_ALGORITHMS else signing_algorithm
        raise InvalidArgsError(f"{name} is not supported in the {region} region.")
    valid = SIGNING_ALGORITHMS_FOR_KEY[key_algorithm]
    if signing_algorithm not in valid:
        raise InvalidArgsError(
            f"Signing algorithm {signing_algorithm} cannot be used with key type "
            f"{key_algorithm}. Valid signing algorithms are: {', '.join(valid)}."
        )


# What a CA key in a PKCS#11 token signs with (adapters/ca/pkcs11.py: RSA PKCS#1 v1.5 or ECDSA
# over SHA-2, the mechanisms every token has); RSA-PSS, ML-DSA and SM2 stay software keys.
TOKEN_KEY_ALGORITHMS = frozenset(
    {"RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"}
)
TOKEN_SIGNING_ALGORITHMS = frozenset(
    algorithm for algorithm in (*_RSA_SIGNING, *_EC_SIGNING) if not algorithm.endswith("_PSS")
)


def check_token_algorithms(key_algorithm: str, signing_algorithm: str) -> None:
    """InvalidArgsException for a pair this installation's PKCS#11 key storage cannot hold."""
    for name, supported in (
        (key_algorithm, TOKEN_KEY_ALGORITHMS),
        (signing_algorithm, TOKEN_SIGNING_ALGORITHMS),
    ):
        if name not in supported:
            raise InvalidArgsError(
                f"{name} is not supported with this installation's PKCS#11 key storage. "
                f"Supported: {', '.join(sorted(supported))}."
            )


# -- subject ---------------------------------------------------------------------------------

SUBJECT_OIDS: Mapping[str, ObjectIdentifier] = {
    "Country": NameOID.COUNTRY_NAME,
    "State": NameOID.STATE_OR_PROVINCE_NAME,
    "Locality": NameOID.LOCALITY_NAME,
    "Organization": NameOID.ORGANIZATION_NAME,
    "OrganizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "DistinguishedNameQualifier": NameOID.DN_QUALIFIER,
    "SerialNumber": NameOID.SERIAL_NUMBER,
    "Title": NameOID.TITLE,
    "Surname": NameOID.SURNAME,
    "GivenName": NameOID.GIVEN_NAME,
    "Initials": NameOID.INITIALS,
    "Pseudonym": NameOID.PSEUDONYM,
    "GenerationQualifier": NameOID.GENERATION_QUALIFIER,
    "CommonName": NameOID.COMMON_NAME,
}


def subject_name(subject: Mapping[str, Any]) -> x509.Name:
    """The X.500 name of an ASN1Subject. CustomAttributes replace the standard fields (AWS:
    "Custom attributes cannot be used in combination with standard attributes")."""
    custom = subject.get("CustomAttributes") or []
    standard = {k: v for k, v in subject.items() if k in SUBJECT_OIDS and v}
    if custom and standard:
        raise InvalidArgsError(
            "Custom attributes cannot be used in combination with standard attributes."
        )
    if custom:
        pairs = [(object_identifier(item["ObjectIdentifier"]), item["Value"]) for item in custom]
    elif standard:
        pairs = [(SUBJECT_OIDS[k], standard[k]) for k in SUBJECT_OIDS if k in standard]
    else:
        raise InvalidArgsError(
            "The certificate authority subject must contain at least one attribute."
        )
    try:
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])
    except ValueError as exc:
        # cryptography's own rules per attribute (a custom 2.5.4.6 country of 3 letters...).
        raise InvalidArgsError(f"The certificate authority subject is not valid: {exc}") from exc


def object_identifier(dotted: str) -> ObjectIdentifier:
    """An OID the model's pattern let through, refused if X.509 cannot encode it."""
    try:
        return ObjectIdentifier(dotted)
    except ValueError as exc:
        raise InvalidArgsError(f"{dotted} is not a valid object identifier.") from exc


# -- revocation configuration ----------------------------------------------------------------

_CRL_OPTIONAL_MEMBERS = (
    "ExpirationInDays",
    "CustomCname",
    "S3BucketName",
    "S3ObjectAcl",
    "CrlDistributionPointExtensionConfiguration",
    "CrlType",
    "CustomPath",
)


def revocation_configuration(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configuration as stored and described: AWS's rules checked, defaults filled in."""
    result: dict[str, Any] = {}
    crl = (config or {}).get("CrlConfiguration")
    ocsp = (config or {}).get("OcspConfiguration")
    if crl is not None:
        result["CrlConfiguration"] = _crl_configuration(crl)
    if ocsp is not None:
        result["OcspConfiguration"] = _ocsp_configuration(ocsp)
    return result


def _crl_configuration(crl: Mapping[str, Any]) -> dict[str, Any]:
    if not crl["Enabled"]:
        extra = [member for member in _CRL_OPTIONAL_MEMBERS if crl.get(member) is not None]
        if extra:
            raise InvalidArgsError(
                f"CrlConfiguration must not include {', '.join(extra)} when Enabled is false."
            )
        return {"Enabled": False}
    _check_cname(crl.get("CustomCname"), "CustomCname")
    if crl.get("S3BucketName"):
        _check_bucket_name(crl["S3BucketName"])
    omit = (crl.get("CrlDistributionPointExtensionConfiguration") or {}).get("OmitExtension")
    if omit and crl.get("CustomCname"):
        raise InvalidArgsError(
            "CustomCname cannot be set when CrlDistributionPointExtensionConfiguration "
            "OmitExtension is true."
        )
    result = dict(crl)
    result.setdefault("ExpirationInDays", DEFAULT_CRL_EXPIRATION_DAYS)
    result.setdefault("CrlType", "COMPLETE")
    if result.get("S3BucketName"):
        result.setdefault("S3ObjectAcl", "PUBLIC_READ")
    return result


def _ocsp_configuration(ocsp: Mapping[str, Any]) -> dict[str, Any]:
    if not ocsp["Enabled"]:
        if ocsp.get("OcspCustomCname") is not None:
            raise InvalidArgsError(
                "OcspConfiguration must not include OcspCustomCname when Enabled is false."
            )
        return {"Enabled": False}
    _check_cname(ocsp.get("OcspCustomCname"), "OcspCustomCname")
    return dict(ocsp)


_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket_name(name: str) -> None:
    """An S3BucketName member (CRL configuration, audit reports): InvalidArgsException when it
    breaks Amazon S3's bucket naming rules."""
    _check_bucket_name(name)


def _check_bucket_name(name: str) -> None:
    """Amazon S3 bucket naming rules (AWS: "the S3BucketName parameter must conform to the
    Amazon S3 bucket naming rules"); the model also allows a path after the bucket."""
    bucket = name.split("/", 1)[0]
    if (
        not _BUCKET_NAME.fullmatch(bucket)
        or ".." in bucket
        or _looks_like_ip(bucket)
        or bucket.startswith("xn--")
    ):
        raise InvalidArgsError(
            f"The S3 bucket name {bucket} does not follow the S3 bucket naming rules."
        )


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _check_cname(cname: str | None, member: str) -> None:
    if cname and cname.lower().startswith(("http://", "https://")):
        raise InvalidArgsError(f'{member} must not be prefixed with "http://" or "https://".')


# -- CSR -------------------------------------------------------------------------------------

_KEY_USAGE_FLAGS = {
    "DigitalSignature": "digital_signature",
    "NonRepudiation": "content_commitment",
    "KeyEncipherment": "key_encipherment",
    "DataEncipherment": "data_encipherment",
    "KeyAgreement": "key_agreement",
    "KeyCertSign": "key_cert_sign",
    "CRLSign": "crl_sign",
    "EncipherOnly": "encipher_only",
    "DecipherOnly": "decipher_only",
}
# What a CA key does when the caller does not say: sign certificates and CRLs.
DEFAULT_CA_KEY_USAGE = {"DigitalSignature": True, "KeyCertSign": True, "CRLSign": True}
_ACCESS_METHODS = {
    "CA_REPOSITORY": ObjectIdentifier("1.3.6.1.5.5.7.48.5"),
    "RESOURCE_PKI_MANIFEST": ObjectIdentifier("1.3.6.1.5.5.7.48.10"),
    "RESOURCE_PKI_NOTIFY": ObjectIdentifier("1.3.6.1.5.5.7.48.13"),
}


def csr_builder(
    subject: x509.Name, extensions: Mapping[str, Any] | None
) -> x509.CertificateSigningRequestBuilder:
    """The CA's CSR before signing: subject, basicConstraints CA, key usage, SIA."""
    extensions = extensions or {}
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(extensions.get("KeyUsage") or DEFAULT_CA_KEY_USAGE), critical=True)
    )
    access = extensions.get("SubjectInformationAccess")
    if access:
        descriptions = [_access_description(item) for item in access]
        builder = builder.add_extension(x509.SubjectInformationAccess(descriptions), critical=False)
    return builder


def key_usage(flags: Mapping[str, bool]) -> x509.KeyUsage:
    values = {attribute: bool(flags.get(name)) for name, attribute in _KEY_USAGE_FLAGS.items()}
    if (values["encipher_only"] or values["decipher_only"]) and not values["key_agreement"]:
        raise InvalidArgsError("EncipherOnly and DecipherOnly require KeyAgreement.")
    return x509.KeyUsage(**values)


def _access_description(item: Mapping[str, Any]) -> x509.AccessDescription:
    method = item["AccessMethod"]
    if method.get("CustomObjectIdentifier"):
        oid = object_identifier(method["CustomObjectIdentifier"])
    elif method.get("AccessMethodType"):
        oid = _ACCESS_METHODS[method["AccessMethodType"]]
    else:
        raise InvalidArgsError(
            "AccessMethod must contain CustomObjectIdentifier or AccessMethodType."
        )
    return x509.AccessDescription(oid, general_name(item["AccessLocation"]))


def general_name(name: Mapping[str, Any]) -> x509.GeneralName:
    """One GeneralName of the model; exactly one member must be set."""
    present = [key for key, value in name.items() if value]
    if len(present) != 1:
        raise InvalidArgsError("A GeneralName must contain exactly one name.")
    kind, value = present[0], name[present[0]]
    try:
        return _general_name(kind, value)
    except ValueError as exc:
        raise InvalidArgsError(f"The {kind} {value} is not valid.") from exc


def _general_name(kind: str, value: Any) -> x509.GeneralName:
    if kind == "UniformResourceIdentifier":
        return x509.UniformResourceIdentifier(value)
    if kind == "DnsName":
        return x509.DNSName(value)
    if kind == "Rfc822Name":
        return x509.RFC822Name(value)
    if kind == "RegisteredId":
        return x509.RegisteredID(object_identifier(value))
    if kind == "DirectoryName":
        return x509.DirectoryName(subject_name(value))
    if kind == "IpAddress":
        return x509.IPAddress(ipaddress.ip_address(value))
    raise InvalidArgsError(f"openacm does not support {kind} in a GeneralName.")


# -- importing the CA certificate ------------------------------------------------------------


@dataclass(frozen=True)
class CaCertificate:
    """An imported CA certificate that passed every check, with what Describe shows of it."""

    certificate_pem: str
    chain_pem: str | None
    serial: str
    not_before: float
    not_after: float


@dataclass(frozen=True)
class ImportRules:
    """The CA a certificate is imported into."""

    ca_type: str
    public_key_der: bytes
    MAX_CHAIN: ClassVar[int] = 10


def parse_ca_import(
    rules: ImportRules, certificate_pem: bytes, chain_pem: bytes | None, now: datetime
) -> CaCertificate:
    """AWS's rules for ImportCertificateAuthorityCertificate (see docs/private-ca.md)."""
    certificate = _one_certificate(certificate_pem, "certificate")
    chain = _certificates(chain_pem) if chain_pem else []
    if _spki(certificate) != rules.public_key_der:
        raise CertificateMismatchError(
            "The certificate does not match the public key of the certificate authority."
        )
    _check_ca_certificate(certificate, now, "certificate")
    if rules.ca_type == "ROOT":
        if chain:
            raise InvalidRequestError(
                "A root CA certificate must be imported without a certificate chain."
            )
        if not _is_self_signed(certificate):
            raise InvalidRequestError("The certificate of a root CA must be self-signed.")
    else:
        _check_subordinate_chain(certificate, chain, now)
    return CaCertificate(
        certificate_pem=_pem(certificate),
        chain_pem="".join(_pem(link) for link in chain) or None,
        serial=_colon_hex(certificate.serial_number),
        not_before=certificate.not_valid_before_utc.timestamp(),
        not_after=certificate.not_valid_after_utc.timestamp(),
    )


def _check_subordinate_chain(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate], now: datetime
) -> None:
    if not chain:
        raise InvalidRequestError(
            "A subordinate CA certificate must be imported with its certificate chain."
        )
    if len(chain) > ImportRules.MAX_CHAIN:
        raise InvalidRequestError(
            f"The certificate chain has more than {ImportRules.MAX_CHAIN} certificates."
        )
    links = [certificate, *chain]
    for position, (child, parent) in enumerate(itertools.pairwise(links)):
        _check_ca_certificate(parent, now, f"certificate {position + 1} of the chain")
        if not _signed_by(child, parent):
            raise InvalidRequestError(
                f"The certificate chain is not valid: certificate {position + 1} of the chain "
                "did not sign the certificate before it."
            )
        _check_path_length(parent, position)
    if not _is_self_signed(chain[-1]):
        raise InvalidRequestError(
            "The certificate chain must end with a self-signed root certificate."
        )


def _check_path_length(parent: x509.Certificate, cas_below: int) -> None:
    """`cas_below` CA certificates sit between `parent` and the end entity; pathLen bounds it."""
    limit = parent.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    if limit is not None and cas_below > limit:
        raise InvalidRequestError(
            f"The certificate chain violates the path length constraint ({limit}) of "
            f"{parent.subject.rfc4514_string()}."
        )


def _check_ca_certificate(certificate: x509.Certificate, now: datetime, what: str) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except ValueError as exc:
        raise MalformedCertificateError(f"The {what} has malformed extensions.") from exc
    if constraints is None or not constraints.ca:
        raise InvalidRequestError(f"The {what} is not a CA certificate (basicConstraints CA:TRUE).")
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        raise InvalidRequestError(f"The {what} is expired or not yet valid.")


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _is_self_signed(certificate: x509.Certificate) -> bool:
    return _signed_by(certificate, certificate)


def _one_certificate(pem: bytes, what: str) -> x509.Certificate:
    certificates = _certificates(pem)
    if len(certificates) != 1:
        raise MalformedCertificateError(f"The {what} must contain exactly one PEM certificate.")
    return certificates[0]


def _certificates(pem: bytes) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise MalformedCertificateError("The certificate is malformed or not PEM-encoded.") from exc
    for certificate in certificates:
        if certificate.version != x509.Version.v3:
            raise MalformedCertificateError("Only X.509 version 3 certificates can be imported.")
    return certificates


def _spki(certificate: x509.Certificate) -> bytes:
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedCertificateError("The certificate's public key is not supported.") from exc
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _colon_hex(serial: int) -> str:
    """Serial as AWS shows it: colon-separated lowercase hex bytes."""
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big").lstrip(b"\0") or b"\0"
    return ":".join(f"{byte:02x}" for byte in raw)


# -- resource policy -------------------------------------------------------------------------

POLICY_ACTIONS_OWNER_NEEDS = ("acm-pca:PutPolicy", "acm-pca:DeletePolicy", "acm-pca:GetPolicy")


def policy_grants(policy_text: str, owner_account: str) -> dict[str, set[str]]:
    """Accounts the policy's Allow statements name, with the actions they are allowed.

    The index of ListCertificateAuthorities ResourceOwner=OTHER_ACCOUNTS (docs/private-ca.md):
    Allow statements whose Principal names AWS accounts (12 digits or arn:…:iam::<account>:…).
    Whether a call is allowed is the policy engine's decision (domain/policy.py), on the
    whole policy."""
    document = _policy_document(policy_text)
    grants: dict[str, set[str]] = {}
    for statement in _statements(document):
        effect = statement.get("Effect")
        actions = _strings(statement.get("Action"))
        accounts = _principal_accounts(statement.get("Principal"))
        if effect == "Deny" and _locks_out(accounts, actions, owner_account):
            raise LockoutPreventedError(
                "The current action was prevented because it would lock the caller out "
                "from performing subsequent actions."
            )
        if effect == "Allow":
            for account in accounts - {"*", owner_account}:
                grants.setdefault(account, set()).update(actions)
    return grants


def _locks_out(denied_accounts: set[str], actions: set[str], owner_account: str) -> bool:
    """A Deny that would keep the CA's own account from managing the policy again."""
    if owner_account not in denied_accounts and "*" not in denied_accounts:
        return False
    return any(
        _action_matches(pattern, owned)
        for pattern in actions
        for owned in POLICY_ACTIONS_OWNER_NEEDS
    )


def _policy_document(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # deep nesting fits in 81920 characters
        raise InvalidPolicyError("The resource policy is not valid JSON.") from exc
    if not isinstance(document, dict) or not document.get("Statement"):
        raise InvalidPolicyError(
            "The resource policy is invalid or is missing a required statement."
        )
    return document


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = document["Statement"]
    statements = raw if isinstance(raw, list) else [raw]
    for statement in statements:
        if (
            not isinstance(statement, dict)
            or statement.get("Effect") not in ("Allow", "Deny")
            or not statement.get("Action")
            or not statement.get("Principal")
        ):
            raise InvalidPolicyError(
                "The resource policy is invalid or is missing a required statement."
            )
    return statements


def _strings(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise InvalidPolicyError(
            "The resource policy is invalid or is missing a required statement."
        )
    return set(items)


def _principal_accounts(principal: Any) -> set[str]:
    if principal == "*":
        return {"*"}
    if not isinstance(principal, dict):
        raise InvalidPolicyError(
            "The resource policy is invalid or is missing a required statement."
        )
    accounts = set()
    for entry in _strings(principal.get("AWS", [])):
        if entry == "*":
            accounts.add("*")
        elif entry.isdigit() and len(entry) == 12:
            accounts.add(entry)
        elif entry.startswith("arn:") and len(entry.split(":")) >= 6:
            accounts.add(entry.split(":")[4])
        else:
            raise InvalidPolicyError(f"The principal {entry} in the resource policy is not valid.")
    return accounts


def _action_matches(pattern: str, action: str) -> bool:
    if pattern in ("*", "acm-pca:*"):
        return True
    return pattern.lower() == action.lower()
