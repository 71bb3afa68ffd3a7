"""The daily expiry sweep, played at chosen times through `ExpirySweep.run_once(now)` on a real
server's store (SQLite and PostgreSQL), the server delivering what the sweep emits.

Certificates are imported with short validity; one is turned into an AMAZON_ISSUED one in the
store (issuance takes DNS and a CA; the sweep only reads the row), since Expired is sent only
for ACM-issued certificates.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from openacm.adapters.store.database import Database
from openacm.adapters.store.events import EventOutbox
from openacm.adapters.store.schema import certificates, expiry_notices, expiry_sweeps
from openacm.services.expiry import ExpirySweep
from tests.conftest import finish_server, start_server
from tests.support import pki
from tests.support.server import OpenAcmServer

DAY = 86400.0
APPROACHING = "ACM Certificate Approaching Expiration"
EXPIRED = "ACM Certificate Expired"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def swept_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenAcmServer]:
    # The server's own sweep is off (interval 0): the test plays the days.
    server = start_server(
        tmp_path,
        request.param,
        env={
            "OPENACM_EVENTS_POLL_INTERVAL": "0.1",
            "OPENACM_EVENTS_SWEEP_INTERVAL": "0",
            "OPENACM_EVENTS_FILE": str(tmp_path / "events.jsonl"),
        },
    )
    try:
        yield server
    finally:
        finish_server(server)


def store_of(server: OpenAcmServer) -> Database:
    return Database(
        server.database_url or f"sqlite:///{(server.data_dir / 'openacm.db').resolve()}"
    )


def import_expiring(acm: Any, name: str, days: float) -> tuple[str, float]:
    issued = pki.issue(
        name,
        sans=[name],
        not_before=pki.now() - dt.timedelta(days=30),
        not_after=pki.now() + dt.timedelta(days=days),
    )
    arn = acm.import_certificate(**issued.import_args())["CertificateArn"]
    return arn, issued.certificate.not_valid_after_utc.timestamp()


def emitted(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        outbox = EventOutbox(conn)
        ids = {view.event_id for view in outbox.list(limit=10_000)}
        bodies = [outbox.event_body(event_id) for event_id in ids]
    return sorted((b for b in bodies if b), key=lambda e: (e["time"], e["resources"][0]))


def test_the_daily_sweep_sends_each_notice_once(swept_server: OpenAcmServer) -> None:
    server = swept_server
    first_account, first_key = server.new_account()
    second_account, second_key = server.new_account()
    first = server.client(key=first_key)
    second = server.client(key=second_key)
    soon, soon_end = import_expiring(first, "soon.example.com", 10)
    later, later_end = import_expiring(first, "later.example.com", 60)
    managed, managed_end = import_expiring(first, "managed.example.com", 3)
    # The second account hears of expiry 5 days ahead only.
    second.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 5}, IdempotencyToken="five")
    short, short_end = import_expiring(second, "short.example.com", 10)
    db = store_of(server)
    with db.write() as conn:
        conn.execute(
            sa.update(certificates)
            .where(certificates.c.arn == managed)
            .values(type="AMAZON_ISSUED", validation_method="DNS")
        )
    # Events the imports emitted (Available IMPORT) are not the sweep's.
    before = {e["id"] for e in emitted(db)}
    sweep = ExpirySweep(db)
    t0 = time.time()

    def play(at: float) -> list[tuple[str, str, Any]]:
        sent = sweep.run_once(at)
        new = [e for e in emitted(db) if e["id"] not in before]
        before.update(e["id"] for e in new)
        assert sent == len(new)
        return sorted(
            (
                e["resources"][0],
                e["detail-type"],
                e["detail"].get("DaysToExpiry"),
            )
            for e in new
        )

    def days_left(end: float, at: float) -> int:
        return math.floor((end - at) / DAY)

    assert play(t0) == sorted(
        [
            (soon, APPROACHING, days_left(soon_end, t0)),
            (managed, APPROACHING, days_left(managed_end, t0)),
        ]
    )
    assert play(t0 + 60) == []  # the same day: nothing twice
    t1 = t0 + DAY
    assert play(t1) == sorted(
        [
            (soon, APPROACHING, days_left(soon_end, t1)),
            (managed, APPROACHING, days_left(managed_end, t1)),
        ]
    )
    t5 = t0 + 5.5 * DAY  # the managed certificate expired; the second account's comes in range
    assert play(t5) == sorted(
        [
            (soon, APPROACHING, days_left(soon_end, t5)),
            (short, APPROACHING, days_left(short_end, t5)),
            (managed, EXPIRED, None),
        ]
    )
    t6 = t0 + 6.5 * DAY  # Expired was sent once: not again
    assert play(t6) == sorted(
        [
            (soon, APPROACHING, days_left(soon_end, t6)),
            (short, APPROACHING, days_left(short_end, t6)),
        ]
    )
    # Imported certificates past NotAfter: no Approaching any more, and never an Expired.
    assert play(t0 + 11 * DAY) == []
    t16 = t0 + 16 * DAY
    assert play(t16) == [(later, APPROACHING, days_left(later_end, t16))]

    # A sweep that died before recording its day is run again: the notices it sent stay sent.
    with db.write() as conn:
        conn.execute(sa.update(expiry_sweeps).values(swept_day=-1, lease_owner=None))
    assert play(t16 + 60) == []

    # Two processes sweeping the same day at once: one set of notices.
    t17 = t0 + 17 * DAY
    results: list[int] = []
    sweeps = [ExpirySweep(db), ExpirySweep(db)]
    threads = [threading.Thread(target=lambda s=s: results.append(s.run_once(t17))) for s in sweeps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    with db.read() as conn:
        notices = conn.execute(
            sa.select(expiry_notices.c.notice).where(expiry_notices.c.certificate_arn == later)
        ).scalars()
        assert sorted(notices) == sorted(f"approaching:{int(t // DAY)}" for t in (t16, t17))

    # The sweep's events carry the seeds' members and reach the sink like any other.
    expired_event = next(e for e in emitted(db) if e["detail-type"] == EXPIRED)
    assert expired_event["account"] == first_account
    assert expired_event["detail"]["CertificateType"] == "AMAZON_ISSUED"
    assert expired_event["detail"]["DomainValidationMethod"] == "DNS"
    assert expired_event["detail"]["CommonName"] == "managed.example.com"
    short_event = next(
        e for e in emitted(db) if e["resources"] == [short] and e["detail-type"] == APPROACHING
    )
    assert short_event["account"] == second_account
    assert short_event["detail"] == {  # the first of its notices
        "DaysToExpiry": days_left(short_end, t5),
        "CommonName": "short.example.com",
    }
    everything = {e["id"] for e in emitted(db)}
    lines = server.data_dir.parent / "events.jsonl"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        delivered = {json.loads(x)["id"] for x in lines.read_text().splitlines()}
        if delivered >= everything:
            break
        time.sleep(0.1)
    assert delivered >= everything
    db.dispose()
