"""A durable work queue with leases: what lets several server processes share one database.

An item is (kind, resource); a worker leases due items for a while, does the work, then
finishes them (delete) or reschedules them (new due time, lease released). A worker that dies
holding a lease simply lets it expire and another worker takes the item: nothing is lost on
`kill -9`, and as long as the work is finished or rescheduled only by the lease holder
(checked in the same transaction as the work's result), nothing is done twice.

Leasing is a compare-and-set per row (`UPDATE ... WHERE lease is free`), which is correct on
SQLite (writers are serialized) and on PostgreSQL (the row lock makes the losing UPDATE see
the new lease and match nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BindParameter,
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

from openacm.adapters.store.database import Database
from openacm.adapters.store.schema import work_items


class WorkSignal:
    """In-process news that work was just scheduled (and committed), so that this process's
    background loop looks at once instead of at its next poll. Other processes sharing the
    database find the work when they poll; this only saves the wait in the process that
    took the request."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` (from any thread) on each notification; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def notify(self) -> None:
        """Call after the transaction that scheduled the work has committed."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


WORK_SCHEDULED = WorkSignal()


@dataclass(frozen=True)
class WorkItem:
    item_id: int
    kind: str
    resource_arn: str
    due_at: float
    deadline_at: float | None
    attempts: int


# The statements are built once: building a SQLAlchemy statement costs far more than running
# it on SQLite (about 0.1 ms for a small one), and the worker runs these for every item.
_w = work_items.c
_FREE = or_(_w.lease_expires_at.is_(None), _w.lease_expires_at < bindparam("now"))
_HELD = and_(_w.lease_owner == bindparam("owner"), _w.lease_expires_at >= bindparam("now"))
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_EXISTING = select(_w.item_id, _w.due_at).where(
    _w.kind == bindparam("kind"), _w.resource_arn == bindparam("resource_arn")
)
_INSERT = insert(work_items)
_MOVE_EARLIER = (
    update(work_items)
    .where(_w.item_id == bindparam("item"))
    .values(due_at=bindparam("due_at"), deadline_at=bindparam("deadline_at"))
)
_ANY_DUE = (
    select(_w.item_id)
    .where(_w.kind == bindparam("kind"), _w.due_at <= bindparam("now"), _FREE)
    .limit(1)
)
_DUE = (
    select(_w.item_id)
    .where(_w.kind == bindparam("kind"), _w.due_at <= bindparam("now"), _FREE)
    .order_by(_w.due_at)
    .limit(bindparam("limit"))
)
_LEASE = (
    update(work_items)
    .where(_w.item_id.in_(_IDS), _FREE)
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("expires_at"))
    .returning(_w.item_id, _w.kind, _w.resource_arn, _w.due_at, _w.deadline_at, _w.attempts)
)
_STILL_HELD = select(_w.item_id).where(_w.item_id.in_(_IDS), _HELD)
_FINISH = delete(work_items).where(_w.item_id.in_(_IDS), _HELD)
_RESCHEDULE = (
    update(work_items)
    .where(_w.item_id == bindparam("item"), _HELD)
    .values(
        due_at=bindparam("due_at"),
        attempts=bindparam("attempts"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


# The kind of work item of a certificate being validated, issued or renewed (the validation
# worker's queue).
VALIDATE_WORK = "validate"


class WorkQueue:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def schedule(
        self, kind: str, resource_arn: str, *, due_at: float, deadline_at: float | None, now: float
    ) -> None:
        """Add an item, or move an existing one's due time earlier (never later)."""
        existing = self.conn.execute(
            _EXISTING, {"kind": kind, "resource_arn": resource_arn}
        ).first()
        if existing is None:
            self.conn.execute(
                _INSERT,
                {
                    "kind": kind,
                    "resource_arn": resource_arn,
                    "due_at": due_at,
                    "deadline_at": deadline_at,
                    "attempts": 0,
                    "created_at": now,
                },
            )
        elif due_at < existing.due_at:
            self.conn.execute(
                _MOVE_EARLIER,
                {"item": existing.item_id, "due_at": due_at, "deadline_at": deadline_at},
            )

    def any_due(self, kind: str, *, now: float) -> bool:
        """Whether an item is due and free: a read, so that an idle worker need not take
        the write lock (SQLite's only one) just to find nothing to lease."""
        return self.conn.execute(_ANY_DUE, {"kind": kind, "now": now}).first() is not None

    def lease_due(
        self, kind: str, owner: str, *, now: float, lease_seconds: float, limit: int
    ) -> list[WorkItem]:
        """Lease up to `limit` due items (earliest due first) in one compare-and-set UPDATE:
        an item another worker leased meanwhile fails the `free` condition and is skipped."""
        candidates = [
            item_id
            for (item_id,) in self.conn.execute(_DUE, {"kind": kind, "now": now, "limit": limit})
        ]
        if not candidates:
            return []
        rows = self.conn.execute(
            _LEASE,
            {"ids": candidates, "now": now, "owner": owner, "expires_at": now + lease_seconds},
        ).all()
        leased = [
            WorkItem(
                row.item_id, row.kind, row.resource_arn, row.due_at, row.deadline_at, row.attempts
            )
            for row in rows
        ]
        return sorted(leased, key=lambda item: item.due_at)

    def still_held(self, item: WorkItem, owner: str, now: float) -> bool:
        return item.item_id in self.held([item], owner, now)

    def held(self, items: Sequence[WorkItem], owner: str, now: float) -> set[int]:
        """The ids of `items` whose lease `owner` still holds, in one query."""
        if not items:
            return set()
        rows = self.conn.execute(
            _STILL_HELD, {"ids": [item.item_id for item in items], "owner": owner, "now": now}
        )
        return {item_id for (item_id,) in rows}

    def finish(self, item: WorkItem, owner: str, now: float) -> bool:
        """Remove the item; False when the lease was lost (someone else owns the item now)."""
        return self.finish_many([item], owner, now) == 1

    def finish_many(self, items: Sequence[WorkItem], owner: str, now: float) -> int:
        """Remove those of `items` whose lease `owner` still holds; returns how many."""
        if not items:
            return 0
        result = self.conn.execute(
            _FINISH, {"ids": [item.item_id for item in items], "owner": owner, "now": now}
        )
        return int(result.rowcount)

    def reschedule(self, item: WorkItem, owner: str, *, due_at: float, now: float) -> bool:
        result = self.conn.execute(
            _RESCHEDULE,
            {
                "item": item.item_id,
                "owner": owner,
                "now": now,
                "due_at": due_at,
                "attempts": item.attempts + 1,
            },
        )
        return bool(result.rowcount == 1)

    def cancel(self, kind: str, resource_arn: str) -> None:
        self.conn.execute(
            delete(work_items).where(
                work_items.c.kind == kind, work_items.c.resource_arn == resource_arn
            )
        )

    def pending_count(self, kind: str) -> int:
        return int(
            self.conn.execute(
                select(func.count()).select_from(work_items).where(work_items.c.kind == kind)
            ).scalar_one()
        )


def lease_due_items(
    db: Database, kind: str, owner: str, *, now: float, lease_seconds: float, limit: int
) -> list[WorkItem]:
    """What a worker's round starts with: its due items of `kind`, leased to `owner`. An idle
    round only reads (`any_due`), so it never takes the write lock (SQLite's only one) to
    find nothing."""
    with db.read() as conn:
        if not WorkQueue(conn).any_due(kind, now=now):
            return []
    with db.write() as conn:
        return WorkQueue(conn).lease_due(
            kind, owner, now=now, lease_seconds=lease_seconds, limit=limit
        )
