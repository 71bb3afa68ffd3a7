"""The builtin CA hierarchy: one root and two issuing CAs (RSA and ECDSA).

ACM picks an intermediate by the leaf's key type (user-guide inventory §4.1), so there is one
issuing CA per key family under a common root. The profiles follow the CA/Browser Forum TLS
Baseline Requirements (BR) 7.1.2.1 (root) and 7.1.2.6 (TLS subordinate CA) so pkilint's CA/B
linter accepts them.

The builders take a public key and return an unsigned `CertificateBuilder`, so a hierarchy whose
keys live in a PKCS#11 token is built the same way: generate the key in the token, pass its public
key here, and sign with that token's `CaSigner`. `create_builtin_hierarchy` does all of it with
software keys.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from openacm.adapters.ca.signer import CaPrivateKey, CaPublicKey, CaSigner, SoftwareSigner
from openacm.domain.issuance import (
    TLS_EXTENDED_KEY_USAGES,
    CaUrls,
    authority_key_identifier,
    crl_distribution_points,
    domain_validated_policies,
    new_serial_number,
)

__all__ = [
    "BuiltinHierarchy",
    "CaMaterial",
    "ca_subject",
    "create_builtin_hierarchy",
    "intermediate_certificate_builder",
    "root_certificate_builder",
]

# BR 7.1.2.1.1 allows a root 2922 to 9132 days; 25 years (with its 6 leap days) is 9131.
ROOT_VALIDITY = timedelta(days=9131)
# Ten years (3652 days): many leaf generations per issuing CA, and capped at the root's notAfter.
INTERMEDIATE_VALIDITY = timedelta(days=3652)

ROOT_RSA_KEY_BITS = 4096
# NIST SP 800-57 retires 112-bit strength (RSA 2048) after 2030; a ten-year issuing CA created
# now outlives that, so it gets 3072 bits.
INTERMEDIATE_RSA_KEY_BITS = 3072

# Relying parties whose clocks lag still accept a hierarchy created moments ago.
_NOT_BEFORE_BACKDATING = timedelta(hours=1)

# BR 7.1.2.10.2 requires countryName in CA subjects. "XX" is the ISO 3166 user-assigned code the
# BR itself uses when no country applies; installations may pass their own.
DEFAULT_COUNTRY = "XX"


@dataclass(frozen=True)
class CaMaterial:
    certificate: x509.Certificate
    private_key: CaPrivateKey


@dataclass(frozen=True)
class BuiltinHierarchy:
    root: CaMaterial
    rsa_intermediate: CaMaterial
    ecdsa_intermediate: CaMaterial


def ca_subject(common_name: str, organization: str, country: str = DEFAULT_COUNTRY) -> x509.Name:
    """C, O, CN in the order BR 7.1.4.1 prescribes."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_key_usage(*, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _not_before(now: datetime) -> datetime:
    return (now - _NOT_BEFORE_BACKDATING).astimezone(UTC).replace(microsecond=0)


def _inclusive_end(not_before: datetime, validity: timedelta) -> datetime:
    # RFC 5280 validity includes both ends; stop one second short so the span is exactly `validity`.
    return not_before + validity - timedelta(seconds=1)


def root_certificate_builder(
    public_key: CaPublicKey, subject: x509.Name, now: datetime
) -> x509.CertificateBuilder:
    """An unsigned self-signed root (BR 7.1.2.1): CA without path length, keyCertSign+cRLSign,
    SKI and an AKI equal to it (recommended), no EKU and no policies."""
    not_before = _not_before(now)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(new_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(_inclusive_end(not_before, ROOT_VALIDITY))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(digital_signature=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )


def _root_authority_information_access(urls: CaUrls) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_issuers_url),
            )
        ]
    )


def intermediate_certificate_builder(
    public_key: CaPublicKey,
    subject: x509.Name,
    issuer_cert: x509.Certificate,
    now: datetime,
    urls: CaUrls | None,
) -> x509.CertificateBuilder:
    """An unsigned TLS issuing CA certificate under `issuer_cert` (BR 7.1.2.6).

    pathlen 0 (it issues only leaves); digitalSignature besides keyCertSign/cRLSign so it signs
    its own OCSP responses; the leaves' EKUs, since verifiers intersect EKUs along the chain; the
    DV policy, the only one its leaves carry. `urls` are the issuer's: its CRL (which lists
    revoked issuing CAs) and its certificate. Their `ocsp_url` is not used: revocation of CA
    certificates is published by the root's CRL alone (BR makes OCSP optional for CA
    certificates), so the root key is needed only when that CRL is re-signed.
    """
    not_before = _not_before(now)
    not_after = min(
        _inclusive_end(not_before, INTERMEDIATE_VALIDITY), issuer_cert.not_valid_after_utc
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(new_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(TLS_EXTENDED_KEY_USAGES)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(issuer_cert), critical=False)
        .add_extension(domain_validated_policies(), critical=False)
    )
    if urls is not None:
        builder = builder.add_extension(
            crl_distribution_points(urls.crl_url), critical=False
        ).add_extension(_root_authority_information_access(urls), critical=False)
    return builder


def _issue_intermediate(
    root: CaMaterial,
    root_signer: CaSigner,
    private_key: CaPrivateKey,
    subject: x509.Name,
    now: datetime,
    root_urls: CaUrls | None,
) -> CaMaterial:
    builder = intermediate_certificate_builder(
        private_key.public_key(), subject, root.certificate, now, root_urls
    )
    return CaMaterial(root_signer.sign_certificate(builder), private_key)


def create_builtin_hierarchy(
    *,
    now: datetime,
    organization: str = "openacm",
    installation_label: str | None = None,
    country: str = DEFAULT_COUNTRY,
    root_urls: CaUrls | None = None,
) -> BuiltinHierarchy:
    """A new root (RSA 4096) and its RSA 3072 and ECDSA P-384 issuing CAs, with software keys.

    `installation_label` ends every CA's common name, so the CAs of several installations can be
    told apart in one trust store (their names would otherwise collide); a random 8-hex-digit
    label is made when none is given. `root_urls` (the root's CRL and certificate URLs)
    go into the issuing CAs; without them the issuing CAs lack the CRL distribution point BR
    requires of a publicly trusted sub-CA, which only matters to linters.
    """
    label = installation_label if installation_label is not None else secrets.token_hex(4)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=ROOT_RSA_KEY_BITS)
    root_signer = SoftwareSigner(root_key)
    root_subject = ca_subject(f"{organization} Root CA {label}", organization, country)
    root_certificate = root_signer.sign_certificate(
        root_certificate_builder(root_key.public_key(), root_subject, now)
    )
    root = CaMaterial(root_certificate, root_key)

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=INTERMEDIATE_RSA_KEY_BITS)
    ecdsa_key = ec.generate_private_key(ec.SECP384R1())
    rsa_subject = ca_subject(f"{organization} RSA Issuing CA {label}", organization, country)
    ecdsa_subject = ca_subject(f"{organization} ECDSA Issuing CA {label}", organization, country)
    return BuiltinHierarchy(
        root=root,
        rsa_intermediate=_issue_intermediate(
            root, root_signer, rsa_key, rsa_subject, now, root_urls
        ),
        ecdsa_intermediate=_issue_intermediate(
            root, root_signer, ecdsa_key, ecdsa_subject, now, root_urls
        ),
    )
