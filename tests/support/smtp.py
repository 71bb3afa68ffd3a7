"""A real SMTP server for tests: aiosmtpd on loopback, keeping every message it accepts.

Recipients at a domain containing REFUSING_LABEL are refused with 550 (no such mailbox), so a
test can make a mail server refuse every address of a name.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.server import free_port

REFUSING_LABEL = "nomail"
LINK = re.compile(r"https?://[^\s()<>\"]+/approvals\?code=[^\s()<>\"&]+&context=[0-9a-f]+")


@dataclass(frozen=True)
class Received:
    envelope_from: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                # SMTP carries CRLF line ends; tests compare with "\n".
                return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]
        raise AssertionError(f"no {content_type} part in {self.message}")

    @property
    def text(self) -> str:
        return self.part("text/plain")

    @property
    def link(self) -> str:
        found = LINK.findall(self.text)
        assert len(found) == 1, self.text
        return str(found[0])


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Condition()

    async def handle_RCPT(  # aiosmtpd calls its hooks by these names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if REFUSING_LABEL in address.rpartition("@")[2]:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), message)
            )
            self.lock.notify_all()
        return "250 Message accepted"


class MailSink:
    def __init__(self, **controller_options: Any) -> None:
        """`controller_options` go to aiosmtpd's Controller (tls_context, require_starttls,
        authenticator, ssl_context …)."""
        self.port = free_port()
        self._handler = _Handler()
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, **controller_options
        )

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def env(self) -> dict[str, str]:
        return {"OPENACM_EMAIL_SMTP_HOST": "127.0.0.1", "OPENACM_EMAIL_SMTP_PORT": str(self.port)}

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    def mails_for(self, arn: str, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait for `count` mails about the certificate `arn` and return them all."""
        deadline = time.monotonic() + timeout
        with self._handler.lock:
            while True:
                found = [r for r in self._handler.received if arn in r.text]
                if len(found) >= count or time.monotonic() > deadline:
                    assert len(found) >= count, f"{len(found)} of {count} mails for {arn}"
                    return found
                self._handler.lock.wait(0.1)


def on_server(link: str, endpoint: str) -> str:
    """The approval link pointed at the test server (mails carry the configured public URL)."""
    parts = urlsplit(link)
    return f"{endpoint}{parts.path}?{parts.query}"


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))


def iter_states(html: str) -> Iterator[str]:
    yield from re.findall(r'data-state="(\w+)"', html)


def page_state(response: httpx.Response) -> str:
    states = list(iter_states(response.text))
    return states[0] if states else ("valid" if "approve-button" in response.text else "?")
