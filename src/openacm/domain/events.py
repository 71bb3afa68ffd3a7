"""The events openacm publishes, in the formats ACM users already consume.

Two families, both EventBridge envelopes (inventory §10, seeds L3484–3652, L4027–4042):

- `aws.acm` events: Approaching Expiration, Expired, Available and Renewal Action Required,
  with the seeds' `detail` members;
- `aws.health` events (`AWS Health Event`, service ACM) for the renewal state changes; the
  seeds show only their pattern, so the instance follows AWS Health's published event shape.

Pure functions of a `CertificateRecord` and the time: no I/O, no clock. Each builder returns
the event as a JSON-ready dict; the outbox (adapters/store/events.py) stores and delivers it.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from openacm.domain.arn import parse_arn
from openacm.domain.certificates import CertificateRecord

ACM_SOURCE = "aws.acm"
HEALTH_SOURCE = "aws.health"

APPROACHING_EXPIRATION = "ACM Certificate Approaching Expiration"
EXPIRED = "ACM Certificate Expired"
AVAILABLE = "ACM Certificate Available"
RENEWAL_ACTION_REQUIRED = "ACM Certificate Renewal Action Required"
HEALTH_EVENT = "AWS Health Event"

# `Action` of ACM Certificate Available.
ISSUANCE = "ISSUANCE"
RENEWAL = "RENEWAL"
IMPORT = "IMPORT"
REIMPORT = "REIMPORT"
AVAILABLE_ACTIONS = (ISSUANCE, RENEWAL, IMPORT, REIMPORT)

# `RenewalStatusReason` of Renewal Action Required, in the seeds' order (L3578–3616).
RENEWAL_STATUS_REASONS = (
    "CAA_ERROR",
    "PENDING_DOMAIN_VALIDATION",
    "NO_AVAILABLE_CONTACTS",
    "ADDITIONAL_VERIFICATION_REQUIRED",
    "DOMAIN_NOT_ALLOWED",
    "INVALID_PUBLIC_DOMAIN",
    "DOMAIN_VALIDATION_DENIED",
    "PCA_LIMIT_EXCEEDED",
    "PCA_INVALID_ARN",
    "PCA_INVALID_STATE",
    "PCA_REQUEST_FAILED",
    "PCA_NAME_CONSTRAINTS_VALIDATION",
    "PCA_RESOURCE_NOT_FOUND",
    "PCA_INVALID_ARGS",
    "PCA_INVALID_DURATION",
    "PCA_ACCESS_DENIED",
    "SLR_NOT_FOUND",
    "OTHER",
)

# AWS Health event type codes for ACM (seeds L3618–3652).
RENEWAL_STATE_CHANGE = "AWS_ACM_RENEWAL_STATE_CHANGE"  # renewed, expired or about to expire
CAA_CHECK_FAILURE = "CAA_CHECK_FAILURE"
RENEWAL_FAILURE = "AWS_ACM_RENEWAL_FAILURE"  # private-CA-signed certificates
HEALTH_EVENT_TYPE_CODES = (RENEWAL_STATE_CHANGE, CAA_CHECK_FAILURE, RENEWAL_FAILURE)
SCHEDULED_CHANGE = "scheduledChange"
ACCOUNT_NOTIFICATION = "accountNotification"
HEALTH_CATEGORIES = (SCHEDULED_CHANGE, ACCOUNT_NOTIFICATION)
# Health events stay "open" while the customer must act and are "closed" once renewed.
HEALTH_OPEN = "open"
HEALTH_CLOSED = "closed"

DAY_SECONDS = 86400


def iso_time(epoch: float) -> str:
    """The envelope's and detail's time format: ISO-8601 UTC to the second, with a Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(epoch: float) -> str:
    # AWS Health's startTime / lastUpdatedTime are RFC 1123 dates ("Sat, 05 Jun 2021 ... GMT").
    return datetime.fromtimestamp(epoch, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def days_to_expiry(record: CertificateRecord, now: float) -> int:
    """Whole days left before NotAfter, rounded down (0 on the last day), as the CloudWatch
    DaysToExpiry metric counts; negative once expired."""
    if record.not_after is None:
        return 0
    return math.floor((record.not_after - now) / DAY_SECONDS)


def common_name(record: CertificateRecord) -> str | None:
    """The subject's CN, as ACM's events carry it; the domain name when the subject has none
    (a requested certificate not issued yet, or a SAN-only certificate)."""
    subject = record.facts.get("subject_dn") or {}
    name = subject.get("CommonName") if isinstance(subject, dict) else None
    return str(name) if name else record.domain_name


def envelope(
    record: CertificateRecord,
    detail_type: str,
    detail: dict[str, Any],
    now: float,
    *,
    source: str = ACM_SOURCE,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The EventBridge envelope around `detail`, about one certificate, in the seeds' order."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": record.account_id,
        "time": iso_time(now),
        "region": record.region,
        "resources": [record.arn],
        "detail": detail,
    }


def _validation_method(detail: dict[str, Any], record: CertificateRecord) -> None:
    # Imported certificates were never validated: the member is left out rather than faked.
    if record.validation_method:
        detail["DomainValidationMethod"] = record.validation_method


def approaching_expiration(
    record: CertificateRecord, now: float, *, event_id: str | None = None
) -> dict[str, Any]:
    """Sent daily from the account's DaysBeforeExpiry until NotAfter, every certificate type."""
    detail = {"DaysToExpiry": days_to_expiry(record, now), "CommonName": common_name(record)}
    return envelope(record, APPROACHING_EXPIRATION, detail, now, event_id=event_id)


def expired(
    record: CertificateRecord, now: float, *, event_id: str | None = None
) -> dict[str, Any]:
    """Sent once when an ACM-issued (AMAZON_ISSUED or PRIVATE) certificate passes NotAfter."""
    if record.type == "IMPORTED":
        raise ValueError("ACM sends no Expired event for imported certificates")
    detail: dict[str, Any] = {"CertificateType": record.type, "CommonName": common_name(record)}
    _validation_method(detail, record)
    detail["CertificateCreatedDate"] = iso_time(record.created_at)
    detail["CertificateExpirationDate"] = _expiration(record)
    detail["InUse"] = record.in_use
    detail["Exported"] = record.exported
    return envelope(record, EXPIRED, detail, now, event_id=event_id)


def available(
    record: CertificateRecord, now: float, action: str, *, event_id: str | None = None
) -> dict[str, Any]:
    """Sent when a certificate becomes usable: issuance, renewal, import or re-import."""
    if action not in AVAILABLE_ACTIONS:
        raise ValueError(f"Action must be one of {', '.join(AVAILABLE_ACTIONS)}, not {action!r}")
    detail: dict[str, Any] = {
        "Action": action,
        "CertificateType": record.type,
        "CommonName": common_name(record),
    }
    _validation_method(detail, record)
    detail["CertificateCreatedDate"] = iso_time(record.created_at)
    detail["CertificateExpirationDate"] = _expiration(record)
    detail["DaysToExpiry"] = days_to_expiry(record, now)
    detail["InUse"] = record.in_use
    detail["Exported"] = record.exported
    return envelope(record, AVAILABLE, detail, now, event_id=event_id)


def renewal_action_required(
    record: CertificateRecord, now: float, reason: str, *, event_id: str | None = None
) -> dict[str, Any]:
    """Sent on each renewal attempt that needs the customer (never for imported ones)."""
    if record.type == "IMPORTED":
        raise ValueError("imported certificates are never renewed by ACM")
    if reason not in RENEWAL_STATUS_REASONS:
        raise ValueError(f"unknown RenewalStatusReason {reason!r}")
    detail: dict[str, Any] = {"CertificateType": record.type, "CommonName": common_name(record)}
    _validation_method(detail, record)
    detail["RenewalStatusReason"] = reason
    detail["DaysToExpiry"] = days_to_expiry(record, now)
    detail["CertificateExpirationDate"] = _expiration(record)
    detail["InUse"] = record.in_use
    detail["Exported"] = record.exported
    return envelope(record, RENEWAL_ACTION_REQUIRED, detail, now, event_id=event_id)


def health_event(
    record: CertificateRecord,
    now: float,
    event_type_code: str,
    description: str,
    *,
    category: str = SCHEDULED_CHANGE,
    status_code: str = HEALTH_OPEN,
    start_time: float | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An AWS Health event about one certificate's renewal.

    AWS Health writes consecutive renewal notices of one certificate into a single event,
    each overwriting the last until the renewal succeeds (inventory §9): `eventArn` is
    therefore derived from the certificate and the NotAfter being renewed, so every notice
    of one renewal cycle, and its closing "closed" notice, share it. `start_time` is when the
    cycle's first notice was sent (default: now)."""
    if event_type_code not in HEALTH_EVENT_TYPE_CODES:
        raise ValueError(f"eventTypeCode must be one of {', '.join(HEALTH_EVENT_TYPE_CODES)}")
    if category not in HEALTH_CATEGORIES:
        raise ValueError(f"eventTypeCategory must be one of {', '.join(HEALTH_CATEGORIES)}")
    if status_code not in (HEALTH_OPEN, HEALTH_CLOSED):
        raise ValueError("statusCode must be open or closed")
    cycle = hashlib.sha256(f"{record.arn}\n{record.not_after}".encode()).hexdigest()[:32]
    partition = parse_arn(record.arn).partition
    detail: dict[str, Any] = {
        "eventArn": (
            f"arn:{partition}:health:{record.region}::event/ACM/{event_type_code}/"
            f"{event_type_code}_{cycle}"
        ),
        "service": "ACM",
        "eventTypeCode": event_type_code,
        "eventTypeCategory": category,
        "eventScopeCode": "ACCOUNT_SPECIFIC",
        "communicationId": f"{cycle}-{int(now)}",
        "startTime": _http_date(now if start_time is None else start_time),
        "lastUpdatedTime": _http_date(now),
        "statusCode": status_code,
        "eventRegion": record.region,
        "eventDescription": [{"language": "en_US", "latestDescription": description}],
        "affectedEntities": [{"entityValue": record.arn}],
        "affectedAccount": record.account_id,
    }
    if status_code == HEALTH_CLOSED:
        detail["endTime"] = _http_date(now)
    return envelope(record, HEALTH_EVENT, detail, now, source=HEALTH_SOURCE, event_id=event_id)


def _expiration(record: CertificateRecord) -> str | None:
    return iso_time(record.not_after) if record.not_after is not None else None
