"""What ACM shows about an X.509 certificate, and ACM's rules for importing one.

Pure functions over pyca/cryptography objects: no I/O, no clock (callers pass `now`), no storage.
Everything ACM reports for a certificate (DescribeCertificate, ListCertificates summaries,
SearchCertificates' X509Attributes) is derived from the certificate alone, so it lives in one
immutable `CertificateFacts` built by `certificate_facts`.

`parse_import` applies ImportCertificate's acceptance rules (PEM only, X.509 v3, supported key,
valid now, unencrypted matching key, ordered chain without the leaf) and `check_reimport` the extra
rules for replacing a certificate under an existing ARN. Where a real ACM error text is known it is
used verbatim, since clients and scripts match on them; the others are written in the same style.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
    SignatureAlgorithmOID,
)

from openacm.domain.errors import ValidationError

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)

__all__ = [
    "CertificateFacts",
    "DistinguishedName",
    "ImportMaterial",
    "certificate_facts",
    "check_reimport",
    "distinguished_name",
    "key_algorithm_api_name",
    "parse_import",
]

# --- Error texts -------------------------------------------------------------------------------
# Texts marked [ACM] are real ACM messages, kept verbatim because clients match on them; sources:
# the AWS knowledge-center article "acm-import-troubleshooting", go-acme/lego#1506,
# hashicorp/terraform-provider-aws#34968 and #42779, vancluever/terraform-provider-acme#441.
# The rest are ours, written in the same style.

# [ACM]
CERTIFICATE_NOT_PEM = "Unable to parse certificate. Please ensure the certificate is in PEM format."
# [ACM]
CERTIFICATE_MULTIPLE = (
    "The certificate field contains more than one certificate. "
    "You can specify only one certificate in this field."
)
# Adapted from ACM's "The certificate body/chain provided is not in a valid PEM format".
CHAIN_NOT_PEM = "The certificate chain provided is not in a valid PEM format."
# [ACM] chain[0] did not sign the certificate.
CHAIN_NOT_ISSUER = "Could not validate the certificate with the certificate chain."
CHAIN_CONTAINS_LEAF = (
    "The certificate chain must not contain the certificate being imported. Provide only the "
    "intermediate certificates (and optionally the root), starting with the one that signed "
    "the certificate."
)
# [ACM] x3
PRIVATE_KEY_UNSUPPORTED = "The private key is not supported."
PRIVATE_KEY_LENGTH_UNSUPPORTED = "The private key length is not supported for key algorithm."
PRIVATE_KEY_ENCRYPTED = "Your private key should not be encrypted."
PRIVATE_KEY_MULTIPLE = (
    "The private key field contains more than one private key. "
    "You can specify only one private key in this field."
)
PRIVATE_KEY_MISMATCH = "The private key does not match the public key in the certificate."
CERTIFICATE_NOT_V3 = "The certificate must be an X.509 version 3 certificate."
ISSUER_EMPTY = "The certificate's Issuer field must not be empty."
OCSP_URL_TOO_LONG = "The OCSP authority URL in the certificate must not exceed 1000 characters."
NAME_CONTAINS_NUL = (
    "The certificate's subject or subject alternative names must not contain a NUL character."
)
NAME_TOO_LONG = (
    "The certificate's common name and subject alternative names must not exceed 253 characters."
)
SERIAL_TOO_LONG = "The certificate's serial number must not exceed 21 octets."
# [ACM] x2 (no trailing period in the real texts)
REIMPORT_KEY_USAGES_MISSING = (
    "New certificate is missing one or more Key Usages supported by the currently imported "
    "certificate"
)
REIMPORT_EXTENDED_KEY_USAGES_MISSING = (
    "New certificate is missing one or more Extended Key Usages supported by the currently "
    "imported certificate"
)
REIMPORT_KEY_USAGES_ADDED = (
    "New certificate has a Key Usage extension but the currently imported certificate has none. "
    "Key Usages cannot be added when reimporting a certificate"
)
REIMPORT_EXTENDED_KEY_USAGES_ADDED = (
    "New certificate has an Extended Key Usage extension but the currently imported certificate "
    "has none. Extended Key Usages cannot be added when reimporting a certificate"
)
REIMPORT_NO_DOMAIN = (
    "New certificate does not contain any domain name, but the currently imported certificate "
    "does. You can add or remove domain names when reimporting, but not remove all of them"
)

_OCSP_URL_MAX = 1000
_NAME_MAX = 253
_SERIAL_TEXT_MAX = 21 * 3 - 1  # "0a:1b:…": 21 octets (20, and a sign byte)


def _chain_order_error(index: int) -> str:
    # IAM's real MalformedCertificate text for the same rule (UploadServerCertificate).
    return (
        "Unable to validate certificate chain. The certificate chain must start with the "
        "immediate signing certificate, followed by any intermediaries in order. The index "
        f"within the chain of the invalid certificate is: {index}"
    )


def _private_key_too_large(limit: int) -> str:
    # A service rule (the model's PrivateKeyBlob allows 8192), worded as the API reference does.
    return f"The private key must be no larger than {limit} bytes."


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Distinguished names -----------------------------------------------------------------------

# The single-valued members of the model shape "DistinguishedName", by attribute type.
_DN_FIELDS: dict[ObjectIdentifier, str] = {
    NameOID.COMMON_NAME: "common_name",
    NameOID.COUNTRY_NAME: "country",
    NameOID.DN_QUALIFIER: "distinguished_name_qualifier",
    NameOID.GENERATION_QUALIFIER: "generation_qualifier",
    NameOID.GIVEN_NAME: "given_name",
    NameOID.INITIALS: "initials",
    NameOID.LOCALITY_NAME: "locality",
    NameOID.ORGANIZATION_NAME: "organization",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organizational_unit",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.SERIAL_NUMBER: "serial_number",
    NameOID.STATE_OR_PROVINCE_NAME: "state",
    NameOID.SURNAME: "surname",
    NameOID.TITLE: "title",
}

# (dataclass field, model member) in the model's member order.
_DN_API_MEMBERS: tuple[tuple[str, str], ...] = (
    ("common_name", "CommonName"),
    ("domain_components", "DomainComponents"),
    ("country", "Country"),
    ("custom_attributes", "CustomAttributes"),
    ("distinguished_name_qualifier", "DistinguishedNameQualifier"),
    ("generation_qualifier", "GenerationQualifier"),
    ("given_name", "GivenName"),
    ("initials", "Initials"),
    ("locality", "Locality"),
    ("organization", "Organization"),
    ("organizational_unit", "OrganizationalUnit"),
    ("pseudonym", "Pseudonym"),
    ("serial_number", "SerialNumber"),
    ("state", "State"),
    ("surname", "Surname"),
    ("title", "Title"),
)

# Keywords for the Subject string beyond the RFC 4514 set (CN, C, ST, L, O, OU, STREET, DC, UID)
# that cryptography already knows; these follow the Java X.500 names ACM's Java stack prints.
_DN_STRING_KEYWORDS: dict[ObjectIdentifier, str] = {
    NameOID.EMAIL_ADDRESS: "EMAILADDRESS",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.TITLE: "T",
    NameOID.GIVEN_NAME: "GIVENNAME",
    NameOID.SURNAME: "SURNAME",
    NameOID.INITIALS: "INITIALS",
    NameOID.GENERATION_QUALIFIER: "GENERATION",
    NameOID.DN_QUALIFIER: "DNQUALIFIER",
}


@dataclass(frozen=True)
class DistinguishedName:
    """An X.500 name in the shape of the ACM model's `DistinguishedName` structure.

    Attributes the model has no member for, and repeats of single-valued ones (a second OU),
    go to `custom_attributes` as (OID, value) so that nothing in the name is silently lost.
    """

    common_name: str | None = None
    domain_components: tuple[str, ...] = ()
    country: str | None = None
    custom_attributes: tuple[tuple[str, str], ...] = ()
    distinguished_name_qualifier: str | None = None
    generation_qualifier: str | None = None
    given_name: str | None = None
    initials: str | None = None
    locality: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    pseudonym: str | None = None
    serial_number: str | None = None
    state: str | None = None
    surname: str | None = None
    title: str | None = None

    def to_api(self) -> dict[str, object]:
        """The wire form: model member names, empty members omitted as AWS omits them."""
        out: dict[str, object] = {}
        for attr, member in _DN_API_MEMBERS:
            value: Any = getattr(self, attr)
            if not value:
                continue
            if attr == "custom_attributes":
                value = [{"ObjectIdentifier": oid, "Value": val} for oid, val in value]
            elif attr == "domain_components":
                value = list(value)
            out[member] = value
        return out


def _attribute_text(value: str | bytes) -> str:
    # Only bit-string attributes (x500UniqueIdentifier) come back as bytes; show them as hex.
    return value if isinstance(value, str) else value.hex()


def distinguished_name(name: x509.Name) -> DistinguishedName:
    """Map an X.509 name onto the model's DistinguishedName, in encoding order."""
    fields: dict[str, Any] = {}
    components: list[str] = []
    custom: list[tuple[str, str]] = []
    for attribute in name:
        text = _attribute_text(attribute.value)
        member = _DN_FIELDS.get(attribute.oid)
        if attribute.oid == NameOID.DOMAIN_COMPONENT:
            components.append(text)
        elif member is not None and member not in fields:
            fields[member] = text
        else:
            custom.append((attribute.oid.dotted_string, text))
    return DistinguishedName(
        domain_components=tuple(components), custom_attributes=tuple(custom), **fields
    )


