"""Bad input gets ACM's answer, and the store stays whole.

Every request here is refused. boto3 sends what it can with parameter validation off (so the
SERVER's validation is what is tested); raw SigV4-signed HTTP sends what boto3 cannot (bad
JSON, bad base64, skewed clocks, unknown targets). For every refusal the test checks the error
code, the HTTP status, the body shape (`{"__type": ..., "message": ...}`, no traceback), the
x-amzn-RequestId header, and that neither the caller's account nor another account changed:
certificates (every key type), their details, tags and bodies, and the account configuration.

The accounts are shared by the tests of this module (creating one costs two CLI runs); each
test compares the store against the snapshot taken when it started.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import random
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import botocore.session
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openacm.domain import x509facts
from tests.support import pki
from tests.support.server import OpenAcmServer

MODEL = botocore.session.get_session().get_service_model("acm")
TARGET_PREFIX = MODEL.metadata["targetPrefix"]
# Every key algorithm ListCertificates can filter on, so that no certificate is hidden.
KEY_TYPES = list(MODEL.shape_for("Filters").members["keyTypes"].member.enum)
# The implemented operations that have required input members.
IMPLEMENTED = (
    "ImportCertificate",
    "DescribeCertificate",
    "GetCertificate",
    "ExportCertificate",
    "RenewCertificate",
    "DeleteCertificate",
    "AddTagsToCertificate",
    "RemoveTagsFromCertificate",
    "ListTagsForCertificate",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "PutAccountConfiguration",
    "ResendValidationEmail",
    "UpdateCertificateOptions",
)
LOOSE = Config(
    parameter_validation=False,
    retries={"max_attempts": 1},
    connect_timeout=5,
    read_timeout=120,
)
TIMESTAMP = re.compile(r"\d{8}T\d{6}Z")
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
MSG_UNKNOWN_KEY = "The security token included in the request is invalid."
SENSITIVE = "*** Sensitive Data Redacted ***"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _message_member(code: str) -> str:
    """The member that carries the message in the model's error shape ("Message" for
    AccessDeniedException); "message" for the errors of the wire."""
    for shape in MODEL.error_shapes:
        if shape.name == code:
            return next(m for m in shape.members if m.lower() == "message")
    return "message"


# -- answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Caller:
    """One access key's ways of sending a request: boto3 without client-side validation,
    and raw signed HTTP."""

    def __init__(self, server: OpenAcmServer, key: tuple[str, str], region: str = "us-east-1"):
        self.server = server
        self.key = key
        self.region = region
        self.loose = boto3.session.Session().client(
            "acm",
            endpoint_url=server.endpoint,
            region_name=region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=LOOSE,
        )
        self._last: Answer | None = None
        self.loose.meta.events.register("before-parse.acm", self._capture)
        self.http = httpx.Client(timeout=120)

    def _capture(self, response_dict: dict[str, Any], **_: Any) -> None:
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        self._last = Answer(response_dict["status_code"], headers, response_dict["body"])

    def call(self, operation: str, **params: Any) -> Answer:
        """The operation through boto3 (validation off); the raw answer."""
        self._last = None
        method = getattr(self.loose, botocore.xform_name(operation))
        with contextlib.suppress(ClientError):
            method(**params)
        assert self._last is not None, "boto3 sent nothing"
        return self._last

    def raw(
        self,
        target: str | None,
        body: bytes | dict[str, Any],
        *,
        key: tuple[str, str] | None = None,
        region: str | None = None,
        sign: bool = True,
        signed_at: dt.datetime | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """POST `body` as it is (a dict is JSON-encoded), SigV4-signed unless `sign` is off."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request_headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            request_headers["X-Amz-Target"] = target
        request_headers.update(headers or {})
        request = AWSRequest("POST", self.server.endpoint + "/", data=data, headers=request_headers)
        if sign:
            auth = SigV4Auth(Credentials(*(key or self.key)), "acm", region or self.region)
            if signed_at is None:
                auth.add_auth(request)
            else:
                naive = signed_at.astimezone(dt.UTC).replace(tzinfo=None)
                with mock.patch("botocore.auth.get_current_datetime", return_value=naive):
                    auth.add_auth(request)
        prepared = request.prepare()
        response = self.http.post(
            self.server.endpoint + "/", content=data, headers=dict(prepared.headers.items())
        )
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    def close(self) -> None:
        self.http.close()


def target(operation: str) -> str:
    return f"{TARGET_PREFIX}.{operation}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the store ------------------------------------------------------------------------------


@dataclass
class Account:
    account_id: str
    key: tuple[str, str]
    acm: Any  # a validating boto3 client, for snapshots
    arn: str  # a certificate it holds, with tags

    @property
    def certificate_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]


def _snapshot_account(acm: Any) -> dict[str, Any]:
    certificates: dict[str, Any] = {}
    kwargs: dict[str, Any] = {"Includes": {"keyTypes": KEY_TYPES}}
    while True:
        page = acm.list_certificates(**kwargs)
        for summary in page["CertificateSummaryList"]:
            arn = summary["CertificateArn"]
            got = acm.get_certificate(CertificateArn=arn)
            certificates[arn] = {
                "summary": summary,
                "detail": acm.describe_certificate(CertificateArn=arn)["Certificate"],
                "tags": acm.list_tags_for_certificate(CertificateArn=arn).get("Tags"),
                "body": (got.get("Certificate"), got.get("CertificateChain")),
            }
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    config = acm.get_account_configuration()
    config.pop("ResponseMetadata", None)
    return {"certificates": certificates, "configuration": config}


@dataclass
class World:
    server: OpenAcmServer
    me: Account
    other: Account  # another account, whose certificates the caller must not reach
    issued: pki.Issued  # what `me.arn` holds
    caller: Caller  # signs with `me.key`
    user_name: str  # of `me.key`, as IAM ARNs and AccessDenied messages name the caller

    def snapshot(self) -> dict[str, Any]:
        return {
            self.me.account_id: _snapshot_account(self.me.acm),
            self.other.account_id: _snapshot_account(self.other.acm),
        }


