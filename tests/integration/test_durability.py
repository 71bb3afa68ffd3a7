"""`kill -9` during a burst of imports loses no acknowledged import and leaves no half-written row.

Four threads import continuously (each certificate distinct, each with its own tags); the server
is killed with SIGKILL mid-burst and started again on the same storage. Afterwards every ARN
that got a 200 is there with its tags and the exact PEM it was imported with; the only other
certificates are imports that were in flight at the kill and committed without being
acknowledged, and each of those is complete too. The store's rows agree with each other:
certificates, quota-ledger entries, tags and audit records.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import finish_server, start_server
from tests.support import pki
from tests.support.server import (
    OpenAcmServer,
)

THREADS = 4
BURST_SECONDS = 1.5
MIN_ACKNOWLEDGED = 12
MODEL = botocore.session.get_session().get_service_model("acm")
KEY_TYPES = list(MODEL.shape_for("Filters").members["keyTypes"].member.enum)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def killable_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenAcmServer]:
    """A server of the test's own on either backend, started as conftest starts them."""
    server = start_server(tmp_path, request.param)
    try:
        yield server
    finally:
        finish_server(server)


@dataclass
class Attempt:
    """One import a thread sent, and what became of it."""

    thread: int
    certificate_pem: str
    chain_pem: str
    tags: list[dict[str, str]]
    arn: str | None = None  # set when acknowledged with a 200
    refused: str | None = None  # an error answer (none is expected)
    lost: str | None = None  # the connection failed: maybe committed, never acknowledged


@dataclass
class Burst:
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)

    @property
    def acknowledged(self) -> dict[str, Attempt]:
        return {a.arn: a for a in self.attempts if a.arn}


def _import_continuously(
    server: OpenAcmServer,
    number: int,
    intermediate: pki.Issued,
    stop: threading.Event,
    burst: Burst,
) -> None:
    acm = server.client()
    sequence = 0
    while not stop.is_set():
        sequence += 1
        name = f"t{number}-{sequence}-{uuid.uuid4().hex[:8]}.durability.example.com"
        issued = pki.issue(name, sans=[name], issuer=intermediate)
        tags = [{"Key": "thread", "Value": str(number)}, {"Key": "name", "Value": name}]
        attempt = Attempt(number, issued.cert_pem.decode(), issued.chain_pem.decode(), tags)
        burst.add(attempt)
        try:
            answer = acm.import_certificate(**issued.import_args(Tags=tags))
        except ClientError as exc:
            attempt.refused = f"{exc.response['Error']['Code']}: {exc}"
            continue
        except BotoCoreError as exc:  # the server died under this request
            attempt.lost = repr(exc)
            return
        if "CertificateArn" not in answer:
            # The kill fell between the status line and the body: botocore hands back an
            # empty result. The caller never learnt the ARN, so nothing was acknowledged.
            attempt.lost = "answer cut off after its status line"
            return
        attempt.arn = answer["CertificateArn"]


def _list_all(acm: Any) -> list[str]:
    arns: list[str] = []
    kwargs: dict[str, Any] = {"Includes": {"keyTypes": KEY_TYPES}, "MaxItems": 100}
    while True:
        page = acm.list_certificates(**kwargs)
        arns += [s["CertificateArn"] for s in page["CertificateSummaryList"]]
        if not page.get("NextToken"):
            return arns
        kwargs["NextToken"] = page["NextToken"]


def _engine(server: OpenAcmServer) -> sa.Engine:
    url = server.database_url or f"sqlite:///{(server.data_dir / 'openacm.db').resolve()}"
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _column(conn: sa.Connection, query: str) -> list[Any]:
    return [row[0] for row in conn.execute(sa.text(query))]


def test_kill_during_import_burst_loses_nothing_acknowledged(
    killable_server: OpenAcmServer,
) -> None:
    server = killable_server
    _root, intermediate = pki.ca_hierarchy()
    pki.shared_key()  # generated before the burst, not inside it

    burst = Burst()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_import_continuously, args=(server, n, intermediate, stop, burst), daemon=True
        )
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    # ~1.5 s, and long enough on a slow machine for the burst to mean something.
    started = time.monotonic()
    time.sleep(BURST_SECONDS)
    while len(burst.acknowledged) < MIN_ACKNOWLEDGED and time.monotonic() - started < 20:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()

    refused = [a.refused for a in burst.attempts if a.refused]
    assert not refused, f"imports refused during the burst: {refused[:3]}"
    acknowledged = burst.acknowledged
    lost = [a for a in burst.attempts if a.lost]
    assert len(acknowledged) >= MIN_ACKNOWLEDGED, "the burst imported too little to prove anything"
    assert lost, "the kill came after the burst, not during it"
    assert len(lost) <= THREADS

    server.start()
    ready = httpx.get(f"{server.endpoint}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json() == {"ready": True}, ready.text
    assert httpx.get(f"{server.endpoint}/healthz", timeout=5).status_code == 200

    acm = server.client()
    listed = _list_all(acm)
    assert len(listed) == len(set(listed))
    missing = set(acknowledged) - set(listed)
    assert not missing, f"{len(missing)} acknowledged imports lost, e.g. {sorted(missing)[:3]}"

    by_pem = {a.certificate_pem: a for a in lost}
    extra = set(listed) - set(acknowledged)
    assert len(extra) <= len(lost)
    for arn in listed:
        got = acm.get_certificate(CertificateArn=arn)
        attempt = acknowledged.get(arn) or by_pem.get(got["Certificate"])
        assert attempt is not None, f"{arn} holds a certificate nobody imported"
        assert got["Certificate"] == attempt.certificate_pem
        assert got["CertificateChain"] == attempt.chain_pem
        detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        assert detail["Status"] == "ISSUED"
        assert detail["Type"] == "IMPORTED"
        assert detail["DomainName"] == attempt.tags[1]["Value"]
        tags = acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
        assert sorted(tags, key=lambda t: t["Key"]) == sorted(
            attempt.tags, key=lambda t: t["Key"]
        ), arn

    engine = _engine(server)
    try:
        with engine.connect() as conn:
            certificates = _column(conn, "SELECT arn FROM certificates")
            ledger = _column(conn, "SELECT certificate_arn FROM quota_ledger")
            tagged = _column(conn, "SELECT DISTINCT resource_arn FROM tags")
            unsealed = _column(
                conn, "SELECT arn FROM certificates WHERE private_key_sealed IS NULL"
            )
            audited = _column(
                conn,
                "SELECT resource_arn FROM audit_events "
                "WHERE event_name = 'ImportCertificate' AND error_code IS NULL",
            )
    finally:
        engine.dispose()
    assert sorted(certificates) == sorted(listed)
    assert sorted(ledger) == sorted(listed), "quota ledger and certificates disagree"
    assert set(tagged) <= set(listed), "tags left on certificates that do not exist"
    assert set(tagged) == set(listed)
    assert not unsealed, "certificates stored without their private key"
    # A change that was acknowledged has its audit record (written before the answer).
    assert set(acknowledged) <= set(audited)

    # The store takes writes again.
    issued = pki.issue("after-restart.example.com", issuer=intermediate)
    arn = acm.import_certificate(**issued.import_args())["CertificateArn"]
    assert acm.get_certificate(CertificateArn=arn)["Certificate"] == issued.cert_pem.decode()
