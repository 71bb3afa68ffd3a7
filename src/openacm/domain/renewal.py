"""Managed renewal: which certificates renew, when, and what the renewal reports.

Pure rules, no I/O: the scheduler (services/acm/renewal_scheduler.py) reads due certificates
and the validation worker renews them; the API views show `renewal_eligibility`'s answer as
RenewalEligibility.

- What renews: AMAZON_ISSUED and PRIVATE certificates requested through ACM (never imported
  ones, inventory §9; certificates a private CA issued through its own IssueCertificate are
  not ACM certificates at all), while ELIGIBLE: in use (an association) or exported since
  their last issuance (PRODUCT.md decision 5).
- When: `domain.issuance.renewal_start` (decision 6): a third of the lifetime left or the
  seeds' lead time (60 days; 45 for email validation), whichever is earlier, never in the
  first third of the lifetime.
- Notices while a renewal waits for the user: 45, 30, 15, 7, 3 and 1 days before expiry
  (decision 1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from openacm.domain.issuance import renewal_start

if TYPE_CHECKING:
    from openacm.domain.certificates import CertificateRecord

MANAGED_TYPES: Final = frozenset({"AMAZON_ISSUED", "PRIVATE"})
ELIGIBLE: Final = "ELIGIBLE"
INELIGIBLE: Final = "INELIGIBLE"
# RenewalStatus values of the model.
PENDING_AUTO_RENEWAL: Final = "PENDING_AUTO_RENEWAL"
PENDING_VALIDATION: Final = "PENDING_VALIDATION"
SUCCESS: Final = "SUCCESS"
FAILED: Final = "FAILED"
IN_PROGRESS: Final = frozenset({PENDING_AUTO_RENEWAL, PENDING_VALIDATION})
# Decision 1: the days before expiry on which a renewal waiting for the user is announced.
NOTICE_DAYS: Final = (45, 30, 15, 7, 3, 1)
EMAIL_LEAD_TIME: Final = timedelta(days=45)
DAY_SECONDS: Final = 86_400


def renewal_eligibility(certificate_type: str, status: str, *, in_use: bool, exported: bool) -> str:
    """RenewalEligibility as ACM shows it (inventory §9, PRODUCT.md decision 5).

    A managed certificate is ELIGIBLE while it is ISSUED and either in use (it has an
    association) or exported since it was last issued: ACM renews only what something
    still relies on, and an exported key may be deployed anywhere. `status` is the status
    at the moment asked (an ISSUED certificate past NotAfter is EXPIRED, and expired,
    revoked, failed or pending certificates are INELIGIBLE). Names already obey the Punycode
    rules the seeds add: RequestCertificate refuses any other.
    """
    if certificate_type not in MANAGED_TYPES or status != "ISSUED":
        return INELIGIBLE
    return ELIGIBLE if in_use or exported else INELIGIBLE


def renewal_due_at(record: CertificateRecord) -> float | None:
    """When managed renewal of the record's current certificate begins; None when it never
    does (imported, or nothing issued yet)."""
    if record.type not in MANAGED_TYPES or record.status not in ("ISSUED", "EXPIRED"):
        return None
    if record.not_before is None or record.not_after is None:
        return None
    kwargs = {"lead_time": EMAIL_LEAD_TIME} if record.validation_method == "EMAIL" else {}
    start = renewal_start(_utc(record.not_before), _utc(record.not_after), **kwargs)
    return start.timestamp()


def days_to_expiry(not_after: float, now: float) -> int:
    """Whole days left, as the seeds' DaysToExpiry counts them (never negative)."""
    return max(0, int((not_after - now) // DAY_SECONDS))


def notice_day_due(not_after: float, now: float, last_notice_day: int | None) -> int | None:
    """The notice day (45, 30, … 1 days before expiry) reached at `now` and not announced yet
    (`last_notice_day` is the last one announced); None when there is none to send."""
    left = (not_after - now) / DAY_SECONDS
    reached = [day for day in NOTICE_DAYS if left <= day]
    if not reached or left <= 0:
        return None
    latest = min(reached)
    if last_notice_day is not None and last_notice_day <= latest:
        return None
    return latest


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