def _account(server: OpenAcmServer, issued: pki.Issued) -> Account:
    account_id, key = server.new_account()
    acm = server.client(key=key)
    arn = acm.import_certificate(
        **issued.import_args(Tags=[{"Key": "env", "Value": "test"}, {"Key": "team"}])
    )["CertificateArn"]
    acm.put_account_configuration(
        ExpiryEvents={"DaysBeforeExpiry": 20}, IdempotencyToken=uuid.uuid4().hex
    )
    return Account(account_id, key, acm, arn)


def _world(server: OpenAcmServer) -> Iterator[World]:
    _root, intermediate = pki.ca_hierarchy()
    issued = pki.issue("bad-input.example.com", sans=["bad-input.example.com"], issuer=intermediate)
    me = _account(server, issued)
    other = _account(server, pki.issue("other.example.com", sans=["other.example.com"]))
    caller = Caller(server, me.key)
    listed = server.admin("admin", "key", "list", "--account-id", me.account_id, "--output", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    yield World(server, me, other, issued, caller, row["user_name"])
    caller.close()


@pytest.fixture(scope="module")
def world(sqlite_server: OpenAcmServer) -> Iterator[World]:
    """Most refusals happen before the store is touched: SQLite shows them well enough."""
    yield from _world(sqlite_server)


@pytest.fixture(scope="module")
def backend_world(server: OpenAcmServer) -> Iterator[World]:
    """For input that reaches the store: every backend must answer it the same way."""
    yield from _world(server)


@dataclass
class BadInput:
    """What a test refuses with: a caller, the store as it was, and the checks."""

    world: World
    caller: Caller
    before: dict[str, Any]
    checked: int = 0

    @property
    def me(self) -> Account:
        return self.world.me

    @property
    def other(self) -> Account:
        return self.world.other

    def expect(
        self,
        answer: Answer,
        code: str,
        message: str | None = None,
        *,
        status: int = 400,
        startswith: str | None = None,
        contains: tuple[str, ...] = (),
        no_message: bool = False,
    ) -> str:
        """Check one refusal and the store after it; the error's message."""
        text = answer.body.decode("utf-8", "replace")
        context = f"HTTP {answer.status}: {text[:2000]}"
        assert answer.status == status, context
        assert answer.headers.get("x-amzn-requestid"), context
        uuid.UUID(answer.headers["x-amzn-requestid"])
        assert answer.headers.get("x-amzn-errortype") == code, answer.headers
        assert answer.headers.get("content-type", "").startswith("application/x-amz-json-1.1")
        for marker in ("Traceback", 'File "', "sqlalchemy", "Error:", "openacm/"):
            assert marker not in text, context
        body = answer.json
        assert isinstance(body, dict), context
        assert body.get("__type") == code, context
        member = _message_member(code)
        if no_message:
            # AWS sends no message for a body that is not JSON and for unknown operations.
            assert set(body) == {"__type"}, context
            got = ""
        else:
            assert set(body) == {"__type", member}, context
            got = body[member]
            assert isinstance(got, str) and got, context
        if message is not None:
            assert got == message
        if startswith is not None:
            assert got.startswith(startswith), got
        for part in contains:
            assert part in got, got
        assert self.world.snapshot() == self.before, f"the store changed after {code}"
        self.checked += 1
        return got


def _checks(world: World) -> Iterator[BadInput]:
    checks = BadInput(world, world.caller, world.snapshot())
    yield checks
    assert checks.checked, "the test checked no refusal"


@pytest.fixture
def bad(world: World) -> Iterator[BadInput]:
    yield from _checks(world)


@pytest.fixture
def bad_anywhere(backend_world: World) -> Iterator[BadInput]:
    yield from _checks(backend_world)


# -- valid requests, to break one member at a time ------------------------------------------


def valid_params(operation: str, arn: str, issued: pki.Issued) -> dict[str, Any]:
    """A request of `operation` the server would accept (re-import for ImportCertificate)."""
    arn_key = "ResourceArn" if operation.endswith("Resource") else "CertificateArn"
    params: dict[str, Any] = {arn_key: arn}
    if operation == "ImportCertificate":
        params.update(issued.import_args())
    elif operation in ("AddTagsToCertificate", "TagResource"):
        params["Tags"] = [{"Key": "added", "Value": "by-test"}]
    elif operation == "RemoveTagsFromCertificate":
        params["Tags"] = [{"Key": "env"}]
    elif operation == "UntagResource":
        params["TagKeys"] = ["env"]
    elif operation == "ExportCertificate":
        params["Passphrase"] = b"passphrase"
    elif operation == "PutAccountConfiguration":
        params = {"IdempotencyToken": uuid.uuid4().hex, "ExpiryEvents": {"DaysBeforeExpiry": 60}}
    elif operation == "ResendValidationEmail":
        params.update(Domain="x.example.com", ValidationDomain="x.example.com")
    elif operation == "UpdateCertificateOptions":
        params["Options"] = {"ValidationMethod": "DNS"}
    return params


ARN_OPERATIONS = tuple(op for op in IMPLEMENTED if op != "PutAccountConfiguration")
REQUIRED = [
    (operation, member)
    for operation in IMPLEMENTED
    for member in MODEL.operation_model(operation).input_shape.required_members
]


def test_the_model_lists_what_this_module_covers() -> None:
    """If botocore's model gains a required member, the valid requests here must follow."""
    assert len(KEY_TYPES) == 7
    issued = pki.issue("x.example.com")
    for operation in IMPLEMENTED:
        required = set(MODEL.operation_model(operation).input_shape.required_members)
        assert required, operation
        assert required <= set(valid_params(operation, "arn:aws:acm:x:1:c/1", issued)), operation


@pytest.mark.parametrize(("operation", "member"), REQUIRED, ids=[f"{o}-{m}" for o, m in REQUIRED])
def test_missing_required_member(bad: BadInput, operation: str, member: str) -> None:
    params = valid_params(operation, bad.me.arn, bad.world.issued)
    del params[member]
    expected = (
        f"1 validation error detected: Value null at '{_camel(member)}' failed to satisfy "
        "constraint: Member must not be null"
    )
    bad.expect(bad.caller.call(operation, **params), "ValidationException", expected)
    # An explicit JSON null is the same as no member.
    wire = {k: b64(v) if isinstance(v, bytes) else v for k, v in params.items()}
    wire[member] = None
    bad.expect(bad.caller.raw(target(operation), wire), "ValidationException", expected)


@pytest.mark.parametrize("operation", IMPLEMENTED)
def test_every_required_member_missing(bad: BadInput, operation: str) -> None:
    required = MODEL.operation_model(operation).input_shape.required_members
    violations = [
        f"Value null at '{_camel(m)}' failed to satisfy constraint: Member must not be null"
        for m in required
    ]
    count = len(violations)
    expected = (
        f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(violations)}"
    )
    bad.expect(bad.caller.raw(target(operation), b"{}"), "ValidationException", expected)
    # An empty body is an empty object.
    bad.expect(bad.caller.raw(target(operation), b""), "ValidationException", expected)


