"""Who may do what (issue 11, docs/access-control.md): the seeds' policy examples
(inventory §12) run through boto3 with a user holding each policy, the managed policies, tag
conditions, the audit record of a refusal, and the isolation of accounts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import finish_server, start_server
from tests.support import pki
from tests.support.server import OpenAcmServer

ALLOW_ACM = {"Effect": "Allow", "Action": "acm:*", "Resource": "*"}
CA_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    """SQLite only: the IAM tables are exercised on PostgreSQL by test_sts.py."""
    started = start_server(tmp_path_factory.mktemp("access"), "sqlite")
    yield started
    finish_server(started)


@pytest.fixture(scope="module")
def account(server: OpenAcmServer) -> tuple[str, tuple[str, str]]:
    return server.new_account()


def iam(server: OpenAcmServer) -> Any:
    from openacm.services.iam.admin import IamAdmin

    return IamAdmin(server._runtime().db)


_users = iter(range(10_000))


def user_with(
    server: OpenAcmServer, account_id: str, *statements: dict[str, Any], service: str = "acm"
) -> tuple[Any, str]:
    """A boto3 client of a new user of the account whose one inline policy is `statements`,
    and the user's ARN."""
    name = f"user{next(_users)}"
    iam(server).create_user(account_id, name)
    if statements:
        document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        iam(server).put_inline(account_id, "user", name, "inline", document)
    key, secret = server._identity_admin().create_access_key(account_id, user_name=name)
    arn = f"arn:aws:iam::{account_id}:user/{name}"
    return server.client(service, key=(key.access_key_id, secret)), arn


def deny_request(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Action": "acm:RequestCertificate",
        "Resource": "*",
        "Condition": condition,
    }


