"""Console sessions: idle and absolute expiry, the bound on how many are kept, CSRF match."""

from __future__ import annotations

import pytest

from openacm.console import sessions
from openacm.console.api import Signer
from openacm.console.pages import csv_of, is_loopback
from openacm.console.sessions import SessionStore

SIGNER = Signer("AKIAEXAMPLE", "secret", "us-east-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_expires_when_idle_and_at_its_maximum_age() -> None:
    clock = Clock()
    store = SessionStore(clock)
    session = store.create(SIGNER)
    clock.now += sessions.IDLE_SECONDS - 1
    assert store.get(session.id) is session  # used: the idle timer restarts
    clock.now += sessions.IDLE_SECONDS - 1
    assert store.get(session.id) is session
    clock.now += sessions.IDLE_SECONDS + 1
    assert store.get(session.id) is None
    kept = store.create(SIGNER)
    while clock.now - kept.created <= sessions.MAX_AGE_SECONDS:
        assert store.get(kept.id) is kept
        clock.now += sessions.IDLE_SECONDS / 2
    assert store.get(kept.id) is None


def test_unknown_dropped_and_empty_ids_are_no_session() -> None:
    store = SessionStore(Clock())
    session = store.create(SIGNER)
    assert store.get(None) is None and store.get("") is None and store.get("guess") is None
    store.drop(session.id)
    assert store.get(session.id) is None


def test_the_oldest_sessions_go_first_beyond_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    store = SessionStore(Clock())
    made = [store.create(SIGNER) for _ in range(4)]
    assert store.get(made[0].id) is None
    assert all(store.get(s.id) is s for s in made[1:])


def test_csrf_tokens_are_per_session_and_compared_exactly() -> None:
    store = SessionStore(Clock())
    one, two = store.create(SIGNER), store.create(SIGNER)
    assert one.csrf != two.csrf
    assert one.csrf_matches(one.csrf)
    assert not one.csrf_matches(two.csrf)
    assert not one.csrf_matches("")


def test_csv_cells_that_spreadsheets_would_run_are_quoted_as_text() -> None:
    assert csv_of([["a.example.com", "=HYPERLINK(1)", "-1", "@x"]]) == (
        "a.example.com,'=HYPERLINK(1),'-1,'@x\n"
    )


def test_loopback_hosts_are_the_ones_browsers_trust_without_https() -> None:
    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("console.example.com") and not is_loopback(None)
