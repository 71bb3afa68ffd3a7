"""The API endpoint: AWS JSON 1.1 at `POST /`, Smithy RPC v2 CBOR at `POST /service/...`;
framing, SigV4, dispatch, errors, audit.

The order of checks is AWS's: a request must name a service this endpoint serves, be signed
by a known key for that service, name an operation of the model, and carry input the model
accepts, before any handler runs. Whatever happens, the caller gets an AWS-shaped answer in the
request's protocol with x-amzn-RequestId, and the audit log gets one record. The protocols
differ only in their framing (`_Framing`); signing, size limits, dispatch and the audit
record are one code path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anyio.to_thread
from botocore.model import OperationModel
from starlette.types import Receive, Scope, Send

from openacm.adapters.audit_log import AuditEntry, AuditLog
from openacm.domain.errors import ApiError, InternalServerError
from openacm.protocol import cborproto, queryproto
from openacm.protocol.audit_record import (
    CallerIdentity,
    RequestFacts,
    cloudtrail_record,
    is_read_only,
)
from openacm.protocol.errors import (
    ExpiredTokenError,
    InvalidSignatureError,
    MethodNotAllowedError,
    NotAcceptableError,
    OperationNotRoutedError,
    RequestEntityTooLargeError,
    UnknownOperationError,
    UnrecognizedClientError,
    UnsupportedMediaTypeError,
)
from openacm.protocol.jsonproto import (
    decode_json_body,
    parse_input,
    serialize_error,
    serialize_output,
)
from openacm.protocol.model import ApiModel
from openacm.protocol.partitions import partition_for_region
from openacm.protocol.sigv4 import IncomingRequest, SigV4Verifier
from openacm.services.context import CallContext
from openacm.services.iam.authorizer import Authorizer
from openacm.services.identity import KeyDirectory, Principal
from openacm.services.throttling import RequestThrottle

log = logging.getLogger("openacm.api")
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
# The largest valid ACM request (a 2 MiB chain, base64-encoded, plus the rest) fits well
# inside this; anything larger is refused before it is read into memory.
MAX_BODY_BYTES = 16 * 1024 * 1024

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]
# Told of every answered call: service, operation, outcome ("Success" or the error code),
# seconds taken (the metrics' request counter and latency histogram).
RequestObserver = Callable[[str, str, str, float], None]


class Service(Protocol):
    def handler(self, operation: str) -> Handler: ...


@dataclass(frozen=True)
class ServedApi:
    model: ApiModel
    service: Service
    event_source: str  # CloudTrail's eventSource, e.g. "acm.amazonaws.com"
    # Operations that wait on the network (DNS updates, upstream CAs): run in a worker thread
    # so they never hold up the event loop. The rest are short store transactions and run
    # inline, which is what keeps the common calls fast.
    blocking_operations: frozenset[str] = frozenset()


@dataclass
class _Call:
    """What is known about a call so far; the audit record is made from it at the end."""

    facts: RequestFacts
    caller: CallerIdentity | None = None
    operation: OperationModel | None = None
    params: Mapping[str, Any] | None = None
    result: Mapping[str, Any] | None = None
    error: ApiError | None = None


class _Framing(Protocol):
    """What differs between the wire protocols: how a request names its operation and carries
    its input, and how answers are written. Everything else is the endpoint's."""

    def admit(self, request: _HttpRequest, api: ServedApi | None) -> ServedApi:
        """The API the request is for, or the error refusing it before authentication."""
        ...

    def operation(self, api: ServedApi, request: _HttpRequest, name: str) -> OperationModel: ...

    def parse(
        self, operation: OperationModel, request: _HttpRequest, body: bytes
    ) -> dict[str, object]: ...

    def output(self, operation: OperationModel, result: Mapping[str, Any]) -> _Answer: ...

    def error(self, error: ApiError, api: ServedApi | None) -> _Answer: ...


# Status, response headers (lower-case names, encoded) and body.
_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_JSON_OK_HEADERS: Final = [(b"content-type", JSON_CONTENT_TYPE.encode())]


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


class _JsonFraming:
    """AWS JSON 1.1: `POST /`, the operation in X-Amz-Target, a JSON object of the input."""

    def admit(self, request: _HttpRequest, api: ServedApi | None) -> ServedApi:
        if api is None:
            raise UnknownOperationError("")
        return api

    def operation(self, api: ServedApi, request: _HttpRequest, name: str) -> OperationModel:
        return api.model.operation_for_target(request.headers.get("x-amz-target"))

    def parse(
        self, operation: OperationModel, request: _HttpRequest, body: bytes
    ) -> dict[str, object]:
        return parse_input(operation, decode_json_body(body))

    def output(self, operation: OperationModel, result: Mapping[str, Any]) -> _Answer:
        return 200, _JSON_OK_HEADERS, serialize_output(operation, result)

    def error(self, error: ApiError, api: ServedApi | None) -> _Answer:
        status, headers, payload = serialize_error(error)
        return status, _encoded(headers), payload