def _dn_string(name: x509.Name) -> str:
    """ACM's Subject form: RDNs in encoding order, joined by ", " (not RFC 4514's reversal)."""
    return ", ".join(rdn.rfc4514_string(_DN_STRING_KEYWORDS) for rdn in name.rdns)


def _first_value(name: x509.Name, oid: ObjectIdentifier) -> str | None:
    for attribute in name.get_attributes_for_oid(oid):
        text = _attribute_text(attribute.value)
        if text:
            return text
    return None


def _issuer_label(name: x509.Name) -> str:
    """ACM's Issuer field is a label, not a DN: the organisation, else the CN, else the DN."""
    return (
        _first_value(name, NameOID.ORGANIZATION_NAME)
        or _first_value(name, NameOID.COMMON_NAME)
        or _dn_string(name)
    )


# --- Subject alternative names -----------------------------------------------------------------

_DER_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x1A: "ascii", 0x1E: "utf-16-be"}


def _other_name_text(der: bytes) -> str:
    """An OtherName value as text: the string when it is a plain DER string, else hex of DER.

    Most otherNames in the wild (UPN, SmtpUTF8Mailbox) are a single UTF8String, which is what a
    user wants to see; anything structured is shown as hex rather than guessed at.
    """
    if len(der) >= 2 and der[0] in _DER_STRING_TAGS and der[1] < 0x80 and der[1] == len(der) - 2:
        try:
            return der[2:].decode(_DER_STRING_TAGS[der[0]])
        except UnicodeDecodeError:
            pass
    return der.hex()


