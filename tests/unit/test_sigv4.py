"""SigV4 verification against requests signed by botocore's own signers."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials

from openacm.domain.errors import ApiError
from openacm.protocol.sigv4 import IncomingRequest, SigV4Verifier, VerifiedCaller

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "https://acm.us-east-1.amazonaws.com/"
SIGNED_AT = datetime(2026, 1, 1, 0, 30, 0, tzinfo=UTC)
NOW = SIGNED_AT.timestamp()
BODY = b'{"MaxItems": 10}'
TARGET = "CertificateManager.ListCertificates"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


# -- helpers ------------------------------------------------------------------------------------


@contextmanager
def signing_time(at: datetime) -> Iterator[None]:
    """Make botocore's signers stamp requests with `at`."""
    naive = at.astimezone(UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", lambda *a, **k: naive):
        yield


def to_incoming(prepared: AWSPreparedRequest | AWSRequest) -> IncomingRequest:
    """What the server would see for a request botocore hands to its HTTP client."""
    if isinstance(prepared, AWSRequest):
        prepared = prepared.prepare()
    parts = urlsplit(prepared.url)
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    for name, value in headers.items():
        if isinstance(value, bytes):
            headers[name] = value.decode("latin-1")
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    assert isinstance(body, bytes)
    # Added by the HTTP client on the way out, never signed.
    headers.setdefault("host", parts.netloc)
    headers.setdefault("content-length", str(len(body)))
    headers.setdefault("user-agent", "Boto3/1.0 test")
    return IncomingRequest(
        method=prepared.method,
        path=parts.path,
        query=parts.query,
        headers=headers,
        body=body,
    )


def acm_request(
    body: bytes = BODY,
    *,
    url: str = ENDPOINT,
    extra_headers: Mapping[str, str] | None = None,
) -> AWSRequest:
    headers = {
        "X-Amz-Target": TARGET,
        "Content-Type": "application/x-amz-json-1.1",
    }
    headers.update(extra_headers or {})
    return AWSRequest(method="POST", url=url, data=body, headers=headers)


def sign(
    request: AWSRequest,
    *,
    at: datetime = SIGNED_AT,
    service: str = "acm",
    region: str = "us-east-1",
    akid: str = AKID,
    secret: str = SECRET,
) -> IncomingRequest:
    with signing_time(at):
        SigV4Auth(Credentials(akid, secret), service, region).add_auth(request)
    return to_incoming(request)


def presign(
    request: AWSRequest,
    *,
    at: datetime = SIGNED_AT,
    expires: int = 300,
    keep_body: bool = False,
) -> IncomingRequest:
    signer_class = _KeepBodyQueryAuth if keep_body else SigV4QueryAuth
    with signing_time(at):
        signer_class(Credentials(AKID, SECRET), "acm", "us-east-1", expires=expires).add_auth(
            request
        )
    return to_incoming(request)


class _KeepBodyQueryAuth(SigV4QueryAuth):  # type: ignore[misc]
    """A presigned POST that keeps its JSON body (botocore would move it into the query)."""

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        data = request.data
        request.data = b""
        super()._modify_request_before_signing(request)
        request.data = data


def verifier(
    secrets: Mapping[str, str] | None = None,
    *,
    clock: Callable[[], float] = lambda: NOW,
    **kwargs: Any,
) -> SigV4Verifier:
    table = {AKID: SECRET} if secrets is None else secrets
    return SigV4Verifier(table.get, clock=clock, **kwargs)


def replace(request: IncomingRequest, **changes: Any) -> IncomingRequest:
    return dataclasses.replace(request, **changes)


def with_headers(request: IncomingRequest, **changes: str | None) -> IncomingRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return replace(request, headers=headers)


def refused(
    request: IncomingRequest, *, code: str, v: SigV4Verifier | None = None, service: str = "acm"
) -> str:
    with pytest.raises(ApiError) as info:
        (v or verifier()).verify(request, service=service)
    error = info.value
    assert error.code == code, (error.code, error.message)
    assert SECRET not in error.message
    return error.message


# -- requests that verify -----------------------------------------------------------------------


def test_botocore_signed_acm_request_verifies() -> None:
    caller = verifier().verify(sign(acm_request()), service="acm")
    assert caller == VerifiedCaller(
        access_key_id=AKID,
        region="us-east-1",
        service="acm",
        date="20260101",
        signed_at=SIGNED_AT,
    )
    assert caller.signed_at.tzinfo is not None


def test_boto3_client_request_verifies() -> None:
    """The exact bytes a boto3 ACM client puts on the wire."""
    captured: list[AWSPreparedRequest] = []

    class Sent(Exception):
        pass

    def capture(request: AWSPreparedRequest, **kwargs: Any) -> None:
        captured.append(request)
        raise Sent

    client = boto3.client(
        "acm",
        region_name="eu-west-3",
        endpoint_url="https://openacm.example.test:8443",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )
    client.meta.events.register("before-send.acm.*", capture)
    with pytest.raises(Sent):
        client.list_certificates(MaxItems=5, CertificateStatuses=["ISSUED"])
    incoming = to_incoming(captured[0])
    assert incoming.headers["x-amz-target"] == TARGET
    caller = SigV4Verifier({AKID: SECRET}.get).verify(incoming, service="acm")
    assert caller.region == "eu-west-3"
    assert caller.access_key_id == AKID


def test_other_region_and_empty_body_verify() -> None:
    incoming = sign(acm_request(b""), region="ap-southeast-2")
    assert verifier().verify(incoming, service="acm").region == "ap-southeast-2"


def test_path_with_odd_characters_verifies() -> None:
    url = "https://acm.example.test:4443/a%20b//c%2Fd/./e/../f~g-h_i.j!$'()*+,;=:@/%E2%9C%93/"
    incoming = sign(acm_request(url=url))
    assert incoming.path.startswith("/a%20b//c%2Fd/")
    verifier().verify(incoming, service="acm")
    # The path is part of what is signed.
    refused(replace(incoming, path="/a%20b/c%2Fd/f/"), code="InvalidSignatureException")


def test_query_string_is_canonicalized() -> None:
    url = ENDPOINT + "?b=%2Fx&a=2&a=1&c=&d=~_-.&e=a%20b&k%20y=1"
    incoming = sign(acm_request(url=url))
    verifier().verify(incoming, service="acm")
    # Same parameters in another order and with other (equivalent) encodings.
    verifier().verify(
        replace(incoming, query="k+y=1&e=a+b&d=%7E_-.&c&a=1&a=2&b=%2fx"),
        service="acm",
    )
    refused(replace(incoming, query=incoming.query + "&f=1"), code="InvalidSignatureException")


def test_unsigned_extra_headers_are_allowed() -> None:
    incoming = with_headers(
        sign(acm_request()),
        x_forwarded_for="10.0.0.1",
        x_amzn_trace_id="Root=1-abc",
        accept_encoding="identity",
    )
    verifier().verify(incoming, service="acm")


def test_signed_header_values_are_trimmed_and_collapsed() -> None:
    request = acm_request(extra_headers={"X-Custom": "  a   b\t c  "})
    incoming = sign(request)
    assert "x-custom" in incoming.headers["authorization"]
    # As received (an HTTP server strips the ends, but keeps the inner whitespace).
    verifier().verify(incoming, service="acm")
    verifier().verify(with_headers(incoming, x_custom="a   b\t c"), service="acm")
    verifier().verify(with_headers(incoming, x_custom="a b c"), service="acm")
    refused(with_headers(incoming, x_custom="a bc"), code="InvalidSignatureException")


def test_signed_headers_list_is_canonicalized() -> None:
    signed = sign(acm_request())
    auth = signed.headers["authorization"]
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target," in auth
    auth = auth.replace(
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target,",
        "SignedHeaders=X-Amz-Target;host;Content-Type;x-amz-date,",
    )
    verifier().verify(with_headers(signed, authorization=auth), service="acm")


def test_date_header_instead_of_x_amz_date_verifies() -> None:
    request = acm_request(extra_headers={"Date": "Thu, 01 Jan 1970 00:00:00 GMT"})
    incoming = sign(request)
    assert "x-amz-date" not in incoming.headers
    assert incoming.headers["date"] == "Thu, 01 Jan 2026 00:30:00 -0000"
    assert verifier().verify(incoming, service="acm").signed_at == SIGNED_AT


def test_matching_content_sha256_header_verifies() -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    incoming = sign(acm_request(extra_headers={"X-Amz-Content-SHA256": digest}))
    verifier().verify(incoming, service="acm")


def test_presigned_get_verifies() -> None:
    url = ENDPOINT + "?Action=ListCertificates&Filter=a%20b%2Fc"
    incoming = presign(AWSRequest(method="GET", url=url), expires=600)
    assert "X-Amz-Signature=" in incoming.query
    assert "authorization" not in incoming.headers
    caller = verifier().verify(incoming, service="acm")
    assert caller.access_key_id == AKID
    assert caller.date == "20260101"


def test_presigned_post_with_json_body_uses_body_hash() -> None:
    incoming = presign(acm_request(), keep_body=True)
    verifier().verify(incoming, service="acm")
    refused(replace(incoming, body=b'{"MaxItems": 11}'), code="InvalidSignatureException")


def test_presigned_unsigned_payload_verifies() -> None:
    request = acm_request(extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    incoming = presign(request, keep_body=True)
    verifier().verify(incoming, service="acm")
    # The body is not covered, by the caller's own choice.
    verifier().verify(replace(incoming, body=b"{}"), service="acm")


def test_presigned_url_lives_for_its_expiry() -> None:
    incoming = presign(AWSRequest(method="GET", url=ENDPOINT), expires=3600)
    verifier(clock=lambda: NOW + 3600).verify(incoming, service="acm")
    message = refused(
        incoming, code="InvalidSignatureException", v=verifier(clock=lambda: NOW + 3601)
    )
    assert message == (
        "Signature expired: 20260101T003000Z is now earlier than 20260101T003001Z "
        "(20260101T013001Z - 60 min.)"
    )


def test_presigned_tampered_query_is_refused() -> None:
    incoming = presign(AWSRequest(method="GET", url=ENDPOINT + "?Action=ListCertificates"))
    tampered = incoming.query.replace("Action=ListCertificates", "Action=DeleteCertificate")
    refused(replace(incoming, query=tampered), code="InvalidSignatureException")


# -- refusals -----------------------------------------------------------------------------------


def test_missing_authentication() -> None:
    incoming = with_headers(sign(acm_request()), authorization=None, x_amz_date=None)
    message = refused(incoming, code="MissingAuthenticationTokenException")
    assert message == "Missing Authentication Token"
    # A query string without X-Amz-Algorithm does not count either.
    message = refused(replace(incoming, query="a=1"), code="MissingAuthenticationTokenException")
    assert message == "Missing Authentication Token"


def test_non_sigv4_authorization_is_treated_as_missing() -> None:
    incoming = with_headers(sign(acm_request()), authorization="Bearer abc.def")
    assert refused(incoming, code="MissingAuthenticationTokenException") == (
        "Missing Authentication Token"
    )


def test_authorization_missing_parameters() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/acm/aws4_request"
    incoming = with_headers(sign(acm_request()), authorization=auth)
    assert refused(incoming, code="IncompleteSignatureException") == (
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        f"Authorization={auth}"
    )


def test_authorization_missing_everything() -> None:
    incoming = with_headers(
        sign(acm_request()), authorization="AWS4-HMAC-SHA256 Foo=Bar, Baz=Burp", x_amz_date=None
    )
    assert refused(incoming, code="IncompleteSignatureException") == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=AWS4-HMAC-SHA256 Foo=Bar, Baz=Burp"
    )


def test_missing_date() -> None:
    signed = sign(acm_request())
    incoming = with_headers(signed, x_amz_date=None)
    assert refused(incoming, code="IncompleteSignatureException") == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={signed.headers['authorization']}"
    )


