"""Console sessions: a random id in a Secure/HttpOnly/SameSite=Strict cookie, everything else
(the access key's secret above all) in this process's memory, so the browser never holds a
secret after sign-in and a stolen cookie dies with the session's idle timeout or the process.

Memory, not the store: a session is lost when the server restarts, and with `--workers N` a
browser is only signed in on the worker it signed in through (docs/console.md).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openacm.console.api import Signer

SESSION_COOKIE = "openacm_console"
# A session unused for this long is forgotten; one is never kept longer than MAX_AGE.
IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 60 * 60
# The most sessions kept at once: the oldest go first, so sign-in floods cannot grow memory.
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    signer: Signer
    created: float
    last_used: float
    # The anti-forgery value every form of this session carries (synchronizer token).
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Messages for the next page shown (post/redirect/get): (kind, text), kind "ok" or "error".
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def csrf_matches(self, offered: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), offered.encode())


class SessionStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def create(self, signer: Signer) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), signer, now, now)
        with self._lock:
            self._expire(now)
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id, its idle timer restarted; None for any other id."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if _expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_used = now
            return session

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expire(self, now: float) -> None:
        for stale in [s.id for s in self._sessions.values() if _expired(s, now)]:
            del self._sessions[stale]


def _expired(session: Session, now: float) -> bool:
    return now - session.last_used > IDLE_SECONDS or now - session.created > MAX_AGE_SECONDS
