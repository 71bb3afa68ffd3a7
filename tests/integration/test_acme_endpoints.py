"""Create/Describe/List/Update/Delete AcmeEndpoint through boto3, against a real server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Tenant

PUBLIC_CA = {"PublicCertificateAuthority": {"AllowedKeyAlgorithms": ["EC_prime256v1"]}}


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    error: dict[str, Any] = raised.value.response["Error"]
    return error


def create(acm: Any, **extra: Any) -> str:
    args: dict[str, Any] = {
        "AuthorizationBehavior": "PRE_APPROVED",
        "CertificateAuthority": PUBLIC_CA,
    }
    args.update(extra)
    arn: str = acm.create_acme_endpoint(**args)["AcmeEndpointArn"]
    return arn


def test_create_describe_list_update_delete(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = create(
        acm,
        Contact="REQUIRED",
        Tags=[{"Key": "team", "Value": "web"}],
        CertificateTags=[{"Key": "issued-by", "Value": "acme"}, {"Key": "bare"}],
    )
    assert re.fullmatch(rf"arn:aws:acm:us-east-1:{tenant.account_id}:acme-endpoint/[0-9a-f-]+", arn)
    endpoint_id = arn.rsplit("/", 1)[1]

    endpoint = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]
    assert endpoint["AcmeEndpointArn"] == arn
    assert endpoint["EndpointUrl"] == f"{tenant.server.endpoint}/acme/{endpoint_id}/directory"
    assert endpoint["Status"] == "ACTIVE"
    assert endpoint["AuthorizationBehavior"] == "PRE_APPROVED"
    assert endpoint["Contact"] == "REQUIRED"
    assert endpoint["CertificateAuthority"] == PUBLIC_CA
    assert endpoint["CertificateTags"] == [
        {"Key": "issued-by", "Value": "acme"},
        {"Key": "bare"},
    ]
    assert isinstance(endpoint["CreatedAt"], datetime)
    assert endpoint["UpdatedAt"] == endpoint["CreatedAt"]
    assert "FailureReason" not in endpoint

    listed = acm.list_acme_endpoints()["AcmeEndpoints"]
    assert [summary["AcmeEndpointArn"] for summary in listed] == [arn]
    assert listed[0]["EndpointUrl"] == endpoint["EndpointUrl"]

    acm.update_acme_endpoint(
        AcmeEndpointArn=arn,
        Contact="NOT_REQUIRED",
        CertificateAuthority={"PublicCertificateAuthority": {}},
    )
    updated = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]
    assert updated["Contact"] == "NOT_REQUIRED"
    # No AllowedKeyAlgorithms: every algorithm of the model is allowed, and said so.
    assert updated["CertificateAuthority"] == {
        "PublicCertificateAuthority": {
            "AllowedKeyAlgorithms": ["RSA_2048", "EC_prime256v1", "EC_secp384r1"]
        }
    }
    assert updated["UpdatedAt"] >= updated["CreatedAt"]
    assert updated["CertificateTags"] == endpoint["CertificateTags"]

    acm.delete_acme_endpoint(AcmeEndpointArn=arn)
    error = error_of(lambda: acm.describe_acme_endpoint(AcmeEndpointArn=arn))
    assert error["Code"] == "ResourceNotFoundException"
    assert acm.list_acme_endpoints()["AcmeEndpoints"] == []
    # Idempotent, as the model says: deleting it again succeeds.
    acm.delete_acme_endpoint(AcmeEndpointArn=arn)
    error = error_of(lambda: acm.update_acme_endpoint(AcmeEndpointArn=arn, Contact="REQUIRED"))
    assert error["Code"] == "ResourceNotFoundException"


def test_defaults(tenant: Tenant) -> None:
    arn = tenant.acm.create_acme_endpoint(
        AuthorizationBehavior="PRE_APPROVED",
        CertificateAuthority={"PublicCertificateAuthority": {}},
    )["AcmeEndpointArn"]
    endpoint = tenant.acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]
    assert endpoint["Contact"] == "NOT_REQUIRED"
    assert "CertificateTags" not in endpoint
    algorithms = endpoint["CertificateAuthority"]["PublicCertificateAuthority"]
    assert algorithms["AllowedKeyAlgorithms"] == ["RSA_2048", "EC_prime256v1", "EC_secp384r1"]


def test_idempotency_token(tenant: Tenant) -> None:
    acm = tenant.acm
    token = uuid.uuid4().hex
    first = create(acm, IdempotencyToken=token, Contact="REQUIRED")
    assert create(acm, IdempotencyToken=token, Contact="REQUIRED") == first
    error = error_of(lambda: create(acm, IdempotencyToken=token, Contact="NOT_REQUIRED"))
    assert error["Code"] == "ConflictException"
    assert len(acm.list_acme_endpoints()["AcmeEndpoints"]) == 1
    # Without a token every call is a new endpoint.
    assert create(acm) != create(acm)
    assert len(acm.list_acme_endpoints()["AcmeEndpoints"]) == 3


def test_tags_on_the_endpoint(tenant: Tenant) -> None:
    arn = create(tenant.acm, Tags=[{"Key": "team", "Value": "web"}, {"Key": "env"}])
    # The endpoint's tags are its own, not its certificates'.
    endpoint = tenant.acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]
    assert "CertificateTags" not in endpoint
    error = error_of(lambda: create(tenant.acm, Tags=[{"Key": "aws:reserved", "Value": "x"}]))
    assert error["Code"] == "InvalidTagException"
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    error = error_of(lambda: create(tenant.acm, CertificateTags=too_many))
    assert error["Code"] == "ValidationException"


def test_pages(tenant: Tenant) -> None:
    arns = [create(tenant.acm) for _ in range(5)]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxResults": 2}
    while True:
        page = tenant.acm.list_acme_endpoints(**kwargs)
        assert len(page["AcmeEndpoints"]) <= 2
        seen += [summary["AcmeEndpointArn"] for summary in page["AcmeEndpoints"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert seen == arns
    error = error_of(lambda: tenant.acm.list_acme_endpoints(NextToken="bm90IGEgdG9rZW4="))
    assert error["Code"] == "ValidationException"


def test_quota(tenant: Tenant) -> None:
    for _ in range(10):
        create(tenant.acm)
    error = error_of(lambda: create(tenant.acm))
    assert error["Code"] == "ServiceQuotaExceededException"
    # Another region has its own.
    create(tenant.client(region="eu-west-1"))


def test_isolation_and_bad_arns(tenant: Tenant, server: Any) -> None:
    arn = create(tenant.acm)
    other_region = tenant.client(region="eu-west-1")
    error = error_of(lambda: other_region.describe_acme_endpoint(AcmeEndpointArn=arn))
    assert error["Code"] == "ResourceNotFoundException"
    assert other_region.list_acme_endpoints()["AcmeEndpoints"] == []

    _, key = server.new_account()
    stranger = server.client(key=key)
    error = error_of(lambda: stranger.describe_acme_endpoint(AcmeEndpointArn=arn))
    assert error["Code"] == "AccessDeniedException"
    error = error_of(lambda: stranger.delete_acme_endpoint(AcmeEndpointArn=arn))
    assert error["Code"] == "AccessDeniedException"
    assert tenant.acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]

    missing = arn.rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
    error = error_of(lambda: tenant.acm.describe_acme_endpoint(AcmeEndpointArn=missing))
    assert error["Code"] == "ResourceNotFoundException"
    certificate_arn = arn.replace("acme-endpoint/", "certificate/")
    error = error_of(lambda: tenant.acm.describe_acme_endpoint(AcmeEndpointArn=certificate_arn))
    assert error["Code"] == "ValidationException"


def test_generic_tag_operations_on_an_endpoint(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = create(acm, Tags=[{"Key": "team", "Value": "web"}])
    assert acm.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]
    acm.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    acm.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert acm.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    # The certificate-only operations still refuse it.
    error = error_of(lambda: acm.list_tags_for_certificate(CertificateArn=arn))
    assert error["Code"] in ("InvalidArnException", "ValidationException")
    acm.delete_acme_endpoint(AcmeEndpointArn=arn)
    error = error_of(lambda: acm.list_tags_for_resource(ResourceArn=arn))
    assert error["Code"] == "ResourceNotFoundException"
