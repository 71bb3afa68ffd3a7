"""The SMTP adapter against a real aiosmtpd: STARTTLS, implicit TLS, authentication, and how
refusals are classified (retry or give up)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from openacm.adapters.mail.messages import ApprovalMail, render
from openacm.adapters.mail.smtp import DeliveryError, SmtpSender
from openacm.config import EmailSettings
from openacm.domain.email_validation import validation_emails
from tests.support import pki
from tests.support.server import free_port
from tests.support.smtp import REFUSING_LABEL, MailSink

USER, PASSWORD = "openacm", "s3cret"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A CA file the client trusts and a server context with a certificate for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("smtp-tls")
    root = pki.issue("SMTP Test Root", is_ca=True, key=pki.new_key("EC_prime256v1"))
    leaf = pki.issue("127.0.0.1", ips=["127.0.0.1"], issuer=root, key=pki.new_key("EC_prime256v1"))
    (directory / "ca.pem").write_bytes(root.cert_pem)
    (directory / "cert.pem").write_bytes(leaf.cert_pem)
    (directory / "key.pem").write_bytes(leaf.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return directory / "ca.pem", context


def _mail(domain: str) -> Any:
    mail = ApprovalMail(
        requested_domain=domain,
        fqdn=domain,
        account_id="123456789012",
        region="us-east-1",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/smtp-test",
        approval_url="https://acm.example.com/approvals?code=c&context=0",
        renewal=False,
        recipients=validation_emails(domain),
    )
    return render(mail, "openacm@example.net")


@pytest.fixture
def starttls_sink(tls_files: tuple[Path, ssl.SSLContext]) -> Iterator[MailSink]:
    sink = MailSink(
        tls_context=tls_files[1],
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    ).start()
    yield sink
    sink.stop()


def test_starttls_and_authentication(
    starttls_sink: MailSink, tls_files: tuple[Path, ssl.SSLContext]
) -> None:
    settings = EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=starttls_sink.port,
        smtp_starttls=True,
        smtp_ca_file=str(tls_files[0]),
        smtp_username=USER,
        smtp_password=PASSWORD,
    )
    SmtpSender(settings).send(_mail("starttls.example.com"))
    (received,) = starttls_sink.received
    assert sorted(received.recipients) == sorted(validation_emails("starttls.example.com"))
    # A wrong password fails the delivery; it is retried (the relay may be fixed meanwhile).
    with pytest.raises(DeliveryError) as refused:
        SmtpSender(replace(settings, smtp_password="wrong", smtp_timeout=3)).send(
            _mail("starttls.example.com")
        )
    assert not refused.value.permanent
    # Without STARTTLS the server refuses to go on: nothing is sent in the clear.
    with pytest.raises(DeliveryError):
        SmtpSender(replace(settings, smtp_starttls=False)).send(_mail("starttls.example.com"))
    # A server certificate the client does not trust stops the delivery.
    with pytest.raises(DeliveryError) as untrusted:
        SmtpSender(replace(settings, smtp_ca_file="")).send(_mail("starttls.example.com"))
    assert not untrusted.value.permanent
    assert len(starttls_sink.received) == 1


def test_implicit_tls(tls_files: tuple[Path, ssl.SSLContext]) -> None:
    sink = MailSink(ssl_context=tls_files[1]).start()
    try:
        settings = EmailSettings(
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_tls=True,
            smtp_ca_file=str(tls_files[0]),
        )
        SmtpSender(settings).send(_mail("tls.example.com"))
        assert len(sink.received) == 1
    finally:
        sink.stop()


def test_refusals_are_classified() -> None:
    sink = MailSink().start()
    try:
        settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=sink.port)
        with pytest.raises(DeliveryError) as refused:
            SmtpSender(settings).send(_mail(f"{REFUSING_LABEL}.example.com"))
        assert refused.value.permanent  # 550 for every recipient: nobody to send to
    finally:
        sink.stop()
    closed = EmailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    with pytest.raises(DeliveryError) as unreachable:
        SmtpSender(closed).send(_mail("example.com"))
    assert not unreachable.value.permanent
