"""Event delivery: the worker that takes pending deliveries from the outbox to the sinks, and
the loop (beside the background work of every server process) that runs it and the daily
expiry sweep. docs/events.md has the design and the guarantees.

Renewal code emits through `emit_available`, `emit_renewal_action_required` and
`emit_health_event` below, in the transaction that commits the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import Connection

from openacm.adapters.events.base import Outcome, Sink
from openacm.adapters.events.jsonl_file import JsonLinesSink
from openacm.adapters.events.nats_subject import NatsSink
from openacm.adapters.events.webhook import WebhookSink
from openacm.adapters.store.database import Database
from openacm.adapters.store.events import Delivery, EventOutbox
from openacm.config import EventSettings, SinkSettings
from openacm.domain import events
from openacm.domain.certificates import CertificateRecord
from openacm.services.clock import interval_passed

log = logging.getLogger("openacm.events")
# Delivered events past the retention are looked for this often, and deleted this many per
# transaction (short transactions keep SQLite's single writer free).
PRUNE_INTERVAL_SECONDS = 3600.0
PRUNE_BATCH = 500


# -- the emit API (call inside the transaction that commits the change) -----------------------


def emit_available(conn: Connection, record: CertificateRecord, action: str, now: float) -> str:
    """`ACM Certificate Available` with Action ISSUANCE, RENEWAL, IMPORT or REIMPORT."""
    return EventOutbox(conn).emit(events.available(record, now, action), now)


def emit_renewal_action_required(
    conn: Connection, record: CertificateRecord, reason: str, now: float
) -> str:
    """`ACM Certificate Renewal Action Required` with a RenewalStatusReason."""
    return EventOutbox(conn).emit(events.renewal_action_required(record, now, reason), now)


def emit_health_event(
    conn: Connection,
    record: CertificateRecord,
    event_type_code: str,
    description: str,
    now: float,
    *,
    status_code: str = events.HEALTH_OPEN,
    start_time: float | None = None,
    category: str = events.SCHEDULED_CHANGE,
) -> str:
    """An `AWS Health Event` (aws.health) about the certificate's renewal."""
    event = events.health_event(
        record,
        now,
        event_type_code,
        description,
        category=category,
        status_code=status_code,
        start_time=start_time,
    )
    return EventOutbox(conn).emit(event, now)


# -- sinks ------------------------------------------------------------------------------------


def build_sink(settings: SinkSettings) -> Sink:
    if settings.type == "webhook":
        return WebhookSink(
            settings.name,
            settings.url,
            settings.secret,
            timeout=settings.timeout,
            ca_file=settings.ca_file or None,
        )
    if settings.type == "file":
        return JsonLinesSink(settings.name, settings.path)
    if settings.type == "nats":
        return NatsSink(settings.name, settings.url, settings.subject, timeout=settings.timeout)
    raise ValueError(f"events sink {settings.name}: unknown type {settings.type}")


def register_sinks(db: Database, settings: EventSettings, now: float) -> None:
    """Make the configured sinks the active ones (done once per `serve`, before the workers
    start): from then on every emitted event gets a delivery row for each."""
    with db.write() as conn:
        EventOutbox(conn).register_sinks(((s.name, s.type) for s in settings.sinks), now)


def retry_delay(sink: SinkSettings, attempts: int) -> float:
    """Exponential backoff: retry_initial, doubled per failed attempt, at most retry_max."""
    delay: float = min(sink.retry_initial * 2.0 ** min(attempts - 1, 30), sink.retry_max)
    return delay


# -- delivery ---------------------------------------------------------------------------------


