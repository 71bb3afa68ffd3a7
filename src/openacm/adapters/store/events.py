"""The durable event outbox: events written with the change that caused them, then delivered.

`EventOutbox(conn).emit(event, now)` runs in the caller's transaction: it stores the event
and one delivery row per active sink, so an event exists exactly when the change committed,
and every sink's copy is tracked on its own (a webhook that is down does not hold back the
file sink). Delivery rows are leased like work items (adapters/store/work.py): a
compare-and-set `UPDATE ... WHERE lease is free`, correct on SQLite (one writer) and on
PostgreSQL (the row lock makes the losing UPDATE match nothing). A process that dies holding
leases lets them expire and another takes the rows: at-least-once, never lost.

A delivery row is `pending` (due_at, attempts), `delivered`, or `dead` (dead-lettered after
the sink's attempt limit, kept with its last error until re-queued).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from openacm.adapters.store.schema import (
    event_deliveries,
    event_outbox,
    event_sinks,
    expiry_notices,
)

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
DELIVERY_STATUSES = (PENDING, DELIVERED, DEAD)


@dataclass(frozen=True)
class Delivery:
    """One sink's copy of one event, as a worker leased it."""

    delivery_id: int
    event_id: str
    sink: str
    attempts: int
    body: bytes  # the event's JSON, exactly as stored


@dataclass(frozen=True)
class DeliveryView:
    """A delivery row with its event's headline, for `openacm events list`."""

    delivery_id: int
    event_id: str
    sink: str
    status: str
    attempts: int
    due_at: float
    last_error: str | None
    detail_type: str
    resource_arn: str
    created_at: float
    delivered_at: float | None


_d = event_deliveries.c
_FREE = or_(_d.lease_expires_at.is_(None), _d.lease_expires_at < bindparam("now"))
_HELD = and_(_d.lease_owner == bindparam("owner"), _d.lease_expires_at >= bindparam("now"))


