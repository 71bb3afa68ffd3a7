"""The certificate AWS Private CA's IssueCertificate asks for, as an unsigned builder.

`build_private_certificate` reads the request's CSR, template and `ApiPassthrough` (the wire's
mapping, already checked against the model's shapes by the protocol layer), applies the
template's order of operations (`domain/pca_templates.py`) and returns a
`x509.CertificateBuilder`; the CA's `CaSigner` signs it with the request's signing algorithm.
`pkix_findings` runs pkilint's RFC 5280 certificate linter over a signed certificate.

Errors are the API's: MalformedCSRException for a CSR that cannot be read, is not self-signed
correctly or carries an unsupported key; InvalidArgsException for passthrough values that cannot
be put in a certificate. AWS does not publish its texts for these; ours are in its style, and
the model's own wording where it has one (a CSR without subject or SAN, a GeneralName with
more than one member, custom attributes mixed with standard ones).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    ObjectIdentifier,
)
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import char

from openacm.adapters.ca.lint import LintFinding
from openacm.domain.errors import InvalidArgsError, MalformedCSRError
from openacm.domain.issuance import authority_key_identifier, crl_distribution_points
from openacm.domain.pca_templates import CA_KEY_USAGE, CertificateTemplate, template_for_arn
from openacm.domain.pca_validity import CaValidityLimits, ValidityWindow

_T = TypeVar("_T")

__all__ = [
    "ASN1_SUBJECT_ATTRIBUTES",
    "EXTENDED_KEY_USAGE_TYPES",
    "PrivateCertificateRequest",
    "RevocationUrls",
    "SubjectPublicKey",
    "asn1_subject_name",
    "build_private_certificate",
    "ca_validity_limits",
    "general_name",
    "load_csr",
    "pkix_findings",
]

SubjectPublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | mldsa.MLDSA44PublicKey
    | mldsa.MLDSA65PublicKey
    | mldsa.MLDSA87PublicKey
)

# The key types IssueCertificate accepts in a CSR: the model's KeyAlgorithm values
# (RSA_2048/3072/4096, EC_prime256v1/secp384r1/secp521r1, ML_DSA_44/65/87). SM2 is not offered:
# OpenSSL, and so cryptography, cannot verify an SM2 CSR.
_RSA_KEY_SIZES: Final = frozenset({2048, 3072, 4096})
_EC_CURVES: Final = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MLDSA_KEYS: Final = (mldsa.MLDSA44PublicKey, mldsa.MLDSA65PublicKey, mldsa.MLDSA87PublicKey)

# ASN1Subject's members, in the model's order (which is the order they appear in the DN).
ASN1_SUBJECT_ATTRIBUTES: Final[tuple[tuple[str, ObjectIdentifier], ...]] = (
    ("Country", NameOID.COUNTRY_NAME),
    ("Organization", NameOID.ORGANIZATION_NAME),
    ("OrganizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("DistinguishedNameQualifier", NameOID.DN_QUALIFIER),
    ("State", NameOID.STATE_OR_PROVINCE_NAME),
    ("CommonName", NameOID.COMMON_NAME),
    ("SerialNumber", NameOID.SERIAL_NUMBER),
    ("Locality", NameOID.LOCALITY_NAME),
    ("Title", NameOID.TITLE),
    ("Surname", NameOID.SURNAME),
    ("GivenName", NameOID.GIVEN_NAME),
    ("Initials", NameOID.INITIALS),
    ("Pseudonym", NameOID.PSEUDONYM),
    ("GenerationQualifier", NameOID.GENERATION_QUALIFIER),
)

# The model's ExtendedKeyUsageType values. SMART_CARD_LOGIN is Microsoft's smart-card logon,
# DOCUMENT_SIGNING Microsoft's document signing (the one Windows checks), and
# CERTIFICATE_TRANSPARENCY the CT precertificate signing purpose (RFC 6962 3.1).
EXTENDED_KEY_USAGE_TYPES: Final[Mapping[str, ObjectIdentifier]] = {
    "SERVER_AUTH": ExtendedKeyUsageOID.SERVER_AUTH,
    "CLIENT_AUTH": ExtendedKeyUsageOID.CLIENT_AUTH,
    "CODE_SIGNING": ExtendedKeyUsageOID.CODE_SIGNING,
    "EMAIL_PROTECTION": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "TIME_STAMPING": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSP_SIGNING": ExtendedKeyUsageOID.OCSP_SIGNING,
    "SMART_CARD_LOGIN": ExtendedKeyUsageOID.SMARTCARD_LOGON,
    "DOCUMENT_SIGNING": ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
    "CERTIFICATE_TRANSPARENCY": ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY,
}

# The model's KeyUsage members and cryptography's names for the same bits.
_KEY_USAGE_MEMBERS: Final[Mapping[str, str]] = {
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

CSR_NOT_READABLE: Final = (
    "The certificate signing request could not be parsed. Provide a PEM-encoded PKCS #10 request."
)
CSR_SIGNATURE_INVALID: Final = "The signature of the certificate signing request is not valid."
CSR_KEY_UNSUPPORTED: Final = (
    "The certificate signing request's public key is not supported. Supported keys: RSA 2048, "
    "3072 or 4096 bits; ECDSA P-256, P-384 or P-521; ML-DSA-44, ML-DSA-65 or ML-DSA-87."
)
# The model's Csr documentation: "A CSR must provide either a subject name or a subject
# alternative name or the request will be rejected."
NO_SUBJECT_NOR_SAN: Final = (
    "A CSR must provide either a subject name or a subject alternative name."
)
CUSTOM_ATTRIBUTES_WITH_STANDARD: Final = (
    "Custom attributes cannot be used in combination with standard attributes."
)


@dataclass(frozen=True)
class RevocationUrls:
    """What the CA's RevocationConfiguration puts in the certificates it issues: a CRL
    distribution point when CRLs are enabled, an AIA OCSP entry when OCSP is; None when off."""

    crl_url: str | None = None
    ocsp_url: str | None = None


@dataclass(frozen=True)
class PrivateCertificateRequest:
    """IssueCertificate's certificate content: the CSR blob (PEM, as the Csr member carries it),
    TemplateArn and ApiPassthrough as they came off the wire, and the resolved validity."""

    csr: bytes
    validity: ValidityWindow
    template_arn: str | None = None
    api_passthrough: Mapping[str, Any] | None = None


def build_private_certificate(
    request: PrivateCertificateRequest,
    *,
    issuer: x509.Certificate | None,
    serial_number: int,
    revocation: RevocationUrls,
) -> x509.CertificateBuilder:
    """The unsigned certificate `request` describes, issued by `issuer`.

    `issuer` is the issuing CA's certificate, or None for the root templates, which sign the
    CA's own CSR (the issuer is then the subject, and the CA's signer must hold the CSR's key).
    """
    template = template_for_arn(request.template_arn)
    _check_issuer(template, issuer)
    csr = load_csr(request.csr)
    public_key = _subject_public_key(csr)
    api = request.api_passthrough if template.api_passthrough else None
    subject = _subject(csr, api)
    extensions = _extensions_in_precedence(template, csr, public_key, api, issuer, revocation)
    _require_subject_or_san(subject, extensions)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(request.validity.not_before)
        .not_valid_after(request.validity.not_after)
    )
    for extension in extensions.ordered(subject_is_empty=len(subject) == 0):
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder


def ca_validity_limits(issuer: x509.Certificate | None, *, short_lived: bool) -> CaValidityLimits:
    """What `issuer` allows a certificate it signs (`pca_validity.certificate_validity_window`):
    its own validity. A root CA signing its own CSR has no certificate yet, so nothing bounds it
    but X.509's calendar."""
    if issuer is None:
        return CaValidityLimits(
            not_before=_X509_EARLIEST, not_after=_X509_LATEST, short_lived=short_lived
        )
    return CaValidityLimits(
        not_before=issuer.not_valid_before_utc,
        not_after=issuer.not_valid_after_utc,
        short_lived=short_lived,
    )


