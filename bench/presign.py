"""Pre-signed raw HTTP requests, produced by a real boto3 client that never sends them.

A `before-send` hook captures each fully prepared request (JSON 1.1 body, X-Amz-Target,
SigV4 Authorization and X-Amz-Date: the headers and body boto3 sends) and stops it there.
The load generator then replays the bytes, so it does no signing of its own. SigV4
signatures are accepted for about 15 minutes: sign just before each measured run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.client import PAGE_SIZE, acm_client
from bench.servers import RunningServer


class _Captured(Exception):
    """Carries a captured request out of botocore; never a real failure."""

    def __init__(self, raw: bytes) -> None:
        super().__init__("request captured")
        self.raw = raw


def describe_requests(server: RunningServer, arns: Sequence[str]) -> list[bytes]:
    return _capture(server, [_describe_call(arn) for arn in arns])


def list_requests(server: RunningServer, tokens: Sequence[str | None]) -> list[bytes]:
    return _capture(server, [_list_call(token) for token in tokens])


def request_certificate_requests(
    server: RunningServer, names: Sequence[str], key_algorithm: str
) -> list[bytes]:
    """One DNS-validated RequestCertificate per name (no SANs, no idempotency token)."""
    return _capture(server, [_request_call(name, key_algorithm) for name in names])


def write_request_file(path: Path, requests: Sequence[bytes]) -> None:
    """`<length>\\n<raw request>` records, the format bench/replay.lua reads."""
    with path.open("wb") as out:
        for raw in requests:
            out.write(b"%d\n" % len(raw))
            out.write(raw)


Call = Callable[[Any], object]


def _describe_call(arn: str) -> Call:
    return lambda client: client.describe_certificate(CertificateArn=arn)


def _list_call(token: str | None) -> Call:
    kwargs: dict[str, Any] = {"MaxItems": PAGE_SIZE}
    if token is not None:
        kwargs["NextToken"] = token
    return lambda client: client.list_certificates(**kwargs)


def _request_call(name: str, key_algorithm: str) -> Call:
    return lambda client: client.request_certificate(
        DomainName=name, ValidationMethod="DNS", KeyAlgorithm=key_algorithm
    )


def _capture(server: RunningServer, calls: Sequence[Call]) -> list[bytes]:
    client = acm_client(server)
    client.meta.events.register("before-send.acm.*", _raise_captured)
    captured = []
    for call in calls:
        try:
            call(client)
        except _Captured as capture:
            captured.append(capture.raw)
        else:
            raise RuntimeError("boto3 sent a request the bench meant to capture")
    return captured


def _raise_captured(request: Any, **_: Any) -> None:
    raise _Captured(_raw_http(request.method, request.url, request.headers, request.body))


def _raw_http(method: str, url: str, headers: Any, body: bytes | str | None) -> bytes:
    """The prepared request as HTTP/1.1 bytes (Host as SigV4 signed it)."""
    parts = urlsplit(url)
    payload = body.encode() if isinstance(body, str) else (body or b"")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {_text(value)}" for name, value in headers.items()]
    if not any(name.lower() == "content-length" for name in headers):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
