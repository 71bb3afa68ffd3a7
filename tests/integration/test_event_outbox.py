"""The outbox on both stores: an event exists only with its transaction, several delivery
workers share the rows without delivering one twice, and a worker that dies holding leases
loses nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from openacm.adapters.events.base import DELIVERED, NOT_TRIED, Outcome
from openacm.adapters.store.database import Database
from openacm.adapters.store.events import DELIVERED as DELIVERED_STATUS
from openacm.adapters.store.events import PENDING, EventOutbox
from openacm.config import EventSettings, SinkSettings
from openacm.services.events import EventDelivery
from tests.conftest import IN_CI
from tests.support.server import (
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
)


class Recording:
    """A sink that remembers what it was given (thread-safe)."""

    def __init__(self, name: str, log: Counter[tuple[str, bytes]], lock: threading.Lock) -> None:
        self.name = name
        self.log = log
        self.lock = lock

    def deliver(self, bodies: Sequence[bytes], attempts: Sequence[int]) -> list[Outcome]:
        with self.lock:
            for body in bodies:
                self.log[(self.name, body)] += 1
        time.sleep(0.001)
        return [DELIVERED] * len(bodies)

    def close(self) -> None:
        pass


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    if request.param == "postgresql":
        reason = postgres_available()
        if reason:
            if IN_CI:
                pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
            pytest.skip(reason)
        url = create_postgres_database()
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def event(n: int) -> dict[str, object]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ACM Certificate Available",
        "source": "aws.acm",
        "account": "111122223333",
        "region": "us-east-1",
        "time": "2026-12-04T00:00:00Z",
        "resources": [f"arn:aws:acm:us-east-1:111122223333:certificate/{n}"],
        "detail": {"n": n},
    }


SETTINGS = EventSettings(
    lease_seconds=60,
    batch_size=16,
    sinks=(
        SinkSettings("a", "file", path="/dev/null"),
        SinkSettings("b", "file", path="/dev/null"),
    ),
)


def worker(db: Database, log: Counter[tuple[str, bytes]], lock: threading.Lock) -> EventDelivery:
    delivery = EventDelivery(db, SETTINGS)
    delivery.sinks = {name: Recording(name, log, lock) for name in ("a", "b")}  # type: ignore[misc]
    return delivery


def test_an_event_exists_only_if_its_transaction_commits(db: Database) -> None:
    with db.write() as conn:
        EventOutbox(conn).register_sinks([("a", "file")], time.time())
    with pytest.raises(RuntimeError), db.write() as conn:
        EventOutbox(conn).emit(event(0), time.time())
        raise RuntimeError("the change failed")
    with db.read() as conn:
        assert EventOutbox(conn).list() == []
    with db.write() as conn:
        event_id = EventOutbox(conn).emit(event(1), time.time())
    with db.read() as conn:
        (row,) = EventOutbox(conn).list()
    assert (row.event_id, row.sink, row.status) == (event_id, "a", PENDING)


def test_workers_share_the_deliveries_and_none_is_delivered_twice(db: Database) -> None:
    with db.write() as conn:
        EventOutbox(conn).register_sinks([("a", "file"), ("b", "file")], time.time())
    bodies = []
    for start in range(0, 120, 20):
        with db.write() as conn:
            outbox = EventOutbox(conn)
            for n in range(start, start + 20):
                outbox.emit(event(n), time.time())
    with db.read() as conn:
        ids = {v.event_id for v in EventOutbox(conn).list(limit=1000)}
        bodies = [EventOutbox(conn).event_body(i) for i in ids]
    assert len(bodies) == 120
    log: Counter[tuple[str, bytes]] = Counter()
    lock = threading.Lock()
    workers = [worker(db, log, lock) for _ in range(3)]

    def drain(delivery: EventDelivery) -> None:
        while delivery.run_once(time.time()):
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log) == 240  # every (event, sink)
    assert set(log.values()) == {1}  # each exactly once
    with db.read() as conn:
        assert EventOutbox(conn).counts() == {
            ("a", DELIVERED_STATUS): 120,
            ("b", DELIVERED_STATUS): 120,
        }


def test_a_worker_that_dies_holding_leases_loses_nothing(db: Database) -> None:
    with db.write() as conn:
        EventOutbox(conn).register_sinks([("a", "file")], time.time())
        EventOutbox(conn).emit(event(1), time.time())
    now = time.time()
    with db.write() as conn:
        # The dead worker's lease: taken, never settled.
        leased = EventOutbox(conn).lease_due(["a"], "dead", now=now, lease_seconds=5, limit=10)
    assert len(leased) == 1
    log: Counter[tuple[str, bytes]] = Counter()
    survivor = worker(db, log, threading.Lock())
    assert survivor.run_once(now + 1) == 0  # still leased
    assert survivor.run_once(now + 6) == 1  # the lease expired
    assert sum(log.values()) == 1
    with db.write() as conn:
        # The dead worker coming back cannot overwrite the outcome.
        assert EventOutbox(conn).mark_delivered(leased, "dead", now + 7) == 0


def test_delivered_events_past_the_retention_are_pruned(db: Database) -> None:
    day = 86400.0
    now = time.time()
    with db.write() as conn:
        outbox = EventOutbox(conn)
        outbox.register_sinks([("a", "file")], now)
        old_delivered = outbox.emit(event(1), now - 40 * day)
        old_pending = outbox.emit(event(2), now - 40 * day)
        recent = outbox.emit(event(3), now - day)
    with db.write() as conn:
        outbox = EventOutbox(conn)
        leased = outbox.lease_due(["a"], "w", now=now, lease_seconds=60, limit=10)
        done = [d for d in leased if d.event_id in (old_delivered, recent)]
        assert outbox.mark_delivered(done, "w", now) == 2
        outbox.release([d for d in leased if d.event_id == old_pending], "w", now)
    with db.write() as conn:
        assert EventOutbox(conn).prune(now - 30 * day) == 1
    with db.read() as conn:
        outbox = EventOutbox(conn)
        assert outbox.event_body(old_delivered) is None
        assert outbox.event_body(old_pending) is not None  # never delivered: kept
        assert outbox.event_body(recent) is not None  # within the retention


class Failing:
    """A sink whose receiver is down: fails the first event, leaves the rest untried (as the
    webhook sink does)."""

    name = "a"

    def __init__(self) -> None:
        self.tries = 0

    def deliver(self, bodies: Sequence[bytes], attempts: Sequence[int]) -> list[Outcome]:
        self.tries += 1
        return [Outcome(False, "ConnectionRefusedError"), *[NOT_TRIED] * (len(bodies) - 1)]

    def close(self) -> None:
        pass


def test_a_failing_sink_is_probed_once_per_backoff_not_once_per_event(db: Database) -> None:
    with db.write() as conn:
        EventOutbox(conn).register_sinks([("a", "file")], time.time())
        for n in range(5):
            EventOutbox(conn).emit(event(n), time.time())
    settings = EventSettings(
        sinks=(SinkSettings("a", "file", path="/dev/null", retry_initial=30, max_attempts=5),)
    )
    now = time.time()
    delivery = EventDelivery(db, settings, clock=lambda: now)
    failing = Failing()
    delivery.sinks = {"a": failing}  # type: ignore[dict-item]
    assert delivery.run_once(now) == 1
    assert delivery.run_once(now) == 0  # all of them wait for the backoff
    assert failing.tries == 1
    with db.read() as conn:
        rows = EventOutbox(conn).list(status=PENDING)
    assert sorted(r.attempts for r in rows) == [0, 0, 0, 0, 1]
    assert {r.due_at for r in rows} == {now + 30}
    assert [r.last_error for r in rows if r.attempts] == ["ConnectionRefusedError"]
    assert delivery.run_once(now + 31) == 1
    assert failing.tries == 2
