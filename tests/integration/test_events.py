"""Events end to end: real `openacm serve` processes, a real webhook receiver checking the HMAC,
the JSON-lines file, NATS with a real subscription, and the outbox surviving `kill -9`.

Every server here has sinks configured through a TOML file (`[[events.sinks]]`) as a user
would write it, and polls for deliveries every 0.1 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openacm.adapters.store.events import DEAD, PENDING
from openacm.adapters.store.schema import event_deliveries
from tests.conftest import IN_CI, finish_server, pki_env, start_server
from tests.support import acm_flow, pki
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer
from tests.support.webhook import WebhookReceiver, about

SECRET = "s3cret-for-tests"
AVAILABLE = "ACM Certificate Available"
FAST = {"OPENACM_EVENTS_POLL_INTERVAL": "0.1", "OPENACM_EVENTS_SWEEP_INTERVAL": "0"}
NATS_URL = "nats://127.0.0.1:4222"


def webhook_sink(receiver: WebhookReceiver, **options: Any) -> dict[str, Any]:
    sink: dict[str, Any] = {
        "name": "hook",
        "type": "webhook",
        "url": receiver.url,
        "secret": SECRET,
        "timeout": 2,
        "retry_initial": 0.1,
        "retry_max": 0.3,
        "max_attempts": 1000,
    }
    sink.update(options)
    return sink


def write_config(path: Path, sinks: list[dict[str, Any]]) -> Path:
    """The `[[events.sinks]]` tables of a config file."""
    lines = []
    for sink in sinks:
        lines.append("[[events.sinks]]")
        for key, value in sink.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def events_server(
    tmp_path: Path, backend: str, sinks: list[dict[str, Any]], **env: str
) -> OpenAcmServer:
    config = write_config(tmp_path / f"openacm-{uuid.uuid4().hex[:6]}.toml", sinks)
    return start_server(
        tmp_path, backend, env={**FAST, **env}, extra_args=["--config", str(config)]
    )


def leaf(common_name: str, days: float = 365) -> pki.Issued:
    start = pki.now() - dt.timedelta(days=1)
    return pki.issue(
        common_name,
        sans=[common_name],
        not_before=start,
        not_after=pki.now() + dt.timedelta(days=days),
    )


def events_cli(server: OpenAcmServer, *args: str) -> list[dict[str, Any]]:
    done = server.admin("events", *args, "--output", "json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _poll_deliveries(
    server: OpenAcmServer, check: Callable[[list[tuple[str, int]]], bool], timeout: float
) -> bool:
    """Wait until `check` holds for the (status, attempts) of every delivery, read from the
    store in-process: an `openacm events list` per poll would start an interpreter each time
    (what the CLI shows is checked once the store says it is time)."""
    query = select(event_deliveries.c.status, event_deliveries.c.attempts)
    deadline = time.monotonic() + timeout
    while not check([(status, attempts) for status, attempts in server.query(query)]):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver(SECRET).start()
    yield started
    started.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_import_and_reimport_reach_the_webhook_and_the_file(
    tmp_path: Path, backend: str, receiver: WebhookReceiver
) -> None:
    lines = tmp_path / "events" / "acm.jsonl"
    server = events_server(
        tmp_path,
        backend,
        [webhook_sink(receiver), {"name": "archive", "type": "file", "path": str(lines)}],
    )
    try:
        acm = server.client()
        first = leaf("events.example.com")
        arn = acm.import_certificate(**first.import_args())["CertificateArn"]
        imported = receiver.wait_for(
            lambda evs: any(about(arn, AVAILABLE, "IMPORT")(e) for e in evs)
        )
        event = next(e for e in imported if about(arn, AVAILABLE, "IMPORT")(e))
        assert event["source"] == "aws.acm"
        assert event["account"] == "000000000000"
        assert event["region"] == "us-east-1"
        detail = event["detail"]
        assert detail["CertificateType"] == "IMPORTED"
        assert detail["CommonName"] == "events.example.com"
        assert detail["InUse"] is False and detail["Exported"] is False
        not_after = first.certificate.not_valid_after_utc
        assert detail["CertificateExpirationDate"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert detail["DaysToExpiry"] in (363, 364)

        second = leaf("events.example.com", days=200)
        acm.import_certificate(**second.import_args(CertificateArn=arn))
        received = receiver.wait_for(
            lambda evs: any(about(arn, AVAILABLE, "REIMPORT")(e) for e in evs)
        )
        reimport = next(e for e in received if about(arn, AVAILABLE, "REIMPORT")(e))
        assert reimport["detail"]["DaysToExpiry"] in (198, 199)
        assert receiver.bad_signatures == 0
        headers = receiver.headers[-1]
        assert headers["X-Openacm-Event-Id"] == reimport["id"]
        assert abs(int(headers["X-Openacm-Timestamp"]) - time.time()) < 60

        # The file sink has the same events, one JSON object a line, byte for byte the bodies.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            written = (
                [json.loads(x) for x in lines.read_text().splitlines()] if lines.exists() else []
            )
            if {e["id"] for e in written} >= {event["id"], reimport["id"]}:
                break
            time.sleep(0.05)
        by_id = {e["id"]: e for e in written}
        assert by_id[event["id"]] == event
        assert by_id[reimport["id"]] == reimport
        # Both sinks' deliveries are recorded delivered.
        rows = events_cli(server, "list", "--status", "delivered")
        assert {(r["event_id"], r["sink"]) for r in rows} >= {
            (event["id"], "hook"),
            (event["id"], "archive"),
            (reimport["id"], "hook"),
            (reimport["id"], "archive"),
        }
    finally:
        finish_server(server)


def test_an_event_exists_only_if_its_change_committed(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    """A refused re-import (another key) commits nothing and emits nothing."""
    server = events_server(tmp_path, "sqlite", [webhook_sink(receiver)])
    try:
        acm = server.client()
        arn = acm.import_certificate(**leaf("a.example.com").import_args())["CertificateArn"]
        receiver.wait_for(lambda evs: len(evs) == 1)
        other = pki.issue("b.example.com", key=pki.new_key("EC_prime256v1"))
        with pytest.raises(acm.exceptions.ClientError):
            acm.import_certificate(**other.import_args(CertificateArn=arn))
        time.sleep(1.0)
        assert [e["detail"]["Action"] for e in receiver.received()] == ["IMPORT"]
    finally:
        finish_server(server)


def test_a_receiver_down_for_a_while_receives_every_event(
    tmp_path: Path, backend: str, receiver: WebhookReceiver
) -> None:
    server = events_server(tmp_path, backend, [webhook_sink(receiver)])
    try:
        receiver.stop()
        acm = server.client()
        arns = [
            acm.import_certificate(**leaf(f"down{i}.example.com").import_args())["CertificateArn"]
            for i in range(6)
        ]
        # Refused connections are failed attempts, retried with backoff.
        assert _poll_deliveries(
            server,
            lambda rows: len(rows) == len(arns) and any(n >= 2 for s, n in rows if s == PENDING),
            15,
        )
        pending = events_cli(server, "list", "--status", "pending")
        assert len(pending) == len(arns) and any(p["attempts"] >= 2 for p in pending), pending
        receiver.start()
        events = receiver.wait_for(
            lambda evs: {e["resources"][0] for e in evs} >= set(arns), timeout=30
        )
        assert all(e["detail"]["Action"] == "IMPORT" for e in events)
        assert receiver.bad_signatures == 0
    finally:
        finish_server(server)


def test_dead_letter_after_the_attempt_limit_and_requeue(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    server = events_server(tmp_path, "sqlite", [webhook_sink(receiver, max_attempts=3)])
    try:
        receiver.fail_with = 500
        acm = server.client()
        arn = acm.import_certificate(**leaf("dead.example.com").import_args())["CertificateArn"]
        assert _poll_deliveries(server, lambda rows: any(s == DEAD for s, _ in rows), 20)
        dead = events_cli(server, "list", "--dead-letter")
        assert len(dead) == 1, dead
        assert dead[0]["attempts"] == 3
        assert dead[0]["resource"] == arn
        assert dead[0]["last_error"].startswith("HTTP 500")
        time.sleep(0.5)
        assert receiver.posts == 3  # no attempt after the dead letter
        table = server.admin("events", "list", "--dead-letter")
        assert "HTTP 500" in table.stdout and "dead" in table.stdout
        assert events_cli(server, "stats") == [{"sink": "hook", "status": "dead", "count": 1}]

        receiver.fail_with = None
        requeued = server.admin("events", "requeue", "--all")
        assert requeued.returncode == 0 and "1 delivery" in requeued.stdout
        receiver.wait_for(lambda evs: any(about(arn, AVAILABLE, "IMPORT")(e) for e in evs))
        assert events_cli(server, "list", "--dead-letter") == []
    finally:
        finish_server(server)


def test_kill_9_before_delivery_loses_no_event(
    tmp_path: Path, backend: str, receiver: WebhookReceiver
) -> None:
    # A delivery leased by the killed process is taken again when its lease runs out: a
    # short lease keeps the wait short.
    server = events_server(
        tmp_path, backend, [webhook_sink(receiver)], OPENACM_EVENTS_LEASE_SECONDS="3"
    )
    try:
        receiver.stop()  # nothing can be delivered before the kill
        acm = server.client()
        arns = [
            acm.import_certificate(**leaf(f"kill{i}.example.com").import_args())["CertificateArn"]
            for i in range(3)
        ]
        server.kill()
        receiver.start()
        time.sleep(0.5)
        assert receiver.received() == []
        server.start()
        events = receiver.wait_for(
            lambda evs: {e["resources"][0] for e in evs} >= set(arns), timeout=30
        )
        assert {e["detail"]["Action"] for e in events} == {"IMPORT"}
    finally:
        finish_server(server)


def _nats_reachable() -> str | None:
    async def probe() -> None:
        import nats

        client = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        await client.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"NATS at {NATS_URL} is not reachable: {type(exc).__name__}: {exc}"
    return None


def test_nats_sink_publishes_to_a_real_subscription(tmp_path: Path) -> None:
    reason = _nats_reachable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the NATS test: {reason}")
        pytest.skip(reason)
    import nats

    subject = f"openacm.test.{uuid.uuid4().hex[:8]}"
    server = events_server(
        tmp_path,
        "sqlite",
        [{"name": "bus", "type": "nats", "url": NATS_URL, "subject": subject}],
    )

    async def scenario() -> list[dict[str, Any]]:
        client = await nats.connect(NATS_URL)
        subscription = await client.subscribe(subject)
        await client.flush()
        acm = server.client()
        arn = await asyncio.to_thread(
            lambda: acm.import_certificate(**leaf("nats.example.com").import_args())[
                "CertificateArn"
            ]
        )
        message = await subscription.next_msg(timeout=20)
        await client.close()
        event = json.loads(message.data)
        assert event["resources"] == [arn]
        return [event]

    try:
        (event,) = asyncio.run(scenario())
        assert event["detail-type"] == AVAILABLE
        assert event["detail"]["Action"] == "IMPORT"
        rows = events_cli(server, "list", "--sink", "bus", "--status", "delivered")
        assert [r["event_id"] for r in rows] == [event["id"]]
    finally:
        finish_server(server)


def test_a_bad_sink_configuration_stops_the_server_at_start(tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.toml", [{"name": "x", "type": "webhook", "url": "x"}])
    server = OpenAcmServer(data_dir=tmp_path / "bad", extra_args=["--config", str(config)])
    with pytest.raises(RuntimeError, match="needs secret"):
        server.start(timeout=30)
    server.stop()


def test_env_shortcuts_configure_a_file_sink(tmp_path: Path) -> None:
    lines = tmp_path / "env-events.jsonl"
    server = start_server(tmp_path, "sqlite", env={**FAST, "OPENACM_EVENTS_FILE": str(lines)})
    try:
        arn = server.client().import_certificate(**leaf("env.example.com").import_args())[
            "CertificateArn"
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (lines.exists() and lines.read_text()):
            time.sleep(0.05)
        (event,) = [json.loads(x) for x in lines.read_text().splitlines()]
        assert event["resources"] == [arn]
    finally:
        finish_server(server)


def test_events_cli_show_prints_the_event(tmp_path: Path, receiver: WebhookReceiver) -> None:
    server = events_server(tmp_path, "sqlite", [webhook_sink(receiver)])
    try:
        server.client().import_certificate(**leaf("show.example.com").import_args())
        (event,) = receiver.wait_for(lambda evs: len(evs) == 1)
        shown = server.admin("events", "show", event["id"])
        assert shown.returncode == 0
        assert json.loads(shown.stdout) == event
        missing = server.admin("events", "show", str(uuid.uuid4()))
        assert missing.returncode != 0
    finally:
        finish_server(server)


def test_issuance_by_the_validation_worker_emits_available_issuance(
    tmp_path: Path, receiver: WebhookReceiver, bind_server: BindServer
) -> None:
    config = write_config(tmp_path / "issue.toml", [webhook_sink(receiver)])
    server = start_server(
        tmp_path,
        "sqlite",
        env={**pki_env(bind_server), **FAST},
        extra_args=["--config", str(config)],
    )
    try:
        acm = server.client()
        domain = acm_flow.unique_domain("ev")
        arn = acm_flow.request_and_issue(acm, bind_server, domain, KeyAlgorithm="EC_prime256v1")
        events = receiver.wait_for(
            lambda evs: any(about(arn, AVAILABLE, "ISSUANCE")(e) for e in evs)
        )
        (event,) = [e for e in events if e["resources"] == [arn]]  # exactly one
        detail = event["detail"]
        described = acm_flow.describe(acm, arn)
        assert detail["CertificateType"] == "AMAZON_ISSUED"
        assert detail["CommonName"] == domain
        assert detail["DomainValidationMethod"] == "DNS"
        assert detail["CertificateExpirationDate"] == described["NotAfter"].strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert detail["InUse"] is False and detail["Exported"] is False
    finally:
        finish_server(server)


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_deliver_every_event_once(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    first = events_server(tmp_path, "postgresql", [webhook_sink(receiver)])
    config = write_config(tmp_path / "second.toml", [webhook_sink(receiver)])
    second = OpenAcmServer(
        data_dir=first.data_dir,  # the same master key
        database_url=first.database_url,
        env=FAST,
        extra_args=["--config", str(config)],
    )
    try:
        second.start()
        receiver.stop()  # both servers find the backlog when the receiver comes back
        clients = [first.client(), second.client()]
        arns = [
            clients[i % 2].import_certificate(**leaf(f"pair{i}.example.com").import_args())[
                "CertificateArn"
            ]
            for i in range(20)
        ]
        time.sleep(0.5)
        receiver.start()
        events = receiver.wait_for(
            lambda evs: {e["resources"][0] for e in evs} >= set(arns), timeout=30
        )
        time.sleep(1.0)  # anything delivered twice would have arrived by now
        ids = [e["id"] for e in receiver.received()]
        assert len(ids) == len(set(ids)) == 20, events
    finally:
        second.stop()
        finish_server(first)
