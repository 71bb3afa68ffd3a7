"""The daily expiry sweep: `ACM Certificate Approaching Expiration` and `ACM Certificate Expired`.

Once per UTC day and per account and region (inventory §10):

- Approaching Expiration for every ISSUED certificate, of every type (imported too), whose
  whole days to expiry are at most the account's DaysBeforeExpiry (PutAccountConfiguration,
  default 45), every day until NotAfter;
- Expired once for an AMAZON_ISSUED or PRIVATE certificate (never an imported one) that has
  passed NotAfter, looked for over the last EXPIRED_LOOKBACK_DAYS.

A sweep of one (account, region, day) is leased (`expiry_sweeps`), so one process runs it
while the others skip it; each notice is recorded (`expiry_notices`) in the transaction that
emits its event, so a sweep resumed after a crash, or run twice, never sends a notice twice.
`run_once(now)` takes the time from its caller and never reads the clock: a test (or a
movable clock) plays any day it likes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from openacm.adapters.store.accounts import AccountStore
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.events import EventOutbox, NoticeLog
from openacm.adapters.store.schema import certificates, expiry_sweeps
from openacm.domain import events
from openacm.domain.certificates import CertificateRecord
from openacm.services.acm.account import DEFAULT_DAYS_BEFORE_EXPIRY

log = logging.getLogger("openacm.expiry")

DAY_SECONDS = events.DAY_SECONDS
# An ACM-issued certificate that expired while no server ran still gets its Expired event if
# a sweep runs within this many days.
EXPIRED_LOOKBACK_DAYS = 30
# Certificates per write transaction: short transactions keep SQLite's single writer free.
BATCH = 100
EXPIRY_TYPES = ("AMAZON_ISSUED", "PRIVATE")


@dataclass(frozen=True)
class Scope:
    account_id: str
    region: str


def day_of(now: float) -> int:
    """The UTC day number (days since the epoch) of `now`."""
    return int(now // DAY_SECONDS)


class ExpirySweep:
    def __init__(self, db: Database, *, lease_seconds: float = 300.0) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.owner = f"expiry-{uuid.uuid4().hex[:12]}"

    def run_once(self, now: float) -> int:
        """Sweep every account and region not swept yet on `now`'s day; returns the number of
        events emitted."""
        day = day_of(now)
        sent = 0
        for scope in self._scopes_due(day):
            if self._claim(scope, day, now):
                sent += self._sweep(scope, day, now)
        return sent

    # -- leases -------------------------------------------------------------------------------

    def _scopes_due(self, day: int) -> list[Scope]:
        with self.db.read() as conn:
            scopes = {
                Scope(account_id, region)
                for account_id, region in conn.execute(
                    select(certificates.c.account_id, certificates.c.region).distinct()
                )
            }
            done = {
                Scope(row.account_id, row.region)
                for row in conn.execute(
                    select(expiry_sweeps.c.account_id, expiry_sweeps.c.region).where(
                        expiry_sweeps.c.swept_day >= day
                    )
                )
            }
        return sorted(scopes - done, key=lambda s: (s.account_id, s.region))

    def _claim(self, scope: Scope, day: int, now: float) -> bool:
        """Take the lease of `scope`'s sweep for `day`; False when it is done or held."""
        try:
            with self.db.write() as conn:
                exists = conn.execute(
                    select(expiry_sweeps.c.swept_day).where(_scope_is(scope))
                ).first()
                if exists is None:
                    conn.execute(
                        insert(expiry_sweeps).values(
                            account_id=scope.account_id,
                            region=scope.region,
                            swept_day=-1,
                            lease_owner=self.owner,
                            lease_expires_at=now + self.lease_seconds,
                            updated_at=now,
                        )
                    )
                    return True
                claimed = conn.execute(
                    update(expiry_sweeps)
                    .where(_scope_is(scope), expiry_sweeps.c.swept_day < day)
                    .where(
                        or_(
                            expiry_sweeps.c.lease_expires_at.is_(None),
                            expiry_sweeps.c.lease_expires_at < now,
                            expiry_sweeps.c.lease_owner == self.owner,
                        )
                    )
                    .values(lease_owner=self.owner, lease_expires_at=now + self.lease_seconds)
                )
                return bool(claimed.rowcount == 1)
        except IntegrityError:
            return False  # another process created the row first, and holds it

    def _extend(self, conn: Connection, scope: Scope, now: float) -> bool:
        """Renew the lease in the batch's transaction; False when it was lost."""
        extended = conn.execute(
            update(expiry_sweeps)
            .where(_scope_is(scope), expiry_sweeps.c.lease_owner == self.owner)
            .values(lease_expires_at=now + self.lease_seconds)
        )
        return bool(extended.rowcount == 1)

    def _finish(self, scope: Scope, day: int, now: float) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(expiry_sweeps)
                .where(_scope_is(scope), expiry_sweeps.c.lease_owner == self.owner)
                .values(swept_day=day, lease_owner=None, lease_expires_at=None, updated_at=now)
            )

    # -- one account and region ---------------------------------------------------------------

    def _sweep(self, scope: Scope, day: int, now: float) -> int:
        with self.db.read() as conn:
            days_before = (
                AccountStore(conn).days_before_expiry(scope.account_id, scope.region)
                or DEFAULT_DAYS_BEFORE_EXPIRY
            )
            approaching = _approaching(conn, scope, now, days_before)
            expired = _expired(conn, scope, now)
        sent = 0
        candidates = [(arn, "approaching") for arn in approaching]
        candidates += [(arn, "expired") for arn in expired]
        for start in range(0, len(candidates), BATCH):
            batch = candidates[start : start + BATCH]
            with self.db.write() as conn:
                if not self._extend(conn, scope, now):
                    log.warning("expiry sweep lease lost", extra={"account": scope.account_id})
                    return sent
                sent += _notify_batch(conn, batch, day, days_before, now)
        self._finish(scope, day, now)
        if sent:
            log.info("expiry events sent", extra={"account": scope.account_id, "events": sent})
        return sent


