"""A small ACME client for the tests that need to send what real clients never do: replayed
nonces, bad signatures, other accounts' URLs. Requests are signed with josepy, like certbot's."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from josepy import jwa
from josepy.jwk import JWK, JWKEC, JWKRSA, JWKOct

from openacm.domain.acme_server import b64url
from openacm.protocol.acme import AcmeJws
from openacm.protocol.eddsa import JWKOKP, EdDSA


def ec_key(curve: ec.EllipticCurve | None = None) -> JWK:
    return JWKEC(key=ec.generate_private_key(curve or ec.SECP256R1()))


def ed25519_key() -> JWK:
    return JWKOKP(key=Ed25519PrivateKey.generate())


def rsa_key() -> JWK:
    return JWKRSA(key=rsa.generate_private_key(65537, 2048))


ALGORITHM_OF = {"P-256": jwa.ES256, "P-384": jwa.ES384}


ROLE_ARN = "arn:aws:iam::123456789012:role/acme-clients"


@dataclass(frozen=True)
class Endpoint:
    """An ACME endpoint of a test, with the credentials of one external account binding."""

    arn: str
    url: str
    eab: tuple[str, str]  # (KeyId, MacKey)
    binding_arn: str

    def client(self, key: JWK | None = None) -> AcmeTestClient:
        return AcmeTestClient(self.url, key or ec_key(), eab=self.eab)


def create_endpoint(acm: Any, **create_args: Any) -> Endpoint:
    """CreateAcmeEndpoint (PRE_APPROVED, the builtin CA unless said), one binding, its
    credentials."""
    args: dict[str, Any] = {
        "AuthorizationBehavior": "PRE_APPROVED",
        "CertificateAuthority": {"PublicCertificateAuthority": {}},
        **create_args,
    }
    arn = acm.create_acme_endpoint(**args)["AcmeEndpointArn"]
    url = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]["EndpointUrl"]
    binding = acm.create_acme_external_account_binding(AcmeEndpointArn=arn, RoleArn=ROLE_ARN)
    binding_arn = binding["ExternalAccountBinding"]["AcmeExternalAccountBindingArn"]
    credentials = acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=binding_arn
    )
    return Endpoint(arn, url, (credentials["KeyId"], credentials["MacKey"]), binding_arn)


def binding_jws(key: JWK, url: str, kid: str, mac_key_b64: str) -> dict[str, Any]:
    """The externalAccountBinding of a newAccount payload (RFC 8555 §7.3.4)."""
    mac = JWKOct(key=base64.urlsafe_b64decode(mac_key_b64 + "=" * (-len(mac_key_b64) % 4)))
    jws = AcmeJws.sign(
        json.dumps(key.public_key().to_json()).encode(),
        key=mac,
        alg=jwa.HS256,
        protect=frozenset(["alg", "kid", "url"]),
        kid=kid,
        url=url,
    )
    encoded = json.dumps(jws.to_partial_json(flat=True), default=AcmeJws.json_dump_default)
    document: dict[str, Any] = json.loads(encoded)
    return document


@dataclass
class AcmeTestClient:
    directory_url: str
    key: JWK = field(default_factory=ec_key)
    kid: str | None = None
    eab: tuple[str, str] | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def directory(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(self.directory_url).json()
        return answer

    def nonce(self) -> str:
        return self.http.head(self.directory()["newNonce"]).headers["Replay-Nonce"]

    def algorithm(self) -> jwa.JWASignature:
        if isinstance(self.key, JWKRSA):
            return jwa.RS256
        if isinstance(self.key, JWKOKP):
            return EdDSA
        return ALGORITHM_OF[self.key.fields_to_partial_json()["crv"]]

    def signed_body(
        self,
        url: str,
        payload: dict[str, Any] | None,
        *,
        nonce: str | None = None,
        use_jwk: bool = False,
    ) -> dict[str, Any]:
        raw = b"" if payload is None else json.dumps(payload).encode()
        header: dict[str, Any] = {"nonce": nonce or self.nonce(), "url": url}
        if use_jwk or self.kid is None:
            protect = frozenset(["alg", "jwk", "nonce", "url"])
            header["jwk"] = self.key.public_key()
        else:
            protect = frozenset(["alg", "kid", "nonce", "url"])
            header["kid"] = self.kid
        jws = AcmeJws.sign(raw, key=self.key, alg=self.algorithm(), protect=protect, **header)
        # josepy's partial JSON nests its own objects; its encoder finishes them.
        encoded = json.dumps(jws.to_partial_json(flat=True), default=AcmeJws.json_dump_default)
        body: dict[str, Any] = json.loads(encoded)
        return body

    def post(self, url: str, payload: dict[str, Any] | None, **kwargs: Any) -> httpx.Response:
        return self.post_body(url, self.signed_body(url, payload, **kwargs))

    def post_body(self, url: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            url, content=json.dumps(body), headers={"Content-Type": "application/jose+json"}
        )

    def new_account(self, **payload: Any) -> httpx.Response:
        url = self.directory()["newAccount"]
        if self.eab is not None and "externalAccountBinding" not in payload:
            payload["externalAccountBinding"] = binding_jws(self.key, url, *self.eab)
        answer = self.post(url, {"termsOfServiceAgreed": True, **payload}, use_jwk=True)
        if answer.status_code in (200, 201):
            self.kid = answer.headers["Location"]
        return answer

    def new_order(self, *names: str) -> httpx.Response:
        identifiers = [{"type": "dns", "value": name} for name in names]
        return self.post(self.directory()["newOrder"], {"identifiers": identifiers})


def problem_type(answer: httpx.Response) -> str:
    assert answer.headers["Content-Type"] == "application/problem+json", answer.text
    kind: str = answer.json()["type"]
    return kind.removeprefix("urn:ietf:params:acme:error:")


def csr_der_b64(key: Any, names: list[str]) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return b64url(csr.public_bytes(serialization.Encoding.DER))
