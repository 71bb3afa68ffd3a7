"""RPC v2 CBOR success paths, in process: the real endpoint, the real ACM-PCA model, a store,
keys and audit log of a fresh data directory, and a small service of this test's own whose
handlers answer with real-shaped outputs (the PCA operations themselves are built elsewhere).

Requests are what botocore's own `RpcV2CBORSerializer` writes, signed by `SigV4Auth` for
"acm-pca"; answers are read by botocore's `RpcV2CBORParser`, so both directions are checked by
the SDK's code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import cbor2
import httpx
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from starlette.applications import Starlette

from openacm.adapters.audit_log import AuditLog
from openacm.app import OpenAcmApp
from openacm.config import Settings
from openacm.domain.errors import ResourceNotFoundError
from openacm.protocol.endpoint import Handler, JsonApiEndpoint, ServedApi
from openacm.protocol.errors import NotImplementedOperationError
from openacm.protocol.model import ApiModel
from openacm.runtime import Runtime
from openacm.services.context import CallContext
from openacm.services.identity import KeyDirectory

PCA = ApiModel.load("acm-pca")
HOST = "testserver"
DEV_KEY = Credentials("test", "test")
CA_ARN = (
    "arn:aws:acm-pca:us-east-1:000000000000:certificate-authority/"
    "12345678-1234-1234-1234-123456789012"
)
CREATED = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
CHANGED = dt.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=dt.UTC)


class RecordingPcaService:
    """Answers three operations with outputs shaped as the model says; the rest are not built."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any]]] = []
        self.handlers: dict[str, Handler] = {
            "DescribeCertificateAuthority": self.describe,
            "ListTags": self.list_tags,
            "TagCertificateAuthority": self.tag,
        }

    def handler(self, operation: str) -> Handler:
        if operation not in self.handlers:
            raise NotImplementedOperationError(f"openacm does not implement {operation} yet.")
        return self.handlers[operation]

    def describe(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("DescribeCertificateAuthority", params))
        if params["CertificateAuthorityArn"] != CA_ARN:
            raise ResourceNotFoundError("Could not find certificate authority.")
        return {
            "CertificateAuthority": {
                "Arn": CA_ARN,
                "OwnerAccount": ctx.account_id,
                "CreatedAt": CREATED,
                "LastStateChangeAt": CHANGED,
                "Type": "ROOT",
                "Status": "PENDING_CERTIFICATE",
                "CertificateAuthorityConfiguration": {
                    "KeyAlgorithm": "EC_prime256v1",
                    "SigningAlgorithm": "SHA256WITHECDSA",
                    "Subject": {"CommonName": "Example Root"},
                },
                "KeyStorageSecurityStandard": "FIPS_140_2_LEVEL_3_OR_HIGHER",
            }
        }

    def list_tags(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("ListTags", params))
        return {"Tags": [{"Key": "team", "Value": "pki"}, {"Key": "flag"}]}

    def tag(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("TagCertificateAuthority", params))
        return {}


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.settings = Settings(data_dir=tmp, dev=True)
        self.runtime = Runtime.open(self.settings)
        self.audit = AuditLog(self.runtime.db, self.settings.audit_log_path)
        self.service = RecordingPcaService()
        keys = KeyDirectory(self.runtime.db, self.runtime.cipher, dev=True)
        endpoint = JsonApiEndpoint(
            [ServedApi(PCA, self.service, "acm-pca.amazonaws.com")], keys, self.audit
        )
        self.app = OpenAcmApp(endpoint, Starlette())

    def cbor_call(self, operation: str, params: Mapping[str, Any]) -> tuple[int, Any]:
        """The call as botocore writes it, and botocore's reading of the answer."""
        model = PCA.operation(operation)
        serialized = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(
            dict(params), model
        )
        response = self.send(serialized["url_path"], serialized["body"], serialized["headers"])
        parsed = create_parser("smithy-rpc-v2-cbor").parse(
            {
                "status_code": response.status_code,
                "headers": response.headers,
                "body": response.content,
            },
            model.output_shape,
        )
        return response.status_code, parsed

    def json_call(self, operation: str, params: Mapping[str, Any]) -> httpx.Response:
        headers = {
            "X-Amz-Target": f"{PCA.target_prefix}.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        }
        return self.send("/", orjson.dumps(params), headers)

    def send(self, path: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        request = AWSRequest(
            method="POST", url=f"http://{HOST}{path}", data=body, headers=dict(headers)
        )
        SigV4Auth(DEV_KEY, PCA.signing_name, "us-east-1").add_auth(request)
        return anyio.run(self._post, path, body, dict(request.headers))

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
            return await client.post(path, content=body, headers=headers)

    def audit_records(self) -> list[dict[str, Any]]:
        self.audit.flush()
        lines = self.settings.audit_log_path.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines]

    def close(self) -> None:
        self.audit.close()
        self.runtime.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    opened = Harness(tmp_path)
    yield opened
    opened.close()


def test_describe_answers_timestamps_and_nested_structures(harness: Harness) -> None:
    status, parsed = harness.cbor_call(
        "DescribeCertificateAuthority", {"CertificateAuthorityArn": CA_ARN}
    )
    assert status == 200
    authority = parsed["CertificateAuthority"]
    assert authority["CreatedAt"] == CREATED
    assert authority["LastStateChangeAt"] == CHANGED
    assert authority["OwnerAccount"] == "000000000000"
    assert authority["CertificateAuthorityConfiguration"]["Subject"] == {
        "CommonName": "Example Root"
    }
    assert parsed["ResponseMetadata"]["RequestId"]
    assert parsed["ResponseMetadata"]["HTTPHeaders"]["smithy-protocol"] == "rpc-v2-cbor"
    assert parsed["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/cbor"


def test_list_tags_answers_a_list(harness: Harness) -> None:
    status, parsed = harness.cbor_call("ListTags", {"CertificateAuthorityArn": CA_ARN})
    assert status == 200
    assert parsed["Tags"] == [{"Key": "team", "Value": "pki"}, {"Key": "flag"}]
    assert harness.service.calls == [("ListTags", {"CertificateAuthorityArn": CA_ARN})]


def test_operation_without_output_answers_no_body(harness: Harness) -> None:
    tags = [{"Key": "team", "Value": "pki"}]
    model = PCA.operation("TagCertificateAuthority")
    serialized = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(
        {"CertificateAuthorityArn": CA_ARN, "Tags": tags}, model
    )
    response = harness.send(serialized["url_path"], serialized["body"], serialized["headers"])
    assert response.status_code == 200
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert harness.service.calls == [
        ("TagCertificateAuthority", {"CertificateAuthorityArn": CA_ARN, "Tags": tags})
    ]


def test_a_modelled_error_of_the_service(harness: Harness) -> None:
    status, parsed = harness.cbor_call(
        "DescribeCertificateAuthority", {"CertificateAuthorityArn": CA_ARN + "0"}
    )
    assert status == 400
    assert parsed["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "Could not find certificate authority.",
    }


def test_the_audit_record_is_the_json_path_s(harness: Harness) -> None:
    tags = [{"Key": "team", "Value": "pki"}]
    params = {"CertificateAuthorityArn": CA_ARN, "Tags": tags}
    harness.cbor_call("TagCertificateAuthority", params)
    assert harness.json_call("TagCertificateAuthority", params).status_code == 200
    from_cbor, from_json = harness.audit_records()
    varying = ("eventTime", "requestID", "eventID", "userAgent")
    for record in (from_cbor, from_json):
        for name in varying:
            record.pop(name)
    assert from_cbor == from_json
    assert from_cbor["eventSource"] == "acm-pca.amazonaws.com"
    assert from_cbor["eventName"] == "TagCertificateAuthority"
    assert from_cbor["requestParameters"] == {
        "certificateAuthorityArn": CA_ARN,
        "tags": [{"key": "team", "value": "pki"}],
    }


def test_refusals_are_audited_too(harness: Harness) -> None:
    status, parsed = harness.cbor_call(
        "DeleteCertificateAuthority", {"CertificateAuthorityArn": CA_ARN}
    )
    assert status == 501
    assert parsed["Error"]["Code"] == "NotImplementedException"
    (record,) = harness.audit_records()
    assert record["eventName"] == "DeleteCertificateAuthority"
    assert record["errorCode"] == "NotImplementedException"
    assert record["recipientAccountId"] == "000000000000"


def test_botocore_s_empty_input_map_and_an_empty_body_are_both_accepted(harness: Harness) -> None:
    # ListCertificateAuthorities has no required member: botocore sends an empty map (a0).
    for body in (cbor2.dumps({}), b""):
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
        response = harness.send(
            "/service/ACMPrivateCA/operation/ListCertificateAuthorities", body, headers
        )
        assert response.status_code == 501  # routed, signed, parsed: then not built
        assert cbor2.loads(response.content)["__type"].endswith("#NotImplementedException")
