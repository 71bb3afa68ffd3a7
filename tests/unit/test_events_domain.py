"""The event builders against the seeds' examples (acm-user-guide-zh.txt L3484–3652, L4027–4042),
member by member: envelope keys and order, detail keys and order, value formats."""

from __future__ import annotations

import calendar
import time
import uuid
from typing import Any

import pytest

from openacm.domain import events
from openacm.domain.certificates import CertificateRecord

ACCOUNT = "123456789012"
REGION = "us-east-1"
CERT_ID = "61f50cd4-45b9-4259-b049-d0a53682fa4b"
ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{CERT_ID}"


def epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


# The seeds' envelope, in the seeds' order (L3493–3508).
ENVELOPE_KEYS = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]
# The seeds' real example of Approaching Expiration (L4027–4042).
SEED_APPROACHING = {
    "version": "0",
    "id": "9c95e8e4-96a4-ef3f-b739-b6aa5b193afb",
    "detail-type": "ACM Certificate Approaching Expiration",
    "source": "aws.acm",
    "account": "123456789012",
    "time": "2020-09-30T06:51:08Z",
    "region": "us-east-1",
    "resources": [
        "arn:aws:acm:us-east-1:123456789012:certificate/61f50cd4-45b9-4259-b049-d0a53682fa4b"
    ],
    "detail": {"DaysToExpiry": 31, "CommonName": "My Awesome Service"},
}


def record(**changes: Any) -> CertificateRecord:
    values: dict[str, Any] = {
        "arn": ARN,
        "certificate_id": CERT_ID,
        "account_id": ACCOUNT,
        "region": REGION,
        "type": "AMAZON_ISSUED",
        "status": "ISSUED",
        "domain_name": "example.com",
        "names": ("example.com",),
        "key_algorithm": "RSA_2048",
        "key_usages": (),
        "extended_key_usages": (),
        "serial": "01",
        "not_before": epoch("2018-12-22T18:43:48Z"),
        "not_after": epoch("2019-12-22T18:43:48Z"),
        "created_at": epoch("2018-12-22T18:43:48Z"),
        "certificate_pem": None,
        "chain_pem": None,
        "facts": {"subject_dn": {"CommonName": "example.com"}},
        "validation_method": "DNS",
    }
    values.update(changes)
    return CertificateRecord(**values)


def test_approaching_expiration_is_the_seeds_example() -> None:
    now = epoch("2020-09-30T06:51:08Z")
    cert = record(
        facts={"subject_dn": {"CommonName": "My Awesome Service"}},
        not_after=now + 31 * 86400 + 3600,
    )
    event = events.approaching_expiration(cert, now, event_id=SEED_APPROACHING["id"])
    assert list(event) == ENVELOPE_KEYS
    assert event == SEED_APPROACHING
    assert list(event["detail"]) == ["DaysToExpiry", "CommonName"]


def test_ids_are_fresh_uuids() -> None:
    cert = record()
    first = events.approaching_expiration(cert, 0.0)
    second = events.approaching_expiration(cert, 0.0)
    assert first["id"] != second["id"]
    assert str(uuid.UUID(first["id"])) == first["id"]


def test_expired_has_the_seeds_members() -> None:
    now = epoch("2019-12-22T18:43:48Z")
    event = events.expired(record(in_use_by=("arn:x",)), now, event_id="id")
    assert list(event) == ENVELOPE_KEYS
    assert event["detail-type"] == "ACM Certificate Expired"
    assert event["source"] == "aws.acm"
    assert event["time"] == "2019-12-22T18:43:48Z"
    assert event["resources"] == [ARN]
    assert list(event["detail"]) == [
        "CertificateType",
        "CommonName",
        "DomainValidationMethod",
        "CertificateCreatedDate",
        "CertificateExpirationDate",
        "InUse",
        "Exported",
    ]
    assert event["detail"] == {
        "CertificateType": "AMAZON_ISSUED",
        "CommonName": "example.com",
        "DomainValidationMethod": "DNS",
        "CertificateCreatedDate": "2018-12-22T18:43:48Z",
        "CertificateExpirationDate": "2019-12-22T18:43:48Z",
        "InUse": True,
        "Exported": False,
    }


def test_no_expired_event_for_imported_certificates() -> None:
    with pytest.raises(ValueError):
        events.expired(record(type="IMPORTED", validation_method=None), 0.0)


@pytest.mark.parametrize("action", ["ISSUANCE", "RENEWAL", "IMPORT", "REIMPORT"])
def test_available_has_the_seeds_members(action: str) -> None:
    now = epoch("2018-12-22T18:43:48Z")
    cert = record(not_after=now + 395 * 86400, exported=True)
    event = events.available(cert, now, action)
    assert list(event) == ENVELOPE_KEYS
    assert event["detail-type"] == "ACM Certificate Available"
    assert list(event["detail"]) == [
        "Action",
        "CertificateType",
        "CommonName",
        "DomainValidationMethod",
        "CertificateCreatedDate",
        "CertificateExpirationDate",
        "DaysToExpiry",
        "InUse",
        "Exported",
    ]
    assert event["detail"]["Action"] == action
    assert event["detail"]["DaysToExpiry"] == 395  # the seeds' example value
    assert event["detail"]["CertificateExpirationDate"] == "2020-01-21T18:43:48Z"
    assert event["detail"]["InUse"] is False
    assert event["detail"]["Exported"] is True