def refusal(call: Callable[[], Any]) -> str:
    """The AccessDeniedException's message (and its HTTP 400, as ACM sends it)."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message: str = error["Message"]
    return message


def explicit(user_arn: str, account_id: str, action: str = "acm:RequestCertificate") -> str:
    return (
        f"User: {user_arn} is not authorized to perform: {action} on resource: "
        f"arn:aws:acm:us-east-1:{account_id}:certificate/* "
        "with an explicit deny in an identity-based policy"
    )


def request(acm: Any, name: str, *sans: str, **extra: Any) -> str:
    arn: str = acm.request_certificate(
        DomainName=name, SubjectAlternativeNames=[name, *sans], **extra
    )["CertificateArn"]
    return arn


# == the seeds' examples (inventory §12) ======================================================


def test_validation_method_except_for_a_role(server: OpenAcmServer, account: Any) -> None:
    """Example 1: no EMAIL validation, unless the caller is the AllowedEmailValidation role."""
    account_id = account[0]
    acm, arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request(
            {
                "StringLike": {"acm:ValidationMethod": "EMAIL"},
                "ArnNotLike": {
                    "aws:PrincipalArn": [f"arn:aws:iam::{account_id}:role/AllowedEmailValidation"]
                },
            }
        ),
    )
    message = refusal(lambda: request(acm, "mail.example.com", ValidationMethod="EMAIL"))
    assert message == explicit(arn, account_id)
    assert request(acm, "mail.example.com", ValidationMethod="DNS")
    assert request(acm, "dns.example.com")  # DNS unless asked otherwise


def test_wildcard_names_blocked(server: OpenAcmServer, account: Any) -> None:
    """Example 2: ForAnyValue:StringLike "${*}.*" refuses any wildcard name."""
    account_id = account[0]
    acm, arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request({"ForAnyValue:StringLike": {"acm:DomainNames": ["${*}.*"]}}),
    )
    assert refusal(lambda: request(acm, "example.com", "*.example.com")) == explicit(
        arn, account_id
    )
    assert request(acm, "example.com", "www.example.com")


def test_domain_names_restricted(server: OpenAcmServer, account: Any) -> None:
    """Example 3: names outside *.amazonaws.com refused; then the narrower ForAllValues form."""
    account_id = account[0]
    acm, arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request({"ForAnyValue:StringNotLike": {"acm:DomainNames": ["*.amazonaws.com"]}}),
    )
    assert request(acm, "a.amazonaws.com", "b.amazonaws.com")
    assert refusal(lambda: request(acm, "a.amazonaws.com", "a.example.com")) == explicit(
        arn, account_id
    )
    listed = ["support.amazonaws.com", "developer.amazonaws.com"]
    narrow, narrow_arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request({"ForAllValues:StringNotLike": {"acm:DomainNames": listed}}),
    )
    assert request(narrow, "support.amazonaws.com")
    assert refusal(lambda: request(narrow, "other.amazonaws.com")) == explicit(
        narrow_arn, account_id
    )


def test_key_algorithms_limited(server: OpenAcmServer, account: Any) -> None:
    """Example 4: only EC_secp384r1 (StringNotLike), or no RSA at all (StringLike "RSA*")."""
    account_id = account[0]
    only_p384, arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request({"StringNotLike": {"acm:KeyAlgorithm": "EC_secp384r1"}}),
    )
    assert request(only_p384, "p384.example.com", KeyAlgorithm="EC_secp384r1")
    # No KeyAlgorithm is RSA_2048, ACM's default.
    assert refusal(lambda: request(only_p384, "p384.example.com")) == explicit(arn, account_id)
    no_rsa, no_rsa_arn = user_with(
        server, account_id, ALLOW_ACM, deny_request({"StringLike": {"acm:KeyAlgorithm": "RSA*"}})
    )
    assert request(no_rsa, "ec.example.com", KeyAlgorithm="EC_prime256v1")
    assert refusal(lambda: request(no_rsa, "rsa.example.com", KeyAlgorithm="RSA_3072")) == explicit(
        no_rsa_arn, account_id
    )


def test_certificate_authority_conditions(server: OpenAcmServer, account: Any) -> None:
    """Example 5: only private certificates of one CA (StringNotLike), and no private
    certificates at all (Null "false")."""
    account_id = account[0]
    ca = f"arn:aws:acm-pca:us-east-1:{account_id}:certificate-authority/{CA_ID}"
    other_ca = ca.replace("1111", "9999")
    one_ca, arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request({"StringNotLike": {"acm:CertificateAuthority": ca}}),
    )
    assert request(one_ca, "svc.example.internal", CertificateAuthorityArn=ca)
    for other in ({"CertificateAuthorityArn": other_ca}, {}):
        assert refusal(lambda other=other: request(one_ca, "svc.example.com", **other)) == (
            explicit(arn, account_id)
        )
    public_only, public_arn = user_with(
        server, account_id, ALLOW_ACM, deny_request({"Null": {"acm:CertificateAuthority": "false"}})
    )
    assert request(public_only, "public.example.com")
    assert refusal(
        lambda: request(public_only, "svc.example.internal", CertificateAuthorityArn=ca)
    ) == explicit(public_arn, account_id)


def test_certificate_transparency_condition(server: OpenAcmServer, account: Any) -> None:
    account_id = account[0]
    acm, arn = user_with(
        server,
        account_id,
        ALLOW_ACM,
        deny_request({"StringEquals": {"acm:CertificateTransparencyLogging": "DISABLED"}}),
    )
    assert request(acm, "ct.example.com")  # ENABLED unless asked otherwise
    no_ct = {"CertificateTransparencyLoggingPreference": "DISABLED"}
    assert refusal(lambda: request(acm, "ct.example.com", Options=no_ct)) == explicit(
        arn, account_id
    )


# == tags ======================================================================================


def test_request_and_resource_tag_conditions(server: OpenAcmServer, account: Any) -> None:
    """Requests must carry team=web (aws:RequestTag); only certificates tagged with the
    user's own name can be read (aws:ResourceTag with ${aws:username}); the owner tag can
    never be set (aws:TagKeys)."""
    account_id, root_key = account
    acm, arn = user_with(
        server,
        account_id,
        {
            "Effect": "Allow",
            "Action": "acm:RequestCertificate",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestTag/team": "web"}},
        },
        {
            "Effect": "Allow",
            "Action": ["acm:DescribeCertificate", "acm:AddTagsToCertificate"],
            "Resource": f"arn:aws:acm:*:{account_id}:certificate/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
        },
        {
            "Effect": "Deny",
            "Action": "acm:AddTagsToCertificate",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}},
        },
    )
    user_name = arn.rsplit("/", 1)[1]
    no_tag = refusal(lambda: request(acm, "tags.example.com"))
    assert no_tag == (
        f"User: {arn} is not authorized to perform: acm:RequestCertificate on resource: "
        f"arn:aws:acm:us-east-1:{account_id}:certificate/* because no identity-based policy "
        "allows the acm:RequestCertificate action"
    )
    web = [{"Key": "team", "Value": "web"}]
    mine = request(acm, "tags.example.com", Tags=[*web, {"Key": "owner", "Value": user_name}])
    assert acm.describe_certificate(CertificateArn=mine)["Certificate"]["CertificateArn"] == mine
    root = server.client(key=root_key)
    theirs = request(root, "tags.example.com", Tags=[{"Key": "owner", "Value": "someone"}])
    assert refusal(lambda: acm.describe_certificate(CertificateArn=theirs)) == (
        f"User: {arn} is not authorized to perform: acm:DescribeCertificate on resource: "
        f"{theirs} because no identity-based policy allows the acm:DescribeCertificate action"
    )
    acm.add_tags_to_certificate(CertificateArn=mine, Tags=[{"Key": "env", "Value": "prod"}])
    assert refusal(
        lambda: acm.add_tags_to_certificate(
            CertificateArn=mine, Tags=[{"Key": "owner", "Value": "x"}]
        )
    ).endswith("with an explicit deny in an identity-based policy")


# == managed policies, the CLI, the audit record ===============================================


def test_managed_read_only_policy_through_the_cli(
    server: OpenAcmServer, account: Any, tmp_path: Path
) -> None:
    """`openacm admin user create` / `policy attach` / `key create`, then
    AWSCertificateManagerReadOnly: reads allowed, writes refused; the refusal is audited."""
    account_id, root_key = account
    created = server.admin("admin", "user", "create", "--account-id", account_id, "--user-name",
                           "reader")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"arn:aws:iam::{account_id}:user/reader"
    attached = server.admin(
        "admin", "policy", "attach", "--account-id", account_id, "--user-name", "reader",
        "--policy-arn", "arn:aws:iam::aws:policy/AWSCertificateManagerReadOnly",
    )  # fmt: skip
    assert attached.returncode == 0, attached.stderr
    key = server.admin(
        "admin", "key", "create", "--account-id", account_id, "--user-name", "reader",
        "--output", "json",
    )  # fmt: skip
    assert key.returncode == 0, key.stderr
    made = json.loads(key.stdout)
    reader = server.client(key=(made["access_key_id"], made["secret_access_key"]))
    arn = request(server.client(key=root_key), "read.example.com")
    assert reader.describe_certificate(CertificateArn=arn)["Certificate"]["DomainName"]
    assert any(
        c["CertificateArn"] == arn for c in reader.list_certificates()["CertificateSummaryList"]
    )
    user_arn = f"arn:aws:iam::{account_id}:user/reader"
    assert refusal(lambda: reader.delete_certificate(CertificateArn=arn)) == (
        f"User: {user_arn} is not authorized to perform: acm:DeleteCertificate on resource: "
        f"{arn} because no identity-based policy allows the acm:DeleteCertificate action"
    )
    # An action on no particular resource names none.
    assert refusal(lambda: reader.put_account_configuration(IdempotencyToken="t1")) == (
        f"User: {user_arn} is not authorized to perform: acm:PutAccountConfiguration "
        "because no identity-based policy allows the acm:PutAccountConfiguration action"
    )
    audited = server.admin(
        "audit", "search", "--error-code", "AccessDeniedException", "--account-id", account_id,
        "--event-name", "DeleteCertificate",
    )  # fmt: skip
    record = json.loads(audited.stdout.splitlines()[-1])
    assert record["errorCode"] == "AccessDeniedException"
    assert record["userIdentity"]["arn"] == user_arn
    assert record["userIdentity"]["principalId"].startswith("AIDA")
    # The user name is taken once, and so are the root keys' names.
    again = server.admin("admin", "user", "create", "--account-id", account_id, "--user-name",
                         "tester")  # fmt: skip
    assert again.returncode != 0 and "root access keys" in again.stderr


def test_pca_managed_policies_and_no_policy(server: OpenAcmServer, account: Any) -> None:
    account_id = account[0]
    nothing, arn = user_with(server, account_id, service="acm-pca")
    assert refusal(lambda: nothing.list_certificate_authorities()) == (
        f"User: {arn} is not authorized to perform: acm-pca:ListCertificateAuthorities "
        "because no identity-based policy allows the acm-pca:ListCertificateAuthorities action"
    )
    reader, reader_arn = user_with(server, account_id, service="acm-pca")
    iam(server).attach(
        account_id,
        "user",
        reader_arn.rsplit("/", 1)[1],
        "arn:aws:iam::aws:policy/AWSPrivateCAReadOnlyAccess",
    )
    assert "CertificateAuthorities" in reader.list_certificate_authorities()
    assert "not authorized to perform: acm-pca:CreateCertificateAuthority" in refusal(
        lambda: reader.create_certificate_authority(
            CertificateAuthorityType="ROOT",
            CertificateAuthorityConfiguration={
                "KeyAlgorithm": "EC_prime256v1",
                "SigningAlgorithm": "SHA256WITHECDSA",
                "Subject": {"CommonName": "denied"},
            },
        )
    )


# == accounts ==================================================================================


def test_accounts_never_see_each_other(server: OpenAcmServer, account: Any) -> None:
    """Account B's root key on account A's certificate and CA: AWS's answer, nothing of A."""
    key_a = account[1]
    account_b, key_b = server.new_account()
    acm_a, acm_b = server.client(key=key_a), server.client(key=key_b)
    issued = pki.issue("secret-a.example.com", sans=["secret-a.example.com"])
    cert = acm_a.import_certificate(**issued.import_args())["CertificateArn"]
    b_arn = f"arn:aws:iam::{account_b}:user/tester"
    calls: dict[str, Callable[[], Any]] = {
        "DescribeCertificate": lambda: acm_b.describe_certificate(CertificateArn=cert),
        "GetCertificate": lambda: acm_b.get_certificate(CertificateArn=cert),
        "ExportCertificate": lambda: acm_b.export_certificate(
            CertificateArn=cert, Passphrase=b"passw0rd"
        ),
        "DeleteCertificate": lambda: acm_b.delete_certificate(CertificateArn=cert),
        "ListTagsForCertificate": lambda: acm_b.list_tags_for_certificate(CertificateArn=cert),
        "AddTagsToCertificate": lambda: acm_b.add_tags_to_certificate(
            CertificateArn=cert, Tags=[{"Key": "k", "Value": "v"}]
        ),
        "RenewCertificate": lambda: acm_b.renew_certificate(CertificateArn=cert),
    }
    for operation, call in calls.items():
        message = refusal(call)
        assert message == (
            f"User: {b_arn} is not authorized to perform: acm:{operation} on resource: {cert} "
            f"because no resource-based policy allows the acm:{operation} action"
        )
        assert "secret-a" not in message
    listed = acm_b.list_certificates()["CertificateSummaryList"]
    assert all(c["CertificateArn"] != cert for c in listed)
    pca_a, pca_b = server.client("acm-pca", key=key_a), server.client("acm-pca", key=key_b)
    ca = pca_a.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "secret-a root"},
        },
    )["CertificateAuthorityArn"]
    message = refusal(lambda: pca_b.describe_certificate_authority(CertificateAuthorityArn=ca))
    assert message.endswith(
        "because no resource-based policy allows the acm-pca:DescribeCertificateAuthority action"
    )
    for owner in ("SELF", "OTHER_ACCOUNTS"):
        listed_cas = pca_b.list_certificate_authorities(ResourceOwner=owner)
        assert all(c["Arn"] != ca for c in listed_cas["CertificateAuthorities"])


