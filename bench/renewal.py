"""`python -m bench renewal`: the managed-renewal sweep and renewal throughput.

1. **Sweep**: a store of 1,000,000 certificates of which 1 % are due (SQLite in a temporary
   directory, and PostgreSQL with `--postgres URL`), migrated to head like a real one; the
   time of the sweep's query (`CertificateStore.due_for_renewal`) finding all 10,000 due ones,
   and the time of one sweep batch (the scheduler's 500). Best of a few rounds. Target < 1 s.
2. **Renewals per second**: a real `openacm serve --dev` (one worker per core) holding N
   exported private EC P-256 certificates from an EC P-256 private CA; the `--dev` clock is
   moved into their renewal window and the time until every RenewalSummary is SUCCESS is
   taken. Beside it, the raw limit on this machine: generating an EC P-256 key and signing a
   certificate with a P-256 key, in as many processes as the server has workers (the
   issuance benchmark's `ec_leaf` operation), measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.issuance import issuer_material, measure_raw_logged
from bench.progress import say

SWEEP_CERTIFICATES = 1_000_000
DUE_FRACTION = 0.01
SWEEP_TARGET_S = 1.0
DEFAULT_RENEWALS = 500
DAY = 86_400
INSERT_BATCH = 20_000


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    within = True
    if not options.skip_sweep:
        within &= sweep(options.certificates, None)
        if options.postgres:
            within &= sweep(options.certificates, options.postgres)
    if not options.skip_rate:
        renewal_rate(options.renewals)
    return 0 if within else 1


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench renewal", description=__doc__)
    parser.add_argument("--certificates", type=int, default=SWEEP_CERTIFICATES)
    parser.add_argument("--renewals", type=int, default=DEFAULT_RENEWALS)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to time the sweep on too")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-rate", action="store_true")
    return parser.parse_args(argv)


# -- 1. the sweep ----------------------------------------------------------------------------


def sweep(count: int, postgres_url: str | None) -> bool:
    from openacm.adapters.store.certificates import CertificateStore
    from openacm.adapters.store.database import Database

    with tempfile.TemporaryDirectory(prefix="bench-renewal-") as work:
        url, drop = _database(work, postgres_url)
        db = Database(url)
        try:
            db.migrate()
            now = time.time()
            due = _fill(db, count, now)
            kind = "PostgreSQL" if postgres_url else "SQLite"
            with db.read() as conn:
                store = CertificateStore(conn)
                found, all_s = _best_of(
                    5, lambda: store.due_for_renewal(now, retry_failed_after=DAY, limit=count)
                )
                batch, batch_s = _best_of(
                    5, lambda: store.due_for_renewal(now, retry_failed_after=DAY, limit=500)
                )
            assert len(found) == due and len(batch) == 500, (len(found), due)
            verdict = "within" if all_s < SWEEP_TARGET_S else "OVER"
            print(
                f"renewal sweep, {kind}, {count:,} certificates, {due:,} due: all found in "
                f"{all_s:.3f} s ({verdict} the {SWEEP_TARGET_S:g} s target); one sweep batch "
                f"of 500 in {batch_s * 1000:.1f} ms"
            )
            return all_s < SWEEP_TARGET_S
        finally:
            db.dispose()
            drop()


def _database(work: str, postgres_url: str | None) -> tuple[str, Callable[[], None]]:
    if not postgres_url:
        return f"sqlite:///{work}/openacm.db", lambda: None
    import psycopg

    name = f"bench_renewal_{uuid.uuid4().hex[:8]}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = admin.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}", drop


def _fill(db: Any, count: int, now: float) -> int:
    """`count` issued, exported private certificates; every 100th inside its window. Rows
    go in through `record_row`, as every write of the store does."""
    from openacm.adapters.store.certificates import record_row
    from openacm.adapters.store.schema import certificates
    from openacm.domain.certificates import CertificateRecord

    template = CertificateRecord(
        arn="",
        certificate_id="",
        account_id="111122223333",
        region="us-east-1",
        type="PRIVATE",
        status="ISSUED",
        domain_name="svc.corp.internal",
        names=("svc.corp.internal",),
        key_algorithm="EC_prime256v1",
        key_usages=("DIGITAL_SIGNATURE",),
        extended_key_usages=(),
        serial="01",
        not_before=now,
        not_after=now + 395 * DAY,
        created_at=now,
        certificate_pem=None,
        chain_pem=None,
        facts={},
        exported=True,
    )
    due_every = round(1 / DUE_FRACTION)
    started = time.monotonic()
    due = 0
    for first in range(0, count, INSERT_BATCH):
        rows = []
        for index in range(first, min(first + INSERT_BATCH, count)):
            is_due = index % due_every == 0
            due += is_due
            issued = now - (300 if is_due else 10) * DAY
            certificate_id = str(uuid.UUID(int=index))
            record = replace(
                template,
                arn=f"arn:aws:acm:us-east-1:111122223333:certificate/{certificate_id}",
                certificate_id=certificate_id,
                not_before=issued,
                not_after=issued + 395 * DAY,
            )
            rows.append(record_row(record, None))
        with db.write() as conn:
            conn.execute(insert(certificates), rows)
        say(f"  {min(first + INSERT_BATCH, count):,} rows ({time.monotonic() - started:.0f} s)")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(certificates)).scalar() == count
    with db.write() as conn:
        # A store that grew to a million rows has had its statistics gathered (PostgreSQL's
        # autovacuum would have; here it would not have caught up with the bulk load yet).
        conn.exec_driver_sql("ANALYZE")
    return due


def _best_of(rounds: int, work: Callable[[], Any]) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return result, best


# -- 2. renewals per second --------------------------------------------------------------------


def renewal_rate(count: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import httpx
    from tests.integration.test_private_certificates import make_root_ca
    from tests.support.server import OpenAcmServer

    workers = int(os.environ.get("OPENACM_WORKERS", str(os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="bench-renewal-") as work:
        server = OpenAcmServer(
            Path(work),
            env={
                "OPENACM_WORKERS": str(workers),
                "OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS": "0.2",
                "OPENACM_RENEWAL_SWEEP_BATCH_SIZE": "100",
            },
        ).start()
        try:
            tenant = _Tenant(server)
            ca_arn, _root = make_root_ca(tenant, key="EC_prime256v1", signing="SHA256WITHECDSA")  # type: ignore[arg-type]
            say(f"{count} private EC certificates, issued and exported")
            arns = _issued_and_exported(tenant, ca_arn, count)
            raw_before = measure_raw_logged("ec_leaf", workers, 5, issuer_material())
            httpx.post(
                f"{server.endpoint}/dev/clock", json={"advance_seconds": 300 * DAY}, timeout=30
            ).raise_for_status()
            started = time.monotonic()
            _wait_all_renewed(server, len(arns))
            elapsed = time.monotonic() - started
            raw_after = measure_raw_logged("ec_leaf", workers, 5, issuer_material())
        finally:
            server.stop()
    rate = count / elapsed
    raw = (raw_before.per_s + raw_after.per_s) / 2
    print(
        f"renewals, private EC P-256, {workers} worker(s): {count} in {elapsed:.1f} s = "
        f"{rate:.0f}/s; raw key+sign limit {raw:.0f}/s ({rate / raw:.1%} of it)"
    )


class _Tenant:
    """What `make_root_ca` needs of a test tenant."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.account_id, self.key = server.new_account()
        self.acm = server.client(key=self.key)

    def client(self, service: str = "acm", region: str = "us-east-1") -> Any:
        return self.server.client(service, region=region, key=self.key)


def _issued_and_exported(tenant: _Tenant, ca_arn: str, count: int) -> list[str]:
    local = threading.local()

    def acm() -> Any:
        if not hasattr(local, "acm"):
            local.acm = tenant.client()
        return local.acm

    def one(index: int) -> str:
        arn: str = acm().request_certificate(
            DomainName=f"n{index}.bench.corp.internal",
            CertificateAuthorityArn=ca_arn,
            KeyAlgorithm="EC_prime256v1",
        )["CertificateArn"]
        while acm().describe_certificate(CertificateArn=arn)["Certificate"]["Status"] != "ISSUED":
            time.sleep(0.05)
        acm().export_certificate(CertificateArn=arn, Passphrase=b"bench passphrase")
        return arn

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _wait_all_renewed(server: Any, count: int, timeout: float = 600) -> None:
    from openacm.adapters.store.schema import certificates

    deadline = time.monotonic() + timeout
    while True:
        renewed = server.query(
            select(func.count())
            .select_from(certificates)
            .where(certificates.c.renewal_status == "SUCCESS")
        )[0][0]
        if renewed >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {renewed} of {count} renewed in {timeout} s")
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
