"""The work every server process does besides answering requests: validating and issuing
pending certificates, starting managed renewals, keeping CRLs fresh, refilling the leaf key
pool.

It runs in a worker thread (the checks block on DNS and the database), one tick every
`poll_interval` seconds, at once when a request of this process scheduled work, and back to
back while ticks find work; everything it touches is leased or transactional, so any number
of processes may run it against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence, Sized

from openacm.adapters.metrics import CRL_QUEUE, KEY_POOL_QUEUE, VALIDATION_QUEUE, Metrics
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.adapters.store.work import WORK_SCHEDULED
from openacm.config import IssuanceSettings
from openacm.services.acm.renewal_scheduler import RenewalScheduler
from openacm.services.acm.validation_worker import ValidationWorker
from openacm.services.clock import interval_passed
from openacm.services.events import EventWork
from openacm.services.pca.revocation import PrivateCaRevocation
from openacm.services.pki.builtin_ca import BuiltinCa
from openacm.services.pki.crls import regenerate_crl
from openacm.services.pki.leaf_keys import LeafKeys

log = logging.getLogger("openacm.background")
# Due CRLs are looked for at most this often: ticks come back to back under load, and a CRL
# is re-signed hours before it expires.
CRL_CHECK_SECONDS = 1.0
# Pool keys are generated only once no certificate has moved for this long: a key takes a
# core for tens of milliseconds, which a burst of requests should not have to share, nor wait
# for between two of its batches.
REFILL_AFTER_IDLE_SECONDS = 0.5


class BackgroundWork:
    def __init__(
        self,
        db: Database,
        worker: ValidationWorker,
        ca: BuiltinCa,
        keys: LeafKeys,
        issuance: IssuanceSettings,
        *,
        poll_interval: float,
        clock: Callable[[], float] = time.time,
        renewals: RenewalScheduler | None = None,
        metrics: Metrics | None = None,
        events: EventWork | None = None,
        private_cas: PrivateCaRevocation | None = None,
        more_work: Sequence[Callable[[float], Sized]] = (),
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.worker = worker
        self.ca = ca
        self.keys = keys
        self.issuance = issuance
        self.poll_interval = poll_interval
        self.clock = clock
        self.renewals = renewals
        self.events = events
        self.private_cas = private_cas
        # Other leased work of the same loop (approval mails, moves to DNS validation): each
        # takes the time and returns what it did.
        self.more_work = tuple(more_work)
        self._crls_checked_at: float | None = None
        self._last_moved = time.monotonic()

    def tick(self) -> int:
        """One round of every kind of work; returns how many things it did (certificates
        moved, pool keys added): the loop comes straight back while there is work."""
        results = self.worker.run_once(self.clock())
        self._count_validation([result.outcome for result in results])
        moved = len(results)
        moved += sum(len(run_once(self.clock())) for run_once in self.more_work)
        now = self.clock()
        if self.renewals is not None:
            moved += self.renewals.sweep_if_due(now)
        if interval_passed(self._crls_checked_at, now, CRL_CHECK_SECONDS):
            self._crls_checked_at = now
            self.refresh_crls(now)
        if moved:
            self._last_moved = time.monotonic()
            return moved
        if time.monotonic() - self._last_moved < REFILL_AFTER_IDLE_SECONDS:
            return 0
        # Key generation only when there was nothing more urgent to do, one key per tick, so
        # that work arriving meanwhile waits for one key generation at most.
        added = self.keys.refill(now=self.clock(), limit=1)
        if self.metrics is not None:
            self.metrics.count_processed(KEY_POOL_QUEUE, "generated", added)
        return added

    def _count_validation(self, outcomes: list[str]) -> None:
        if self.metrics is None:
            return
        for outcome in set(outcomes):
            self.metrics.count_processed(VALIDATION_QUEUE, outcome, outcomes.count(outcome))
        self.metrics.count_issued("builtin", outcomes.count("issued"))

    def refresh_crls(self, now: float) -> None:
        # A CRL is re-signed once `crl_refresh_seconds` of its validity have passed.
        horizon = now + self.issuance.crl_validity_seconds - self.issuance.crl_refresh_seconds
        with self.db.read() as conn:
            due = AuthorityStore(conn).crl_due(horizon)
        for ca_id in due:
            ca = self.ca.by_id.get(ca_id)
            if ca is None:
                continue
            with self.db.write() as conn:
                # Re-check inside the write: another process may have just done it.
                signed = ca_id in AuthorityStore(conn).crl_due(horizon)
                if signed:
                    regenerate_crl(
                        conn, ca, now=now, validity_seconds=self.issuance.crl_validity_seconds
                    )
            if signed and self.metrics is not None:
                self.metrics.count_processed(CRL_QUEUE, "signed")
        if self.private_cas is not None:
            self.private_cas.refresh_due(now)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def wake_up() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

        unsubscribe = WORK_SCHEDULED.subscribe(wake_up)
        # Event delivery runs beside the ticks, not in them: a slow webhook must not hold
        # back issuance, nor issuance the events.
        events = asyncio.create_task(self.events.run(stop)) if self.events else None
        try:
            try:
                await asyncio.to_thread(self.worker.issuer.warm_up)
            except Exception:
                log.exception("issuer warm-up failed")  # the first certificate will do it
            while not stop.is_set():
                wake.clear()  # work scheduled during the tick sets it again: no lost wake-up
                try:
                    done = await asyncio.to_thread(self.tick)
                except Exception:
                    log.exception("background tick failed")
                    done = 0
                if done:
                    continue  # more may be due right away
                await _first_of(stop, wake, timeout=self.poll_interval)
        finally:
            unsubscribe()
            self.keys.close()
            if events is not None:
                await events


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Return when one of `events` is set or after `timeout` seconds."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