def test_ca_resource_policy_evaluated_by_the_engine(server: OpenAcmServer, account: Any) -> None:
    """A CA shared with one user of another account (Principal and a Condition): that user
    may describe it; the account's root, another user and a denied action may not."""
    account_a, key_a = account
    account_b, key_b = server.new_account()
    pca_a = server.client("acm-pca", key=key_a)
    ca = pca_a.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "shared root"},
        },
    )["CertificateAuthorityArn"]
    allow_pca = {"Effect": "Allow", "Action": "acm-pca:*", "Resource": "*"}
    reader, reader_arn = user_with(server, account_b, allow_pca, service="acm-pca")
    other, _ = user_with(server, account_b, allow_pca, service="acm-pca")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_b}:root"},
                "Action": ["acm-pca:DescribeCertificateAuthority", "acm-pca:ListTags"],
                "Resource": ca,
                "Condition": {"ArnEquals": {"aws:PrincipalArn": reader_arn}},
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": reader_arn},
                "Action": "acm-pca:ListTags",
                "Resource": ca,
            },
        ],
    }
    pca_a.put_policy(ResourceArn=ca, Policy=json.dumps(policy))
    described = reader.describe_certificate_authority(CertificateAuthorityArn=ca)
    assert described["CertificateAuthority"]["OwnerAccount"] == account_a
    assert refusal(lambda: reader.list_tags(CertificateAuthorityArn=ca)) == (
        f"User: {reader_arn} is not authorized to perform: acm-pca:ListTags on resource: {ca} "
        "with an explicit deny in a resource-based policy"
    )
    pca_b = server.client("acm-pca", key=key_b)
    for refused in (other, pca_b):
        assert "because no resource-based policy allows" in refusal(
            lambda refused=refused: refused.describe_certificate_authority(
                CertificateAuthorityArn=ca
            )
        )


