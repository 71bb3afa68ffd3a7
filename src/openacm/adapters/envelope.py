"""Envelope encryption of secrets at rest: private keys and access-key secrets.

Each secret is sealed with its own AES-256-GCM data key; the data key is wrapped by the
master key (AES-256-GCM too), and both ciphertexts carry the caller's context (the owning
ARN or key id) as associated data, so a sealed blob moved to another row does not open.

Blob layout (all fixed sizes, so no parsing ambiguity):
    magic "OAE1" | master key id (8) | dek nonce (12) | wrapped dek (32 + 16 tag)
    | data nonce (12) | ciphertext + tag
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OAE1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 8
WRAPPED_DEK_BYTES = KEY_BYTES + 16
MASTER_KEY_ENV = "OPENACM_MASTER_KEY"


class MasterKeyError(Exception):
    """The master key is missing, malformed or not the one the data was sealed with."""


class MasterKey:
    """The key-encryption key. Never leaves this object; its id is a hash prefix."""

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(material)
        self.key_id = hashlib.sha256(b"openacm-master-key-id" + material).digest()[:KEY_ID_BYTES]

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """Base64 (or hex) text of 32 bytes, as kept in the key file or the environment."""
        cleaned = text.strip()
        try:
            material = bytes.fromhex(cleaned) if len(cleaned) == 2 * KEY_BYTES else b""
        except ValueError:
            material = b""
        if not material:
            try:
                material = base64.b64decode(cleaned, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MasterKeyError("the master key is neither base64 nor hex") from exc
        return cls(material)

    @classmethod
    def load_or_create(cls, path: Path, env_value: str | None = None) -> MasterKey:
        """The environment wins; else the file, created 0600 with a fresh key when absent."""
        if env_value:
            return cls.from_text(env_value)
        if path.exists():
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise MasterKeyError(
                    f"{path} is readable by others (mode {mode:o}); chmod 600 it first"
                )
            return cls.from_text(path.read_text())
        path.parent.mkdir(parents=True, exist_ok=True)
        material = secrets.token_bytes(KEY_BYTES)
        # O_EXCL: two processes starting at once must not both write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.from_text(path.read_text())
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(material).decode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return cls(material)

    def wrap(self, data_key: bytes, context: bytes) -> tuple[bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, data_key, context)

    def unwrap(self, nonce: bytes, wrapped: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(nonce, wrapped, context)


class EnvelopeCipher:
    def __init__(self, master_key: MasterKey) -> None:
        self._master = master_key

    def seal(self, plaintext: bytes, context: str) -> bytes:
        aad = context.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        dek_nonce, wrapped = self._master.wrap(data_key, aad)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext, aad)
        return MAGIC + self._master.key_id + dek_nonce + wrapped + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        header = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES + WRAPPED_DEK_BYTES + NONCE_BYTES
        if len(blob) < header + 16 or not blob.startswith(MAGIC):
            raise MasterKeyError("not an openacm envelope")
        offset = len(MAGIC)
        key_id = blob[offset : offset + KEY_ID_BYTES]
        if key_id != self._master.key_id:
            raise MasterKeyError("sealed with another master key")
        offset += KEY_ID_BYTES
        dek_nonce = blob[offset : offset + NONCE_BYTES]
        offset += NONCE_BYTES
        wrapped = blob[offset : offset + WRAPPED_DEK_BYTES]
        offset += WRAPPED_DEK_BYTES
        nonce = blob[offset : offset + NONCE_BYTES]
        offset += NONCE_BYTES
        aad = context.encode()
        try:
            data_key = self._master.unwrap(dek_nonce, wrapped, aad)
            return AESGCM(data_key).decrypt(nonce, blob[offset:], aad)
        except InvalidTag as exc:
            raise MasterKeyError("the envelope does not open for this context") from exc