# RFC 5280 4.1.2.5: UTCTime starts in 1950; GeneralizedTime ends with 9999.
_X509_EARLIEST: Final = datetime(1950, 1, 1, tzinfo=UTC)
_X509_LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


# --- CSR --------------------------------------------------------------------------------------


def load_csr(csr: bytes) -> x509.CertificateSigningRequest:
    """The CSR of an IssueCertificate request, checked: readable (PEM; DER is accepted too),
    signed by its own key, and with a key type IssueCertificate supports."""
    try:
        if csr.lstrip().startswith(b"-----"):
            request = x509.load_pem_x509_csr(csr)
        else:
            request = x509.load_der_x509_csr(csr)
    except ValueError:
        raise MalformedCSRError(CSR_NOT_READABLE) from None
    _subject_public_key(request)
    try:
        signature_valid = request.is_signature_valid
    except (UnsupportedAlgorithm, ValueError):  # a signature algorithm it cannot verify
        raise MalformedCSRError(CSR_SIGNATURE_INVALID) from None
    if not signature_valid:
        raise MalformedCSRError(CSR_SIGNATURE_INVALID)
    return request


def _subject_public_key(csr: x509.CertificateSigningRequest) -> SubjectPublicKey:
    try:
        key = csr.public_key()
    except (ValueError, TypeError, NotImplementedError):
        raise MalformedCSRError(CSR_KEY_UNSUPPORTED) from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in _RSA_KEY_SIZES:
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _EC_CURVES):
        return key
    if isinstance(key, _MLDSA_KEYS):
        return key
    raise MalformedCSRError(CSR_KEY_UNSUPPORTED)


