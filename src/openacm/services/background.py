"""The work every server process does besides answering requests: validating and issuing
pending certificates, keeping CRLs fresh, refilling the leaf key pool.

It runs in a worker thread (the checks block on DNS and the database), one tick every
`poll_interval` seconds; everything it touches is leased or transactional, so any number of
processes may run it against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.config import IssuanceSettings
from openacm.services.acm.validation_worker import ValidationWorker
from openacm.services.pki.builtin_ca import BuiltinCa
from openacm.services.pki.crls import regenerate_crl
from openacm.services.pki.leaf_keys import LeafKeys

log = logging.getLogger("openacm.background")


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
    ) -> None:
        self.db = db
        self.worker = worker
        self.ca = ca
        self.keys = keys
        self.issuance = issuance
        self.poll_interval = poll_interval
        self.clock = clock

    def tick(self) -> int:
        """One round of every kind of work; returns how many certificates it moved."""
        moved = len(self.worker.run_once(self.clock()))
        self.refresh_crls(self.clock())
        if not moved:
            # Key generation only when there was nothing more urgent to do.
            self.keys.refill(now=self.clock(), limit=2)
        return moved

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
                if ca_id in AuthorityStore(conn).crl_due(horizon):
                    regenerate_crl(
                        conn, ca, now=now, validity_seconds=self.issuance.crl_validity_seconds
                    )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                moved = await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("background tick failed")
                moved = 0
            if moved:
                continue  # more may be due right away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
