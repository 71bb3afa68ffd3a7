"""STS on the API's port (docs/access-control.md): GetCallerIdentity, AssumeRole with trust
policies and session policies, and role sessions that work until they expire (the server's
own, module-scoped: the test moves its dev clock)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from openacm.adapters.store import schema
from tests.conftest import finish_server, start_server
from tests.support.server import NO_RETRIES, OpenAcmServer


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenAcmServer]:
    started = start_server(tmp_path_factory.mktemp("sts"), request.param)
    yield started
    finish_server(started)


def iam(server: OpenAcmServer) -> Any:
    from openacm.services.iam.admin import IamAdmin

    return IamAdmin(server._runtime().db)


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trusting(principal: str) -> str:
    return document(
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    )


def session_client(server: OpenAcmServer, credentials: dict[str, Any], service: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=NO_RETRIES,
    )


def error_of(call: Callable[[], Any]) -> tuple[dict[str, Any], int]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def test_caller_identity_and_assume_role(server: OpenAcmServer) -> None:
    """A user of account A assumes a role of account B that trusts it; the session acts in B
    with the role's policies intersected with its session policy."""
    account_a, key_a = server.new_account()
    account_b, _ = server.new_account()
    admin = iam(server)
    admin.create_user(account_a, "deployer")
    admin.put_inline(
        account_a,
        "user",
        "deployer",
        "assume",
        document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    key, secret = server._identity_admin().create_access_key(account_a, user_name="deployer")
    user_arn = f"arn:aws:iam::{account_a}:user/deployer"
    sts = server.client("sts", key=(key.access_key_id, secret))
    identity = sts.get_caller_identity()
    assert identity["Account"] == account_a
    assert identity["Arn"] == user_arn
    assert identity["UserId"].startswith("AIDA")
    assert server.client("sts", key=key_a).get_caller_identity()["Account"] == account_a

    role_arn = f"arn:aws:iam::{account_b}:role/certs"
    admin.create_role(account_b, "certs", trusting(user_arn), 7200)
    # A customer managed policy of account B, attached to the role.
    managed = admin.create_policy(
        account_b, "acm-all", document({"Effect": "Allow", "Action": "acm:*", "Resource": "*"})
    )
    admin.attach(account_b, "role", "certs", f"arn:aws:iam::{account_b}:policy/{managed.name}")
    only_lists = document({"Effect": "Allow", "Action": "acm:List*", "Resource": "*"})
    answer = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci", Policy=only_lists)
    session_arn = f"arn:aws:sts::{account_b}:assumed-role/certs/ci"
    assert answer["AssumedRoleUser"]["Arn"] == session_arn
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    acm = session_client(server, credentials, "acm")
    assert acm.list_certificates()["CertificateSummaryList"] == []
    error, status = error_of(lambda: acm.request_certificate(DomainName="s.example.com"))
    assert (error["Code"], status) == ("AccessDeniedException", 400)
    assert error["Message"] == (
        f"User: {session_arn} is not authorized to perform: acm:RequestCertificate on resource: "
        f"arn:aws:acm:us-east-1:{account_b}:certificate/* because no session policy allows the "
        "acm:RequestCertificate action"
    )
    whoami = session_client(server, credentials, "sts").get_caller_identity()
    assert (whoami["Account"], whoami["Arn"]) == (account_b, session_arn)

    # The audit record of AssumeRole carries neither the secret nor the session token.
    table = schema.audit_events
    (record,) = server.query(
        select(table.c.record_json).where(
            table.c.event_name == "AssumeRole", table.c.account_id == account_a
        )
    )
    assert credentials["SecretAccessKey"] not in record[0]
    assert credentials["SessionToken"] not in record[0]
    assert credentials["AccessKeyId"] in record[0]

    # Refusals: a caller the trust policy does not name, a longer session than the role allows.
    error, status = error_of(
        lambda: server.client("sts", key=key_a).assume_role(RoleArn=role_arn, RoleSessionName="xx")
    )
    assert (error["Code"], status) == ("AccessDenied", 403)
    assert error["Message"] == (
        f"User: arn:aws:iam::{account_a}:user/tester is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn}"
    )
    error, _ = error_of(
        lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="xx", DurationSeconds=7201)
    )
    assert error["Code"] == "ValidationError"
    # A session key without its token is no key at all.
    bare = dict(credentials, SessionToken="forged")
    error, status = error_of(lambda: session_client(server, bare, "acm").list_certificates())
    assert (error["Code"], status) == ("UnrecognizedClientException", 400)