def _csr_extensions(csr: x509.CertificateSigningRequest) -> x509.Extensions:
    try:
        return csr.extensions
    except (ValueError, x509.DuplicateExtension):
        raise MalformedCSRError(CSR_NOT_READABLE) from None


# --- Subject ----------------------------------------------------------------------------------


def _subject(csr: x509.CertificateSigningRequest, api: Mapping[str, Any] | None) -> x509.Name:
    """The API's Subject when the template takes it and the request has one, else the CSR's."""
    api_subject = api.get("Subject") if api is not None else None
    if api_subject:
        return asn1_subject_name(api_subject)
    return csr.subject


def asn1_subject_name(subject: Mapping[str, Any]) -> x509.Name:
    """An ASN1Subject as an X.500 name: the standard members in the model's order, or the
    CustomAttributes in the order given, one attribute per RDN."""
    custom = subject.get("CustomAttributes") or []
    standard = [
        (oid, subject[member]) for member, oid in ASN1_SUBJECT_ATTRIBUTES if subject.get(member)
    ]
    if custom and standard:
        raise InvalidArgsError(CUSTOM_ATTRIBUTES_WITH_STANDARD)
    pairs = standard or [
        (_object_identifier(attribute["ObjectIdentifier"]), attribute["Value"])
        for attribute in custom
    ]
    return _checked(lambda: x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs]))


# --- Extensions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Extension:
    value: x509.ExtensionType
    critical: bool


class _Extensions:
    """Extensions by OID in the order of precedence they were added: the first source to give
    an extension wins, so sources are added template first, API next, CSR last."""

    def __init__(self) -> None:
        self._by_oid: dict[ObjectIdentifier, _Extension] = {}

    def __contains__(self, oid: ObjectIdentifier) -> bool:
        return oid in self._by_oid

    def add_if_absent(self, value: x509.ExtensionType, *, critical: bool) -> None:
        self._by_oid.setdefault(value.oid, _Extension(value, critical))

    def ordered(self, *, subject_is_empty: bool) -> list[_Extension]:
        extensions = list(self._by_oid.values())
        if subject_is_empty:
            # RFC 5280 4.2.1.6: with an empty subject, the SAN extension MUST be critical.
            extensions = [
                _Extension(e.value, True)
                if e.value.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME
                else e
                for e in extensions
            ]
        return extensions


def _extensions_in_precedence(
    template: CertificateTemplate,
    csr: x509.CertificateSigningRequest,
    public_key: SubjectPublicKey,
    api: Mapping[str, Any] | None,
    issuer: x509.Certificate | None,
    revocation: RevocationUrls,
) -> _Extensions:
    """Template and CA configuration first, then the API, then the CSR: each source only adds
    what the sources before it left out."""
    extensions = _Extensions()
    _add_template_extensions(extensions, template, public_key, issuer, revocation)
    if api is not None:
        _add_api_extensions(extensions, template, api.get("Extensions") or {})
    _add_csr_extensions(extensions, template, _csr_extensions(csr))
    if template.key_usage is None and template.is_ca:
        extensions.add_if_absent(_key_usage(CA_KEY_USAGE), critical=True)
    return extensions


