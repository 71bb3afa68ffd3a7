"""Where the token buckets of the request-rate limits live (docs/throttling.md).

- `MemoryBuckets`: this process's memory; the limit holds per process (one node, one worker).
- `RedisBuckets`: one Redis for every process and node, so the limit holds cluster-wide. Each
  take is one atomic Lua script on Redis's own clock, so concurrent requests on different nodes
  never both spend the last token and the nodes' clocks do not matter.
- `FailoverBuckets`: Redis while it answers; while it does not, this process's memory (the
  limit then holds per process instead of cluster-wide, and requests are never refused or
  delayed because Redis is down), trying Redis again every `retry_seconds`.

The bucket arithmetic is domain/throttling.take_token's; the Lua script restates it because
it must run inside Redis (tests hold the two to the same answers).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from openacm.domain.throttling import BucketState, RateLimit, take_token

log = logging.getLogger("openacm.throttling")


class BucketStoreUnavailable(Exception):
    """The bucket store did not answer (Redis down, refused, timed out)."""


class Buckets(Protocol):
    def take(self, key: str, limit: RateLimit) -> bool:
        """Whether a request may go ahead now, spending a token of bucket `key` if so."""
        ...


class MemoryBuckets:
    """Buckets in this process's memory, on the monotonic clock."""

    # Buckets that would be full again are forgotten at most this often (a forgotten bucket
    # answers as a full one does, so forgetting changes no answer; it bounds the memory).
    PRUNE_SECONDS: Final = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[BucketState, float]] = {}  # state, when it is full
        self._lock = threading.Lock()
        self._next_prune = clock() + self.PRUNE_SECONDS

    def take(self, key: str, limit: RateLimit) -> bool:
        now = self.clock()
        with self._lock:
            held = self._buckets.get(key)
            allowed, state = take_token(held[0] if held else None, limit, now)
            full_at = now + (limit.burst - state.tokens) / limit.rate
            self._buckets[key] = (state, full_at)
            if now >= self._next_prune:
                self._prune(now)
        return allowed

    def _prune(self, now: float) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if v[1] > now}
        self._next_prune = now + self.PRUNE_SECONDS

    def __len__(self) -> int:
        return len(self._buckets)


# KEYS[1]: the bucket; ARGV: rate, burst. domain/throttling.take_token, on Redis's clock
# (TIME), with the state as fixed-point text (Lua's tostring would drop digits of the time).
# The key expires once the bucket would be full again: a missing key is a full bucket.
TAKE_SCRIPT: Final = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = burst
if held[1] and held[2] then
  local updated = tonumber(held[2])
  tokens = math.min(burst, tonumber(held[1]) + math.max(0, now - updated) * rate)
  now = math.max(now, updated)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'updated', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return allowed
"""


class RedisBuckets:
    """Buckets in Redis under `prefix`, shared by every process given the same URL."""

    def __init__(self, url: str, prefix: str, *, timeout: float = 0.25) -> None:
        self.prefix = prefix
        # Short timeouts and one immediate retry (for a pooled connection that went stale when
        # Redis restarted), instead of redis-py's ten with backoff: a request waits at most
        # about twice `timeout` on Redis before FailoverBuckets answers from memory instead.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._take = self.client.register_script(TAKE_SCRIPT)

    def take(self, key: str, limit: RateLimit) -> bool:
        try:
            allowed = self._take(keys=[self.prefix + key], args=[limit.rate, limit.burst])
        except redis.RedisError as exc:
            raise BucketStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return bool(allowed)

    def close(self) -> None:
        self.client.close()


class FailoverBuckets:
    """`primary` (Redis) while it answers, else `fallback` (memory) for `retry_seconds`."""

    def __init__(
        self,
        primary: Buckets,
        fallback: Buckets,
        *,
        retry_seconds: float = 5.0,
        on_failure: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self.on_failure = on_failure
        self.clock = clock
        self._primary_down_until = 0.0

    def take(self, key: str, limit: RateLimit) -> bool:
        if self.clock() >= self._primary_down_until:
            try:
                return self.primary.take(key, limit)
            except BucketStoreUnavailable as exc:
                self._primary_down_until = self.clock() + self.retry_seconds
                log.warning(
                    "rate-limit store unreachable: limits hold per process until it answers",
                    extra={"error": str(exc), "retry_seconds": self.retry_seconds},
                )
                if self.on_failure is not None:
                    self.on_failure()
        return self.fallback.take(key, limit)