def _general_name_api(name: x509.GeneralName) -> dict[str, object]:
    """One GeneralName as the model's `GeneralName` union (exactly one member set)."""
    if isinstance(name, x509.DNSName):
        return {"DnsName": name.value}
    if isinstance(name, x509.IPAddress):
        return {"IpAddress": str(name.value)}
    if isinstance(name, x509.RFC822Name):
        return {"Rfc822Name": name.value}
    if isinstance(name, x509.UniformResourceIdentifier):
        return {"UniformResourceIdentifier": name.value}
    if isinstance(name, x509.DirectoryName):
        return {"DirectoryName": distinguished_name(name.value).to_api()}
    if isinstance(name, x509.RegisteredID):
        return {"RegisteredId": name.value.dotted_string}
    if isinstance(name, x509.OtherName):
        value = {
            "ObjectIdentifier": name.type_id.dotted_string,
            "Value": _other_name_text(name.value),
        }
        return {"OtherName": value}
    raise ValidationError(f"Unsupported subject alternative name type: {type(name).__name__}")


def _host_names(san: x509.SubjectAlternativeName | None) -> tuple[str, ...]:
    """DNS names and IP addresses, in certificate order: what ACM lists as the cert's names."""
    if san is None:
        return ()
    names: list[str] = []
    for entry in san:
        if isinstance(entry, x509.DNSName):
            names.append(entry.value)
        elif isinstance(entry, x509.IPAddress):
            names.append(str(entry.value))
    return tuple(names)


