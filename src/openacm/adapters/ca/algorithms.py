"""Private CA keys and signatures: every KeyAlgorithm and SigningAlgorithm of the ACM-PCA model.

Which signing algorithm goes with which key is a domain rule (`domain/pca.py`); this module
generates the keys and turns a SigningAlgorithm name into what cryptography's builders take
(digest, RSA padding, or nothing for ML-DSA, which signs the message itself).

SM2 keys and SM3WITHSM2 signatures exist in the model for AWS's China regions; cryptography
has no SM2, so they are refused before anything reaches this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import ocsp

from openacm.adapters.ca.signer import CaPrivateKey, CaPublicKey

PcaPrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey
    | mldsa.MLDSA87PrivateKey
)
PcaPublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | mldsa.MLDSA44PublicKey
    | mldsa.MLDSA65PublicKey
    | mldsa.MLDSA87PublicKey
)
Digest = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "EC_prime256v1": ec.SECP256R1,
    "EC_secp384r1": ec.SECP384R1,
    "EC_secp521r1": ec.SECP521R1,
}
_DIGESTS: dict[str, type[Digest]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


class UnsupportedAlgorithmError(ValueError):
    """A KeyAlgorithm or SigningAlgorithm this installation cannot produce (SM2)."""


def generate_private_key(key_algorithm: str) -> PcaPrivateKey:
    """A fresh key pair for one KeyAlgorithm of the model."""
    if key_algorithm in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_algorithm])
    if key_algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[key_algorithm]())
    if key_algorithm == "ML_DSA_44":
        return mldsa.MLDSA44PrivateKey.generate()
    if key_algorithm == "ML_DSA_65":
        return mldsa.MLDSA65PrivateKey.generate()
    if key_algorithm == "ML_DSA_87":
        return mldsa.MLDSA87PrivateKey.generate()
    raise UnsupportedAlgorithmError(f"no key generation for {key_algorithm}")


def private_key_der(key: PcaPrivateKey) -> bytes:
    """PKCS#8 DER, the form that is sealed into the store."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(der: bytes) -> PcaPrivateKey:
    """A CA's key as unsealed from the store. openacm generated it, and the envelope's
    authenticated encryption (bound to the CA) proves it unchanged: OpenSSL's full RSA key
    check (a quarter of a second for RSA-4096, paid by every process that opens the CA)
    would prove nothing more."""
    key = serialization.load_der_private_key(
        der, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | mldsa.MLDSA44PrivateKey
        | mldsa.MLDSA65PrivateKey
        | mldsa.MLDSA87PrivateKey,
    ):
        raise UnsupportedAlgorithmError(f"a {type(key).__name__} is not a private CA key")
    return key


def public_key_der(key: CertificatePublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER: what two keys are compared by."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class SignatureScheme:
    """What cryptography's `sign` takes for one SigningAlgorithm."""

    digest: Digest | None
    rsa_padding: padding.PSS | padding.PKCS1v15 | None

    @classmethod
    def of(cls, signing_algorithm: str) -> SignatureScheme:
        if signing_algorithm.startswith("ML_DSA_"):
            return cls(None, None)
        digest_name, _, family = signing_algorithm.partition("WITH")
        if digest_name not in _DIGESTS or family not in ("RSA", "RSA_PSS", "ECDSA"):
            raise UnsupportedAlgorithmError(f"no signature scheme for {signing_algorithm}")
        digest = _DIGESTS[digest_name]()
        if family == "RSA_PSS":
            # RFC 4055: the MGF1 digest and the salt length follow the message digest.
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return cls(digest, pss)
        return cls(digest, padding.PKCS1v15() if family == "RSA" else None)


class PrivateCaSigner:
    """A private CA's key in memory, signing with the CA's SigningAlgorithm.

    It offers the `CaSigner` operations of `signer.py` (certificates, CRLs, OCSP responses)
    and CSRs; `public_key` may also be an ML-DSA key, which `CaSigner` does not name.
    """

    def __init__(self, private_key: PcaPrivateKey, signing_algorithm: str) -> None:
        self._private_key = private_key
        self.signing_algorithm = signing_algorithm
        self._scheme = SignatureScheme.of(signing_algorithm)

    @property
    def public_key(self) -> PcaPublicKey:
        return self._private_key.public_key()

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        scheme = self._scheme
        return builder.sign(self._private_key, scheme.digest, rsa_padding=scheme.rsa_padding)

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        scheme = self._scheme
        return builder.sign(self._private_key, scheme.digest, rsa_padding=scheme.rsa_padding)

    def sign_csr(
        self, builder: x509.CertificateSigningRequestBuilder
    ) -> x509.CertificateSigningRequest:
        scheme = self._scheme
        return builder.sign(self._private_key, scheme.digest, rsa_padding=scheme.rsa_padding)

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        # cryptography's OCSP builder has no RSA-PSS padding: a PSS CA's responses are
        # signed PKCS#1 v1.5 with the same digest (docs/private-ca.md).
        return builder.sign(self._private_key, self._scheme.digest)


class ClassicCaSigner(PrivateCaSigner):
    """A private CA with an RSA or EC key: also a `CaSigner` of `signer.py`, so the CRL and
    OCSP code written for the builtin CA (`revocation.build_crl`, `OcspResponder`) signs for
    it unchanged, with the private CA's SigningAlgorithm."""

    def __init__(self, private_key: CaPrivateKey, signing_algorithm: str) -> None:
        super().__init__(private_key, signing_algorithm)
        self._classic_key = private_key

    @property
    def public_key(self) -> CaPublicKey:
        return self._classic_key.public_key()


def private_ca_signer(private_key: PcaPrivateKey, signing_algorithm: str) -> PrivateCaSigner:
    """The signer of a private CA's key: a `ClassicCaSigner` (a `CaSigner`) for RSA and EC."""
    if isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return ClassicCaSigner(private_key, signing_algorithm)
    return PrivateCaSigner(private_key, signing_algorithm)