def _add_template_extensions(
    extensions: _Extensions,
    template: CertificateTemplate,
    public_key: SubjectPublicKey,
    issuer: x509.Certificate | None,
    revocation: RevocationUrls,
) -> None:
    extensions.add_if_absent(
        x509.BasicConstraints(ca=template.is_ca, path_length=template.path_length),
        critical=template.basic_constraints_critical,
    )
    key_usage = template.key_usage_for(isinstance(public_key, rsa.RSAPublicKey))
    if key_usage is not None:
        extensions.add_if_absent(_key_usage(key_usage), critical=True)
    if template.extended_key_usage:
        extensions.add_if_absent(
            x509.ExtendedKeyUsage(list(template.extended_key_usage)),
            critical=template.extended_key_usage_critical,
        )
    extensions.add_if_absent(_subject_key_identifier(public_key), critical=False)
    if issuer is None:
        return  # self-signed: no issuer key to name, and no issuer whose CRL or OCSP covers it
    extensions.add_if_absent(authority_key_identifier(issuer), critical=False)
    # The CA configuration's revocation pointers come before both passthroughs, which may
    # supply their own only when the CA publishes none ("[Passthrough from CA configuration
    # or CSR]").
    if revocation.crl_url is not None:
        extensions.add_if_absent(crl_distribution_points(revocation.crl_url), critical=False)
    if revocation.ocsp_url is not None:
        ocsp = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(revocation.ocsp_url)
        )
        extensions.add_if_absent(x509.AuthorityInformationAccess([ocsp]), critical=False)


def _add_api_extensions(
    extensions: _Extensions, template: CertificateTemplate, api: Mapping[str, Any]
) -> None:
    """The ApiPassthrough's Extensions, below the template's own. A CustomExtension naming an
    extension the same request also gives through a dedicated member is contradictory."""
    owned = template.template_owned
    given: list[tuple[x509.ExtensionType, bool]] = []
    if api.get("SubjectAlternativeNames"):
        names = [general_name(member) for member in api["SubjectAlternativeNames"]]
        given.append((x509.SubjectAlternativeName(names), False))
    if api.get("CertificatePolicies"):
        given.append((_certificate_policies(api["CertificatePolicies"]), False))
    if api.get("KeyUsage") is not None:
        given.append((_key_usage(_api_key_usage_bits(api["KeyUsage"])), True))
    if api.get("ExtendedKeyUsage"):
        usages = _extended_key_usage(api["ExtendedKeyUsage"])
        # RFC 3161 2.3: a time-stamping authority's EKU MUST be critical.
        given.append((usages, ExtendedKeyUsageOID.TIME_STAMPING in usages))
    dedicated = {value.oid for value, _critical in given}
    for custom in api.get("CustomExtensions") or []:
        custom_value, custom_critical = _custom_extension(custom)
        if custom_value.oid in dedicated:
            raise InvalidArgsError(
                f"The custom extension {custom_value.oid.dotted_string} duplicates an extension "
                "given in the same ApiPassthrough."
            )
        dedicated.add(custom_value.oid)
        given.append((custom_value, custom_critical))
    for value, critical in given:
        if value.oid not in owned:
            extensions.add_if_absent(value, critical=critical)


def _add_csr_extensions(
    extensions: _Extensions, template: CertificateTemplate, csr_extensions: x509.Extensions
) -> None:
    owned = template.template_owned
    for extension in csr_extensions:
        if extension.oid in owned:
            continue
        # Every template copies the CSR's SAN ("[Passthrough from CSR]"); only the CSR
        # passthrough varieties copy the rest.
        is_san = extension.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        if template.csr_passthrough or is_san:
            extensions.add_if_absent(extension.value, critical=extension.critical)


def _require_subject_or_san(subject: x509.Name, extensions: _Extensions) -> None:
    if len(subject) == 0 and ExtensionOID.SUBJECT_ALTERNATIVE_NAME not in extensions:
        raise MalformedCSRError(NO_SUBJECT_NOR_SAN)


