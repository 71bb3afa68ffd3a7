"""The ACME wire (RFC 8555) at /acme/<endpoint-id>/...: JWS, nonces, problem documents.

Every POST is a flattened JWS (§6.2). Before a handler of services/acme/server.py runs, the
request is checked in this order: the JWS parses; its algorithm is one openacm verifies
(RS256, ES256, ES384, EdDSA, through josepy: the signature code is josepy's and
cryptography's, not ours); exactly one
of `jwk` (newAccount) and `kid` (everything else) names the key; the `url` header is the
URL the request was sent to; the signature verifies; and only then the nonce is spent, so a
forged request cannot burn a client's nonces. Every answer, errors included, carries a fresh
Replay-Nonce (§6.5) and the directory as its `index` link.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from josepy.errors import Error as JoseError
from josepy.json_util import field
from josepy.jwk import JWK, JWKOct
from josepy.jws import JWS, Header, Signature
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openacm.domain.acme_endpoints import AcmeEndpointRecord
from openacm.domain.acme_server import AcmeProblem, b64url, b64url_decode, malformed
from openacm.protocol import eddsa  # noqa: F401 (registers OKP keys and EdDSA with josepy)
from openacm.protocol.acme_trail import AcmeTrail, Trace
from openacm.services.acme.server import AcmeServer, Answer
from openacm.services.clock import InstallationClock

log = logging.getLogger("openacm.acme")
# What josepy verifies and ACME allows (§6.2: no "none", no MAC); EdDSA (Ed25519) through
# the key type and algorithm protocol/eddsa.py registers with josepy.
ALGORITHMS = ("RS256", "ES256", "ES384", "EdDSA")
MAX_BODY_BYTES = 64 * 1024
PROBLEM_TYPE = "application/problem+json"
# RFC 9773 §4.3: how long a client should wait before asking for renewal info again.
RENEWAL_INFO_RETRY_SECONDS = 6 * 3600


class AcmeHeader(Header):
    """The JOSE header with RFC 8555's `nonce` and `url` (§6.4, §6.5)."""

    nonce: str | None = field("nonce", omitempty=True)
    url: str | None = field("url", omitempty=True)


class AcmeSignature(Signature):
    __slots__ = Signature._orig_slots
    header_cls = AcmeHeader
    header: AcmeHeader = field(
        "header", omitempty=True, default=AcmeHeader(), decoder=AcmeHeader.from_json
    )


class AcmeJws(JWS):
    signature_cls = AcmeSignature
    __slots__ = JWS._orig_slots


@dataclass(frozen=True)
class SignedRequest:
    """A verified POST: the payload (None for POST-as-GET) and who signed it."""

    payload: dict[str, Any] | None
    jwk: JWK
    kid: str | None


def thumbprint(jwk: JWK) -> str:
    """RFC 7638 thumbprint (SHA-256), base64url: the account key's name in key authorizations."""
    return b64url(jwk.thumbprint())