# == the IAM API ===============================================================================


def test_iam_api_through_boto3(server: OpenAcmServer, account: Any) -> None:
    """The account's root key manages users, keys and policies with boto3's iam client; a
    user needs iam: permissions for it; another account sees none of it."""
    account_id, root_key = account
    admin = server.client("iam", key=root_key)
    created = admin.create_user(UserName="api-user")["User"]
    assert created["Arn"] == f"arn:aws:iam::{account_id}:user/api-user"
    assert created["UserId"].startswith("AIDA")
    only_list = {"Effect": "Allow", "Action": "acm:ListCertificates", "Resource": "*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [only_list]})
    admin.put_user_policy(UserName="api-user", PolicyName="list", PolicyDocument=document)
    assert admin.get_user_policy(UserName="api-user", PolicyName="list")["PolicyDocument"] == (
        json.loads(document)
    )
    admin.attach_user_policy(
        UserName="api-user", PolicyArn="arn:aws:iam::aws:policy/AWSPrivateCAReadOnlyAccess"
    )
    attached = admin.list_attached_user_policies(UserName="api-user")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSPrivateCAReadOnlyAccess"]
    key = admin.create_access_key(UserName="api-user")["AccessKey"]
    user_key = (key["AccessKeyId"], key["SecretAccessKey"])
    assert "CertificateSummaryList" in server.client(key=user_key).list_certificates()
    assert "CertificateAuthorities" in (
        server.client("acm-pca", key=user_key).list_certificate_authorities()
    )
    with pytest.raises(ClientError) as raised:
        server.client("iam", key=user_key).create_user(UserName="escalated")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert raised.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{account_id}:user/api-user is not authorized to perform: "
        f"iam:CreateUser on resource: arn:aws:iam::{account_id}:user/escalated because no "
        "identity-based policy allows the iam:CreateUser action"
    )
    with pytest.raises(ClientError) as raised:
        admin.put_user_policy(UserName="api-user", PolicyName="bad", PolicyDocument="{}")
    assert raised.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    too_big = json.dumps({"Version": "2012-10-17", "Statement": [{**only_list, "Sid": "a" * 2048}]})
    with pytest.raises(ClientError) as raised:
        admin.put_user_policy(UserName="api-user", PolicyName="big", PolicyDocument=too_big)
    assert raised.value.response["Error"]["Code"] == "LimitExceeded"
    with pytest.raises(ClientError) as raised:
        admin.get_user(UserName="nobody")
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"
    _, other_key = server.new_account()
    assert server.client("iam", key=other_key).list_users()["Users"] == []
    own = admin.create_policy(PolicyName="own", PolicyDocument=document)["Policy"]
    assert own["Arn"] == f"arn:aws:iam::{account_id}:policy/own"
    admin.attach_user_policy(UserName="api-user", PolicyArn=own["Arn"])
    with pytest.raises(ClientError) as raised:
        admin.delete_policy(PolicyArn=own["Arn"])
    assert raised.value.response["Error"]["Code"] == "DeleteConflict"
    local = admin.list_policies(Scope="Local")["Policies"]
    assert [p["Arn"] for p in local] == [own["Arn"]]
    admin.detach_user_policy(UserName="api-user", PolicyArn=own["Arn"])
    admin.delete_policy(PolicyArn=own["Arn"])
    admin.delete_access_key(UserName="api-user", AccessKeyId=key["AccessKeyId"])
    admin.delete_user(UserName="api-user")
    assert all(u["UserName"] != "api-user" for u in admin.list_users()["Users"])


