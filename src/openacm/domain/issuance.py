"""How long a certificate the builtin CA issues lives, and what the leaf certificate contains.

Pure functions: no clock (callers pass the time), no keys (builders are signed elsewhere, through a
`CaSigner`). The validity schedule is CA/Browser Forum ballot SC-081 (PRODUCT.md decision 6); the
leaf profile is ACM's (user-guide inventory §4.1) adjusted where the TLS Baseline Requirements
(BR) 2.x say otherwise, so that pkilint's CA/B server-certificate linter finds no errors.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

__all__ = [
    "CABF_DOMAIN_VALIDATED_POLICY",
    "TLS_EXTENDED_KEY_USAGES",
    "CaUrls",
    "LeafPublicKey",
    "authority_key_identifier",
    "crl_distribution_points",
    "domain_validated_policies",
    "leaf_builder",
    "new_serial_number",
    "public_validity_days",
    "public_validity_window",
    "renewal_start",
    "validation_reuse_days",
]

LeafPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# CA/B reserved policy identifier for domain-validated TLS certificates (BR 7.1.6.1).
CABF_DOMAIN_VALIDATED_POLICY = ObjectIdentifier("2.23.140.1.2.1")

# ACM's public certificates carry both purposes, and pkilint 0.13 (BR 2.x: clientAuth MAY) accepts
# it. The Chrome Root Program (policy 1.6+) wants serverAuth-only hierarchies for new roots from
# 2026 and serverAuth-only leaves later; that binds CAs in Chrome's store, which the builtin CA is
# not, and clientAuth keeps these certificates usable for mTLS. Drop clientAuth here to follow
# Chrome: the intermediates use the same tuple, so leaf and chain stay consistent.
TLS_EXTENDED_KEY_USAGES: tuple[ObjectIdentifier, ...] = (
    ExtendedKeyUsageOID.SERVER_AUTH,
    ExtendedKeyUsageOID.CLIENT_AUTH,
)

# --- Validity ---------------------------------------------------------------------------------

# Ballot SC-081: (first day in force, maximum validity days, validation-data reuse days), newest
# first. Before the first entry: 398 and 398 days.
_SC081_SCHEDULE: tuple[tuple[datetime, int, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 47, 10),
    (datetime(2027, 3, 15, tzinfo=UTC), 100, 100),
    (datetime(2026, 3, 15, tzinfo=UTC), 200, 200),
)
_PRE_SC081_DAYS = 398

# ACM issues two days under the ceiling (198 days while the ceiling is 200), leaving room for
# clock skew and the inclusive end-second without ever reaching the limit.
_SAFETY_MARGIN_DAYS = 2

# Clients whose clocks lag ours still accept a fresh certificate. BR 7.1.2.7 allows notBefore up to
# 48 hours before signing; one hour covers ordinary skew without giving away much lifetime.
_NOT_BEFORE_BACKDATING = timedelta(hours=1)

# Decision 6: the seeds' renewal window opens 60 days before expiry.
_RENEWAL_LEAD_TIME = timedelta(days=60)


def _sc081_entry(on: datetime) -> tuple[int, int]:
    for in_force_from, validity_days, reuse_days in _SC081_SCHEDULE:
        if on >= in_force_from:
            return validity_days, reuse_days
    return _PRE_SC081_DAYS, _PRE_SC081_DAYS


def public_validity_days(issued_on: datetime, configured_max_days: int | None = None) -> int:
    """Days a public certificate issued at `issued_on` may be valid: the SC-081 maximum in force
    that day, less ACM's two-day margin; `configured_max_days` can only shorten it."""
    if configured_max_days is not None and configured_max_days < 1:
        raise ValueError("configured_max_days must be at least 1")
    ceiling_days, _reuse = _sc081_entry(issued_on)
    days = ceiling_days - _SAFETY_MARGIN_DAYS
    if configured_max_days is not None:
        days = min(days, configured_max_days)
    return days


def validation_reuse_days(on: datetime) -> int:
    """Days domain-validation evidence obtained at `on` may be reused (SC-081 schedule)."""
    _validity, reuse_days = _sc081_entry(on)
    return reuse_days