class _CborFraming:
    """Smithy RPC v2 CBOR: `POST /service/{ServiceName}/operation/{Operation}` with
    `smithy-protocol: rpc-v2-cbor`, a CBOR map of the input. Requests that are not of this
    protocol's form are refused as Smithy's servers refuse them: 405 for another method, 404
    UnknownOperationException for anything that does not route, 415 / 406 for a body or an
    answer that would not be CBOR."""

    def admit(self, request: _HttpRequest, api: ServedApi | None) -> ServedApi:
        if request.method != "POST":
            raise MethodNotAllowedError("")
        headers = request.headers
        if (
            api is None
            or headers.get(cborproto.PROTOCOL_HEADER) != cborproto.PROTOCOL
            or "x-amz-target" in headers
            or "x-amzn-target" in headers
        ):
            raise OperationNotRoutedError("")
        return api

    def operation(self, api: ServedApi, request: _HttpRequest, name: str) -> OperationModel:
        try:
            return api.model.operation(name)
        except UnknownOperationError:
            raise OperationNotRoutedError("") from None

    def parse(
        self, operation: OperationModel, request: _HttpRequest, body: bytes
    ) -> dict[str, object]:
        content_type = request.headers.get("content-type")
        if content_type is None:
            if body:
                raise UnsupportedMediaTypeError(
                    f"A request body must have Content-Type {cborproto.CONTENT_TYPE}."
                )
        elif _media_type(content_type) != cborproto.CONTENT_TYPE:
            raise UnsupportedMediaTypeError(
                f"Content-Type must be {cborproto.CONTENT_TYPE}, not {content_type[:100]}."
            )
        if not _accepts_cbor(request.headers.get("accept")):
            raise NotAcceptableError(f"The answer can only be {cborproto.CONTENT_TYPE}.")
        return cborproto.parse_cbor_input(operation, body)

    def output(self, operation: OperationModel, result: Mapping[str, Any]) -> _Answer:
        headers, payload = cborproto.serialize_cbor_output(operation, result)
        return 200, _encoded(headers), payload

    def error(self, error: ApiError, api: ServedApi | None) -> _Answer:
        status, headers, payload = cborproto.serialize_cbor_error(error, api.model if api else None)
        encoded = _encoded(headers)
        if isinstance(error, MethodNotAllowedError):
            encoded.append((b"allow", b"POST"))
        return status, encoded, payload


def _media_type(content_type: str) -> str:
    """The type/subtype of a Content-Type value, without parameters, lower case."""
    return content_type.split(";", 1)[0].strip().lower()


def _accepts_cbor(accept: str | None) -> bool:
    """Whether an Accept header allows application/cbor (no header allows anything)."""
    if accept is None:
        return True
    ranges = {_media_type(item) for item in accept.split(",")}
    return bool(ranges & {cborproto.CONTENT_TYPE, "application/*", "*/*"})


class _QueryFraming:
    """The AWS Query protocol (STS, IAM): `POST /` with a form naming its Action, answered in
    XML (protocol/queryproto.py). One per request: the answers carry its request id."""

    def __init__(self, request_id: str, namespace: str) -> None:
        self.request_id = request_id
        self.namespace = namespace

    def admit(self, request: _HttpRequest, api: ServedApi | None) -> ServedApi:
        if api is None:
            raise queryproto.InvalidActionError("Could not find operation for this request.")
        return api

    def operation(self, api: ServedApi, request: _HttpRequest, name: str) -> OperationModel:
        return api.model.operation(name)

    def parse(
        self, operation: OperationModel, request: _HttpRequest, body: bytes
    ) -> dict[str, object]:
        return parse_input(operation, queryproto.input_params(operation, body))

    def output(self, operation: OperationModel, result: Mapping[str, Any]) -> _Answer:
        payload = queryproto.output_xml(operation, result, self.request_id)
        return 200, [(b"content-type", queryproto.XML_CONTENT_TYPE.encode())], payload

    def error(self, error: ApiError, api: ServedApi | None) -> _Answer:
        status, payload = queryproto.error_answer(error, self.request_id, self.namespace)
        return status, [(b"content-type", queryproto.XML_CONTENT_TYPE.encode())], payload


_JSON: Final = _JsonFraming()
_CBOR: Final = _CborFraming()