# -- wrong JSON types -----------------------------------------------------------------------


def test_string_for_an_integer(bad: BadInput) -> None:
    answer = bad.caller.call("ListCertificates", MaxItems="10")
    bad.expect(answer, "SerializationException", "STRING_VALUE can not be converted to an Integer")


def test_number_for_a_string(bad: BadInput) -> None:
    answer = bad.caller.call("DescribeCertificate", CertificateArn=12345678901234567890)
    bad.expect(answer, "SerializationException", "NUMBER_VALUE can not be converted to a String")
    answer = bad.caller.call("DeleteCertificate", CertificateArn=True)
    bad.expect(answer, "SerializationException", "TRUE_VALUE can not be converted to a String")


def test_object_for_a_list(bad: BadInput) -> None:
    start_of_object = "Start of structure or map found where not expected."
    answer = bad.caller.raw(target("ListCertificates"), {"CertificateStatuses": {"ISSUED": 1}})
    bad.expect(answer, "SerializationException", start_of_object)
    answer = bad.caller.raw(
        target("AddTagsToCertificate"),
        {"CertificateArn": bad.me.arn, "Tags": {"Key": "a", "Value": "b"}},
    )
    bad.expect(answer, "SerializationException", start_of_object)
    answer = bad.caller.raw(target("UntagResource"), {"ResourceArn": bad.me.arn, "TagKeys": "env"})
    bad.expect(answer, "SerializationException", "Expected list or null")
    # ... and a list where a structure belongs
    answer = bad.caller.raw(target("ListCertificates"), {"Includes": ["keyTypes"]})
    bad.expect(answer, "SerializationException", "Start of list found where not expected")


def test_invalid_base64_blob(bad: BadInput) -> None:
    key = b64(bad.world.issued.key_pem)
    answer = bad.caller.raw(target("ImportCertificate"), {"Certificate": "!!!!", "PrivateKey": key})
    bad.expect(
        answer,
        "SerializationException",
        "'!!!!' can not be converted to a Blob: Invalid Base64 character: '!'",
    )
    answer = bad.caller.raw(
        target("ImportCertificate"), {"Certificate": "QUJD" * 10 + "QU", "PrivateKey": key}
    )
    bad.expect(
        answer,
        "SerializationException",
        f"'{'QUJD' * 10}QU' can not be converted to a Blob: Base64 encoded length is expected "
        "a multiple of 4 bytes but found: 42",
    )


def test_invalid_base64_private_key_is_not_echoed(bad: BadInput) -> None:
    secret = "c2VjcmV0LWtleS1ib2R5" + "$$$$"
    answer = bad.caller.raw(
        target("ImportCertificate"),
        {"Certificate": b64(bad.world.issued.cert_pem), "PrivateKey": secret},
    )
    message = bad.expect(answer, "SerializationException", contains=(SENSITIVE,))
    assert "c2VjcmV0" not in message
    assert message.startswith(f"'{SENSITIVE}' can not be converted to a Blob")


# -- over-long values -----------------------------------------------------------------------


def test_arn_longer_than_2048(bad: BadInput) -> None:
    arn = bad.me.arn + "/" + "a" * 2048
    expected = (
        f"1 validation error detected: Value '{arn}' at 'certificateArn' failed to satisfy "
        "constraint: Member must have length less than or equal to 2048"
    )
    bad.expect(
        bad.caller.call("DescribeCertificate", CertificateArn=arn), "ValidationException", expected
    )
    bad.expect(
        bad.caller.call("DeleteCertificate", CertificateArn=arn), "ValidationException", expected
    )


def test_tag_key_longer_than_128(bad: BadInput) -> None:
    key = "k" * 129
    answer = bad.caller.call(
        "AddTagsToCertificate", CertificateArn=bad.me.arn, Tags=[{"Key": key, "Value": "v"}]
    )
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value '{key}' at 'tags.1.member.key' failed to satisfy "
        "constraint: Member must have length less than or equal to 128",
    )
    # 128 passes the model but not the service's 127-character quota.
    answer = bad.caller.call(
        "AddTagsToCertificate", CertificateArn=bad.me.arn, Tags=[{"Key": "k" * 128}]
    )
    bad.expect(answer, "InvalidTagException", contains=("k" * 128, "127"))
    answer = bad.caller.call(
        "TagResource", ResourceArn=bad.me.arn, Tags=[{"Key": "aws:reserved", "Value": "v"}]
    )
    bad.expect(answer, "InvalidTagException", contains=("aws:reserved",))


def test_tag_value_too_long(bad: BadInput) -> None:
    value = "v" * 257
    answer = bad.caller.call(
        "AddTagsToCertificate", CertificateArn=bad.me.arn, Tags=[{"Key": "k", "Value": value}]
    )
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at 'tags.1.member.value' failed to "
        "satisfy constraint: Member must have length less than or equal to 256",
    )


def test_51_tags_in_one_request(bad: BadInput) -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    suffix = (
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )
    for operation, arn_member in (
        ("AddTagsToCertificate", "CertificateArn"),
        ("TagResource", "ResourceArn"),
        ("RemoveTagsFromCertificate", "CertificateArn"),
    ):
        answer = bad.caller.call(operation, **{arn_member: bad.me.arn, "Tags": tags})
        message = bad.expect(answer, "ValidationException", contains=(suffix,))
        assert message.startswith("1 validation error detected: Value '[{Key: k0,Value: v}, ")
    answer = bad.caller.call("ImportCertificate", **bad.world.issued.import_args(Tags=tags))
    bad.expect(answer, "ValidationException", contains=(suffix,))
    answer = bad.caller.call(
        "UntagResource", ResourceArn=bad.me.arn, TagKeys=[f"k{i}" for i in range(51)]
    )
    bad.expect(
        answer,
        "ValidationException",
        contains=(suffix.replace("'tags'", "'tagKeys'"),),
    )


