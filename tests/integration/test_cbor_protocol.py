"""Smithy RPC v2 CBOR against a running `openacm serve`: raw signed requests and boto3.

Raw requests are built with cbor2 and signed with botocore's `SigV4Auth` for "acm-pca", so the
test controls every byte (malformed CBOR, wrong headers, wrong methods). Each refusal is checked
for its HTTP status, the CBOR error body (`__type` an absolute shape id, `message`), the
protocol headers and x-amzn-RequestId; where the JSON protocol has the same failure, the two
answers must carry the same code, status and message, since they share one code path.

boto3 speaks CBOR to ACM-PCA only when its model lets it: botocore 1.44.5 picks the first of
`PRIORITY_ORDERED_SUPPORTED_PROTOCOLS` (json before smithy-rpc-v2-cbor) that the model's
`protocols` lists, whatever the model's own order. The boto3 tests therefore load a copy of the
acm-pca model whose `protocols` lists smithy-rpc-v2-cbor alone, through the session's
`data_path` (botocore searches it before its own data, as it does AWS_DATA_PATH); every other
file (endpoint rules, paginators) still comes from botocore.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import cbor2
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.loaders import Loader

from tests.integration.test_pca_issue import LEAF_TEMPLATE, hierarchy, issue, leaf_csr
from tests.support.server import OpenAcmServer

SERVICE = "acm-pca"
MODEL = botocore.session.get_session().get_service_model(SERVICE)
SERVICE_NAME = MODEL.metadata["targetPrefix"]  # what botocore's serializer puts in the path
API_VERSION = MODEL.api_version
REGION = "us-east-1"
CBOR = "application/cbor"
FRAMEWORK = "com.amazon.coral.service#"
SERVICE_NAMESPACE = "com.amazonaws.acmpca#"
CA_ARN = (
    "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"
    "12345678-1234-1234-1234-123456789012"
)
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
LOOSE = Config(parameter_validation=False, retries={"max_attempts": 1}, read_timeout=60)


def operation_path(operation: str, service: str = SERVICE_NAME) -> str:
    return f"/service/{service}/operation/{operation}"


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        """The CBOR error body, after checking what every CBOR error answer carries."""
        assert self.headers["content-type"] == CBOR
        assert self.headers["smithy-protocol"] == "rpc-v2-cbor"
        assert self.headers["x-amzn-requestid"]
        decoded = cbor2.loads(self.body)
        assert isinstance(decoded, dict)
        assert set(decoded) <= {"__type", "message"}
        return decoded


@dataclass
class Caller:
    server: OpenAcmServer
    key: tuple[str, str]
    http: httpx.Client

    def cbor(
        self,
        operation: str,
        body: bytes | dict[str, Any] = b"",
        *,
        path: str | None = None,
        method: str = "POST",
        headers: Mapping[str, str | None] | None = None,
        key: tuple[str, str] | None = None,
    ) -> Answer:
        """A signed RPC v2 CBOR request; a header given as None is not sent."""
        data = cbor2.dumps(body) if isinstance(body, dict) else body
        wanted: dict[str, str | None] = {
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": CBOR,
            "Accept": CBOR,
            **(headers or {}),
        }
        sent = {name: value for name, value in wanted.items() if value is not None}
        url = self.server.endpoint + (path or operation_path(operation))
        request = AWSRequest(method=method, url=url, data=data, headers=sent)
        SigV4Auth(Credentials(*(key or self.key)), SERVICE, REGION).add_auth(request)
        response = self.http.request(
            method, url, content=data, headers=dict(request.prepare().headers.items())
        )
        return Answer(response.status_code, response.headers, response.content)

    def json(self, operation: str, body: dict[str, Any]) -> Answer:
        """The same call over AWS JSON 1.1, for answers that must be the same."""
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"{SERVICE_NAME}.{operation}",
        }
        url = self.server.endpoint + "/"
        request = AWSRequest(method="POST", url=url, data=data, headers=headers)
        SigV4Auth(Credentials(*self.key), SERVICE, REGION).add_auth(request)
        response = self.http.post(
            url, content=data, headers=dict(request.prepare().headers.items())
        )
        return Answer(response.status_code, response.headers, response.content)


@pytest.fixture(scope="module")
def caller(sqlite_server: OpenAcmServer) -> Iterator[Caller]:
    _account, key = sqlite_server.new_account()
    with httpx.Client(timeout=60) as http:
        yield Caller(sqlite_server, key, http)


def assert_same_as_json(cbor_answer: Answer, json_answer: Answer) -> dict[str, Any]:
    """The CBOR error has the JSON error's status, code and message; returns the CBOR body."""
    error = cbor_answer.error()
    from_json = json.loads(json_answer.body)
    assert cbor_answer.status == json_answer.status
    assert error["__type"].rsplit("#", 1)[1] == from_json["__type"]
    assert error.get("message") == from_json.get("message")
    return error


