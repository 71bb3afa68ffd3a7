"""GET /metrics on a real `openacm serve --workers 2`: whichever worker answers a scrape, it
reports every worker's counters (prometheus-client multiprocess mode) and the store's gauges,
in a text format prometheus_client's own parser reads. SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import finish_server, pki_env, start_server
from tests.support import pki
from tests.support.acm_flow import request_and_issue, unique_domain
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer

WORKERS = 2
SCRAPES = 6  # enough for both workers to answer some (the kernel spreads the connections)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def metrics_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
) -> Iterator[OpenAcmServer]:
    started = start_server(
        tmp_path_factory.mktemp("openacm-metrics"),
        request.param,
        env=pki_env(bind_server),
        extra_args=["--workers", str(WORKERS)],
    )
    yield started
    finish_server(started)


def scrape(server: OpenAcmServer) -> Samples:
    answer = httpx.get(f"{server.endpoint}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: Samples, operation: str, outcome: str, service: str = "acm") -> float:
    return value(
        samples, "openacm_api_requests_total", service=service, operation=operation, outcome=outcome
    )


def test_counters_of_every_worker_and_store_gauges(
    metrics_server: OpenAcmServer, bind_server: BindServer
) -> None:
    server = metrics_server
    acm: Any = server.client()
    before = scrape(server)
    arns = [
        acm.import_certificate(
            **pki.issue(f"m{i}-{uuid.uuid4().hex[:6]}.example.com").import_args()
        )["CertificateArn"]
        for i in range(3)
    ]
    for arn in arns * 2:
        acm.describe_certificate(CertificateArn=arn)
    missing = arns[0][:-36] + str(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(ClientError):
            acm.describe_certificate(CertificateArn=missing)
    issued = request_and_issue(acm, bind_server, unique_domain("metrics"))

    results = [scrape(server) for _ in range(SCRAPES)]
    for samples in results:
        # Every scrape, whichever worker answers it, counts every worker's calls.
        assert (
            requests_of(samples, "ImportCertificate", "Success")
            - requests_of(before, "ImportCertificate", "Success")
            == 3
        )
        assert (
            requests_of(samples, "DescribeCertificate", "ResourceNotFoundException")
            - (requests_of(before, "DescribeCertificate", "ResourceNotFoundException"))
            == 2
        )
        described = requests_of(samples, "DescribeCertificate", "Success")
        assert described - requests_of(before, "DescribeCertificate", "Success") >= 6
        # The histogram saw each call once.
        count = value(
            samples,
            "openacm_api_request_duration_seconds_count",
            service="acm",
            operation="DescribeCertificate",
        )
        assert count == described + requests_of(
            samples, "DescribeCertificate", "ResourceNotFoundException"
        )
        assert value(samples, "openacm_certificates", type="IMPORTED", status="ISSUED") >= 3
        assert value(samples, "openacm_certificates", type="AMAZON_ISSUED", status="ISSUED") >= 1
        assert value(samples, "openacm_queue_processed_total", queue="validation", outcome="issued")
        assert value(samples, "openacm_certificates_issued_total", issuer="builtin") >= 1
        assert ("openacm_queue_depth", (("key", "validate"), ("queue", "validation"))) in samples
        assert value(samples, "openacm_queue_depth", queue="crl_regeneration", key="all") >= 2
        assert (
            "openacm_queue_oldest_due_age_seconds",
            (("key", "RSA_2048"), ("queue", "leaf_key_pool")),
        ) in samples
    assert issued


def test_unknown_operations_add_no_series(metrics_server: OpenAcmServer) -> None:
    """Labels come from the model: a made-up operation name is counted as "unknown"."""
    invented = f"Invented{uuid.uuid4().hex[:8]}"
    answer = httpx.post(
        metrics_server.endpoint,
        headers={"X-Amz-Target": f"CertificateManager.{invented}"},
        content=b"{}",
    )
    assert answer.status_code == 400
    text = httpx.get(f"{metrics_server.endpoint}/metrics").text
    assert invented not in text
    # Refused before the operation is known (unsigned): counted under "unknown".
    unknown = [
        count
        for (name, labels), count in scrape(metrics_server).items()
        if name == "openacm_api_requests_total" and ("operation", "unknown") in labels
    ]
    assert sum(unknown) >= 1


def test_counters_start_from_zero_after_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(tmp_path_factory.mktemp("openacm-restart"), "sqlite")
    try:
        server.client().list_certificates()
        assert requests_of(scrape(server), "ListCertificates", "Success") == 1
        directory = server.data_dir / "metrics"
        previous_files = {path.name for path in directory.iterdir()}
        assert previous_files  # counter_<pid>.db, histogram_<pid>.db
        server.stop()
        server.start()
        assert requests_of(scrape(server), "ListCertificates", "Success") == 0
        # The previous run's files were removed at start, not merely outnumbered.
        assert previous_files.isdisjoint(path.name for path in directory.iterdir())
    finally:
        finish_server(server)
