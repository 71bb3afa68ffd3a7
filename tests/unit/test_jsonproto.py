"""The model-driven AWS JSON 1.1 layer: request parsing and validation, answers, errors.

Everything runs against the real botocore models ("acm", "acm-pca"); a small synthetic model
only covers what neither service has (maps, blobs in outputs, renamed members, recursion in
outputs).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, ClassVar

import orjson
import pytest
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import create_parser

from openacm.domain.errors import (
    AccessDeniedError,
    ApiError,
    InternalServerError,
    ResourceNotFoundError,
    ValidationError,
)
from openacm.protocol.errors import SerializationError, UnknownOperationError
from openacm.protocol.jsonproto import (
    CONTENT_TYPE,
    MAX_LISTED_ERRORS,
    REDACTED,
    compile_input,
    decode_json_body,
    java_pattern,
    parse_input,
    pattern_matcher,
    serialize_error,
    serialize_output,
)
from openacm.protocol.model import ApiModel

ACM = ApiModel.load("acm")
ARN = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
ARN_PATTERN = r"arn:[\w+=/,.@-]+:acm:[\w+=/,.@-]*:[0-9]+:[\w+=,.@-]+(/[\w+=,.@-]+)*"
DOMAIN_PATTERN = (
    r"(\*\.)?(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])"
)
UTC = dt.UTC


def op(name: str) -> OperationModel:
    return ACM.operation(name)


def parse(name: str, params: dict[str, Any]) -> dict[str, object]:
    return parse_input(op(name), params)


def invalid(name: str, params: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        parse(name, params)
    return caught.value.message


def unserializable(name: str, params: dict[str, Any]) -> str:
    with pytest.raises(SerializationError) as caught:
        parse(name, params)
    return caught.value.message


def one(text: str) -> str:
    return f"1 validation error detected: {text}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def enum_text(shape_name: str) -> str:
    return "[" + ", ".join(ACM.service_model.shape_for(shape_name).enum) + "]"


# --- the model ----------------------------------------------------------------------------------


class TestApiModel:
    def test_load_is_cached_and_reads_metadata(self) -> None:
        assert ApiModel.load("acm") is ACM
        assert ACM.target_prefix == "CertificateManager"
        assert ACM.signing_name == "acm"
        assert ACM.service_model.service_name == "acm"
        assert "DescribeCertificate" in ACM.operation_names

    def test_operation_by_name_and_target(self) -> None:
        assert ACM.operation("DescribeCertificate").name == "DescribeCertificate"
        found = ACM.operation_for_target("CertificateManager.DescribeCertificate")
        assert found is ACM.operation("DescribeCertificate")

    @pytest.mark.parametrize(
        "target",
        [
            None,
            "",
            "CertificateManager.Nope",
            "CertificateManager.",
            "CertificateManager",
            "DescribeCertificate",
            "ACMPrivateCA.DescribeCertificateAuthority",
            "certificatemanager.describecertificate",
            "CertificateManager.describeCertificate",
            "CertificateManager.DescribeCertificate.Extra",
        ],
    )
    def test_unknown_targets_are_unknown_operations_with_no_message(
        self, target: str | None
    ) -> None:
        with pytest.raises(UnknownOperationError) as caught:
            ACM.operation_for_target(target)
        assert caught.value.message == ""
        assert caught.value.code == "UnknownOperationException"

    def test_unknown_operation_name(self) -> None:
        with pytest.raises(UnknownOperationError):
            ACM.operation("Nope")

    def test_acm_pca_loads_and_validates(self) -> None:
        pca = ApiModel.load("acm-pca")
        assert pca.target_prefix == "ACMPrivateCA"
        assert pca.signing_name == "acm-pca"
        describe = pca.operation_for_target("ACMPrivateCA.DescribeCertificateAuthority")
        ca_arn = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/1234"
        assert parse_input(describe, {"CertificateAuthorityArn": ca_arn}) == {
            "CertificateAuthorityArn": ca_arn
        }
        with pytest.raises(ValidationError) as caught:
            parse_input(describe, {"CertificateAuthorityArn": "nope"})
        assert caught.value.message.startswith(
            "2 validation errors detected: Value 'nope' at 'certificateAuthorityArn' failed to "
            "satisfy constraint: Member must have length greater than or equal to 5; "
        )
        issue = pca.operation("IssueCertificate")
        parsed = parse_input(
            issue,
            {
                "CertificateAuthorityArn": ca_arn,
                "Csr": b64(b"csr"),
                "SigningAlgorithm": "SHA256WITHRSA",
                "Validity": {"Value": 365, "Type": "DAYS"},
            },
        )
        assert parsed["Csr"] == b"csr"
        assert parsed["Validity"] == {"Value": 365, "Type": "DAYS"}
        with pytest.raises(ValidationError) as caught:
            parse_input(
                issue,
                {
                    "CertificateAuthorityArn": ca_arn,
                    "Csr": b64(b"csr"),
                    "SigningAlgorithm": "SHA256WITHRSA",
                    "Validity": {"Value": 0, "Type": "WEEKS"},
                },
            )
        assert caught.value.message.startswith(
            "2 validation errors detected: Value '0' at 'validity.value' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1; Value 'WEEKS' at "
            "'validity.type' failed to satisfy constraint: Member must satisfy enum value set: ["
        )


# --- JSON framing -------------------------------------------------------------------------------


class TestDecodeJsonBody:
    def test_empty_body_is_an_empty_object(self) -> None:
        assert decode_json_body(b"") == {}

    def test_object(self) -> None:
        assert decode_json_body(b'{"CertificateArn": "x", "N": 1}') == {
            "CertificateArn": "x",
            "N": 1,
        }

    @pytest.mark.parametrize(
        "body",
        [b"{", b"{]", b'{"a": 1,}', b"null", b'"x"', b"1", b"true", b"  ", b"\xff\xfe", b"{}x"],
    )
    def test_not_an_object_is_a_serialization_error_without_message(self, body: bytes) -> None:
        with pytest.raises(SerializationError) as caught:
            decode_json_body(body)
        assert caught.value.message == ""
        assert caught.value.code == "SerializationException"

    def test_array_says_so(self) -> None:
        with pytest.raises(SerializationError) as caught:
            decode_json_body(b"[]")
        assert caught.value.message == "Start of list found where not expected"


# --- constraints --------------------------------------------------------------------------------


class TestRequired:
    def test_missing_required_member(self) -> None:
        assert invalid("DescribeCertificate", {}) == one(
            "Value null at 'certificateArn' failed to satisfy constraint: Member must not be null"
        )

    def test_json_null_is_missing(self) -> None:
        assert invalid("DescribeCertificate", {"CertificateArn": None}) == one(
            "Value null at 'certificateArn' failed to satisfy constraint: Member must not be null"
        )

    def test_null_optional_member_is_absent(self) -> None:
        assert parse("ListCertificates", {"MaxItems": None, "NextToken": None}) == {}

    def test_every_missing_member_is_listed_in_model_order(self) -> None:
        assert invalid("ResendValidationEmail", {}) == (
            "3 validation errors detected: "
            "Value null at 'certificateArn' failed to satisfy constraint: "
            "Member must not be null; "
            "Value null at 'domain' failed to satisfy constraint: Member must not be null; "
            "Value null at 'validationDomain' failed to satisfy constraint: "
            "Member must not be null"
        )

    def test_required_member_of_a_nested_structure(self) -> None:
        message = invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": [{"Value": "v"}]})
        assert message == one(
            "Value null at 'tags.1.member.key' failed to satisfy constraint: "
            "Member must not be null"
        )


class TestStrings:
    def test_length_and_pattern_are_separate_violations(self) -> None:
        assert invalid("DescribeCertificate", {"CertificateArn": "x"}) == (
            "2 validation errors detected: "
            "Value 'x' at 'certificateArn' failed to satisfy constraint: "
            "Member must have length greater than or equal to 20; "
            "Value 'x' at 'certificateArn' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {ARN_PATTERN}"
        )

    def test_brief_example_with_two_members(self) -> None:
        message = invalid(
            "AddTagsToCertificate",
            {"CertificateArn": "arn:a:acm::1:c", "Tags": [{"Key": "y#"}]},
        )
        assert message == (
            "2 validation errors detected: "
            "Value 'arn:a:acm::1:c' at 'certificateArn' failed to satisfy constraint: "
            "Member must have length greater than or equal to 20; "
            "Value 'y#' at 'tags.1.member.key' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {TAG_PATTERN}"
        )

    def test_max_length(self) -> None:
        long_name = "a." * 126 + "com"  # 255 characters, a well-formed name
        assert invalid("RequestCertificate", {"DomainName": long_name}) == one(
            f"Value '{long_name}' at 'domainName' failed to satisfy constraint: "
            "Member must have length less than or equal to 253"
        )

    def test_empty_string_against_min_and_pattern(self) -> None:
        message = invalid("PutAccountConfiguration", {"IdempotencyToken": ""})
        assert message == (
            "2 validation errors detected: "
            "Value '' at 'idempotencyToken' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1; "
            "Value '' at 'idempotencyToken' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: \\w+"
        )

    def test_enum(self) -> None:
        message = invalid(
            "RequestCertificate", {"DomainName": "example.com", "KeyAlgorithm": "RSA_9"}
        )
        assert message == one(
            "Value 'RSA_9' at 'keyAlgorithm' failed to satisfy constraint: "
            f"Member must satisfy enum value set: {enum_text('KeyAlgorithm')}"
        )
        assert enum_text("KeyAlgorithm").startswith("[RSA_1024, RSA_2048, ")

    def test_enum_is_case_sensitive(self) -> None:
        assert "enum value set" in invalid(
            "RequestCertificate", {"DomainName": "example.com", "ValidationMethod": "dns"}
        )

    def test_pattern_with_unicode_classes(self) -> None:
        tags = [{"Key": "ключ", "Value": "värde 1"}, {"Key": "a b:c/d=e+f-g@h_i.j", "Value": ""}]
        parsed = parse("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": tags})
        assert parsed["Tags"] == tags

    def test_pattern_must_match_the_whole_value(self) -> None:
        # The ARN pattern matches a prefix of this value; Java's matches() wants all of it.
        message = invalid("RequestCertificate", {"DomainName": "example.com."})
        assert message == one(
            "Value 'example.com.' at 'domainName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {DOMAIN_PATTERN}"
        )

    def test_java_dot_stops_at_carriage_return(self) -> None:
        role = "arn:aws:iam::123456789012:role/a\rb"
        message = invalid(
            "CreateAcmeExternalAccountBinding",
            {
                "AcmeEndpointArn": "arn:aws:acm:us-east-1:123456789012:acme-endpoint/e",
                "RoleArn": role,
            },
        )
        assert message.startswith(one(f"Value '{role}' at 'roleArn'"))

    def test_java_word_class_is_ascii(self) -> None:
        assert parse("PutAccountConfiguration", {"IdempotencyToken": "abc_1"})
        assert "regular expression" in invalid("PutAccountConfiguration", {"IdempotencyToken": "é"})


class TestNumbers:
    def test_minimum(self) -> None:
        assert invalid("ListCertificates", {"MaxItems": 0}) == one(
            "Value '0' at 'maxItems' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )

    def test_maximum(self) -> None:
        assert invalid("ListCertificates", {"MaxItems": 1001}) == one(
            "Value '1001' at 'maxItems' failed to satisfy constraint: "
            "Member must have value less than or equal to 1000"
        )

    def test_nested_path_is_lower_camel_case(self) -> None:
        message = invalid(
            "PutAccountConfiguration",
            {"IdempotencyToken": "t", "ExpiryEvents": {"DaysBeforeExpiry": 0}},
        )
        assert message == one(
            "Value '0' at 'expiryEvents.daysBeforeExpiry' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )

    def test_fraction_is_truncated_for_an_integer(self) -> None:
        assert parse("ListCertificates", {"MaxItems": 5.7}) == {"MaxItems": 5}

    def test_long(self) -> None:
        params = {
            "AcmeEndpointArn": "arn:aws:acm:us-east-1:123456789012:acme-endpoint/e",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Expiration": {"Value": 2**40, "Type": "DAYS"},
        }
        parsed = parse("CreateAcmeExternalAccountBinding", params)
        assert parsed["Expiration"] == {"Value": 2**40, "Type": "DAYS"}


class TestLists:
    def test_too_short(self) -> None:
        assert invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": []}) == one(
            "Value '[]' at 'tags' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )

    def test_too_long(self) -> None:
        tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        message = invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": tags})
        assert message.startswith(one("Value '[{Key: k0,Value: v}, {Key: k1,Value: v}, "))
        assert message.endswith(
            "{Key: k50,Value: v}]' at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50"
        )

    def test_list_length_comes_before_its_members(self) -> None:
        tags = [{"Key": "#"}] + [{"Key": f"k{i}"} for i in range(50)]
        message = invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": tags})
        assert message.startswith("2 validation errors detected: Value '[")
        assert message.endswith(
            "Member must have length less than or equal to 50; Value '#' at 'tags.1.member.key' "
            f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
            f"{TAG_PATTERN}"
        )

    def test_members_of_a_list_of_strings_are_reported_for_the_whole_list(self) -> None:
        message = invalid(
            "RequestCertificate",
            {"DomainName": "example.com", "SubjectAlternativeNames": ["www.example.com", "ccc"]},
        )
        assert message == one(
            "Value '[www.example.com, ccc]' at 'subjectAlternativeNames' failed to satisfy "
            "constraint: Member must satisfy constraint: [Member must have length less than or "
            "equal to 253, Member must have length greater than or equal to 1, Member must "
            f"satisfy regular expression pattern: {DOMAIN_PATTERN}]"
        )

    def test_list_of_enums(self) -> None:
        message = invalid("ListCertificates", {"CertificateStatuses": ["ISSUED", "NOPE"]})
        assert message == one(
            "Value '[ISSUED, NOPE]' at 'certificateStatuses' failed to satisfy constraint: "
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            f"{enum_text('CertificateStatus')}]"
        )

    def test_null_in_a_list_of_strings(self) -> None:
        message = invalid("ListCertificates", {"CertificateStatuses": ["ISSUED", None]})
        assert message == one(
            "Value '[ISSUED, null]' at 'certificateStatuses' failed to satisfy constraint: "
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            f"{enum_text('CertificateStatus')}, Member must not be null]"
        )

    def test_null_in_a_list_of_structures(self) -> None:
        message = invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": [None]})
        assert message == one(
            "Value null at 'tags.1.member' failed to satisfy constraint: Member must not be null"
        )

    def test_violations_in_list_of_structures_are_numbered_from_one(self) -> None:
        tags = [{"Key": "ok"}, {"Key": "b#d", "Value": "x" * 257}]
        message = invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": tags})
        assert message == (
            "2 validation errors detected: "
            "Value 'b#d' at 'tags.2.member.key' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {TAG_PATTERN}; "
            f"Value '{'x' * 257}' at 'tags.2.member.value' failed to satisfy constraint: "
            "Member must have length less than or equal to 256"
        )

    def test_list_in_a_nested_structure(self) -> None:
        message = invalid("ListCertificates", {"Includes": {"keyTypes": ["RSA_2048", "X"]}})
        assert message.startswith(
            one("Value '[RSA_2048, X]' at 'includes.keyTypes' failed to satisfy constraint: ")
        )


class TestBlobs:
    def test_converted_to_bytes(self) -> None:
        parsed = parse(
            "ImportCertificate", {"Certificate": b64(b"cert"), "PrivateKey": b64(b"key")}
        )
        assert parsed == {"Certificate": b"cert", "PrivateKey": b"key"}

    def test_empty_blob_is_rendered_like_a_java_byte_buffer(self) -> None:
        message = invalid("ImportCertificate", {"Certificate": "", "PrivateKey": b64(b"k")})
        assert message == one(
            "Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'certificate' failed to "
            "satisfy constraint: Member must have length greater than or equal to 1"
        )

    def test_length_is_counted_in_bytes(self) -> None:
        message = invalid(
            "ImportCertificate", {"Certificate": b64(b"x" * 32769), "PrivateKey": b64(b"k")}
        )
        assert message == one(
            "Value 'java.nio.HeapByteBuffer[pos=0 lim=32769 cap=32769]' at 'certificate' failed "
            "to satisfy constraint: Member must have length less than or equal to 32768"
        )

    def test_sensitive_blob_is_redacted(self) -> None:
        message = invalid("ExportCertificate", {"CertificateArn": ARN, "Passphrase": b64(b"ab")})
        assert message == one(
            f"Value '{REDACTED}' at 'passphrase' failed to satisfy constraint: "
            "Member must have length greater than or equal to 4"
        )
        assert REDACTED == "*** Sensitive Data Redacted ***"

    def test_sensitive_private_key_is_redacted(self) -> None:
        message = invalid("ImportCertificate", {"Certificate": b64(b"c"), "PrivateKey": ""})
        assert message == one(
            f"Value '{REDACTED}' at 'privateKey' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )

    def test_bad_base64_length(self) -> None:
        message = unserializable("ImportCertificate", {"Certificate": "YWI", "PrivateKey": "YQ=="})
        assert message == (
            "'YWI' can not be converted to a Blob: "
            "Base64 encoded length is expected a multiple of 4 bytes but found: 3"
        )

    def test_bad_base64_character(self) -> None:
        message = unserializable("ImportCertificate", {"Certificate": "YW!=", "PrivateKey": "YQ=="})
        assert message == "'YW!=' can not be converted to a Blob: Invalid Base64 character: '!'"

    def test_bad_base64_padding(self) -> None:
        message = unserializable("ImportCertificate", {"Certificate": "Y===", "PrivateKey": "YQ=="})
        assert message.startswith("'Y===' can not be converted to a Blob: ")

    def test_bad_base64_of_a_sensitive_member_is_not_echoed(self) -> None:
        message = unserializable(
            "ImportCertificate", {"Certificate": "YQ==", "PrivateKey": "c2VjcmV0!"}
        )
        assert "c2VjcmV0" not in message
        assert message.startswith(f"'{REDACTED}' can not be converted to a Blob: ")


class TestUnions:
    ONE_FILTER: ClassVar[dict[str, object]] = {"Filter": {"CertificateArn": ARN}}

    def test_exactly_one_member(self) -> None:
        parsed = parse("SearchCertificates", {"FilterStatement": self.ONE_FILTER})
        assert parsed == {"FilterStatement": self.ONE_FILTER}

    def test_no_member(self) -> None:
        assert invalid("SearchCertificates", {"FilterStatement": {}}) == one(
            "Value '{}' at 'filterStatement' failed to satisfy constraint: "
            "Member must have exactly one member set"
        )

    def test_null_members_are_unset(self) -> None:
        statement = {"And": None, "Or": None, **self.ONE_FILTER}
        assert parse("SearchCertificates", {"FilterStatement": statement}) == {
            "FilterStatement": self.ONE_FILTER
        }

    def test_two_members(self) -> None:
        statement = {"Not": self.ONE_FILTER, **self.ONE_FILTER}
        message = invalid("SearchCertificates", {"FilterStatement": statement})
        assert message.startswith(one("Value '{Not: {Filter: {CertificateArn: arn:aws:acm:"))
        assert message.endswith(
            "' at 'filterStatement' failed to satisfy constraint: "
            "Member must have exactly one member set"
        )

    def test_recursive_union_paths(self) -> None:
        statement = {"And": [self.ONE_FILTER, {}]}
        assert invalid("SearchCertificates", {"FilterStatement": statement}) == one(
            "Value '{}' at 'filterStatement.and.2.member' failed to satisfy constraint: "
            "Member must have exactly one member set"
        )

    def test_deep_member_path(self) -> None:
        statement = {"Filter": {"AcmCertificateMetadataFilter": {"Status": "NOPE"}}}
        message = invalid("SearchCertificates", {"FilterStatement": statement})
        assert message == one(
            "Value 'NOPE' at 'filterStatement.filter.acmCertificateMetadataFilter.status' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            f"{enum_text('CertificateStatus')}"
        )


class TestMessages:
    def test_singular_and_plural(self) -> None:
        assert invalid("DescribeCertificate", {}).startswith("1 validation error detected: ")
        assert invalid("ResendValidationEmail", {}).startswith("3 validation errors detected: ")

    def test_violations_are_joined_with_semicolons(self) -> None:
        message = invalid("ListCertificates", {"MaxItems": 0, "SortOrder": "UP"})
        first, second = message.removeprefix("2 validation errors detected: ").split("; ")
        assert first.startswith("Value '0' at 'maxItems'")
        assert second.startswith("Value 'UP' at 'sortOrder'")

    def test_at_most_ten_violations_are_listed(self) -> None:
        tags = [{"Key": f"#{i}"} for i in range(20)]
        message = invalid("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": tags})
        assert MAX_LISTED_ERRORS == 10
        assert message.startswith("10 validation errors detected: Value '#0' at 'tags.1.")
        assert message.count("failed to satisfy constraint") == 10
        assert "tags.10.member.key" in message
        assert "tags.11.member.key" not in message


# --- wrong JSON types ---------------------------------------------------------------------------


STATEMENT_IN_USE = "AcmCertificateMetadataFilter"


def in_use(value: object) -> dict[str, object]:
    return {"FilterStatement": {"Filter": {STATEMENT_IN_USE: {"InUse": value}}}}


class TestWrongTypes:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (1, "NUMBER_VALUE can not be converted to a String"),
            (1.5, "NUMBER_VALUE can not be converted to a String"),
            (True, "TRUE_VALUE can not be converted to a String"),
            (False, "FALSE_VALUE can not be converted to a String"),
            (["x"], "Start of list found where not expected"),
            ({"a": 1}, "Start of structure or map found where not expected."),
        ],
    )
    def test_string(self, value: object, message: str) -> None:
        assert unserializable("DescribeCertificate", {"CertificateArn": value}) == message

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("1", "STRING_VALUE can not be converted to an Integer"),
            (True, "TRUE_VALUE can not be converted to an Integer"),
            (False, "FALSE_VALUE can not be converted to an Integer"),
            ([1], "Start of list found where not expected"),
            ({"a": 1}, "Start of structure or map found where not expected."),
        ],
    )
    def test_integer(self, value: object, message: str) -> None:
        assert unserializable("ListCertificates", {"MaxItems": value}) == message

    def test_long(self) -> None:
        params = {
            "AcmeEndpointArn": "arn:aws:acm:us-east-1:123456789012:acme-endpoint/e",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Expiration": {"Value": "1", "Type": "DAYS"},
        }
        assert (
            unserializable("CreateAcmeExternalAccountBinding", params)
            == "STRING_VALUE can not be converted to a Long"
        )

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("true", "STRING_VALUE can not be converted to an Boolean"),
            (1, "NUMBER_VALUE can not be converted to a Boolean"),
            ([], "Start of list found where not expected"),
            ({}, "Start of structure or map found where not expected."),
        ],
    )
    def test_boolean(self, value: object, message: str) -> None:
        assert unserializable("SearchCertificates", in_use(value)) == message

    def test_boolean_accepted(self) -> None:
        parsed = parse("SearchCertificates", in_use(False))
        assert parsed == in_use(False)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("ISSUED", "Expected list or null"),
            (1, "Expected list or null"),
            (True, "Expected list or null"),
            ({"a": "ISSUED"}, "Start of structure or map found where not expected."),
        ],
    )
    def test_list(self, value: object, message: str) -> None:
        assert unserializable("ListCertificates", {"CertificateStatuses": value}) == message

    def test_list_element(self) -> None:
        message = unserializable("ListCertificates", {"CertificateStatuses": ["ISSUED", 1]})
        assert message == "NUMBER_VALUE can not be converted to a String"

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("x", "Expected null"),
            (1, "Expected null"),
            (False, "Expected null"),
            ([], "Start of list found where not expected"),
        ],
    )
    def test_structure(self, value: object, message: str) -> None:
        assert unserializable("ListCertificates", {"Includes": value}) == message

    def test_structure_in_a_list(self) -> None:
        message = unserializable("AddTagsToCertificate", {"CertificateArn": ARN, "Tags": ["k=v"]})
        assert message == "Expected null"

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (1, "NUMBER_VALUE can not be converted to a Blob"),
            (True, "TRUE_VALUE can not be converted to a Blob"),
            ([], "Start of list found where not expected"),
            ({}, "Start of structure or map found where not expected."),
        ],
    )
    def test_blob(self, value: object, message: str) -> None:
        params = {"Certificate": value, "PrivateKey": "YQ=="}
        assert unserializable("ImportCertificate", params) == message

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (True, "TRUE_VALUE can not be converted to a Timestamp"),
            ("yesterday", "STRING_VALUE can not be converted to a Timestamp"),
            ([1], "Start of list found where not expected"),
            ({"s": 1}, "Start of structure or map found where not expected."),
            (1e20, "NUMBER_VALUE can not be converted to a Timestamp"),
        ],
    )
    def test_timestamp(self, value: object, message: str) -> None:
        params = {
            "FilterStatement": {"Filter": {"X509AttributeFilter": {"NotAfter": {"Start": value}}}}
        }
        assert unserializable("SearchCertificates", params) == message

    def test_type_errors_win_over_constraint_violations(self) -> None:
        message = unserializable("ListCertificates", {"NextToken": "", "MaxItems": "1"})
        assert message == "STRING_VALUE can not be converted to an Integer"
        assert (
            unserializable("DescribeCertificate", {"Unknown": 1, "CertificateArn": 5})
            == "NUMBER_VALUE can not be converted to a String"
        )


# --- conversions --------------------------------------------------------------------------------


class TestConversions:
    def test_unknown_members_are_ignored(self) -> None:
        parsed = parse(
            "AddTagsToCertificate",
            {
                "CertificateArn": ARN,
                "Tags": [{"Key": "k", "Value": "v", "Colour": "red"}],
                "Foo": {"deep": [1, 2]},
            },
        )
        assert parsed == {"CertificateArn": ARN, "Tags": [{"Key": "k", "Value": "v"}]}

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1450137600, dt.datetime(2015, 12, 15, tzinfo=UTC)),
            (1450137600.5, dt.datetime(2015, 12, 15, 0, 0, 0, 500000, tzinfo=UTC)),
            ("2015-12-15T00:00:00Z", dt.datetime(2015, 12, 15, tzinfo=UTC)),
            ("2015-12-15T02:00:00+02:00", dt.datetime(2015, 12, 15, tzinfo=UTC)),
            ("2015-12-15T00:00:00.250Z", dt.datetime(2015, 12, 15, 0, 0, 0, 250000, tzinfo=UTC)),
            ("2015-12-15T00:00:00", dt.datetime(2015, 12, 15, tzinfo=UTC)),
            ("1450137600", dt.datetime(2015, 12, 15, tzinfo=UTC)),
        ],
    )
    def test_timestamps(self, value: object, expected: dt.datetime) -> None:
        params = {
            "FilterStatement": {"Filter": {"X509AttributeFilter": {"NotBefore": {"End": value}}}}
        }
        parsed: Any = parse("SearchCertificates", params)
        converted = parsed["FilterStatement"]["Filter"]["X509AttributeFilter"]["NotBefore"]["End"]
        assert isinstance(converted, dt.datetime)
        assert converted.tzinfo is not None
        assert converted == expected

    def test_returns_a_new_dict_with_member_names(self) -> None:
        params: dict[str, object] = {"CertificateArn": ARN}
        parsed = parse("DescribeCertificate", params)
        assert parsed == params
        assert parsed is not params

    def test_operation_without_input_members(self) -> None:
        assert parse("GetAccountConfiguration", {"Anything": 1}) == {}

    def test_plans_are_compiled_once(self) -> None:
        shape = op("DescribeCertificate").input_shape
        assert compile_input(shape) is compile_input(shape)

    def test_cbor_wire_takes_raw_bytes_and_datetimes(self) -> None:
        plan = compile_input(op("ImportCertificate").input_shape, "cbor")
        assert plan({"Certificate": b"c", "PrivateKey": b"k"}) == {
            "Certificate": b"c",
            "PrivateKey": b"k",
        }
        with pytest.raises(SerializationError) as caught:
            plan({"Certificate": "YQ==", "PrivateKey": b"k"})
        assert caught.value.message == "STRING_VALUE can not be converted to a Blob"
        search = compile_input(op("SearchCertificates").input_shape, "cbor")
        when = dt.datetime(2015, 12, 15, tzinfo=UTC)
        filters = {"Filter": {"X509AttributeFilter": {"NotAfter": {"Start": when}}}}
        assert search({"FilterStatement": filters}) == {"FilterStatement": filters}


class TestJavaPatterns:
    @pytest.mark.parametrize(
        ("pattern", "good", "bad"),
        [
            (TAG_PATTERN, "héllo wörld_1", "a#"),
            (r"\w+", "abc_1", "é"),
            (r"\d+", "123", "١٢٣"),  # Arabic-Indic digits are \d in Python, not in Java
            (r"[a-z&&[^b]]+", "ac", "ab"),
            ("x.y", "x y", "x\u2028y"),
            (r"\Qa.b\E", "a.b", "axb"),
            (r"\p{Alpha}+", "abc", "é"),
            (r"[-a-z~|]+", "a~|-", "a!"),
            ("[\\u0009\\u000A\\u000D\\u0020-\\u00FF]*", "tab\there ÿ", "Ā"),
        ],
    )
    def test_matches_like_java(self, pattern: str, good: str, bad: str) -> None:
        matcher = pattern_matcher(pattern)
        assert matcher is not None
        assert matcher(good)
        assert not matcher(bad)

    def test_rewrites(self) -> None:
        assert java_pattern(r"[\w+=/,.@-]+") == "[a-zA-Z_0-9+=/,.@-]+"
        assert java_pattern(".+") == "[^\\n\\r\\u0085\\u2028\\u2029]+"
        assert java_pattern(TAG_PATTERN) == TAG_PATTERN

    def test_patterns_are_cached(self) -> None:
        assert pattern_matcher(ARN_PATTERN) is pattern_matcher(ARN_PATTERN)


# --- output -------------------------------------------------------------------------------------


def botocore_parse(operation: OperationModel, body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = create_parser("json").parse(
        {"body": body, "headers": {}, "status_code": 200}, operation.output_shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


CERTIFICATE: dict[str, object] = {
    "CertificateArn": ARN,
    "DomainName": "example.com",
    "SubjectAlternativeNames": ["example.com", "www.example.com"],
    "DomainValidationOptions": [
        {
            "DomainName": "example.com",
            "ValidationDomain": "example.com",
            "ValidationStatus": "SUCCESS",
            "ResourceRecord": {
                "Name": "_a.example.com.",
                "Type": "CNAME",
                "Value": "_b.acm-validations.aws.",
            },
            "ValidationMethod": "DNS",
        }
    ],
    "Serial": "0a:1b",
    "Subject": "CN=example.com",
    "Issuer": "Amazon",
    "CreatedAt": dt.datetime(2015, 12, 15, tzinfo=UTC),
    "IssuedAt": dt.datetime(2015, 12, 15, 1, 2, 3, 456789, tzinfo=UTC),
    "NotBefore": dt.datetime(2015, 12, 15, tzinfo=UTC),
    "NotAfter": dt.datetime(2016, 12, 15, tzinfo=UTC),
    "Status": "ISSUED",
    "KeyAlgorithm": "RSA_2048",
    "SignatureAlgorithm": "SHA256WITHRSA",
    "InUseBy": [],
    "Type": "AMAZON_ISSUED",
    "KeyUsages": [{"Name": "DIGITAL_SIGNATURE"}, {"Name": "KEY_ENCIPHERMENT"}],
    "ExtendedKeyUsages": [{"Name": "TLS_WEB_SERVER_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.1"}],
    "RenewalEligibility": "INELIGIBLE",
    "Options": {"CertificateTransparencyLoggingPreference": "ENABLED"},
}


class TestSerializeOutput:
    def test_describe_certificate_round_trips_through_botocore(self) -> None:
        describe = op("DescribeCertificate")
        body = serialize_output(describe, {"Certificate": CERTIFICATE})
        parsed = botocore_parse(describe, body)
        expected = dict(CERTIFICATE)
        # AWS writes milliseconds; the microseconds below them are not sent.
        expected["IssuedAt"] = dt.datetime(2015, 12, 15, 1, 2, 3, 456000, tzinfo=UTC)
        assert parsed == {"Certificate": expected}

    def test_timestamps_are_epoch_seconds(self) -> None:
        body = serialize_output(op("DescribeCertificate"), {"Certificate": CERTIFICATE})
        raw = orjson.loads(body)["Certificate"]
        assert raw["CreatedAt"] == 1450137600.0
        assert isinstance(raw["CreatedAt"], float)
        assert raw["IssuedAt"] == 1450141323.456
        assert b'"CreatedAt":1450137600.0' in body

    def test_none_members_are_left_out(self) -> None:
        certificate = {**CERTIFICATE, "RevokedAt": None, "FailureReason": None}
        body = serialize_output(op("DescribeCertificate"), {"Certificate": certificate})
        assert b"RevokedAt" not in body
        assert b"FailureReason" not in body
        assert serialize_output(op("DescribeCertificate"), {"Certificate": None}) == b"{}"

    def test_list_certificates_round_trips(self) -> None:
        list_op = op("ListCertificates")
        summaries = [
            {
                "CertificateArn": f"{ARN[:-1]}{i}",
                "DomainName": f"site{i}.example.com",
                "SubjectAlternativeNameSummaries": [f"site{i}.example.com"],
                "HasAdditionalSubjectAlternativeNames": False,
                "Status": "ISSUED",
                "Type": "IMPORTED",
                "KeyAlgorithm": "EC-prime256v1",
                "KeyUsages": ["DIGITAL_SIGNATURE"],
                "InUse": i % 2 == 0,
                "NotAfter": dt.datetime(2030, 1, 1, 12, 0, 0, 1000 * i, tzinfo=UTC),
                "ImportedAt": dt.datetime(2024, 1, 1, tzinfo=UTC),
            }
            for i in range(3)
        ]
        result = {"NextToken": "token-1", "CertificateSummaryList": summaries}
        assert botocore_parse(list_op, serialize_output(list_op, result)) == result

    def test_empty_results(self) -> None:
        assert serialize_output(op("ListCertificates"), None) == b"{}"
        assert serialize_output(op("ListCertificates"), {}) == b"{}"
        body = serialize_output(op("ListCertificates"), {"CertificateSummaryList": []})
        assert body == b'{"CertificateSummaryList":[]}'

    def test_operation_without_output(self) -> None:
        assert serialize_output(op("DeleteCertificate"), None) == b"{}"
        assert serialize_output(op("DeleteCertificate"), {}) == b"{}"
        with pytest.raises(ValueError):
            serialize_output(op("DeleteCertificate"), {"CertificateArn": ARN})

    def test_unknown_key_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="Colour"):
            serialize_output(op("DescribeCertificate"), {"Certificate": {"Colour": "red"}})
        with pytest.raises(ValueError, match="certificate"):
            serialize_output(op("DescribeCertificate"), {"certificate": {}})

    def test_wrong_python_types_are_programming_errors(self) -> None:
        with pytest.raises(TypeError):
            serialize_output(op("DescribeCertificate"), {"Certificate": ["x"]})
        with pytest.raises(TypeError):
            serialize_output(op("DescribeCertificate"), {"Certificate": {"CreatedAt": "yesterday"}})
        with pytest.raises(TypeError):
            serialize_output(op("DescribeCertificate"), {"Certificate": {"KeyUsages": "x"}})

    def test_mapping_results(self) -> None:
        from types import MappingProxyType

        body = serialize_output(
            op("GetCertificate"), MappingProxyType({"Certificate": "PEM", "CertificateChain": None})
        )
        assert body == b'{"Certificate":"PEM"}'


# --- errors -------------------------------------------------------------------------------------


def botocore_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = create_parser("json").parse(
        {"body": body, "headers": headers, "status_code": status}, None
    )
    return parsed


class TestSerializeError:
    def test_validation_error(self) -> None:
        status, headers, body = serialize_error(ValidationError("1 validation error detected: x"))
        assert status == 400
        assert headers == {"Content-Type": CONTENT_TYPE, "x-amzn-ErrorType": "ValidationException"}
        assert CONTENT_TYPE == "application/x-amz-json-1.1"
        assert orjson.loads(body) == {
            "__type": "ValidationException",
            "message": "1 validation error detected: x",
        }
        parsed = botocore_error(status, headers, body)
        assert parsed["Error"] == {
            "Code": "ValidationException",
            "Message": "1 validation error detected: x",
        }

    @pytest.mark.parametrize(
        ("error", "status", "member"),
        [
            (ResourceNotFoundError("Could not find certificate"), 400, "message"),
            (AccessDeniedError("User is not authorized"), 400, "Message"),
            (InternalServerError("boom"), 500, "message"),
            (SerializationError("Expected null"), 400, "message"),
        ],
    )
    def test_codes_statuses_and_message_members(
        self, error: ApiError, status: int, member: str
    ) -> None:
        got_status, headers, body = serialize_error(error)
        assert got_status == status
        assert orjson.loads(body) == {"__type": error.code, member: error.message}
        parsed = botocore_error(got_status, headers, body)
        assert parsed["Error"]["Code"] == error.code
        assert parsed["Error"]["Message"] == error.message

    def test_empty_message_is_left_out(self) -> None:
        status, headers, body = serialize_error(UnknownOperationError(""))
        assert orjson.loads(body) == {"__type": "UnknownOperationException"}
        parsed = botocore_error(status, headers, body)
        assert parsed["Error"] == {"Code": "UnknownOperationException", "Message": ""}

    def test_end_to_end_validation_error_reaches_botocore(self) -> None:
        describe = ACM.operation_for_target("CertificateManager.DescribeCertificate")
        with pytest.raises(ValidationError) as caught:
            parse_input(describe, decode_json_body(b'{"CertificateArn": "x"}'))
        parsed = botocore_error(*serialize_error(caught.value))
        assert parsed["Error"]["Code"] == "ValidationException"
        assert parsed["Error"]["Message"].startswith("2 validation errors detected: ")


# --- what neither ACM model has: maps, output blobs, renamed members ---------------------------

SYNTHETIC: dict[str, Any] = {
    "version": "2.0",
    "metadata": {
        "apiVersion": "2024-01-01",
        "endpointPrefix": "synthetic",
        "jsonVersion": "1.1",
        "protocol": "json",
        "serviceId": "Synthetic",
        "signatureVersion": "v4",
        "signingName": "synthetic",
        "targetPrefix": "Synthetic",
        "uid": "synthetic-2024-01-01",
    },
    "operations": {
        "Put": {
            "name": "Put",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "PutInput"},
            "output": {"shape": "PutOutput"},
        }
    },
    "shapes": {
        "PutInput": {
            "type": "structure",
            "members": {
                "Labels": {"shape": "LabelMap"},
                "Nodes": {"shape": "NodeMap"},
                "Tree": {"shape": "Tree"},
                "Secret": {"shape": "Secret"},
            },
        },
        "LabelMap": {
            "type": "map",
            "key": {"shape": "LabelKey"},
            "value": {"shape": "LabelValue"},
            "max": 2,
        },
        "LabelKey": {"type": "string", "min": 1, "max": 5, "pattern": "[a-z]+"},
        "LabelValue": {"type": "string", "max": 3},
        "NodeMap": {"type": "map", "key": {"shape": "LabelKey"}, "value": {"shape": "Node"}},
        "Node": {"type": "structure", "required": ["Size"], "members": {"Size": {"shape": "Size"}}},
        "Size": {"type": "integer", "min": 0, "max": 9},
        "Tree": {
            "type": "structure",
            "members": {"Name": {"shape": "LabelKey"}, "Children": {"shape": "TreeList"}},
        },
        "TreeList": {"type": "list", "member": {"shape": "Tree"}},
        "Secret": {"type": "string", "min": 8, "sensitive": True},
        "PutOutput": {
            "type": "structure",
            "members": {
                "Data": {"shape": "Data"},
                "Labels": {"shape": "LabelMap"},
                "Tree": {"shape": "Tree"},
                "When": {"shape": "IsoTime"},
                "Renamed": {"shape": "LabelValue", "locationName": "renamed_on_wire"},
            },
        },
        "Data": {"type": "blob"},
        "IsoTime": {"type": "timestamp", "timestampFormat": "iso8601"},
    },
}
PUT = ServiceModel(SYNTHETIC, service_name="synthetic").operation_model("Put")


def put_invalid(params: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_input(PUT, params)
    return caught.value.message


class TestSynthetic:
    def test_map_keys(self) -> None:
        assert put_invalid({"Labels": {"AB": "x"}}) == one(
            "Value '{AB=x}' at 'labels' failed to satisfy constraint: Map keys must satisfy "
            "constraint: [Member must have length less than or equal to 5, Member must have "
            "length greater than or equal to 1, Member must satisfy regular expression pattern: "
            "[a-z]+]"
        )

    def test_map_values(self) -> None:
        assert put_invalid({"Labels": {"a": "long"}}) == one(
            "Value '{a=long}' at 'labels' failed to satisfy constraint: Map value must satisfy "
            "constraint: [Member must have length less than or equal to 3]"
        )

    def test_map_size(self) -> None:
        assert put_invalid({"Labels": {"a": "1", "b": "2", "c": "3"}}) == one(
            "Value '{a=1, b=2, c=3}' at 'labels' failed to satisfy constraint: "
            "Member must have length less than or equal to 2"
        )

    def test_map_of_structures(self) -> None:
        assert put_invalid({"Nodes": {"n": {}, "m": {"Size": 10}}}) == (
            "2 validation errors detected: "
            "Value null at 'nodes.n.member.size' failed to satisfy constraint: "
            "Member must not be null; "
            "Value '10' at 'nodes.m.member.size' failed to satisfy constraint: "
            "Member must have value less than or equal to 9"
        )

    def test_map_types(self) -> None:
        for value, message in [
            ([], "Start of list found where not expected"),
            ("x", "Expected map or null"),
        ]:
            with pytest.raises(SerializationError) as caught:
                parse_input(PUT, {"Labels": value})
            assert caught.value.message == message
        with pytest.raises(SerializationError) as caught:
            parse_input(PUT, {"Labels": {"a": 1}})
        assert caught.value.message == "NUMBER_VALUE can not be converted to a String"

    def test_recursive_input(self) -> None:
        tree = {"Name": "a", "Children": [{"Name": "b", "Children": [{"Name": "C"}]}]}
        message = put_invalid({"Tree": tree})
        assert message.startswith(
            one("Value 'C' at 'tree.children.1.member.children.1.member.name'")
        )

    def test_sensitive_string(self) -> None:
        assert put_invalid({"Secret": "short"}) == one(
            f"Value '{REDACTED}' at 'secret' failed to satisfy constraint: "
            "Member must have length greater than or equal to 8"
        )

    def test_output_round_trip(self) -> None:
        result = {
            "Data": b"\x00\x01binary",
            "Labels": {"a": "x", "b": "y"},
            "Tree": {"Name": "root", "Children": [{"Name": "leaf", "Children": []}]},
            "When": dt.datetime(2015, 12, 15, 1, 2, 3, 456000, tzinfo=UTC),
            "Renamed": "r",
        }
        body = serialize_output(PUT, result)
        raw = orjson.loads(body)
        assert raw["Data"] == base64.b64encode(b"\x00\x01binary").decode()
        assert raw["When"] == "2015-12-15T01:02:03.456Z"
        assert raw["renamed_on_wire"] == "r"
        assert "Renamed" not in raw
        assert botocore_parse(PUT, body) == result