def test_empty_tag_list(bad: BadInput) -> None:
    answer = bad.caller.call("AddTagsToCertificate", CertificateArn=bad.me.arn, Tags=[])
    bad.expect(
        answer,
        "ValidationException",
        "1 validation error detected: Value '[]' at 'tags' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


def test_tag_key_pattern(bad: BadInput) -> None:
    pattern = MODEL.shape_for("TagKey").metadata["pattern"]
    answer = bad.caller.call(
        "AddTagsToCertificate", CertificateArn=bad.me.arn, Tags=[{"Key": "bad#key"}]
    )
    bad.expect(
        answer,
        "ValidationException",
        "1 validation error detected: Value 'bad#key' at 'tags.1.member.key' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {pattern}",
    )


def test_null_and_empty_members(bad: BadInput) -> None:
    answer = bad.caller.raw(
        target("AddTagsToCertificate"), {"CertificateArn": bad.me.arn, "Tags": [None]}
    )
    bad.expect(
        answer,
        "ValidationException",
        "1 validation error detected: Value null at 'tags.1.member' failed to satisfy "
        "constraint: Member must not be null",
    )
    answer = bad.caller.raw(
        target("AddTagsToCertificate"), {"CertificateArn": bad.me.arn, "Tags": [{"Value": "v"}]}
    )
    bad.expect(
        answer,
        "ValidationException",
        "1 validation error detected: Value null at 'tags.1.member.key' failed to satisfy "
        "constraint: Member must not be null",
    )
    answer = bad.caller.raw(target("ImportCertificate"), {"Certificate": "", "PrivateKey": ""})
    bad.expect(
        answer,
        "ValidationException",
        "2 validation errors detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at "
        "'certificate' failed to satisfy constraint: Member must have length greater than or "
        f"equal to 1; Value '{SENSITIVE}' at 'privateKey' failed to satisfy constraint: Member "
        "must have length greater than or equal to 1",
    )


def test_invalid_next_token(bad: BadInput) -> None:
    for token in ("garbage", base64.b64encode(b'{"p": ["a", "b"], "q": "x"}').decode()):
        answer = bad.caller.call("ListCertificates", NextToken=token)
        bad.expect(answer, "InvalidArgsException")
        answer = bad.caller.call("SearchCertificates", NextToken=token)
        bad.expect(answer, "ValidationException")


def test_max_items_1001(bad: BadInput) -> None:
    bad.expect(
        bad.caller.call("ListCertificates", MaxItems=1001),
        "ValidationException",
        "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000",
    )
    bad.expect(
        bad.caller.call("ListCertificates", MaxItems=0),
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )


def test_idempotency_token_too_long_or_badly_formed(bad: BadInput) -> None:
    token = "t" * 33
    answer = bad.caller.call(
        "PutAccountConfiguration", IdempotencyToken=token, ExpiryEvents={"DaysBeforeExpiry": 5}
    )
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value '{token}' at 'idempotencyToken' failed to satisfy "
        "constraint: Member must have length less than or equal to 32",
    )
    answer = bad.caller.call(
        "PutAccountConfiguration",
        IdempotencyToken="not-a-word",
        ExpiryEvents={"DaysBeforeExpiry": 5},
    )
    bad.expect(
        answer,
        "ValidationException",
        "1 validation error detected: Value 'not-a-word' at 'idempotencyToken' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: \\w+",
    )
    answer = bad.caller.call(
        "PutAccountConfiguration",
        IdempotencyToken=token + "-",
        ExpiryEvents={"DaysBeforeExpiry": 0},
    )
    message = bad.expect(answer, "ValidationException")
    assert message.startswith("3 validation errors detected: "), message
    assert "at 'expiryEvents.daysBeforeExpiry' failed to satisfy constraint" in message


def test_several_violations_are_listed_together(bad: BadInput) -> None:
    answer = bad.caller.call(
        "ListCertificates", MaxItems=5000, SortOrder="SIDEWAYS", CertificateStatuses=["NOPE"]
    )
    message = bad.expect(answer, "ValidationException")
    assert message.startswith("3 validation errors detected: Value "), message
    assert message.count("; Value ") == 2, message


# -- enum violations ------------------------------------------------------------------------


def test_certificate_statuses_bogus(bad: BadInput) -> None:
    statuses = ", ".join(MODEL.shape_for("CertificateStatus").enum)
    bad.expect(
        bad.caller.call("ListCertificates", CertificateStatuses=["BOGUS"]),
        "ValidationException",
        "1 validation error detected: Value '[BOGUS]' at 'certificateStatuses' failed to satisfy "
        f"constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
        f"[{statuses}]]",
    )


def test_sort_order_bogus(bad: BadInput) -> None:
    bad.expect(
        bad.caller.call("ListCertificates", SortOrder="UPWARDS"),
        "ValidationException",
        "1 validation error detected: Value 'UPWARDS' at 'sortOrder' failed to satisfy "
        "constraint: Member must satisfy enum value set: [ASCENDING, DESCENDING]",
    )


def test_key_type_filter_bogus(bad: BadInput) -> None:
    answer = bad.caller.call("ListCertificates", Includes={"keyTypes": ["RSA_8192"]})
    bad.expect(answer, "ValidationException", contains=("at 'includes.keyTypes'", "RSA_8192"))


# -- bad ARNs -------------------------------------------------------------------------------


def _not_found(arn: str, account_id: str) -> str:
    return f"Certificate with arn {arn} not found in account {account_id}"


def _wire(params: dict[str, Any]) -> dict[str, Any]:
    return {k: b64(v) if isinstance(v, bytes) else v for k, v in params.items()}


@pytest.mark.parametrize("operation", ARN_OPERATIONS)
def test_arn_of_another_account(bad: BadInput, operation: str) -> None:
    arn = bad.other.arn
    answer = bad.caller.call(operation, **valid_params(operation, arn, bad.world.issued))
    bad.expect(
        answer,
        "AccessDeniedException",
        f"User: arn:aws:iam::{bad.me.account_id}:user/{bad.world.user_name} is not authorized "
        f"to perform: "
        f"acm:{operation} on resource: {arn} because no resource-based policy allows the "
        f"acm:{operation} action",
    )


