"""Where audit records go: the store (for `openacm audit search`) and a JSON-lines file.

Records of calls that changed something are written before the response leaves, so an
acknowledged change always has its record. Records of read-only calls are batched by a
writer thread (every FLUSH_SECONDS or FLUSH_BATCH records), which keeps a read from paying
for a write transaction; a crash can lose at most the last fraction of a second of them.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, select

from openacm.adapters.store.database import Database
from openacm.adapters.store.schema import audit_events

FLUSH_SECONDS = 0.2
FLUSH_BATCH = 500
EVENT_NAME_MAX = 64  # audit_events.event_name
log = logging.getLogger("openacm.audit")


@dataclass(frozen=True)
class AuditEntry:
    record: dict[str, Any]
    event_time: float  # epoch seconds; the record's eventTime has whole seconds only
    resource_arn: str | None


def _row(entry: AuditEntry, encoded: bytes) -> dict[str, Any]:
    record = entry.record
    identity = record.get("userIdentity") or {}
    return {
        "event_id": record["eventID"],
        "event_time": entry.event_time,
        "account_id": record.get("recipientAccountId"),
        "region": record.get("awsRegion"),
        "event_source": record["eventSource"],
        # What the caller put in X-Amz-Target, clipped to the column (record_json has it all):
        # one over-long name must not fail the batch it is written with.
        "event_name": record["eventName"][:EVENT_NAME_MAX],
        "error_code": record.get("errorCode"),
        "access_key_id": identity.get("accessKeyId"),
        "resource_arn": entry.resource_arn,
        "record_json": encoded.decode(),
    }


class AuditLog:
    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._pending: queue.Queue[AuditEntry] = queue.Queue()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._writer.start()

    def record(self, entry: AuditEntry, *, durable: bool) -> None:
        if durable:
            self._write([entry])
        else:
            self._pending.put(entry)

    def _write(self, batch: Sequence[AuditEntry]) -> None:
        encoded = [orjson.dumps(entry.record) for entry in batch]
        with self.db.write() as conn:
            conn.execute(
                insert(audit_events),
                [_row(entry, text) for entry, text in zip(batch, encoded, strict=True)],
            )
        # One write() per batch: O_APPEND keeps concurrent writers' lines whole.
        os.write(self._fd, b"\n".join(encoded) + b"\n")

    def _drain(self) -> list[AuditEntry]:
        batch: list[AuditEntry] = []
        while len(batch) < FLUSH_BATCH:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        while batch := self._drain():
            try:
                self._write(batch)
            except Exception:  # the server must keep serving; the failure is reported
                log.exception("could not write %d audit records", len(batch))
                return

    def close(self) -> None:
        self._stop.set()
        self._writer.join(timeout=5)
        self.flush()
        os.close(self._fd)


def search_events(
    db: Database,
    *,
    limit: int,
    event_names: Iterable[str] = (),
    account_id: str | None = None,
    access_key_id: str | None = None,
    error_code: str | None = None,
    resource_arn: str | None = None,
    since: float | None = None,
    until: float | None = None,
    newest_first: bool = True,
) -> list[dict[str, Any]]:
    a = audit_events.c
    query = select(a.record_json)
    names = list(event_names)
    if names:
        query = query.where(a.event_name.in_(names))
    for column, value in (
        (a.account_id, account_id),
        (a.access_key_id, access_key_id),
        (a.error_code, error_code),
        (a.resource_arn, resource_arn),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(a.event_time >= since)
    if until is not None:
        query = query.where(a.event_time <= until)
    order = a.event_time.desc() if newest_first else a.event_time
    query = query.order_by(order, a.event_id).limit(limit)
    with db.read() as conn:
        return [orjson.loads(text) for (text,) in conn.execute(query).all()]
