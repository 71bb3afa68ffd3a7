"""Where private CA keys live, and how this process opens them.

`[issuance] private_ca_key_storage` chooses for new CAs: "envelope" (the default: generated in
memory, sealed at once under the master key with the CA's ARN as associated data) or "pkcs11"
(generated inside the installation's token, the one the builtin CA's settings name, and never
outside it). Each CA records where its key is, so changing the setting affects only CAs
created afterwards.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from openacm.adapters.ca.algorithms import (
    PcaPrivateKey,
    PrivateCaSigner,
    SignatureScheme,
    generate_private_key,
    load_private_key,
    private_ca_signer,
    private_key_der,
)
from openacm.adapters.ca.pkcs11 import Pkcs11PrivateCaSigner, Pkcs11Token
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.pca import PrivateCaRecord
from openacm.config import IssuanceSettings
from openacm.domain import pca
from openacm.domain.arn import parse_arn
from openacm.domain.errors import InvalidStateError
from openacm.services.pki.builtin_ca import pkcs11_config

ENVELOPE = "envelope"
PKCS11 = "pkcs11"


def private_ca_key_label(arn: str) -> str:
    """The token label of a private CA's key pair: unique per CA, readable in pkcs11-tool."""
    return f"openacm-pca-{parse_arn(arn).resource_id}"


class PrivateCaKeys:
    def __init__(self, cipher: EnvelopeCipher, issuance: IssuanceSettings) -> None:
        if issuance.private_ca_key_storage not in (ENVELOPE, PKCS11):
            raise ValueError(
                "[issuance] private_ca_key_storage must be envelope or pkcs11, not "
                f"{issuance.private_ca_key_storage!r}"
            )
        self.cipher = cipher
        self.issuance = issuance
        self._token: Pkcs11Token | None = None
        self._token_lock = threading.Lock()
        self._keys: dict[str, PcaPrivateKey] = {}
        self._cache_lock = threading.Lock()

    @property
    def storage(self) -> str:
        """Where a CA created now keeps its key."""
        return self.issuance.private_ca_key_storage

    def check_supported(self, key_algorithm: str, signing_algorithm: str) -> None:
        """Refuse, before anything is written, what the configured storage cannot hold."""
        if self.storage == PKCS11:
            pca.check_token_algorithms(key_algorithm, signing_algorithm)

    def create(
        self, record: PrivateCaRecord, csr_builder: x509.CertificateSigningRequestBuilder
    ) -> dict[str, Any]:
        """Generate the CA's key pair where it is to live and sign its CSR; the changes that
        record both."""
        if self.storage == PKCS11:
            label = private_ca_key_label(record.arn)
            self.token().generate_key(label, record.key_algorithm)
            signer = self._token_signer(label, record.signing_algorithm)
            csr = signer.sign_csr(csr_builder)
            return {"key_storage": PKCS11, "csr_pem": _pem(csr)}
        key = generate_private_key(record.key_algorithm)
        csr = PrivateCaSigner(key, record.signing_algorithm).sign_csr(csr_builder)
        return {
            "key_storage": ENVELOPE,
            "key_sealed": self.cipher.seal(private_key_der(key), record.arn),
            "csr_pem": _pem(csr),
        }

    def signer(
        self, record: PrivateCaRecord, signing_algorithm: str | None = None
    ) -> PrivateCaSigner:
        """The CA's key signing with `signing_algorithm` (default: the CA's own)."""
        algorithm = signing_algorithm or record.signing_algorithm
        if record.key_storage == PKCS11:
            pca.check_token_algorithms(record.key_algorithm, algorithm)
            return self._token_signer(private_ca_key_label(record.arn), algorithm)
        return private_ca_signer(self._software_key(record), algorithm)

    def _software_key(self, record: PrivateCaRecord) -> PcaPrivateKey:
        """The unsealed key, kept for the life of the process: unsealing costs a key unwrap,
        which would otherwise be paid on every signature. A CA's key never changes (its ARN
        is the sealed key's associated data), so the cache needs no invalidation."""
        with self._cache_lock:
            key = self._keys.get(record.arn)
        if key is not None:
            return key
        if record.key_sealed is None:
            raise InvalidStateError(
                "The certificate authority is not in a valid state for issuance."
            )
        key = load_private_key(self.cipher.open(record.key_sealed, record.arn))
        with self._cache_lock:
            self._keys[record.arn] = key
        return key

    def destroy(self, record: PrivateCaRecord) -> None:
        """Remove a permanently deleted CA's key from the token (a sealed key goes with its
        row)."""
        if record.key_storage == PKCS11:
            self.token().destroy_key(private_ca_key_label(record.arn))

    def token(self) -> Pkcs11Token:
        """This process's session on the token, opened on first use."""
        with self._token_lock:
            if self._token is None:
                self._token = Pkcs11Token(pkcs11_config(self.issuance))
            return self._token

    def _token_signer(self, label: str, signing_algorithm: str) -> Pkcs11PrivateCaSigner:
        digest = SignatureScheme.of(signing_algorithm).digest
        assert digest is not None  # token algorithms are RSA PKCS#1 v1.5 or ECDSA
        return Pkcs11PrivateCaSigner(self.token().signer(label, digest), signing_algorithm)


def _pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(Encoding.PEM).decode()