# --- raw requests: what is routed, signed and parsed -----------------------------------------


def test_an_operation_answers_in_cbor(caller: Caller) -> None:
    answer = caller.cbor("ListCertificateAuthorities", {"MaxResults": 5})
    assert answer.status == 200
    assert answer.headers["content-type"] == CBOR
    assert answer.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert isinstance(cbor2.loads(answer.body)["CertificateAuthorities"], list)


def test_no_body_for_an_input_without_required_members(caller: Caller) -> None:
    answer = caller.cbor("ListCertificateAuthorities", b"", headers={"Content-Type": None})
    assert answer.status == 200
    assert isinstance(cbor2.loads(answer.body)["CertificateAuthorities"], list)


def test_bad_signature(caller: Caller) -> None:
    wrong_secret = (caller.key[0], caller.key[1] + "x")
    answer = caller.cbor("ListCertificateAuthorities", {}, key=wrong_secret)
    assert answer.status == 400
    assert answer.error() == {
        "__type": FRAMEWORK + "InvalidSignatureException",
        "message": MSG_SIGNATURE_MISMATCH,
    }


def test_unknown_access_key(caller: Caller) -> None:
    answer = caller.cbor("ListCertificateAuthorities", {}, key=("AKIAUNKNOWNUNKNOWN00", "x"))
    assert answer.status == 400
    assert answer.error() == {
        "__type": FRAMEWORK + "UnrecognizedClientException",
        "message": "The security token included in the request is invalid.",
    }


def test_unsigned(caller: Caller) -> None:
    response = caller.http.post(
        caller.server.endpoint + operation_path("ListTags"),
        content=cbor2.dumps({"CertificateAuthorityArn": CA_ARN}),
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": CBOR},
    )
    answer = Answer(response.status_code, response.headers, response.content)
    assert answer.status == 400
    assert answer.error()["__type"] == FRAMEWORK + "MissingAuthenticationTokenException"


def test_malformed_cbor(caller: Caller) -> None:
    answer = caller.cbor("ListTags", bytes.fromhex("a2 6161"))
    assert answer.status == 400
    assert answer.error() == {"__type": FRAMEWORK + "SerializationException"}


def test_wrong_type(caller: Caller) -> None:
    body = {"CertificateAuthorityArn": CA_ARN, "MaxResults": "ten"}
    error = assert_same_as_json(caller.cbor("ListTags", body), caller.json("ListTags", body))
    assert error == {
        "__type": FRAMEWORK + "SerializationException",
        "message": "STRING_VALUE can not be converted to an Integer",
    }


def test_missing_required_member(caller: Caller) -> None:
    error = assert_same_as_json(caller.cbor("ListTags", {}), caller.json("ListTags", {}))
    assert error == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "1 validation error detected: Value null at 'certificateAuthorityArn' "
        "failed to satisfy constraint: Member must not be null",
    }


def test_too_long_member(caller: Caller) -> None:
    too_long = CA_ARN + "x" * 200
    body = {"CertificateAuthorityArn": too_long, "MaxResults": 0}
    error = assert_same_as_json(caller.cbor("ListTags", body), caller.json("ListTags", body))
    # In the model's member order, as JSON lists them.
    assert error["message"] == (
        "2 validation errors detected: Value '0' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        f"Value '{too_long}' at 'certificateAuthorityArn' failed to satisfy constraint: "
        "Member must have length less than or equal to 200"
    )


def test_blob_member_must_be_a_byte_string(caller: Caller) -> None:
    body = {
        "CertificateAuthorityArn": CA_ARN,
        "Csr": "LS0tLS1CRUdJTg==",
        "SigningAlgorithm": "SHA256WITHRSA",
        "Validity": {"Value": 1, "Type": "DAYS"},
    }
    answer = caller.cbor("IssueCertificate", body)
    assert answer.status == 400
    assert answer.error() == {
        "__type": FRAMEWORK + "SerializationException",
        "message": "STRING_VALUE can not be converted to a Blob",
    }


def test_a_body_over_the_size_limit(caller: Caller) -> None:
    data = cbor2.dumps({"CertificateAuthorityArn": CA_ARN, "Certificate": b"x" * (16 << 20)})
    answer = caller.cbor("ImportCertificateAuthorityCertificate", data)
    assert answer.status == 413
    assert answer.error()["__type"] == FRAMEWORK + "RequestEntityTooLargeException"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for start in range(0, len(data), 1 << 20):
            yield data[start : start + (1 << 20)]

    response = caller.http.post(
        caller.server.endpoint + operation_path("ImportCertificateAuthorityCertificate"),
        content=chunks(),
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": CBOR},
    )
    answer = Answer(response.status_code, response.headers, response.content)
    assert answer.status == 413
    assert answer.error()["__type"] == FRAMEWORK + "RequestEntityTooLargeException"


