"""Console sessions: a random id in a Secure/HttpOnly/SameSite=Strict cookie; everything else
(the access key's secret above all) server-side, sealed with the installation's master key
(adapters/envelope.py) in one file per session under DATA_DIR/console-sessions. Files, not
process memory, so every worker of a `--workers N` server sees the same sessions; the browser
never holds the secret after sign-in.

A file is named after the SHA-256 of the session id, so the directory's listing gives no
cookie away, and sealed with that name as context, so a file renamed to another session's
name does not open. Several openacm nodes do not share a data dir: behind a load balancer
the console needs sticky sessions (docs/console.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag

from openacm.adapters.envelope import EnvelopeCipher, MasterKeyError
from openacm.console.api import Signer

SESSION_COOKIE = "openacm_console"
# A session unused for this long is forgotten; one is never kept longer than MAX_AGE.
IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 60 * 60
# The most sessions kept at once: the oldest go first, so sign-in floods cannot fill the disk.
MAX_SESSIONS = 10_000
# A read refreshes the idle timer on disk at most this often (a write per page is not needed).
TOUCH_SECONDS = 60


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
    # Set on sign-out, so the page that signed out does not write the session back.
    ended: bool = False

    def csrf_matches(self, offered: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), offered.encode())


class SessionStore:
    def __init__(
        self, directory: Path, cipher: EnvelopeCipher, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self.cipher = cipher
        self._clock = clock

    def create(self, signer: Signer) -> Session:
        now = self._clock()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._expire(now)
        session = Session(secrets.token_urlsafe(32), signer, now, now)
        self.save(session)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id, its idle timer restarted; None for any other id."""
        if not session_id:
            return None
        name = _file_name(session_id)
        try:
            sealed = (self.directory / name).read_bytes()
            session = _decoded(session_id, self.cipher.open(sealed, _context(name)))
        except (OSError, ValueError, KeyError, TypeError, MasterKeyError, InvalidTag):
            return None  # no such session, or a file that is not one (never trusted)
        now = self._clock()
        if _expired(session, now):
            self.drop(session_id)
            return None
        if now - session.last_used > TOUCH_SECONDS:
            session.last_used = now
            self.save(session)
        return session

    def save(self, session: Session) -> None:
        name = _file_name(session.id)
        sealed = self.cipher.seal(_encoded(session), _context(name))
        # Written aside then renamed: a reader sees the old file or the new one, never half.
        temporary = self.directory / f".{name}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(sealed)
        os.replace(temporary, self.directory / name)

    def drop(self, session_id: str | None) -> None:
        if session_id:
            with contextlib.suppress(OSError):
                (self.directory / _file_name(session_id)).unlink()

    def _expire(self, now: float) -> None:
        """Remove the files of sessions idle past their timeout (the file's mtime is at most
        TOUCH_SECONDS behind the last use), then the oldest beyond MAX_SESSIONS - 1."""
        files: list[tuple[float, Path]] = []
        for path in self.directory.iterdir():
            with contextlib.suppress(OSError):
                files.append((path.stat().st_mtime, path))
        files.sort()
        stale = now - IDLE_SECONDS - TOUCH_SECONDS
        excess = max(0, len(files) - (MAX_SESSIONS - 1))
        for index, (modified, path) in enumerate(files):
            if modified < stale or index < excess:
                with contextlib.suppress(OSError):
                    path.unlink()


def _file_name(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _context(name: str) -> str:
    return f"console-session:{name}"


def _encoded(session: Session) -> bytes:
    fields = dataclasses.asdict(session)
    del fields["id"]  # only its hash is kept, in the file name
    del fields["ended"]
    return orjson.dumps(fields)


def _decoded(session_id: str, data: bytes) -> Session:
    fields = orjson.loads(data)
    return Session(
        id=session_id,
        signer=Signer(**fields["signer"]),
        created=float(fields["created"]),
        last_used=float(fields["last_used"]),
        csrf=str(fields["csrf"]),
        flashes=[(str(kind), str(text)) for kind, text in fields["flashes"]],
    )


def _expired(session: Session, now: float) -> bool:
    return now - session.last_used > IDLE_SECONDS or now - session.created > MAX_AGE_SECONDS