class EventDelivery:
    """Leases due deliveries of this process's sinks, delivers them, records the outcome."""

    def __init__(
        self, db: Database, settings: EventSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.sink_settings = {sink.name: sink for sink in settings.sinks}
        self.sinks = {sink.name: build_sink(sink) for sink in settings.sinks}
        self.owner = f"events-{uuid.uuid4().hex[:12]}"

    def run_once(self, now: float) -> int:
        """One batch; returns how many deliveries it settled (delivered, retried or dead)."""
        names = list(self.sinks)
        if not names:
            return 0
        with self.db.read() as conn:
            if not EventOutbox(conn).any_due(names, now):
                return 0
        with self.db.write() as conn:
            leased = EventOutbox(conn).lease_due(
                names,
                self.owner,
                now=now,
                lease_seconds=self.settings.lease_seconds,
                limit=self.settings.batch_size,
            )
        by_sink: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in leased:
            by_sink[delivery.sink].append(delivery)
        settled = 0
        for name, batch in by_sink.items():
            settled += self._deliver(name, batch)
        return settled

    def _deliver(self, name: str, batch: list[Delivery]) -> int:
        try:
            outcomes = self.sinks[name].deliver(
                [d.body for d in batch], [d.attempts for d in batch]
            )
        except Exception as exc:  # a sink bug must not stop the others; retried later
            log.exception("events sink failed", extra={"sink": name})
            outcomes = [Outcome(False, f"{type(exc).__name__}: {exc}")] * len(batch)
        sink = self.sink_settings[name]
        now = self.clock()
        delivered = [d for d, o in zip(batch, outcomes, strict=True) if o.delivered]
        untried = [d for d, o in zip(batch, outcomes, strict=True) if not o.tried]
        with self.db.write() as conn:
            outbox = EventOutbox(conn)
            outbox.mark_delivered(delivered, self.owner, now)
            pause_until: float | None = None
            for delivery, outcome in zip(batch, outcomes, strict=True):
                if outcome.tried and not outcome.delivered:
                    retry_at = self._failed(outbox, sink, delivery, outcome.error or "failed", now)
                    pause_until = min(pause_until or retry_at, retry_at)
            # The sink is failing: what it did not try waits as long as what failed (no
            # attempt counted), so a receiver that is down is probed once per backoff, not
            # once per event.
            outbox.release(untried, self.owner, now, due_at=pause_until)
        return len(batch) - len(untried)

    def _failed(
        self, outbox: EventOutbox, sink: SinkSettings, delivery: Delivery, error: str, now: float
    ) -> float:
        """Record a failed attempt; returns when the sink is worth trying again."""
        attempts = delivery.attempts + 1
        retry_at = now + retry_delay(sink, attempts)
        if attempts >= sink.max_attempts:
            log.error(
                "event dead-lettered",
                extra={"sink": sink.name, "event_id": delivery.event_id, "error": error},
            )
            outbox.failed(delivery, self.owner, now=now, error=error, retry_at=None)
            return retry_at
        log.warning(
            "event delivery failed",
            extra={"sink": sink.name, "event_id": delivery.event_id, "error": error},
        )
        outbox.failed(delivery, self.owner, now=now, error=error, retry_at=retry_at)
        return retry_at

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()


# -- the loop ---------------------------------------------------------------------------------


class EventWork:
    """Delivery back to back while there is some, the expiry sweep every `sweep_interval`;
    its own task beside BackgroundWork's, so that a slow webhook never delays issuance."""

    def __init__(
        self,
        delivery: EventDelivery,
        sweep: Callable[[float], int] | None,
        settings: EventSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.delivery = delivery
        self.sweep = sweep
        self.settings = settings
        self.clock = clock
        self._swept_at: float | None = None
        self._pruned_at: float | None = None

    def tick(self) -> int:
        done = 0
        now = self.clock()
        if self.sweep is not None and (
            interval_passed(self._swept_at, now, self.settings.sweep_interval)
        ):
            self._swept_at = now
            try:
                done += self.sweep(now)
            except Exception:
                log.exception("expiry sweep failed")  # tried again at the next interval
        done += self.delivery.run_once(self.clock())
        if self.settings.retention_days > 0 and (
            interval_passed(self._pruned_at, now, PRUNE_INTERVAL_SECONDS)
        ):
            self._pruned_at = now
            self.prune(now)
        return done

    def prune(self, now: float) -> int:
        """Delete delivered events past the retention, a batch per transaction."""
        before = now - self.settings.retention_days * events.DAY_SECONDS
        pruned = 0
        try:
            while True:
                with self.delivery.db.write() as conn:
                    count = EventOutbox(conn).prune(before, limit=PRUNE_BATCH)
                pruned += count
                if count < PRUNE_BATCH:
                    return pruned
        except Exception:
            log.exception("pruning delivered events failed")  # tried again later
            return pruned

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    done = await asyncio.to_thread(self.tick)
                except Exception:
                    log.exception("event delivery tick failed")
                    done = 0
                if done:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_interval)
        finally:
            self.delivery.close()
