"""The policy engine (domain/policy.py): AWS's evaluation logic, operators and variables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openacm.domain.policy import (
    Decision,
    MalformedPolicyError,
    PolicyKind,
    Refusal,
    Request,
    authorize,
    evaluate,
    parse_policy,
)

CERT = "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
REQUEST_ANY = "arn:aws:acm:us-east-1:111122223333:certificate/*"


def policy(*statements: dict[str, Any], resource_policy: bool = False) -> Any:
    return parse_policy(
        json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        resource_policy=resource_policy,
    )


def allow(action: Any = "acm:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "acm:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def request(
    action: str = "acm:RequestCertificate", resource: str = REQUEST_ANY, **ctx: Any
) -> Request:
    return Request(
        action, resource, {k.replace("__", ":").replace("_", "/"): v for k, v in ctx.items()}
    )


def decide(statements: list[dict[str, Any]], req: Request) -> Decision:
    return evaluate([policy(*statements)], req)


# -- the logic --------------------------------------------------------------------------------


def test_default_deny_allow_and_explicit_deny_wins() -> None:
    req = request("acm:DescribeCertificate", CERT)
    assert decide([allow("acm:ListCertificates")], req) is Decision.IMPLICIT_DENY
    assert decide([allow("acm:Describe*")], req) is Decision.ALLOW
    assert decide([allow(), deny("acm:DescribeCertificate")], req) is Decision.EXPLICIT_DENY
    assert evaluate([], req) is Decision.IMPLICIT_DENY


def test_actions_are_case_insensitive_with_wildcards_and_not_action() -> None:
    req = request("acm:DescribeCertificate", CERT)
    assert decide([allow("ACM:describecertificate")], req) is Decision.ALLOW
    assert decide([allow("acm:?escribe*")], req) is Decision.ALLOW
    assert decide([allow("acm-pca:*")], req) is Decision.IMPLICIT_DENY
    not_action = {"Effect": "Allow", "NotAction": "acm:Delete*", "Resource": "*"}
    assert decide([not_action], req) is Decision.ALLOW
    assert decide([not_action], request("acm:DeleteCertificate", CERT)) is Decision.IMPLICIT_DENY


def test_resources_are_case_sensitive_with_wildcards_and_not_resource() -> None:
    req = request("acm:DescribeCertificate", CERT)
    assert (
        decide([allow(resource="arn:aws:acm:*:111122223333:certificate/*")], req) is Decision.ALLOW
    )
    assert decide([allow(resource=CERT.upper())], req) is Decision.IMPLICIT_DENY
    assert (
        decide([allow(resource="arn:aws:acm:us-east-1:444455556666:*")], req)
        is Decision.IMPLICIT_DENY
    )
    not_resource = {"Effect": "Deny", "Action": "acm:*", "NotResource": CERT}
    assert decide([allow(), not_resource], req) is Decision.ALLOW
    assert decide([allow(), not_resource], request("acm:DescribeCertificate", CERT[:-1] + "3")) is (
        Decision.EXPLICIT_DENY
    )


def test_wildcards_take_linear_steps_on_any_pattern() -> None:
    """A pattern that would make a backtracking matcher run for ages answers at once."""
    pattern = "*a" * 30 + "*b"
    req = Request("acm:X", "*", {"k:a": "a" * 253})
    statement = allow(Condition={"StringLike": {"k:a": pattern}})
    assert decide([statement], req) is Decision.IMPLICIT_DENY
    assert decide([statement], Request("acm:X", "*", {"k:a": "a" * 252 + "b"})) is Decision.ALLOW


# -- condition operators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "expected", "actual", "holds"),
    [
        ("StringEquals", "DNS", "DNS", True),
        ("StringEquals", "dns", "DNS", False),
        ("StringNotEquals", "DNS", "EMAIL", True),
        ("StringEqualsIgnoreCase", "dns", "DNS", True),
        ("StringNotEqualsIgnoreCase", "dns", "DNS", False),
        ("StringLike", "RSA*", "RSA_2048", True),
        ("StringLike", "RSA_????", "RSA_2048", True),
        ("StringLike", "RSA*", "EC_prime256v1", False),
        ("StringNotLike", "EC_secp384r1", "RSA_2048", True),
        (
            "ArnLike",
            "arn:aws:acm-pca:*:*:certificate-authority/*",
            "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/x",
            True,
        ),
        (
            "ArnLike",
            "arn:aws:acm-pca:*",
            "arn:aws:acm-pca:us-east-1:1:certificate-authority/x",
            False,
        ),
        ("ArnEquals", "arn:aws:iam::111122223333:role/r", "arn:aws:iam::111122223333:role/r", True),
        (
            "ArnNotLike",
            "arn:aws:iam::111122223333:role/Allowed*",
            "arn:aws:iam::111122223333:user/bob",
            True,
        ),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericGreaterThan", "10", "10", False),
        ("NumericGreaterThanEquals", "10", "10.0", True),
        ("NumericEquals", "10", "ten", False),
        ("NumericNotEquals", "10", "11", True),
        ("DateLessThan", "2026-12-31T00:00:00Z", "2026-12-04T16:00:00Z", True),
        ("DateGreaterThan", "2026-12-31", "2026-12-04T16:00:00Z", False),
        ("DateEquals", "1767225600", "2026-01-01T00:00:00Z", True),
        ("DateNotEquals", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00Z", False),
        ("DateLessThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", True),
        ("DateGreaterThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", True),
        ("Bool", "true", "true", True),
        ("Bool", True, "false", False),
        ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
        ("IpAddress", "203.0.113.0/24", "198.51.100.1", False),
        ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
        ("NotIpAddress", "203.0.113.0/24", "127.0.0.1", True),
    ],
)
def test_operator(operator: str, expected: Any, actual: str, holds: bool) -> None:
    statement = allow(Condition={operator: {"k:key": expected}})
    req = Request("acm:X", "*", {"k:key": actual})
    assert (decide([statement], req) is Decision.ALLOW) is holds


def test_absent_key_positive_false_negated_true_if_exists_and_null() -> None:
    req = Request("acm:X", "*", {})
    assert decide([allow(Condition={"StringLike": {"k:a": "*"}})], req) is Decision.IMPLICIT_DENY
    assert decide([allow(Condition={"StringNotLike": {"k:a": "x"}})], req) is Decision.ALLOW
    assert decide([allow(Condition={"StringEqualsIfExists": {"k:a": "x"}})], req) is Decision.ALLOW
    assert decide([allow(Condition={"Null": {"k:a": "true"}})], req) is Decision.ALLOW
    assert decide([allow(Condition={"Null": {"k:a": "false"}})], req) is Decision.IMPLICIT_DENY
    present = Request("acm:X", "*", {"k:a": "y"})
    assert decide([allow(Condition={"StringEqualsIfExists": {"k:a": "x"}})], present) is (
        Decision.IMPLICIT_DENY
    )
    assert decide([allow(Condition={"Null": {"k:a": False}})], present) is Decision.ALLOW


def test_condition_keys_are_case_insensitive_values_or_keys_and() -> None:
    req = Request("acm:X", "*", {"acm:KeyAlgorithm": "RSA_2048", "acm:ValidationMethod": "DNS"})
    one_of = {"StringEquals": {"ACM:keyalgorithm": ["EC_prime256v1", "RSA_2048"]}}
    assert decide([allow(Condition=one_of)], req) is Decision.ALLOW
    both = {
        "StringEquals": {"acm:KeyAlgorithm": "RSA_2048", "acm:ValidationMethod": "EMAIL"},
    }
    assert decide([allow(Condition=both)], req) is Decision.IMPLICIT_DENY


def test_set_operators() -> None:
    wild = Request("acm:X", "*", {"acm:DomainNames": ["example.com", "*.example.com"]})
    plain = Request("acm:X", "*", {"acm:DomainNames": ["example.com", "www.example.com"]})
    none = Request("acm:X", "*", {"acm:DomainNames": []})
    any_wild = allow(Condition={"ForAnyValue:StringLike": {"acm:DomainNames": ["${*}.*"]}})
    assert decide([any_wild], wild) is Decision.ALLOW
    assert decide([any_wild], plain) is Decision.IMPLICIT_DENY
    assert decide([any_wild], none) is Decision.IMPLICIT_DENY
    all_in = allow(Condition={"ForAllValues:StringLike": {"acm:DomainNames": ["*example.com"]}})
    assert decide([all_in], plain) is Decision.ALLOW
    assert decide([all_in], none) is Decision.ALLOW  # vacuously
    assert decide(
        [all_in], Request("acm:X", "*", {"acm:DomainNames": ["a.org", "example.com"]})
    ) is (Decision.IMPLICIT_DENY)
    any_outside = allow(
        Condition={"ForAnyValue:StringNotLike": {"acm:DomainNames": ["*.example.com"]}}
    )
    assert decide([any_outside], plain) is Decision.ALLOW  # example.com is not *.example.com
    all_outside = allow(
        Condition={
            "ForAllValues:StringNotLike": {"acm:DomainNames": ["example.com", "*.example.com"]}
        }
    )
    assert decide([all_outside], plain) is Decision.IMPLICIT_DENY


# -- policy variables -------------------------------------------------------------------------


def test_policy_variables_in_resources_and_conditions() -> None:
    ctx = {"aws:username": "alice", "aws:PrincipalTag/team": "web"}
    mine = Request("acm:X", "arn:aws:acm:us-east-1:1:certificate/alice-1", ctx)
    theirs = Request("acm:X", "arn:aws:acm:us-east-1:1:certificate/bob-1", ctx)
    own = allow(resource="arn:aws:acm:*:*:certificate/${aws:username}-*")
    assert decide([own], mine) is Decision.ALLOW
    assert decide([own], theirs) is Decision.IMPLICIT_DENY
    # A variable the request lacks matches nothing, unless it has a default.
    assert decide([allow(resource="${aws:userid}")], mine) is Decision.IMPLICIT_DENY
    tagged = allow(Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}})
    assert decide([tagged], Request("acm:X", "*", {**ctx, "aws:ResourceTag/team": "web"})) is (
        Decision.ALLOW
    )
    default = allow(Condition={"StringEquals": {"k:a": "${aws:PrincipalTag/dept, 'none'}"}})
    assert decide([default], Request("acm:X", "*", {"k:a": "none"})) is Decision.ALLOW


def test_variable_values_and_escapes_are_literal() -> None:
    star_user = {"aws:username": "*"}
    own = allow(resource="arn:aws:acm:*:*:certificate/${aws:username}")
    # A user named "*" gets no wildcard out of its name.
    assert decide([own], Request("acm:X", "arn:aws:acm:r:1:certificate/x", star_user)) is (
        Decision.IMPLICIT_DENY
    )
    assert decide(
        [allow(Condition={"StringEquals": {"k:a": "${*}"}})], Request("acm:X", "*", {"k:a": "*"})
    ) is (Decision.ALLOW)
    dollar = allow(Condition={"StringLike": {"k:a": "${$}x${?}"}})
    assert decide([dollar], Request("acm:X", "*", {"k:a": "$x?"})) is Decision.ALLOW
    assert decide([dollar], Request("acm:X", "*", {"k:a": "$xy"})) is Decision.IMPLICIT_DENY


# -- principals, the answer and documents ------------------------------------------------------


def test_resource_policy_principals() -> None:
    shared = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["444455556666", "arn:aws:iam::777788889999:root"]},
            "Action": "acm-pca:IssueCertificate",
            "Resource": "*",
        },
        resource_policy=True,
    )
    for account in ("444455556666", "777788889999"):
        ids = frozenset({account, f"arn:aws:iam::{account}:root"})
        assert (
            evaluate([shared], Request("acm-pca:IssueCertificate", "x", {}, ids)) is Decision.ALLOW
        )
    other = frozenset({"123456789012"})
    assert evaluate([shared], Request("acm-pca:IssueCertificate", "x", {}, other)) is (
        Decision.IMPLICIT_DENY
    )
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "acm.amazonaws.com"},
            "Action": "sts:AssumeRole",
        },
        resource_policy=True,
    )
    assert evaluate(
        [trust], Request("sts:AssumeRole", "r", service_principal="acm.amazonaws.com")
    ) is (Decision.ALLOW)


def test_authorize_messages() -> None:
    alice = "arn:aws:iam::111122223333:user/alice"
    req = request()
    only_read = [policy(allow("acm:Describe*"))]
    refusal = authorize(req, only_read)
    assert refusal == Refusal(PolicyKind.IDENTITY, explicit=False)
    assert refusal.message(alice, req.action, req.resource) == (
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: "
        "acm:RequestCertificate on resource: arn:aws:acm:us-east-1:111122223333:certificate/* "
        "because no identity-based policy allows the acm:RequestCertificate action"
    )
    denied = authorize(req, [policy(allow(), deny("acm:Request*"))])
    assert denied is not None
    assert denied.message(alice, req.action, req.resource).endswith(
        "certificate/* with an explicit deny in an identity-based policy"
    )
    assert authorize(req, None) is None  # the account's root
    assert authorize(req, [policy(allow())], session=[policy(allow("acm:List*"))]) == Refusal(
        PolicyKind.SESSION, explicit=False
    )
    assert authorize(req, [policy(allow())], session=[policy(allow())]) is None
    assert (
        Refusal(PolicyKind.SESSION, False)
        .message(alice, "a:b", "*")
        .endswith("because no session policy allows the a:b action")
    )


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        '{"Version": "2012-10-17"}',
        '{"Version": "2020-01-01", "Statement": []}',
        '{"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}',
        '{"Statement": {"Effect": "Allow", "Resource": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
        '"Condition": {"StringSorta": {"a": "b"}}}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
        '"Condition": {"ForSomeValues:StringLike": {"a": "b"}}}}',
        '{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}',
    ],
)
def test_malformed_policies_are_refused(document: str) -> None:
    with pytest.raises(MalformedPolicyError):
        parse_policy(document)