def _first_dns_name(san: x509.SubjectAlternativeName | None) -> str | None:
    if san is None:
        return None
    dns = san.get_values_for_type(x509.DNSName)
    return dns[0] if dns else None


# --- Key, signature, usages --------------------------------------------------------------------

_RSA_SIZES = (1024, 2048, 3072, 4096)
_EC_CURVES: dict[str, str] = {
    "secp256r1": "EC_prime256v1",
    "secp384r1": "EC_secp384r1",
    "secp521r1": "EC_secp521r1",
}


def key_algorithm_api_name(public_key: CertificatePublicKeyTypes) -> str:
    """The model's KeyAlgorithm enum value for a key; ValidationError when ACM refuses it."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size not in _RSA_SIZES:
            raise ValidationError(PRIVATE_KEY_LENGTH_UNSUPPORTED)
        return f"RSA_{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        name = _EC_CURVES.get(public_key.curve.name)
        if name is None:  # secp256k1, brainpool, P-224...: the curve itself is refused
            raise ValidationError(PRIVATE_KEY_UNSUPPORTED)
        return name
    raise ValidationError(PRIVATE_KEY_UNSUPPORTED)


# ACM spells signature algorithms the Java/BouncyCastle way, upper-cased.
_SIGNATURE_NAMES: dict[ObjectIdentifier, str] = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "MD5WITHRSA",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA1WITHRSA",
    SignatureAlgorithmOID._RSA_WITH_SHA1: "SHA1WITHRSA",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "SHA224WITHRSA",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "SHA256WITHRSA",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "SHA384WITHRSA",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "SHA512WITHRSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "SHA1WITHECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "SHA224WITHECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "SHA256WITHECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "SHA384WITHECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "SHA512WITHECDSA",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "SHA1WITHDSA",
    SignatureAlgorithmOID.DSA_WITH_SHA224: "SHA224WITHDSA",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "SHA256WITHDSA",
    SignatureAlgorithmOID.ED25519: "ED25519",
    SignatureAlgorithmOID.ED448: "ED448",
}


def _signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        # PSS carries its hash in parameters; Java names it e.g. SHA256WITHRSAANDMGF1.
        digest = cert.signature_hash_algorithm
        return f"{digest.name.upper() if digest else 'SHA1'}WITHRSAANDMGF1"
    return _SIGNATURE_NAMES.get(oid, oid.dotted_string)


# KeyUsageName values in the model's enum order, with the flag each reads.
_KEY_USAGE_FLAGS: tuple[tuple[str, str], ...] = (
    ("DIGITAL_SIGNATURE", "digital_signature"),
    ("NON_REPUDIATION", "content_commitment"),
    ("KEY_ENCIPHERMENT", "key_encipherment"),
    ("DATA_ENCIPHERMENT", "data_encipherment"),
    ("KEY_AGREEMENT", "key_agreement"),
    ("CERTIFICATE_SIGNING", "key_cert_sign"),
    ("CRL_SIGNING", "crl_sign"),
)


def _key_usages(usage: x509.KeyUsage | None) -> tuple[str, ...]:
    if usage is None:
        return ()
    names = [name for name, flag in _KEY_USAGE_FLAGS if getattr(usage, flag)]
    # encipher_only/decipher_only are only defined (and only readable) with key_agreement.
    if usage.key_agreement and usage.encipher_only:
        names.append("ENCIPHER_ONLY")
    if usage.key_agreement and usage.decipher_only:
        names.append("DECIPHER_ONLY")
    return tuple(names)


_EKU_NAMES: dict[ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: "TLS_WEB_SERVER_AUTHENTICATION",
    ExtendedKeyUsageOID.CLIENT_AUTH: "TLS_WEB_CLIENT_AUTHENTICATION",
    ExtendedKeyUsageOID.CODE_SIGNING: "CODE_SIGNING",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "EMAIL_PROTECTION",
    ExtendedKeyUsageOID.TIME_STAMPING: "TIME_STAMPING",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP_SIGNING",
    ObjectIdentifier("1.3.6.1.5.5.7.3.5"): "IPSEC_END_SYSTEM",
    ObjectIdentifier("1.3.6.1.5.5.7.3.6"): "IPSEC_TUNNEL",
    ObjectIdentifier("1.3.6.1.5.5.7.3.7"): "IPSEC_USER",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "ANY",
}


def _extended_key_usages(usage: x509.ExtendedKeyUsage | None) -> tuple[tuple[str, str], ...]:
    if usage is None:
        return ()
    return tuple((_EKU_NAMES.get(oid, "CUSTOM"), oid.dotted_string) for oid in usage)


def _optional_extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _serial_text(serial: int) -> str:
    """Lowercase colon-separated hex of the serial's minimal big-endian bytes ("10:0a")."""
    if serial < 0:  # non-conforming, but parseable: show the two's-complement bytes
        raw = serial.to_bytes(((~serial).bit_length() + 8) // 8, "big", signed=True)
    else:
        raw = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")
    return ":".join(f"{byte:02x}" for byte in raw)


# --- Facts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFacts:
    """Everything ACM shows about a certificate, derived from the X.509 alone."""

    domain_name: str | None
    subject_alternative_names: tuple[str, ...]
    general_names: tuple[dict[str, object], ...]
    subject: str
    subject_dn: DistinguishedName
    issuer: str
    issuer_dn: DistinguishedName
    serial: str
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    signature_algorithm: str
    key_usages: tuple[str, ...]
    extended_key_usages: tuple[tuple[str, str], ...]
    has_key_usage_extension: bool
    has_extended_key_usage_extension: bool
    version: int

    @property
    def has_domain_name(self) -> bool:
        """Whether the certificate names any host (ListCertificates hides those that do not)."""
        return self.domain_name is not None or bool(self.subject_alternative_names)


def facts_document(facts: CertificateFacts) -> dict[str, object]:
    """The facts a certificate record keeps for Describe/Search (stored as JSON)."""
    return {
        "subject": facts.subject,
        "issuer": facts.issuer,
        "subject_dn": facts.subject_dn.to_api(),
        "issuer_dn": facts.issuer_dn.to_api(),
        "subject_alternative_names": list(facts.subject_alternative_names),
        "general_names": list(facts.general_names),
        "signature_algorithm": facts.signature_algorithm,
    }


def certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    """Derive ACM's view of a certificate. Raises ValidationError for an unsupported key."""
    san = _optional_extension(cert, x509.SubjectAlternativeName)
    common_name = _first_value(cert.subject, NameOID.COMMON_NAME)
    names = _host_names(san)
    if not names and common_name is not None:
        names = (common_name,)  # no usable SAN: ACM lists the CN as the only name
    key_usage = _optional_extension(cert, x509.KeyUsage)
    eku = _optional_extension(cert, x509.ExtendedKeyUsage)
    return CertificateFacts(
        domain_name=common_name if common_name is not None else _first_dns_name(san),
        subject_alternative_names=names,
        general_names=tuple(_general_name_api(entry) for entry in san or ()),
        subject=_dn_string(cert.subject),
        subject_dn=distinguished_name(cert.subject),
        issuer=_issuer_label(cert.issuer),
        issuer_dn=distinguished_name(cert.issuer),
        serial=_serial_text(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_algorithm=key_algorithm_api_name(cert.public_key()),
        signature_algorithm=_signature_algorithm(cert),
        key_usages=_key_usages(key_usage),
        extended_key_usages=_extended_key_usages(eku),
        has_key_usage_extension=key_usage is not None,
        has_extended_key_usage_extension=eku is not None,
        version=cert.version.value + 1,
    )


# --- PEM ---------------------------------------------------------------------------------------

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_PEM_BEGIN = re.compile(r"-----BEGIN ")


@dataclass(frozen=True)
class _PemBlock:
    label: str
    headers: dict[str, str]
    der: bytes | None  # None when the body is not valid base64


def _split_headers(body: str) -> tuple[dict[str, str], str]:
    """RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") precede the base64, up to a blank line."""
    lines = body.strip().splitlines()
    headers: dict[str, str] = {}
    if not lines or ":" not in lines[0]:
        return headers, "".join(lines)
    index = 0
    while index < len(lines) and lines[index].strip():
        key, _, value = lines[index].partition(":")
        headers[key.strip()] = value.strip()
        index += 1
    return headers, "".join(lines[index:])


def _pem_blocks(data: bytes, error: str) -> list[_PemBlock]:
    """Every PEM block in `data`; `error` when there is none or one is cut short (or DER)."""
    text = data.decode("latin-1")  # any byte decodes; DER simply has no BEGIN line
    blocks: list[_PemBlock] = []
    for match in _PEM_BLOCK.finditer(text):
        headers, payload = _split_headers(match.group("body"))
        try:
            der: bytes | None = base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            der = None
        blocks.append(_PemBlock(match.group("label"), headers, der or None))
    if not blocks or len(blocks) != len(_PEM_BEGIN.findall(text)):
        raise ValidationError(error)
    return blocks


def _load_certificate(block: _PemBlock, error: str) -> x509.Certificate:
    if block.label != "CERTIFICATE" or block.der is None:
        raise ValidationError(error)
    try:
        cert = x509.load_der_x509_certificate(block.der)
        _ = cert.extensions  # parsed lazily; a malformed extension must fail here, not later
        _ = cert.signature_algorithm_oid
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(error) from exc
    return cert


def _pem_text(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- Import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportMaterial:
    """A certificate accepted for import, normalised for storage."""

    certificate: x509.Certificate
    certificate_pem: str
    chain: tuple[x509.Certificate, ...]
    chain_pem: str | None
    private_key_pkcs8_der: bytes
    facts: CertificateFacts


def _parse_certificate(data: bytes) -> x509.Certificate:
    blocks = _pem_blocks(data, CERTIFICATE_NOT_PEM)
    if any(block.label != "CERTIFICATE" for block in blocks):
        raise ValidationError(CERTIFICATE_NOT_PEM)
    if len(blocks) > 1:
        raise ValidationError(CERTIFICATE_MULTIPLE)
    return _load_certificate(blocks[0], CERTIFICATE_NOT_PEM)


def _ocsp_urls(cert: x509.Certificate) -> Iterator[str]:
    aia = _optional_extension(cert, x509.AuthorityInformationAccess)
    for description in aia or ():
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            location, x509.UniformResourceIdentifier
        ):
            yield location.value


def _check_profile(cert: x509.Certificate) -> None:
    """The static requirements: v3, an issuer, a supported key, a sane OCSP URL."""
    if cert.version != x509.Version.v3:
        raise ValidationError(CERTIFICATE_NOT_V3)
    if not list(cert.issuer):
        raise ValidationError(ISSUER_EMPTY)
    try:
        public_key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(PRIVATE_KEY_UNSUPPORTED) from exc
    key_algorithm_api_name(public_key)
    if any(len(url) > _OCSP_URL_MAX for url in _ocsp_urls(cert)):
        raise ValidationError(OCSP_URL_TOO_LONG)


def _check_names(facts: CertificateFacts) -> None:
    """What the store keeps as text must fit it on every backend, as the model's shapes do:
    no NUL (PostgreSQL cannot hold one, and inside a host name it is the null-prefix spoofing
    trick), names of at most 253 characters (DomainNameString), a serial that fits its column."""
    names = [facts.domain_name or "", facts.subject_dn.common_name or ""]
    names += facts.subject_alternative_names
    if any("\x00" in name for name in names):
        raise ValidationError(NAME_CONTAINS_NUL)
    if any(len(name) > _NAME_MAX for name in names):
        raise ValidationError(NAME_TOO_LONG)
    if len(facts.serial) > _SERIAL_TEXT_MAX:
        raise ValidationError(SERIAL_TOO_LONG)


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    if moment < cert.not_valid_before_utc:
        raise ValidationError(
            "The certificate is not valid yet. Its validity period starts at "
            f"{_iso(cert.not_valid_before_utc)} (NotBefore)."
        )
    if moment > cert.not_valid_after_utc:
        raise ValidationError(
            "The certificate has expired. Its validity period ended at "
            f"{_iso(cert.not_valid_after_utc)} (NotAfter)."
        )


_KEY_LABELS = frozenset({"RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"})


def _is_encrypted(block: _PemBlock) -> bool:
    proc_type = block.headers.get("Proc-Type", "")
    return block.label == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in proc_type.upper()


def _key_der(data: bytes) -> bytes:
    """The DER of the one private-key block, after dropping `EC PARAMETERS` as ACM does."""
    blocks = [b for b in _pem_blocks(data, PRIVATE_KEY_UNSUPPORTED) if b.label != "EC PARAMETERS"]
    if any(_is_encrypted(block) for block in blocks):
        raise ValidationError(PRIVATE_KEY_ENCRYPTED)
    keys = [block for block in blocks if block.label in _KEY_LABELS]
    if len(keys) > 1:
        raise ValidationError(PRIVATE_KEY_MULTIPLE)
    der = keys[0].der if len(keys) == 1 and len(blocks) == 1 else None
    if der is None:
        raise ValidationError(PRIVATE_KEY_UNSUPPORTED)
    return der


_SupportedPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _parse_private_key(data: bytes, max_bytes: int) -> _SupportedPrivateKey:
    if len(data) > max_bytes:
        raise ValidationError(_private_key_too_large(max_bytes))
    der = _key_der(data)
    try:
        # OpenSSL's full RSA key check tests the primes (about 80 ms for RSA-2048, the whole
        # cost of an import); _check_key_matches proves instead that the key signs what the
        # certificate's public key verifies, which is what a TLS server needs of it.
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError as exc:  # an encrypted PKCS#8 body under a plain label
        raise ValidationError(PRIVATE_KEY_ENCRYPTED) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(PRIVATE_KEY_UNSUPPORTED) from exc
    if not isinstance(key, _SupportedPrivateKey):
        raise ValidationError(PRIVATE_KEY_UNSUPPORTED)
    return key


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_key_matches(cert: x509.Certificate, key: _SupportedPrivateKey) -> None:
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ValidationError(PRIVATE_KEY_MISMATCH)
    if isinstance(key, rsa.RSAPrivateKey) and not _rsa_numbers_consistent(key):
        raise ValidationError(PRIVATE_KEY_UNSUPPORTED)


def _rsa_numbers_consistent(key: rsa.RSAPrivateKey) -> bool:
    """OpenSSL's check without its primality tests: the factors make the modulus, and the
    private exponent and every CRT value agree with them. (OpenSSL repairs a bad CRT value
    silently when signing, so a trial signature would not notice one.)"""
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    if p <= 1 or q <= 1 or p * q != n:
        return False
    carmichael = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    return (
        (d * e) % carmichael == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )


def _parse_chain(data: bytes | None) -> tuple[x509.Certificate, ...]:
    if data is None or not data.strip():
        return ()
    blocks = _pem_blocks(data, CHAIN_NOT_PEM)
    return tuple(_load_certificate(block, CHAIN_NOT_PEM) for block in blocks)


_SHA1_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID._RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    }
)