def public_validity_window(
    now: datetime, configured_max_days: int | None = None
) -> tuple[datetime, datetime]:
    """(notBefore, notAfter) for a public certificate signed at `now`.

    RFC 5280 counts both ends of the validity period, so notAfter is one second short of whole
    days: a 198-day certificate spans exactly 198 × 86,400 seconds, the way pkilint measures it.
    The policy date is the signing time, not the backdated notBefore, so backdating across a
    schedule boundary can only make the certificate shorter than the linter's reading requires.
    """
    days = public_validity_days(now, configured_max_days)
    not_before = (now - _NOT_BEFORE_BACKDATING).astimezone(UTC).replace(microsecond=0)
    not_after = not_before + timedelta(days=days) - timedelta(seconds=1)
    return not_before, not_after


def renewal_start(
    not_before: datetime, not_after: datetime, lead_time: timedelta = _RENEWAL_LEAD_TIME
) -> datetime:
    """When managed renewal of a certificate valid `not_before`..`not_after` begins.

    Decision 6: when a third of the lifetime is left or `lead_time` (the seeds' 60 days; 45
    for email validation) before expiry, whichever is earlier. For lifetimes under 90 days the
    60-day point falls within the first third of the lifetime (for 45-day certificates, before
    issuance), which would renew each certificate almost as soon as it is issued; renewal
    therefore never starts before a third of the lifetime has passed.
    """
    lifetime = not_after - not_before
    third_left = not_after - lifetime / 3
    lead_time_before_expiry = not_after - lead_time
    earliest_sensible = not_before + lifetime / 3
    return max(min(third_left, lead_time_before_expiry), earliest_sensible)


# --- Serial numbers ---------------------------------------------------------------------------

_SERIAL_BYTES = 16


def new_serial_number() -> int:
    """A fresh 16-byte serial number, like ACM's.

    126 bits come from the CSPRNG (BR 7.1 asks for at least 64). The top bit is clear so the
    INTEGER is positive without a leading zero byte, and the next bit is set so the DER encoding
    is always exactly 16 bytes and the value can never be 0.
    """
    bits = _SERIAL_BYTES * 8
    random_value = int.from_bytes(secrets.token_bytes(_SERIAL_BYTES), "big")
    return (random_value & ((1 << (bits - 1)) - 1)) | (1 << (bits - 2))


# --- Leaf profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaUrls:
    """Where relying parties find an issuing CA's revocation data and certificate."""

    crl_url: str
    ocsp_url: str
    ca_issuers_url: str


def _leaf_key_usage(public_key: LeafPublicKey) -> x509.KeyUsage:
    # keyEncipherment is only meaningful for RSA (TLS 1.2 RSA key transport); an ECDSA key cannot
    # encipher, so BR 7.1.2.7.11 forbids it there.
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI naming `issuer`'s key by its own SKI (keyIdentifier only; BR 7.1.2.11.1 forbids
    authorityCertIssuer/serial)."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski)


def crl_distribution_points(crl_url: str) -> x509.CRLDistributionPoints:
    """One distribution point with a fullName URI, the only form BR 7.1.2.11.2 allows."""
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(crl_url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _leaf_authority_information_access(urls: CaUrls) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(urls.ocsp_url),
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_issuers_url),
            ),
        ]
    )


def domain_validated_policies() -> x509.CertificatePolicies:
    """The CA/B DV policy alone, without qualifiers (BR discourages CPS qualifiers)."""
    return x509.CertificatePolicies([x509.PolicyInformation(CABF_DOMAIN_VALIDATED_POLICY, None)])


def leaf_builder(
    *,
    common_name: str,
    names: Sequence[str],
    public_key: LeafPublicKey,
    issuer: x509.Certificate,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
    urls: CaUrls,
) -> x509.CertificateBuilder:
    """An unsigned DV TLS server certificate for `names`, to be signed by `issuer`'s signer.

    The subject holds only the common name (a DV subject identifies domain names, nothing else);
    every name, the common name and wildcards included, is a SAN dNSName. The SKI uses RFC 5280
    method 1 (SHA-1 of the key), which pkilint recognises.
    """
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(TLS_EXTENDED_KEY_USAGES)), critical=False)
        .add_extension(authority_key_identifier(issuer), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(crl_distribution_points(urls.crl_url), critical=False)
        .add_extension(_leaf_authority_information_access(urls), critical=False)
        .add_extension(domain_validated_policies(), critical=False)
    )