def _scope_is(scope: Scope) -> ColumnElement[bool]:
    return and_(
        expiry_sweeps.c.account_id == scope.account_id,
        expiry_sweeps.c.region == scope.region,
    )


def _approaching(conn: Connection, scope: Scope, now: float, days_before: int) -> list[str]:
    # One day of slack past the window: whole days are rounded down (`days_to_expiry`).
    c = certificates.c
    return list(
        conn.execute(
            select(c.arn)
            .where(c.account_id == scope.account_id, c.region == scope.region)
            .where(c.status == "ISSUED", c.not_after > now)
            .where(c.not_after <= now + (days_before + 1) * DAY_SECONDS)
            .order_by(c.arn)
        ).scalars()
    )


def _expired(conn: Connection, scope: Scope, now: float) -> list[str]:
    c = certificates.c
    return list(
        conn.execute(
            select(c.arn)
            .where(c.account_id == scope.account_id, c.region == scope.region)
            .where(c.type.in_(EXPIRY_TYPES), c.status.in_(("ISSUED", "EXPIRED")))
            .where(c.not_after <= now, c.not_after > now - EXPIRED_LOOKBACK_DAYS * DAY_SECONDS)
            .order_by(c.arn)
        ).scalars()
    )


def notice_key(kind: str, record: CertificateRecord, day: int) -> str:
    """What makes a notice unique: Approaching once a day, Expired once per NotAfter (a
    renewed certificate that expires again is another expiry)."""
    if kind == "approaching":
        return f"approaching:{day}"
    return f"expired:{int(record.not_after or 0)}"


def _notify_batch(
    conn: Connection, batch: Sequence[tuple[str, str]], day: int, days_before: int, now: float
) -> int:
    """Emit each candidate's notice unless it was already sent; returns how many were sent.
    The certificate is read again in the writing transaction: one deleted or re-imported
    since the scan is judged on what it is now."""
    store = CertificateStore(conn)
    outbox, notices = EventOutbox(conn), NoticeLog(conn)
    sent = 0
    for arn, kind in batch:
        record = store.get(arn)
        if record is None or record.not_after is None:
            continue
        event = _event_for(kind, record, now, days_before)
        if event is None:
            continue
        key = notice_key(kind, record, day)
        if notices.sent(arn, key):
            continue
        notices.record(arn, key, outbox.emit(event, now), now)
        sent += 1
    return sent


def _event_for(
    kind: str, record: CertificateRecord, now: float, days_before: int
) -> dict[str, object] | None:
    assert record.not_after is not None
    if kind == "approaching":
        left = events.days_to_expiry(record, now)
        if record.status != "ISSUED" or record.not_after <= now or left > days_before:
            return None
        return events.approaching_expiration(record, now)
    if record.type not in EXPIRY_TYPES or record.not_after > now:
        return None
    if record.status not in ("ISSUED", "EXPIRED"):
        return None
    return events.expired(record, now)