def _directly_issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, UnsupportedAlgorithm):
        return child.signature_algorithm_oid in _SHA1_SIGNATURES and _sha1_issued(child, parent)
    except (TypeError, InvalidSignature):
        return False
    return True


def _sha1_issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """cryptography no longer verifies SHA-1 certificate signatures; ACM still takes such links.

    Same checks as `verify_directly_issued_by`: issuer name, then the signature.
    """
    if child.issuer != parent.subject:
        return False
    key = parent.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1()
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _check_chain(cert: x509.Certificate, chain: tuple[x509.Certificate, ...]) -> None:
    """chain[0] must have signed the certificate and each later one the one before it."""
    if cert in chain:
        raise ValidationError(CHAIN_CONTAINS_LEAF)
    previous = cert
    for index, link in enumerate(chain):
        if not _directly_issued(previous, link):
            raise ValidationError(CHAIN_NOT_ISSUER if index == 0 else _chain_order_error(index))
        previous = link


def parse_import(
    certificate: bytes,
    private_key: bytes,
    chain: bytes | None,
    *,
    now: datetime,
    max_private_key_bytes: int = 5120,
) -> ImportMaterial:
    """Validate ImportCertificate's inputs as ACM does and return them normalised.

    Checks run certificate first, then key, then chain, so the first complaint a caller sees
    is about the field they most likely got wrong.
    """
    cert = _parse_certificate(certificate)
    _check_profile(cert)
    facts = certificate_facts(cert)
    _check_names(facts)
    _check_validity(cert, now)
    key = _parse_private_key(private_key, max_private_key_bytes)
    _check_key_matches(cert, key)
    links = _parse_chain(chain)
    _check_chain(cert, links)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ImportMaterial(
        certificate=cert,
        certificate_pem=_pem_text(cert),
        chain=links,
        chain_pem="".join(_pem_text(link) for link in links) or None,
        private_key_pkcs8_der=pkcs8,
        facts=facts,
    )