# == the console ===============================================================================


def test_console_pages_obey_the_signed_in_users_policies(
    server: OpenAcmServer, account: Any
) -> None:
    """A read-only user signs in, reads its account's certificates, is refused a change with
    AWS's message on the page, and sees nothing of another account's certificate."""
    from urllib.parse import quote

    from tests.support.console import ConsoleVisitor

    account_id, root_key = account
    read = {"Effect": "Allow", "Action": ["acm:Describe*", "acm:Get*", "acm:List*"],
            "Resource": "*"}  # fmt: skip
    _, reader_arn = user_with(server, account_id, read)
    key, secret = server._identity_admin().create_access_key(
        account_id, user_name=reader_arn.rsplit("/", 1)[1]
    )
    arn = request(server.client(key=root_key), "console-read.example.com")
    visitor = ConsoleVisitor(server)
    assert visitor.sign_in((key.access_key_id, secret)).status_code == 303
    listing = visitor.get("/console/certificates")
    assert listing.status_code == 200 and "console-read.example.com" in listing.text
    detail_path = f"/console/certificates/detail?arn={quote(arn)}"
    detail = visitor.get(detail_path)
    visitor.post(
        "/console/certificates/tags",
        {"csrf": visitor.csrf_of(detail), "arn": arn, "key": "Name", "value": "web"},
    )
    refused = visitor.get(detail_path).text
    assert "is not authorized to perform: acm:AddTagsToCertificate" in refused
    assert (
        server.client(key=root_key).list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
        == []
    )
    _, other_key = server.new_account()
    secret_arn = request(server.client(key=other_key), "other-secret.example.com")
    other_page = visitor.get(f"/console/certificates/detail?arn={quote(secret_arn)}").text
    assert "other-secret" not in other_page
    # A user no policy allows anything still signs in (its key is good) and is told why each
    # page is empty.
    _, blank_arn = user_with(server, account_id)
    blank_key, blank_secret = server._identity_admin().create_access_key(
        account_id, user_name=blank_arn.rsplit("/", 1)[1]
    )
    blank = ConsoleVisitor(server)
    assert blank.sign_in((blank_key.access_key_id, blank_secret)).status_code == 303
    assert "not authorized to perform: acm:" in blank.get("/console/certificates").text
    # The pages without an API operation (console/direct.py) are authorized as the calls they
    # stand for, and their refusals are audited.
    for path, action in (
        ("/console/access-keys", "iam:ListAccessKeys"),
        ("/console/audit", "cloudtrail:LookupEvents"),
    ):
        page = visitor.get(path)
        assert page.status_code == 403 and f"is not authorized to perform: {action}" in page.text
    assert "secret" not in visitor.get("/console/access-keys").text.lower()
    audited = server.admin(
        "audit", "search", "--error-code", "AccessDeniedException", "--account-id", account_id,
        "--event-name", "ListAccessKeys",
    )  # fmt: skip
    record = json.loads(audited.stdout.splitlines()[-1])
    assert record["eventSource"] == "iam.amazonaws.com"
    assert record["userIdentity"]["arn"] == reader_arn


