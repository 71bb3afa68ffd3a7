"""The installation's clock: the time every lifecycle decision is taken at.

In production it is the system clock. With `--dev` it is the system clock plus an offset kept
in the store, so that every process of the installation moves together and a year of
certificate lifecycle (renewal windows, notices, expiry) plays in seconds: `openacm clock
advance 60d`, or `POST /dev/clock` on a `--dev` server (docs/renewal.md). The offset only
moves forward in practice, but nothing depends on that.

SigV4 request signatures are always checked against the real time: a client signs with its
own clock, which nobody moved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from openacm.adapters.store.clock import DevClockStore
from openacm.adapters.store.database import Database

# How stale a process's view of the offset may be: another process that moved the clock is
# followed within this time.
OFFSET_REFRESH_SECONDS: Final = 0.25


class InstallationClock:
    def __init__(self, db: Database, *, movable: bool) -> None:
        self.db = db
        self.movable = movable
        self._offset = 0.0
        self._read_at = -OFFSET_REFRESH_SECONDS
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self.offset()

    def offset(self) -> float:
        if not self.movable:
            return 0.0
        with self._lock:
            if time.monotonic() - self._read_at >= OFFSET_REFRESH_SECONDS:
                with self.db.read() as conn:
                    self._offset = DevClockStore(conn).offset()
                self._read_at = time.monotonic()
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock `seconds` forward (backward when negative); the new time."""
        return self._move(lambda offset: offset + seconds)

    def reset(self) -> float:
        """Back to the system clock."""
        return self._move(lambda _offset: 0.0)

    def _move(self, change: Callable[[float], float]) -> float:
        if not self.movable:
            raise PermissionError("the clock moves only in --dev mode")
        with self.db.write() as conn:  # read and write in one transaction: moves add up
            store = DevClockStore(conn)
            offset = change(store.offset())
            store.set_offset(offset, now=time.time())
        with self._lock:
            self._offset, self._read_at = offset, time.monotonic()
        return time.time() + offset


def interval_passed(last: float | None, now: float, interval: float) -> bool:
    """Whether periodic work last done at `last` is due again at `now`. A clock that moved
    back (`--dev`: `openacm clock reset`) makes it due at once rather than for as long as it
    moved back."""
    return last is None or not 0 <= now - last < interval