def test_authorization_pair_without_equal_sign() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=A/b/c/d/e, SignedHeaders, Signature=00"
    incoming = with_headers(sign(acm_request()), authorization=auth)
    assert refused(incoming, code="IncompleteSignatureException") == (
        "'SignedHeaders' not a valid key=value pair (missing equal-sign) in "
        f"Authorization header: '{auth}'."
    )


def test_malformed_date() -> None:
    incoming = with_headers(sign(acm_request()), x_amz_date="2026-01-01T00:30:00Z")
    assert refused(incoming, code="IncompleteSignatureException") == (
        "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:30:00Z'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )
    incoming = with_headers(incoming, x_amz_date="20261301T003000Z")
    refused(incoming, code="IncompleteSignatureException")


def test_unsupported_algorithm() -> None:
    signed = sign(acm_request())
    auth = signed.headers["authorization"].replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512")
    assert refused(
        with_headers(signed, authorization=auth), code="IncompleteSignatureException"
    ) == ("Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ")


def test_credential_with_wrong_number_of_elements() -> None:
    signed = sign(acm_request())
    auth = signed.headers["authorization"].replace("/acm/aws4_request", "/acm")
    assert refused(
        with_headers(signed, authorization=auth), code="IncompleteSignatureException"
    ) == (
        "Credential must have exactly 5 slash-delimited elements, "
        "e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20260101/us-east-1/acm'"
    )


def test_host_must_be_signed() -> None:
    real = SigV4Auth.headers_to_sign

    def without_host(self: SigV4Auth, request: AWSRequest) -> Any:
        headers = real(self, request)
        del headers["host"]
        return headers

    # Sign as a client that leaves Host out of SignedHeaders.
    with mock.patch.object(SigV4Auth, "headers_to_sign", without_host):
        incoming = sign(acm_request())
    assert "host" not in incoming.headers["authorization"].split("SignedHeaders=")[1]
    assert refused(incoming, code="InvalidSignatureException") == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    )


