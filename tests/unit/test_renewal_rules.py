"""The managed-renewal rules of domain/renewal.py: eligibility (decision 5), when renewal
begins (decision 6), and the notice days (decision 1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.domain.certificates import CertificateRecord
from openacm.domain.renewal import (
    DAY_SECONDS,
    days_to_expiry,
    notice_day_due,
    renewal_due_at,
)

ISSUED_AT = 1_800_000_000.0


def certificate(days: int = 198, **changes: object) -> CertificateRecord:
    base = CertificateRecord(
        arn="arn:aws:acm:us-east-1:111122223333:certificate/x",
        certificate_id="x",
        account_id="111122223333",
        region="us-east-1",
        type="AMAZON_ISSUED",
        status="ISSUED",
        domain_name="example.com",
        names=("example.com",),
        key_algorithm="EC_prime256v1",
        key_usages=(),
        extended_key_usages=(),
        serial="01",
        not_before=ISSUED_AT,
        not_after=ISSUED_AT + days * DAY_SECONDS,
        created_at=ISSUED_AT,
        certificate_pem=None,
        chain_pem=None,
        facts={},
        validation_method="DNS",
        exported=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_eligible_when_exported_or_in_use_and_managed() -> None:
    def eligibility(**changes: object) -> str:
        return certificate(**changes).renewal_eligibility_at(ISSUED_AT)

    assert eligibility() == "ELIGIBLE"
    assert eligibility(exported=False) == "INELIGIBLE"
    assert eligibility(exported=False, associated=True) == "ELIGIBLE"
    assert eligibility(type="PRIVATE") == "ELIGIBLE"
    assert eligibility(type="IMPORTED") == "INELIGIBLE"


@pytest.mark.parametrize(
    ("days", "method", "days_left_at_start"),
    [
        (198, "DNS", 66),  # a third of 198 days is left before 60 days are
        (395, None, 395 / 3),  # private: a third left
        (150, "EMAIL", 50),  # a third (50) comes before the 45 days of email
        (100, "DNS", 60),  # 60 days before expiry comes first
        (47, "DNS", 47 * 2 / 3),  # never within the first third of the lifetime
    ],
)
def test_renewal_begins(days: int, method: str | None, days_left_at_start: float) -> None:
    record = certificate(days, validation_method=method)
    due = renewal_due_at(record)
    assert due is not None
    assert (record.not_after or 0) - due == pytest.approx(days_left_at_start * DAY_SECONDS)


def test_what_never_renews_has_no_renewal_time() -> None:
    assert renewal_due_at(certificate(type="IMPORTED")) is None
    assert renewal_due_at(certificate(status="PENDING_VALIDATION", not_before=None)) is None


def test_notice_days() -> None:
    not_after = ISSUED_AT + 100 * DAY_SECONDS
    at = lambda days_left: not_after - days_left * DAY_SECONDS  # noqa: E731
    assert notice_day_due(not_after, at(50), None) is None
    assert notice_day_due(not_after, at(45), None) == 45
    assert notice_day_due(not_after, at(44), 45) is None
    assert notice_day_due(not_after, at(29.5), 45) == 30
    assert notice_day_due(not_after, at(6), 30) == 7  # a missed day: the latest one reached
    assert notice_day_due(not_after, at(0.5), 3) == 1
    assert notice_day_due(not_after, at(-1), 1) is None
    assert days_to_expiry(not_after, at(30.5)) == 30
    assert days_to_expiry(not_after, at(-2)) == 0


@pytest.fixture
def store_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_the_sweep_finds_exactly_what_may_start(store_db: Database) -> None:
    """Each condition of `due_for_renewal` on its own: only the first certificate is due."""
    record = certificate()
    due_at = renewal_due_at(record)
    assert due_at is not None
    now = due_at + 1
    cases = {
        "due": {},
        "not yet": {"not_before": ISSUED_AT + 100 * DAY_SECONDS,
                    "not_after": ISSUED_AT + 298 * DAY_SECONDS},
        "not eligible": {"exported": False},
        "imported": {"type": "IMPORTED"},
        "renewing": {"renewal_status": "PENDING_AUTO_RENEWAL"},
        "waiting for the user": {"renewal_status": "PENDING_VALIDATION"},
        "failed just now": {"renewal_status": "FAILED", "renewal_updated_at": now - 60},
        "expired": {"not_before": ISSUED_AT - 300 * DAY_SECONDS, "not_after": now - 1},
        "revoked": {"status": "REVOKED"},
    }  # fmt: skip
    with store_db.write() as conn:
        store = CertificateStore(conn)
        for name, changes in cases.items():
            arn = f"arn:aws:acm:us-east-1:111122223333:certificate/{name.replace(' ', '-')}"
            store.insert(replace(record, arn=arn, certificate_id=name, **changes), None)  # type: ignore[arg-type]
        store.insert(
            replace(
                record,
                arn="arn:aws:acm:us-east-1:111122223333:certificate/failed-long-ago",
                certificate_id="failed long ago",
                renewal_status="FAILED",
                renewal_updated_at=now - 2 * DAY_SECONDS,
            ),
            None,
        )
    with store_db.read() as conn:
        due = CertificateStore(conn).due_for_renewal(now, retry_failed_after=DAY_SECONDS, limit=50)
    assert sorted(d.arn.rsplit("/", 1)[1] for d in due) == ["due", "failed-long-ago"]