def test_email_validation_role_exception(server: OpenAcmServer) -> None:
    """Inventory §12 example 1, the other half: the AllowedEmailValidation role may request
    EMAIL validation although the account's deny applies to everyone else."""
    account, key = server.new_account()
    role_arn = f"arn:aws:iam::{account}:role/AllowedEmailValidation"
    policy = document(
        {"Effect": "Allow", "Action": "acm:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "acm:RequestCertificate",
            "Resource": "*",
            "Condition": {
                "StringLike": {"acm:ValidationMethod": "EMAIL"},
                "ArnNotLike": {"aws:PrincipalArn": [role_arn]},
            },
        },
    )
    admin = iam(server)
    for name in ("AllowedEmailValidation", "Other"):
        admin.create_role(account, name, trusting(account))
        admin.put_inline(account, "role", name, "acm", policy)
    sts = server.client("sts", key=key)

    def session(role: str) -> Any:
        arn = f"arn:aws:iam::{account}:role/{role}"
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName="mail")["Credentials"]
        return session_client(server, credentials, "acm")

    email = {"DomainName": "mail.example.com", "ValidationMethod": "EMAIL"}
    assert session("AllowedEmailValidation").request_certificate(**email)["CertificateArn"]
    error, _ = error_of(lambda: session("Other").request_certificate(**email))
    assert error["Message"].endswith("with an explicit deny in an identity-based policy")


def test_role_session_refused_after_expiry(server: OpenAcmServer) -> None:
    """A 900-second session works, and is refused once the (dev) clock passes its end."""
    account, key = server.new_account()
    iam(server).create_role(account, "short", trusting(account))
    iam(server).put_inline(
        account,
        "role",
        "short",
        "acm",
        document({"Effect": "Allow", "Action": "acm:*", "Resource": "*"}),
    )
    credentials = server.client("sts", key=key).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/short", RoleSessionName="ss", DurationSeconds=900
    )["Credentials"]
    acm = session_client(server, credentials, "acm")
    assert "CertificateSummaryList" in acm.list_certificates()
    moved = httpx.post(f"{server.endpoint}/dev/clock", json={"advance_seconds": 901})
    assert moved.status_code == 200
    error, status = error_of(acm.list_certificates)
    assert (error["Code"], status) == ("ExpiredTokenException", 400)
    assert error["Message"] == "The security token included in the request is expired"
    error, status = error_of(session_client(server, credentials, "sts").get_caller_identity)
    assert (error["Code"], status) == ("ExpiredToken", 400)


def test_query_protocol_refusals(server: OpenAcmServer) -> None:
    """Query requests answered in XML with the Query services' codes: unsigned, unknown
    action, a malformed session policy."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    unsigned = httpx.post(
        f"{server.endpoint}/", content="Action=GetCallerIdentity&Version=2011-06-15", headers=form
    )
    assert unsigned.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in unsigned.text
    assert unsigned.text.startswith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/')
    unknown = httpx.post(f"{server.endpoint}/", content="Action=Nope", headers=form)
    assert unknown.status_code == 400 and "<Code>InvalidAction</Code>" in unknown.text
    account, key = server.new_account()
    error, status = error_of(
        lambda: server.client("sts", key=key).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/any", RoleSessionName="ab", Policy="{bad"
        )
    )
    assert (error["Code"], status) == ("MalformedPolicyDocument", 400)
