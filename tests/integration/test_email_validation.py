"""Email validation end to end: RequestCertificate → approval mails received by a real SMTP
server (aiosmtpd) → the approval page → ISSUED, verified with OpenSSL.

Also: the refusals of the page (GET never approves, forged forms, used, replaced, expired,
tampered and cross-certificate tokens), ResendValidationEmail, the failure of a request whose
mail cannot be delivered (NO_AVAILABLE_CONTACTS), and the move from email to DNS validation
against the loopback BIND server.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openacm.adapters.store.schema import work_items
from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.support.acm_flow import describe, publish_records, unique_domain, wait_for_status
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer, free_port
from tests.support.smtp import (
    REFUSING_LABEL,
    MailSink,
    Received,
    form_fields,
    on_server,
    page_state,
)

APPROVAL_URL = "https://approvals.openacm-test.com"
MAILBOXES = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")


def email_env(bind: BindServer, smtp: dict[str, str], **overrides: str) -> dict[str, str]:
    return pki_env(
        bind,
        OPENACM_EMAIL_APPROVAL_URL=APPROVAL_URL,
        OPENACM_EMAIL_RETRY_INITIAL="0.1",
        OPENACM_EMAIL_RETRY_MAX="0.3",
        OPENACM_EMAIL_SMTP_TIMEOUT="20",
        **smtp,
        **overrides,
    )


@pytest.fixture(scope="module")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def email_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
    mail_sink: MailSink,
) -> Iterator[OpenAcmServer]:
    started = start_server(
        tmp_path_factory.mktemp("openacm-email"),
        request.param,
        env=email_env(bind_server, mail_sink.env()),
    )
    yield started
    finish_server(started)


@pytest.fixture
def tenant(email_server: OpenAcmServer) -> Tenant:
    return _tenant(email_server)


def request_email(acm: Any, domain: str, *sans: str, **extra: Any) -> str:
    params: dict[str, Any] = {"DomainName": domain, "ValidationMethod": "EMAIL", **extra}
    if sans:
        params["SubjectAlternativeNames"] = list(sans)
    return str(acm.request_certificate(**params)["CertificateArn"])


def addresses(domain: str) -> list[str]:
    return [f"{mailbox}@{domain}" for mailbox in MAILBOXES]


def by_name(mails: list[Received]) -> dict[str, Received]:
    return {mail.subject.removeprefix("Certificate request for "): mail for mail in mails}


class Browser:
    """A visitor of the approval page: one cookie jar, as a browser has."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.http = httpx.Client(timeout=10)

    def open(self, link: str) -> httpx.Response:
        return self.http.get(on_server(link, self.endpoint))

    def approve(self, page: httpx.Response) -> httpx.Response:
        return self.http.post(f"{self.endpoint}/approvals", data=form_fields(page.text))

    def approve_link(self, link: str) -> httpx.Response:
        page = self.open(link)
        assert page.status_code == 200, page.text
        return self.approve(page)


