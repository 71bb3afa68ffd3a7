"""`python -m bench throttling`: what the request-rate limiter adds to each API call.

Times `RequestThrottle.check`, the one call the endpoint makes per request (docs/throttling.md),
in this process: an operation no limit names (the table look-up alone), in-memory buckets, and
Redis buckets (one Lua script per call over a local TCP connection), for calls spread over 100
accounts and admitted (the common case) and for calls refused (an empty bucket); beside them,
a Redis PING, the round trip any shared store costs. Each figure is
the best of a few rounds: the machine is shared, and the best round is the least disturbed.
Needs Redis at --redis-url (default the machine's, 127.0.0.1:6379) for the Redis rows.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence

import redis

from openacm.adapters.throttle_buckets import MemoryBuckets, RedisBuckets
from openacm.domain.errors import ThrottlingError
from openacm.domain.throttling import rate_table
from openacm.services.context import CallContext
from openacm.services.throttling import RequestThrottle

DEFAULT_CALLS = 20_000
DEFAULT_ROUNDS = 3
ACCOUNTS = 100


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    print(f"RequestThrottle.check, {options.calls:,} calls, best of {options.rounds} rounds")
    print(f"{'buckets':<10} {'case':<28} {'µs / call':>10}")
    admitted = rate_table("off", [("acm:DescribeCertificate", "1000000/1000000")])
    refused = rate_table("off", [("acm:DescribeCertificate", "0.001/1")])
    memory = MemoryBuckets()
    rows: list[tuple[str, str, RequestThrottle, str]] = [
        ("none", "operation without a limit", RequestThrottle(admitted, memory), "ListTags"),
        ("memory", "admitted", RequestThrottle(admitted, memory), "DescribeCertificate"),
        ("memory", "refused", RequestThrottle(refused, MemoryBuckets()), "DescribeCertificate"),
    ]
    shared = _redis(options.redis_url)
    if shared is not None:
        rows += [
            ("redis", "admitted", RequestThrottle(admitted, shared), "DescribeCertificate"),
            ("redis", "refused", RequestThrottle(refused, shared), "DescribeCertificate"),
        ]
    for store, case, throttle, operation in rows:
        seconds = min(_round(throttle, operation, options.calls) for _ in range(options.rounds))
        print(f"{store:<10} {case:<28} {seconds / options.calls * 1e6:>10.1f}")
    if shared is None:
        print(f"redis      (not measured: no Redis at {options.redis_url})")
        return 1
    ping = min(_pings(shared, options.calls) for _ in range(options.rounds))
    print(f"{'redis':<10} {'PING (the round trip alone)':<28} {ping / options.calls * 1e6:>10.1f}")
    _forget(shared)
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench throttling", description=__doc__)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    return parser.parse_args(argv)


def _redis(url: str) -> RedisBuckets | None:
    buckets = RedisBuckets(url, f"openacm-bench:{uuid.uuid4().hex}:")
    try:
        buckets.client.ping()
    except redis.RedisError:
        return None
    return buckets


def _forget(buckets: RedisBuckets) -> None:
    for key in buckets.client.scan_iter(match=buckets.prefix + "*"):
        buckets.client.delete(key)
    buckets.close()


def _pings(buckets: RedisBuckets, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        buckets.client.ping()
    return time.perf_counter() - started


def _contexts() -> list[CallContext]:
    return [
        CallContext(
            account_id=f"{index:012d}",
            region="us-east-1",
            partition="aws",
            access_key_id="AKIABENCH",
            user_name="bench",
            request_id="bench",
            source_ip="127.0.0.1",
            user_agent="bench",
            now=0.0,
            secure_transport=False,
        )
        for index in range(ACCOUNTS)
    ]


def _round(throttle: RequestThrottle, operation: str, calls: int) -> float:
    contexts = _contexts()
    check: Callable[[CallContext, str, str], None] = throttle.check
    started = time.perf_counter()
    for index in range(calls):
        with contextlib.suppress(ThrottlingError):
            check(contexts[index % ACCOUNTS], "acm", operation)
    return time.perf_counter() - started
