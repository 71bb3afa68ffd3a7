"""Three server processes on one PostgreSQL renew 1,000 due certificates: every one renewed,
none twice (the CA signed exactly one new certificate per renewal)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from openacm.adapters.store.schema import certificates, private_ca_certificates
from tests.conftest import Tenant, _tenant, finish_server, start_server
from tests.integration.test_managed_renewal import PASSPHRASE, move_clock
from tests.integration.test_private_certificates import make_root_ca

COUNT = 1_000
DAY = 86_400


def _count(tenant: Tenant, *conditions: object) -> int:
    rows = tenant.server.query(
        select(func.count())
        .select_from(certificates)
        .where(certificates.c.account_id == tenant.account_id, *conditions)
    )
    return int(rows[0][0])


def _wait_for(tenant: Tenant, condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(tenant, condition) < COUNT:
        assert time.monotonic() < deadline, _count(tenant, condition)
        time.sleep(0.5)


@pytest.mark.postgres
@pytest.mark.slow
def test_three_processes_renew_a_thousand_certificates_once_each(tmp_path: Path) -> None:
    server = start_server(
        tmp_path,
        "postgresql",
        env={"OPENACM_WORKERS": "3", "OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS": "0.2",
             "OPENACM_RENEWAL_SWEEP_BATCH_SIZE": "200"},
    )  # fmt: skip
    try:
        tenant = _tenant(server)
        ca_arn, _root = make_root_ca(tenant, key="EC_prime256v1", signing="SHA256WITHECDSA")

        local = threading.local()

        def acm() -> Any:
            # One client per thread: boto3 clients are not thread-safe, and making one costs
            # more than the call.
            if not hasattr(local, "acm"):
                local.acm = tenant.client()
            return local.acm

        def request_private(index: int) -> str:
            arn: str = acm().request_certificate(
                DomainName=f"n{index}.scale.corp.internal",
                CertificateAuthorityArn=ca_arn,
                KeyAlgorithm="EC_prime256v1",
            )["CertificateArn"]
            return arn

        with ThreadPoolExecutor(8) as pool:
            arns = list(pool.map(request_private, range(COUNT)))
        started = time.monotonic()
        _wait_for(tenant, certificates.c.status == "ISSUED", timeout=300)
        print(f"issued in {time.monotonic() - started:.1f} s")

        def export(arn: str) -> None:
            acm().export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(export, arns))
        serials_before = dict(
            server.query(
                select(certificates.c.arn, certificates.c.serial).where(
                    certificates.c.account_id == tenant.account_id
                )
            )
        )

        move_clock(server, advance_seconds=300 * DAY)  # every one is inside its window
        started = time.monotonic()
        _wait_for(tenant, certificates.c.renewal_status == "SUCCESS", timeout=300)
        print(f"renewed in {time.monotonic() - started:.1f} s")

        rows = server.query(
            select(certificates.c.arn, certificates.c.serial).where(
                certificates.c.account_id == tenant.account_id
            )
        )
        assert len(rows) == COUNT
        assert all(serial != serials_before[arn] for arn, serial in rows)
        issued_by_ca = server.query(
            select(func.count())
            .select_from(private_ca_certificates)
            .where(private_ca_certificates.c.ca_arn == ca_arn)
        )[0][0]
        # The CA's own root certificate, each first issuance and exactly one renewal each.
        assert issued_by_ca == 1 + 2 * COUNT
    finally:
        finish_server(server)