# --- raw requests: what is not routed ---------------------------------------------------------


def test_unknown_operation(caller: Caller) -> None:
    answer = caller.cbor("ListWidgets", {})
    assert answer.status == 404
    assert answer.error() == {"__type": FRAMEWORK + "UnknownOperationException"}


@pytest.mark.parametrize(
    "service",
    [
        "CertificateManager",  # ACM: served, but over AWS JSON only
        "OpenAcm",
        "acm-pca",  # the signing name is not the service's name
        "ACMPRIVATECA",
    ],
)
def test_a_service_not_served_over_cbor(caller: Caller, service: str) -> None:
    answer = caller.cbor("ListTags", {}, path=operation_path("ListTags", service))
    assert answer.status == 404
    assert answer.error() == {"__type": FRAMEWORK + "UnknownOperationException"}


@pytest.mark.parametrize(
    "path",
    [
        "/service/ACMPrivateCA/operation/ListTags/extra",
        "/service/ACMPrivateCA/operations/ListTags",
        "/service/ACMPrivateCA",
    ],
)
def test_a_path_not_of_the_protocol_s_form(caller: Caller, path: str) -> None:
    answer = caller.cbor("ListTags", {}, path=path)
    assert answer.status == 404
    assert answer.error()["__type"] == FRAMEWORK + "UnknownOperationException"


@pytest.mark.parametrize(
    "headers",
    [
        {"smithy-protocol": None},
        {"smithy-protocol": "rpc-v2-json"},
        {"X-Amz-Target": f"{SERVICE_NAME}.ListTags"},  # the protocol forbids it
        {"X-Amzn-Target": f"{SERVICE_NAME}.ListTags"},
    ],
)
def test_headers_that_do_not_claim_the_protocol(
    caller: Caller, headers: dict[str, str | None]
) -> None:
    answer = caller.cbor("ListTags", {"CertificateAuthorityArn": CA_ARN}, headers=headers)
    assert answer.status == 404
    assert answer.error()["__type"] == FRAMEWORK + "UnknownOperationException"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_method(caller: Caller, method: str) -> None:
    answer = caller.cbor("ListTags", b"", method=method, headers={"Content-Type": None})
    assert answer.status == 405
    assert answer.headers["allow"] == "POST"
    assert answer.error()["__type"] == FRAMEWORK + "UnknownOperationException"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-amz-json-1.1", None])
def test_a_body_that_is_not_declared_cbor(caller: Caller, content_type: str | None) -> None:
    answer = caller.cbor(
        "ListTags", {"CertificateAuthorityArn": CA_ARN}, headers={"Content-Type": content_type}
    )
    assert answer.status == 415
    assert answer.error()["__type"] == FRAMEWORK + "UnsupportedMediaTypeException"


def test_content_type_parameters_are_allowed(caller: Caller) -> None:
    answer = caller.cbor("ListTags", {}, headers={"Content-Type": "application/CBOR; x=1"})
    assert answer.status == 400
    assert answer.error()["__type"] == "com.amazon.coral.validate#ValidationException"


def test_an_answer_the_caller_does_not_accept(caller: Caller) -> None:
    answer = caller.cbor("ListTags", {}, headers={"Accept": "application/json"})
    assert answer.status == 406
    assert answer.error()["__type"] == FRAMEWORK + "NotAcceptableException"


def test_the_json_protocol_is_untouched(caller: Caller) -> None:
    answer = caller.json("ListTags", {})
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(answer.body)["__type"] == "ValidationException"


# --- boto3 over CBOR --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cbor_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the acm-pca model with smithy-rpc-v2-cbor as its only protocol."""
    root = tmp_path_factory.mktemp("cbor-model")
    model = Loader().load_service_model(SERVICE, "service-2", API_VERSION)
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    target = root / SERVICE / API_VERSION / "service-2.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(model))
    return root


@dataclass
class CborClient:
    client: Any
    sent: list[Any]  # the requests botocore sent, as its before-send event saw them


def boto3_cbor_client(server: OpenAcmServer, model_path: Path, key: tuple[str, str]) -> CborClient:
    core = botocore.session.Session()
    core.set_config_variable("data_path", str(model_path))
    client = boto3.session.Session(botocore_session=core).client(
        SERVICE,
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=LOOSE,
    )
    sent: list[Any] = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request))
    return CborClient(client, sent)


@pytest.fixture
def pca(caller: Caller, cbor_model_path: Path) -> CborClient:
    made = boto3_cbor_client(caller.server, cbor_model_path, caller.key)
    assert made.client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return made


