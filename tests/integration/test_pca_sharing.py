"""AWS Private CA: tags, permissions for ACM and resource policies (cross-account sharing)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Tenant
from tests.integration.test_pca_lifecycle import create_ca, error_of


def policy_for(arn: str, account: str, *, effect: str = "Allow", actions: Any = None) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": effect,
                    "Principal": {"AWS": account},
                    "Action": actions
                    or [
                        "acm-pca:DescribeCertificateAuthority",
                        "acm-pca:GetCertificateAuthorityCertificate",
                        "acm-pca:IssueCertificate",
                        "acm-pca:GetCertificate",
                        "acm-pca:ListPermissions",
                    ],
                    "Resource": arn,
                }
            ],
        }
    )


# == tags ======================================================================================


def test_tag_untag_list(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client, Tags=[{"Key": "a", "Value": "1"}])
    client.tag_certificate_authority(
        CertificateAuthorityArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}]
    )
    assert client.list_tags(CertificateAuthorityArn=arn)["Tags"] == [
        {"Key": "a", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    page = client.list_tags(CertificateAuthorityArn=arn, MaxResults=1)
    assert page["Tags"] == [{"Key": "a", "Value": "3"}]
    rest = client.list_tags(CertificateAuthorityArn=arn, MaxResults=1, NextToken=page["NextToken"])
    assert rest["Tags"] == [{"Key": "b", "Value": "2"}] and "NextToken" not in rest
    # A value that does not match leaves the tag; a bare key removes it.
    client.untag_certificate_authority(
        CertificateAuthorityArn=arn, Tags=[{"Key": "a", "Value": "other"}, {"Key": "b"}]
    )
    assert client.list_tags(CertificateAuthorityArn=arn)["Tags"] == [{"Key": "a", "Value": "3"}]

    error = error_of(
        lambda: client.tag_certificate_authority(
            CertificateAuthorityArn=arn, Tags=[{"Key": "aws:x", "Value": "1"}]
        )
    )
    assert error["Code"] == "InvalidTagException"
    # The model's lengths are the limits (ACM's are one shorter).
    client.tag_certificate_authority(
        CertificateAuthorityArn=arn, Tags=[{"Key": "k" * 128, "Value": "v" * 256}]
    )
    client.untag_certificate_authority(CertificateAuthorityArn=arn, Tags=[{"Key": "k" * 128}])
    many = [{"Key": f"k{i:02}", "Value": "v"} for i in range(50)]
    error = error_of(
        lambda: client.tag_certificate_authority(CertificateAuthorityArn=arn, Tags=many)
    )
    assert error["Code"] == "TooManyTagsException"
    assert len(client.list_tags(CertificateAuthorityArn=arn)["Tags"]) == 1


# == permissions ===============================================================================


def test_permissions(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    client.create_permission(
        CertificateAuthorityArn=arn,
        Principal="acm.amazonaws.com",
        Actions=["IssueCertificate", "GetCertificate", "ListPermissions"],
    )
    error = error_of(
        lambda: client.create_permission(
            CertificateAuthorityArn=arn, Principal="acm.amazonaws.com", Actions=["GetCertificate"]
        )
    )
    assert error["Code"] == "PermissionAlreadyExistsException"
    error = error_of(
        lambda: client.create_permission(
            CertificateAuthorityArn=arn, Principal="ec2.amazonaws.com", Actions=["GetCertificate"]
        )
    )
    assert error["Code"] == "ValidationException"
    (permission,) = client.list_permissions(CertificateAuthorityArn=arn)["Permissions"]
    assert permission["Principal"] == "acm.amazonaws.com"
    assert permission["SourceAccount"] == tenant.account_id
    assert permission["Actions"] == ["IssueCertificate", "GetCertificate", "ListPermissions"]
    statement = json.loads(permission["Policy"])["Statement"][0]
    assert statement["Resource"] == arn
    assert "acm-pca:IssueCertificate" in statement["Action"]

    client.delete_permission(CertificateAuthorityArn=arn, Principal="acm.amazonaws.com")
    assert client.list_permissions(CertificateAuthorityArn=arn)["Permissions"] == []
    error = error_of(
        lambda: client.delete_permission(CertificateAuthorityArn=arn, Principal="acm.amazonaws.com")
    )
    assert error["Code"] == "ResourceNotFoundException"


# == policies ==================================================================================


def test_policy_shares_the_ca_with_another_account(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    other_account, other_key = tenant.server.new_account()
    other = tenant.server.client("acm-pca", key=other_key)

    error = error_of(lambda: other.describe_certificate_authority(CertificateAuthorityArn=arn))
    assert error["Code"] == "AccessDeniedException"
    assert (
        other.list_certificate_authorities(ResourceOwner="OTHER_ACCOUNTS")["CertificateAuthorities"]
        == []
    )
    error = error_of(lambda: client.get_policy(ResourceArn=arn))
    assert error["Code"] == "ResourceNotFoundException"

    policy = policy_for(arn, f"arn:aws:iam::{other_account}:root")
    client.put_policy(ResourceArn=arn, Policy=policy)
    assert client.get_policy(ResourceArn=arn)["Policy"] == policy
    shared = other.list_certificate_authorities(ResourceOwner="OTHER_ACCOUNTS")
    assert [ca["Arn"] for ca in shared["CertificateAuthorities"]] == [arn]
    assert shared["CertificateAuthorities"][0]["OwnerAccount"] == tenant.account_id
    assert other.list_certificate_authorities()["CertificateAuthorities"] == []
    described = other.describe_certificate_authority(CertificateAuthorityArn=arn)
    assert described["CertificateAuthority"]["Arn"] == arn
    # The policy grants reading, not managing.
    error = error_of(lambda: other.delete_certificate_authority(CertificateAuthorityArn=arn))
    assert error["Code"] == "AccessDeniedException"

    client.delete_policy(ResourceArn=arn)
    assert (
        other.list_certificate_authorities(ResourceOwner="OTHER_ACCOUNTS")["CertificateAuthorities"]
        == []
    )
    error = error_of(lambda: client.delete_policy(ResourceArn=arn))
    assert error["Code"] == "ResourceNotFoundException"


def test_policy_refusals(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    for text in ("not json", "[]", json.dumps({"Version": "2012-10-17"})):
        error = error_of(lambda text=text: client.put_policy(ResourceArn=arn, Policy=text))
        assert error["Code"] == "InvalidPolicyException", text
    lockout = policy_for(arn, tenant.account_id, effect="Deny", actions="acm-pca:*")
    error = error_of(lambda: client.put_policy(ResourceArn=arn, Policy=lockout))
    assert error["Code"] == "LockoutPreventedException"
    error = error_of(lambda: client.get_policy(ResourceArn=arn))
    assert error["Code"] == "ResourceNotFoundException"
