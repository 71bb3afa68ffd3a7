"""HTTP validation through the acme issuer, end to end: boto3 requests a certificate with
ValidationMethod HTTP from a real `openacm serve` whose us-east-1 public issuer is a real
Pebble. The names resolve (test BIND) to a real HTTP server standing for the user's web
server, which redirects `/.well-known/acme-challenge/` to the RedirectTo DescribeCertificate
shows; Pebble's VA follows that redirect to openacm, which serves the key authorizations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select

from openacm.adapters.store.schema import acme_http_answers
from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_acme_issuer import VALIDATION_ZONE, _verify_chain
from tests.integration.test_managed_renewal import (
    PASSPHRASE,
    into_renewal_window,
    move_clock,
    wait_renewal,
)
from tests.support.acm_flow import describe, unique_domain, wait_for_status
from tests.support.bind import BindServer
from tests.support.http_redirect import RedirectServer
from tests.support.pebble import PebbleServer, pebble_server  # noqa: F401
from tests.support.server import OpenAcmServer, free_port

LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def web(pebble_server: PebbleServer) -> Iterator[RedirectServer]:  # noqa: F811
    """The names' web server: where Pebble's VA (and openacm's own check) ask first."""
    server = RedirectServer(LOOPBACK, pebble_server.http_port).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pki_url() -> str:
    """The server's plain-HTTP PKI port, where RedirectTo points, as in production."""
    return f"http://{LOOPBACK}:{free_port()}"


@pytest.fixture(scope="module")
def http_server(
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
    pki_url: str,
) -> Iterator[OpenAcmServer]:
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
        OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS="0.1",
        OPENACM_ACME_DIRECTORY_URL=pebble_server.directory_url,
        OPENACM_ACME_CA_BUNDLE=pebble_server.ca_bundle,
        OPENACM_ACME_REGIONS="us-east-1",
        OPENACM_ACME_ORDER_TIMEOUT="60",
        # The names' web server listens where Pebble was told a CA's port 80 is.
        OPENACM_ACME_HTTP_URL=pki_url,
        OPENACM_ACME_HTTP_PORT=str(pebble_server.http_port),
    )
    started = start_server(
        tmp_path_factory.mktemp("acme-http"), "sqlite", env=env,
        extra_args=["--pki-port", pki_url.rsplit(":", 1)[1]],
    )  # fmt: skip
    yield started
    finish_server(started)


@pytest.fixture
def tenant(http_server: OpenAcmServer) -> Iterator[Tenant]:
    move_clock(http_server, reset=True)
    yield _tenant(http_server)
    move_clock(http_server, reset=True)


def _request_http(tenant: Tenant, *names: str, **extra: Any) -> str:
    answer = tenant.acm.request_certificate(
        DomainName=names[0], SubjectAlternativeNames=list(names), ValidationMethod="HTTP", **extra
    )
    return str(answer["CertificateArn"])


def _hosted(bind_server: BindServer, *names: str) -> None:
    for name in names:
        bind_server.add(name, "A", LOOPBACK)


def test_http_validation_through_a_real_redirect(
    tenant: Tenant,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
    web: RedirectServer,
    pki_url: str,
    tmp_path: Path,
) -> None:
    domain = unique_domain("http")
    names = (domain, f"www.{domain}")
    _hosted(bind_server, *names)
    arn = _request_http(tenant, *names, Options={"Export": "ENABLED"})
    options = describe(tenant.acm, arn)["DomainValidationOptions"]
    assert [o["ValidationMethod"] for o in options] == ["HTTP", "HTTP"]
    assert all("ResourceRecord" not in o for o in options)
    redirects = [o["HttpRedirect"] for o in options]
    for name, redirect in zip(names, redirects, strict=True):
        assert redirect["RedirectFrom"] == f"http://{name}/.well-known/acme-challenge/"
        assert redirect["RedirectTo"].startswith(f"{pki_url}/.well-known/acme-challenge/")
    assert redirects[0]["RedirectTo"] != redirects[1]["RedirectTo"]

    # No redirect yet: openacm's own check keeps the names pending, the CA is not asked.
    time.sleep(1.5)
    waiting = describe(tenant.acm, arn)
    assert waiting["Status"] == "PENDING_VALIDATION"
    assert {o["ValidationStatus"] for o in waiting["DomainValidationOptions"]} == {
        "PENDING_VALIDATION"
    }

    web.redirect(**_snake(redirects[0]), status=301)
    web.redirect(**_snake(redirects[1]), status=302)
    issued = wait_for_status(tenant.acm, arn, timeout=60)
    assert issued["Status"] == "ISSUED", issued
    assert [o["ValidationStatus"] for o in issued["DomainValidationOptions"]] == ["SUCCESS"] * 2
    _verify_chain(tenant, arn, pebble_server.root_pem(), tmp_path)
    # Pebble's VA came through the redirect for each name, for a token other than the probe.
    fetched = [line for line in web.requests if "openacm.probe" not in line]
    assert {line.split()[0] for line in fetched} >= set(names), web.requests

    # A second certificate needs no new redirect.
    again = _request_http(tenant, domain)
    assert (
        describe(tenant.acm, again)["DomainValidationOptions"][0]["HttpRedirect"] == (redirects[0])
    )
    assert wait_for_status(tenant.acm, again, timeout=60)["Status"] == "ISSUED"

    # Nor does the renewal.
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)  # eligible
    into_renewal_window(tenant.server, issued)
    renewed = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"), timeout=60)
    assert renewed["RenewalSummary"]["RenewalStatus"] == "SUCCESS", renewed["RenewalSummary"]
    assert renewed["Serial"] != issued["Serial"]
    leaf = x509.load_pem_x509_certificate(
        tenant.acm.get_certificate(CertificateArn=arn)["Certificate"].encode()
    )
    assert "Pebble" in leaf.issuer.rfc4514_string()


