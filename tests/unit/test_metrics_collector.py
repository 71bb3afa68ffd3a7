"""The store's gauges as /metrics shows them, from a given StoreStats: every series present
(at 0 when the store has nothing), ages measured from the right moment."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from openacm.adapters.metrics import Metrics
from openacm.adapters.store.stats import QueueState, StoreStats

NOW = 1_000_000.0
DAY = 86_400.0
HOUR = 3_600.0


@pytest.fixture
def metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Metrics:
    # Metrics switches the process to multiprocess mode: undone after the test.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    return Metrics(tmp_path / "metrics")


def gauges(
    metrics: Metrics, stats: StoreStats
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.scrape(
        lambda: stats, NOW, crl_due_margin=DAY - HOUR, pool_algorithms=("RSA_2048",)
    ).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def at(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (name, frozenset(labels.items()))


def test_an_empty_store_shows_every_series_at_zero(metrics: Metrics) -> None:
    shown = gauges(metrics, StoreStats({}, {}, {}, {}, {}, []))
    assert shown[at("openacm_certificates", type="PRIVATE", status="REVOKED")] == 0
    assert shown[at("openacm_certificates", type="AMAZON_ISSUED", status="ISSUED")] == 0
    for queue, key in (
        ("validation", "validate"),
        ("leaf_key_pool", "RSA_2048"),
        ("crl_regeneration", "all"),
    ):
        assert shown[at("openacm_queue_depth", queue=queue, key=key)] == 0
        assert shown[at("openacm_queue_oldest_due_age_seconds", queue=queue, key=key)] == 0


def test_counts_and_ages(metrics: Metrics) -> None:
    stats = StoreStats(
        certificates={("IMPORTED", "ISSUED"): 3, ("AMAZON_ISSUED", "EXPIRED"): 1},
        work={"validate": QueueState(5, 2, NOW - 30), "send_email": QueueState(1, 0, None)},
        key_pool={"RSA_2048": QueueState(4, 4, NOW - 600)},
        crl_next_updates={
            "fresh": NOW + DAY - 60,  # signed a minute ago: due in 59 minutes
            "due": NOW - 90 + DAY - HOUR,  # due since 90 s (an hour's margin)
            "new": None,  # never signed: due now
        },
        deliveries={("hook", "pending"): 7, ("hook", "dead"): 1},
        expiries=[("arn:aws:acm:us-east-1:111122223333:certificate/a", NOW + 30.5 * DAY)],
    )
    shown = gauges(metrics, stats)
    assert shown[at("openacm_event_deliveries", sink="hook", status="pending")] == 7
    assert shown[at("openacm_event_deliveries", sink="hook", status="dead")] == 1
    arn = "arn:aws:acm:us-east-1:111122223333:certificate/a"
    assert shown[at("openacm_certificate_days_to_expiry", certificate_arn=arn)] == 30
    assert shown[at("openacm_certificates", type="IMPORTED", status="ISSUED")] == 3
    assert shown[at("openacm_certificates", type="AMAZON_ISSUED", status="EXPIRED")] == 1
    assert shown[at("openacm_queue_depth", queue="validation", key="validate")] == 5
    assert shown[at("openacm_queue_due", queue="validation", key="validate")] == 2
    assert (
        shown[at("openacm_queue_oldest_due_age_seconds", queue="validation", key="validate")] == 30
    )
    # Another kind of work item is a queue of its own.
    assert shown[at("openacm_queue_depth", queue="send_email", key="send_email")] == 1
    assert (
        shown[at("openacm_queue_oldest_due_age_seconds", queue="leaf_key_pool", key="RSA_2048")]
        == 600
    )
    assert shown[at("openacm_queue_depth", queue="crl_regeneration", key="all")] == 3
    assert shown[at("openacm_queue_due", queue="crl_regeneration", key="all")] == 2
    assert (
        shown[at("openacm_queue_oldest_due_age_seconds", queue="crl_regeneration", key="all")] == 90
    )


def test_counters_are_written_for_other_processes(metrics: Metrics) -> None:
    metrics.observe_request("acm", "ListCertificates", "Success", 0.004)
    metrics.count_processed("validation", "issued", 2)
    metrics.count_processed("validation", "pending", 0)  # nothing: no series
    metrics.count_issued("builtin", 2)
    assert sorted(p.name.split("_")[0] for p in metrics.directory.iterdir()) == [
        "counter",
        "histogram",
    ]
    shown = gauges(metrics, StoreStats({}, {}, {}, {}, {}, []))
    assert (
        shown[
            at(
                "openacm_api_requests_total",
                service="acm",
                operation="ListCertificates",
                outcome="Success",
            )
        ]
        == 1
    )
    assert (
        shown[
            at(
                "openacm_api_request_duration_seconds_bucket",
                service="acm",
                operation="ListCertificates",
                le="0.005",
            )
        ]
        == 1
    )
    assert shown[at("openacm_queue_processed_total", queue="validation", outcome="issued")] == 2
    assert at("openacm_queue_processed_total", queue="validation", outcome="pending") not in shown
    assert shown[at("openacm_certificates_issued_total", issuer="builtin")] == 2