@pytest.mark.parametrize("operation", ARN_OPERATIONS)
def test_unknown_certificate_id(bad: BadInput, operation: str) -> None:
    arn = f"arn:aws:acm:us-east-1:{bad.me.account_id}:certificate/{uuid.uuid4()}"
    answer = bad.caller.call(operation, **valid_params(operation, arn, bad.world.issued))
    bad.expect(answer, "ResourceNotFoundException", _not_found(arn, bad.me.account_id))


@pytest.mark.parametrize("operation", ARN_OPERATIONS)
def test_arn_of_another_region(bad: BadInput, operation: str) -> None:
    arn = bad.me.arn.replace(":us-east-1:", ":eu-west-1:")
    answer = bad.caller.call(operation, **valid_params(operation, arn, bad.world.issued))
    bad.expect(answer, "ResourceNotFoundException", _not_found(arn, bad.me.account_id))


@pytest.mark.parametrize("operation", ARN_OPERATIONS)
def test_pattern_valid_arn_of_no_certificate(bad: BadInput, operation: str) -> None:
    """The model's pattern lets any resource of 'acm' through; only certificates exist."""
    for arn in (
        f"arn:aws:acm:us-east-1:{bad.me.account_id}:xertificate/{bad.me.certificate_id}",
        f"arn:aws:acm:us-east-1:{bad.me.account_id}:certificate",
    ):
        answer = bad.caller.call(operation, **valid_params(operation, arn, bad.world.issued))
        bad.expect(answer, "InvalidArnException", contains=(arn,))


def test_arn_of_another_service(bad: BadInput) -> None:
    arn = f"arn:aws:iam::{bad.me.account_id}:server-certificate/{bad.me.certificate_id}"
    answer = bad.caller.call("DeleteCertificate", CertificateArn=arn)
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value '{arn}' at 'certificateArn' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        + MODEL.shape_for("Arn").metadata["pattern"],
    )
    short = "arn:aws:acm:x:1:c"
    answer = bad.caller.call("DescribeCertificate", CertificateArn=short)
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value '{short}' at 'certificateArn' failed to satisfy "
        "constraint: Member must have length greater than or equal to 20",
    )


def test_signed_for_another_region(bad: BadInput) -> None:
    """The region of the signature is the region of the resources the caller sees."""
    answer = bad.caller.raw(
        target("DescribeCertificate"), {"CertificateArn": bad.me.arn}, region="eu-west-1"
    )
    bad.expect(answer, "ResourceNotFoundException", _not_found(bad.me.arn, bad.me.account_id))
    answer = bad.caller.raw(
        target("DeleteCertificate"), {"CertificateArn": bad.me.arn}, region="eu-west-1"
    )
    bad.expect(answer, "ResourceNotFoundException", _not_found(bad.me.arn, bad.me.account_id))


def test_delete_of_another_accounts_certificate_keeps_it(bad: BadInput) -> None:
    answer = bad.caller.call("DeleteCertificate", CertificateArn=bad.other.arn)
    bad.expect(answer, "AccessDeniedException", startswith="User: arn:aws:iam::")
    assert bad.other.acm.describe_certificate(CertificateArn=bad.other.arn)["Certificate"]


# -- what ImportCertificate refuses ---------------------------------------------------------


def _der(cert: Any) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_der_certificate(bad: BadInput) -> None:
    issued = bad.world.issued
    answer = bad.caller.call(
        "ImportCertificate", **issued.import_args(Certificate=_der(issued.certificate))
    )
    bad.expect(answer, "ValidationException", x509facts.CERTIFICATE_NOT_PEM)


def test_der_private_key(bad: BadInput) -> None:
    issued = bad.world.issued
    der = issued.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=der))
    bad.expect(answer, "ValidationException", x509facts.PRIVATE_KEY_UNSUPPORTED)


def test_der_chain(bad: BadInput) -> None:
    issued = bad.world.issued
    chain = b"".join(_der(c) for c in issued.chain)
    answer = bad.caller.call("ImportCertificate", **issued.import_args(CertificateChain=chain))
    bad.expect(answer, "ValidationException", x509facts.CHAIN_NOT_PEM)


def test_encrypted_private_key_pkcs8(bad: BadInput) -> None:
    issued = bad.world.issued
    encrypted = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in encrypted
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=encrypted))
    bad.expect(answer, "ValidationException", x509facts.PRIVATE_KEY_ENCRYPTED)


def test_encrypted_private_key_legacy_proc_type(bad: BadInput) -> None:
    issued = bad.world.issued
    encrypted = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    assert b"Proc-Type: 4,ENCRYPTED" in encrypted
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=encrypted))
    bad.expect(answer, "ValidationException", x509facts.PRIVATE_KEY_ENCRYPTED)


def test_mismatched_private_key(bad: BadInput) -> None:
    issued = bad.world.issued
    other_key = pki.key_pem(pki.shared_key("RSA_1024"))
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=other_key))
    bad.expect(answer, "ValidationException", x509facts.PRIVATE_KEY_MISMATCH)
    ec_key = pki.key_pem(pki.shared_key("EC_prime256v1"))
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=ec_key))
    bad.expect(answer, "ValidationException", x509facts.PRIVATE_KEY_MISMATCH)


def test_private_key_over_5120_bytes(bad: BadInput) -> None:
    issued = bad.world.issued
    pem = issued.key_pem
    padded = pem + b"\n" * (5121 - len(pem))
    assert len(padded) == 5121
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=padded))
    message = bad.expect(answer, "ValidationException", contains=("5120",))
    assert pem.decode().splitlines()[1] not in message
    # Over the model's 8192 bytes: a constraint violation, the value redacted.
    huge = pem + b"\n" * (8193 - len(pem))
    answer = bad.caller.call("ImportCertificate", **issued.import_args(PrivateKey=huge))
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value '{SENSITIVE}' at 'privateKey' failed to satisfy "
        "constraint: Member must have length less than or equal to 8192",
    )