def test_the_console_requests_http_validation_and_shows_the_redirect(tenant: Tenant) -> None:
    """The console's request form offers HTTP, and the detail page shows each name's
    RedirectFrom and RedirectTo (DescribeCertificate's HttpRedirect)."""
    from urllib.parse import parse_qs, quote, urlsplit

    from tests.support.console import ConsoleVisitor

    domain = unique_domain("http-console")
    visitor = ConsoleVisitor(tenant.server)
    assert visitor.sign_in(tenant.key).status_code == 303
    form = visitor.get("/console/certificates/request")
    assert 'value="HTTP"' in form.text
    made = visitor.post(
        "/console/certificates/request",
        {"csrf": visitor.csrf_of(form), "kind": "public", "names": domain, "method": "HTTP",
         "key_algorithm": "EC_prime256v1"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    arn = parse_qs(urlsplit(made.headers["location"]).query)["arn"][0]
    assert describe(tenant.acm, arn)["DomainName"] == domain
    redirect = describe(tenant.acm, arn)["DomainValidationOptions"][0]["HttpRedirect"]
    page = visitor.get(f"/console/certificates/detail?arn={quote(arn)}").text
    assert redirect["RedirectFrom"] in page and redirect["RedirectTo"] in page
    tenant.acm.delete_certificate(CertificateArn=arn)


def test_a_redirect_elsewhere_keeps_the_name_pending(
    tenant: Tenant, bind_server: BindServer, web: RedirectServer, pki_url: str
) -> None:
    domain = unique_domain("http-wrong")
    _hosted(bind_server, domain)
    arn = _request_http(tenant, domain)
    redirect = describe(tenant.acm, arn)["DomainValidationOptions"][0]["HttpRedirect"]
    # Another name's label: openacm answers there, but not with this name's.
    web.redirect(
        redirect["RedirectFrom"],
        f"{pki_url}/.well-known/acme-challenge/{'0' * 32}/",
    )
    time.sleep(1.5)
    detail = describe(tenant.acm, arn)
    assert detail["Status"] == "PENDING_VALIDATION"
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "PENDING_VALIDATION"
    web.redirect(**_snake(redirect))
    assert wait_for_status(tenant.acm, arn, timeout=60)["Status"] == "ISSUED"


def test_a_server_that_answers_the_ca_wrongly_fails_the_request(
    tenant: Tenant, bind_server: BindServer, web: RedirectServer, http_server: OpenAcmServer
) -> None:
    domain = unique_domain("http-refused")
    _hosted(bind_server, domain)
    arn = _request_http(tenant, domain)
    redirect = describe(tenant.acm, arn)["DomainValidationOptions"][0]["HttpRedirect"]
    web.redirect(**_snake(redirect), probe_only=True)
    detail = wait_for_status(tenant.acm, arn, timeout=60)
    assert detail["Status"] == "FAILED", detail
    assert detail["FailureReason"] == "OTHER"
    # Nothing half-done: the key authorizations openacm served are gone.
    with http_server._runtime().db.read() as conn:
        assert conn.execute(select(func.count()).select_from(acme_http_answers)).scalar() == 0


def test_what_http_validation_refuses(tenant: Tenant) -> None:
    errors = tenant.acm.exceptions
    with pytest.raises(errors.ValidationException, match="wildcard"):
        _request_http(tenant, f"*.{unique_domain('http-wild')}")
    # Where the builtin CA issues (no ACME CA), there is no http-01 to answer.
    builtin = tenant.client(region="eu-west-1")
    with pytest.raises(builtin.exceptions.ClientError, match="does not implement HTTP"):
        builtin.request_certificate(DomainName=unique_domain(), ValidationMethod="HTTP")
    # ValidationChallenge has no HTTP member: the summary carries none.
    arn = _request_http(tenant, unique_domain("http-summary"))
    summary = tenant.acm.list_certificate_domain_validations(CertificateArn=arn)
    active = summary["DomainValidationSummaryList"][0]["ActiveValidationConfiguration"]
    assert active["ValidationMethod"] == "HTTP" and not active.get("ValidationChallenge")


def _snake(redirect: dict[str, str]) -> dict[str, str]:
    return {"redirect_from": redirect["RedirectFrom"], "redirect_to": redirect["RedirectTo"]}
