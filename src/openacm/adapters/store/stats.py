"""What /metrics reports from the store, read at scrape time: certificate counts, the state
of every queue (work items, the leaf key pool, CRLs to re-sign, event deliveries) and each
issued certificate's days to expiry.

The counts are GROUP BYs over an index (or over a few rows: CAs), so they stay cheap with
millions of certificates; DaysToExpiry is one row per unexpired issued certificate, as the
seeds' CloudWatch metric is one series per certificate. Every server process answers the same
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select

from openacm.adapters.store.events import EventOutbox
from openacm.adapters.store.schema import certificates, issuing_cas, key_pool, work_items


@dataclass(frozen=True)
class QueueState:
    """One queue now: items waiting (depth), those due, and the earliest due time among
    the due ones (None when nothing is due)."""

    depth: int
    due: int
    oldest_due_at: float | None


@dataclass(frozen=True)
class StoreStats:
    # (type, status) -> count; ISSUED certificates past NotAfter count as EXPIRED, as the
    # API shows them.
    certificates: dict[tuple[str, str], int]
    work: dict[str, QueueState]  # by work item kind ("validate", ...)
    key_pool: dict[str, QueueState]  # by key algorithm; every pooled key is "due"
    crl_next_updates: dict[str, float | None]  # by CA id
    deliveries: dict[tuple[str, str], int]  # (sink, status) -> event deliveries
    expiries: list[tuple[str, float]]  # (ARN, NotAfter) of every unexpired ISSUED certificate


def read_stats(conn: Connection, now: float) -> StoreStats:
    return StoreStats(
        certificates=_certificates(conn, now),
        work=_work(conn, now),
        key_pool=_key_pool(conn),
        deliveries=EventOutbox(conn).counts(),
        expiries=_expiries(conn, now),
        crl_next_updates={
            ca_id: next_update
            for ca_id, next_update in conn.execute(
                select(issuing_cas.c.ca_id, issuing_cas.c.crl_next_update)
            )
        },
    )


def _certificates(conn: Connection, now: float) -> dict[tuple[str, str], int]:
    c = certificates.c
    status = case(((c.status == "ISSUED") & (c.not_after < now), "EXPIRED"), else_=c.status).label(
        "shown_status"
    )
    rows = conn.execute(
        select(c.type, status, func.count()).group_by(c.type, status).order_by(c.type, status)
    )
    return {(kind, shown): int(count) for kind, shown, count in rows}


def _expiries(conn: Connection, now: float) -> list[tuple[str, float]]:
    c = certificates.c
    rows = conn.execute(
        select(c.arn, c.not_after).where(c.status == "ISSUED", c.not_after > now).order_by(c.arn)
    )
    return [(arn, float(not_after)) for arn, not_after in rows]


def _work(conn: Connection, now: float) -> dict[str, QueueState]:
    w = work_items.c
    is_due = w.due_at <= now
    rows = conn.execute(
        select(
            w.kind,
            func.count(),
            func.sum(case((is_due, 1), else_=0)),
            func.min(case((is_due, w.due_at), else_=None)),
        ).group_by(w.kind)
    )
    return {
        kind: QueueState(int(depth), int(due or 0), oldest) for kind, depth, due, oldest in rows
    }


def _key_pool(conn: Connection) -> dict[str, QueueState]:
    k = key_pool.c
    rows = conn.execute(
        select(k.key_algorithm, func.count(), func.min(k.created_at)).group_by(k.key_algorithm)
    )
    return {
        algorithm: QueueState(int(depth), int(depth), oldest) for algorithm, depth, oldest in rows
    }
