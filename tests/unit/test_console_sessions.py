"""Console sessions: sealed files shared by every worker; idle and absolute expiry, the bound
on how many are kept, what a file on disk gives away, CSRF match."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.console import sessions
from openacm.console.api import Signer
from openacm.console.pages import csv_of, is_loopback
from openacm.console.sessions import SessionStore

SIGNER = Signer("AKIAEXAMPLE", "the-secret-access-key", "us-east-1")
CIPHER = EnvelopeCipher(MasterKey(b"c" * 32))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SessionStore:
    return SessionStore(tmp_path / "sessions", CIPHER, clock)


def test_another_process_sees_the_session_and_its_changes(tmp_path: Path, clock: Clock) -> None:
    one = SessionStore(tmp_path, CIPHER, clock)
    two = SessionStore(tmp_path, CIPHER, clock)  # another worker, same data dir
    session = one.create(SIGNER)
    seen = two.get(session.id)
    assert seen is not None and seen.signer == SIGNER and seen.csrf == session.csrf
    seen.flashes.append(("ok", "saved"))
    two.save(seen)
    again = one.get(session.id)
    assert again is not None and again.flashes == [("ok", "saved")]
    one.drop(session.id)
    assert two.get(session.id) is None


def test_the_disk_holds_neither_the_secret_nor_the_session_id(
    tmp_path: Path, store: SessionStore
) -> None:
    session = store.create(SIGNER)
    (path,) = store.directory.iterdir()
    assert session.id not in path.name
    content = path.read_bytes()
    assert SIGNER.secret_access_key.encode() not in content
    assert session.csrf.encode() not in content
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # A file moved to another session's name does not open as that session.
    other = store.create(SIGNER)
    os.replace(path, store.directory / sessions._file_name(other.id))
    assert store.get(other.id) is None


def test_a_session_expires_when_idle_and_at_its_maximum_age(
    store: SessionStore, clock: Clock
) -> None:
    session = store.create(SIGNER)
    clock.now += sessions.IDLE_SECONDS - 1
    assert store.get(session.id) is not None  # used: the idle timer restarts
    clock.now += sessions.IDLE_SECONDS - 1
    assert store.get(session.id) is not None
    clock.now += sessions.IDLE_SECONDS + 1
    assert store.get(session.id) is None
    kept = store.create(SIGNER)
    while clock.now - kept.created <= sessions.MAX_AGE_SECONDS:
        assert store.get(kept.id) is not None
        clock.now += sessions.IDLE_SECONDS / 2
    assert store.get(kept.id) is None


def test_unknown_dropped_and_empty_ids_are_no_session(store: SessionStore) -> None:
    session = store.create(SIGNER)
    assert store.get(None) is None and store.get("") is None and store.get("guess") is None
    store.drop(session.id)
    assert store.get(session.id) is None


def test_the_oldest_sessions_go_first_beyond_the_bound(
    monkeypatch: pytest.MonkeyPatch, store: SessionStore
) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    made = []
    for age in range(4):
        made.append(store.create(SIGNER))
        path = store.directory / sessions._file_name(made[-1].id)
        os.utime(path, (1000.0 + age, 1000.0 + age))  # distinct ages on any filesystem
    assert store.get(made[0].id) is None
    assert all(store.get(s.id) is not None for s in made[1:])


def test_csrf_tokens_are_per_session_and_compared_exactly(store: SessionStore) -> None:
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
