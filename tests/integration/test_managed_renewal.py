"""Managed renewal, played with the `--dev` clock: an eligible certificate renews when its
window opens (same ARN, new key pair, RenewalSummary SUCCESS); one whose CNAME is gone waits
in PENDING_VALIDATION and renews once the record is back, or fails at expiry; an ineligible
one never renews. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_associations import openacm_client
from tests.integration.test_private_certificates import make_root_ca, request_private, wait_done
from tests.support.acm_flow import describe, request_and_issue, unique_domain
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer

DAY = 86_400
ACTION_REQUIRED = "ACM Certificate Renewal Action Required"
PASSPHRASE = b"renewal passphrase"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def renewal_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
) -> Iterator[OpenAcmServer]:
    """A server of this module's own: the tests move its clock."""
    data_dir = tmp_path_factory.mktemp("renewal")
    env = pki_env(
        bind_server,
        OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS="0.1",
        OPENACM_EVENTS_FILE=str(data_dir / "events.jsonl"),
    )
    started = start_server(data_dir, request.param, env=env)
    yield started
    finish_server(started)


@pytest.fixture
def tenant(renewal_server: OpenAcmServer) -> Iterator[Tenant]:
    move_clock(renewal_server, reset=True)
    yield _tenant(renewal_server)
    move_clock(renewal_server, reset=True)


def move_clock(server: OpenAcmServer, **body: Any) -> float:
    answer = httpx.post(f"{server.endpoint}/dev/clock", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return float(answer.json()["epoch"])


def into_renewal_window(server: OpenAcmServer, detail: dict[str, Any]) -> None:
    """Move the clock to 59 days before NotAfter: inside every renewal window."""
    now = move_clock(server, advance_seconds=0)
    move_clock(server, advance_seconds=detail["NotAfter"].timestamp() - 59 * DAY - now)


def wait_renewal(
    acm: Any, arn: str, statuses: tuple[str, ...], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        detail = describe(acm, arn)
        if detail.get("RenewalSummary", {}).get("RenewalStatus") in statuses:
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.1)


def events_of(server: OpenAcmServer, arn: str, detail_type: str) -> list[dict[str, Any]]:
    path = Path(server.env["OPENACM_EVENTS_FILE"])
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        event
        for event in lines
        if event["detail-type"] == detail_type and arn in event.get("resources", [])
    ]


