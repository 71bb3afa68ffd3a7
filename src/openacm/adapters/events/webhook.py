"""HTTP webhook sink: one POST per event, signed with HMAC-SHA256 of the body.

Headers: `X-Openacm-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the send time in
`X-Openacm-Timestamp` (epoch seconds), the event id in `X-Openacm-Event-Id` (receivers
de-duplicate on it: delivery is at-least-once) and `X-Openacm-Attempt` (1 on the first try).
Any 2xx answer is a delivery; redirects are not followed (a signed body must not be replayed
to another host).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import orjson

from openacm.adapters.events.base import DELIVERED, NOT_TRIED, Outcome

SIGNATURE_HEADER = "X-Openacm-Signature"
TIMESTAMP_HEADER = "X-Openacm-Timestamp"
EVENT_ID_HEADER = "X-Openacm-Event-Id"
ATTEMPT_HEADER = "X-Openacm-Attempt"


def signature(secret: str, body: bytes) -> str:
    """The X-Openacm-Signature value of `body` under the sink's secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (constant-time compare)."""
    return hmac.compare_digest(signature(secret, body), header)


class WebhookSink:
    def __init__(
        self, name: str, url: str, secret: str, *, timeout: float, ca_file: str | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"events sink {name}: url must be http(s)://host[:port]/path")
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self._parts = parts
        # Certificates are verified (the default context); `ca_file` replaces the system's
        # trust store, for a receiver whose certificate a private CA issued.
        self._tls = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None

    def deliver(self, bodies: Sequence[bytes], attempts: Sequence[int]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for body, attempt in zip(bodies, attempts, strict=True):
            if outcomes and not outcomes[-1].delivered:
                outcomes.append(NOT_TRIED)  # the receiver is failing: wait for the backoff
                continue
            outcomes.append(self._post(body, attempt + 1))
        return outcomes

    def _post(self, body: bytes, attempt: int) -> Outcome:
        parts = self._parts
        connection: http.client.HTTPConnection
        if self._tls is not None:
            connection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=self.timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=self.timeout
            )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "openacm-events",
            SIGNATURE_HEADER: signature(self.secret, body),
            TIMESTAMP_HEADER: str(int(time.time())),
            EVENT_ID_HEADER: _event_id(body),
            ATTEMPT_HEADER: str(attempt),
        }
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(65536)
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        if 200 <= response.status < 300:
            return DELIVERED
        return Outcome(False, f"HTTP {response.status} {response.reason}")

    def close(self) -> None:
        pass


def _event_id(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("id", ""))
    except orjson.JSONDecodeError:
        return ""
