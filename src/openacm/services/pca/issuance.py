"""The issuing core of a private CA: sign a certificate and record it, inside the caller's
transaction.

Two callers: ACM-PCA's IssueCertificate (`services/pca/certificates.py`) and ACM's
RequestCertificate with a CertificateAuthorityArn, which issues from inside its own write
transaction. Both go through `PrivateCertificateIssuer.issue`; the state of the CA and the
caller's rights are the caller's to check (`CertificateAuthorities.load`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from openacm.adapters.ca.algorithms import (
    PrivateCaSigner,
    public_key_der,
)
from openacm.adapters.ca.private_issuance import (
    PrivateCertificateRequest,
    RevocationUrls,
    build_private_certificate,
    ca_validity_limits,
    load_csr,
)
from openacm.adapters.store.pca import IssuedCertificate, IssuedCertificateStore, PrivateCaRecord
from openacm.adapters.store.pca_operations import PcaIssuanceStore, ca_id_of
from openacm.domain import pca
from openacm.domain.errors import InvalidArgsError, InvalidStateError, LimitExceededError
from openacm.domain.pca_templates import template_for_arn
from openacm.domain.pca_validity import (
    ValidityPeriod,
    ValidityWindow,
    certificate_validity_window,
)
from openacm.services.pca.keys import PrivateCaKeys

__all__ = [
    "DEFAULT_CERTIFICATES_PER_CA",
    "IssuedPrivateCertificate",
    "PrivateCertificateIssuer",
    "certificate_arn",
    "issuing_certificate",
    "random_serial_number",
    "revocation_urls",
    "serial_of_certificate_arn",
    "validity_window",
]

# AWS's default quota: "Certificates issued per private CA (lifetime)".
DEFAULT_CERTIFICATES_PER_CA: Final = 1_000_000
# Serial numbers: 127 random bits (CA/B BR 7.1 asks for at least 64), positive, and at most
# 16 octets in DER, like AWS's.
_SERIAL_BITS: Final = 127


@dataclass(frozen=True)
class IssuedPrivateCertificate:
    certificate: x509.Certificate
    chain_pem: str  # the issuing CA's chain, PEM, leaf excluded (CA cert first, up to the root)
    serial: str  # lowercase hex
    certificate_arn: str

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode()


def certificate_arn(ca_arn: str, serial: str) -> str:
    """`<ca arn>/certificate/<serial hex>`, AWS's form."""
    return f"{ca_arn}/certificate/{serial}"


def serial_of_certificate_arn(ca_arn: str, arn: str) -> str | None:
    """The serial an ARN of `certificate_arn`'s form names under `ca_arn`, else None."""
    prefix = f"{ca_arn}/certificate/"
    if not arn.startswith(prefix):
        return None
    serial = arn[len(prefix) :].lower()
    if not serial or any(c not in "0123456789abcdef" for c in serial):
        return None
    return serial


def random_serial_number() -> int:
    return secrets.randbits(_SERIAL_BITS) | 1 << (_SERIAL_BITS - 1)


def serial_hex(serial_number: int) -> str:
    return format(serial_number, "x")


def revocation_urls(ca: PrivateCaRecord, public_base_url: str) -> RevocationUrls:
    """The CRL distribution point and OCSP URL the CA's RevocationConfiguration asks for.

    openacm serves both itself: `<base>/crl/<ca id>.crl` and `<base>/ocsp/<ca id>`, where
    `<base>` is `http://<CustomCname>` (`http://<OcspCustomCname>`) when one is configured —
    the name is expected to point at openacm's PKI port — else the server's public URL. An
    S3BucketName changes nothing: openacm writes nothing to S3 (docs/private-ca.md)."""
    ca_id = ca_id_of(ca.arn)
    crl = ca.revocation.get("CrlConfiguration") or {}
    ocsp = ca.revocation.get("OcspConfiguration") or {}
    crl_url = None
    omitted = (crl.get("CrlDistributionPointExtensionConfiguration") or {}).get("OmitExtension")
    if crl.get("Enabled") and not omitted:
        base = f"http://{crl['CustomCname']}" if crl.get("CustomCname") else public_base_url
        crl_url = f"{base}/crl/{ca_id}.crl"
    ocsp_url = None
    if ocsp.get("Enabled"):
        cname = ocsp.get("OcspCustomCname")
        base = f"http://{cname}" if cname else public_base_url
        ocsp_url = f"{base}/ocsp/{ca_id}"
    return RevocationUrls(crl_url=crl_url, ocsp_url=ocsp_url)


def issuing_certificate(ca: PrivateCaRecord, template_arn: str | None) -> x509.Certificate | None:
    """The certificate that will issue: None for the root templates (the CA signs its own
    CSR, which a CA still PENDING_CERTIFICATE may do), else the CA's certificate."""
    if template_for_arn(template_arn).self_signed:
        return None
    if ca.certificate_pem is None:
        raise InvalidStateError("The certificate authority is not in a valid state for issuance.")
    return x509.load_pem_x509_certificate(ca.certificate_pem.encode())