def test_scope_for_another_service() -> None:
    incoming = sign(acm_request(), service="kms")
    assert refused(incoming, code="InvalidSignatureException") == (
        "Credential should be scoped to correct service: 'acm'. "
    )


def test_scope_date_differs_from_request_date() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    signed = sign(acm_request(), at=at)
    auth = signed.headers["authorization"].replace("/20260102/", "/20260101/")
    message = refused(
        with_headers(signed, authorization=auth),
        code="InvalidSignatureException",
        v=verifier(clock=at.timestamp),
    )
    assert message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20260101' != '20260102', from '20260102T000000Z'."
    )


def test_scope_with_wrong_terminator() -> None:
    signed = sign(acm_request())
    auth = signed.headers["authorization"].replace("/aws4_request", "/aws5_request")
    assert refused(with_headers(signed, authorization=auth), code="InvalidSignatureException") == (
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
    )


def test_several_scope_problems_are_reported_together() -> None:
    signed = sign(acm_request(), service="kms")
    auth = signed.headers["authorization"].replace("/20260101/", "/20251231/")
    auth = auth.replace("/aws4_request", "/aws5_request")
    assert refused(with_headers(signed, authorization=auth), code="InvalidSignatureException") == (
        "Credential should be scoped to correct service: 'acm'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20251231' != '20260101', from '20260101T003000Z'."
    )