def test_console_key_admin_by_an_iam_user_makes_no_root_keys(
    server: OpenAcmServer, account: Any
) -> None:
    """An IAM user allowed every IAM action makes keys for IAM users on the access keys page,
    never a key under another name (which would be an unrestricted root key)."""
    from tests.support.console import ConsoleVisitor

    account_id, _ = account
    _, admin_arn = user_with(server, account_id, {"Effect": "Allow", "Action": "iam:*",
                                                  "Resource": "*"})  # fmt: skip
    admin_name = admin_arn.rsplit("/", 1)[1]
    key, secret = server._identity_admin().create_access_key(account_id, user_name=admin_name)
    visitor = ConsoleVisitor(server)
    assert visitor.sign_in((key.access_key_id, secret)).status_code == 303
    page = visitor.get("/console/access-keys")
    assert page.status_code == 200
    made = visitor.post(
        "/console/access-keys/create",
        {"csrf": visitor.csrf_of(page), "user_name": "root-lookalike"},
    )
    assert made.status_code == 303
    refused = visitor.get("/console/access-keys").text
    assert "The key was not created" in refused and "Secret access key" not in refused
    names = {k.user_name for k in server._identity_admin().list_access_keys(account_id)}
    assert "root-lookalike" not in names
    own = visitor.post(
        "/console/access-keys/create", {"csrf": visitor.csrf_of(page), "user_name": admin_name}
    )
    assert own.status_code == 200 and "Secret access key" in own.text