def test_expired_certificate(bad: BadInput) -> None:
    now = pki.now()
    expired = pki.issue(
        "expired.example.com",
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=35),
    )
    answer = bad.caller.call("ImportCertificate", **expired.import_args())
    bad.expect(
        answer,
        "ValidationException",
        startswith="The certificate has expired.",
        contains=((now - dt.timedelta(days=35)).strftime("%Y-%m-%dT%H:%M:%SZ"),),
    )


def test_certificate_not_yet_valid(bad: BadInput) -> None:
    now = pki.now()
    future = pki.issue("future.example.com", not_before=now + dt.timedelta(days=3))
    answer = bad.caller.call("ImportCertificate", **future.import_args())
    bad.expect(
        answer,
        "ValidationException",
        startswith="The certificate is not valid yet.",
        contains=((now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),),
    )


def test_leaf_inside_the_chain(bad: BadInput) -> None:
    issued = bad.world.issued
    answer = bad.caller.call(
        "ImportCertificate",
        **issued.import_args(CertificateChain=issued.cert_pem + issued.chain_pem),
    )
    bad.expect(answer, "ValidationException", x509facts.CHAIN_CONTAINS_LEAF)


def test_chain_out_of_order(bad: BadInput) -> None:
    root, intermediate = pki.ca_hierarchy()
    second = pki.issue(
        "Test Second Intermediate CA",
        is_ca=True,
        issuer=intermediate,
        key=pki.shared_key("EC_secp521r1"),
    )
    leaf = pki.issue("chain.example.com", sans=["chain.example.com"], issuer=second)
    pem = {c: c.public_bytes(serialization.Encoding.PEM) for c in leaf.chain}
    # [second, root, intermediate]: the second link did not sign the first.
    shuffled = pem[second.certificate] + pem[root.certificate] + pem[intermediate.certificate]
    answer = bad.caller.call("ImportCertificate", **leaf.import_args(CertificateChain=shuffled))
    bad.expect(
        answer,
        "ValidationException",
        contains=("The index within the chain of the invalid certificate is: 1",),
    )
    # The root first: it did not sign the certificate itself.
    reversed_chain = b"".join(pem[c] for c in reversed(leaf.chain))
    answer = bad.caller.call(
        "ImportCertificate", **leaf.import_args(CertificateChain=reversed_chain)
    )
    bad.expect(answer, "ValidationException", x509facts.CHAIN_NOT_ISSUER)


NOT_A_CERTIFICATE = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


def test_garbage_bytes(bad: BadInput) -> None:
    issued = bad.world.issued
    garbage = random.Random(7).randbytes(600)
    cases = (
        ({"Certificate": garbage}, x509facts.CERTIFICATE_NOT_PEM),
        ({"PrivateKey": garbage}, x509facts.PRIVATE_KEY_UNSUPPORTED),
        ({"CertificateChain": garbage}, x509facts.CHAIN_NOT_PEM),
        (
            {"Certificate": NOT_A_CERTIFICATE},
            x509facts.CERTIFICATE_NOT_PEM,
        ),
        ({"Certificate": issued.cert_pem[:-40]}, x509facts.CERTIFICATE_NOT_PEM),
        ({"Certificate": issued.cert_pem + issued.cert_pem}, x509facts.CERTIFICATE_MULTIPLE),
        ({"PrivateKey": issued.key_pem + issued.key_pem}, x509facts.PRIVATE_KEY_MULTIPLE),
        ({"Certificate": issued.key_pem}, x509facts.CERTIFICATE_NOT_PEM),
        ({"PrivateKey": issued.cert_pem}, x509facts.PRIVATE_KEY_UNSUPPORTED),
    )
    for change, message in cases:
        answer = bad.caller.call("ImportCertificate", **issued.import_args(**change))
        bad.expect(answer, "ValidationException", message)


def test_reimport_refusals(bad: BadInput) -> None:
    """Re-importing over a certificate must leave the old one whole when refused."""
    other_type = pki.issue(
        "bad-input.example.com", sans=["bad-input.example.com"], algorithm="EC_prime256v1"
    )
    answer = bad.caller.call(
        "ImportCertificate", **other_type.import_args(CertificateArn=bad.me.arn)
    )
    bad.expect(answer, "ValidationException", contains=("EC_prime256v1", "RSA_2048"))
    answer = bad.caller.call(
        "ImportCertificate",
        **bad.world.issued.import_args(CertificateArn=bad.me.arn, Tags=[{"Key": "k"}]),
    )
    bad.expect(answer, "InvalidParameterException")


def test_ten_megabyte_chain(bad: BadInput) -> None:
    size = 10 * 1024 * 1024
    answer = bad.caller.call(
        "ImportCertificate", **bad.world.issued.import_args(CertificateChain=b"A" * size)
    )
    bad.expect(
        answer,
        "ValidationException",
        f"1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim={size} "
        f"cap={size}]' at 'certificateChain' failed to satisfy constraint: Member must have "
        "length less than or equal to 2097152",
    )


