"""Smithy RPC v2 CBOR framing: request decoding against model shapes, answers, errors.

The shapes are the real botocore models: ACM-PCA (blobs, longs, nested structures and lists,
booleans) and CloudWatch, the other CBOR service, for what ACM-PCA's inputs lack (timestamps)
and its outputs lack (blobs). Answers are read back with botocore's own RPC v2 CBOR parser, so
their encoding is checked by the SDK's code, not by ours.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import cbor2
import pytest
from botocore.model import OperationModel
from botocore.parsers import create_parser

from openacm.domain.errors import (
    ApiError,
    InternalServerError,
    InvalidArgsError,
    ResourceNotFoundError,
    ValidationError,
)
from openacm.protocol.cborproto import (
    CONTENT_TYPE,
    PROTOCOL,
    decode_cbor_body,
    error_type,
    parse_cbor_input,
    route,
    serialize_cbor_error,
    serialize_cbor_output,
    serves_rpc_v2_cbor,
)
from openacm.protocol.errors import (
    InvalidSignatureError,
    NotImplementedOperationError,
    SerializationError,
)
from openacm.protocol.jsonproto import parse_input
from openacm.protocol.model import ApiModel

PCA = ApiModel.load("acm-pca")
CLOUDWATCH = ApiModel.load("cloudwatch")
CA_ARN = (
    "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"
    "12345678-1234-1234-1234-123456789012"
)
UTC = dt.UTC


def pca(name: str) -> OperationModel:
    return PCA.operation(name)


def cbor_body(value: Any) -> bytes:
    return cbor2.dumps(value)


def unserializable(body: bytes, operation: str = "IssueCertificate") -> str:
    with pytest.raises(SerializationError) as caught:
        parse_cbor_input(pca(operation), body)
    return caught.value.message


def invalid(body: bytes, operation: str = "IssueCertificate") -> str:
    with pytest.raises(ValidationError) as caught:
        parse_cbor_input(pca(operation), body)
    return caught.value.message


def issue(**members: Any) -> dict[str, Any]:
    """A complete IssueCertificate input, with `members` replaced."""
    request: dict[str, Any] = {
        "CertificateAuthorityArn": CA_ARN,
        "Csr": b"-----BEGIN CERTIFICATE REQUEST-----",
        "SigningAlgorithm": "SHA256WITHRSA",
        "Validity": {"Value": 365, "Type": "DAYS"},
    }
    request.update(members)
    return request


def parse_answer(
    operation: OperationModel, status: int, headers: dict[str, str], body: bytes
) -> Any:
    parser = create_parser("smithy-rpc-v2-cbor")
    response = {"status_code": status, "headers": headers, "body": body}
    return parser.parse(response, operation.output_shape)


class TestProtocolChoice:
    def test_served_for_models_that_list_it(self) -> None:
        assert serves_rpc_v2_cbor(PCA)
        assert serves_rpc_v2_cbor(CLOUDWATCH)
        assert not serves_rpc_v2_cbor(ApiModel.load("acm"))
        assert not serves_rpc_v2_cbor(ApiModel.load("openacm"))

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/service/ACMPrivateCA/operation/ListTags", ("ACMPrivateCA", "ListTags")),
            ("/service/ACMPrivateCA/operation/", ("", "")),
            ("/service//operation/ListTags", ("", "")),
            ("/service/ACMPrivateCA/operation/ListTags/", ("", "")),
            ("/service/ACMPrivateCA/operations/ListTags", ("", "")),
            ("/service/ACMPrivateCA", ("", "")),
            ("/", ("", "")),
        ],
    )
    def test_route(self, path: str, expected: tuple[str, str]) -> None:
        assert route(path) == expected


class TestDecoding:
    def test_empty_body_is_an_empty_map(self) -> None:
        assert decode_cbor_body(b"") == {}

    def test_integers_at_the_ends_of_cbor_s_range(self) -> None:
        body = cbor_body({"a": [2**64 - 1, -(2**64)]})
        assert decode_cbor_body(body) == {"a": [2**64 - 1, -(2**64)]}

    def test_map(self) -> None:
        assert decode_cbor_body(cbor_body({"a": [1, b"x", 1.5, True, None]})) == {
            "a": [1, b"x", 1.5, True, None]
        }

    def test_indefinite_lengths(self) -> None:
        # {_ "a": [_ 1, 2]}, as some encoders stream them
        assert decode_cbor_body(bytes.fromhex("bf6161 9f0102ff ff")) == {"a": [1, 2]}

    def test_top_level_array_says_so(self) -> None:
        with pytest.raises(SerializationError) as caught:
            decode_cbor_body(cbor_body([1]))
        assert caught.value.message == "Start of list found where not expected"

    @pytest.mark.parametrize(
        "body",
        [
            cbor_body("text"),
            cbor_body(7),
            bytes.fromhex("f6"),  # null
            bytes.fromhex("a1"),  # a map of one pair, cut short
            bytes.fromhex("a0 00"),  # a map and then another data item
            bytes.fromhex("ff"),  # a break with nothing to end
            bytes.fromhex("a1 01 02"),  # an integer key
            bytes.fromhex("a1 6161 d82a 01"),  # tag 42: no shape has it
            bytes.fromhex("a1 6161 c4 82 21 1901 9f"),  # tag 4, a decimal fraction
            bytes.fromhex("a1 6161 f0"),  # simple value 16
            bytes.fromhex("a1 6161 c2 49 010000000000000000"),  # tag 2, a bignum of 2**64
            bytes.fromhex("a1 6161 c3 49 010000000000000000"),  # tag 3: -1 - 2**64
            bytes.fromhex("a1 6161 c1 6161"),  # tag 1 around text
        ],
    )
    def test_malformed_or_unsupported_is_a_serialization_error_without_message(
        self, body: bytes
    ) -> None:
        with pytest.raises(SerializationError) as caught:
            decode_cbor_body(body)
        assert caught.value.message == ""

    def test_a_cycle_of_shared_values_is_refused(self) -> None:
        # 28(["a": 29(0)]): a map whose member is the map itself
        body = bytes.fromhex("d81c a1 6161 d81d 00")
        with pytest.raises(SerializationError):
            decode_cbor_body(body)

    def test_deep_nesting_is_refused(self) -> None:
        body = bytes.fromhex("a1 6161") + bytes.fromhex("81") * 1000 + bytes.fromhex("01")
        with pytest.raises(SerializationError):
            decode_cbor_body(body)

    def test_undefined_is_null(self) -> None:
        assert decode_cbor_body(bytes.fromhex("a1 6161 f7")) == {"a": None}


class TestInputShapes:
    def test_blob_nested_structure_long_and_list(self) -> None:
        extensions = {
            "KeyUsage": {"DigitalSignature": True, "KeyCertSign": False},
            "CustomExtensions": [
                {"ObjectIdentifier": "1.2.3.4", "Value": "AAA=", "Critical": True}
            ],
        }
        params = parse_cbor_input(
            pca("IssueCertificate"),
            cbor_body(issue(ApiPassthrough={"Extensions": extensions})),
        )
        assert params["Csr"] == b"-----BEGIN CERTIFICATE REQUEST-----"
        assert params["Validity"] == {"Value": 365, "Type": "DAYS"}
        assert params["ApiPassthrough"] == {"Extensions": extensions}

    def test_null_members_are_absent_and_unknown_members_ignored(self) -> None:
        params = parse_cbor_input(
            pca("IssueCertificate"),
            cbor_body(issue(TemplateArn=None, IdempotencyToken=None, Surprise=[1, 2])),
        )
        assert "TemplateArn" not in params
        assert "IdempotencyToken" not in params
        assert "Surprise" not in params

    def test_undefined_required_member_is_missing(self) -> None:
        body = cbor2.dumps(issue(Csr=cbor2.undefined))
        assert invalid(body) == (
            "1 validation error detected: Value null at 'csr' failed to satisfy constraint: "
            "Member must not be null"
        )

    def test_blob_as_text_is_a_type_error(self) -> None:
        # JSON carries blobs as base64 text; CBOR has byte strings for them.
        text = base64.b64encode(b"csr").decode()
        assert unserializable(cbor_body(issue(Csr=text))) == (
            "STRING_VALUE can not be converted to a Blob"
        )
        assert parse_input(pca("IssueCertificate"), issue(Csr=text), "json")["Csr"] == b"csr"

    @pytest.mark.parametrize(
        ("members", "message"),
        [
            (
                {"Validity": {"Value": "365", "Type": "DAYS"}},
                "STRING_VALUE can not be converted to a Long",
            ),
            ({"Validity": [365]}, "Start of list found where not expected"),
            ({"Validity": "DAYS"}, "Expected null"),
            ({"SigningAlgorithm": 256}, "NUMBER_VALUE can not be converted to a String"),
            (
                {"SigningAlgorithm": b"SHA"},
                "VALUE_EMBEDDED_OBJECT can not be converted to a String",
            ),
            (
                {"ApiPassthrough": {"Extensions": {"KeyUsage": {"CRLSign": 1}}}},
                "NUMBER_VALUE can not be converted to a Boolean",
            ),
            (
                {"ApiPassthrough": {"Extensions": {"CustomExtensions": {"a": 1}}}},
                "Start of structure or map found where not expected.",
            ),
        ],
    )
    def test_wrong_types(self, members: dict[str, Any], message: str) -> None:
        assert unserializable(cbor_body(issue(**members))) == message

    def test_validation_is_json_s_code_path(self) -> None:
        # The same request in both encodings gets the very same ValidationException text.
        too_long = b"x" * 32769
        request = issue(
            CertificateAuthorityArn="arn:nope",
            Csr=too_long,
            SigningAlgorithm="MD5",
            Validity={"Value": 0, "Type": "DAYS"},
        )
        from_cbor = invalid(cbor_body(request))
        json_request = dict(request, Csr=base64.b64encode(too_long).decode())
        with pytest.raises(ValidationError) as caught:
            parse_input(pca("IssueCertificate"), json_request, "json")
        assert from_cbor == caught.value.message
        assert from_cbor.startswith("4 validation errors detected: ")
        assert "Value 'java.nio.HeapByteBuffer[pos=0 lim=32769 cap=32769]' at 'csr'" in from_cbor

    def test_missing_required_member(self) -> None:
        assert invalid(cbor_body({}), "ListTags") == (
            "1 validation error detected: Value null at 'certificateAuthorityArn' failed to "
            "satisfy constraint: Member must not be null"
        )

    def test_integer_range(self) -> None:
        body = cbor_body({"CertificateAuthorityArn": CA_ARN, "MaxResults": 1001})
        assert invalid(body, "ListTags") == (
            "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000"
        )


class TestTimestampsInInput:
    """CloudWatch's GetMetricStatistics: required StartTime and EndTime."""

    OPERATION = CLOUDWATCH.operation("GetMetricStatistics")

    def parse(self, start: object) -> dict[str, object]:
        body = cbor_body(
            {
                "Namespace": "AWS/EC2",
                "MetricName": "CPUUtilization",
                "StartTime": start,
                "EndTime": cbor2.CBORTag(1, 1_700_000_000),
                "Period": 60,
            }
        )
        return parse_input(self.OPERATION, decode_cbor_body(body), "cbor")

    def test_tag_1_integer(self) -> None:
        params = self.parse(cbor2.CBORTag(1, 1_600_000_000))
        assert params["StartTime"] == dt.datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
        assert params["EndTime"] == dt.datetime.fromtimestamp(1_700_000_000, UTC)

    def test_tag_1_float_keeps_milliseconds(self) -> None:
        params = self.parse(cbor2.CBORTag(1, 1_600_000_000.125))
        assert params["StartTime"] == dt.datetime(2020, 9, 13, 12, 26, 40, 125000, tzinfo=UTC)

    def test_bare_epoch_number(self) -> None:
        assert self.parse(1_600_000_000)["StartTime"] == dt.datetime(
            2020, 9, 13, 12, 26, 40, tzinfo=UTC
        )

    def test_text_is_a_type_error(self) -> None:
        with pytest.raises(SerializationError) as caught:
            self.parse("2020-09-13T12:26:40Z")
        assert caught.value.message == "STRING_VALUE can not be converted to a Timestamp"

    def test_blob_is_a_type_error(self) -> None:
        with pytest.raises(SerializationError) as caught:
            self.parse(b"\x00")
        assert caught.value.message == "VALUE_EMBEDDED_OBJECT can not be converted to a Timestamp"


