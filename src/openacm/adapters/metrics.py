"""Prometheus metrics (`GET /metrics`), with prometheus-client in multiprocess mode.

`openacm serve --workers N` answers from N processes, and a scrape reaches one of them: each
process writes its counters and histograms to memory-mapped files in one directory
(`DATA_DIR/metrics`, emptied by `serve` before the workers start), and the process that
answers a scrape sums every process's files. Gauges are not kept in the processes at all:
what the store holds (certificates by type and status, queue depths and ages) is read from
the store at scrape time, so every process answers the same numbers and none goes stale.

docs/metrics.md lists every metric.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from openacm.adapters.store.stats import QueueState, StoreStats
from openacm.adapters.store.work import VALIDATE_WORK
from openacm.domain.renewal import days_to_expiry

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# API calls take milliseconds; the long tail (key generation, DNS updates) seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Queue names as the metrics label them.
VALIDATION_QUEUE = "validation"
KEY_POOL_QUEUE = "leaf_key_pool"
CRL_QUEUE = "crl_regeneration"
# Work item kinds shown under their queue's name; other kinds keep their own.
_WORK_QUEUE_NAMES = {VALIDATE_WORK: VALIDATION_QUEUE}
# Shown at 0 when the store has none, so that dashboards and alerts find every series.
CERTIFICATE_TYPES = ("AMAZON_ISSUED", "IMPORTED", "PRIVATE")
CERTIFICATE_STATUSES = (
    "EXPIRED",
    "FAILED",
    "INACTIVE",
    "ISSUED",
    "PENDING_VALIDATION",
    "REVOKED",
    "VALIDATION_TIMED_OUT",
)


def metrics_directory(data_dir: Path) -> Path:
    return data_dir / "metrics"


def reset_multiprocess_directory(directory: Path) -> None:
    """Empty the directory (the files of a previous run's processes would otherwise be
    summed into this run's counters) and use it. Only `serve` calls this, before it starts
    the workers: a worker emptying it would erase the others' counts."""
    shutil.rmtree(directory, ignore_errors=True)
    use_multiprocess_directory(directory)


def use_multiprocess_directory(directory: Path) -> None:
    """Write this process's metric values under `directory` from now on."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)
    # prometheus-client chooses between in-memory and file-backed values when it is first
    # imported, which may have happened before the directory was known: choose again.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class Metrics:
    """The counters and histograms of one process, and the scrape of all of them."""

    def __init__(self, directory: Path) -> None:
        use_multiprocess_directory(directory)
        self.directory = directory
        # Not registered anywhere: in multiprocess mode a scrape reads the files.
        self.requests = Counter(
            "openacm_api_requests",
            "API calls answered, by service, operation and outcome (Success or the error code).",
            ["service", "operation", "outcome"],
            registry=None,
        )
        self.latency = Histogram(
            "openacm_api_request_duration_seconds",
            "Time from the request's arrival to its answer, by service and operation.",
            ["service", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.processed = Counter(
            "openacm_queue_processed",
            "Items the background work took off a queue, by queue and outcome.",
            ["queue", "outcome"],
            registry=None,
        )
        self.issued = Counter(
            "openacm_certificates_issued",
            "Certificates signed, by issuer (builtin: ACM's public certificates; "
            "private_ca: ACM-PCA IssueCertificate).",
            ["issuer"],
            registry=None,
        )
        # docs/throttling.md: calls refused with ThrottlingException, and the times the shared
        # bucket store (Redis) failed and a process fell back to its own buckets.
        self.throttled = Counter(
            "openacm_throttled_requests",
            "API calls refused with ThrottlingException, by service and operation.",
            ["service", "operation"],
            registry=None,
        )
        self.throttle_store_failures = Counter(
            "openacm_throttle_store_failures",
            "Times the shared rate-limit store (Redis) did not answer and a process used its "
            "own in-memory buckets instead.",
            registry=None,
        )

    def observe_request(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        self.requests.labels(service, operation, outcome).inc()
        self.latency.labels(service, operation).observe(seconds)

    def count_throttled(self, service: str, operation: str) -> None:
        self.throttled.labels(service, operation).inc()

    def count_throttle_store_failure(self) -> None:
        self.throttle_store_failures.inc()

    def count_processed(self, queue: str, outcome: str, count: int = 1) -> None:
        if count:
            self.processed.labels(queue, outcome).inc(count)

    def count_issued(self, issuer: str, count: int = 1) -> None:
        if count:
            self.issued.labels(issuer).inc(count)

    def scrape(
        self,
        read_stats: Callable[[], StoreStats],
        now: float,
        *,
        crl_due_margin: float,
        pool_algorithms: Sequence[str],
    ) -> bytes:
        """The text exposition of every process's counters and the store's gauges.

        `crl_due_margin`: how long before its nextUpdate a CRL is due for re-signing (what
        the background work uses: validity less `crl_refresh_seconds`), to tell since when
        a due CRL has waited. `pool_algorithms`: the leaf key pool's, shown while empty."""
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        registry.register(_StoreCollector(read_stats, now, crl_due_margin, pool_algorithms))
        return generate_latest(registry)


class _StoreCollector(Collector):
    def __init__(
        self,
        read_stats: Callable[[], StoreStats],
        now: float,
        crl_due_margin: float,
        pool_algorithms: Sequence[str],
    ) -> None:
        self.read_stats = read_stats
        self.now = now
        self.crl_due_margin = crl_due_margin
        self.pool_algorithms = pool_algorithms

    def collect(self) -> Iterator[Metric]:
        stats = self.read_stats()
        certificates = GaugeMetricFamily(
            "openacm_certificates",
            "Certificates in the store, by type and status (as the API shows the status).",
            labels=["type", "status"],
        )
        counts = {
            (kind, status): 0 for kind in CERTIFICATE_TYPES for status in CERTIFICATE_STATUSES
        }
        counts.update(stats.certificates)
        for (kind, status), count in sorted(counts.items()):
            certificates.add_metric([kind, status], count)
        yield certificates
        yield from self._queues(stats)
        yield self._deliveries(stats)
        yield self._days_to_expiry(stats)

    @staticmethod
    def _deliveries(stats: StoreStats) -> Metric:
        deliveries = GaugeMetricFamily(
            "openacm_event_deliveries",
            "Event deliveries in the outbox by sink and status: pending is the backlog, dead "
            "the dead letters (delivered ones until they are pruned).",
            labels=["sink", "status"],
        )
        for (sink, status), count in sorted(stats.deliveries.items()):
            deliveries.add_metric([sink, status], count)
        return deliveries

    def _days_to_expiry(self, stats: StoreStats) -> Metric:
        days = GaugeMetricFamily(
            "openacm_certificate_days_to_expiry",
            "Whole days until an issued certificate expires, per certificate: the seeds' "
            "CloudWatch metric DaysToExpiry (dimension CertificateArn).",
            labels=["certificate_arn"],
        )
        for arn, not_after in stats.expiries:
            days.add_metric([arn], days_to_expiry(not_after, self.now))
        return days

    def _queues(self, stats: StoreStats) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "openacm_queue_depth",
            "Items waiting in a queue (for the key pool: keys ready to use).",
            labels=["queue", "key"],
        )
        due = GaugeMetricFamily(
            "openacm_queue_due", "Items of a queue that are due now.", labels=["queue", "key"]
        )
        age = GaugeMetricFamily(
            "openacm_queue_oldest_due_age_seconds",
            "How long the longest-waiting due item has been due (0 when none is due; for the "
            "key pool, the age of the oldest key).",
            labels=["queue", "key"],
        )
        for queue, key, state in self._queue_states(stats):
            depth.add_metric([queue, key], state.depth)
            due.add_metric([queue, key], state.due)
            oldest = state.oldest_due_at
            age.add_metric([queue, key], max(0.0, self.now - oldest) if oldest else 0.0)
        yield from (depth, due, age)

    def _queue_states(self, stats: StoreStats) -> Iterator[tuple[str, str, QueueState]]:
        for kind, state in sorted(stats.work.items()):
            yield _WORK_QUEUE_NAMES.get(kind, kind), kind, state
        if VALIDATION_QUEUE not in {_WORK_QUEUE_NAMES.get(k, k) for k in stats.work}:
            yield VALIDATION_QUEUE, VALIDATE_WORK, QueueState(0, 0, None)  # present when empty
        pool = {algorithm: QueueState(0, 0, None) for algorithm in self.pool_algorithms}
        pool.update(stats.key_pool)
        for algorithm, state in sorted(pool.items()):
            yield KEY_POOL_QUEUE, algorithm, state
        yield CRL_QUEUE, "all", self._crl_state(stats.crl_next_updates)

    def _crl_state(self, next_updates: dict[str, float | None]) -> QueueState:
        """Every CA's CRL is in the queue; one is due `crl_due_margin` seconds before its
        nextUpdate (a CA that has none yet is due now)."""
        due_since = [
            (self.now if next_update is None else next_update - self.crl_due_margin)
            for next_update in next_updates.values()
        ]
        overdue = [since for since in due_since if since <= self.now]
        return QueueState(len(next_updates), len(overdue), min(overdue) if overdue else None)