def test_body_over_the_frame_limit(bad: BadInput) -> None:
    body = _wire(bad.world.issued.import_args(CertificateChain=b"A" * (13 * 1024 * 1024)))
    data = json.dumps(body).encode()
    assert len(data) > 16 * 1024 * 1024
    answer = bad.caller.raw(target("ImportCertificate"), data)
    bad.expect(answer, "RequestEntityTooLargeException", status=413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for start in range(0, len(data), 1 << 20):
            yield data[start : start + (1 << 20)]

    response = bad.caller.http.post(
        bad.world.server.endpoint + "/",
        content=chunks(),
        headers={
            "X-Amz-Target": target("ImportCertificate"),
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    answer = Answer(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
    )
    bad.expect(answer, "RequestEntityTooLargeException", status=413)


# -- framing and dispatch -------------------------------------------------------------------


def test_malformed_json(bad: BadInput) -> None:
    for body in (b"{not json", b'{"CertificateArn": ', b"\xff\xfe{}", b"null", b"42", b'"text"'):
        answer = bad.caller.raw(target("DeleteCertificate"), body)
        bad.expect(answer, "SerializationException", no_message=True)
    answer = bad.caller.raw(target("DeleteCertificate"), json.dumps([bad.me.arn]).encode())
    bad.expect(answer, "SerializationException", "Start of list found where not expected")
    answer = bad.caller.raw(target("DeleteCertificate"), b"[" * 100_000)
    bad.expect(answer, "SerializationException", no_message=True)


def test_unknown_target(bad: BadInput) -> None:
    body = {"CertificateArn": bad.me.arn}
    for name in (
        target("NoSuchOperation"),
        target("deleteCertificate"),
        "DeleteCertificate",
        "Route53.DeleteCertificate",
        "",
    ):
        answer = bad.caller.raw(name, body)
        bad.expect(answer, "UnknownOperationException", no_message=True)
    answer = bad.caller.raw(None, body)
    bad.expect(answer, "UnknownOperationException", no_message=True)


def test_unimplemented_operation(bad: BadInput) -> None:
    # HTTP validation is CloudFront's; openacm validates by DNS or email.
    answer = bad.caller.call(
        "RequestCertificate", DomainName="www.example.com", ValidationMethod="HTTP"
    )
    bad.expect(
        answer,
        "NotImplementedException",
        "openacm does not implement HTTP validation; use DNS or EMAIL.",
        status=501,
    )


def test_renew_of_an_imported_certificate(bad: BadInput) -> None:
    answer = bad.caller.call("RenewCertificate", CertificateArn=bad.me.arn)
    bad.expect(
        answer,
        "ValidationException",
        contains=("cannot be renewed", "only private certificates"),
    )


# -- authentication -------------------------------------------------------------------------


def _import_body(bad: BadInput) -> dict[str, Any]:
    """A request that would change the store if it were let through."""
    return _wire(bad.world.issued.import_args(Tags=[{"Key": "auth", "Value": "bypass"}]))


def test_no_authorization(bad: BadInput) -> None:
    answer = bad.caller.raw(target("ImportCertificate"), _import_body(bad), sign=False)
    bad.expect(answer, "MissingAuthenticationTokenException", "Missing Authentication Token")
    answer = bad.caller.raw(
        target("ImportCertificate"),
        _import_body(bad),
        sign=False,
        headers={"Authorization": "Bearer abc"},
    )
    bad.expect(answer, "MissingAuthenticationTokenException", "Missing Authentication Token")


def test_wrong_secret(bad: BadInput) -> None:
    answer = bad.caller.raw(
        target("ImportCertificate"), _import_body(bad), key=(bad.me.key[0], "not-the-secret")
    )
    bad.expect(answer, "InvalidSignatureException", MSG_SIGNATURE_MISMATCH)


def test_body_changed_after_signing(bad: BadInput) -> None:
    body = json.dumps(_import_body(bad)).encode()
    request = AWSRequest(
        "POST",
        bad.world.server.endpoint + "/",
        data=json.dumps({"CertificateArn": bad.me.arn}).encode(),
        headers={"X-Amz-Target": target("DeleteCertificate")},
    )
    SigV4Auth(Credentials(*bad.me.key), "acm", "us-east-1").add_auth(request)
    headers = dict(request.prepare().headers.items())
    headers["X-Amz-Target"] = target("ImportCertificate")
    headers.pop("Content-Length", None)
    response = bad.caller.http.post(bad.world.server.endpoint + "/", content=body, headers=headers)
    answer = Answer(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
    )
    bad.expect(answer, "InvalidSignatureException", MSG_SIGNATURE_MISMATCH)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_skewed_clock(bad: BadInput, minutes: int) -> None:
    signed_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
    answer = bad.caller.raw(target("ImportCertificate"), _import_body(bad), signed_at=signed_at)
    message = bad.expect(answer, "InvalidSignatureException")
    if minutes < 0:
        pattern = (
            rf"Signature expired: {stamp} is now earlier than ({TIMESTAMP.pattern}) "
            rf"\(({TIMESTAMP.pattern}) - 15 min\.\)"
        )
    else:
        pattern = (
            rf"Signature not yet current: {stamp} is still later than ({TIMESTAMP.pattern}) "
            rf"\(({TIMESTAMP.pattern}) \+ 15 min\.\)"
        )
    match = re.fullmatch(pattern, message)
    assert match, message
    bound, now = (dt.datetime.strptime(g, "%Y%m%dT%H%M%SZ") for g in match.groups())
    assert abs((bound - now).total_seconds()) == 15 * 60
    assert abs((now - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds()) < 60


def test_unknown_access_key(bad: BadInput) -> None:
    answer = bad.caller.raw(
        target("ImportCertificate"), _import_body(bad), key=("AKIANOSUCHKEY0000000", "secret")
    )
    bad.expect(answer, "UnrecognizedClientException", MSG_UNKNOWN_KEY)


def test_disabled_access_key(bad: BadInput) -> None:
    server = bad.world.server
    made = server.admin(
        "admin", "key", "create", "--account-id", bad.me.account_id, "--output", "json"
    )
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    key = (created["access_key_id"], created["secret_access_key"])
    ok = bad.caller.raw(target("ListCertificates"), {}, key=key)
    assert ok.status == 200, ok.body  # the key is known (and cached) before it is disabled
    disabled = server.admin("admin", "key", "disable", key[0])
    assert disabled.returncode == 0, disabled.stderr
    deadline = time.monotonic() + 7
    while True:
        answer = bad.caller.raw(target("ListCertificates"), {}, key=key)
        if answer.status != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    bad.expect(answer, "UnrecognizedClientException", MSG_UNKNOWN_KEY)
    answer = bad.caller.raw(target("ImportCertificate"), _import_body(bad), key=key)
    bad.expect(answer, "UnrecognizedClientException", MSG_UNKNOWN_KEY)


# -- input that reaches the store, on every backend -----------------------------------------


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _split_tlv(data: bytes) -> tuple[bytes, bytes]:
    """The content of the first TLV in `data`, and what follows it."""
    first = data[1]
    if first < 0x80:
        start, size = 2, first
    else:
        count = first & 0x7F
        start, size = 2 + count, int.from_bytes(data[2 : 2 + count], "big")
    return data[start : start + size], data[start + size :]


def _der_integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _with_serial(leaf: pki.Issued, issuer: pki.Issued, serial: int) -> bytes:
    """`leaf` as PEM with another serial number (longer than the builder allows), re-signed."""
    certificate = leaf.certificate
    body, _ = _split_tlv(certificate.public_bytes(serialization.Encoding.DER))
    tbs = certificate.tbs_certificate_bytes
    after_tbs = body[len(tbs) :]
    algorithm = after_tbs[: len(after_tbs) - len(_split_tlv(after_tbs)[1])]
    tbs_body, _ = _split_tlv(tbs)
    old = _der_integer(certificate.serial_number)
    assert tbs_body.count(old) == 1
    new_tbs = _tlv(0x30, tbs_body.replace(old, _der_integer(serial)))
    assert isinstance(issuer.key, ec.EllipticCurvePrivateKey)
    signature = issuer.key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    der = _tlv(0x30, new_tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    parsed = x509.load_der_x509_certificate(der)
    assert parsed.serial_number == serial
    return parsed.public_bytes(serialization.Encoding.PEM)


def test_certificate_names_the_store_cannot_hold(bad_anywhere: BadInput) -> None:
    """PostgreSQL holds no NUL and checks column lengths; SQLite does neither. Both must
    give the same answer, and never a 500."""
    bad = bad_anywhere
    _root, intermediate = pki.ca_hierarchy()
    long_name = ".".join(["a" * 60] * 5) + ".example.com"
    cases = (
        (pki.issue("nul\x00.example.com", issuer=intermediate), x509facts.NAME_CONTAINS_NUL),
        (
            pki.issue("ok.example.com", sans=["x\x00y.example.com"], issuer=intermediate),
            x509facts.NAME_CONTAINS_NUL,
        ),
        (pki.issue(None, sans=[long_name], issuer=intermediate), x509facts.NAME_TOO_LONG),
        (
            pki.issue("ok.example.com", sans=["ok.example.com", long_name], issuer=intermediate),
            x509facts.NAME_TOO_LONG,
        ),
    )
    for issued, message in cases:
        answer = bad.caller.call("ImportCertificate", **issued.import_args())
        bad.expect(answer, "ValidationException", message)
    leaf = pki.issue("serial.example.com", sans=["serial.example.com"], issuer=intermediate)
    too_long = _with_serial(leaf, intermediate, int.from_bytes(b"\x01" * 30, "big"))
    answer = bad.caller.call("ImportCertificate", **leaf.import_args(Certificate=too_long))
    bad.expect(answer, "ValidationException", x509facts.SERIAL_TOO_LONG)
    # Re-importing such a certificate over an existing one is refused the same way.
    answer = bad.caller.call(
        "ImportCertificate", **cases[0][0].import_args(CertificateArn=bad.me.arn)
    )
    bad.expect(answer, "ValidationException", x509facts.NAME_CONTAINS_NUL)


def test_search_values_with_nul_match_nothing(bad_anywhere: BadInput) -> None:
    bad = bad_anywhere
    for flt in (
        {
            "X509AttributeFilter": {
                "Subject": {"CommonName": {"Value": "bad\x00", "ComparisonOperator": "EQUALS"}}
            }
        },
        {
            "X509AttributeFilter": {
                "Subject": {"CommonName": {"Value": "bad\x00", "ComparisonOperator": "CONTAINS"}}
            }
        },
        {
            "X509AttributeFilter": {
                "SubjectAlternativeName": {
                    "DnsName": {"Value": "\x00", "ComparisonOperator": "CONTAINS"}
                }
            }
        },
    ):
        answer = bad.caller.raw(target("SearchCertificates"), {"FilterStatement": {"Filter": flt}})
        assert answer.status == 200, answer.body
        assert answer.json == {"Results": []}
        negated = bad.caller.raw(
            target("SearchCertificates"), {"FilterStatement": {"Not": {"Filter": flt}}}
        )
        assert negated.status == 200, negated.body
        assert [r["CertificateArn"] for r in negated.json["Results"]] == [bad.me.arn]
    # ... and a refusal here, so that the store is compared after the searches as well.
    answer = bad.caller.raw(target("SearchCertificates"), {"MaxResults": 0})
    bad.expect(answer, "ValidationException", contains=("at 'maxResults'",))


def test_access_key_id_no_key_can_have(bad_anywhere: BadInput) -> None:
    bad = bad_anywhere
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for key_id in ("AKIA%00NUL", "%C3%A9t%C3%A9", "A" * 300):
        query = (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key_id}%2F{now[:8]}"
            f"%2Fus-east-1%2Facm%2Faws4_request&X-Amz-Date={now}&X-Amz-Expires=300"
            "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64
        )
        response = bad.caller.http.post(
            f"{bad.world.server.endpoint}/?{query}",
            content=json.dumps(_import_body(bad)).encode(),
            headers={"X-Amz-Target": target("ImportCertificate")},
        )
        answer = Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )
        bad.expect(answer, "UnrecognizedClientException", MSG_UNKNOWN_KEY)


def test_region_the_store_cannot_hold(bad_anywhere: BadInput) -> None:
    bad = bad_anywhere
    region = "us-" + "east" * 10 + "-1"
    answer = bad.caller.raw(target("ImportCertificate"), _import_body(bad), region=region)
    bad.expect(
        answer,
        "InvalidSignatureException",
        f"Credential should be scoped to a valid region, not '{region}'. ",
    )
    answer = bad.caller.raw(target("ListCertificates"), {}, region="xx-nowhere-1")
    bad.expect(
        answer,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'xx-nowhere-1'. ",
    )


def test_over_long_target_is_refused_and_audited(bad_anywhere: BadInput) -> None:
    """Whatever X-Amz-Target says, the call gets its one audit record."""
    bad = bad_anywhere
    name = "N" * 200
    answer = bad.caller.raw(target(name), _import_body(bad))
    bad.expect(answer, "UnknownOperationException", no_message=True)
    request_id = answer.headers["x-amzn-requestid"]
    audit = bad.world.server.data_dir / "audit.jsonl"

    def recorded() -> list[dict[str, Any]]:
        return [
            record
            for line in audit.read_text().splitlines()
            if request_id in line and (record := json.loads(line))["requestID"] == request_id
        ]

    deadline = time.monotonic() + 5
    while not recorded() and time.monotonic() < deadline:
        time.sleep(0.1)
    (record,) = recorded()
    assert record["eventName"] == name
    assert record["errorCode"] == "UnknownOperationException"