def _check_issuer(template: CertificateTemplate, issuer: x509.Certificate | None) -> None:
    if template.self_signed and issuer is not None:
        raise InvalidArgsError(
            f"The template {template.name} can only be used to sign the certificate "
            "authority's own certificate signing request."
        )
    if issuer is None:
        if not template.self_signed:
            raise InvalidArgsError(
                f"The template {template.name} requires a certificate authority certificate."
            )
        return
    if template.path_length is None:
        return
    constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    if constraints.path_length is not None and template.path_length >= constraints.path_length:
        raise InvalidArgsError(
            f"The path length of the template {template.name} ({template.path_length}) must be "
            f"less than the path length constraint of the issuing certificate authority "
            f"({constraints.path_length})."
        )


def _subject_key_identifier(public_key: SubjectPublicKey) -> x509.SubjectKeyIdentifier:
    # RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING. cryptography's
    # from_public_key knows RSA and EC only; an ML-DSA key's BIT STRING is its raw encoding
    # (RFC 9881 4).
    if isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return x509.SubjectKeyIdentifier.from_public_key(public_key)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashes.Hash(hashes.SHA1())  # RFC 5280's identifier method, not a security use
    digest.update(raw)
    return x509.SubjectKeyIdentifier(digest.finalize())


def _key_usage(bits: Iterable[str]) -> x509.KeyUsage:
    asserted = set(bits)
    flags = {name: name in asserted for name in _KEY_USAGE_MEMBERS.values()}
    if not flags["key_agreement"] and (flags["encipher_only"] or flags["decipher_only"]):
        raise InvalidArgsError("EncipherOnly and DecipherOnly require KeyAgreement.")
    if flags["encipher_only"] and flags["decipher_only"]:
        # RFC 5280 4.2.1.3 gives the pair no meaning: the key would be usable for neither.
        raise InvalidArgsError("EncipherOnly and DecipherOnly cannot both be asserted.")
    return x509.KeyUsage(**flags)


def _api_key_usage_bits(member: Mapping[str, Any]) -> set[str]:
    bits = {name for wire, name in _KEY_USAGE_MEMBERS.items() if member.get(wire)}
    if not bits:
        raise InvalidArgsError("KeyUsage must assert at least one usage.")
    return bits


def _extended_key_usage(members: Sequence[Mapping[str, Any]]) -> x509.ExtendedKeyUsage:
    usages: list[ObjectIdentifier] = []
    for member in members:
        by_type, by_oid = (
            member.get("ExtendedKeyUsageType"),
            member.get("ExtendedKeyUsageObjectIdentifier"),
        )
        if (by_type is None) == (by_oid is None):
            raise InvalidArgsError(
                "Each ExtendedKeyUsage must have exactly one of ExtendedKeyUsageType and "
                "ExtendedKeyUsageObjectIdentifier."
            )
        oid = EXTENDED_KEY_USAGE_TYPES.get(by_type) if by_type else _object_identifier(str(by_oid))
        if oid is None:
            raise InvalidArgsError(f"The ExtendedKeyUsageType {by_type} is not supported.")
        if oid not in usages:
            usages.append(oid)
    return x509.ExtendedKeyUsage(usages)


def _certificate_policies(members: Sequence[Mapping[str, Any]]) -> x509.CertificatePolicies:
    policies = []
    for member in members:
        qualifiers: list[str | x509.UserNotice] = [
            qualifier["Qualifier"]["CpsUri"] for qualifier in member.get("PolicyQualifiers") or []
        ]
        policies.append(
            x509.PolicyInformation(_object_identifier(member["CertPolicyId"]), qualifiers or None)
        )
    return x509.CertificatePolicies(policies)