class JsonApiEndpoint:
    """The API endpoint of every served API: AWS JSON 1.1 at `POST /` (this object called as an
    ASGI app) and, for the APIs whose model lists it, Smithy RPC v2 CBOR at
    `POST /service/...` (`rpc_v2_cbor`). The two share everything but the framing."""

    def __init__(
        self,
        apis: list[ServedApi],
        keys: KeyDirectory,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
        observe: RequestObserver | None = None,
        throttle: RequestThrottle | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.authorizer = authorizer
        self.apis = {api.model.target_prefix: api for api in apis if api.model.target_prefix}
        self.query_apis = [api for api in apis if api.model.protocol == "query"]
        self.observe = observe
        self.throttle = throttle
        # RPC v2 CBOR names the service by its Smithy shape name, which botocore writes from
        # the model's targetPrefix.
        self.cbor_apis = {
            api.model.target_prefix: api for api in apis if cborproto.serves_rpc_v2_cbor(api.model)
        }
        self.keys = keys
        self.audit = audit
        self.clock = clock
        # Signatures against the real time, whatever `clock` (the installation's, which
        # `--dev` can move) says: the client signed with its own, unmoved clock.
        self.verifier = SigV4Verifier(keys.secret_for)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """AWS JSON 1.1. A plain ASGI app: this is the path most API calls take, so it carries
        no framework routing or middleware of its own."""
        request = _HttpRequest.from_scope(scope)
        target = request.headers.get("x-amz-target", "")
        if not target and queryproto.is_query_request(request.headers.get("content-type")):
            await self._query(request, receive, send)
            return
        api = self.apis.get(target.split(".", 1)[0])
        name = target.split(".", 1)[-1] if target else ""
        await self._serve(request, receive, send, _JSON, api, name)

    async def rpc_v2_cbor(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Smithy RPC v2 CBOR, for any request whose path starts with /service/."""
        request = _HttpRequest.from_scope(scope)
        service, name = cborproto.route(request.raw_path)
        await self._serve(request, receive, send, _CBOR, self.cbor_apis.get(service), name)

    async def _query(self, request: _HttpRequest, receive: Receive, send: Send) -> None:
        """The AWS Query protocol (a form-encoded `POST /` without X-Amz-Target): STS and
        IAM. The form names the operation, so the body is read first."""
        body: bytes | ApiError
        try:
            body = await _read_body(request, receive)
        except ApiError as error:
            body = error
        name = queryproto.action_of(body) if isinstance(body, bytes) else ""
        api = next((a for a in self.query_apis if name in a.model.operation_names), None)
        namespace = (api or self.query_apis[0]).model.xml_namespace if self.query_apis else ""
        request_id = str(uuid.uuid4())
        framing = _QueryFraming(request_id, namespace)
        await self._serve(request, receive, send, framing, api, name, body, request_id)

    async def _serve(
        self,
        request: _HttpRequest,
        receive: Receive,
        send: Send,
        framing: _Framing,
        api: ServedApi | None,
        operation_name: str,
        body: bytes | ApiError | None = None,
        request_id: str | None = None,
    ) -> None:
        """Answer one call: whatever happens, the caller gets an answer in the framing's
        protocol with x-amzn-RequestId, and the audit log gets one record."""
        started = time.perf_counter()
        call = _Call(
            RequestFacts(
                request_id=request_id or str(uuid.uuid4()),
                event_source=api.event_source if api else "unknown",
                event_name=operation_name,
                region=None,
                source_ip=request.client_host,
                user_agent=request.headers.get("user-agent", ""),
                event_time=self.clock(),
                tls=request.scheme == "https",
            )
        )
        try:
            if isinstance(body, ApiError):
                raise body
            if body is None:
                body = await _read_body(request, receive)
            status, headers, payload = await self._answer(request, body, framing, api, call)
        except ApiError as error:
            call.error = error
            status, headers, payload = framing.error(error, api)
        except Exception:
            log.exception("request %s failed", call.facts.request_id)
            call.error = InternalServerError("We encountered an internal error. Please try again.")
            status, headers, payload = framing.error(call.error, api)
        self._audit(call)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": _response_headers(headers, call.facts.request_id, len(payload)),
            }
        )
        await send({"type": "http.response.body", "body": payload})
        if self.observe is not None:
            self._observe(api, call, time.perf_counter() - started)
        log.log(
            logging.WARNING if status >= 500 else logging.DEBUG,
            "%s %s %d %.1fms",
            call.facts.event_name or "-",
            call.error.code if call.error else "OK",
            status,
            (time.perf_counter() - started) * 1000,
            extra={"request_id": call.facts.request_id},
        )

    async def _answer(
        self,
        request: _HttpRequest,
        body: bytes,
        framing: _Framing,
        api: ServedApi | None,
        call: _Call,
    ) -> _Answer:
        api = framing.admit(request, api)
        ctx = self._authenticate(request, body, api, call)
        operation = framing.operation(api, request, call.facts.event_name)
        call.operation = operation
        if self.throttle is not None:  # docs/throttling.md: before any work on the input
            self.throttle.check(ctx, api.model.service_name, operation.name)
        params = framing.parse(operation, request, body)
        call.params = params
        if self.authorizer is not None:  # docs/access-control.md
            self.authorizer.check(ctx, api.model.signing_name, operation.name, params)
        handler = api.service.handler(operation.name)
        if operation.name in api.blocking_operations:
            result = await anyio.to_thread.run_sync(handler, ctx, params)
        else:
            result = handler(ctx, params)
        call.result = result
        return framing.output(operation, result)

    def _authenticate(
        self, request: _HttpRequest, body: bytes, api: ServedApi, call: _Call
    ) -> CallContext:
        incoming = IncomingRequest(
            method=request.method,
            path=request.raw_path,
            query=request.query,
            headers=request.headers,
            body=body,
        )
        verified = self.verifier.verify(incoming, service=api.model.signing_name)
        call.caller = CallerIdentity(None, verified.access_key_id, None, "aws")
        principal = self.keys.principal(verified.access_key_id)
        if principal is None:  # disabled between the two look-ups
            raise UnrecognizedClientError("The security token included in the request is invalid.")
        partition = partition_for_region(verified.region)
        if partition is None:
            raise InvalidSignatureError(
                f"Credential should be scoped to a valid region, not '{verified.region}'. "
            )
        now = self.clock()
        _check_session(principal, request, now)
        call.facts = dataclasses.replace(call.facts, region=verified.region)
        ctx = CallContext(
            account_id=principal.account_id,
            region=verified.region,
            partition=partition,
            access_key_id=principal.access_key_id,
            user_name=principal.user_name,
            request_id=call.facts.request_id,
            source_ip=call.facts.source_ip,
            user_agent=call.facts.user_agent,
            now=now,
            secure_transport=call.facts.tls,
            caller=principal.caller(partition),
        )
        call.caller = CallerIdentity.of(ctx)
        return ctx

    def _observe(self, api: ServedApi | None, call: _Call, seconds: float) -> None:
        assert self.observe is not None
        # Labels only from the model and the error classes, never from the request as sent:
        # a client inventing operation names must not invent new time series.
        service = api.model.service_name if api else "unknown"
        operation = call.operation.name if call.operation is not None else "unknown"
        try:
            self.observe(service, operation, call.error.code if call.error else "Success", seconds)
        except Exception:
            log.exception("metrics for %s not recorded", call.facts.request_id)

    def _audit(self, call: _Call) -> None:
        record = cloudtrail_record(
            call.facts, call.caller, call.operation, call.params, call.result, call.error
        )
        resource = None
        for source in (call.result, call.params):
            if source:
                resource = (
                    source.get("CertificateArn")
                    or source.get("CertificateAuthorityArn")  # ACM-PCA
                    or source.get("ResourceArn")
                    or resource
                )
        if not isinstance(resource, str):
            resource = None
        # A change that was made must have its record before the caller hears of it.
        durable = call.error is None and not is_read_only(call.facts.event_name)
        try:
            self.audit.record(AuditEntry(record, call.facts.event_time, resource), durable=durable)
        except Exception:
            log.exception("audit record for %s not written", call.facts.request_id)


def _check_session(principal: Principal, request: _HttpRequest, now: float) -> None:
    """An STS session key works only with its session token, and only until it expires."""
    if principal.token_sha256 is None:
        return
    token = request.headers.get("x-amz-security-token") or _query_token(request.query)
    digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
    if not hmac.compare_digest(digest, principal.token_sha256):
        raise UnrecognizedClientError("The security token included in the request is invalid.")
    if principal.expires_at is not None and now >= principal.expires_at:
        raise ExpiredTokenError("The security token included in the request is expired")


def _query_token(query: str) -> str | None:
    """X-Amz-Security-Token of a presigned URL."""
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name == "X-Amz-Security-Token":
            return value
    return None


@dataclass(frozen=True)
class _HttpRequest:
    method: str
    raw_path: str  # still percent-encoded, as SigV4 needs it
    query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    client_host: str
    scheme: str

    @classmethod
    def from_scope(cls, scope: Scope) -> _HttpRequest:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        raw_path = scope.get("raw_path") or scope["path"].encode()
        client = scope.get("client")
        return cls(
            method=scope["method"],
            raw_path=raw_path.decode("latin-1").split("?", 1)[0],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            client_host=client[0] if client else "",
            scheme=scope.get("scheme", "http"),
        )


def _response_headers(
    headers: list[tuple[bytes, bytes]], request_id: str, length: int
) -> list[tuple[bytes, bytes]]:
    return [
        *headers,
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(length).encode()),
    ]


async def _read_body(request: _HttpRequest, receive: Receive) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestEntityTooLargeError(
            f"Request body of {declared} bytes exceeds the limit of {MAX_BODY_BYTES} bytes."
        )
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestEntityTooLargeError(
                f"Request body exceeds the limit of {MAX_BODY_BYTES} bytes."
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
