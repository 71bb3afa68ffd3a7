"""Retry-After of an ACME CA's error answer reaches the caller (RFC 8555 §6.6: a rateLimited
client must wait as long as told). The CA here is a loopback HTTP server that answers every
newAccount with `rateLimited` and a Retry-After, the way Let's Encrypt does when over limits."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
import requests
from acme import errors

from openacm.adapters.acme.client import (
    POLL_FIRST,
    AcmeClient,
    AcmeFailure,
    _wait,
    new_account_key,
    retry_after_seconds,
)
from openacm.domain.acme import failure_reason
from tests.support.fake_acme import RateLimitingCa


@pytest.fixture
def rate_limiting_ca() -> Iterator[str]:
    with RateLimitingCa() as url:
        yield url


def test_a_rate_limited_answer_carries_its_retry_after(rate_limiting_ca: str) -> None:
    client = AcmeClient(rate_limiting_ca, new_account_key())
    with pytest.raises(AcmeFailure) as refused:
        client.register(["mailto:ops@example.com"])
    assert refused.value.transient
    assert refused.value.retry_after == 120.0
    assert failure_reason(refused.value.problem_type) == "OTHER"


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
    assert retry_after_seconds("30", now=now) == 30.0
    assert retry_after_seconds("Fri, 04 Dec 2026 12:01:00 GMT", now=now) == 60.0
    assert retry_after_seconds("Fri, 04 Dec 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None


def test_polling_starts_soon_backs_off_and_honours_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("openacm.adapters.acme.client.time.sleep", slept.append)
    later = datetime.datetime.now() + datetime.timedelta(minutes=5)
    plain, told = requests.Response(), requests.Response()
    told.headers["Retry-After"] = "3"
    delay = POLL_FIRST
    for _ in range(6):
        delay = _wait(plain, delay, later)
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert _wait(told, POLL_FIRST, later) == 0.2 and slept[-1] == 3.0  # the CA's wait, not ours
    with pytest.raises(errors.TimeoutError):  # no sleeping past the order's deadline
        _wait(told, POLL_FIRST, datetime.datetime.now() + datetime.timedelta(seconds=1))