def test_shared_ca_issues_only_what_its_policy_conditions_allow(
    server: OpenAcmServer, account: Any
) -> None:
    """AWS's usual sharing policy: IssueCertificate for another account, only with the
    end-entity template (a Condition on acm-pca:TemplateArn)."""
    from tests.integration.test_pca_issue import LEAF_TEMPLATE, issue, leaf_csr, root_through_api

    key_a = account[1]
    owner = server.client("acm-pca", key=key_a)
    ca, _ = root_through_api(owner)
    account_b, key_b = server.new_account()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": account_b},
                "Action": "acm-pca:IssueCertificate",
                "Resource": ca,
                "Condition": {"StringEquals": {"acm-pca:TemplateArn": LEAF_TEMPLATE}},
            }
        ],
    }
    owner.put_policy(ResourceArn=ca, Policy=json.dumps(policy))
    other = server.client("acm-pca", key=key_b)
    validity = {"Type": "DAYS", "Value": 5}
    assert issue(other, ca, leaf_csr(), LEAF_TEMPLATE, validity).startswith(ca)
    intermediate = LEAF_TEMPLATE.replace(
        "EndEntityCertificate/V1", "SubordinateCACertificate_PathLen0/V1"
    )
    assert "because no resource-based policy allows the acm-pca:IssueCertificate action" in (
        refusal(lambda: issue(other, ca, leaf_csr(), intermediate, validity))
    )
