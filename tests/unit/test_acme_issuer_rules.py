"""The acme issuer's pure rules: HTTP validation's redirect and what it refuses, several
upstream CAs in the settings, dns-persist-01's record and check; and the client facing a CA
that offers no dns-persist-01."""

from __future__ import annotations

import datetime
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openacm.adapters.acme.client import DNS_PERSIST01, AcmeClient, AcmeFailure, new_account_key
from openacm.config import AcmeCa, sections_from
from openacm.domain.acme import (
    DnsPersistRecord,
    acme_issuer_id,
    choose_chain,
    dns_persist_proves,
    dns_persist_record,
    is_acme_issued,
    order_profile,
)
from openacm.domain.errors import ValidationError
from openacm.domain.validation import (
    acme_http_label,
    acme_http_redirect,
    acme_validation_record,
    check_http_names,
    record_type,
)
from tests.support.fake_acme import DnsPersistCa

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
            {"directory_url": "https://three.example/dir", "profile": "shortlived"},
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
    assert acme.cas()[2].profile == "shortlived"
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


def _chain(*issuers: str) -> str:
    """A PEM chain of self-made certificates, the last one issued by `issuers[-1]`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    pems = []
    for index, issuer in enumerate(issuers):
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"c{index}")]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pems.append(certificate.public_bytes(serialization.Encoding.PEM).decode())
    return "".join(pems)


def test_the_preferred_chain_is_the_one_topped_by_that_issuer() -> None:
    default = _chain("R10", "ISRG Root X1")
    alternate = _chain("R10", "ISRG Root X2")
    assert choose_chain([default, alternate], "ISRG Root X2") == alternate
    assert choose_chain([default, alternate], "ISRG Root X1") == default
    # No chain matches, or no preference: the CA's default.
    assert choose_chain([default, alternate], "Other Root") == default
    assert choose_chain([default, alternate], "") == default
    # Only the top counts (certbot's rule), not an issuer further down.
    assert choose_chain([default, alternate], "R10") == default


def test_the_profile_is_asked_for_where_the_ca_offers_it() -> None:
    offered = {"classic": "90 days", "shortlived": "6 days"}
    assert order_profile(offered, "shortlived") == "shortlived"
    assert order_profile(offered, "tlsserver") == ""
    assert order_profile({}, "shortlived") == ""
    assert order_profile(offered, "") == ""


def test_the_dns_persist_record_follows_the_draft() -> None:
    account = "https://acme-v02.api.letsencrypt.org/acme/acct/1234"
    record = DnsPersistRecord("LetsEncrypt.org.", account, wildcard=True, persist_until=1900000000)
    assert record.owner("*.Example.com") == "_validation-persist.example.com."
    assert record.value() == (
        f"letsencrypt.org; accounturi={account}; policy=wildcard; persistUntil=1900000000"
    )
    assert DnsPersistRecord.parse(record.value()) == replace(
        record, issuer_domain_name="letsencrypt.org"
    )
    plain = DnsPersistRecord.parse(f"letsencrypt.org;accounturi={account}")
    assert not plain.wildcard and plain.persist_until is None
    issuers = ["letsencrypt.org"]
    assert plain.authorizes("www.example.com", issuers, account, now=0)
    assert not plain.authorizes("*.example.com", issuers, account, now=0)  # no policy=wildcard
    assert not plain.authorizes("www.example.com", ["other.ca"], account, now=0)
    assert not plain.authorizes("www.example.com", issuers, account + "9", now=0)
    assert record.authorizes("*.example.com", issuers, account, now=1800000000)
    assert not record.authorizes("*.example.com", issuers, account, now=2000000000)  # expired
    for bad in ("", f"accounturi={account}", "letsencrypt.org; policy=wildcard", "ca; x"):
        with pytest.raises(ValueError):
            DnsPersistRecord.parse(bad)


ACCOUNT = "https://ca.example/acme/acct/7"


def test_the_record_shown_is_the_persistent_txt_with_the_wildcard_policy_where_needed() -> None:
    plain = dns_persist_record("CA.example.", ACCOUNT, "WWW.example.com", ["WWW.example.com"])
    assert (plain.name, plain.type) == ("_validation-persist.www.example.com.", "TXT")
    assert plain.value == f"ca.example; accounturi={ACCOUNT}"
    assert record_type(plain.name) == "TXT"
    assert record_type("_acme-challenge.www.example.com.") == "CNAME"
    names = ["example.com", "*.Example.com"]
    apex, wildcard = (dns_persist_record("ca.example", ACCOUNT, name, names) for name in names)
    assert apex == wildcard and apex.value.endswith("; policy=wildcard")


def test_the_check_accepts_any_record_binding_the_name_to_the_ca_and_account() -> None:
    shown = f"ca.example; accounturi={ACCOUNT}"
    wildcard = f"ca.example; accounturi={ACCOUNT}; policy=wildcard"
    assert dns_persist_proves(shown, "www.example.com", ["v=spf1 -all", shown], now=0)
    assert dns_persist_proves(shown, "www.example.com", [wildcard], now=0)  # made earlier
    assert not dns_persist_proves(shown, "*.www.example.com", [shown], now=0)
    assert not dns_persist_proves(shown, "www.example.com", [], now=0)
    assert not dns_persist_proves(shown, "www.example.com", [shown + "8"], now=0)
    assert not dns_persist_proves(
        shown, "www.example.com", [f"other.ca; accounturi={ACCOUNT}"], now=0
    )
    expired = f"{shown}; persistUntil=100"
    assert dns_persist_proves(shown, "www.example.com", [expired], now=100)
    assert not dns_persist_proves(shown, "www.example.com", [expired], now=101)


def test_a_ca_without_dns_persist_01_refuses_the_order_for_good() -> None:
    with DnsPersistCa(("127.0.0.1", 9), offer_persist=False) as ca:
        client = AcmeClient(ca.directory_url, new_account_key())
        client.register([])
        with pytest.raises(AcmeFailure) as refused:
            client.issue(_csr_pem("www.example.com"), lambda _: None, timeout=5,
                         challenge_type=DNS_PERSIST01)  # fmt: skip
    assert not refused.value.transient
    assert "no dns-persist-01 challenge" in str(refused.value)


def _csr_pem(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_the_dns_persist_issuer_is_a_domain_name() -> None:
    table = {"directory_url": "https://one.example/dir", "dns_persist_issuer": "ca.example"}
    assert sections_from({"acme": table}, {})["acme"].dns_persist_issuer == "ca.example"
    assert sections_from({"acme": {}}, {})["acme"].dns_persist_issuer == ""  # off by default
    with pytest.raises(ValueError, match="issuer domain name"):
        sections_from({"acme": {**table, "dns_persist_issuer": "ca.example; x=y"}}, {})