def validity_window(
    ca: PrivateCaRecord,
    template_arn: str | None,
    validity: ValidityPeriod,
    not_before: ValidityPeriod | None,
    *,
    now: float,
) -> ValidityWindow:
    """Validity / ValidityNotBefore resolved against the issuing CA's own window and usage mode."""
    limits = ca_validity_limits(
        issuing_certificate(ca, template_arn),
        short_lived=ca.usage_mode == "SHORT_LIVED_CERTIFICATE",
    )
    return certificate_validity_window(
        validity, not_before, issued_at=datetime.fromtimestamp(now, UTC), ca=limits
    )


def _chain_of(ca: PrivateCaRecord, issuer: x509.Certificate | None) -> str:
    if issuer is None or ca.certificate_pem is None:
        return ""  # a self-signed certificate is its own chain
    parts = [ca.certificate_pem, ca.chain_pem or ""]
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts if part)


class PrivateCertificateIssuer:
    """Signs certificates for private CAs. One per PcaService (and so per process), with the
    service's `PrivateCaKeys`, which keeps each CA's unsealed key (or token session) open."""

    def __init__(
        self,
        keys: PrivateCaKeys,
        public_base_url: str,
        *,
        certificates_per_ca: int = DEFAULT_CERTIFICATES_PER_CA,
    ) -> None:
        self.keys = keys
        self.public_base_url = public_base_url.rstrip("/")
        self.certificates_per_ca = certificates_per_ca

    def signer(self, ca: PrivateCaRecord, signing_algorithm: str | None = None) -> PrivateCaSigner:
        """The CA's key signing with `signing_algorithm` (default: the CA's own)."""
        return self.keys.signer(ca, signing_algorithm)

    def issued_count(self, conn: Connection, ca_arn: str) -> int:
        """Certificates the CA issued in its lifetime (the quota's count)."""
        return PcaIssuanceStore(conn).issued_count(ca_arn)

    def issue(
        self,
        conn: Connection,
        ca: PrivateCaRecord,
        request: PrivateCertificateRequest,
        *,
        signing_algorithm: str,
        now: float,
    ) -> IssuedPrivateCertificate:
        """Sign and record (IssuedCertificateStore insert, counter) inside the caller's
        transaction. Raises the ACM-PCA errors: InvalidArgs (algorithm, template, passthrough),
        MalformedCSR, LimitExceeded (lifetime quota), InvalidState (a CA without key or
        certificate)."""
        pca.check_algorithms(ca.key_algorithm, signing_algorithm, ca.region)
        issuer = issuing_certificate(ca, request.template_arn)
        signer = self.signer(ca, signing_algorithm)
        if issuer is None:
            self._check_own_csr(ca, request.csr, signer)
        # 127 random bits: a repeat within one CA is beyond any practical chance (2^-127 per
        # pair); the primary key (ca_arn, serial) would refuse one rather than store it.
        serial_number = random_serial_number()
        builder = build_private_certificate(
            request,
            issuer=issuer,
            serial_number=serial_number,
            revocation=revocation_urls(ca, self.public_base_url),
        )
        certificate = signer.sign_certificate(builder)
        # Only a sound, signed request takes a place of the quota: a caller that goes on with
        # its transaction after a refusal has counted nothing, and the CA's counter row stays
        # locked (PostgreSQL) for the insert and commit only, not for the signature.
        if not PcaIssuanceStore(conn).reserve(ca.arn, self.certificates_per_ca):
            raise LimitExceededError(
                f"The certificate authority {ca.arn} has reached its limit of "
                f"{self.certificates_per_ca} issued certificates."
            )
        serial = serial_hex(serial_number)
        issued = IssuedPrivateCertificate(
            certificate=certificate,
            chain_pem=_chain_of(ca, issuer),
            serial=serial,
            certificate_arn=certificate_arn(ca.arn, serial),
        )
        IssuedCertificateStore(conn).insert(
            IssuedCertificate(
                ca_arn=ca.arn,
                serial=serial,
                certificate_arn=issued.certificate_arn,
                certificate_pem=issued.certificate_pem,
                issued_at=now,
                not_before=certificate.not_valid_before_utc.timestamp(),
                not_after=certificate.not_valid_after_utc.timestamp(),
            )
        )
        return issued

    @staticmethod
    def _check_own_csr(ca: PrivateCaRecord, csr: bytes, signer: PrivateCaSigner) -> None:
        # A root template signs with the CA's key as the issuer of a certificate for the CSR's
        # key: any other key would make a "self-signed" certificate that verifies with nothing.
        # A subordinate's self-signed certificate could never be imported (it needs a chain).
        if ca.ca_type != "ROOT":
            raise InvalidArgsError(
                "The RootCACertificate template can only be used by a ROOT certificate authority."
            )
        if public_key_der(load_csr(csr).public_key()) != public_key_der(signer.public_key):
            raise InvalidArgsError(
                "The RootCACertificate template can only sign the certificate authority's own "
                "certificate signing request."
            )