class TestAnswers:
    def test_timestamps_are_tag_1_and_read_back_by_botocore(self) -> None:
        operation = pca("DescribeCertificateAuthority")
        created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        changed = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        result = {
            "CertificateAuthority": {
                "Arn": CA_ARN,
                "CreatedAt": created,
                "LastStateChangeAt": changed,
                "Type": "ROOT",
                "Status": "ACTIVE",
                "FailureReason": None,
            }
        }
        headers, body = serialize_cbor_output(operation, result)
        assert headers == {"Content-Type": CONTENT_TYPE, "smithy-protocol": PROTOCOL}
        # Tag 1 (0xc1) around an integer for whole seconds, a double for milliseconds.
        assert b"\xc1" + cbor2.dumps(1767323045) in body
        assert b"\xc1" + cbor2.dumps(1767323045.678) in body
        parsed = parse_answer(operation, 200, dict(headers), body)
        authority = parsed["CertificateAuthority"]
        assert authority["CreatedAt"] == created
        assert authority["LastStateChangeAt"] == changed
        assert authority["Status"] == "ACTIVE"
        assert "FailureReason" not in authority

    def test_list_of_structures(self) -> None:
        operation = pca("ListTags")
        tags = [{"Key": "team", "Value": "pki"}, {"Key": "empty"}]
        headers, body = serialize_cbor_output(operation, {"Tags": tags})
        assert parse_answer(operation, 200, dict(headers), body)["Tags"] == tags

    def test_blobs_are_byte_strings(self) -> None:
        operation = CLOUDWATCH.operation("GetMetricWidgetImage")
        image = bytes(range(256))
        headers, body = serialize_cbor_output(operation, {"MetricWidgetImage": image})
        assert cbor2.loads(body) == {"MetricWidgetImage": image}
        assert parse_answer(operation, 200, dict(headers), body)["MetricWidgetImage"] == image

    def test_no_output_is_no_body_and_no_content_type(self) -> None:
        headers, body = serialize_cbor_output(pca("TagCertificateAuthority"), {})
        assert (headers, body) == ({"smithy-protocol": PROTOCOL}, b"")

    def test_a_member_the_shape_lacks_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="no member Surprise"):
            serialize_cbor_output(pca("ListTags"), {"Surprise": 1})


