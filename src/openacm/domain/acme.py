"""The acme issuer's pure rules: what ACME problem documents (RFC 8555 §6.7) mean for a
certificate request (the FailureReason ACM's API reports, and whether trying again later can
help), which of the CA's chains to keep, which certificate profile to ask for."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from openacm.domain.validation import DNS_PERSIST_LABEL, ValidationRecord

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


def choose_chain(chains: Sequence[str], preferred_issuer: str) -> str:
    """The chain to keep among the CA's default (first) and its alternates (RFC 8555 §7.4.2,
    Link rel="alternate"): the first whose topmost certificate is issued by a CA named
    `preferred_issuer` (its subject's common name, as certbot's --preferred-chain reads it),
    else the default."""
    if preferred_issuer:
        for chain in chains:
            certificates = x509.load_pem_x509_certificates(chain.encode())
            issuer = certificates[-1].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
            if issuer and issuer[0].value == preferred_issuer:
                return chain
    return chains[0]


def order_profile(offered: Mapping[str, str], wanted: str) -> str:
    """The `profile` of a new order (draft-ietf-acme-profiles): the configured one when the
    CA's directory offers it, else none (the CA's default), so that one setting serves
    several CAs, some without profiles."""
    return wanted if wanted and wanted in offered else ""


def ari_certificate_id(certificate: x509.Certificate) -> str:
    """The certificate's identifier in ACME Renewal Information (RFC 9773 §4.1), the value of
    `replaces` in a renewal's newOrder: base64url of the Authority Key Identifier's
    keyIdentifier, ".", base64url of the serial number's DER integer bytes (no padding).
    Empty for a certificate without a keyIdentifier: it has no identifier, and its renewal
    names none (`replaces` is optional)."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    if not aki.key_identifier:
        return ""
    serial = certificate.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return f"{_b64url(aki.key_identifier)}.{_b64url(serial_bytes)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class DnsPersistRecord:
    """The content of a `_validation-persist.<name>` TXT record: the CA's issuer domain name
    (one of the challenge's `issuer-domain-names`), the ACME account it binds the name to,
    whether it also covers wildcards under the name, and until when (unix seconds)."""

    issuer_domain_name: str
    account_uri: str
    wildcard: bool = False
    persist_until: int | None = None

    def owner(self, name: str) -> str:
        """Where the record lives for `name` (a wildcard's at its base name)."""
        return f"{DNS_PERSIST_LABEL}.{name.removeprefix('*.').lower().rstrip('.')}."

    def value(self) -> str:
        """The TXT value, in RFC 8659's issue-value syntax: `issuer; key=value; ...`."""
        parts = [self.issuer_domain_name.lower().rstrip("."), f"accounturi={self.account_uri}"]
        if self.wildcard:
            parts.append("policy=wildcard")
        if self.persist_until is not None:
            parts.append(f"persistUntil={self.persist_until}")
        return "; ".join(parts)

    @classmethod
    def parse(cls, value: str) -> DnsPersistRecord:
        """A TXT value read back; ValueError when it is not one (no issuer or accounturi)."""
        issuer, *fields = (part.strip() for part in value.split(";"))
        parameters: dict[str, str] = {}
        for field_text in fields:
            key, sep, field_value = field_text.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"malformed parameter {field_text!r}")
            parameters[key.strip().lower()] = field_value.strip()
        if not issuer or "accounturi" not in parameters:
            raise ValueError("a dns-persist-01 record names its issuer and accounturi")
        until = parameters.get("persistuntil")
        return cls(
            issuer_domain_name=issuer.lower(),
            account_uri=parameters["accounturi"],
            wildcard=parameters.get("policy", "").lower() == "wildcard",
            persist_until=int(until) if until is not None else None,
        )

    def authorizes(self, name: str, issuers: Sequence[str], account_uri: str, now: float) -> bool:
        """Whether a CA with these issuer domain names may take this record as proof of
        control of `name` for that account (the draft's validation steps)."""
        return (
            self.issuer_domain_name.lower().rstrip(".")
            in {issuer.lower().rstrip(".") for issuer in issuers}
            and self.account_uri == account_uri
            and (self.wildcard or not name.startswith("*."))
            and (self.persist_until is None or now <= self.persist_until)
        )


def dns_persist_record(
    issuer_domain_name: str, account_uri: str, name: str, names: Sequence[str]
) -> ValidationRecord:
    """The persistent TXT record shown for `name` of a request for `names`: bound to the CA's
    issuer domain name and openacm's account there, with `policy=wildcard` when the request
    has the wildcard of its base name (one record then proves the base and the wildcard)."""
    base = name.removeprefix("*.").lower().rstrip(".")
    wildcard = any(other.lower() == f"*.{base}" for other in names)
    record = DnsPersistRecord(issuer_domain_name, account_uri, wildcard=wildcard)
    return ValidationRecord(name=record.owner(name), value=record.value(), type="TXT")


def dns_persist_proves(shown: str, name: str, found: Sequence[str], now: float) -> bool:
    """Whether one of the TXT values `found` at the name's `_validation-persist` owner lets the
    CA and account of the record `shown` (its value) validate `name`: not necessarily the
    value shown (a `policy=wildcard` record made for an earlier request also covers the
    base name), and unreadable values are other CAs' business."""
    expected = DnsPersistRecord.parse(shown)
    for value in found:
        try:
            record = DnsPersistRecord.parse(value)
        except ValueError:
            continue
        if record.authorizes(name, [expected.issuer_domain_name], expected.account_uri, now):
            return True
    return False
