"""Leaf key pairs for AMAZON_ISSUED certificates: generated on demand, or taken from a pool
of pre-generated RSA keys (RSA generation costs tens of milliseconds; a burst of requests
should not wait for it)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.services.pki.keygen import RsaKeyProcess

LeafPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
POOLED_ALGORITHMS = ("RSA_2048",)
_CURVES: dict[str, ec.EllipticCurve] = {
    "EC_prime256v1": ec.SECP256R1(),
    "EC_secp384r1": ec.SECP384R1(),
    "EC_secp521r1": ec.SECP521R1(),
}
_POOL_CONTEXT = "key-pool"


def generate_leaf_key(key_algorithm: str) -> LeafPrivateKey:
    if key_algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[key_algorithm])
    if key_algorithm.startswith("RSA_"):
        return rsa.generate_private_key(65537, int(key_algorithm.removeprefix("RSA_")))
    raise ValueError(f"no key generation for {key_algorithm}")


def private_key_der(key: LeafPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LeafKeys:
    def __init__(self, db: Database, cipher: EnvelopeCipher, pool_size: int) -> None:
        self.db = db
        self.cipher = cipher
        self.pool_size = pool_size
        self._rsa = RsaKeyProcess()

    def generate(self, key_algorithm: str) -> LeafPrivateKey:
        """A new key pair; RSA ones come from this process's key process (keygen.py)."""
        if key_algorithm.startswith("RSA_"):
            return self._rsa.generate(int(key_algorithm.removeprefix("RSA_")))
        return generate_leaf_key(key_algorithm)

    def close(self) -> None:
        self._rsa.close()

    def take_many(self, key_algorithm: str, count: int) -> list[LeafPrivateKey]:
        """`count` fresh key pairs: as many as the pool holds (taken in one transaction),
        the rest generated now."""
        keys: list[LeafPrivateKey] = []
        if count and self.pool_size and key_algorithm in POOLED_ALGORITHMS:
            with self.db.write() as conn:
                taken = AuthorityStore(conn).take_pooled_keys(key_algorithm, count)
            keys = [self._open(key_algorithm, sealed) for _key_id, sealed in taken]
        keys += [self.generate(key_algorithm) for _ in range(count - len(keys))]
        return keys

    def _open(self, key_algorithm: str, sealed: bytes) -> LeafPrivateKey:
        der = self.cipher.open(sealed, f"{_POOL_CONTEXT}:{key_algorithm}")
        # The key is one openacm generated, and the envelope's authenticated encryption
        # (bound to this context) proves it is unchanged: OpenSSL's full RSA key check
        # (about 80 ms on OpenSSL 4, longer than generating the key) would prove nothing more.
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return key

    def refill(self, *, now: float, limit: int = 8) -> int:
        """Top the pool up by at most `limit` keys; returns how many were added."""
        if not self.pool_size:
            return 0
        added = 0
        for algorithm in POOLED_ALGORITHMS:
            with self.db.read() as conn:
                missing = self.pool_size - AuthorityStore(conn).pooled_key_count(algorithm)
            for _ in range(max(0, min(missing, limit - added))):
                sealed = self.cipher.seal(
                    private_key_der(self.generate(algorithm)),
                    f"{_POOL_CONTEXT}:{algorithm}",
                )
                with self.db.write() as conn:
                    AuthorityStore(conn).add_pooled_key(algorithm, sealed, now)
                added += 1
        return added
