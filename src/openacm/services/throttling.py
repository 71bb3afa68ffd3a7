"""Request throttling: each call spends a token of its account's bucket for its operation, or is
refused with ThrottlingException as AWS refuses it (docs/throttling.md).

The endpoint asks `RequestThrottle.check` once per authenticated call, before the input is
parsed or any handler runs: a throttled call costs one bucket look-up and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from openacm.adapters.throttle_buckets import (
    Buckets,
    FailoverBuckets,
    MemoryBuckets,
    RedisBuckets,
)
from openacm.config import ThrottlingSettings
from openacm.domain.errors import ThrottlingError
from openacm.domain.throttling import RateTable, bucket_key
from openacm.services.context import CallContext

log = logging.getLogger("openacm.throttling")

# What ACM and AWS Private CA answer, with HTTP 400: botocore's retry handlers (standard and
# legacy modes, botocore/data/_retry.json "throttling_exception") retry on this code.
RATE_EXCEEDED: Final = "Rate exceeded"

# Told of each throttled call: service, operation (the metrics' counter).
ThrottledObserver = Callable[[str, str], None]


class RequestThrottle:
    def __init__(
        self,
        table: RateTable,
        buckets: Buckets,
        *,
        on_throttled: ThrottledObserver | None = None,
    ) -> None:
        self.table = table
        self.buckets = buckets
        self.on_throttled = on_throttled

    def check(self, ctx: CallContext, service: str, operation: str) -> None:
        """Return when the call may go ahead; raise ThrottlingError when its bucket is empty."""
        limit = self.table.limit_for(service, operation)
        if limit is None:
            return
        key = bucket_key(ctx.account_id, ctx.region, service, operation)
        if self.buckets.take(key, limit):
            return
        log.info(
            "request throttled",
            extra={
                "request_id": ctx.request_id,
                "account_id": ctx.account_id,
                "region": ctx.region,
                "service": service,
                "operation": operation,
                "rate": limit.rate,
                "burst": limit.burst,
            },
        )
        if self.on_throttled is not None:
            self.on_throttled(service, operation)
        raise ThrottlingError(RATE_EXCEEDED)


def request_throttle(
    profile: str,
    settings: ThrottlingSettings,
    *,
    on_throttled: ThrottledObserver | None = None,
    on_store_failure: Callable[[], None] | None = None,
) -> RequestThrottle | None:
    """The throttle the settings ask for; None when no operation is limited."""
    table = settings.table(profile)
    if not table:
        return None
    buckets: Buckets = MemoryBuckets()
    if settings.redis_url:
        buckets = FailoverBuckets(
            RedisBuckets(
                settings.redis_url, settings.redis_key_prefix, timeout=settings.redis_timeout
            ),
            buckets,
            retry_seconds=settings.redis_retry_seconds,
            on_failure=on_store_failure,
        )
    return RequestThrottle(table, buckets, on_throttled=on_throttled)