def test_unknown_access_key() -> None:
    incoming = sign(acm_request(), akid="AKIDUNKNOWN")
    assert refused(incoming, code="UnrecognizedClientException") == (
        "The security token included in the request is invalid."
    )


def test_disabled_access_key() -> None:
    def lookup(akid: str) -> str | None:
        return None  # known, but disabled

    incoming = sign(acm_request())
    v = SigV4Verifier(lookup, clock=lambda: NOW)
    assert refused(incoming, code="UnrecognizedClientException", v=v) == (
        "The security token included in the request is invalid."
    )


def test_wrong_secret() -> None:
    incoming = sign(acm_request(), secret="not-the-secret")
    assert refused(incoming, code="InvalidSignatureException") == MISMATCH


def test_tampered_body() -> None:
    incoming = sign(acm_request())
    assert refused(
        replace(incoming, body=b'{"MaxItems": 11}'), code="InvalidSignatureException"
    ) == (MISMATCH)


def test_tampered_signed_header() -> None:
    incoming = with_headers(
        sign(acm_request()), x_amz_target="CertificateManager.DeleteCertificate"
    )
    assert refused(incoming, code="InvalidSignatureException") == MISMATCH


def test_tampered_method() -> None:
    incoming = replace(sign(acm_request()), method="PUT")
    assert refused(incoming, code="InvalidSignatureException") == MISMATCH


def test_tampered_signature() -> None:
    signed = sign(acm_request())
    auth = signed.headers["authorization"]
    sig = auth.rsplit("Signature=", 1)[1]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    incoming = with_headers(signed, authorization=auth.replace(sig, flipped))
    assert refused(incoming, code="InvalidSignatureException") == MISMATCH
    incoming = with_headers(signed, authorization=auth.replace(sig, "é" * 64))
    assert refused(incoming, code="InvalidSignatureException") == MISMATCH


