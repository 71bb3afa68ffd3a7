"""Create/Describe/List/Revoke/Delete AcmeExternalAccountBinding and
GetAcmeExternalAccountBindingCredentials through boto3, against a real server."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from openacm.adapters.store.schema import acme_external_account_bindings
from tests.conftest import Tenant
from tests.integration.test_acme_endpoints import create, error_of
from tests.support.acme_client import ROLE_ARN


def binding(acm: Any, arn: str, **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = acm.create_acme_external_account_binding(
        AcmeEndpointArn=arn, RoleArn=ROLE_ARN, **extra
    )["ExternalAccountBinding"]
    return created


def test_bindings(tenant: Tenant) -> None:
    acm = tenant.acm
    endpoint = create(acm)
    first = binding(
        acm,
        endpoint,
        Expiration={"Value": 2, "Type": "DAYS"},
        Tags=[{"Key": "team", "Value": "web"}],
    )
    arn = first["AcmeExternalAccountBindingArn"]
    assert re.fullmatch(rf"{endpoint}/acme-external-account-binding/[0-9a-f-]+", arn)
    assert first["AcmeEndpointArn"] == endpoint
    assert first["RoleArn"] == ROLE_ARN
    assert isinstance(first["CreatedAt"], datetime)
    assert first["ExpiresAt"] - first["CreatedAt"] == timedelta(days=2)
    assert "RevokedAt" not in first and "LastUsedAt" not in first
    assert acm.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]

    described = acm.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    assert described["ExternalAccountBinding"] == first

    credentials = acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=arn
    )
    assert credentials["KeyId"] == arn.rsplit("/", 1)[1]
    mac = credentials["MacKey"]
    assert len(base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))) == 32
    # The MAC key is sealed at rest: the stored blob does not hold it.
    rows = tenant.server.query(acme_external_account_bindings.select())
    stored = next(row for row in rows if row.arn == arn)
    assert base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)) not in bytes(stored.mac_key_sealed)

    others = [binding(acm, endpoint)["AcmeExternalAccountBindingArn"] for _ in range(2)]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"AcmeEndpointArn": endpoint, "MaxResults": 2}
    while True:
        page = acm.list_acme_external_account_bindings(**kwargs)
        seen += [b["AcmeExternalAccountBindingArn"] for b in page["ExternalAccountBindings"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert seen == [arn, *others]

    # Revoke is idempotent and keeps its first time; delete too, and the tags go with it.
    acm.revoke_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    revoked = acm.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    acm.revoke_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    again = acm.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    assert (
        revoked["ExternalAccountBinding"]["RevokedAt"]
        == again["ExternalAccountBinding"]["RevokedAt"]
    )
    acm.delete_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    acm.delete_acme_external_account_binding(AcmeExternalAccountBindingArn=arn)
    for call in (
        lambda: acm.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=arn),
        lambda: acm.get_acme_external_account_binding_credentials(
            AcmeExternalAccountBindingArn=arn
        ),
        lambda: acm.revoke_acme_external_account_binding(AcmeExternalAccountBindingArn=arn),
        lambda: acm.list_tags_for_resource(ResourceArn=arn),
    ):
        assert error_of(call)["Code"] == "ResourceNotFoundException"

    # Deleting the endpoint deletes its bindings.
    acm.delete_acme_endpoint(AcmeEndpointArn=endpoint)
    error = error_of(
        lambda: acm.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=others[0])
    )
    assert error["Code"] == "ResourceNotFoundException"


def test_binding_idempotency_and_errors(tenant: Tenant, server: Any) -> None:
    acm = tenant.acm
    endpoint = create(acm)
    token = uuid.uuid4().hex
    first = binding(acm, endpoint, IdempotencyToken=token)
    assert binding(acm, endpoint, IdempotencyToken=token) == first
    error = error_of(
        lambda: binding(
            acm, endpoint, IdempotencyToken=token, Expiration={"Value": 1, "Type": "HOURS"}
        )
    )
    assert error["Code"] == "ConflictException"
    assert (
        len(
            acm.list_acme_external_account_bindings(AcmeEndpointArn=endpoint)[
                "ExternalAccountBindings"
            ]
        )
        == 1
    )

    missing = endpoint.rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
    assert error_of(lambda: binding(acm, missing))["Code"] == "ResourceNotFoundException"
    error = error_of(lambda: binding(acm, endpoint, Expiration={"Value": 10**6, "Type": "DAYS"}))
    assert error["Code"] == "ValidationException"
    error = error_of(
        lambda: acm.create_acme_external_account_binding(AcmeEndpointArn=endpoint, RoleArn="role")
    )
    assert error["Code"] == "ValidationException"

    _, key = server.new_account()
    stranger = server.client(key=key)
    arn = first["AcmeExternalAccountBindingArn"]
    for call in (
        lambda: stranger.get_acme_external_account_binding_credentials(
            AcmeExternalAccountBindingArn=arn
        ),
        lambda: stranger.delete_acme_external_account_binding(AcmeExternalAccountBindingArn=arn),
    ):
        assert error_of(call)["Code"] == "AccessDeniedException"
    error = error_of(
        lambda: tenant.client(region="eu-west-1").describe_acme_external_account_binding(
            AcmeExternalAccountBindingArn=arn
        )
    )
    assert error["Code"] == "ResourceNotFoundException"
