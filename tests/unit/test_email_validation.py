"""Email validation's pure rules: who gets the mail, the approval tokens, the mail text."""

from __future__ import annotations

import pytest
from publicsuffixlist import PublicSuffixList

from openacm.adapters.mail.messages import ApprovalMail, render, subject_of
from openacm.config import EmailSettings, sections_from
from openacm.domain.email_validation import (
    APPROVAL_TTL_SECONDS,
    ApprovalToken,
    approval_state,
    approval_url,
    code_digest,
    code_matches,
    csrf_matches,
    csrf_token,
    mail_domain,
    new_code,
    new_context,
    validation_emails,
)
from openacm.domain.errors import InvalidDomainValidationOptionsError
from openacm.domain.names import NamePolicy

ICANN = PublicSuffixList(only_icann=True)
POLICY = NamePolicy(ICANN, ())


def mailed_to(name: str, validation_domain: str | None = None) -> str:
    """The mail domain for `name`, through the same rules RequestCertificate applies."""
    options = [{"DomainName": name, "ValidationDomain": validation_domain}]
    chosen = POLICY.validation_domains([name], options if validation_domain else None)[name]
    return mail_domain(chosen, POLICY.registrable_domain(name))


def test_the_five_addresses() -> None:
    assert validation_emails("example.com") == (
        "admin@example.com",
        "administrator@example.com",
        "hostmaster@example.com",
        "postmaster@example.com",
        "webmaster@example.com",
    )


@pytest.mark.parametrize(
    ("name", "mailed"),
    [
        ("example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("*.example.com", "example.com"),
        ("*.test.example.com", "test.example.com"),
        ("www.test.example.co.uk", "test.example.co.uk"),
        ("api.example.com", "api.example.com"),
        # Only one leading label is stripped, and only www. or *.
        ("www.www.example.com", "www.example.com"),
        ("wwwx.example.com", "wwwx.example.com"),
        # Stripping must not leave a public suffix: www.co.uk's mailboxes are its own.
        ("www.co.uk", "www.co.uk"),
        ("www.com", "www.com"),
    ],
)
def test_www_and_wildcard_stripping(name: str, mailed: str) -> None:
    assert mailed_to(name) == mailed


@pytest.mark.parametrize(
    ("name", "validation_domain", "mailed"),
    [
        ("subdomain.example.com", "example.com", "example.com"),
        ("a.b.example.co.uk", "b.example.co.uk", "b.example.co.uk"),
        ("a.b.example.co.uk", "example.co.uk", "example.co.uk"),
        ("a.b.example.com", "a.b.example.com", "a.b.example.com"),
        # A ValidationDomain starting with www. is stripped like a name.
        ("www.example.com", "www.example.com", "example.com"),
    ],
)
def test_superdomain_rule(name: str, validation_domain: str, mailed: str) -> None:
    assert mailed_to(name, validation_domain) == mailed


@pytest.mark.parametrize(
    ("name", "validation_domain"),
    [
        ("a.example.co.uk", "co.uk"),  # above the registrable domain
        ("a.example.com", "com"),
        ("a.example.com", "b.example.com"),  # not a superdomain
        ("example.com", "a.example.com"),  # a subdomain, not a superdomain
        ("a.example.com", "example.org"),
    ],
)
def test_invalid_validation_domains(name: str, validation_domain: str) -> None:
    with pytest.raises(InvalidDomainValidationOptionsError):
        mailed_to(name, validation_domain)


def test_tokens_are_stored_as_digests_and_compared_exactly() -> None:
    code = new_code()
    assert len(code) >= 40 and new_code() != code
    digest = code_digest(code)
    assert digest != code and len(digest) == 64
    assert code_matches(code, digest)
    assert not code_matches(code[:-1], digest)
    assert not code_matches(new_code(), digest)
    assert new_context() != new_context()


def test_approval_url_is_acms_form() -> None:
    token = ApprovalToken("0123abcd", "a-b_c")
    assert approval_url("https://acm.example.com/", token) == (
        "https://acm.example.com/approvals?code=a-b_c&context=0123abcd"
    )


def test_approval_states() -> None:
    assert APPROVAL_TTL_SECONDS == 72 * 3600
    fresh = {"used_at": None, "replaced_at": None, "expires_at": 100.0}
    assert approval_state(**fresh, now=99.0) == "valid"
    assert approval_state(**fresh, now=100.0) == "expired"
    assert approval_state(**(fresh | {"used_at": 50.0}), now=60.0) == "used"
    assert approval_state(**(fresh | {"replaced_at": 50.0}), now=60.0) == "replaced"
    assert approval_state(used_at=None, replaced_at=None, expires_at=None, now=0.0) == "expired"


def test_csrf_token_is_bound_to_nonce_and_approval() -> None:
    key = b"k" * 32
    token = csrf_token(key, "nonce", "ctx")
    assert csrf_matches(key, "nonce", "ctx", token)
    assert not csrf_matches(key, "other", "ctx", token)
    assert not csrf_matches(key, "nonce", "other", token)
    assert not csrf_matches(b"x" * 32, "nonce", "ctx", token)
    assert not csrf_matches(key, "", "ctx", csrf_token(key, "", "ctx"))


def _mail(renewal: bool) -> ApprovalMail:
    return ApprovalMail(
        requested_domain="example.com",
        fqdn="www.example.com",
        account_id="123456789012",
        region="eu-west-1",
        certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/abc",
        approval_url="https://acm.example.com/approvals?code=c&context=x",
        renewal=renewal,
        recipients=validation_emails("example.com"),
    )


def test_mail_follows_acms_template() -> None:
    message = render(_mail(renewal=False), "acm@example.net")
    assert (
        message["Subject"] == subject_of(_mail(False)) == "Certificate request for www.example.com"
    )
    assert message["From"] == "acm@example.net"
    assert message["To"] == ", ".join(validation_emails("example.com"))
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for line in (
        "We received a request to issue an SSL/TLS certificate for example.com.",
        "Domain: www.example.com\n",
        "AWS account ID: 123456789012\n",
        "AWS Region name: eu-west-1\n",
        "Certificate Identifier: arn:aws:acm:eu-west-1:123456789012:certificate/abc\n",
        "(https://acm.example.com/approvals?code=c&context=x)",
    ):
        assert line in text
    assert "renew the existing, currently in use, certificate" not in text
    assert 'href="https://acm.example.com/approvals?code=c&amp;context=x"' in html


def test_renewal_mail_adds_the_renewal_paragraph() -> None:
    message = render(_mail(renewal=True), "acm@example.net")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "in order to renew the existing, currently in use, certificate" in text
    assert message["Subject"] == "Certificate request for www.example.com"


def test_email_settings_from_file_and_environment() -> None:
    sections = sections_from(
        {"email": {"smtp_host": "mail.example.com", "smtp-port": 587, "smtp_starttls": True}},
        {"OPENACM_EMAIL_FROM_ADDRESS": "acm@example.com", "OPENACM_EMAIL_MAX_ATTEMPTS": "3"},
    )
    email = sections["email"]
    assert email == EmailSettings(
        smtp_host="mail.example.com",
        smtp_port=587,
        smtp_starttls=True,
        from_address="acm@example.com",
        max_attempts=3,
    )
    assert EmailSettings().token_ttl == 72 * 3600
