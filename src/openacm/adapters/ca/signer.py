"""Who holds a CA's private key, and how a to-be-signed structure gets its signature.

A `CaSigner` signs certificates, CRLs and OCSP responses for one CA. `SoftwareSigner` holds a
cryptography private key (opened from its envelope-sealed form); the PKCS#11 signer
(`pkcs11.py`) keeps the key in a token and never sees it. Callers build with cryptography's
builders and hand the builder over; they never touch the key.
"""

from __future__ import annotations

from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

CaPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
CaPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def signature_hash_for(public_key: CaPublicKey) -> hashes.SHA256 | hashes.SHA384:
    """The digest a CA key signs with: SHA-384 for P-384 and larger curves (CA/B BR 7.1.3.2),
    SHA-256 otherwise."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


class CaSigner(Protocol):
    """The signing half of a CA."""

    @property
    def public_key(self) -> CaPublicKey: ...

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate: ...

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList: ...

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse: ...


class SoftwareSigner:
    """A CA key held in memory (decrypted from the store only for the process's lifetime)."""

    def __init__(self, private_key: CaPrivateKey) -> None:
        self._private_key = private_key
        self._hash = signature_hash_for(private_key.public_key())

    @property
    def public_key(self) -> CaPublicKey:
        return self._private_key.public_key()

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self._private_key, self._hash)

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        return builder.sign(self._private_key, self._hash)

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        return builder.sign(self._private_key, self._hash)