def _custom_extension(member: Mapping[str, Any]) -> tuple[x509.UnrecognizedExtension, bool]:
    oid = _object_identifier(member["ObjectIdentifier"])
    try:
        value = base64.b64decode(member["Value"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidArgsError(
            f"The value of the custom extension {oid.dotted_string} is not valid base64."
        ) from None
    if not value:
        raise InvalidArgsError(f"The value of the custom extension {oid.dotted_string} is empty.")
    return x509.UnrecognizedExtension(oid, value), bool(member.get("Critical"))


# --- General names ----------------------------------------------------------------------------

_GENERAL_NAME_MEMBERS: Final = (
    "OtherName",
    "Rfc822Name",
    "DnsName",
    "DirectoryName",
    "EdiPartyName",
    "UniformResourceIdentifier",
    "IpAddress",
    "RegisteredId",
)


def general_name(member: Mapping[str, Any]) -> x509.GeneralName:
    """A GeneralName shape as a cryptography GeneralName. The model: "Providing more than one
    option results in an InvalidArgsException error"."""
    given = [name for name in _GENERAL_NAME_MEMBERS if member.get(name) is not None]
    if len(given) != 1:
        raise InvalidArgsError("A GeneralName must have exactly one of its members.")
    kind = given[0]
    value = member[kind]
    return _checked(lambda: _GENERAL_NAME_BUILDERS[kind](value))


def _other_name(member: Mapping[str, Any]) -> x509.GeneralName:
    # The model's OtherName value is a string; it is carried as a UTF8String, the type the
    # common OtherName forms (UPN, RFC 8398 SmtpUTF8Mailbox) use.
    encoded = bytes(der_encoder.encode(char.UTF8String(member["Value"])))
    return x509.OtherName(_object_identifier(member["TypeId"]), encoded)


def _edi_party_name(_member: Mapping[str, Any]) -> x509.GeneralName:
    raise InvalidArgsError("EdiPartyName subject alternative names are not supported.")


def _ip_address(text: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidArgsError(f"The IpAddress {text} is not an IPv4 or IPv6 address.") from None


_GENERAL_NAME_BUILDERS: Final[Mapping[str, Callable[[Any], x509.GeneralName]]] = {
    "OtherName": _other_name,
    "Rfc822Name": x509.RFC822Name,
    "DnsName": x509.DNSName,
    "DirectoryName": lambda subject: x509.DirectoryName(asn1_subject_name(subject)),
    "EdiPartyName": _edi_party_name,
    "UniformResourceIdentifier": x509.UniformResourceIdentifier,
    "IpAddress": _ip_address,
    "RegisteredId": lambda oid: x509.RegisteredID(_object_identifier(oid)),
}


def _object_identifier(dotted: str) -> ObjectIdentifier:
    try:
        return ObjectIdentifier(dotted)
    except ValueError:
        raise InvalidArgsError(f"The object identifier {dotted} is not valid.") from None


def _checked(build: Callable[[], _T]) -> _T:
    """`build()`, with cryptography's refusals of a value (a two-letter country that is not,
    a non-ASCII DNS name) turned into the API's InvalidArgsException."""
    try:
        return build()
    except (ValueError, TypeError) as error:
        raise InvalidArgsError(f"The ApiPassthrough value is not valid: {error}") from None


# --- RFC 5280 lint ----------------------------------------------------------------------------


def pkix_findings(certificate: x509.Certificate) -> list[LintFinding]:
    """Every finding pkilint's RFC 5280 certificate linter (`lint_pkix_cert`) reports for
    `certificate`, of every severity."""
    linter = _pkix_linter()
    document = linter.loader.load_der_document(
        certificate.public_bytes(serialization.Encoding.DER), "certificate"
    )
    return [
        LintFinding(
            severity=str(description.finding.severity),
            code=str(description.finding.code),
            message=str(description.message or ""),
            node_path=str(result.node.path),
        )
        for result in linter.validator.validate(document.root)
        for description in result.finding_descriptions
    ]


@dataclass(frozen=True)
class _PkixLinter:
    loader: Any
    validator: Any


_pkix_linter_lock = threading.Lock()


def _pkix_linter() -> _PkixLinter:
    # Built once per process (it takes a noticeable fraction of a second); validators keep no
    # per-document state, so threads share it.
    with _pkix_linter_lock:
        return _build_pkix_linter()


@functools.cache
def _build_pkix_linter() -> _PkixLinter:
    from pkilint import loader
    from pkilint.pkix import certificate, extension, name

    return _PkixLinter(
        loader=loader.RFC5280CertificateDocumentLoader(),
        validator=certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(
                name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
            ),
            [
                certificate.create_issuer_validator_container([]),
                certificate.create_validity_validator_container(),
                certificate.create_subject_validator_container([]),
                certificate.create_extensions_validator_container([]),
                certificate.create_spki_validator_container([]),
            ],
        ),
    )
