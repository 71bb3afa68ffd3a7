"""The `dev_clock` row: how far `--dev` moved the installation's clock (services/clock.py)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from openacm.adapters.store.schema import dev_clock

_ROW = 1


class DevClockStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def offset(self) -> float:
        value = self.conn.execute(
            select(dev_clock.c.offset_seconds).where(dev_clock.c.clock_id == _ROW)
        ).scalar_one_or_none()
        return float(value) if value is not None else 0.0

    def set_offset(self, offset_seconds: float, *, now: float) -> None:
        changed = self.conn.execute(
            update(dev_clock)
            .where(dev_clock.c.clock_id == _ROW)
            .values(offset_seconds=offset_seconds, updated_at=now)
        )
        if changed.rowcount == 0:
            self.conn.execute(
                insert(dev_clock).values(
                    clock_id=_ROW, offset_seconds=offset_seconds, updated_at=now
                )
            )
