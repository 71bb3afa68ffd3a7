"""The AWS Query protocol's framing (protocol/queryproto.py), read from botocore's models."""

from __future__ import annotations

from urllib.parse import urlencode
from xml.etree import ElementTree

from openacm.domain.errors import AccessDeniedError
from openacm.protocol.model import ApiModel
from openacm.protocol.queryproto import error_answer, input_params, output_xml

STS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def test_flattened_members_are_structured_by_the_model() -> None:
    operation = ApiModel.load("sts").operation("AssumeRole")
    body = urlencode(
        {
            "Action": "AssumeRole",
            "Version": "2011-06-15",
            "RoleArn": "arn:aws:iam::111122223333:role/r",
            "RoleSessionName": "s",
            "DurationSeconds": "900",
            "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/A",
            "PolicyArns.member.2.arn": "arn:aws:iam::aws:policy/B",
            "Tags.member.1.Key": "team",
            "Tags.member.1.Value": "web",
        }
    ).encode()
    assert input_params(operation, body) == {
        "RoleArn": "arn:aws:iam::111122223333:role/r",
        "RoleSessionName": "s",
        "DurationSeconds": 900,
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/A"}, {"arn": "arn:aws:iam::aws:policy/B"}],
        "Tags": [{"Key": "team", "Value": "web"}],
    }


def test_output_and_error_documents() -> None:
    operation = ApiModel.load("sts").operation("AssumeRole")
    result = {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLE",
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": 1796400000.0,
        },
        "PackedPolicySize": 3,
    }
    root = ElementTree.fromstring(output_xml(operation, result, "req-1"))
    assert root.tag == f"{STS}AssumeRoleResponse"
    credentials = root.find(f"{STS}AssumeRoleResult/{STS}Credentials")
    assert credentials is not None
    assert credentials.findtext(f"{STS}Expiration") == "2026-12-04T16:00:00Z"
    assert root.findtext(f"{STS}AssumeRoleResult/{STS}PackedPolicySize") == "3"
    assert root.findtext(f"{STS}ResponseMetadata/{STS}RequestId") == "req-1"
    status, payload = error_answer(AccessDeniedError("no"), "req-2", STS[1:-1])
    error = ElementTree.fromstring(payload)
    assert status == 403
    assert error.findtext(f"{STS}Error/{STS}Code") == "AccessDenied"
    assert error.findtext(f"{STS}Error/{STS}Type") == "Sender"
    assert error.findtext(f"{STS}RequestId") == "req-2"
