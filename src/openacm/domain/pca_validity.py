"""When a certificate issued through AWS Private CA's IssueCertificate is valid.

Pure: the caller passes the issue time and the issuing CA's limits. The wire's `Validity` shape
(`Type` + `Value`) is read the way the ACM-PCA API reference describes it:

- DAYS, MONTHS, YEARS: notAfter is that span after the moment of issuance, in calendar terms
  (one month after 31 January is the last day of February). The reference says this end is
  "unaffected when ValidityNotBefore is also specified", so the span never counts from it.
- ABSOLUTE: seconds since the Unix epoch.
- END_DATE: a date and time written as digits, UTCTime `YYMMDDHHMMSS` (YY >= 50 is 19YY,
  else 20YY) or GeneralizedTime `YYYYMMDDHHMMSS`, always UTC.

`ValidityNotBefore` is optional and must be an explicit time (ABSOLUTE or END_DATE); without
it, notBefore is the issue time minus 60 minutes, "to compensate for clock inconsistencies", as
AWS does — but never before the issuing CA's own notBefore. Texts marked [PCA] are AWS Private
CA's own messages, kept verbatim; the others are ours in the same style.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from openacm.domain.errors import ValidationError

__all__ = [
    "ACM_PRIVATE_CERTIFICATE_VALIDITY",
    "DEFAULT_NOT_BEFORE_BACKDATING",
    "SHORT_LIVED_MAXIMUM",
    "VALIDITY_TYPES",
    "CaValidityLimits",
    "ValidityPeriod",
    "ValidityWindow",
    "certificate_validity_window",
    "validity_period_from_wire",
]

ValidityType = Literal["END_DATE", "ABSOLUTE", "DAYS", "MONTHS", "YEARS"]
VALIDITY_TYPES: Final[frozenset[str]] = frozenset(
    {"END_DATE", "ABSOLUTE", "DAYS", "MONTHS", "YEARS"}
)
# ValidityNotBefore "is expressed as an explicit date and time"; a span has nothing to start from.
_EXPLICIT_TYPES: Final[frozenset[str]] = frozenset({"END_DATE", "ABSOLUTE"})

# IssueCertificate: "By default ... the 'Not Before' date [is] the issuance time minus 60 minutes."
DEFAULT_NOT_BEFORE_BACKDATING: Final = timedelta(minutes=60)
# A CA in SHORT_LIVED_CERTIFICATE usage mode issues certificates valid for 7 days at most.
SHORT_LIVED_MAXIMUM: Final = timedelta(days=7)

# The latest instant X.509 can express (GeneralizedTime 99991231235959Z, RFC 5280 4.1.2.5).
_LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
_UTCTIME_DIGITS: Final = 12
_GENERALIZED_TIME_DIGITS: Final = 14
# UTCTime's two-digit years: 50..99 are 1950..1999, 00..49 are 2000..2049 (RFC 5280 4.1.2.5.1).
_UTCTIME_PIVOT: Final = 50

# [PCA]
EXCEEDS_CA_VALIDITY: Final = (
    "The certificate validity specified exceeds the certificate authority validity."
)
# Ours.
END_IN_THE_PAST: Final = "The certificate validity specified is in the past."
NOT_BEFORE_AFTER_END: Final = "The ValidityNotBefore value must be earlier than the Validity value."
NOT_BEFORE_BEFORE_CA: Final = (
    "The ValidityNotBefore value specified is earlier than the certificate authority validity."
)
NOT_BEFORE_NOT_EXPLICIT: Final = (
    "ValidityNotBefore must be an explicit date and time: its Type must be ABSOLUTE or END_DATE."
)
SHORT_LIVED_TOO_LONG: Final = (
    "A certificate authority in SHORT_LIVED_CERTIFICATE usage mode can only issue certificates "
    "valid for 7 days or less."
)


@dataclass(frozen=True)
class ValidityPeriod:
    """The wire's Validity shape: how to read `value` is `type`'s business."""

    type: ValidityType
    value: int


# A PRIVATE certificate requested through ACM (RequestCertificate with CertificateAuthorityArn)
# has no Validity member: PRODUCT.md decision 6 gives it the seeds' 395 days.
ACM_PRIVATE_CERTIFICATE_VALIDITY: Final = ValidityPeriod(type="DAYS", value=395)


@dataclass(frozen=True)
class ValidityWindow:
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class CaValidityLimits:
    """What the issuing CA allows: its certificate's window and its usage mode."""

    not_before: datetime
    not_after: datetime
    short_lived: bool = False  # UsageMode SHORT_LIVED_CERTIFICATE


