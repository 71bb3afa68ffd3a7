"""Ed25519 keys and EdDSA signatures in josepy (protocol/eddsa.py), with RFC 8037's example."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from josepy.jwk import JWK

from openacm.domain.acme_server import b64url
from openacm.protocol.acme import AcmeJws
from openacm.protocol.eddsa import JWKOKP, EdDSA

# RFC 8037 appendix A.1 and A.3: the example key and its thumbprint.
RFC8037_KEY = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}


def test_rfc8037_key_and_thumbprint() -> None:
    key = JWK.from_json(RFC8037_KEY)
    assert isinstance(key, JWKOKP)
    assert b64url(key.thumbprint()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert key.public_key().to_json() == {k: v for k, v in RFC8037_KEY.items() if k != "d"}


def test_rfc8037_signature() -> None:
    # A.4: the signature of "Example of Ed25519 signing" under the protected {"alg":"EdDSA"}.
    key = JWK.from_json(RFC8037_KEY)
    signature = key.key.sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
    assert b64url(signature) == (
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    )


def test_jws_round_trip_and_tampering() -> None:
    key = JWKOKP(key=Ed25519PrivateKey.generate())
    jws = AcmeJws.sign(
        b'{"a":1}', key=key, alg=EdDSA, protect=frozenset(["alg", "jwk"]), jwk=key.public_key()
    )
    body = json.loads(json.dumps(jws.to_partial_json(flat=True), default=AcmeJws.json_dump_default))
    parsed = AcmeJws.from_json(body)
    assert parsed.verify(parsed.signature.combined.jwk)
    body["payload"] = b64url(b'{"a":2}')
    tampered = AcmeJws.from_json(body)
    assert not tampered.verify(tampered.signature.combined.jwk)
    other = JWKOKP(key=Ed25519PrivateKey.generate()).public_key()
    assert not parsed.verify(other)
