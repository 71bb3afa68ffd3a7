"""Delivery through the configured SMTP server (smtplib; STARTTLS, implicit TLS, AUTH).

Failures come in two kinds, because they end differently: a server that cannot be reached,
answers 4xx, or refuses the login, the sender or the data may work later (the mail worker
retries), while a server that refuses every recipient with 5xx means there is nobody to send
to (NO_AVAILABLE_CONTACTS at once).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from openacm.config import EmailSettings


class DeliveryError(Exception):
    """The mail was not delivered; `permanent` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmtpSender:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To addresses; raises DeliveryError. Accepted when the
        server takes at least one recipient (the others are simply not mailboxes)."""
        try:
            smtp = self._connect()
            try:
                # Partly refused recipients are fine: one working mailbox is all ACM needs.
                smtp.send_message(message)
            finally:
                _close(smtp)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"every recipient was refused: {_codes(exc.recipients)}",
                permanent=all(code >= 500 for code, _ in exc.recipients.values()),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # Refused login, sender or data: the installation's problem, not the domain's
            # mailboxes; retried until `max_attempts`, so that a fixed relay still delivers.
            raise DeliveryError(
                f"the mail server answered {exc.smtp_code} {exc.smtp_error!r}", permanent=False
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"the mail server is not reachable: {exc}", permanent=False
            ) from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context(cafile=s.smtp_ca_file or None)
        smtp: smtplib.SMTP
        if s.smtp_tls:
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            smtp.ehlo()
            if s.smtp_starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring its failure: once the server accepted the data the mail is delivered,
    and treating a lost QUIT reply as a failure would send a second mail with a new link."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _codes(recipients: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} {code}" for address, (code, _) in sorted(recipients.items()))