# --- Re-import ---------------------------------------------------------------------------------


def _check_usage_kept(
    original: frozenset[str],
    replacement: frozenset[str],
    had: bool,
    has: bool,
    msgs: tuple[str, str],
) -> None:
    """Values may be added but not dropped; an extension may not appear where there was none."""
    missing, added = msgs
    if had and (not has or not original <= replacement):
        raise ValidationError(missing)
    if not had and has:
        raise ValidationError(added)


def check_reimport(original: CertificateFacts, replacement: CertificateFacts) -> None:
    """ACM's extra rules for importing `replacement` over `original` under the same ARN."""
    if replacement.key_algorithm != original.key_algorithm:
        # [ACM] text
        raise ValidationError(
            f"New certificate has a key of {replacement.key_algorithm} which is different from "
            f"{original.key_algorithm} in the current certificate."
        )
    _check_usage_kept(
        frozenset(original.key_usages),
        frozenset(replacement.key_usages),
        original.has_key_usage_extension,
        replacement.has_key_usage_extension,
        (REIMPORT_KEY_USAGES_MISSING, REIMPORT_KEY_USAGES_ADDED),
    )
    _check_usage_kept(
        frozenset(oid for _, oid in original.extended_key_usages),
        frozenset(oid for _, oid in replacement.extended_key_usages),
        original.has_extended_key_usage_extension,
        replacement.has_extended_key_usage_extension,
        (REIMPORT_EXTENDED_KEY_USAGES_MISSING, REIMPORT_EXTENDED_KEY_USAGES_ADDED),
    )
    if original.has_domain_name and not replacement.has_domain_name:
        raise ValidationError(REIMPORT_NO_DOMAIN)
