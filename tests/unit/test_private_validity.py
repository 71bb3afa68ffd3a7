"""Tests for openacm.domain.pca_validity: IssueCertificate's Validity and ValidityNotBefore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.loaders
import pytest

from openacm.domain.errors import ValidationError
from openacm.domain.pca_validity import (
    ACM_PRIVATE_CERTIFICATE_VALIDITY,
    EXCEEDS_CA_VALIDITY,
    VALIDITY_TYPES,
    CaValidityLimits,
    ValidityPeriod,
    ValidityWindow,
    certificate_validity_window,
    validity_period_from_wire,
)

ISSUED_AT = datetime(2026, 1, 31, 12, 34, 54, 123456, tzinfo=UTC)
ISSUED_AT_SECOND = ISSUED_AT.replace(microsecond=0)
CA = CaValidityLimits(
    not_before=datetime(2025, 1, 1, tzinfo=UTC), not_after=datetime(2045, 1, 1, tzinfo=UTC)
)


def window(
    validity_type: str,
    value: int,
    not_before: ValidityPeriod | None = None,
    ca: CaValidityLimits = CA,
) -> ValidityWindow:
    period = ValidityPeriod(type=validity_type, value=value)  # type: ignore[arg-type]
    return certificate_validity_window(period, not_before, issued_at=ISSUED_AT, ca=ca)


def refusal(validity_type: str, value: int, **kwargs: object) -> str:
    with pytest.raises(ValidationError) as raised:
        window(validity_type, value, **kwargs)  # type: ignore[arg-type]
    assert raised.value.code == "ValidationException"
    return raised.value.message


def test_the_types_are_the_models_enum() -> None:
    model = botocore.loaders.Loader().load_service_model("acm-pca", "service-2")
    assert set(model["shapes"]["ValidityPeriodType"]["enum"]) == VALIDITY_TYPES


# --- Relative spans ---------------------------------------------------------------------------


def test_days_count_from_the_issue_second() -> None:
    assert window("DAYS", 90).not_after == ISSUED_AT_SECOND + timedelta(days=90)


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    # 31 January + 1 month: 28 February 2026 (not a leap year), same time of day.
    assert window("MONTHS", 1).not_after == datetime(2026, 2, 28, 12, 34, 54, tzinfo=UTC)
    assert window("MONTHS", 13).not_after == datetime(2027, 2, 28, 12, 34, 54, tzinfo=UTC)
    assert window("MONTHS", 3).not_after == datetime(2026, 4, 30, 12, 34, 54, tzinfo=UTC)


def test_years_are_calendar_years() -> None:
    assert window("YEARS", 2).not_after == datetime(2028, 1, 31, 12, 34, 54, tzinfo=UTC)


def test_default_not_before_is_the_issue_time_minus_sixty_minutes() -> None:
    assert window("DAYS", 1).not_before == ISSUED_AT_SECOND - timedelta(minutes=60)


def test_default_not_before_never_precedes_the_ca() -> None:
    young_ca = CaValidityLimits(
        not_before=ISSUED_AT_SECOND - timedelta(minutes=5), not_after=CA.not_after
    )
    assert window("DAYS", 1, ca=young_ca).not_before == young_ca.not_before


# --- Explicit ends ----------------------------------------------------------------------------


def test_absolute_is_epoch_seconds() -> None:
    # The API reference's example: 2524608000 is 1 January 2050 00:00:00.
    ca = CaValidityLimits(CA.not_before, datetime(2060, 1, 1, tzinfo=UTC))
    assert window("ABSOLUTE", 2524608000, ca=ca).not_after == datetime(2050, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (491231235959, datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),  # the reference's example
        (20300615120000, datetime(2030, 6, 15, 12, 0, 0, tzinfo=UTC)),  # GeneralizedTime
        (300615120000, datetime(2030, 6, 15, 12, 0, 0, tzinfo=UTC)),  # UTCTime, 20YY
    ],
)
def test_end_date_reads_utctime_and_generalized_time(value: int, expected: datetime) -> None:
    ca = CaValidityLimits(CA.not_before, datetime(2060, 1, 1, tzinfo=UTC))
    assert window("END_DATE", value, ca=ca).not_after == expected


def test_end_date_utctime_year_50_and_later_is_nineteen_hundreds() -> None:
    # 1999 is in the past, and refused as such: the year was read as 19YY.
    assert "past" in refusal("END_DATE", 991231235959)


@pytest.mark.parametrize("value", [2030061512000, 20301315120000, 20300230120000, 203006151200001])
def test_end_date_that_is_no_date_is_refused(value: int) -> None:
    assert "END_DATE" in refusal("END_DATE", value)


# --- ValidityNotBefore ------------------------------------------------------------------------


def test_explicit_not_before_is_used_and_leaves_a_relative_end_alone() -> None:
    start = ValidityPeriod(type="ABSOLUTE", value=int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()))
    result = window("DAYS", 90, not_before=start)
    assert result.not_before == datetime(2026, 3, 1, tzinfo=UTC)
    assert result.not_after == ISSUED_AT_SECOND + timedelta(days=90)


def test_not_before_as_end_date() -> None:
    start = ValidityPeriod(type="END_DATE", value=20260201000000)
    assert window("DAYS", 90, not_before=start).not_before == datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize("relative", ["DAYS", "MONTHS", "YEARS"])
def test_not_before_must_be_explicit(relative: str) -> None:
    start = ValidityPeriod(type=relative, value=1)  # type: ignore[arg-type]
    assert "ABSOLUTE or END_DATE" in refusal("DAYS", 30, not_before=start)


def test_not_before_at_or_after_the_end_is_refused() -> None:
    end = ISSUED_AT_SECOND + timedelta(days=1)
    start = ValidityPeriod(type="ABSOLUTE", value=int(end.timestamp()))
    assert "earlier" in refusal("DAYS", 1, not_before=start)


def test_not_before_before_the_ca_is_refused() -> None:
    start = ValidityPeriod(type="ABSOLUTE", value=int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()))
    assert "certificate authority" in refusal("DAYS", 1, not_before=start)


# --- Refusals ---------------------------------------------------------------------------------


def test_end_in_the_past_is_refused() -> None:
    assert "past" in refusal("ABSOLUTE", int(ISSUED_AT.timestamp()) - 10)


def test_end_at_the_issue_second_is_refused_one_second_later_accepted() -> None:
    assert "past" in refusal("ABSOLUTE", int(ISSUED_AT_SECOND.timestamp()))
    accepted = window("ABSOLUTE", int(ISSUED_AT_SECOND.timestamp()) + 1)
    assert accepted.not_after == ISSUED_AT_SECOND + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("validity_type", "value"),
    [("YEARS", 19), ("MONTHS", 228), ("DAYS", 7000), ("YEARS", 10**12), ("DAYS", 10**12)],
)
def test_end_beyond_the_ca_is_refused_with_awss_text(validity_type: str, value: int) -> None:
    assert refusal(validity_type, value) == EXCEEDS_CA_VALIDITY


def test_end_exactly_at_the_ca_end_is_accepted() -> None:
    assert window("ABSOLUTE", int(CA.not_after.timestamp())).not_after == CA.not_after


def test_short_lived_ca_allows_seven_days_and_no_more() -> None:
    short_lived = CaValidityLimits(CA.not_before, CA.not_after, short_lived=True)
    assert window("DAYS", 7, ca=short_lived).not_after == ISSUED_AT_SECOND + timedelta(days=7)
    with pytest.raises(ValidationError, match="7 days or less"):
        window("DAYS", 8, ca=short_lived)
    with pytest.raises(ValidationError, match="7 days or less"):
        window("MONTHS", 1, ca=short_lived)


# --- From the wire ----------------------------------------------------------------------------


def test_wire_member_is_read() -> None:
    period = validity_period_from_wire({"Type": "DAYS", "Value": 30}, "Validity")
    assert period == ValidityPeriod(type="DAYS", value=30)


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        ({"Type": "WEEKS", "Value": 3}, "'validityNotBefore.type'"),
        ({"Type": "DAYS", "Value": 0}, "'validityNotBefore.value'"),
        ({"Type": "DAYS", "Value": True}, "'validityNotBefore.value'"),
    ],
)
def test_wire_member_out_of_the_model_is_refused(member: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validity_period_from_wire(member, "ValidityNotBefore")
    assert fragment in raised.value.message


def test_acm_private_certificates_default_to_395_days() -> None:
    result = certificate_validity_window(
        ACM_PRIVATE_CERTIFICATE_VALIDITY, None, issued_at=ISSUED_AT, ca=CA
    )
    assert result.not_after == ISSUED_AT_SECOND + timedelta(days=395)