def validity_period_from_wire(member: Mapping[str, Any], member_name: str) -> ValidityPeriod:
    """A `Validity`/`ValidityNotBefore` request member as a `ValidityPeriod`.

    The protocol layer has already checked the shape against the model (both members present,
    Type one of the enum, Value a long of at least 1); this only narrows the types."""
    validity_type = member.get("Type")
    value = member.get("Value")
    if validity_type not in VALIDITY_TYPES:
        raise ValidationError(
            f"1 validation error detected: Value '{validity_type}' at '{_camel(member_name)}.type' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            "[END_DATE, ABSOLUTE, DAYS, MONTHS, YEARS]"
        )
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{_camel(member_name)}.value' "
            "failed to satisfy constraint: Member must have value greater than or equal to 1"
        )
    return ValidityPeriod(type=validity_type, value=value)


def certificate_validity_window(
    validity: ValidityPeriod,
    not_before: ValidityPeriod | None,
    *,
    issued_at: datetime,
    ca: CaValidityLimits,
) -> ValidityWindow:
    """(notBefore, notAfter) of a certificate issued at `issued_at` by a CA limited by `ca`.

    Raises ValidationError when the end is not after the issue time, when the window leaves
    the CA certificate's, when an explicit start is not before the end, or when a short-lived CA
    is asked for more than 7 days."""
    issued_at = issued_at.astimezone(UTC).replace(microsecond=0)
    end = validity_end(validity, issued_at)
    if end <= issued_at:
        raise ValidationError(END_IN_THE_PAST)
    if end > ca.not_after:
        raise ValidationError(EXCEEDS_CA_VALIDITY)
    start = _start(not_before, issued_at, ca)
    if start >= end:
        raise ValidationError(NOT_BEFORE_AFTER_END)
    # Counted from issuance, like DAYS is: the default one-hour backdating must not turn a
    # 7-day request into a refused 7-days-and-an-hour one.
    if ca.short_lived and end - issued_at > SHORT_LIVED_MAXIMUM:
        raise ValidationError(SHORT_LIVED_TOO_LONG)
    return ValidityWindow(not_before=start, not_after=end)


def validity_end(validity: ValidityPeriod, issued_at: datetime) -> datetime:
    """The instant `validity` names, relative spans counted from `issued_at`."""
    if validity.type == "DAYS":
        return _checked(lambda: issued_at + timedelta(days=validity.value))
    if validity.type == "MONTHS":
        return _add_months(issued_at, validity.value)
    if validity.type == "YEARS":
        return _add_months(issued_at, 12 * validity.value)
    return _explicit_time(validity)


def _start(
    not_before: ValidityPeriod | None, issued_at: datetime, ca: CaValidityLimits
) -> datetime:
    if not_before is None:
        # The default backdating is a convenience, so it gives way to the CA's own start
        # rather than producing a certificate valid before its issuer.
        return max(issued_at - DEFAULT_NOT_BEFORE_BACKDATING, ca.not_before)
    if not_before.type not in _EXPLICIT_TYPES:
        raise ValidationError(NOT_BEFORE_NOT_EXPLICIT)
    start = _explicit_time(not_before)
    if start < ca.not_before:
        raise ValidationError(NOT_BEFORE_BEFORE_CA)
    return start


def _explicit_time(validity: ValidityPeriod) -> datetime:
    if validity.type == "ABSOLUTE":
        return _checked(lambda: datetime.fromtimestamp(validity.value, UTC))
    return _end_date(validity.value)


def _end_date(value: int) -> datetime:
    """END_DATE's digits as UTC. A UTCTime year below 10 loses its leading zero in the long
    (2009 is 091231235959, sent as 91231235959), so up to 12 digits is UTCTime."""
    digits = str(value)
    if len(digits) <= _UTCTIME_DIGITS:
        digits = digits.zfill(_UTCTIME_DIGITS)
        two_digit_year = int(digits[:2])
        century = 1900 if two_digit_year >= _UTCTIME_PIVOT else 2000
        digits = str(century + two_digit_year) + digits[2:]
    elif len(digits) != _GENERALIZED_TIME_DIGITS:
        raise ValidationError(_bad_end_date(value))
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(_bad_end_date(value)) from None


def _bad_end_date(value: int) -> str:
    return (
        f"The END_DATE value {value} is not a valid date: use UTCTime (YYMMDDHHMMSS) or "
        "GeneralizedTime (YYYYMMDDHHMMSS)."
    )


def _add_months(start: datetime, months: int) -> datetime:
    """`start` plus calendar months; the day is clamped to the target month's last day."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    if year > _LATEST.year:
        raise ValidationError(EXCEEDS_CA_VALIDITY)
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _checked(compute: Callable[[], datetime]) -> datetime:
    """A computed instant, or the CA-validity refusal when it lies beyond what a date can hold
    (no CA certificate can be valid that long)."""
    try:
        instant = compute()
    except (OverflowError, ValueError, OSError):
        raise ValidationError(EXCEEDS_CA_VALIDITY) from None
    if instant > _LATEST:
        raise ValidationError(EXCEEDS_CA_VALIDITY)
    return instant


def _camel(member_name: str) -> str:
    return member_name[:1].lower() + member_name[1:]