class EventOutbox:
    """Queries on one connection (one transaction); callers decide the boundaries."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- emitting ---------------------------------------------------------------------------

    def emit(self, event: Mapping[str, Any], now: float) -> str:
        """Store `event` (a builder's dict from domain/events.py) and a pending delivery for
        each active sink, in the caller's transaction; returns the event id."""
        event_id = str(event["id"])
        resources = event.get("resources") or [""]
        self.conn.execute(
            insert(event_outbox).values(
                event_id=event_id,
                account_id=str(event["account"]),
                region=str(event["region"]),
                resource_arn=str(resources[0]),
                source=str(event["source"]),
                detail_type=str(event["detail-type"]),
                body_json=orjson.dumps(event).decode(),
                created_at=now,
            )
        )
        sinks = self.conn.execute(
            select(event_sinks.c.name).where(event_sinks.c.active.is_(True))
        ).scalars()
        rows = [_new_delivery(event_id, sink, now) for sink in sinks]
        if rows:
            self.conn.execute(insert(event_deliveries), rows)
        return event_id

    # -- sinks ----------------------------------------------------------------------------

    def register_sinks(self, sinks: Iterable[tuple[str, str]], now: float) -> None:
        """Make exactly `sinks` (name, kind) the active ones: what a server does at start with
        its configuration. A sink left out keeps its rows (delivered when it comes back)."""
        wanted = dict(sinks)
        existing = {row.name: row for row in self.conn.execute(select(event_sinks)).all()}
        for name, kind in wanted.items():
            row = existing.get(name)
            if row is None:
                self.conn.execute(
                    insert(event_sinks).values(name=name, kind=kind, active=True, updated_at=now)
                )
            elif not row.active or row.kind != kind:
                self.conn.execute(
                    update(event_sinks)
                    .where(event_sinks.c.name == name)
                    .values(kind=kind, active=True, updated_at=now)
                )
        retired = [name for name, row in existing.items() if row.active and name not in wanted]
        if retired:
            self.conn.execute(
                update(event_sinks)
                .where(event_sinks.c.name.in_(retired))
                .values(active=False, updated_at=now)
            )

    def active_sinks(self) -> list[str]:
        return list(
            self.conn.execute(
                select(event_sinks.c.name).where(event_sinks.c.active.is_(True))
            ).scalars()
        )

    # -- delivering -----------------------------------------------------------------------

    def any_due(self, sinks: Sequence[str], now: float) -> bool:
        """A read, so that an idle worker need not take SQLite's write lock to find nothing."""
        if not sinks:
            return False
        query = (
            select(_d.delivery_id)
            .where(_d.sink.in_(sinks), _d.status == PENDING, _d.due_at <= now)
            .where(or_(_d.lease_expires_at.is_(None), _d.lease_expires_at < now))
            .limit(1)
        )
        return self.conn.execute(query).first() is not None

    def lease_due(
        self, sinks: Sequence[str], owner: str, *, now: float, lease_seconds: float, limit: int
    ) -> list[Delivery]:
        """Lease up to `limit` due deliveries of `sinks`, oldest event first."""
        if not sinks:
            return []
        candidates = list(
            self.conn.execute(
                select(_d.delivery_id)
                .where(_d.sink.in_(sinks), _d.status == PENDING, _d.due_at <= now)
                .where(or_(_d.lease_expires_at.is_(None), _d.lease_expires_at < now))
                .order_by(_d.delivery_id)  # the order the events were emitted in
                .limit(limit)
            ).scalars()
        )
        if not candidates:
            return []
        leased = self.conn.execute(
            update(event_deliveries)
            .where(_d.delivery_id.in_(candidates), _d.status == PENDING, _FREE)
            .values(lease_owner=owner, lease_expires_at=now + lease_seconds)
            .returning(_d.delivery_id),
            {"now": now},
        ).scalars()
        ids = list(leased)
        if not ids:
            return []
        rows = self.conn.execute(
            select(_d.delivery_id, _d.event_id, _d.sink, _d.attempts, event_outbox.c.body_json)
            .join(event_outbox, event_outbox.c.event_id == _d.event_id)
            .where(_d.delivery_id.in_(ids))
            .order_by(event_outbox.c.created_at, _d.delivery_id)
        ).all()
        return [
            Delivery(r.delivery_id, r.event_id, r.sink, r.attempts, r.body_json.encode())
            for r in rows
        ]

    def mark_delivered(self, deliveries: Sequence[Delivery], owner: str, now: float) -> int:
        """Close the deliveries whose lease `owner` still holds; returns how many. A lease
        lost meanwhile means another worker may deliver again: a duplicate, never a loss."""
        if not deliveries:
            return 0
        result = self.conn.execute(
            update(event_deliveries)
            .where(_d.delivery_id.in_([d.delivery_id for d in deliveries]), _HELD)
            .values(
                status=DELIVERED,
                attempts=_d.attempts + 1,
                delivered_at=now,
                updated_at=now,
                last_error=None,
                lease_owner=None,
                lease_expires_at=None,
            ),
            {"owner": owner, "now": now},
        )
        return int(result.rowcount)

    def failed(
        self,
        delivery: Delivery,
        owner: str,
        *,
        now: float,
        error: str,
        retry_at: float | None,
    ) -> bool:
        """One failed attempt: pending again at `retry_at`, or dead when it is None."""
        values: dict[str, Any] = {
            "attempts": delivery.attempts + 1,
            "last_error": error[:2000],
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["due_at"] = retry_at
        result = self.conn.execute(
            update(event_deliveries)
            .where(_d.delivery_id == delivery.delivery_id, _HELD)
            .values(**values),
            {"owner": owner, "now": now},
        )
        return bool(result.rowcount == 1)

    def release(
        self,
        deliveries: Sequence[Delivery],
        owner: str,
        now: float,
        *,
        due_at: float | None = None,
    ) -> None:
        """Give back leases of deliveries not attempted (their sink failed earlier in the
        batch), with no attempt counted; due again at `due_at` (unchanged when None)."""
        if not deliveries:
            return
        values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if due_at is not None:
            values["due_at"] = due_at
        self.conn.execute(
            update(event_deliveries)
            .where(_d.delivery_id.in_([d.delivery_id for d in deliveries]), _HELD)
            .values(**values),
            {"owner": owner, "now": now},
        )

    # -- operators ------------------------------------------------------------------------

    def list(
        self,
        *,
        status: str | None = None,
        sink: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryView]:
        """Deliveries, newest event first."""
        query = (
            select(
                _d.delivery_id,
                _d.event_id,
                _d.sink,
                _d.status,
                _d.attempts,
                _d.due_at,
                _d.last_error,
                _d.delivered_at,
                event_outbox.c.detail_type,
                event_outbox.c.resource_arn,
                event_outbox.c.created_at,
            )
            .join(event_outbox, event_outbox.c.event_id == _d.event_id)
            .order_by(event_outbox.c.created_at.desc(), _d.delivery_id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(_d.status == status)
        if sink is not None:
            query = query.where(_d.sink == sink)
        return [
            DeliveryView(
                r.delivery_id,
                r.event_id,
                r.sink,
                r.status,
                r.attempts,
                r.due_at,
                r.last_error,
                r.detail_type,
                r.resource_arn,
                r.created_at,
                r.delivered_at,
            )
            for r in self.conn.execute(query).all()
        ]

    def requeue_dead(
        self, now: float, *, delivery_ids: Sequence[int] = (), sink: str | None = None
    ) -> int:
        """Dead deliveries back to pending, due now, with their attempts reset (all of them,
        or the given ids, or one sink's); returns how many."""
        statement = (
            update(event_deliveries)
            .where(_d.status == DEAD)
            .values(status=PENDING, attempts=0, due_at=now, updated_at=now)
        )
        if delivery_ids:
            statement = statement.where(_d.delivery_id.in_(list(delivery_ids)))
        if sink is not None:
            statement = statement.where(_d.sink == sink)
        return int(self.conn.execute(statement).rowcount)

    def counts(self) -> dict[tuple[str, str], int]:
        """(sink, status) → deliveries: the backlog and the dead letters at a glance."""
        rows = self.conn.execute(
            select(_d.sink, _d.status, func.count()).group_by(_d.sink, _d.status)
        ).all()
        return {(sink, status): int(count) for sink, status, count in rows}

    def prune(self, before: float, *, limit: int = 1000) -> int:
        """Delete up to `limit` events older than `before` that every sink has delivered
        (or that had no sink), with their deliveries; pending and dead ones stay. Returns
        how many events went."""
        unsettled = (
            select(_d.delivery_id)
            .where(_d.event_id == event_outbox.c.event_id, _d.status != DELIVERED)
            .exists()
        )
        ids = list(
            self.conn.execute(
                select(event_outbox.c.event_id)
                .where(event_outbox.c.created_at < before, ~unsettled)
                .limit(limit)
            ).scalars()
        )
        if not ids:
            return 0
        self.conn.execute(delete(event_deliveries).where(_d.event_id.in_(ids)))
        self.conn.execute(delete(event_outbox).where(event_outbox.c.event_id.in_(ids)))
        return len(ids)

    def event_body(self, event_id: str) -> dict[str, Any] | None:
        body = self.conn.execute(
            select(event_outbox.c.body_json).where(event_outbox.c.event_id == event_id)
        ).scalar()
        return None if body is None else dict(orjson.loads(body))

    def for_resource(
        self, account_id: str, resource_arn: str, *, limit: int = 100
    ) -> Sequence[dict[str, Any]]:
        """The events about one resource of one account, newest first, as emitted (the
        console's certificate history). Pruning bounds how far back they go."""
        o = event_outbox.c
        bodies = self.conn.execute(
            select(o.body_json)
            .where(o.account_id == account_id, o.resource_arn == resource_arn)
            .order_by(o.created_at.desc(), o.event_id)
            .limit(limit)
        ).scalars()
        return [dict(orjson.loads(body)) for body in bodies]


def _new_delivery(event_id: str, sink: str, now: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sink": sink,
        "status": PENDING,
        "attempts": 0,
        # Due at once, whatever the delivering process's clock says: an event emitted at a
        # time played by a movable clock (the expiry sweep's `now`) is not held back.
        "due_at": 0.0,
        "created_at": now,
        "updated_at": now,
    }


class NoticeLog:
    """`expiry_notices`: which once-only notices a certificate has been sent (an expiry day,
    its expiry, a renewal notice day), each with the event that carried it. Recorded in the
    transaction that emits the event, so a notice is sent once even across crashes."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def sent(self, certificate_arn: str, notice: str) -> bool:
        return (
            self.conn.execute(
                select(expiry_notices.c.event_id).where(
                    expiry_notices.c.certificate_arn == certificate_arn,
                    expiry_notices.c.notice == notice,
                )
            ).first()
            is not None
        )

    def record(self, certificate_arn: str, notice: str, event_id: str, now: float) -> None:
        self.conn.execute(
            insert(expiry_notices).values(
                certificate_arn=certificate_arn, notice=notice, event_id=event_id, created_at=now
            )
        )
