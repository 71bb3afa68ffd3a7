"""The webhook signature, the sinks' outcomes, the backoff and the `[events]` settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from pathlib import Path

import pytest

from openacm.adapters.events.jsonl_file import JsonLinesSink
from openacm.adapters.events.webhook import WebhookSink, signature, verify
from openacm.config import SinkSettings, events_from
from openacm.services.events import retry_delay
from tests.support import pki
from tests.support.webhook import WebhookReceiver

BODY = b'{"version":"0","id":"e1","detail-type":"ACM Certificate Available"}'


def test_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(b"key", BODY, hashlib.sha256).hexdigest()
    assert signature("key", BODY) == f"sha256={expected}"
    # A known vector (RFC 4231 test case 2's key and data).
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert verify("key", BODY, signature("key", BODY))
    assert not verify("other", BODY, signature("key", BODY))
    assert not verify("key", BODY + b" ", signature("key", BODY))


def test_webhook_outcomes_and_headers() -> None:
    receiver = WebhookReceiver("key").start()
    try:
        sink = WebhookSink("hook", receiver.url, "key", timeout=2)
        assert [o.delivered for o in sink.deliver([BODY, BODY], [0, 4])] == [True, True]
        assert receiver.headers[0]["X-Openacm-Event-Id"] == "e1"
        assert [h["X-Openacm-Attempt"] for h in receiver.headers] == ["1", "5"]
        receiver.fail_with = 503
        failed, untried = sink.deliver([BODY, BODY], [0, 0])
        assert (
            failed.tried and not failed.delivered and failed.error == "HTTP 503 Service Unavailable"
        )
        assert not untried.tried  # the receiver is failing: the rest wait for the backoff
        wrong = WebhookSink("hook", receiver.url, "not-the-key", timeout=2)
        receiver.fail_with = None
        (refused,) = wrong.deliver([BODY], [0])
        assert refused.error == "HTTP 401 Unauthorized"
    finally:
        receiver.stop()
    (down,) = sink.deliver([BODY], [0])
    assert down.error is not None and "ConnectionRefused" in down.error


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError):
        WebhookSink("hook", "ftp://example.com/", "key", timeout=1)


def test_json_lines_sink_appends_one_line_per_event(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "events.jsonl"
    sink = JsonLinesSink("file", str(path))
    assert all(o.delivered for o in sink.deliver([BODY, b'{"id":\n"e2"}'], [0, 0]))
    assert all(o.delivered for o in sink.deliver([BODY], [0]))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["e1", "e2", "e1"]
    (tmp_path / "a-file").touch()  # a file where the sink wants a directory
    blocked = JsonLinesSink("file", str(tmp_path / "a-file" / "events.jsonl"))
    (failed,) = blocked.deliver([BODY], [0])
    assert failed.tried and not failed.delivered


def test_backoff_doubles_up_to_the_maximum() -> None:
    sink = SinkSettings("s", "file", path="x", retry_initial=2, retry_max=30)
    assert [retry_delay(sink, n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_events_settings_from_the_file_and_the_environment() -> None:
    config = {
        "events": {
            "poll_interval": 0.5,
            "sinks": [
                {"name": "ops", "type": "webhook", "url": "https://h/x", "secret": "k"},
                {"name": "archive", "type": "file", "path": "/tmp/e.jsonl", "max-attempts": 3},
            ],
        }
    }
    env = {
        "OPENACM_EVENTS_BATCH_SIZE": "8",
        "OPENACM_EVENTS_NATS_URL": "nats://127.0.0.1:4222",
    }
    settings = events_from(config, env)
    assert settings.poll_interval == 0.5 and settings.batch_size == 8
    assert [(s.name, s.type) for s in settings.sinks] == [
        ("ops", "webhook"),
        ("archive", "file"),
        ("nats", "nats"),
    ]
    assert settings.sinks[1].max_attempts == 3
    assert settings.sinks[2].subject == "openacm.events"


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ({"name": "a", "type": "webhook", "url": "https://h/"}, "needs secret"),
        ({"name": "a", "type": "file"}, "needs path"),
        ({"name": "a", "type": "nats", "url": "nats://h"}, "needs subject"),
        ({"name": "a", "type": "sqs"}, "type must be one of"),
        ({"name": "a", "type": "file", "path": "p", "colour": "red"}, "unknown"),
        ({"name": "a", "type": "file", "path": "p", "max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_sinks_are_refused(sink: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        events_from({"events": {"sinks": [sink]}}, {})


def test_sink_names_are_unique() -> None:
    sinks = [{"name": "a", "type": "file", "path": "p"}] * 2
    with pytest.raises(ValueError, match="unique"):
        events_from({"events": {"sinks": sinks}}, {})


def test_https_webhook_verifies_the_receiver_against_ca_file(tmp_path: Path) -> None:
    root, intermediate = pki.ca_hierarchy()
    server_cert = pki.issue("127.0.0.1", ips=["127.0.0.1"], issuer=intermediate)
    (tmp_path / "server.pem").write_bytes(server_cert.cert_pem + server_cert.chain_pem)
    (tmp_path / "server.key").write_bytes(server_cert.key_pem)
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    receiver = WebhookReceiver("key", tls=context).start()
    try:
        trusting = WebhookSink(
            "hook", receiver.url, "key", timeout=2, ca_file=str(tmp_path / "root.pem")
        )
        assert [o.delivered for o in trusting.deliver([BODY], [0])] == [True]
        system_trust = WebhookSink("hook", receiver.url, "key", timeout=2)
        (refused,) = system_trust.deliver([BODY], [0])
        assert refused.error is not None and "CERTIFICATE_VERIFY_FAILED" in refused.error
        assert len(receiver.received()) == 1
    finally:
        receiver.stop()