def test_mails_to_the_five_addresses_then_approval_issues(
    tenant: Tenant, mail_sink: MailSink, tmp_path: Path
) -> None:
    domain = unique_domain("mail")
    names = [domain, f"www.{domain}", f"*.{domain}", f"api.{domain}", f"sub.api.{domain}"]
    arn = request_email(
        tenant.acm,
        *names,
        DomainValidationOptions=[{"DomainName": f"sub.api.{domain}", "ValidationDomain": domain}],
    )
    # DescribeCertificate shows each name's addresses from the first call.
    detail = describe(tenant.acm, arn)
    assert detail["Status"] == "PENDING_VALIDATION"
    options = {o["DomainName"]: o for o in detail["DomainValidationOptions"]}
    expected_mail_domain = {
        domain: domain,
        f"www.{domain}": domain,  # www. stripped
        f"*.{domain}": domain,  # *. stripped
        f"api.{domain}": f"api.{domain}",
        f"sub.api.{domain}": domain,  # the ValidationDomain given
    }
    for name, option in options.items():
        assert option["ValidationMethod"] == "EMAIL"
        assert option["ValidationStatus"] == "PENDING_VALIDATION"
        assert option["ValidationEmails"] == addresses(expected_mail_domain[name])
        assert "ResourceRecord" not in option
    assert options[f"sub.api.{domain}"]["ValidationDomain"] == domain
    assert options[f"www.{domain}"]["ValidationDomain"] == f"www.{domain}"

    # One mail per requested name, even for names under one another.
    mails = by_name(mail_sink.mails_for(arn, len(names)))
    assert sorted(mails) == sorted(names)
    for name, mail in mails.items():
        assert sorted(mail.recipients) == sorted(addresses(expected_mail_domain[name]))
        assert mail.message.get_content_type() == "multipart/alternative"
        text = mail.text
        assert f"We received a request to issue an SSL/TLS certificate for {domain}." in text
        assert f"Domain: {name}\n" in text
        assert f"AWS account ID: {tenant.account_id}\n" in text
        assert "AWS Region name: us-east-1\n" in text
        assert f"Certificate Identifier: {arn}\n" in text
        assert mail.link.startswith(f"{APPROVAL_URL}/approvals?code=")
        assert mail.link.replace("&", "&amp;") in mail.part("text/html")

    browser = Browser(tenant.server.endpoint)
    first = mails[domain]
    page = browser.open(first.link)
    assert page.status_code == 200, page.text
    assert 'name="approve-button"' in page.text
    assert arn in page.text and tenant.account_id in page.text
    assert page.headers["cache-control"] == "no-store"
    # Looking at the page (as a mail scanner would) approves nothing.
    browser.open(first.link)
    assert describe(tenant.acm, arn)["DomainValidationOptions"][0]["ValidationStatus"] == (
        "PENDING_VALIDATION"
    )
    # A form posted without the page's cookie (another site's form) is refused.
    forged = httpx.post(f"{tenant.server.endpoint}/approvals", data=form_fields(page.text))
    assert forged.status_code == 403 and page_state(forged) == "forged"
    assert describe(tenant.acm, arn)["DomainValidationOptions"][0]["ValidationStatus"] == (
        "PENDING_VALIDATION"
    )
    approved = browser.approve(page)
    assert approved.status_code == 200 and page_state(approved) == "approved"
    options = describe(tenant.acm, arn)["DomainValidationOptions"]
    assert [o["ValidationStatus"] for o in options] == ["SUCCESS"] + ["PENDING_VALIDATION"] * 4
    # Single use: the same link again, and the same form again.
    again = browser.open(first.link)
    assert again.status_code == 410 and page_state(again) == "used"
    assert browser.approve(page).status_code in (403, 410)

    for name in names[1:]:
        assert page_state(browser.approve_link(mails[name].link)) == "approved"
    detail = wait_for_status(tenant.acm, arn)
    assert detail["Status"] == "ISSUED", detail
    assert all(o["ValidationStatus"] == "SUCCESS" for o in detail["DomainValidationOptions"])

    issued = tenant.acm.get_certificate(CertificateArn=arn)
    roots = httpx.get(f"{tenant.server.endpoint}/ca/roots.pem", timeout=10).content
    (tmp_path / "root.pem").write_bytes(roots)
    (tmp_path / "chain.pem").write_text(issued["CertificateChain"])
    (tmp_path / "leaf.pem").write_text(issued["Certificate"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Once issued, a link not used yet leads nowhere.
    assert page_state(browser.open(first.link)) == "used"


def test_tampered_and_cross_certificate_tokens_are_refused(
    tenant: Tenant, mail_sink: MailSink
) -> None:
    one = request_email(tenant.acm, unique_domain("one"))
    two = request_email(tenant.acm, unique_domain("two"))
    (mail_one,) = mail_sink.mails_for(one, 1)
    (mail_two,) = mail_sink.mails_for(two, 1)
    code_one = mail_one.link.split("code=")[1].split("&")[0]
    code_two = mail_two.link.split("code=")[1].split("&")[0]
    browser = Browser(tenant.server.endpoint)
    tampered = mail_one.link.replace(
        code_one, code_one[:-2] + ("AA" if code_one[-2:] != "AA" else "BB")
    )
    crossed = mail_one.link.replace(code_one, code_two)
    for link in (tampered, crossed, mail_one.link.split("&context=")[0] + "&context=00"):
        page = browser.open(link)
        assert page.status_code == 404 and page_state(page) == "invalid"
        assert "approve-button" not in page.text
    # A valid form for one certificate with the other's code in it changes nothing either.
    page = browser.open(mail_one.link)
    fields = form_fields(page.text) | {"code": code_two}
    refused = browser.http.post(f"{tenant.server.endpoint}/approvals", data=fields)
    assert page_state(refused) == "invalid"
    for arn in (one, two):
        assert describe(tenant.acm, arn)["DomainValidationOptions"][0]["ValidationStatus"] == (
            "PENDING_VALIDATION"
        )


def test_validation_method_defaults_to_email(tenant: Tenant, mail_sink: MailSink) -> None:
    arn = str(tenant.acm.request_certificate(DomainName=unique_domain())["CertificateArn"])
    assert describe(tenant.acm, arn)["DomainValidationOptions"][0]["ValidationMethod"] == "EMAIL"
    mail_sink.mails_for(arn, 1)


def test_validation_domain_outside_the_registrable_domain_is_refused(tenant: Tenant) -> None:
    domain = unique_domain()
    for bad in ("example.com", f"x.{domain}", f"{domain}.example.com"):
        with pytest.raises(tenant.acm.exceptions.InvalidDomainValidationOptionsException):
            request_email(
                tenant.acm,
                domain,
                DomainValidationOptions=[{"DomainName": domain, "ValidationDomain": bad}],
            )


def test_resend_replaces_the_token_and_uses_the_domain_once(
    tenant: Tenant, mail_sink: MailSink
) -> None:
    domain = unique_domain("resend")
    name = f"deep.{domain}"
    arn = request_email(tenant.acm, name)
    (original,) = mail_sink.mails_for(arn, 1)
    assert sorted(original.recipients) == sorted(addresses(name))
    deadline = select(work_items.c.deadline_at).where(
        work_items.c.kind == "validate", work_items.c.resource_arn == arn
    )
    ((requested_deadline,),) = tenant.server.query(deadline)
    time.sleep(0.05)
    tenant.acm.resend_validation_email(CertificateArn=arn, Domain=name, ValidationDomain=domain)
    # The request has another 72 hours from the resend (the API reference).
    ((resent_deadline,),) = tenant.server.query(deadline)
    assert resent_deadline > requested_deadline
    mails = mail_sink.mails_for(arn, 2)
    resent = next(m for m in mails if m.link != original.link)
    assert sorted(resent.recipients) == sorted(addresses(domain))
    # The ValidationDomain of the call is not kept: Describe still shows the request's.
    option = describe(tenant.acm, arn)["DomainValidationOptions"][0]
    assert option["ValidationEmails"] == addresses(name)
    browser = Browser(tenant.server.endpoint)
    old = browser.open(original.link)
    assert old.status_code == 410 and page_state(old) == "replaced"
    assert page_state(browser.approve_link(resent.link)) == "approved"
    assert wait_for_status(tenant.acm, arn)["Status"] == "ISSUED"
    # Not pending any more.
    with pytest.raises(tenant.acm.exceptions.InvalidStateException):
        tenant.acm.resend_validation_email(CertificateArn=arn, Domain=name, ValidationDomain=name)


def test_resend_errors(tenant: Tenant) -> None:
    domain = unique_domain()
    arn = request_email(tenant.acm, domain)
    with pytest.raises(tenant.acm.exceptions.InvalidDomainValidationOptionsException):
        tenant.acm.resend_validation_email(
            CertificateArn=arn, Domain=f"other.{domain}", ValidationDomain=domain
        )
    with pytest.raises(tenant.acm.exceptions.InvalidDomainValidationOptionsException):
        tenant.acm.resend_validation_email(
            CertificateArn=arn, Domain=domain, ValidationDomain="example.org"
        )
    dns = str(
        tenant.acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    )
    with pytest.raises(tenant.acm.exceptions.InvalidStateException):
        tenant.acm.resend_validation_email(
            CertificateArn=dns, Domain=domain, ValidationDomain=domain
        )
    missing = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(tenant.acm.exceptions.ResourceNotFoundException):
        tenant.acm.resend_validation_email(
            CertificateArn=missing, Domain=domain, ValidationDomain=domain
        )
    not_a_certificate = f"arn:aws:acm:us-east-1:{tenant.account_id}:account/x"
    with pytest.raises(tenant.acm.exceptions.InvalidArnException):
        tenant.acm.resend_validation_email(
            CertificateArn=not_a_certificate, Domain=domain, ValidationDomain=domain
        )


def test_refused_recipients_fail_the_request(tenant: Tenant) -> None:
    domain = unique_domain(REFUSING_LABEL)
    arn = request_email(tenant.acm, domain)
    detail = wait_for_status(tenant.acm, arn)
    assert detail["Status"] == "FAILED"
    assert detail["FailureReason"] == "NO_AVAILABLE_CONTACTS"
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "FAILED"


def test_move_from_email_to_dns(
    tenant: Tenant, bind_server: BindServer, mail_sink: MailSink
) -> None:
    domain = unique_domain("move")
    arn = request_email(tenant.acm, domain, f"www.{domain}")
    mails = by_name(mail_sink.mails_for(arn, 2))
    tenant.acm.update_certificate_options(CertificateArn=arn, Options={"ValidationMethod": "DNS"})
    summaries = tenant.acm.list_certificate_domain_validations(CertificateArn=arn)[
        "DomainValidationSummaryList"
    ]
    assert [s["DomainName"] for s in summaries] == [domain, f"www.{domain}"]
    records = {}
    for summary in summaries:
        active = summary["ActiveValidationConfiguration"]
        assert active["ValidationMethod"] == "EMAIL"
        assert active["ValidationStatus"] == "PENDING_VALIDATION"
        challenge = active["ValidationChallenge"]["EmailValidationChallenge"]
        assert challenge["ValidationEmails"] == addresses(domain)
        requested = summary["RequestedValidationConfiguration"]
        assert requested["ValidationMethod"] == "DNS"
        assert requested["ValidationStatus"] == "PENDING_VALIDATION"
        records[summary["DomainName"]] = requested["ValidationChallenge"]["DnsValidationChallenge"][
            "ResourceRecord"
        ]
    # The records are the account's DNS records for the names (the same a DNS request gets).
    dns_arn = str(
        tenant.acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    )
    assert (
        describe(tenant.acm, dns_arn)["DomainValidationOptions"][0]["ResourceRecord"]
        == (records[domain])
    )
    publish_records(
        bind_server,
        {"DomainValidationOptions": [{"ResourceRecord": r} for r in records.values()]},
    )
    detail = wait_for_status(tenant.acm, arn)
    assert detail["Status"] == "ISSUED", detail
    for option in detail["DomainValidationOptions"]:
        assert option["ValidationMethod"] == "DNS"
        assert option["ResourceRecord"] == records[option["DomainName"]]
        assert "ValidationEmails" not in option
    summaries = tenant.acm.list_certificate_domain_validations(CertificateArn=arn)[
        "DomainValidationSummaryList"
    ]
    for summary in summaries:
        assert "RequestedValidationConfiguration" not in summary
        assert summary["ActiveValidationConfiguration"]["ValidationMethod"] == "DNS"
        assert summary["ActiveValidationConfiguration"]["ValidationStatus"] == "SUCCESS"
    # The approval links of the moved certificate lead nowhere.
    page = Browser(tenant.server.endpoint).open(mails[domain].link)
    assert page_state(page) in ("closed", "replaced")
    assert "approve-button" not in page.text


def test_update_options_refusals(tenant: Tenant) -> None:
    domain = unique_domain()
    dns = str(
        tenant.acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    )
    with pytest.raises(tenant.acm.exceptions.ValidationException):
        tenant.acm.update_certificate_options(
            CertificateArn=dns, Options={"ValidationMethod": "EMAIL"}
        )
    with pytest.raises(tenant.acm.exceptions.ValidationException):
        tenant.acm.update_certificate_options(CertificateArn=dns, Options={"Export": "ENABLED"})
    # Already DNS: nothing to move.
    tenant.acm.update_certificate_options(CertificateArn=dns, Options={"ValidationMethod": "DNS"})
    missing = dns.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(tenant.acm.exceptions.ResourceNotFoundException):
        tenant.acm.update_certificate_options(
            CertificateArn=missing, Options={"ValidationMethod": "DNS"}
        )


# -- servers of their own: short-lived tokens, an unreachable mail server -----------------------


def test_expired_token_is_refused(
    tmp_path: Path, bind_server: BindServer, mail_sink: MailSink
) -> None:
    server = start_server(
        tmp_path, "sqlite", env=email_env(bind_server, mail_sink.env(), OPENACM_EMAIL_TOKEN_TTL="1")
    )
    try:
        tenant = _tenant(server)
        arn = request_email(tenant.acm, unique_domain("expire"))
        (mail,) = mail_sink.mails_for(arn, 1)
        time.sleep(1.2)
        browser = Browser(server.endpoint)
        page = browser.open(mail.link)
        assert page.status_code == 410 and page_state(page) == "expired"
        assert describe(tenant.acm, arn)["Status"] == "PENDING_VALIDATION"
    finally:
        finish_server(server)


def test_unreachable_mail_server_fails_with_no_available_contacts(
    tmp_path: Path, bind_server: BindServer
) -> None:
    closed = {"OPENACM_EMAIL_SMTP_HOST": "127.0.0.1", "OPENACM_EMAIL_SMTP_PORT": str(free_port())}
    server = start_server(
        tmp_path, "sqlite", env=email_env(bind_server, closed, OPENACM_EMAIL_MAX_ATTEMPTS="3")
    )
    try:
        tenant = _tenant(server)
        arn = request_email(tenant.acm, unique_domain())
        # The request itself never waits for the mail server.
        assert describe(tenant.acm, arn)["Status"] == "PENDING_VALIDATION"
        detail = wait_for_status(tenant.acm, arn)
        assert detail["Status"] == "FAILED"
        assert detail["FailureReason"] == "NO_AVAILABLE_CONTACTS"
    finally:
        finish_server(server)


def test_email_renewal_mails_and_approvals(tenant: Tenant, mail_sink: MailSink) -> None:
    """What the renewal scheduler (issue 6) will call for an email-validated certificate:
    renewal-variant mails to the same addresses, approvals recorded per name, the first
    mail's timestamp kept, the certificate itself untouched."""
    from openacm.adapters.store.certificates import CertificateStore
    from openacm.adapters.store.email import EmailStore
    from openacm.services.acm.email_validation import email_renewal_approvals, start_email_renewal

    domain = unique_domain("renew")
    arn = request_email(tenant.acm, domain, f"www.{domain}")
    browser = Browser(tenant.server.endpoint)
    for mail in mail_sink.mails_for(arn, 2):
        assert page_state(browser.approve_link(mail.link)) == "approved"
    assert wait_for_status(tenant.acm, arn)["Status"] == "ISSUED"
    db = tenant.server._runtime().db
    with db.read() as conn:
        first_sent = {n: e.first_sent_at for n, e in EmailStore(conn).names(arn).items()}

    started = time.time()
    with db.write() as conn:
        record = CertificateStore(conn).get(arn)
        assert record is not None
        start_email_renewal(conn, record, now=started)
    renewal_mails = [m for m in mail_sink.mails_for(arn, 4) if "in order to renew" in m.text]
    assert len(renewal_mails) == 2
    assert all(sorted(m.recipients) == sorted(addresses(domain)) for m in renewal_mails)
    with db.read() as conn:
        assert email_renewal_approvals(conn, arn, since=started) == {
            domain: "PENDING_VALIDATION",
            f"www.{domain}": "PENDING_VALIDATION",
        }
    first = by_name(renewal_mails)[domain]
    page = browser.open(first.link)
    assert "renew the existing, currently in use, certificate" in page.text
    assert page_state(browser.approve(page)) == "approved"
    with db.read() as conn:
        assert email_renewal_approvals(conn, arn, since=started) == {
            domain: "SUCCESS",
            f"www.{domain}": "PENDING_VALIDATION",
        }
        assert {n: e.first_sent_at for n, e in EmailStore(conn).names(arn).items()} == (first_sent)
    # The issued certificate is not touched by its renewal's validation.
    detail = describe(tenant.acm, arn)
    assert detail["Status"] == "ISSUED"
    assert all(o["ValidationStatus"] == "SUCCESS" for o in detail["DomainValidationOptions"])
    # ResendValidationEmail works for a renewal pending validation.
    tenant.acm.resend_validation_email(
        CertificateArn=arn, Domain=f"www.{domain}", ValidationDomain=domain
    )
    assert len([m for m in mail_sink.mails_for(arn, 5) if "in order to renew" in m.text]) == 3


def test_issued_certificate_moves_to_dns_for_its_renewals(
    tenant: Tenant, bind_server: BindServer, mail_sink: MailSink
) -> None:
    """The move's main use: an issued email-validated certificate whose renewals are to be
    validated by DNS. It stays ISSUED throughout."""
    domain = unique_domain("moved")
    arn = request_email(tenant.acm, domain)
    (mail,) = mail_sink.mails_for(arn, 1)
    assert page_state(Browser(tenant.server.endpoint).approve_link(mail.link)) == "approved"
    assert wait_for_status(tenant.acm, arn)["Status"] == "ISSUED"
    tenant.acm.update_certificate_options(CertificateArn=arn, Options={"ValidationMethod": "DNS"})
    (summary,) = tenant.acm.list_certificate_domain_validations(CertificateArn=arn)[
        "DomainValidationSummaryList"
    ]
    assert summary["ActiveValidationConfiguration"]["ValidationMethod"] == "EMAIL"
    assert summary["ActiveValidationConfiguration"]["ValidationStatus"] == "SUCCESS"
    requested = summary["RequestedValidationConfiguration"]
    record = requested["ValidationChallenge"]["DnsValidationChallenge"]["ResourceRecord"]
    bind_server.add_cname(record["Name"], record["Value"])
    deadline = time.monotonic() + 30
    while "RequestedValidationConfiguration" in summary and time.monotonic() < deadline:
        time.sleep(0.1)
        (summary,) = tenant.acm.list_certificate_domain_validations(CertificateArn=arn)[
            "DomainValidationSummaryList"
        ]
    assert "RequestedValidationConfiguration" not in summary
    active = summary["ActiveValidationConfiguration"]
    assert active["ValidationMethod"] == "DNS" and active["ValidationStatus"] == "SUCCESS"
    detail = describe(tenant.acm, arn)
    assert detail["Status"] == "ISSUED"
    assert detail["DomainValidationOptions"][0]["ResourceRecord"] == record
    # An email-only operation no longer applies.
    with pytest.raises(tenant.acm.exceptions.InvalidStateException):
        tenant.acm.resend_validation_email(
            CertificateArn=arn, Domain=domain, ValidationDomain=domain
        )


def test_an_email_validated_certificate_renews_once_its_renewal_mails_are_approved(
    tmp_path: Path, bind_server: BindServer, mail_sink: MailSink
) -> None:
    """Managed renewal by email, played with the --dev clock: inside the window the renewal
    mails go to the same addresses, RenewalStatus waits in PENDING_VALIDATION, and approving
    every name renews the certificate under the same ARN."""
    from tests.integration.test_managed_renewal import into_renewal_window, wait_renewal

    env = email_env(bind_server, mail_sink.env(), OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS="0.1")
    server = start_server(tmp_path, "sqlite", env=env)
    try:
        tenant = _tenant(server)
        domain = unique_domain("erenew")
        arn = request_email(tenant.acm, domain, f"www.{domain}", Options={"Export": "ENABLED"})
        browser = Browser(server.endpoint)
        for mail in mail_sink.mails_for(arn, 2):
            assert page_state(browser.approve_link(mail.link)) == "approved"
        before = wait_for_status(tenant.acm, arn)
        assert before["Status"] == "ISSUED"
        tenant.acm.export_certificate(CertificateArn=arn, Passphrase=b"renewal by email")

        into_renewal_window(server, before)
        waiting = wait_renewal(tenant.acm, arn, ("PENDING_VALIDATION",))
        assert waiting["RenewalSummary"]["RenewalStatusReason"] == "PENDING_DOMAIN_VALIDATION"
        renewal_mails = [m for m in mail_sink.mails_for(arn, 4) if "in order to renew" in m.text]
        assert len(renewal_mails) == 2
        first, second = renewal_mails
        assert page_state(browser.approve_link(first.link)) == "approved"
        time.sleep(1)  # one name approved: still waiting
        assert describe(tenant.acm, arn)["RenewalSummary"]["RenewalStatus"] == "PENDING_VALIDATION"
        assert page_state(browser.approve_link(second.link)) == "approved"
        renewed = wait_renewal(tenant.acm, arn, ("SUCCESS",))
        assert renewed["Serial"] != before["Serial"] and renewed["CertificateArn"] == arn
    finally:
        finish_server(server)
