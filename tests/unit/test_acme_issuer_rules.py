"""The acme issuer's pure rules: HTTP validation's redirect and what it refuses, several
upstream CAs in the settings."""

from __future__ import annotations

import pytest

from openacm.config import AcmeCa, sections_from
from openacm.domain.acme import acme_issuer_id, is_acme_issued
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


def test_several_cas_in_order_of_preference() -> None:
    table = {
        "directory_url": "https://one.example/dir",
        "ca_bundle": "/etc/one.pem",
        "regions": ["*"],
        "upstreams": [
            {"directory_url": "https://two.example/dir", "eab_key_id": "k", "eab_hmac_key": "h"},
            {"directory_url": "https://three.example/dir"},
        ],
    }
    acme = sections_from({"acme": table}, {})["acme"]
    assert [ca.directory_url for ca in acme.cas()] == [
        "https://one.example/dir",
        "https://two.example/dir",
        "https://three.example/dir",
    ]
    assert acme.cas()[0].ca_bundle == "/etc/one.pem"
    assert acme.cas()[1] == AcmeCa("https://two.example/dir", "k", "h")
    # From the environment: URLs sharing the first CA's bundle.
    env = {"OPENACM_ACME_UPSTREAMS": "https://two.example/dir,https://three.example/dir"}
    from_env = sections_from({"acme": {**table, "upstreams": []}}, env)["acme"]
    assert [ca.ca_bundle for ca in from_env.cas()] == ["/etc/one.pem"] * 3
    # Each CA's certificates name it, so RevokeCertificate finds the one that issued.
    ids = {acme_issuer_id(ca.directory_url) for ca in acme.cas()}
    assert len(ids) == 3 and all(is_acme_issued(i) and len(i) <= 64 for i in ids)
    assert is_acme_issued("acme") and not is_acme_issued("ca-1234")


@pytest.mark.parametrize(
    ("upstreams", "message"),
    [
        ([{"directory_url": "https://one.example/dir"}], "listed twice"),
        ([{"directory_url": "two.example"}], "http"),
        ([{"directory_url": "https://two.example/dir", "eab_key_id": "k"}], "go together"),
        ([{"directory_url": "https://two.example/dir", "colour": "blue"}], "bad"),
    ],
)
def test_bad_upstreams_are_refused_at_start(upstreams: list[object], message: str) -> None:
    table = {"directory_url": "https://one.example/dir", "upstreams": upstreams}
    with pytest.raises(ValueError, match=message):
        sections_from({"acme": table}, {})