def _protected_header(document: Mapping[str, Any]) -> dict[str, Any]:
    if not {"protected", "payload", "signature"} <= set(document) or not all(
        isinstance(document[k], str) for k in ("protected", "payload", "signature")
    ):
        raise malformed("the body must be a flattened JWS with protected, payload and signature")
    try:
        header = json.loads(b64url_decode(document["protected"]))
    except ValueError as exc:
        raise malformed("the protected header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise malformed("the protected header is not a JSON object")
    return header


def parse_signed(
    body: bytes,
    url: str,
    key_of: Callable[[str], JWK],
    *,
    key: Literal["jwk", "kid", "either"],
    nonce: bool = True,
) -> tuple[SignedRequest, str]:
    """The verified request and its nonce (not yet spent). `key_of(kid)` finds an account's
    key (raising accountDoesNotExist); `key` says how the signer may be named: by its `jwk`
    (newAccount, keyChange's inner JWS), by an account's `kid` (most requests), or either
    (revokeCert, §7.6). keyChange's inner JWS has no nonce (`nonce=False`, §7.3.5)."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise malformed("the body is not JSON") from exc
    if not isinstance(document, dict):
        raise malformed("the body is not a JSON object")
    header = _protected_header(document)
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise AcmeProblem(
            "badSignatureAlgorithm",
            f"unsupported JWS algorithm {algorithm!r}",
            extra={"algorithms": list(ALGORITHMS)},
        )
    if ("jwk" in header) == ("kid" in header):
        raise malformed("the protected header needs exactly one of jwk and kid")
    if key == "jwk" and "jwk" not in header:
        raise malformed("this request must be signed with a jwk, not a kid")
    if key == "kid" and "kid" not in header:
        raise malformed("this request must be signed with the account's kid")
    found = header.get("nonce")
    if nonce and (not isinstance(found, str) or not found):
        raise AcmeProblem("badNonce", "the protected header has no nonce")
    if not nonce and found is not None:
        raise malformed("this JWS must not have a nonce")
    if header.get("url") != url:
        raise AcmeProblem("unauthorized", f"the url header must be {url}", status=401)
    try:
        jws = AcmeJws.json_loads(body)
        signer = jws.signature.combined.jwk if "jwk" in header else key_of(str(header["kid"]))
        assert signer is not None
        signing = jws.signature.combined.alg
        if signing is None or not isinstance(signer, signing.kty):
            # josepy would hand an RSA key to ECDSA verification (and fail on it).
            raise malformed(f"a {signer.typ} key cannot sign with {header['alg']}")
        verified = jws.verify(signer)
    except AcmeProblem:
        raise
    # KeyError: josepy reads a JWK's members without looking (an EC key without "x").
    except (JoseError, ValueError, TypeError, KeyError, AssertionError) as exc:
        raise malformed(f"the JWS does not verify: {type(exc).__name__}") from exc
    if not verified:
        raise malformed("the JWS signature does not verify")
    return SignedRequest(_payload(jws.payload), signer, header.get("kid")), str(found or "")


# The MAC algorithms of an external account binding's JWS (RFC 8555 §7.3.4).
EAB_ALGORITHMS = ("HS256", "HS384", "HS512")


@dataclass(frozen=True)
class BindingRequest:
    """newAccount's `externalAccountBinding`, its structure checked: the binding's KeyId,
    and how to verify its MAC once the binding's key is known."""

    kid: str
    jws: JWS

    def verify(self, mac_key: bytes) -> None:
        try:
            verified = self.jws.verify(JWKOct(key=mac_key))
        except (JoseError, ValueError, TypeError) as exc:
            raise AcmeProblem(
                "unauthorized", "the external account binding does not verify", 403
            ) from exc
        if not verified:
            raise AcmeProblem(
                "unauthorized", "the external account binding's MAC does not verify", 403
            )


def parse_binding(document: Any, url: str, account_key: JWK) -> BindingRequest:
    """The checks of §7.3.4 that need no key: a flattened JWS with a MAC algorithm, a `kid`,
    the newAccount URL as its `url`, no nonce, and the account's own key as its payload."""
    if not isinstance(document, dict):
        raise malformed("externalAccountBinding must be a flattened JWS object")
    header = _protected_header(document)
    if header.get("alg") not in EAB_ALGORITHMS:
        raise malformed("externalAccountBinding must be signed with HS256, HS384 or HS512")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise malformed("externalAccountBinding needs the binding's key id as its kid")
    if "nonce" in header:
        raise malformed("externalAccountBinding must not have a nonce")
    if header.get("url") != url:
        raise malformed(f"externalAccountBinding's url must be {url}")
    try:
        jws = AcmeJws.from_json(document)
        bound = JWK.json_loads(jws.payload)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise malformed("externalAccountBinding's payload must be the account's JWK") from exc
    if bound.thumbprint() != account_key.thumbprint():
        raise malformed("externalAccountBinding's payload is not this account's key")
    return BindingRequest(kid, jws)


def _payload(raw: bytes) -> dict[str, Any] | None:
    if raw == b"":
        return None  # POST-as-GET (§6.3)
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise malformed("the payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise malformed("the payload is not a JSON object")
    return payload


# -- routes ------------------------------------------------------------------------------------


Handler = Callable[[Request], Awaitable[Response]]


def acme_routes(
    server: AcmeServer, clock: InstallationClock, trail: AcmeTrail | None = None
) -> list[Route]:
    wire = _Wire(server, clock, trail)
    prefix = "/acme/{endpoint_id}"
    signed = wire.signed
    return [
        Route(f"{prefix}/directory", wire.directory, methods=["GET"]),
        Route(f"{prefix}/new-nonce", wire.new_nonce, methods=["GET", "HEAD"]),
        Route(f"{prefix}/new-account", wire.new_account, methods=["POST"]),
        Route(f"{prefix}/new-order", signed("newOrder", wire.new_order), methods=["POST"]),
        Route(f"{prefix}/acct/{{ident}}", signed("account", wire.account, None), methods=["POST"]),
        Route(f"{prefix}/order/{{ident}}", signed("order", wire.order, False), methods=["POST"]),
        Route(f"{prefix}/orders/{{ident}}", signed("orders", wire.orders, False), methods=["POST"]),
        Route(f"{prefix}/authz/{{ident}}", signed("authz", wire.authz, False), methods=["POST"]),
        Route(
            f"{prefix}/chall/{{ident:path}}",
            signed("challenge", wire.challenge, None),
            methods=["POST"],
        ),
        Route(f"{prefix}/finalize/{{ident}}", signed("finalize", wire.finalize), methods=["POST"]),
        Route(
            f"{prefix}/cert/{{ident}}",
            signed("certificate", wire.certificate, False),
            methods=["POST"],
        ),
        Route(f"{prefix}/key-change", signed("keyChange", wire.key_change), methods=["POST"]),
        Route(f"{prefix}/revoke-cert", wire.revoke, methods=["POST"]),
        Route(f"{prefix}/renewal-info/{{ident}}", wire.renewal_info, methods=["GET"]),
    ]


Work = Callable[[AcmeEndpointRecord, Any, SignedRequest, str, float], Answer | str]


class _Wire:
    def __init__(
        self, server: AcmeServer, clock: InstallationClock, trail: AcmeTrail | None
    ) -> None:
        self.server = server
        self.clock = clock
        self.trail = trail

    # -- the frame of every answer --------------------------------------------------------

    def _finish(self, request: Request, response: Response) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        response.headers["Replay-Nonce"] = self.server.new_nonce(self.clock())
        response.headers["Cache-Control"] = "no-store"
        index = f"{self.server.base_url}/acme/{endpoint_id}/directory"
        response.headers.append("Link", f'<{index}>;rel="index"')
        return response

    async def _answer(
        self, request: Request, trace: Trace, work: Callable[[], Response]
    ) -> Response:
        started = time.perf_counter()
        problem = None
        try:
            response = await run_in_threadpool(work)
        except AcmeProblem as raised:
            problem = raised
            response = JSONResponse(
                problem.document(), status_code=problem.status, media_type=PROBLEM_TYPE
            )
            if problem.location:
                response.headers["Location"] = problem.location
        response = await run_in_threadpool(self._finish, request, response)
        if self.trail is not None:
            seconds = time.perf_counter() - started
            await run_in_threadpool(self.trail.after, request, trace, problem, seconds)
        return response

    def _url(self, request: Request) -> str:
        return f"{self.server.base_url}{request.url.path}"

    # -- unsigned -------------------------------------------------------------------------

    async def directory(self, request: Request) -> Response:
        def work() -> Response:
            endpoint = self.server.endpoint(request.path_params["endpoint_id"])
            return JSONResponse(self.server.urls(endpoint).directory())

        return await self._answer(request, Trace("directory"), work)

    async def new_nonce(self, request: Request) -> Response:
        def work() -> Response:
            self.server.endpoint(request.path_params["endpoint_id"])
            return Response(status_code=200 if request.method == "HEAD" else 204)

        return await self._answer(request, Trace("newNonce"), work)

    async def renewal_info(self, request: Request) -> Response:
        """RFC 9773: the suggested renewal window of a certificate named by its CertID."""

        def work() -> Response:
            endpoint = self.server.endpoint(request.path_params["endpoint_id"])
            window = self.server.renewal_info(endpoint, str(request.path_params["ident"]))
            response = JSONResponse(window)
            response.headers["Retry-After"] = str(RENEWAL_INFO_RETRY_SECONDS)
            return response

        return await self._answer(request, Trace("renewalInfo"), work)

    # -- signed ---------------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise AcmeProblem("malformed", "request body too large", status=413)
        return body

    async def _signed_route(
        self, request: Request, trace: Trace, work: Callable[[bytes], Response]
    ) -> Response:
        try:
            body = await self._body(request)
        except AcmeProblem as problem:
            return await self._answer(request, trace, _raiser(problem))
        return await self._answer(request, trace, lambda: work(body))

    async def new_account(self, request: Request) -> Response:
        trace = Trace("newAccount", changes=True)

        def work(body: bytes) -> Response:
            now = self.clock()
            endpoint = trace.endpoint = self.server.endpoint(request.path_params["endpoint_id"])
            signed, nonce = parse_signed(body, self._url(request), _no_kid, key="jwk")
            self.server.use_nonce(nonce, now)
            if signed.payload is None:
                raise malformed("newAccount needs a payload")
            document = signed.payload.get("externalAccountBinding")
            binding = (
                None
                if document is None
                else parse_binding(document, self._url(request), signed.jwk)
            )
            answer = self.server.new_account(
                endpoint,
                signed.jwk.to_partial_json(),
                thumbprint(signed.jwk),
                signed.payload,
                now,
                binding,
            )
            trace.account_url = answer.location
            return _render(answer)

        return await self._signed_route(request, trace, work)

    async def revoke(self, request: Request) -> Response:
        """revokeCert (§7.6), signed by an account's key (kid) or by the certificate's own
        key (jwk)."""
        trace = Trace("revokeCert", changes=True)

        def work(body: bytes) -> Response:
            now = self.clock()
            endpoint = trace.endpoint = self.server.endpoint(request.path_params["endpoint_id"])
            key_of = self._account_key(endpoint, trace)
            signed, nonce = parse_signed(body, self._url(request), key_of, key="either")
            self.server.use_nonce(nonce, now)
            payload = _required(signed)
            if signed.kid is None:
                self.server.revoke(endpoint, None, payload, now, certificate_key=signed.jwk.key)
            else:
                self.server.revoke(endpoint, trace.account, payload, now)
            return _render(Answer({}))

        return await self._signed_route(request, trace, work)

    def _account_key(self, endpoint: AcmeEndpointRecord, trace: Trace) -> Callable[[str], JWK]:
        def key_of(kid: str) -> JWK:
            trace.account = self.server.account_of(endpoint, kid)
            trace.account_url = kid
            key = JWK.from_json(trace.account.jwk)
            assert isinstance(key, JWK)
            return key

        return key_of

    def signed(self, name: str, handler: Work, changes: bool | None = True) -> Handler:
        """A route whose JWS names an account by kid; `handler` gets the verified request.
        `changes`: whether it changes state (audited); None when a payload does and
        POST-as-GET does not."""

        async def route(request: Request) -> Response:
            trace = Trace(name, changes=bool(changes))

            def work(body: bytes) -> Response:
                now = self.clock()
                endpoint = self.server.endpoint(request.path_params["endpoint_id"])
                trace.endpoint = endpoint
                key_of = self._account_key(endpoint, trace)
                signed, nonce = parse_signed(body, self._url(request), key_of, key="kid")
                self.server.use_nonce(nonce, now)
                if changes is None:
                    trace.changes = signed.payload is not None
                ident = str(request.path_params.get("ident", ""))
                result = handler(endpoint, trace.account, signed, ident, now)
                if isinstance(result, str):
                    return Response(result, media_type="application/pem-certificate-chain")
                return _render(result)

            return await self._signed_route(request, trace, work)

        return route

    def new_order(
        self, endpoint: AcmeEndpointRecord, account: Any, signed: SignedRequest, _: str, now: float
    ) -> Answer:
        return self.server.new_order(endpoint, account, _required(signed), now)

    def key_change(
        self, endpoint: AcmeEndpointRecord, account: Any, signed: SignedRequest, _: str, now: float
    ) -> Answer:
        """§7.3.5: the payload is a JWS signed by the new key (jwk, no nonce), for this URL,
        naming the account and its old key."""
        url = self.server.urls(endpoint).of("key-change")
        inner = json.dumps(_required(signed)).encode()
        rolled, _nonce = parse_signed(inner, url, _no_kid, key="jwk", nonce=False)
        payload = rolled.payload or {}
        if payload.get("account") != signed.kid:
            raise malformed("keyChange's inner payload must name this account")
        old_key = payload.get("oldKey")
        try:
            old = JWK.from_json(old_key) if isinstance(old_key, dict) else None
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise malformed("keyChange's oldKey is not a JWK") from exc
        if not isinstance(old, JWK) or old.thumbprint() != signed.jwk.thumbprint():
            raise malformed("keyChange's oldKey is not the account's key")
        return self.server.change_key(
            endpoint, account, rolled.jwk.to_partial_json(), thumbprint(rolled.jwk)
        )

    def account(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        _: float,
    ) -> Answer:
        if ident != account.account_id:
            raise AcmeProblem("unauthorized", "this is another account's URL", status=403)
        return self.server.update_account(endpoint, account, signed.payload or {})

    def order(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        now: float,
    ) -> Answer:
        return self.server.order(endpoint, account, ident, now)

    def orders(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        now: float,
    ) -> Answer:
        if ident != account.account_id:
            raise AcmeProblem("unauthorized", "these are another account's orders", status=403)
        return self.server.orders(endpoint, account, now)

    def authz(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        now: float,
    ) -> Answer:
        return self.server.authorization(endpoint, account, ident, now)

    def challenge(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        now: float,
    ) -> Answer:
        # POST-as-GET reads the challenge; any JSON object ({} per §7.5.1) answers it.
        authz_id, _, kind = ident.partition("/")
        answer = self.server.challenge(
            endpoint, account, authz_id, kind, now, answer=signed.payload is not None
        )
        up = self.server.urls(endpoint).of("authz", authz_id)
        return Answer(answer.body, 200, None, links=((up, "up"),))

    def finalize(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        now: float,
    ) -> Answer:
        answer = self.server.finalize(endpoint, account, ident, _required(signed), now)
        return Answer(answer.body, 200, self.server.urls(endpoint).of("order", ident))

    def certificate(
        self,
        endpoint: AcmeEndpointRecord,
        account: Any,
        signed: SignedRequest,
        ident: str,
        _: float,
    ) -> str:
        return self.server.certificate(endpoint, account, ident)


def _required(signed: SignedRequest) -> dict[str, Any]:
    if signed.payload is None:
        raise malformed("this request needs a payload, not POST-as-GET")
    return signed.payload


def _no_kid(_: str) -> JWK:
    raise malformed("newAccount must be signed with a jwk")


def _raiser(problem: AcmeProblem) -> Callable[[], Response]:
    def work() -> Response:
        raise problem

    return work


def _render(answer: Answer) -> Response:
    response = JSONResponse(answer.body, status_code=answer.status)
    if answer.location:
        response.headers["Location"] = answer.location
    for url, relation in answer.links:
        response.headers.append("Link", f'<{url}>;rel="{relation}"')
    return response
