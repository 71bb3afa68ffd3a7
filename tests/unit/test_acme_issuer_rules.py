"""The acme issuer's pure rules: HTTP validation's redirect and what it refuses."""

from __future__ import annotations

import pytest

from openacm.domain.errors import ValidationError
from openacm.domain.validation import (
    acme_http_label,
    acme_http_redirect,
    acme_validation_record,
    check_http_names,
)

KEY = b"k" * 32


def test_the_http_redirect_is_stable_per_account_and_name() -> None:
    one = acme_http_redirect(KEY, "111122223333", "WWW.Example.com", "http://acm.example.net/")
    assert one.redirect_from == "http://www.example.com/.well-known/acme-challenge/"
    label = acme_http_label(KEY, "111122223333", "www.example.com")
    assert one.redirect_to == f"http://acm.example.net/.well-known/acme-challenge/{label}/"
    assert one == acme_http_redirect(
        KEY, "111122223333", "www.example.com", "http://acm.example.net"
    )
    assert label != acme_http_label(KEY, "444455556666", "www.example.com")
    # Its own purpose: never the DNS delegation's token.
    dns_token = acme_validation_record(KEY, "111122223333", "www.example.com", "v.example.net")
    assert not dns_token.value.startswith(label)


def test_http_validation_refuses_wildcards() -> None:
    check_http_names(["example.com", "www.example.com"])
    with pytest.raises(ValidationError, match=r"\*\.example\.com"):
        check_http_names(["example.com", "*.example.com"])