def test_content_sha256_header_that_does_not_match_body() -> None:
    digest = hashlib.sha256(b"something else").hexdigest()
    incoming = sign(acm_request(extra_headers={"X-Amz-Content-SHA256": digest}))
    assert refused(incoming, code="InvalidSignatureException") == (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


def test_unsigned_payload_is_refused_outside_presigned_urls() -> None:
    incoming = sign(acm_request(extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}))
    assert refused(incoming, code="InvalidSignatureException") == (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


def test_presigned_missing_parameters() -> None:
    incoming = IncomingRequest(
        method="GET",
        path="/",
        query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T003000Z",
        headers={"host": "acm.example.test"},
        body=b"",
    )
    assert refused(incoming, code="IncompleteSignatureException") == (
        "AWS query-string parameters must include 'X-Amz-Credential'. "
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
        "Re-examine the query-string parameters."
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "X-Amz-Expires should be a number"),
        ("-5", "X-Amz-Expires must be non-negative"),
        ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ],
)
def test_presigned_bad_expires(value: str, message: str) -> None:
    incoming = presign(AWSRequest(method="GET", url=ENDPOINT))
    query = incoming.query.replace("X-Amz-Expires=300", f"X-Amz-Expires={value}")
    assert refused(replace(incoming, query=query), code="IncompleteSignatureException") == message


# -- clock skew ---------------------------------------------------------------------------------


def test_signature_expired() -> None:
    clock_at = datetime(2026, 1, 1, 0, 30, tzinfo=UTC).timestamp()
    incoming = sign(acm_request(), at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    assert refused(
        incoming, code="InvalidSignatureException", v=verifier(clock=lambda: clock_at)
    ) == (
        "Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z "
        "(20260101T003000Z - 15 min.)"
    )


def test_signature_not_yet_current() -> None:
    clock_at = datetime(2026, 1, 1, 0, 30, tzinfo=UTC).timestamp()
    incoming = sign(acm_request(), at=datetime(2026, 1, 1, 1, 0, tzinfo=UTC))
    assert refused(
        incoming, code="InvalidSignatureException", v=verifier(clock=lambda: clock_at)
    ) == (
        "Signature not yet current: 20260101T010000Z is still later than 20260101T004500Z "
        "(20260101T003000Z + 15 min.)"
    )


def test_skew_limits_are_inclusive() -> None:
    incoming = sign(acm_request())
    verifier(clock=lambda: NOW + 900).verify(incoming, service="acm")
    verifier(clock=lambda: NOW - 900).verify(incoming, service="acm")
    refused(incoming, code="InvalidSignatureException", v=verifier(clock=lambda: NOW + 901))
    refused(incoming, code="InvalidSignatureException", v=verifier(clock=lambda: NOW - 901))


def test_custom_skew_window() -> None:
    incoming = sign(acm_request())
    v = verifier(clock=lambda: NOW + 91, max_skew_seconds=90)
    assert refused(incoming, code="InvalidSignatureException", v=v) == (
        "Signature expired: 20260101T003000Z is now earlier than 20260101T003001Z "
        "(20260101T003131Z - 90 sec.)"
    )


def test_presigned_url_from_the_future_is_refused() -> None:
    incoming = presign(AWSRequest(method="GET", url=ENDPOINT), at=SIGNED_AT + timedelta(hours=1))
    message = refused(incoming, code="InvalidSignatureException")
    assert message.startswith("Signature not yet current: 20260101T013000Z")


# -- signing-key cache --------------------------------------------------------------------------


def test_changed_secret_never_reuses_cached_key() -> None:
    secrets = {AKID: SECRET}
    v = SigV4Verifier(secrets.get, clock=lambda: NOW)
    old = sign(acm_request())
    v.verify(old, service="acm")
    v.verify(old, service="acm")  # served from the cache

    secrets[AKID] = "rotated-secret"
    assert refused(old, code="InvalidSignatureException", v=v) == MISMATCH
    v.verify(sign(acm_request(), secret="rotated-secret"), service="acm")

    secrets[AKID] = SECRET
    v.verify(old, service="acm")


def test_cache_is_bounded_and_can_be_disabled() -> None:
    secrets = {f"AKID{i}": f"secret-{i}" for i in range(5)}
    for size in (0, 2):
        v = SigV4Verifier(secrets.get, clock=lambda: NOW, cache_size=size)
        for _ in range(2):
            for akid, secret in secrets.items():
                caller = v.verify(sign(acm_request(), akid=akid, secret=secret), service="acm")
                assert caller.access_key_id == akid


def test_signing_key_is_derived_once_per_scope() -> None:
    from openacm.protocol import sigv4

    calls: list[tuple[str, ...]] = []
    real = sigv4._derive_signing_key

    def counting(*args: str) -> bytes:
        calls.append(args)
        return real(*args)

    with mock.patch.object(sigv4, "_derive_signing_key", counting):
        v = verifier()
    incoming = sign(acm_request())
    for _ in range(3):
        v.verify(incoming, service="acm")
    assert len(calls) == 1
