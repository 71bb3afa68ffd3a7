"""RFC 8555 rules that need no I/O: problem documents, identifiers, CSR checks, dns-01 values.

The ACME server (services/acme/server.py) raises `AcmeProblem`; the protocol layer renders it
as an RFC 7807 problem document (`application/problem+json`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from openacm.domain.errors import ApiError, ValidationError
from openacm.domain.names import checked_name
from openacm.domain.x509facts import key_algorithm_api_name

ERROR_NAMESPACE = "urn:ietf:params:acme:error:"
# How long an order and its authorizations may be worked on, and how long a nonce lives.
ORDER_LIFETIME_SECONDS = 7 * 24 * 3600
NONCE_LIFETIME_SECONDS = 3600
MAX_IDENTIFIERS = 100


@dataclass
class AcmeProblem(Exception):
    """An RFC 8555 §6.7 error: `kind` is the part after urn:ietf:params:acme:error:."""

    kind: str
    detail: str
    status: int = 400
    subproblems: list[dict[str, Any]] = field(default_factory=list)
    # Members some types add, e.g. badSignatureAlgorithm's "algorithms" (§6.2).
    extra: dict[str, Any] = field(default_factory=dict)
    # The Location header some answers carry (keyChange's 409: the account with that key).
    location: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ERROR_NAMESPACE + self.kind,
            "detail": self.detail,
            "status": self.status,
        }
        if self.subproblems:
            body["subproblems"] = self.subproblems
        body.update(self.extra)
        return body


def malformed(detail: str) -> AcmeProblem:
    return AcmeProblem("malformed", detail)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise malformed("invalid base64url encoding") from exc


def order_identifiers(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The DNS names of a newOrder payload, lower-cased, de-duplicated, in the client's order.

    Only the `dns` identifier type is supported (RFC 8555 §9.7.7); an IP or other type is
    `unsupportedIdentifier`."""
    identifiers = payload.get("identifiers")
    if not isinstance(identifiers, list) or not identifiers:
        raise malformed("newOrder needs a non-empty list of identifiers")
    if len(identifiers) > MAX_IDENTIFIERS:
        raise AcmeProblem("rejectedIdentifier", f"at most {MAX_IDENTIFIERS} identifiers")
    names: list[str] = []
    for identifier in identifiers:
        if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
            raise malformed("every identifier needs a type and a value")
        if identifier.get("type") != "dns":
            raise AcmeProblem(
                "unsupportedIdentifier",
                f"identifier type {identifier.get('type')!r} is not supported; use dns",
            )
        names.append(identifier["value"].rstrip("."))
    try:
        # ACM's syntax rules for a certificate's names (ASCII, labels, wildcards, punycode).
        return tuple(dict.fromkeys(checked_name(name) for name in names))
    except ApiError as exc:
        raise AcmeProblem("rejectedIdentifier", exc.message) from exc


def key_authorization(token: str, thumbprint: str) -> str:
    """RFC 8555 §8.1: token '.' base64url(JWK thumbprint of the account key)."""
    return f"{token}.{thumbprint}"


def dns01_txt_value(token: str, thumbprint: str) -> str:
    """The TXT value a dns-01 challenge expects at _acme-challenge.<name> (§8.4)."""
    digest = hashlib.sha256(key_authorization(token, thumbprint).encode()).digest()
    return b64url(digest)


def dns01_record_name(identifier: str) -> str:
    """Where the TXT record goes; a wildcard's is the base name's (§8.4)."""
    return "_acme-challenge." + identifier.removeprefix("*.")


# RFC 8737 §3: the acmeIdentifier extension of a tls-alpn-01 certificate.
ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def tls_alpn01_refusal(
    certificate: x509.Certificate, name: str, token: str, thumbprint: str
) -> str | None:
    """Why a tls-alpn-01 certificate does not prove `name` (RFC 8737 §3), or None: exactly
    one SAN, the name, and a critical acmeIdentifier holding SHA-256 of the key
    authorization as a DER OCTET STRING."""
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        return "the certificate lacks the subjectAltName or the acmeIdentifier extension"
    names = [value.lower() for value in sans.get_values_for_type(x509.DNSName)]
    if names != [name] or len(list(sans)) != 1:
        return f"the certificate must name {name} and nothing else"
    digest = hashlib.sha256(key_authorization(token, thumbprint).encode()).digest()
    value = extension.value
    if not extension.critical or not isinstance(value, x509.UnrecognizedExtension):
        return "the acmeIdentifier extension must be critical"
    if value.value != b"\x04\x20" + digest:
        return "the acmeIdentifier does not hold this challenge's key authorization"
    return None


@dataclass(frozen=True)
class CheckedCsr:
    public_key: Any  # rsa.RSAPublicKey | ec.EllipticCurvePublicKey, checked
    key_algorithm: str
    names: tuple[str, ...]


def check_csr(
    der: bytes, identifiers: Sequence[str], allowed_key_algorithms: Sequence[str]
) -> CheckedCsr:
    """The finalize CSR (§7.4): well-formed, self-signed, naming exactly the order's
    identifiers (SANs, and the CN when there is one), with a key the endpoint allows."""
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError as exc:
        raise AcmeProblem("badCSR", "the CSR is not a DER PKCS#10 request") from exc
    try:
        signed = csr.is_signature_valid
    except (InvalidSignature, ValueError, TypeError):
        signed = False
    if not signed:
        raise AcmeProblem("badCSR", "the CSR's signature does not verify")
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [name.lower() for name in sans.get_values_for_type(x509.DNSName)]
        others = len(list(sans)) - len(names)
    except x509.ExtensionNotFound:
        names, others = [], 0
    common_names = [
        str(attr.value).lower() for attr in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]
    if others or set(names) | set(common_names) != set(identifiers) or not names:
        raise AcmeProblem(
            "badCSR",
            "the CSR must name exactly the order's identifiers: " + ", ".join(sorted(identifiers)),
        )
    try:
        algorithm = key_algorithm_api_name(csr.public_key())
    except ValidationError as exc:
        raise AcmeProblem("badPublicKey", "the CSR's key type is not supported") from exc
    if algorithm not in allowed_key_algorithms:
        raise AcmeProblem(
            "badPublicKey",
            f"this endpoint does not allow {algorithm} keys; it allows "
            + ", ".join(allowed_key_algorithms),
        )
    return CheckedCsr(csr.public_key(), algorithm, tuple(dict.fromkeys(names)))
