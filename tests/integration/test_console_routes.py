"""Every console route at once: each page renders without a server error for an empty account,
each signed-out request goes to sign-in, each form refuses a post without its token; and
sign-in rate limiting per access key and per source address."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from starlette.routing import Route

from openacm.adapters.store.schema import access_keys
from openacm.console import console_routes
from openacm.console.pages import CSP
from openacm.console.sessions import SessionStore
from openacm.console.throttle import PER_ADDRESS, PER_KEY
from tests.conftest import Tenant, finish_server, start_server
from tests.support.console import ConsoleVisitor
from tests.support.server import OpenAcmServer

# Routes that are not signed-in pages: sign-in itself, the stylesheet, /console's redirect.
PUBLIC = {"/console/sign-in", "/console/static/console.css", "/console"}
# Detail pages asked for something that does not exist: the page answers, it does not fail.
NO_SUCH = {"arn": "arn:aws:acm:us-east-1:123456789012:certificate/does-not-exist"}


def routes() -> list[tuple[str, str]]:
    """(method, path) of every signed-in console route, read from the console itself, so a
    route added later is covered without editing this test."""
    built = console_routes(
        cast(Any, None), SessionStore(Path("/nonexistent"), cast(Any, None)), cast(Any, None),
        dev=False,
    )  # fmt: skip
    found = []
    for route in built:
        assert isinstance(route, Route)
        if route.path in PUBLIC:
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    return found


ROUTES = routes()
GETS = [path for method, path in ROUTES if method == "GET"]
POSTS = [path for method, path in ROUTES if method == "POST"]


def test_the_route_list_has_the_new_pages() -> None:
    for path in (
        "/console/access-keys",
        "/console/audit",
        "/console/acme-endpoints",
        "/console/acme-endpoints/detail",
    ):
        assert path in GETS
    for path in (
        "/console/access-keys/create",
        "/console/private-cas/policy",
        "/console/private-cas/permissions",
        "/console/acme-endpoints/create",
        "/console/certificates/import",
    ):
        assert path in POSTS


def test_every_page_answers_an_empty_account(tenant: Tenant) -> None:
    """On SQLite and PostgreSQL: every store query the pages make, on both."""
    visitor = ConsoleVisitor(tenant.server)
    assert visitor.sign_in(tenant.key).status_code == 303
    for path in GETS:
        for params in ({}, NO_SUCH):
            answer = visitor.get(path, params=params)
            assert answer.status_code in (200, 303), (path, params, answer.text[-500:])
            assert answer.headers["content-security-policy"] == CSP, path
            assert "<script" not in answer.text and "style=" not in answer.text, path
            if answer.status_code == 303:  # a detail page without its subject: back to a list
                assert answer.headers["location"] != "/console/sign-in", path
    # Still signed in after visiting everything.
    assert visitor.get("/console/certificates").status_code == 200


def test_every_route_sends_a_signed_out_browser_to_sign_in(sqlite_server: OpenAcmServer) -> None:
    visitor = ConsoleVisitor(sqlite_server)
    for method, path in ROUTES:
        answer = visitor.get(path) if method == "GET" else visitor.post(path, {"csrf": "x"})
        assert answer.status_code == 303, (method, path)
        assert answer.headers["location"] == "/console/sign-in", (method, path)


def test_every_form_refuses_a_post_without_its_token(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    assert visitor.sign_in(sqlite_tenant.key).status_code == 303
    token = visitor.csrf_of(visitor.get("/console/certificates"))
    for path in POSTS:
        for form in ({}, {"csrf": "forged"}, {"csrf": token[:-1]}):
            answer = visitor.post(path, form)
            assert answer.status_code == 403, (path, form)
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    # The refusals did nothing: still the one key, no CA, no endpoint, no certificate.
    keys = select(access_keys).where(access_keys.c.account_id == sqlite_tenant.account_id)
    assert len(sqlite_tenant.server.query(keys)) == 1
    assert (
        sqlite_tenant.client("acm-pca").list_certificate_authorities()["CertificateAuthorities"]
        == []
    )
    assert sqlite_tenant.acm.list_acme_endpoints()["AcmeEndpoints"] == []
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []


def test_sign_in_is_refused_after_too_many_failures_with_one_key(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    for _ in range(PER_KEY):
        assert visitor.sign_in((sqlite_tenant.key[0], "wrong")).status_code == 401
    # Now even the right secret is not tried: the refusal page, with when to come back.
    refused = visitor.sign_in(sqlite_tenant.key)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert "openacm_console" not in visitor.cookies
    # The API still answers the key: only console sign-in is held back.
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    """A server of its own: its address limit is reached from 127.0.0.1, which the shared
    servers' other tests sign in from."""
    server = start_server(tmp_path_factory.mktemp("throttle"), "sqlite")
    yield server
    finish_server(server)


def test_sign_in_is_refused_after_too_many_failures_from_one_address(
    own_server: OpenAcmServer,
) -> None:
    _, key = own_server.new_account()
    visitor = ConsoleVisitor(own_server)
    for _ in range(PER_ADDRESS):
        stranger = (f"AKIA{uuid.uuid4().hex[:16].upper()}", "wrong")
        assert visitor.sign_in(stranger).status_code == 401
    refused = visitor.sign_in(key)
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