def wait_events(
    server: OpenAcmServer, arn: str, detail_type: str, count: int = 1, timeout: float = 30
) -> list[dict[str, Any]]:
    """The certificate's events of `detail_type` once `count` have been delivered."""
    deadline = time.monotonic() + timeout
    while len(found := events_of(server, arn, detail_type)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found


def exportable_issued(tenant: Tenant, dns: BindServer) -> str:
    arn = request_and_issue(tenant.acm, dns, unique_domain("renew"), Options={"Export": "ENABLED"})
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    return arn


def public_key_of(acm: Any, arn: str) -> bytes:
    pem = acm.get_certificate(CertificateArn=arn)["Certificate"]
    return (
        x509.load_pem_x509_certificate(pem.encode())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_an_exported_certificate_renews_in_its_window(
    tenant: Tenant, bind_server: BindServer
) -> None:
    arn = exportable_issued(tenant, bind_server)
    before = describe(tenant.acm, arn)
    assert before["RenewalEligibility"] == "ELIGIBLE"
    assert "RenewalSummary" not in before
    old_key = public_key_of(tenant.acm, arn)

    into_renewal_window(tenant.server, before)
    after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"))

    summary = after["RenewalSummary"]
    assert summary["RenewalStatus"] == "SUCCESS", summary
    assert "RenewalStatusReason" not in summary
    assert after["CertificateArn"] == arn and after["Status"] == "ISSUED"
    assert after["Serial"] != before["Serial"]
    assert after["NotAfter"] > before["NotAfter"]
    assert public_key_of(tenant.acm, arn) != old_key  # a new key pair
    # The new key has not left yet: no longer eligible until exported again (decision 5).
    assert after["RenewalEligibility"] == "INELIGIBLE"
    # Exactly one Available RENEWAL (beside the ISSUANCE), and the Health event closed.
    available = wait_events(tenant.server, arn, "ACM Certificate Available", count=2)
    time.sleep(0.5)  # anything more would have been delivered by now
    actions = sorted(
        e["detail"]["Action"] for e in events_of(tenant.server, arn, "ACM Certificate Available")
    )
    assert actions == ["ISSUANCE", "RENEWAL"], available
    health = wait_events(tenant.server, arn, "AWS Health Event")
    assert health[-1]["detail"]["statusCode"] == "closed"
    assert health[-1]["source"] == "aws.health"


def test_a_missing_cname_waits_and_renews_once_it_is_back(
    tenant: Tenant, bind_server: BindServer
) -> None:
    arn = exportable_issued(tenant, bind_server)
    detail = describe(tenant.acm, arn)
    record = detail["DomainValidationOptions"][0]["ResourceRecord"]
    bind_server.delete(record["Name"], "CNAME")

    into_renewal_window(tenant.server, detail)
    waiting = wait_renewal(tenant.acm, arn, ("PENDING_VALIDATION",))
    assert waiting["RenewalSummary"]["RenewalStatusReason"] == "PENDING_DOMAIN_VALIDATION"
    assert waiting["Status"] == "ISSUED" and waiting["Serial"] == detail["Serial"]
    # 59 days before expiry is no notice day; 44 days is past the 45-day one: one notice.
    assert events_of(tenant.server, arn, ACTION_REQUIRED) == []
    move_clock(tenant.server, advance_seconds=15 * DAY)
    notice = wait_events(tenant.server, arn, ACTION_REQUIRED)
    assert notice[0]["detail"]["RenewalStatusReason"] == "PENDING_DOMAIN_VALIDATION"
    time.sleep(1)  # several retries of the renewal on the same notice day
    assert len(events_of(tenant.server, arn, ACTION_REQUIRED)) == 1
    move_clock(tenant.server, advance_seconds=15 * DAY)  # 29 days left: the 30-day notice
    assert len(wait_events(tenant.server, arn, ACTION_REQUIRED, count=2)) == 2

    bind_server.add_cname(record["Name"], record["Value"])
    renewed = wait_renewal(tenant.acm, arn, ("SUCCESS",))
    assert renewed["Serial"] != detail["Serial"]


def test_a_renewal_never_validated_fails_at_expiry(tenant: Tenant, bind_server: BindServer) -> None:
    arn = exportable_issued(tenant, bind_server)
    detail = describe(tenant.acm, arn)
    record = detail["DomainValidationOptions"][0]["ResourceRecord"]
    bind_server.delete(record["Name"], "CNAME")
    into_renewal_window(tenant.server, detail)
    wait_renewal(tenant.acm, arn, ("PENDING_VALIDATION",))

    now = move_clock(tenant.server, advance_seconds=0)
    move_clock(tenant.server, advance_seconds=detail["NotAfter"].timestamp() + 60 - now)
    failed = wait_renewal(tenant.acm, arn, ("FAILED",))
    assert failed["Status"] == "EXPIRED"
    assert failed["RenewalSummary"]["RenewalStatusReason"] == "PENDING_DOMAIN_VALIDATION"
    assert failed["Serial"] == detail["Serial"]


def test_an_ineligible_certificate_does_not_renew(tenant: Tenant, bind_server: BindServer) -> None:
    arn = request_and_issue(tenant.acm, bind_server, unique_domain("idle"))
    detail = describe(tenant.acm, arn)
    assert detail["RenewalEligibility"] == "INELIGIBLE"
    into_renewal_window(tenant.server, detail)
    time.sleep(1.5)  # many sweeps (every 0.1 s)
    after = describe(tenant.acm, arn)
    assert "RenewalSummary" not in after and after["Serial"] == detail["Serial"]


def test_the_clock_moves_only_in_dev_mode_and_reads_back(tenant: Tenant) -> None:
    start = move_clock(tenant.server, advance_seconds=0)
    moved = move_clock(tenant.server, advance_seconds=10 * DAY)
    assert moved - start == pytest.approx(10 * DAY, abs=5)
    shown = httpx.get(f"{tenant.server.endpoint}/dev/clock", timeout=10).json()
    assert shown["offset_seconds"] == pytest.approx(10 * DAY, abs=1)
    bad = httpx.post(
        f"{tenant.server.endpoint}/dev/clock", json={"advance_seconds": "soon"}, timeout=10
    )
    assert bad.status_code == 400
    # API calls keep working with a moved clock: signatures are checked against real time.
    tenant.acm.list_certificates()


def test_an_exported_private_certificate_renews_from_its_ca(tenant: Tenant) -> None:
    ca_arn, _root = make_root_ca(tenant)
    arn = request_private(tenant, ca_arn, f"svc-{uuid.uuid4().hex[:8]}.corp.internal")
    before = wait_done(tenant.acm, arn)
    assert before["Status"] == "ISSUED", before
    assert before["RenewalEligibility"] == "INELIGIBLE"  # not exported, not in use
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    assert describe(tenant.acm, arn)["RenewalEligibility"] == "ELIGIBLE"

    into_renewal_window(tenant.server, before)
    after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"))
    assert after["RenewalSummary"]["RenewalStatus"] == "SUCCESS", after["RenewalSummary"]
    assert after["Serial"] != before["Serial"] and after["CertificateArn"] == arn


def test_a_ca_deleted_for_good_fails_the_renewal(tenant: Tenant) -> None:
    ca_arn, _root = make_root_ca(tenant)
    arn = request_private(tenant, ca_arn, f"svc-{uuid.uuid4().hex[:8]}.corp.internal")
    detail = wait_done(tenant.acm, arn)
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    pca = tenant.client("acm-pca")
    pca.update_certificate_authority(CertificateAuthorityArn=ca_arn, Status="DISABLED")
    pca.delete_certificate_authority(CertificateAuthorityArn=ca_arn, PermanentDeletionTimeInDays=7)

    into_renewal_window(tenant.server, detail)  # far more than 7 days later
    failed = wait_renewal(tenant.acm, arn, ("FAILED",))
    assert failed["RenewalSummary"]["RenewalStatusReason"] == "PCA_RESOURCE_NOT_FOUND"
    assert failed["Status"] == "ISSUED" and failed["Serial"] == detail["Serial"]


def test_an_associated_private_certificate_renews_at_its_window_and_announces_it_once(
    tenant: Tenant,
) -> None:
    """In use (an association), not exported: eligible. Not a day before its window opens;
    once it has, renewed with one Available RENEWAL."""
    ca_arn, _root = make_root_ca(tenant)
    arn = request_private(tenant, ca_arn, f"svc-{uuid.uuid4().hex[:8]}.corp.internal")
    before = wait_done(tenant.acm, arn)
    openacm_client(tenant.server, tenant.key).associate_certificate(
        CertificateArn=arn,
        ResourceArn=f"arn:openacm:deploy:us-east-1:{tenant.account_id}:target/web",
    )
    assert describe(tenant.acm, arn)["RenewalEligibility"] == "ELIGIBLE"
    lifetime = before["NotAfter"].timestamp() - before["NotBefore"].timestamp()
    opens_at = before["NotAfter"].timestamp() - lifetime / 3  # 395 days: a third left
    now = move_clock(tenant.server, advance_seconds=0)
    move_clock(tenant.server, advance_seconds=opens_at - DAY - now)
    time.sleep(1.5)  # many sweeps: nothing is due yet
    assert "RenewalSummary" not in describe(tenant.acm, arn)
    move_clock(tenant.server, advance_seconds=2 * DAY)
    after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"))
    assert after["RenewalSummary"]["RenewalStatus"] == "SUCCESS", after["RenewalSummary"]
    assert after["Serial"] != before["Serial"] and after["CertificateArn"] == arn
    assert after["RenewalEligibility"] == "ELIGIBLE"  # still in use
    wait_events(tenant.server, arn, "ACM Certificate Available", count=2)
    time.sleep(0.5)
    actions = [
        e["detail"]["Action"] for e in events_of(tenant.server, arn, "ACM Certificate Available")
    ]
    assert sorted(actions) == ["ISSUANCE", "RENEWAL"]
