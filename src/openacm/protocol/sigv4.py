"""Server-side verification of AWS Signature Version 4, as the AWS JSON services do it.

The verifier rebuilds the canonical request from what arrived on the wire, derives the signing
key from the caller's secret and compares signatures in constant time. Both forms are accepted:
the `Authorization` header (what every SDK sends) and the query string (presigned URLs).

Failures are raised as the wire errors of `openacm.protocol.errors`, with the codes, the
precedence and the message texts the AWS "coral" front end (ACM, KMS, DynamoDB) answers with,
so SDKs classify them the same way. No message ever carries a secret or a derived key.

Canonicalization mirrors what botocore's `SigV4Auth` signs, so anything botocore, boto3 or the
AWS CLI signs verifies:

* URI: the path as received (already percent-encoded), with dot segments and empty segments
  removed, percent-encoded once more (non-S3 services sign each segment "twice encoded").
* Query: every `key=value` pair percent-decoded (`+` as a space) and re-encoded per RFC 3986,
  sorted by encoded key then value; `X-Amz-Signature` left out for presigned requests.
* Headers: only the signed ones, lower-cased names, values trimmed with inner whitespace runs
  collapsed to one space, sorted by name.
* Payload: the SHA-256 of the body; a presigned request may instead sign `UNSIGNED-PAYLOAD`
  through `X-Amz-Content-Sha256`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from openacm.protocol.errors import (
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
)

__all__ = [
    "IncomingRequest",
    "SecretLookup",
    "SigV4Verifier",
    "VerifiedCaller",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# The longest lifetime AWS accepts for a presigned URL: seven days.
MAX_PRESIGNED_EXPIRES = 604_800

MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
MSG_UNKNOWN_KEY = "The security token included in the request is invalid."
MSG_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
MSG_CONTENT_SHA256_MISMATCH = (
    "The provided 'x-amz-content-sha256' header does not match what was computed."
)

_QUERY_SAFE = "-_.~"
_PATH_SAFE = "/~"
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class IncomingRequest:
    """One HTTP request as the server received it, before any decoding of path or query."""

    method: str
    path: str  # raw path as received, still percent-encoded, e.g. "/"
    query: str  # raw query string without "?", may be ""
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ","
    body: bytes


@dataclass(frozen=True)
class VerifiedCaller:
    """Who signed a request that verified, and under which credential scope."""

    access_key_id: str
    region: str
    service: str
    date: str  # YYYYMMDD of the credential scope
    signed_at: datetime  # the request's X-Amz-Date (or Date), tz-aware UTC


SecretLookup = Callable[[str], str | None]
"""Access key id -> secret access key; None when the key is unknown or disabled."""


@dataclass(frozen=True, slots=True)
class _AuthParams:
    """The signature inputs taken from the Authorization header or the query string."""

    algorithm: str
    credential: str
    signed_headers: str
    signature: str
    timestamp: str
    from_date_header: bool
    presigned: bool
    expires: str | None
    content_sha256: str | None  # X-Amz-Content-Sha256 query parameter (presigned only)


def _derive_signing_key(
    access_key_id: str, secret: str, date: str, region: str, service: str
) -> bytes:
    # access_key_id takes no part in the derivation; it is an argument so that the cache
    # keys on it (and on the secret, so a rotated secret never meets a stale key).
    del access_key_id
    k_date = hmac.digest(("AWS4" + secret).encode("utf-8"), date.encode("utf-8"), "sha256")
    k_region = hmac.digest(k_date, region.encode("utf-8"), "sha256")
    k_service = hmac.digest(k_region, service.encode("utf-8"), "sha256")
    return hmac.digest(k_service, TERMINATOR.encode("ascii"), "sha256")


class SigV4Verifier:
    """Verifies SigV4-signed requests against secrets from `lookup_secret`.

    `clock` returns the current time in epoch seconds; requests signed more than
    `max_skew_seconds` away from it are refused. Derived signing keys are kept in an LRU of
    `cache_size` entries (0 disables the cache). Safe to share between threads.
    """

    def __init__(
        self,
        lookup_secret: SecretLookup,
        *,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = 900,
        cache_size: int = 1024,
    ) -> None:
        if max_skew_seconds < 0:
            raise ValueError("max_skew_seconds must not be negative")
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        self._lookup_secret = lookup_secret
        self._clock = clock
        self._max_skew = max_skew_seconds
        self._skew_text = _duration_text(max_skew_seconds)
        self._signing_key: Callable[[str, str, str, str, str], bytes] = lru_cache(
            maxsize=cache_size
        )(_derive_signing_key)

    def verify(self, request: IncomingRequest, *, service: str) -> VerifiedCaller:
        """Return the verified caller, or raise the error AWS would answer with."""
        headers = request.headers
        authorization = headers.get("authorization")
        query_pairs: list[tuple[str, str, str, str]] | None = None
        params: _AuthParams | None
        if authorization is not None:
            params = _params_from_header(authorization, headers)
        elif request.query:
            query_pairs = _parse_query(request.query)
            params = _params_from_query(query_pairs)
        else:
            params = None
        if params is None:
            raise MissingAuthenticationTokenError(MSG_MISSING_TOKEN)

        signed_at, timestamp = _parse_timestamp(params.timestamp, params.from_date_header)
        self._check_clock(signed_at, timestamp, params)

        signed_names = params.signed_headers.lower().split(";")
        if "host" not in signed_names:
            raise InvalidSignatureError(MSG_HOST_NOT_SIGNED)
        if params.algorithm != ALGORITHM:
            raise IncompleteSignatureError(
                f"Unsupported AWS 'algorithm': '{params.algorithm}' (only {ALGORITHM} for now). "
            )

        access_key_id, scope_date, region, scope_service, terminator = _split_credential(
            params.credential
        )
        _check_scope(scope_date, region, scope_service, terminator, service, timestamp)

        secret = self._lookup_secret(access_key_id)
        if secret is None:
            raise UnrecognizedClientError(MSG_UNKNOWN_KEY)

        payload_hash = _payload_hash(request.body, headers, params)

        # Canonical request.
        if query_pairs is None and request.query:
            query_pairs = _parse_query(request.query)
        canonical_query = _canonical_query(query_pairs, params.presigned) if query_pairs else ""
        signed_names.sort()
        lines = [request.method, _canonical_uri(request.path), canonical_query]
        for name in signed_names:
            value = headers.get(name)
            lines.append(f"{name}:{' '.join(value.split())}" if value else f"{name}:")
        lines.append("")
        lines.append(";".join(signed_names))
        lines.append(payload_hash)
        canonical_request = "\n".join(lines)

        scope = f"{scope_date}/{region}/{scope_service}/{TERMINATOR}"
        string_to_sign = (
            f"{ALGORITHM}\n{timestamp}\n{scope}\n"
            f"{hashlib.sha256(canonical_request.encode('utf-8', 'surrogatepass')).hexdigest()}"
        )
        key = self._signing_key(access_key_id, secret, scope_date, region, scope_service)
        expected = hmac.new(
            key, string_to_sign.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(
            expected.encode("ascii"), params.signature.encode("utf-8", "surrogatepass")
        ):
            raise InvalidSignatureError(MSG_SIGNATURE_MISMATCH)

        return VerifiedCaller(
            access_key_id=access_key_id,
            region=region,
            service=scope_service,
            date=scope_date,
            signed_at=signed_at,
        )

    def _check_clock(self, signed_at: datetime, timestamp: str, params: _AuthParams) -> None:
        now = int(self._clock())
        signed = int(signed_at.timestamp())
        # A presigned URL lives for X-Amz-Expires seconds instead of the clock-skew window.
        if params.expires is not None:
            lifetime = _parse_expires(params.expires)
            earliest, span = now - lifetime, _duration_text(lifetime)
        else:
            earliest, span = now - self._max_skew, self._skew_text
        if signed < earliest:
            raise InvalidSignatureError(
                f"Signature expired: {timestamp} is now earlier than "
                f"{_format_epoch(earliest)} ({_format_epoch(now)} - {span}.)"
            )
        latest = now + self._max_skew
        if signed > latest:
            raise InvalidSignatureError(
                f"Signature not yet current: {timestamp} is still later than "
                f"{_format_epoch(latest)} ({_format_epoch(now)} + {self._skew_text}.)"
            )


def _params_from_header(authorization: str, headers: Mapping[str, str]) -> _AuthParams:
    parts = authorization.split(None, 1)
    algorithm = parts[0] if parts else ""
    if not algorithm.startswith("AWS4-"):
        # Not a SigV4 header at all (SigV2, Bearer, garbage): AWS treats it as absent.
        raise MissingAuthenticationTokenError(MSG_MISSING_TOKEN)
    fields: dict[str, str] = {}
    if len(parts) > 1:
        for item in parts[1].split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise IncompleteSignatureError(
                    f"'{item}' not a valid key=value pair (missing equal-sign) in "
                    f"Authorization header: '{authorization}'."
                )
            fields[key.strip()] = value.strip()

    credential = fields.get("Credential", "")
    signature = fields.get("Signature", "")
    signed_headers = fields.get("SignedHeaders")
    timestamp = headers.get("x-amz-date")
    from_date_header = False
    if timestamp is None:
        timestamp = headers.get("date")
        from_date_header = timestamp is not None

    missing = []
    if not credential:
        missing.append("Authorization header requires 'Credential' parameter. ")
    if not signature:
        missing.append("Authorization header requires 'Signature' parameter. ")
    if signed_headers is None:
        missing.append("Authorization header requires 'SignedHeaders' parameter. ")
    if timestamp is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        )
    if signed_headers is None or timestamp is None or missing:
        raise IncompleteSignatureError("".join(missing) + f"Authorization={authorization}")

    return _AuthParams(
        algorithm=algorithm,
        credential=credential,
        signed_headers=signed_headers,
        signature=signature,
        timestamp=timestamp.strip(),
        from_date_header=from_date_header,
        presigned=False,
        expires=None,
        content_sha256=None,
    )


def _params_from_query(pairs: list[tuple[str, str, str, str]]) -> _AuthParams | None:
    """The presigned-URL parameters, or None when the query carries no X-Amz-Algorithm."""
    values: dict[str, str] = {}
    for _, _, key, value in pairs:
        values.setdefault(key, value)  # the first occurrence wins
    algorithm = values.get("X-Amz-Algorithm")
    if algorithm is None:
        return None
    if not algorithm.startswith("AWS4-"):
        raise MissingAuthenticationTokenError(MSG_MISSING_TOKEN)

    credential = values.get("X-Amz-Credential")
    signature = values.get("X-Amz-Signature")
    signed_headers = values.get("X-Amz-SignedHeaders")
    timestamp = values.get("X-Amz-Date")
    missing = [
        f"AWS query-string parameters must include '{name}'. "
        for name, value in (
            ("X-Amz-Credential", credential),
            ("X-Amz-Signature", signature),
            ("X-Amz-SignedHeaders", signed_headers),
            ("X-Amz-Date", timestamp),
        )
        if value is None
    ]
    if credential is None or signature is None or signed_headers is None or timestamp is None:
        raise IncompleteSignatureError("".join(missing) + "Re-examine the query-string parameters.")

    return _AuthParams(
        algorithm=algorithm,
        credential=credential,
        signed_headers=signed_headers,
        signature=signature,
        timestamp=timestamp,
        from_date_header=False,
        presigned=True,
        expires=values.get("X-Amz-Expires"),
        content_sha256=values.get("X-Amz-Content-Sha256"),
    )


def _parse_timestamp(value: str, from_date_header: bool) -> tuple[datetime, str]:
    """The signing time and its compact ISO-8601 form ("20260101T000000Z")."""
    if (
        len(value) == 16
        and value[8] == "T"
        and value[15] == "Z"
        and _DIGITS.issuperset(value[:8])
        and _DIGITS.issuperset(value[9:15])
    ):
        try:
            signed_at = datetime(
                int(value[0:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[9:11]),
                int(value[11:13]),
                int(value[13:15]),
                tzinfo=UTC,
            )
        except ValueError:
            pass
        else:
            return signed_at, value
    elif from_date_header:
        # botocore sends an RFC 1123 `Date` instead of `X-Amz-Date` when the caller set one.
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            pass
        else:
            # "-0000" (what botocore's formatdate writes) parses as naive: it is UTC.
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            signed_at = parsed.astimezone(UTC).replace(microsecond=0)
            return signed_at, signed_at.strftime("%Y%m%dT%H%M%SZ")
    raise IncompleteSignatureError(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _parse_expires(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        if value.startswith("-") and value[1:].isascii() and value[1:].isdigit():
            raise IncompleteSignatureError("X-Amz-Expires must be non-negative")
        raise IncompleteSignatureError("X-Amz-Expires should be a number")
    lifetime = int(value)
    if lifetime > MAX_PRESIGNED_EXPIRES:
        raise IncompleteSignatureError(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}"
        )
    return lifetime


def _split_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.rstrip("/").split("/")
    if len(parts) != 5:
        raise IncompleteSignatureError(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _check_scope(
    scope_date: str,
    region: str,
    scope_service: str,
    terminator: str,
    service: str,
    timestamp: str,
) -> None:
    if (
        region
        and scope_service == service
        and terminator == TERMINATOR
        and scope_date == timestamp[:8]
    ):
        return
    problems = []
    if not region:
        problems.append(f"Credential should be scoped to a valid region, not '{region}'. ")
    if scope_service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'. ")
    if terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'. "
        )
    if scope_date != timestamp[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    raise InvalidSignatureError("".join(problems))


def _payload_hash(body: bytes, headers: Mapping[str, str], params: _AuthParams) -> str:
    """The payload hash the canonical request ends with."""
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        declared = params.content_sha256
    body_hash = hashlib.sha256(body).hexdigest()
    if declared is None or declared == body_hash:
        return body_hash
    if params.presigned and declared == UNSIGNED_PAYLOAD:
        return UNSIGNED_PAYLOAD
    if declared.lower() == body_hash:
        return declared  # botocore signs the header value verbatim
    raise InvalidSignatureError(MSG_CONTENT_SHA256_MISMATCH)


def _parse_query(query: str) -> list[tuple[str, str, str, str]]:
    """Each pair as (encoded key, encoded value, decoded key, decoded value), in order.

    The encoded forms are the RFC 3986 canonical ones, whatever encoding the client chose.
    """
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        raw_key, _, raw_value = item.partition("=")
        key = unquote_to_bytes(raw_key.replace("+", " "))
        value = unquote_to_bytes(raw_value.replace("+", " "))
        pairs.append(
            (
                quote_from_bytes(key, _QUERY_SAFE),
                quote_from_bytes(value, _QUERY_SAFE),
                key.decode("utf-8", "replace"),
                value.decode("utf-8", "replace"),
            )
        )
    return pairs


def _canonical_query(pairs: list[tuple[str, str, str, str]], presigned: bool) -> str:
    encoded = sorted(
        (key, value)
        for key, value, decoded_key, _ in pairs
        if not (presigned and decoded_key == "X-Amz-Signature")
    )
    return "&".join(f"{key}={value}" for key, value in encoded)


def _canonical_uri(path: str) -> str:
    """The path the way botocore signs it: dot segments removed, then encoded once more."""
    if path == "/" or not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and segments else ""
    return quote(first + "/".join(segments) + last, safe=_PATH_SAFE)


def _duration_text(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} sec"


def _format_epoch(epoch: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
