"""Sign-in rate limiting: failed sign-ins counted per source address and per access key id
over a sliding window; past either limit, sign-in is refused without trying the key until the
oldest counted failure leaves the window.

Counted in files under DATA_DIR/console-sign-in (one per address or key, named by the SHA-256
of what it counts, updated under an exclusive lock), so every worker of a `--workers N` server
counts the same failures, as it shares console sessions. Only failures count: a user signing
in often is not slowed, and a valid key does not reset an address's count. The per-key limit
only guards console sign-in; the API answers the key as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

WINDOW_SECONDS = 15 * 60
PER_ADDRESS = 20
PER_KEY = 5
# Beyond this many counting files, those with no failure left in the window are removed.
MAX_FILES = 1_000


@dataclass(frozen=True)
class Limits:
    window: float = WINDOW_SECONDS
    per_address: int = PER_ADDRESS
    per_key: int = PER_KEY


class SignInThrottle:
    def __init__(
        self,
        directory: Path,
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.limits = limits
        self._clock = clock

    def refused_until(self, address: str, access_key_id: str) -> float | None:
        """When sign-in from `address` with `access_key_id` may be tried again, or None if
        it may be tried now."""
        now = self._clock()
        until = None
        for bucket, limit in self._buckets(address, access_key_id):
            with self._locked(bucket) as failures:
                recent = [t for t in failures if t > now - self.limits.window]
                if len(recent) >= limit:
                    moment = recent[-limit] + self.limits.window
                    until = moment if until is None else max(until, moment)
        return until

    def failed(self, address: str, access_key_id: str) -> None:
        now = self._clock()
        for bucket, limit in self._buckets(address, access_key_id):
            with self._locked(bucket, write=True) as failures:
                kept = [t for t in failures if t > now - self.limits.window][-limit:]
                failures[:] = [*kept, now]
        self._tidy(now)

    def _buckets(self, address: str, access_key_id: str) -> list[tuple[str, int]]:
        buckets = [(f"address:{address}", self.limits.per_address)]
        if access_key_id:
            buckets.append((f"key:{access_key_id}", self.limits.per_key))
        return buckets

    @contextlib.contextmanager
    def _locked(self, bucket: str, *, write: bool = False) -> Iterator[list[float]]:
        """The bucket's failure times, under the file's lock; changes to the list are written
        back when `write`."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / hashlib.sha256(bucket.encode()).hexdigest()
        if not write and not path.exists():
            yield []
            return
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "r+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                failures = [float(t) for t in orjson.loads(file.read() or b"[]")]
            except (orjson.JSONDecodeError, TypeError, ValueError):
                failures = []  # a damaged file counts nothing
            yield failures
            if write:
                file.seek(0)
                file.truncate()
                file.write(orjson.dumps(failures))

    def _tidy(self, now: float) -> None:
        paths = list(self.directory.iterdir())
        if len(paths) <= MAX_FILES:
            return
        for path in paths:
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < now - self.limits.window:
                    path.unlink()