def test_available_for_an_imported_certificate_has_no_validation_method() -> None:
    cert = record(type="IMPORTED", validation_method=None)
    detail = events.available(cert, 0.0, "IMPORT")["detail"]
    assert detail["CertificateType"] == "IMPORTED"
    assert "DomainValidationMethod" not in detail


def test_available_refuses_an_unknown_action() -> None:
    with pytest.raises(ValueError):
        events.available(record(), 0.0, "CREATED")


def test_renewal_action_required_has_the_seeds_members() -> None:
    expires = epoch("2019-12-22T18:43:48Z")
    cert = record(not_after=expires, type="PRIVATE", validation_method=None)
    event = events.renewal_action_required(cert, expires - 30 * 86400, "PCA_INVALID_STATE")
    assert list(event) == ENVELOPE_KEYS
    assert event["detail-type"] == "ACM Certificate Renewal Action Required"
    assert event["detail"] == {
        "CertificateType": "PRIVATE",
        "CommonName": "example.com",
        "RenewalStatusReason": "PCA_INVALID_STATE",
        "DaysToExpiry": 30,
        "CertificateExpirationDate": "2019-12-22T18:43:48Z",
        "InUse": False,
        "Exported": False,
    }
    with_method = events.renewal_action_required(record(), expires - 86400, "CAA_ERROR")
    assert list(with_method["detail"]) == [
        "CertificateType",
        "CommonName",
        "DomainValidationMethod",
        "RenewalStatusReason",
        "DaysToExpiry",
        "CertificateExpirationDate",
        "InUse",
        "Exported",
    ]


def test_renewal_action_required_refuses_unknown_reasons_and_imports() -> None:
    with pytest.raises(ValueError):
        events.renewal_action_required(record(), 0.0, "BAD_LUCK")
    with pytest.raises(ValueError):
        events.renewal_action_required(record(type="IMPORTED"), 0.0, "OTHER")
    assert len(events.RENEWAL_STATUS_REASONS) == 18


def test_health_event_matches_the_seeds_pattern() -> None:
    now = epoch("2019-11-22T18:43:48Z")
    event = events.health_event(
        record(), now, events.RENEWAL_STATE_CHANGE, "renewal needs the CNAME records"
    )
    # The seeds' pattern (L3634–3652): every value it names is the event's.
    assert event["source"] == "aws.health"
    assert event["detail-type"] == "AWS Health Event"
    assert event["detail"]["service"] == "ACM"
    assert event["detail"]["eventTypeCategory"] == "scheduledChange"
    assert event["detail"]["eventTypeCode"] == "AWS_ACM_RENEWAL_STATE_CHANGE"
    assert list(event) == ENVELOPE_KEYS
    assert event["resources"] == [ARN]
    assert event["detail"]["affectedEntities"] == [{"entityValue": ARN}]
    assert event["detail"]["affectedAccount"] == ACCOUNT
    assert event["detail"]["statusCode"] == "open"
    assert event["detail"]["startTime"] == "Fri, 22 Nov 2019 18:43:48 GMT"
    assert event["detail"]["eventDescription"] == [
        {"language": "en_US", "latestDescription": "renewal needs the CNAME records"}
    ]
    assert event["detail"]["eventArn"].startswith(
        "arn:aws:health:us-east-1::event/ACM/AWS_ACM_RENEWAL_STATE_CHANGE/"
    )


def test_health_events_of_one_renewal_cycle_share_their_arn() -> None:
    cert = record()
    first = events.health_event(cert, 1000.0, events.CAA_CHECK_FAILURE, "CAA")
    later = events.health_event(
        cert, 90000.0, events.CAA_CHECK_FAILURE, "renewed", status_code="closed", start_time=1000
    )
    assert first["detail"]["eventArn"] == later["detail"]["eventArn"]
    assert later["detail"]["startTime"] == first["detail"]["startTime"]
    assert "endTime" in later["detail"]
    renewed = record(not_after=cert.not_after + 86400 * 200)  # type: ignore[operator]
    next_cycle = events.health_event(renewed, 1000.0, events.CAA_CHECK_FAILURE, "CAA")
    assert next_cycle["detail"]["eventArn"] != first["detail"]["eventArn"]


def test_health_event_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError):
        events.health_event(record(), 0.0, "AWS_ACM_SOMETHING", "x")
    with pytest.raises(ValueError):
        events.health_event(record(), 0.0, events.RENEWAL_FAILURE, "x", category="issue")


def test_days_to_expiry_rounds_down() -> None:
    cert = record(not_after=10 * 86400.0)
    assert events.days_to_expiry(cert, 0.0) == 10
    assert events.days_to_expiry(cert, 1.0) == 9
    assert events.days_to_expiry(cert, 10 * 86400.0 - 1) == 0
    assert events.days_to_expiry(cert, 10 * 86400.0 + 1) == -1


def test_common_name_falls_back_to_the_domain_name() -> None:
    assert events.common_name(record(facts={})) == "example.com"
    assert events.common_name(record(facts={"subject_dn": {"CommonName": "cn"}})) == "cn"
