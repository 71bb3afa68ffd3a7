"""The request an operation is authorized as (services/iam/authorizer.py): its resource and
its context keys, built from the input."""

from __future__ import annotations

from openacm.services.context import CallContext, Caller
from openacm.services.iam.authorizer import global_keys, is_own_resource, request_keys, resource_of

CTX = CallContext(
    account_id="111122223333",
    region="eu-west-1",
    partition="aws",
    access_key_id="AKIAEXAMPLE",
    user_name="alice",
    request_id="r",
    source_ip="203.0.113.9",
    user_agent="boto3",
    now=1796400000.0,
    secure_transport=True,
)
ALICE = Caller(
    "user",
    "alice",
    "arn:aws:iam::111122223333:user/alice",
    "AIDAEXAMPLE",
    "arn:aws:iam::111122223333:user/alice",
)


def test_resources() -> None:
    cert = "arn:aws:acm:eu-west-1:111122223333:certificate/x"
    ca = "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/y"
    assert resource_of("acm", "DescribeCertificate", {"CertificateArn": cert}, CTX) == cert
    assert resource_of("acm", "RequestCertificate", {"DomainName": "a"}, CTX) == (
        "arn:aws:acm:eu-west-1:111122223333:certificate/*"
    )
    assert resource_of("acm", "ListCertificates", {}, CTX) == "*"
    # ACM-PCA's GetCertificate acts on the CA, not on the certificate's ARN.
    assert resource_of("acm-pca", "GetCertificate", {"CertificateAuthorityArn": ca,
                                                       "CertificateArn": f"{ca}/certificate/z"},
                       CTX) == ca  # fmt: skip
    assert resource_of("acm", "DescribeAcmeEndpoint", {"AcmeEndpointArn": "e"}, CTX) == "e"
    assert resource_of("iam", "CreateUser", {"UserName": "bob"}, CTX) == (
        "arn:aws:iam::111122223333:user/bob"
    )
    assert resource_of("sts", "AssumeRole", {"RoleArn": "arn:r"}, CTX) == "arn:r"


def test_request_certificate_keys_with_defaults() -> None:
    keys = request_keys(
        "acm",
        "RequestCertificate",
        {
            "DomainName": "example.com",
            "SubjectAlternativeNames": ["example.com", "*.example.com"],
            "Tags": [{"Key": "team", "Value": "web"}, {"Key": "bare"}],
        },
    )
    assert keys == {
        "acm:DomainNames": ["example.com", "*.example.com"],
        "acm:ValidationMethod": "DNS",
        "acm:KeyAlgorithm": "RSA_2048",
        "acm:CertificateTransparencyLogging": "ENABLED",
        "acm:CertificateAuthority": None,
        "aws:RequestTag/team": "web",
        "aws:RequestTag/bare": "",
        "aws:TagKeys": ["team", "bare"],
    }
    private = request_keys(
        "acm",
        "RequestCertificate",
        {
            "DomainName": "svc.internal",
            "CertificateAuthorityArn": "arn:ca",
            "KeyAlgorithm": "EC_secp384r1",
        },
    )
    assert private["acm:CertificateAuthority"] == "arn:ca"
    assert private["acm:ValidationMethod"] is None  # nobody validates a private request
    assert private["acm:KeyAlgorithm"] == "EC_secp384r1"


def test_removed_tags_are_keys_only_and_global_keys() -> None:
    removed = request_keys(
        "acm", "RemoveTagsFromCertificate", {"Tags": [{"Key": "team", "Value": "web"}]}
    )
    assert removed == {"aws:TagKeys": ["team"]}
    assert request_keys("acm", "UntagResource", {"TagKeys": ["a", "b"]}) == {
        "aws:TagKeys": ["a", "b"]
    }
    issued = request_keys("acm-pca", "IssueCertificate", {})
    assert issued["acm-pca:TemplateArn"] == "arn:aws:acm-pca:::template/EndEntityCertificate/V1"
    keys = global_keys(CTX, ALICE)
    assert keys["aws:username"] == "alice"
    assert keys["aws:PrincipalArn"] == ALICE.identity_arn
    assert keys["aws:PrincipalAccount"] == "111122223333"
    assert keys["aws:SourceIp"] == "203.0.113.9"
    assert keys["aws:SecureTransport"] == "true"
    assert keys["aws:CurrentTime"] == "2026-12-04T16:00:00Z"
    assert keys["aws:userid"] == "AIDAEXAMPLE"


def test_only_the_callers_own_resources_have_their_tags_read() -> None:
    assert is_own_resource("arn:aws:acm:eu-west-1:111122223333:certificate/x", "111122223333")
    assert not is_own_resource("arn:aws:acm:eu-west-1:444455556666:certificate/x", "111122223333")
    assert not is_own_resource("arn:aws:acm:eu-west-1:111122223333:certificate/*", "111122223333")
    assert not is_own_resource("*", "111122223333")
