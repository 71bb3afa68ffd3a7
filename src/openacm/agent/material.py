"""What the agent writes: the certificate, chain and full chain as PEM, the key as unencrypted
PKCS#8 PEM (what nginx, HAProxy, Envoy and OpenSSL read), and PKCS#12 under the configured
passphrase. Pure: bytes in, bytes out; keys stay in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

# The key types PKCS#12 carries (pkcs12.PKCS12PrivateKeyTypes, as classes for isinstance).
_PKCS12_KEYS = (
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


class MaterialError(ValueError):
    """What the API handed over is not usable (a key that does not match, say)."""


@dataclass(frozen=True)
class Material:
    """One certificate as fetched: its PEM, its chain, and its key when exported."""

    certificate_pem: str
    chain_pem: str
    private_key: PrivateKeyTypes | None = None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    @property
    def serial(self) -> str:
        """As DescribeCertificate shows it: lowercase hex octets joined by colons."""
        raw = self.certificate.serial_number.to_bytes(
            (self.certificate.serial_number.bit_length() + 7) // 8 or 1, "big"
        )
        return ":".join(f"{byte:02x}" for byte in raw)


def decrypt_exported_key(encrypted_pem: str, passphrase: bytes) -> PrivateKeyTypes:
    """The PKCS#8 ENCRYPTED PRIVATE KEY of ExportCertificate, opened in memory."""
    try:
        return serialization.load_pem_private_key(encrypted_pem.encode(), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise MaterialError(f"the exported key could not be decrypted: {exc}") from None


def check_key_matches(material: Material) -> None:
    """Never deploy a key with a certificate it does not sign for."""
    if material.private_key is None:
        return
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = material.private_key.public_key().public_bytes(serialization.Encoding.DER, spki)
    theirs = material.certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    if ours != theirs:
        raise MaterialError("the exported key does not match the certificate")


def render(kind: str, material: Material, pkcs12_passphrase: bytes | None = None) -> bytes:
    """The bytes of one configured file kind (config.FILE_KINDS)."""
    certificate = _pem_block(material.certificate_pem)
    chain = _pem_block(material.chain_pem)
    if kind == "certificate":
        return certificate
    if kind == "chain":
        return chain
    if kind == "fullchain":
        return certificate + chain
    if material.private_key is None:
        raise MaterialError(f"{kind}: no key was exported")
    if kind == "key":
        return material.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    if kind == "pkcs12":
        if not pkcs12_passphrase:
            raise MaterialError("pkcs12: no passphrase")
        return _pkcs12(material, pkcs12_passphrase)
    raise MaterialError(f"unknown file kind {kind}")


def _pkcs12(material: Material, passphrase: bytes) -> bytes:
    key = material.private_key
    if not isinstance(key, _PKCS12_KEYS):
        raise MaterialError("pkcs12: this key type cannot go into PKCS#12")
    chain = (
        x509.load_pem_x509_certificates(material.chain_pem.encode()) if material.chain_pem else []
    )
    return pkcs12.serialize_key_and_certificates(
        name=None,
        key=key,
        cert=material.certificate,
        cas=chain,
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase),
    )


def _pem_block(text: str) -> bytes:
    """PEM text with exactly one trailing newline, so concatenations stay valid PEM."""
    stripped = text.strip()
    return (stripped + "\n").encode() if stripped else b""