def test_boto3_over_cbor_and_json_see_the_same_certificate_authority(
    pca: CborClient, caller: Caller
) -> None:
    """The same scenario through both protocols: a CA made over CBOR is what JSON reads back,
    timestamps and nested members included."""
    created = pca.client.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "CBOR root", "Organization": "openacm tests"},
        },
        Tags=[{"Key": "protocol", "Value": "cbor"}],
    )
    arn = created["CertificateAuthorityArn"]
    request = pca.sent[-1]
    assert request.url.endswith(operation_path("CreateCertificateAuthority"))
    assert request.headers["smithy-protocol"] == b"rpc-v2-cbor"

    over_cbor = pca.client.describe_certificate_authority(CertificateAuthorityArn=arn)
    over_json = caller.server.client(SERVICE, key=caller.key).describe_certificate_authority(
        CertificateAuthorityArn=arn
    )
    assert over_cbor["CertificateAuthority"] == over_json["CertificateAuthority"]
    assert over_cbor["CertificateAuthority"]["CreatedAt"].tzinfo is not None
    tags = pca.client.list_tags(CertificateAuthorityArn=arn)["Tags"]
    assert tags == [{"Key": "protocol", "Value": "cbor"}]
    csr = pca.client.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")


def test_boto3_gets_modelled_errors(pca: CborClient) -> None:
    arn = pca.client.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "CBOR errors"},
        },
    )["CertificateAuthorityArn"]
    missing = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as caught:
        pca.client.describe_certificate_authority(CertificateAuthorityArn=missing)
    response = caught.value.response
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == CBOR


def test_boto3_gets_validation_errors(pca: CborClient) -> None:
    too_long = CA_ARN + "x" * 200
    with pytest.raises(ClientError) as caught:
        pca.client.describe_certificate_authority(CertificateAuthorityArn=too_long)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"1 validation error detected: Value '{too_long}' at 'certificateAuthorityArn' failed "
        "to satisfy constraint: Member must have length less than or equal to 200"
    )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_boto3_serializes_blobs_and_nested_members(pca: CborClient) -> None:
    # Valid input in every member type botocore writes: the server parses it all and the
    # handler answers (the CA is another account's).
    with pytest.raises(ClientError) as caught:
        pca.client.issue_certificate(
            CertificateAuthorityArn=CA_ARN,
            Csr=b"-----BEGIN CERTIFICATE REQUEST-----\n",
            SigningAlgorithm="SHA256WITHECDSA",
            Validity={"Value": 30, "Type": "DAYS"},
            ApiPassthrough={"Extensions": {"KeyUsage": {"DigitalSignature": True}}},
            IdempotencyToken="token",
        )
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_boto3_with_an_unknown_key(caller: Caller, cbor_model_path: Path) -> None:
    stranger = boto3_cbor_client(caller.server, cbor_model_path, ("AKIAUNKNOWNUNKNOWN00", "x"))
    with pytest.raises(ClientError) as caught:
        stranger.client.list_certificate_authorities()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_boto3_over_cbor_builds_a_hierarchy_issues_and_revokes(
    pca: CborClient, caller: Caller
) -> None:
    """The issuing scenario of test_pca_issue.py over CBOR: root → subordinate → end entity,
    read back over JSON; a revocation and an audit report made over CBOR."""
    client = pca.client
    h = hierarchy(client)
    leaf_arn = issue(
        client,
        h.sub_arn,
        leaf_csr(),
        LEAF_TEMPLATE,
        {"Type": "DAYS", "Value": 30},
        SigningAlgorithm="SHA256WITHRSA",
    )
    assert pca.sent[-1].url.endswith(operation_path("IssueCertificate"))
    over_json = caller.server.client(SERVICE, key=caller.key)
    params = {"CertificateAuthorityArn": h.sub_arn, "CertificateArn": leaf_arn}
    assert (
        client.get_certificate(**params)["Certificate"]
        == (over_json.get_certificate(**params)["Certificate"])
    )
    client.revoke_certificate(
        CertificateAuthorityArn=h.sub_arn,
        CertificateSerial=leaf_arn.rsplit("/", 1)[1],
        RevocationReason="SUPERSEDED",
    )
    with pytest.raises(ClientError) as caught:
        over_json.revoke_certificate(
            CertificateAuthorityArn=h.sub_arn,
            CertificateSerial=leaf_arn.rsplit("/", 1)[1],
            RevocationReason="SUPERSEDED",
        )
    assert caught.value.response["Error"]["Code"] == "RequestAlreadyProcessedException"
    report = client.create_certificate_authority_audit_report(
        CertificateAuthorityArn=h.sub_arn, S3BucketName="reports", AuditReportResponseFormat="CSV"
    )
    described = client.describe_certificate_authority_audit_report(
        CertificateAuthorityArn=h.sub_arn, AuditReportId=report["AuditReportId"]
    )
    assert described["AuditReportStatus"] == "SUCCESS"
    assert described["CreatedAt"].tzinfo is not None
