"""Bad input to the issuing operations of ACM-PCA gets the model's answer, and the store stays
whole (the pattern of test_bad_input.py, for IssueCertificate, GetCertificate,
RevokeCertificate and the audit report operations).

boto3 sends with parameter validation off, so the server's checks are what is tested. Every
refusal is checked for its code, HTTP status, body shape (`{"__type", "message"}`, no
traceback), the x-amzn-RequestId header, and that nothing the issuing side stores changed:
issued certificates and their revocation, the CA counters and CRLs, the audit reports, the CAs.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlalchemy import select

from openacm.adapters.store.schema import (
    private_ca_audit_reports,
    private_ca_certificates,
    private_ca_issuance,
    private_cas,
)
from tests.integration.test_pca_issue import LEAF_TEMPLATE, ROOT_TEMPLATE, issue, leaf_csr
from tests.integration.test_pca_lifecycle import create_ca
from tests.support.server import OpenAcmServer

LOOSE = Config(parameter_validation=False, retries={"max_attempts": 1}, read_timeout=120)
VALIDITY = {"Type": "DAYS", "Value": 10}
API_TEMPLATE = "arn:aws:acm-pca:::template/EndEntityCertificate_APIPassthrough/V1"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class World:
    server: OpenAcmServer
    account_id: str
    client: Any
    root_arn: str
    pending_arn: str
    leaf_arn: str
    revoked_serial: str
    _last: Answer | None = None

    def call(self, operation: str, **params: Any) -> Answer:
        self._last = None
        with contextlib.suppress(ClientError):
            getattr(self.client, botocore.xform_name(operation))(**params)
        assert self._last is not None, "boto3 sent nothing"
        return self._last

    def capture(self, response_dict: dict[str, Any], **_: Any) -> None:
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        self._last = Answer(response_dict["status_code"], headers, response_dict["body"])

    def snapshot(self) -> list[list[Any]]:
        return [
            [tuple(row) for row in self.server.query(select(table))]
            for table in (
                private_cas,
                private_ca_certificates,
                private_ca_issuance,
                private_ca_audit_reports,
            )
        ]


@pytest.fixture(scope="module")
def world(sqlite_server: OpenAcmServer) -> World:
    account_id, key = sqlite_server.new_account()
    pca = sqlite_server.client("acm-pca", key=key)
    root_arn = create_ca(pca)
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=root_arn)["Csr"]
    own = issue(pca, root_arn, csr, ROOT_TEMPLATE, {"Type": "YEARS", "Value": 5})
    certificate = pca.get_certificate(CertificateAuthorityArn=root_arn, CertificateArn=own)
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=root_arn, Certificate=certificate["Certificate"]
    )
    leaf_arn = issue(pca, root_arn, leaf_csr(), LEAF_TEMPLATE, VALIDITY)
    revoked_arn = issue(pca, root_arn, leaf_csr(), LEAF_TEMPLATE, VALIDITY)
    revoked_serial = revoked_arn.rsplit("/", 1)[1]
    pca.revoke_certificate(
        CertificateAuthorityArn=root_arn,
        CertificateSerial=revoked_serial,
        RevocationReason="UNSPECIFIED",
    )
    pending_arn = create_ca(pca)
    loose = boto3.session.Session().client(
        "acm-pca",
        endpoint_url=sqlite_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=LOOSE,
    )
    built = World(sqlite_server, account_id, loose, root_arn, pending_arn, leaf_arn, revoked_serial)
    loose.meta.events.register("before-parse.acm-pca", built.capture)
    return built


@dataclass
class BadInput:
    world: World
    before: list[list[Any]]
    checked: int = 0

    def expect(self, answer: Answer, code: str, *, status: int = 400, contains: str = "") -> str:
        text = answer.body.decode("utf-8", "replace")
        context = f"HTTP {answer.status}: {text[:2000]}"
        assert answer.status == status, context
        uuid.UUID(answer.headers["x-amzn-requestid"])
        for marker in ("Traceback", 'File "', "sqlalchemy", "openacm/", "BEGIN CERTIFICATE"):
            assert marker not in text, context
        body = json.loads(answer.body)
        assert body.get("__type") == code, context
        message_member = "Message" if code == "AccessDeniedException" else "message"
        assert set(body) == {"__type", message_member}, context
        message = body[message_member]
        assert isinstance(message, str) and message and contains in message, context
        assert self.world.snapshot() == self.before, f"the store changed after {code}"
        self.checked += 1
        return message


@pytest.fixture
def bad(world: World) -> Iterator[BadInput]:
    checks = BadInput(world, world.snapshot())
    yield checks
    assert checks.checked, "the test checked no refusal"


def issue_params(world: World, **changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "CertificateAuthorityArn": world.root_arn,
        "Csr": leaf_csr(),
        "SigningAlgorithm": "SHA256WITHECDSA",
        "TemplateArn": LEAF_TEMPLATE,
        "Validity": VALIDITY,
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


ISSUE_REFUSALS = [
    ("no-csr", {"Csr": None}, "ValidationException", ""),
    ("empty-csr", {"Csr": b""}, "ValidationException", ""),
    (
        "garbage-csr",
        {"Csr": b"-----BEGIN CERTIFICATE REQUEST-----\nxx"},
        "MalformedCSRException",
        "",
    ),
    ("der-garbage", {"Csr": b"\x30\x03\x02\x01\x00"}, "MalformedCSRException", ""),
    ("bad-algorithm", {"SigningAlgorithm": "MD5WITHRSA"}, "ValidationException", ""),
    ("wrong-family", {"SigningAlgorithm": "SHA256WITHRSA"}, "InvalidArgsException", "RSA"),
    ("no-validity", {"Validity": None}, "ValidationException", ""),
    ("zero-days", {"Validity": {"Type": "DAYS", "Value": 0}}, "ValidationException", ""),
    ("bad-type", {"Validity": {"Type": "WEEKS", "Value": 1}}, "ValidationException", ""),
    ("past-end", {"Validity": {"Type": "ABSOLUTE", "Value": 1000}}, "ValidationException", ""),
    (
        "beyond-ca",
        {"Validity": {"Type": "YEARS", "Value": 30}},
        "ValidationException",
        "exceeds the certificate authority validity",
    ),
    (
        "relative-not-before",
        {"ValidityNotBefore": {"Type": "DAYS", "Value": 1}},
        "ValidationException",
        "",
    ),
    (
        "bad-end-date",
        {"Validity": {"Type": "END_DATE", "Value": 20261399000000}},
        "ValidationException",
        "",
    ),
    (
        "unknown-template",
        {"TemplateArn": "arn:aws:acm-pca:::template/Nope/V1"},
        "InvalidArnException",
        "",
    ),
    ("root-template", {"TemplateArn": ROOT_TEMPLATE}, "InvalidArgsException", ""),
    (
        "passthrough-on-plain-template",
        {
            "ApiPassthrough": {
                "Subject": {
                    "CommonName": "x",
                    "CustomAttributes": [{"ObjectIdentifier": "2.5.4.3", "Value": "y"}],
                }
            },
            "TemplateArn": API_TEMPLATE,
        },
        "InvalidArgsException",
        "Custom attributes",
    ),
    ("token-too-long", {"IdempotencyToken": "t" * 37}, "ValidationException", ""),
    (
        "not-a-ca-arn",
        {"CertificateAuthorityArn": "arn:aws:acm-pca:us-east-1:1:certificate/x"},
        "InvalidArnException",
        "",
    ),
]


@pytest.mark.parametrize(
    ("changes", "code", "contains"),
    [case[1:] for case in ISSUE_REFUSALS],
    ids=[case[0] for case in ISSUE_REFUSALS],
)
def test_issue_certificate_refusals(
    bad: BadInput, changes: dict[str, Any], code: str, contains: str
) -> None:
    bad.expect(
        bad.world.call("IssueCertificate", **issue_params(bad.world, **changes)),
        code,
        contains=contains,
    )


def test_issue_from_a_ca_of_no_one_or_another_state(bad: BadInput) -> None:
    w = bad.world
    missing = w.root_arn.rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
    bad.expect(
        w.call("IssueCertificate", **issue_params(w, CertificateAuthorityArn=missing)),
        "ResourceNotFoundException",
    )
    bad.expect(
        w.call("IssueCertificate", **issue_params(w, CertificateAuthorityArn=w.pending_arn)),
        "InvalidStateException",
        contains="issuance",
    )
    other = w.root_arn.replace(w.account_id, "999988887777")
    bad.expect(
        w.call("IssueCertificate", **issue_params(w, CertificateAuthorityArn=other)),
        "AccessDeniedException",
    )


def test_get_certificate_refusals(bad: BadInput) -> None:
    w = bad.world
    unknown = f"{w.root_arn}/certificate/{'ab' * 16}"
    bad.expect(
        w.call("GetCertificate", CertificateAuthorityArn=w.root_arn, CertificateArn=unknown),
        "ResourceNotFoundException",
    )
    # A serial this CA issued, asked of another CA (PENDING_CERTIFICATE may answer
    # GetCertificate: the root certificate it issued itself): not found.
    other_ca = w.leaf_arn.replace(w.root_arn, w.pending_arn)
    bad.expect(
        w.call("GetCertificate", CertificateAuthorityArn=w.pending_arn, CertificateArn=other_ca),
        "ResourceNotFoundException",
    )
    bad.expect(
        w.call("GetCertificate", CertificateAuthorityArn=w.root_arn, CertificateArn=other_ca),
        "ResourceNotFoundException",
    )
    bad.expect(
        w.call(
            "GetCertificate",
            CertificateAuthorityArn=w.root_arn,
            CertificateArn="arn:aws:acm:us-east-1:1:certificate/x",
        ),
        "ValidationException",
    )
    bad.expect(w.call("GetCertificate", CertificateAuthorityArn=w.root_arn), "ValidationException")


def test_revoke_certificate_refusals(bad: BadInput) -> None:
    w = bad.world

    def revoke(**changes: Any) -> Answer:
        params = {
            "CertificateAuthorityArn": w.root_arn,
            "CertificateSerial": w.leaf_arn.rsplit("/", 1)[1],
            "RevocationReason": "KEY_COMPROMISE",
            **changes,
        }
        return w.call("RevokeCertificate", **{k: v for k, v in params.items() if v is not None})

    bad.expect(revoke(RevocationReason="CERTIFICATE_HOLD"), "ValidationException")
    bad.expect(revoke(RevocationReason=None), "ValidationException")
    bad.expect(revoke(CertificateSerial="zz:zz"), "InvalidRequestException")
    bad.expect(revoke(CertificateSerial="x" * 129), "ValidationException")
    bad.expect(revoke(CertificateSerial="01"), "ResourceNotFoundException")
    bad.expect(revoke(CertificateSerial=w.revoked_serial), "RequestAlreadyProcessedException")
    bad.expect(
        revoke(CertificateAuthorityArn=w.pending_arn),
        "InvalidStateException",
        contains="revocation",
    )


def test_audit_report_refusals(bad: BadInput) -> None:
    w = bad.world

    def create(**changes: Any) -> Answer:
        params = {
            "CertificateAuthorityArn": w.root_arn,
            "S3BucketName": "audit-bucket",
            "AuditReportResponseFormat": "JSON",
            **changes,
        }
        return w.call(
            "CreateCertificateAuthorityAuditReport",
            **{k: v for k, v in params.items() if v is not None},
        )

    bad.expect(create(AuditReportResponseFormat="XML"), "ValidationException")
    bad.expect(create(S3BucketName="ab"), "ValidationException")
    bad.expect(create(S3BucketName="Not_A_Bucket"), "InvalidArgsException")
    bad.expect(create(CertificateAuthorityArn=w.pending_arn), "InvalidStateException")
    bad.expect(
        w.call(
            "DescribeCertificateAuthorityAuditReport",
            CertificateAuthorityArn=w.root_arn,
            AuditReportId=str(uuid.uuid4()),
        ),
        "ResourceNotFoundException",
    )
    bad.expect(
        w.call(
            "DescribeCertificateAuthorityAuditReport",
            CertificateAuthorityArn=w.root_arn,
            AuditReportId="not-a-report-id",
        ),
        "ValidationException",
    )
