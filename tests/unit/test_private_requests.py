"""When a private CA will not sign an ACM certificate, and the PCA_* reason ACM shows."""

from __future__ import annotations

import dataclasses

import pytest

from openacm.domain.errors import InvalidArnError
from openacm.domain.private_requests import (
    IssuingCa,
    check_certificate_authority_arn,
    issuing_ca_in_scope,
    key_family,
    private_issuance_refusal,
)

NOW = 1_800_000_000.0
YEAR = 365 * 86400.0
GOOD = IssuingCa(
    status="ACTIVE",
    key_algorithm="RSA_4096",
    not_after=NOW + 5 * YEAR,
    may_issue=True,
    issued_count=10,
    lifetime_quota=1_000_000,
)
CA_ARN = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/1234"


def refusal(ca: IssuingCa | None, key_algorithm: str = "RSA_2048") -> str | None:
    return private_issuance_refusal(ca, key_algorithm=key_algorithm, not_after=NOW + 395 * 86400)


def test_a_willing_ca_signs() -> None:
    assert refusal(GOOD) is None
    ec = dataclasses.replace(GOOD, key_algorithm="EC_secp384r1")
    assert refusal(ec, "EC_prime256v1") is None


@pytest.mark.parametrize(
    ("change", "key_algorithm", "reason"),
    [
        ({"status": "DISABLED"}, "RSA_2048", "PCA_INVALID_STATE"),
        ({"status": "EXPIRED"}, "RSA_2048", "PCA_INVALID_STATE"),
        ({"status": "PENDING_CERTIFICATE"}, "RSA_2048", "PCA_INVALID_STATE"),
        ({"may_issue": False}, "RSA_2048", "PCA_ACCESS_DENIED"),
        ({}, "EC_prime256v1", "PCA_INVALID_ARGS"),
        ({"key_algorithm": "ML_DSA_65"}, "RSA_2048", "PCA_INVALID_ARGS"),
        ({"not_after": NOW + 30 * 86400}, "RSA_2048", "PCA_INVALID_DURATION"),
        ({"not_after": None}, "RSA_2048", "PCA_INVALID_DURATION"),
        ({"issued_count": 1_000_000}, "RSA_2048", "PCA_LIMIT_EXCEEDED"),
    ],
)
def test_refusals(change: dict[str, object], key_algorithm: str, reason: str) -> None:
    assert refusal(dataclasses.replace(GOOD, **change), key_algorithm) == reason  # type: ignore[arg-type]


def test_an_unknown_ca_is_not_found() -> None:
    assert refusal(None) == "PCA_RESOURCE_NOT_FOUND"


def test_state_is_checked_before_permission() -> None:
    both = dataclasses.replace(GOOD, status="DISABLED", may_issue=False)
    assert refusal(both) == "PCA_INVALID_STATE"


def test_key_families() -> None:
    assert key_family("RSA_2048") == key_family("RSA_4096") == "RSA"
    assert key_family("EC_prime256v1") == key_family("EC_secp521r1") == "EC"
    assert key_family("ML_DSA_44") == "ML_DSA"
    assert key_family("SM2") == "SM2"


def test_certificate_authority_arns() -> None:
    check_certificate_authority_arn(CA_ARN)
    with pytest.raises(InvalidArnError):
        check_certificate_authority_arn(CA_ARN.replace("certificate-authority/", "template/"))
    with pytest.raises(InvalidArnError):
        check_certificate_authority_arn(CA_ARN.rsplit("/", 1)[0] + "/")
    assert issuing_ca_in_scope(CA_ARN, partition="aws", region="us-east-1")
    assert not issuing_ca_in_scope(CA_ARN, partition="aws", region="eu-west-1")
    assert not issuing_ca_in_scope(CA_ARN, partition="aws-cn", region="us-east-1")
