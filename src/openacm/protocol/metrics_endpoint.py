"""`GET /metrics`: the Prometheus text exposition (adapters/metrics.py, docs/metrics.md).

Unsigned, as Prometheus scrapes: it shows counts and timings, and the ARN of each issued
certificate in `openacm_certificate_days_to_expiry` (the seeds' per-certificate DaysToExpiry),
never a name, a key or anything of an account but those ARNs: keep the port where only the
monitoring can reach it when ARNs are sensitive. The store's numbers are read in a worker
thread, off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.adapters.metrics import CONTENT_TYPE, Metrics
from openacm.adapters.store.database import Database
from openacm.adapters.store.stats import StoreStats, read_stats
from openacm.config import IssuanceSettings
from openacm.protocol.endpoint import RequestObserver
from openacm.services.pki.leaf_keys import POOLED_ALGORITHMS

# ACM-PCA's IssueCertificate signs a certificate in the call itself: the issuance counter
# learns of it from the call's success.
_PRIVATE_CA_ISSUANCE = ("acm-pca", "IssueCertificate")


def request_observer(metrics: Metrics) -> RequestObserver:
    def observe(service: str, operation: str, outcome: str, seconds: float) -> None:
        metrics.observe_request(service, operation, outcome, seconds)
        if outcome == "Success" and (service, operation) == _PRIVATE_CA_ISSUANCE:
            metrics.count_issued("private_ca")

    return observe


def metrics_routes(
    metrics: Metrics,
    db: Database,
    issuance: IssuanceSettings,
    clock: Callable[[], float] = time.time,
) -> list[Route]:
    # A CRL is due this long before its nextUpdate (services/background.py refresh_crls).
    crl_due_margin = issuance.crl_validity_seconds - issuance.crl_refresh_seconds

    def scrape() -> bytes:
        now = clock()

        def stats() -> StoreStats:
            with db.read() as conn:
                return read_stats(conn, now)

        return metrics.scrape(
            stats,
            now,
            crl_due_margin=crl_due_margin,
            # The pool shows at 0 while empty only if it is configured at all.
            pool_algorithms=POOLED_ALGORITHMS if issuance.rsa_key_pool_size else (),
        )

    async def endpoint(_: Request) -> Response:
        body = await anyio.to_thread.run_sync(scrape)
        return Response(body, media_type=CONTENT_TYPE)

    return [Route("/metrics", endpoint, methods=["GET"])]
