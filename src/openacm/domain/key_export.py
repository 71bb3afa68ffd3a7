"""ExportCertificate's rules: which certificates may leave with their key, what a passphrase
may hold, and the form of the exported key.

The key leaves as PKCS#8 `ENCRYPTED PRIVATE KEY`: PBES2 with PBKDF2 (2,048 iterations,
HMAC-SHA256, a random 16-byte salt) and AES-256-CBC, which is what `openssl pkcs8 -topk8
-v2 aes-256-cbc` writes with OpenSSL 3 and what `openssl pkcs8 -passin` or `openssl rsa`/`ec`
read. ACM's own exports (the user guide's example, decoded) use the same scheme with the
older HMAC-SHA1 PRF; every tool that reads one reads the other.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from openacm.domain.errors import ValidationError

# The API reference: "you can use any ASCII character except #, $, or %".
FORBIDDEN_PASSPHRASE_CHARACTERS = frozenset(b"#$%")


def check_export_passphrase(passphrase: bytes) -> None:
    """ValidationException unless every byte is ASCII and none is #, $ or %. (Its length,
    4 to 128 bytes, is the model's constraint and checked with the request.)"""
    if any(byte > 0x7F or byte in FORBIDDEN_PASSPHRASE_CHARACTERS for byte in passphrase):
        raise ValidationError("The passphrase can contain any ASCII character except #, $, or %.")


def encrypted_private_key_pem(key: PrivateKeyTypes, passphrase: bytes) -> str:
    """`key` as PEM `ENCRYPTED PRIVATE KEY` under `passphrase` (see the module's docstring)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    ).decode("ascii")