class TestErrors:
    @pytest.mark.parametrize(
        ("error", "shape_id"),
        [
            (ResourceNotFoundError("gone"), "com.amazonaws.acmpca#ResourceNotFoundException"),
            (InvalidArgsError("bad"), "com.amazonaws.acmpca#InvalidArgsException"),
            (
                ValidationError("1 validation error"),
                "com.amazon.coral.validate#ValidationException",
            ),
            (SerializationError(""), "com.amazon.coral.service#SerializationException"),
            (InvalidSignatureError("sig"), "com.amazon.coral.service#InvalidSignatureException"),
            (
                NotImplementedOperationError("later"),
                "com.amazon.coral.service#NotImplementedException",
            ),
            (InternalServerError("oops"), "com.amazon.coral.service#InternalFailure"),
        ],
    )
    def test_type_is_an_absolute_shape_id(self, error: ApiError, shape_id: str) -> None:
        assert error_type(error, PCA) == shape_id

    def test_without_a_service_the_front_end_names_the_error(self) -> None:
        assert error_type(ResourceNotFoundError("x"), None) == (
            "com.amazon.coral.service#ResourceNotFoundException"
        )

    def test_botocore_reads_code_and_message(self) -> None:
        status, headers, body = serialize_cbor_error(ResourceNotFoundError("No such CA."), PCA)
        assert status == 400
        assert headers["Content-Type"] == CONTENT_TYPE
        assert headers["smithy-protocol"] == PROTOCOL
        assert cbor2.loads(body) == {
            "__type": "com.amazonaws.acmpca#ResourceNotFoundException",
            "message": "No such CA.",
        }
        parsed = parse_answer(pca("DescribeCertificateAuthority"), status, dict(headers), body)
        assert parsed["Error"] == {"Code": "ResourceNotFoundException", "Message": "No such CA."}

    def test_an_empty_message_is_left_out(self) -> None:
        status, _headers, body = serialize_cbor_error(SerializationError(""), PCA)
        assert status == 400
        assert cbor2.loads(body) == {"__type": "com.amazon.coral.service#SerializationException"}
