"""Ed25519 for josepy (RFC 8037): the `OKP` key type and the `EdDSA` JWS algorithm.

josepy 2 has neither; these plug them into its registries, so ACME requests signed with an
Ed25519 account key are parsed and verified by josepy's JWS code like the others. The
signature itself is cryptography's Ed25519 (RFC 8032), never hand-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from josepy import errors, json_util
from josepy.jwa import JWASignature
from josepy.jwk import JWK

RAW = serialization.Encoding.Raw


@JWK.register
class JWKOKP(JWK):
    """An Octet Key Pair JWK of curve Ed25519 (RFC 8037 §2)."""

    typ = "OKP"
    __slots__ = ("key",)
    cryptography_key_types = (Ed25519PublicKey, Ed25519PrivateKey)
    required = ("crv", JWK.type_field_name, "x")
    key: Any

    def fields_to_partial_json(self) -> dict[str, Any]:
        public = self.key.public_key() if isinstance(self.key, Ed25519PrivateKey) else self.key
        fields = {
            "crv": "Ed25519",
            "x": json_util.encode_b64jose(public.public_bytes(RAW, serialization.PublicFormat.Raw)),
        }
        if isinstance(self.key, Ed25519PrivateKey):
            raw = self.key.private_bytes(
                RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            fields["d"] = json_util.encode_b64jose(raw)
        return fields

    @classmethod
    def fields_from_json(cls, jobj: Mapping[str, Any]) -> JWKOKP:
        if jobj.get("crv") != "Ed25519":
            raise errors.DeserializationError("only the Ed25519 curve is supported")
        try:
            if "d" in jobj:
                raw = json_util.decode_b64jose(jobj["d"])
                return cls(key=Ed25519PrivateKey.from_private_bytes(raw))
            return cls(key=Ed25519PublicKey.from_public_bytes(json_util.decode_b64jose(jobj["x"])))
        except ValueError as exc:
            raise errors.DeserializationError(str(exc)) from exc

    def public_key(self) -> JWKOKP:
        if isinstance(self.key, Ed25519PrivateKey):
            return type(self)(key=self.key.public_key())
        return self


class _JWAEdDSA(JWASignature):
    kty = JWKOKP

    def sign(self, key: Any, msg: bytes) -> bytes:
        if not isinstance(key, Ed25519PrivateKey):
            raise errors.Error("EdDSA signs with an Ed25519 private key")
        return key.sign(msg)

    def verify(self, key: Any, msg: bytes, sig: bytes) -> bool:
        if not isinstance(key, Ed25519PublicKey):
            return False
        try:
            key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


EdDSA = JWASignature.register(_JWAEdDSA("EdDSA"))
