"""`POST /` for the AWS JSON 1.1 services: framing, SigV4, dispatch, errors, audit.

The order of checks is AWS's: a request must name a service this endpoint serves, be signed
by a known key for that service, name an operation of the model, and carry input the model
accepts, before any handler runs. Whatever happens, the caller gets an AWS-shaped answer with
x-amzn-RequestId, and the audit log gets one record.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import anyio.to_thread
from botocore.model import OperationModel
from starlette.types import Receive, Scope, Send

from openacm.adapters.audit_log import AuditEntry, AuditLog
from openacm.domain.errors import ApiError, InternalServerError
from openacm.protocol.audit_record import (
    CallerIdentity,
    RequestFacts,
    cloudtrail_record,
    is_read_only,
)
from openacm.protocol.errors import (
    InvalidSignatureError,
    RequestEntityTooLargeError,
    UnknownOperationError,
    UnrecognizedClientError,
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
from openacm.services.identity import KeyDirectory

log = logging.getLogger("openacm.api")
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
# The largest valid ACM request (a 2 MiB chain, base64-encoded, plus the rest) fits well
# inside this; anything larger is refused before it is read into memory.
MAX_BODY_BYTES = 16 * 1024 * 1024

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]


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


class JsonApiEndpoint:
    def __init__(
        self,
        apis: list[ServedApi],
        keys: KeyDirectory,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.apis = {api.model.target_prefix: api for api in apis}
        self.keys = keys
        self.audit = audit
        self.clock = clock
        self.verifier = SigV4Verifier(keys.secret_for, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A plain ASGI app: this is the path every API call takes, so it carries no
        framework routing or middleware of its own."""
        started = time.perf_counter()
        request = _HttpRequest.from_scope(scope)
        target = request.headers.get("x-amz-target", "")
        api = self.apis.get(target.split(".", 1)[0])
        call = _Call(
            RequestFacts(
                request_id=str(uuid.uuid4()),
                event_source=api.event_source if api else "unknown",
                event_name=target.split(".", 1)[-1] if target else "",
                region=None,
                source_ip=request.client_host,
                user_agent=request.headers.get("user-agent", ""),
                event_time=self.clock(),
                tls=request.scheme == "https",
            )
        )
        try:
            body = await _read_body(request, receive)
            status, headers, payload = await self._answer(request, body, api, target, call)
        except ApiError as error:
            call.error = error
            status, headers, payload = serialize_error(error)
        except Exception:
            log.exception("request %s failed", call.facts.request_id)
            call.error = InternalServerError("We encountered an internal error. Please try again.")
            status, headers, payload = serialize_error(call.error)
        self._audit(call)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": _response_headers(headers, call.facts.request_id, len(payload)),
            }
        )
        await send({"type": "http.response.body", "body": payload})
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
        self, request: _HttpRequest, body: bytes, api: ServedApi | None, target: str, call: _Call
    ) -> tuple[int, dict[str, str], bytes]:
        if api is None:
            raise UnknownOperationError("")
        ctx = self._authenticate(request, body, api, call)
        operation = api.model.operation_for_target(target)
        call.operation = operation
        params = parse_input(operation, decode_json_body(body))
        call.params = params
        handler = api.service.handler(operation.name)
        if operation.name in api.blocking_operations:
            result = await anyio.to_thread.run_sync(handler, ctx, params)
        else:
            result = handler(ctx, params)
        call.result = result
        return 200, {}, serialize_output(operation, result)

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
        call.caller = CallerIdentity(
            principal.account_id, principal.access_key_id, principal.user_name, partition
        )
        call.facts = dataclasses.replace(call.facts, region=verified.region)
        return CallContext(
            account_id=principal.account_id,
            region=verified.region,
            partition=partition,
            access_key_id=principal.access_key_id,
            user_name=principal.user_name,
            request_id=call.facts.request_id,
            source_ip=call.facts.source_ip,
            user_agent=call.facts.user_agent,
            now=self.clock(),
            secure_transport=call.facts.tls,
        )

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
    headers: Mapping[str, str], request_id: str, length: int
) -> list[tuple[bytes, bytes]]:
    encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if not any(name == b"content-type" for name, _ in encoded):
        encoded.append((b"content-type", JSON_CONTENT_TYPE.encode()))
    encoded.append((b"x-amzn-requestid", request_id.encode()))
    encoded.append((b"content-length", str(length).encode()))
    return encoded


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
