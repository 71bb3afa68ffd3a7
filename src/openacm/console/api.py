"""The console's API client: every console action is an AWS JSON 1.1 call, signed with SigV4
by the server with the signed-in key and handed to the API endpoint in-process.

Going through the endpoint rather than calling service handlers keeps one authorization path
(SigV4 verification, key status, region scoping) and one audit record per action, exactly as
for the CLI; the browser never holds the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.types import ASGIApp, Message

# The target prefix and signing name of each API the console calls.
_TARGETS = {
    "acm": ("CertificateManager", "acm"),
    "acm-pca": ("ACMPrivateCA", "acm-pca"),
    # openacm's own API (associations, validation records), signed as ACM.
    "openacm": ("OpenAcm", "acm"),
}
CONSOLE_USER_AGENT = "openacm-console"


class ConsoleApiError(Exception):
    """An API error answer: its AWS error code and message, shown to the user as is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Signer:
    """Who the console calls as: the signed-in key and the session's region."""

    access_key_id: str
    secret_access_key: str
    region: str


@dataclass(frozen=True)
class Origin:
    """The browser request a call is made for: its address and agent go into the audit
    record, its host into the signed request."""

    host: str
    client_ip: str
    user_agent: str
    scheme: str


class ApiClient:
    def __init__(self, api: ASGIApp) -> None:
        self.api = api

    async def call(
        self, service: str, operation: str, params: dict[str, Any], signer: Signer, origin: Origin
    ) -> dict[str, Any]:
        """The operation's output, or ConsoleApiError with the API's own code and message."""
        prefix, signing_name = _TARGETS[service]
        body = orjson.dumps(params)
        headers = _signed_headers(f"{prefix}.{operation}", body, signing_name, signer, origin)
        status, payload = await self._dispatch(headers, body, origin)
        answer = orjson.loads(payload) if payload else {}
        if status >= 400:
            code = str(answer.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
            message = answer.get("message") or answer.get("Message") or ""
            raise ConsoleApiError(code, str(message))
        assert isinstance(answer, dict)
        return answer

    async def _dispatch(
        self, headers: dict[str, str], body: bytes, origin: Origin
    ) -> tuple[int, bytes]:
        scope: dict[str, Any] = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "scheme": origin.scheme,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": (origin.client_ip, 0),
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.api(scope, receive, send)
        return status, b"".join(chunks)


def _signed_headers(
    target: str, body: bytes, signing_name: str, signer: Signer, origin: Origin
) -> dict[str, str]:
    host, user_agent = origin.host, origin.user_agent
    request = AWSRequest(
        method="POST",
        url=f"{origin.scheme}://{host}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            "User-Agent": CONSOLE_USER_AGENT,
        },
    )
    credentials = Credentials(signer.access_key_id, signer.secret_access_key)
    SigV4Auth(credentials, signing_name, signer.region).add_auth(request)
    headers = {name: str(value) for name, value in request.headers.items()}
    headers["Host"] = host
    # Not signed (botocore leaves User-Agent out), so the browser's can be added for the
    # audit record's userAgent after signing.
    headers["User-Agent"] = f"{CONSOLE_USER_AGENT} ({user_agent[:200]})"
    headers["Content-Length"] = str(len(body))
    return headers
